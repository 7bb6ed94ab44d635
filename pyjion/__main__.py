"""``python -m pyjion``: the ``pyjion`` command (pyjion/cli.py)."""
import sys

from pyjion.cli import main

if __name__ == "__main__":
    sys.exit(main())
