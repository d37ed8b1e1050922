"""Pulumi ComponentResources and the Octopus dynamic providers of a feature environment."""
