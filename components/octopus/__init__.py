"""Octopus Deploy: the REST client, its errors, and the dynamic providers built on it."""
