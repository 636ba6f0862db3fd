"""The accounts dialog on the real engine and a real Secret Service (gnome-keyring on a private
dbus): the secret typed into the password field lands in the keyring and nowhere else, and the
connection test then reaches the simulator with it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from jobdock.core.engine.engine import Engine
from jobdock.core.model.paths import AppPaths
from jobdock.core.store.credentials import KeyringCredentialStore
from jobdock.core.store.jobs import JobStore
from jobdock.qt.dialogs.accounts import AccountsDialog
from jobdock.simulator import SimConfig, Simulator


async def until(predicate: Any, seconds: float = 10.0) -> None:
    """Poll state that emits no signal we could await (a label's text, the keyring)."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.mark.keyring
def test_secret_typed_in_the_dialog_goes_to_the_secret_service(
    qasync_loop: Any, qtbot: Any, secret_service_keyring: Any, tmp_path: Path
) -> None:
    paths = AppPaths(data_dir=tmp_path / "data", default_download_dir=tmp_path / "dl").ensure()
    store = JobStore.open(paths.store_file)
    engine = Engine(store=store, credentials=KeyringCredentialStore(), paths=paths)
    with Simulator(SimConfig(queue_time=0.1, run_time=0.2)) as sim:
        secret = sim.secret("vainu")

        async def scenario() -> None:
            dialog = AccountsDialog(engine)
            qtbot.addWidget(dialog)
            await until(lambda: "SecretService" in dialog.banner.text()
                        or "Secret Service" in dialog.banner.text())  # fmt: skip
            dialog.name.setText("dialog-vainu")
            dialog.provider.setCurrentIndex(dialog.provider.findData("vainu"))
            dialog.base_url.setText(sim.base_url("vainu"))
            dialog.secret.setText(secret)
            dialog.save()
            assert dialog.secret.text() == ""  # the field forgets it at once
            await until(lambda: dialog.task is not None and dialog.task.done())  # saved
            assert secret_service_keyring.get_password("jobdock", "dialog-vainu") == secret
            dialog.test()
            await until(lambda: "credentials accepted" in dialog.status.text())
            dialog.done(0)
            await engine.aclose()

        try:
            qasync_loop.run_until_complete(scenario())
        finally:
            store.close()
    assert secret_service_keyring.get_password("jobdock", "dialog-vainu") == secret
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
