"""PyInstaller's entry script: the same `main` the `jobdock` gui-script runs."""

import sys

from jobdock.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
