"""PyInstaller's entry script for both executables of the bundle, told apart by their name:
`jobdock` (a console program: the CLI, or the window without a sub-command) and `jobdock-gui`
(the window, with no console on Windows and macOS), like the wheel's two entry points."""

import sys
from pathlib import Path

from jobdock.__main__ import gui, main

if __name__ == "__main__":
    entry = gui if Path(sys.executable).stem.lower() == "jobdock-gui" else main
    sys.exit(entry())
