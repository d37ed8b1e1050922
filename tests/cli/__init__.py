"""Unit tests of the `python -m automation` command line: parsing, config, exit codes, summaries."""
