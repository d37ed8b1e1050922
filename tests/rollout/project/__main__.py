"""Entry point when this project is run as a work dir (automation's Engine runs it inline)."""

from tests.rollout.project.program import program

program()
