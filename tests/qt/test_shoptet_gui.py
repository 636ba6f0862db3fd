"""Shoptet in the window: a submit refused for want of a webhook explains itself and offers to
register one (against the real simulator), the quota shows in the sidebar and status bar, and
the webhook receiver runs while the window does (when the settings enable it)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialogButtonBox

from jobdock.core.model.job import Account
from jobdock.core.providers.shoptet.quota import QuotaStatus
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.qt.app import window_session
from jobdock.qt.main_window import MainWindow
from jobdock.qt.shoptet import RegisterWebhookDialog, WebhookNotice, quota_text
from jobdock.runtime import Runtime
from jobdock.simulator import SimConfig, Simulator
from tests.qt.conftest import NOW, FakeEngine
from tests.support.qt_async import next_emission

ACCOUNT = "shop"


async def wait_for(predicate: Any, *, seconds: float = 10.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def shoptet_window(sim: Simulator, tmp_path: Path) -> AsyncIterator[tuple[Any, MainWindow]]:
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    async with window_session(
        data_dir=str(tmp_path / "data"), demo=False, settings=settings,
        credentials=MemoryCredentialStore(), profiles=[],
    ) as (runtime, window):  # fmt: skip
        engine = runtime.engine
        account = Account(name=ACCOUNT, provider="shoptet", base_url=sim.base_url("shoptet"))
        await engine.add_account(account, sim.secret("shoptet"))
        engine.configure(webhook_public_url="https://hooks.example")
        window.refresh_accounts()
        yield engine, window


def _ok(dialog: Any) -> Any:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_missing_webhook_is_explained_and_registered(
    qasync_loop: Any, tmp_path: Path, qtbot: Any
) -> None:
    config = SimConfig(shoptet_require_webhook=True, queue_time=0.1, run_time=0.2)
    with Simulator(config) as sim:

        async def scenario() -> None:
            async with shoptet_window(sim, tmp_path) as (engine, window):
                dialog = window.open_new_job()
                assert dialog.account.currentData() == ACCOUNT
                failed = next_emission(dialog.failed)
                _ok(dialog).click()
                async with asyncio.timeout(10):
                    await failed
                notice = dialog.findChild(WebhookNotice)
                assert notice is not None and notice.isVisible()
                assert "Register webhook" in notice.text.text()  # the error's own words
                assert notice.button.text() == "Register webhook…" and notice.button.isEnabled()
                assert not dialog.error.isVisible()  # said once, in the notice

                notice.button.click()
                register = window.shoptet.register_dialog
                assert isinstance(register, RegisterWebhookDialog) and register.isVisible()
                assert register.url.text().startswith("https://hooks.example/shoptet/")
                register.url.setText("http://127.0.0.1:9/hook")
                done = next_emission(register.succeeded)
                _ok(register).click()
                async with asyncio.timeout(10):
                    await done
                assert "Registered http://127.0.0.1:9/hook" in register.result_label.text()
                assert not notice.button.isEnabled()
                assert "registered" in notice.text.text()
                headers = {"Shoptet-Private-API-Token": sim.secret("shoptet")}
                async with httpx.AsyncClient() as client:
                    answer = await client.get(
                        sim.base_url("shoptet") + "/api/webhooks", headers=headers
                    )
                hooks = answer.json()["data"]["webhooks"]
                assert [h["url"] for h in hooks] == ["http://127.0.0.1:9/hook"]
                register.reject()  # finished → deleted: poll, a signal of it cannot be awaited
                assert window.shoptet.register_dialog is None

                _ok(dialog).click()
                await wait_for(lambda: "new-job" not in window.dialogs, what="the submit")
                assert [job.account for job in engine.jobs()] == [ACCOUNT]

        qasync_loop.run_until_complete(scenario())


def test_register_dialog_reports_the_error(qasync_loop: Any, tmp_path: Path, qtbot: Any) -> None:
    with Simulator(SimConfig(shoptet_require_webhook=True)) as sim:

        async def scenario() -> None:
            async with shoptet_window(sim, tmp_path) as (_engine, window):
                register = window.shoptet.open_register(ACCOUNT)
                register.url.setText("ftp://nowhere")
                failed = next_emission(register.failed)
                _ok(register).click()
                async with asyncio.timeout(10):
                    await failed
                assert register.error.isVisible()
                assert "must start with https://" in register.error.text()
                assert not register.result_label.isVisible()

        qasync_loop.run_until_complete(scenario())


def test_quota_text() -> None:
    status = QuotaStatus(bucket_filling=37, bucket_size=200)
    assert quota_text(status, now=NOW) == "Shoptet bucket 37/200"
    later = replace(status, not_before=NOW + timedelta(seconds=5))
    local = (NOW + timedelta(seconds=5)).astimezone().strftime("%H:%M:%S")
    assert quota_text(later, now=NOW) == f"Shoptet bucket 37/200 · rate limited until {local}"
    assert quota_text(later, now=NOW + timedelta(seconds=6)) == "Shoptet bucket 37/200"
    assert quota_text(None, now=NOW) == ""


class QuotaEngine(FakeEngine):
    def __init__(self) -> None:
        super().__init__()
        self._accounts["shop"] = Account(name="shop", provider="shoptet",
                                         base_url="https://api.myshoptet.com")  # fmt: skip
        self.status: QuotaStatus | None = None

    def account_status(self, name: str) -> QuotaStatus | None:
        assert name == "shop"  # asked only for Shoptet accounts
        return self.status


def test_quota_in_sidebar_and_status_bar(qtbot: Any, tmp_path: Path) -> None:
    engine = QuotaEngine()
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(engine, settings=settings, clock=lambda: NOW)
    qtbot.addWidget(window)
    window.start()
    item = window.sidebar._items[("account", "shop")]
    assert item.toolTip(0) == "" and window.shoptet.quota_label.isHidden()

    engine.status = QuotaStatus(
        bucket_filling=37, bucket_size=200, not_before=NOW + timedelta(seconds=30),
        observed_at=datetime(2025, 11, 23, 11, 59, tzinfo=UTC),
    )  # fmt: skip
    window.feed.ticked.emit()  # the 1 s tick
    local = (NOW + timedelta(seconds=30)).astimezone().strftime("%H:%M:%S")
    expected = f"Shoptet bucket 37/200 · rate limited until {local}"
    assert item.toolTip(0) == expected
    assert window.shoptet.quota_label.text() == f"shop: {expected}"
    assert not window.shoptet.quota_label.isHidden()
    assert window.sidebar._items[("account", "acme")].toolTip(0) == ""

    engine.status = replace(engine.status, bucket_filling=12, not_before=None)
    engine.publish()  # an engine batch refreshes it too
    qtbot.waitUntil(lambda: item.toolTip(0) == "Shoptet bucket 12/200")
    assert window.shoptet.quota_label.text() == "shop: Shoptet bucket 12/200"


def _receiver_listens(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_receiver_runs_while_the_window_does(qasync_loop: Any, tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)

    async def scenario() -> int:
        async with Runtime.open(
            data_dir=tmp_path / "data", credentials=MemoryCredentialStore(), profiles=[]
        ) as runtime:
            engine = runtime.engine
            engine.configure(webhook_enabled=True, webhook_bind="127.0.0.1", webhook_port=0)
            window = MainWindow(engine, settings=settings)
            window.start()
            try:
                await wait_for(lambda: window.shoptet.receiver is not None, what="the receiver")
                receiver = window.shoptet.receiver
                assert receiver is not None and receiver.port != 0
                assert _receiver_listens(receiver.port)
                path = receiver.url.split(str(receiver.port), 1)[1]
                async with httpx.AsyncClient() as client:
                    # unsigned: refused, but answered by our receiver
                    answer = await client.post(receiver.url, content=b"{}")
                assert answer.status_code == 401 and path.startswith("/shoptet/")
                await window.aclose()
                assert window.shoptet.receiver is None
                return receiver.port
            finally:
                window.deleteLater()

    port = qasync_loop.run_until_complete(scenario())
    assert not _receiver_listens(port)


def test_no_receiver_unless_enabled(qtbot: Any, tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(FakeEngine(), settings=settings, clock=lambda: NOW)
    qtbot.addWidget(window)
    window.start()  # no running loop needed: nothing to start
    assert window.shoptet.receiver is None
