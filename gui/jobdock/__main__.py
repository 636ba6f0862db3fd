"""Entry points: `jobdock` with a sub-command runs the CLI, without one it opens the window;
`jobdock-gui` always opens the window."""

from __future__ import annotations

import sys
from collections.abc import Sequence

_GLOBAL_FLAGS_WITH_VALUE = {"--data-dir", "--profile"}


def _has_command(argv: Sequence[str]) -> bool:
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in _GLOBAL_FLAGS_WITH_VALUE:
            skip = True
            continue
        if arg in ("-h", "--help", "--version") or not arg.startswith("-"):
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if _has_command(args):
        from jobdock.cli.main import main as cli_main

        return cli_main(args)
    return gui(args)


def gui(argv: Sequence[str] | None = None) -> int:
    """The window, whatever the arguments (`jobdock-gui`: the desktop file and the bundles)."""
    from jobdock.qt.app import main as gui_main

    return gui_main(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
