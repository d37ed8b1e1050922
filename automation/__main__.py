"""Entry point: `python -m automation COMMAND ...` (see `--help`)."""

import sys

from automation.cli import main

if __name__ == "__main__":
    sys.exit(main())
