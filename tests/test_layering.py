"""The core and the CLI never import PySide6 (STYLE.md: dependencies point `qt -> core` only).

Checked in a fresh interpreter, since this process has Qt loaded by pytest-qt. It imports
`jobdock.core` and every module under it that exists now (a module that fails to import fails
the test too), and names the import chain that pulled Qt in, if one did.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Runs in the subprocess: a meta-path hook records who first imports a Qt module (and lets the
# import proceed), then every module of the package is imported.
PROBE = textwrap.dedent(
    """
    import importlib, pkgutil, sys, traceback

    QT = ("PySide6", "shiboken6")
    first_import = []

    class Witness:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name.split(".")[0] in QT and not first_import:
                frames = [f for f in traceback.extract_stack()[:-1] if "<frozen" not in f.filename]
                first_import.append((name, "".join(traceback.format_list(frames))))
            return None

    sys.meta_path.insert(0, Witness)
    package = importlib.import_module(sys.argv[1])
    imported = [package.__name__]
    if hasattr(package, "__path__"):
        def failed(name):
            raise ImportError(f"cannot import {name}")
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + ".", failed):
            importlib.import_module(module.name)
            imported.append(module.name)
    print("imported:", " ".join(imported))
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in QT)
    if loaded:
        name, stack = first_import[0]
        sys.exit(f"{len(loaded)} Qt modules loaded; {name} was first imported from:\\n{stack}")
    """
)


def probe(module: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_core_and_all_its_modules_import_without_qt() -> None:
    out = probe("jobdock.core")
    assert out.startswith("imported: jobdock.core")


def test_cli_imports_without_qt() -> None:
    probe("jobdock.cli.main")
