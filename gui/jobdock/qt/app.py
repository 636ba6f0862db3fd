"""`jobdock` without a sub-command: the QApplication, the qasync runner, startup and shutdown.

asyncio runs on the Qt main thread: `asyncio.Runner(loop_factory=qasync.QEventLoop)` (Python 3.11
has no `asyncio.run(loop_factory=)`; qasync 0.28's own `qasync.run` does the same with a loop
policy). The main coroutine opens the runtime (store, engine, and in demo mode the simulator),
shows the window and awaits one quit event, set by the Quit action, by closing the window (when
no tray keeps it), by Ctrl+C, and by `aboutToQuit`. Then it cancels the window's tasks, and
leaving `Runtime.open` closes the engine (its tasks and HTTP clients), the store and the simulator.
Unexpected exceptions (Qt slots, loop callbacks, tasks) are logged and shown in one dialog.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from jobdock import __version__
from jobdock.core.model.errors import ConfigError, JobdockError
from jobdock.core.model.paths import AppPaths
from jobdock.core.net.inputs import clip_line
from jobdock.core.providers import builtin_ids
from jobdock.core.providers.profiles.load import load_profiles
from jobdock.qt.dialogs.settings import START_IN_TRAY
from jobdock.qt.gc_main_thread import collecting_on_this_thread
from jobdock.qt.loop import ErrorReporter
from jobdock.qt.main_window import MainWindow
from jobdock.qt.single_instance import SingleInstance, instance_key
from jobdock.runtime import Runtime


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="jobdock", description="Jobdock desktop window")
    parser.add_argument("--data-dir", default=None, help="where the job store and logs live")
    parser.add_argument("--demo", action="store_true", help="use the built-in API simulator")
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="FILE",
        help="load a provider profile (TOML) for this run; may be repeated",
    )
    options, qt_args = parser.parse_known_args(list(argv))  # the rest is for Qt (-style=...)
    options.qt_args = qt_args
    return options


def session_options(options: argparse.Namespace) -> dict[str, Any]:
    """What `window_session` gets from the command line: the data dir, demo mode, and the
    profiles (the user's directory and every `--profile FILE`, as the CLI loads them). A
    `--profile` file that cannot be used raises its `ProfileError`."""
    profiles = load_profiles(options.profile, reserved=builtin_ids())
    return {"data_dir": options.data_dir, "demo": options.demo, "profiles": profiles}


def window_settings(data_dir: str | None) -> QSettings:
    """Window layout: beside the data when a data dir is given (portable, tests), else native."""
    if data_dir:
        path = Path(data_dir).expanduser() / "window.ini"
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings()


@contextlib.asynccontextmanager
async def window_session(
    *,
    data_dir: str | None,
    demo: bool,
    reporter: ErrorReporter | None = None,
    settings: QSettings | None = None,
    **runtime_options: Any,
) -> AsyncIterator[tuple[Runtime, MainWindow]]:
    """The runtime and its started window; closed in order on exit (tests use this too)."""
    # The user's provider profiles work in the window as on the command line.
    runtime_options.setdefault("profiles", load_profiles(reserved=builtin_ids()))
    # The first paint waits for the newest jobs only; the rest arrive as batches after it.
    runtime_options.setdefault("defer_unsettled", True)
    with collecting_on_this_thread():
        async with _window_session(data_dir, demo, reporter, settings, runtime_options) as pair:
            yield pair


@contextlib.asynccontextmanager
async def _window_session(
    data_dir: str | None,
    demo: bool,
    reporter: ErrorReporter | None,
    settings: QSettings | None,
    runtime_options: dict[str, Any],
) -> AsyncIterator[tuple[Runtime, MainWindow]]:
    async with Runtime.open(data_dir=data_dir, demo=demo, **runtime_options) as runtime:
        title = "Jobdock — demo" if demo else "Jobdock"
        window = MainWindow(
            runtime.engine,
            settings=settings or window_settings(data_dir),
            reporter=reporter,
            title=title,
            demo=demo,
        )
        window.start()
        await runtime.engine.start()
        try:
            yield runtime, window
        finally:
            await window.aclose()
            window.hide()
            window.deleteLater()


async def run_window(
    app: QApplication,
    session: dict[str, Any],
    reporter: ErrorReporter,
    instance: SingleInstance | None = None,
) -> int:
    quit_event = asyncio.Event()
    app.aboutToQuit.connect(quit_event.set)
    _quit_on_sigint(quit_event)
    try:
        async with window_session(**session, reporter=reporter) as (_runtime, window):
            reporter.set_parent_widget(lambda: window)
            window.quit_requested.connect(quit_event.set)
            if instance is not None:  # a later `jobdock` launch shows this window instead
                instance.activated.connect(window.show_normal)
            if not starts_hidden(window):
                window.show()
            await quit_event.wait()
    except JobdockError as exc:  # the store or the simulator could not start: say why
        await _show_startup_error(exc.user_message)
        return 1
    return 0


def starts_hidden(window: MainWindow) -> bool:
    """Start minimised to the tray (Settings) only where a tray icon is there to bring the
    window back: the tray is never the only way back, and never a missing one."""
    return bool(window.tray.available and window.settings.value(START_IN_TRAY, False, type=bool))


def _quit_on_sigint(quit_event: asyncio.Event) -> None:
    """Ctrl+C, and SIGTERM (a session logging out, `kill`), quit cleanly like the Quit action."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_args: loop.call_soon_threadsafe(quit_event.set))
    # Python runs signal handlers only between bytecodes: let it run twice a second.
    timer = QTimer(QApplication.instance(), interval=500)
    timer.timeout.connect(lambda: None)
    timer.start()


async def _show_startup_error(message: str) -> None:
    box = QMessageBox(QMessageBox.Icon.Critical, "Jobdock cannot start", message)
    closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_finished(result: int) -> None:
        if not closed.done():
            closed.set_result(result)

    box.finished.connect(on_finished)
    box.open()  # never exec() inside the running loop
    await closed


def display_problem(environ: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """Why no window can open here, in one line, or None.

    Without a display Qt's xcb plugin aborts the process with a misleading hint about
    libxcb-cursor0; say plainly what is missing and what works instead."""
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    wanted = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0]
    if wanted not in ("", "xcb", "wayland", "wayland-egl"):
        return None  # offscreen, vnc, eglfs, ... need no display server
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): "
        "use the command line (`jobdock --help`, e.g. `jobdock --demo watch --until-done`), "
        "or start the window inside a desktop session or under `xvfb-run jobdock`"
    )


def main(argv: Sequence[str]) -> int:
    options = parse_args(argv)
    try:
        session = session_options(options)
    except ConfigError as exc:  # a --profile file that cannot be used: as the CLI says it
        print(f"jobdock: {clip_line(exc.user_message)}", file=sys.stderr)
        return 2
    problem = display_problem(os.environ)
    if problem and QApplication.instance() is None:
        print(f"jobdock: {problem}", file=sys.stderr)
        return 1
    QApplication.setApplicationName("Jobdock")
    QApplication.setOrganizationName("Jobdock")
    QApplication.setApplicationVersion(__version__)
    # On Wayland this is how the desktop finds our .desktop file and icon.
    QApplication.setDesktopFileName("io.github.jobdock.Jobdock")
    # argv[0] "jobdock" names the X11 window class (WM_CLASS) whatever the launcher was.
    app = QApplication.instance() or QApplication(["jobdock", *options.qt_args])
    assert isinstance(app, QApplication)
    # Every way out goes through the quit event, so the runtime closes before the loop stops.
    app.setQuitOnLastWindowClosed(False)
    instance = SingleInstance(instance_key(window_data_dir(options)))
    if not instance.acquire():
        if instance.ask_running():
            print("jobdock: Jobdock is already running on this data dir: its window was brought "
                  "to the front", file=sys.stderr)  # fmt: skip
            return 0
        print("jobdock: another Jobdock window holds this data dir but does not answer; "
              "close it (or end its process) and start again", file=sys.stderr)  # fmt: skip
        return 1
    reporter = ErrorReporter()
    sys.excepthook = reporter.excepthook
    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            runner.get_loop().set_exception_handler(reporter.loop_exception_handler)
            return runner.run(run_window(app, session, reporter, instance))
    finally:
        instance.release()


def window_data_dir(options: argparse.Namespace) -> Path:
    """The data dir this window will use (the demo's own folder in demo mode), resolved."""
    paths = AppPaths.resolve(options.data_dir)
    if options.demo and options.data_dir is None:
        return paths.data_dir / "demo"  # what runtime.demo_paths uses
    return paths.data_dir
