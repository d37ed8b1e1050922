"""phoenix command line: one Pulumi stack per feature branch (python -m automation)."""
