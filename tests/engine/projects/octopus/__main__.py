"""Entry point when this project is run as a work dir (python -m automation --work-dir ...)."""

from tests.engine.projects.octopus.program import program

program()
