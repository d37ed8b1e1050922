"""Offline synth: the feature environment's resources, tree, JSON and Mermaid diagram."""
