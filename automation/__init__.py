"""phoenix command line: one Pulumi stack per feature branch (`phoenix`, or python -m automation)."""

#: The tool's version (`phoenix --version`); pyproject.toml reads it from here.
__version__ = "0.2.0"
