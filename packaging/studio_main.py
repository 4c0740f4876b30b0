"""The bundle's entry point: the `studio` command (no command word opens the window)."""

import sys

from studio.cli import main

if __name__ == "__main__":
    sys.exit(main())
