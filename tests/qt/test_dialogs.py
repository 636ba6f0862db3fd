"""The dialogs on a fake engine: built requests, secrets only to add_account, settings saved."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QComboBox, QMessageBox

from jobdock.core.model.errors import KeyringUnavailableError
from jobdock.core.model.job import Account
from jobdock.qt.dialogs.accounts import AccountsDialog
from jobdock.qt.dialogs.new_job import NewJobDialog
from jobdock.qt.dialogs.settings import SettingsDialog, load_notice_toggles
from jobdock.qt.dialogs.track import TrackDialog
from jobdock.qt.notices import Notice
from tests.qt.conftest import FakeEngine

REPO = Path(__file__).resolve().parents[2]


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_new_job_forms_build_requests(qasync_loop: Any, qtbot: Any) -> None:
    engine = FakeEngine()

    async def scenario() -> None:
        dialog = NewJobDialog(engine)
        qtbot.addWidget(dialog)
        dialog.account.setCurrentIndex(dialog.account.findData("globex"))  # testo
        dialog.forms["testo"].format.setCurrentText("PARQUET")
        request = dialog.request()
        body = json.loads(request.body)
        assert request.method == "POST" and request.path == "/v3/devices/status"
        assert body["options"]["result_file_format"] == "PARQUET"
        assert body["time_range"]["from"].endswith("Z")
        dialog.account.setCurrentIndex(dialog.account.findData("acme"))  # vainu
        dialog.forms["vainu"].filters.setPlainText("country=FI\n\nsize=10")
        dialog.forms["vainu"].format.setCurrentText("jsonl")
        assert dialog.request().params == (
            ("country", "FI"),
            ("size", "10"),
            ("async_format", "jsonl"),
        )
        dialog.tabs.setCurrentIndex(1)  # raw
        dialog.raw.body.setPlainText("{not json")
        dialog.accept()
        assert "malformed JSON" in dialog.error.text()
        dialog.raw.body.setPlainText("")
        dialog.raw.path.setText("companies/async/")
        dialog.label.setText("mine")
        dialog.accept()
        await settle()
        assert engine.calls == [("submit", "acme", "GET", "companies/async/")]

    qasync_loop.run_until_complete(scenario())


def test_track_dialog(qasync_loop: Any, qtbot: Any) -> None:
    engine = FakeEngine()

    async def scenario() -> None:
        dialog = TrackDialog(engine)
        qtbot.addWidget(dialog)
        dialog.open()
        dialog.accept()
        assert "paste" in dialog.error.text()
        dialog.ref.setText(" https://api.vainu.app/api/v2/companies/async/abc/ ")
        dialog.accept()
        await settle()
        assert not dialog.isVisible()

    qasync_loop.run_until_complete(scenario())
    assert engine.calls == [("track", "acme", "https://api.vainu.app/api/v2/companies/async/abc/")]


def test_accounts_dialog_sends_the_secret_only_to_add_account(qasync_loop: Any, qtbot: Any) -> None:
    engine = FakeEngine()

    async def scenario() -> None:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await asyncio.wait_for(dialog._backend_task, 10)  # the keyring check (a thread) is over
        assert "fake keyring" in dialog.banner.text()
        dialog.name.setText("initech")
        dialog.provider.setCurrentIndex(dialog.provider.findData("shoptet"))
        assert dialog.base_url.text() == "https://api.myshoptet.com"
        dialog.secret.setText("tok-123456")
        dialog.save()
        assert dialog.secret.text() == ""
        await settle()
        assert dialog.list.currentItem().text() == "initech"
        dialog.remove()
        click_remove(dialog)
        await settle()
        dialog.done(0)

    qasync_loop.run_until_complete(scenario())
    assert engine.calls == [("add_account", "initech", "secret"), ("remove_account", "initech")]


def click_remove(dialog: AccountsDialog, *, confirm: bool = True) -> str:
    """Answer the removal question; returns its text (the question and what it explains)."""
    box = dialog.confirmation
    assert box is not None and box.isVisible(), "removing an account must ask first"
    text = f"{box.text()} {box.informativeText()}"
    if confirm:
        (button,) = [b for b in box.buttons()
                     if box.buttonRole(b) == QMessageBox.ButtonRole.DestructiveRole]  # fmt: skip
    else:
        button = box.button(QMessageBox.StandardButton.Cancel)
    button.click()
    return text


def test_removing_an_account_asks_and_says_the_secret_leaves_the_keyring(
    qasync_loop: Any, qtbot: Any
) -> None:
    engine = FakeEngine()

    async def scenario() -> str:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await settle()
        dialog.list.setCurrentItem(dialog.list.findItems("acme", Qt.MatchFlag.MatchExactly)[0])
        dialog.remove()
        text = click_remove(dialog, confirm=False)
        await settle()
        assert engine.calls == []  # Cancel keeps the account and its secret
        assert dialog.list.findItems("acme", Qt.MatchFlag.MatchExactly)
        dialog.done(0)
        return text

    text = qasync_loop.run_until_complete(scenario())
    assert "acme" in text and "keyring" in text and "orphaned" in text


def test_accounts_dialog_checks_required_fields_before_saving(qasync_loop: Any, qtbot: Any) -> None:
    engine = FakeEngine()

    async def scenario() -> list[str]:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await settle()
        errors = []
        dialog.name.setText("initech")
        dialog.base_url.setText("api.example.com")  # no scheme
        dialog.secret.setText("tok")
        dialog.save()
        errors.append(dialog.error.text())
        dialog.base_url.setText("https://api.example.com")
        dialog.secret.clear()
        dialog.save()
        errors.append(dialog.error.text())
        await settle()
        dialog.done(0)
        return errors

    url_error, secret_error = qasync_loop.run_until_complete(scenario())
    assert "base URL" in url_error
    assert "needs its" in secret_error
    assert engine.calls == []


def test_accounts_dialog_banner_when_no_keyring(qasync_loop: Any, qtbot: Any) -> None:
    engine = FakeEngine()
    engine.credentials.error = KeyringUnavailableError("no usable OS keyring: install one")

    async def scenario() -> None:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await asyncio.wait_for(dialog._backend_task, 10)  # the keyring check (a thread) is over
        assert "no usable OS keyring" in dialog.banner.text()
        dialog.done(0)

    qasync_loop.run_until_complete(scenario())


def test_settings_dialog_saves(qasync_loop: Any, qtbot: Any, tmp_path: Path) -> None:
    engine = FakeEngine()
    settings = QSettings(str(tmp_path / "w.ini"), QSettings.Format.IniFormat)

    async def scenario() -> None:
        dialog = SettingsDialog(engine, settings)
        qtbot.addWidget(dialog)
        dialog.download_dir.setText(str(tmp_path / "out"))
        dialog.auto_download.setChecked(False)
        dialog.margin.setValue(30)
        dialog.poll_min.setValue(5)
        dialog.notices[Notice.SAVED].setChecked(False)
        dialog.accept()
        await settle()

    qasync_loop.run_until_complete(scenario())
    assert engine.settings.download_dir == tmp_path / "out"
    assert engine.settings.auto_download is False
    assert engine.settings.expiry_margin == 1800.0
    assert engine.settings.poll_min == 5.0 and engine.settings.poll_max is None
    assert load_notice_toggles(settings) == set(Notice) - {Notice.SAVED}


def test_settings_dialog_sets_the_limit_of_parallel_downloads(
    qasync_loop: Any, qtbot: Any, tmp_path: Path
) -> None:
    engine = FakeEngine(download_dir=tmp_path)
    engine.settings = replace(engine.settings, max_downloads=5)
    settings = QSettings(str(tmp_path / "w.ini"), QSettings.Format.IniFormat)

    async def scenario() -> int:
        dialog = SettingsDialog(engine, settings)
        qtbot.addWidget(dialog)
        shown = dialog.max_downloads.value()
        dialog.max_downloads.setValue(0)  # below the minimum: one at least
        assert dialog.max_downloads.value() == 1
        dialog.max_downloads.setValue(2)
        dialog.accept()
        await settle()
        return shown

    assert qasync_loop.run_until_complete(scenario()) == 5
    assert engine.settings.max_downloads == 2


def test_settings_dialog_refuses_a_download_folder_that_is_a_file(
    qasync_loop: Any, qtbot: Any, tmp_path: Path
) -> None:
    engine = FakeEngine()
    before = engine.settings
    settings = QSettings(str(tmp_path / "w.ini"), QSettings.Format.IniFormat)
    (tmp_path / "a-file").write_text("x")

    async def scenario() -> str:
        dialog = SettingsDialog(engine, settings)
        qtbot.addWidget(dialog)
        dialog.download_dir.setText(str(tmp_path / "a-file" / "downloads"))
        dialog.accept()
        await settle()
        return dialog.error.text()

    error = qasync_loop.run_until_complete(scenario())
    assert error == f"The download folder cannot be used: {tmp_path / 'a-file'} is not a folder."
    assert engine.settings == before  # nothing taken


def visible_rows(dialog: AccountsDialog) -> list[str]:
    """The labels of the form rows a user sees now."""
    form = dialog.form
    labels = []
    for row in range(form.rowCount()):
        label = form.itemAt(row, form.ItemRole.LabelRole)
        if label is not None and form.isRowVisible(row):
            labels.append(label.widget().text())
    return labels


def test_accounts_form_shows_only_what_the_provider_uses(qasync_loop: Any, qtbot: Any) -> None:
    engine = FakeEngine()

    async def scenario() -> dict[str, list[str]]:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await settle()
        seen = {}
        for provider in ("vainu", "cisco-cce", "generic-202", "shoptet"):
            dialog.provider.setCurrentIndex(dialog.provider.findData(provider))
            seen[provider] = visible_rows(dialog)
        auth = dialog.option_inputs["auth"]  # generic-202's documented choice
        dialog.provider.setCurrentIndex(dialog.provider.findData("generic-202"))
        auth = dialog.option_inputs["auth"]
        assert [auth.itemData(i) for i in range(auth.count())] == ["bearer", "header", "basic"]
        auth.setCurrentIndex(auth.findData("header"))
        seen["generic-202, auth=header"] = visible_rows(dialog)
        auth.setCurrentIndex(auth.findData("basic"))
        seen["generic-202, auth=basic"] = visible_rows(dialog)
        dialog.done(0)
        return seen

    seen = qasync_loop.run_until_complete(scenario())
    common = ["Poll at least every (s)", "Poll at most every (s)", "More options"]
    # vainu is a bundled profile: its result hosts can be replaced per account
    assert seen["vainu"] == ["Name", "Provider", "Base URL", "API key", "Result hosts", *common]
    assert seen["cisco-cce"] == ["Name", "Provider", "Base URL", "User", "Password", *common]
    assert "User" not in seen["generic-202"] and "Header name" not in seen["generic-202"]
    assert "Authentication" in seen["generic-202"]
    assert "Header name" in seen["generic-202, auth=header"]
    assert "User" in seen["generic-202, auth=basic"]
    assert "Token kind" in seen["shoptet"] and "Token exchange URL" not in seen["shoptet"]


def test_a_profile_without_auth_asks_for_no_secret(qasync_loop: Any, qtbot: Any) -> None:
    from jobdock.core.providers.profiles.load import parse_profile
    from jobdock.core.providers.profiles.provider import ProfileProvider
    from tests.core.providers.profiles.test_patterns import UNIPROT

    engine = FakeEngine()
    provider = ProfileProvider(parse_profile(UNIPROT, source="u"))
    engine.providers = {**engine.providers, provider.id: provider}

    async def scenario() -> list[str]:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await settle()
        dialog.provider.setCurrentIndex(dialog.provider.findData("idmapping-like"))
        rows = visible_rows(dialog)
        dialog.name.setText("uniprot")
        dialog.save()  # no secret asked, none needed
        await settle()
        dialog.done(0)
        return rows

    rows = qasync_loop.run_until_complete(scenario())
    assert "Secret" not in rows and rows[:3] == ["Name", "Provider", "Base URL"]
    assert ("add_account", "uniprot", "no secret") in engine.calls


def test_an_oauth2_profile_asks_for_each_named_secret(qasync_loop: Any, qtbot: Any) -> None:
    from jobdock.core.providers.profiles.load import parse_profile
    from jobdock.core.providers.profiles.provider import ProfileProvider
    from tests.core.providers.profiles.test_patterns import OAUTH

    engine = FakeEngine()
    provider = ProfileProvider(parse_profile(OAUTH, source="o"))
    engine.providers = {**engine.providers, provider.id: provider}
    kept: list[str | None] = []

    async def add_account(account: Any, secret: str | None) -> Any:
        kept.append(secret)
        return account

    engine.add_account = add_account  # type: ignore[method-assign]

    async def scenario() -> list[str]:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await settle()
        dialog.provider.setCurrentIndex(dialog.provider.findData(provider.id))
        rows = visible_rows(dialog)
        dialog.name.setText("sp")
        dialog.named_secrets["client_id"].setText("cid")
        dialog.named_secrets["client_secret"].setText("csecret")
        dialog.save()  # the refresh token is missing: refused, nothing saved
        dialog.named_secrets["refresh_token"].setText("rtoken")
        dialog.save()
        await settle()
        assert all(not e.text() for e in dialog.named_secrets.values())
        dialog.done(0)
        return rows

    rows = qasync_loop.run_until_complete(scenario())
    assert "Secret" not in rows
    assert ["Client ID", "Client secret", "Refresh token"] == [r for r in rows if r in
            ("Client ID", "Client secret", "Refresh token")]  # fmt: skip
    assert kept and json.loads(kept[-1] or "") == {"client_id": "cid", "client_secret": "csecret",
                                                    "refresh_token": "rtoken"}  # fmt: skip
    assert len(kept) == 1


def test_a_profiles_url_options_are_labelled_inputs_with_its_defaults(
    qasync_loop: Any, qtbot: Any
) -> None:
    """docs/profiles.md: an account can replace the profile's `[auth] token_url` (oauth2) and
    its `result_hosts`; the form shows both, the profile's values as placeholders."""
    from jobdock.core.providers.profiles.load import parse_profile
    from jobdock.core.providers.profiles.provider import ProfileProvider
    from tests.core.providers.profiles.test_patterns import OAUTH, UNIPROT

    engine = FakeEngine()
    oauth = ProfileProvider(parse_profile(OAUTH, source="o"))
    stripe_like = UNIPROT.replace(
        'base_url = "http://127.0.0.1:9"',
        'base_url = "http://127.0.0.1:9"\n'
        'result_hosts = ["files.example.com", "http://127.0.0.1:8"]',
    )
    plain = ProfileProvider(parse_profile(stripe_like, source="u"))
    engine.providers = {**engine.providers, oauth.id: oauth, plain.id: plain}

    async def scenario() -> dict[str, Any]:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await settle()
        seen: dict[str, Any] = {}
        dialog.provider.setCurrentIndex(dialog.provider.findData(plain.id))
        seen["plain rows"] = visible_rows(dialog)
        seen["plain hosts"] = dialog.option_inputs["result_hosts"].placeholderText()
        dialog.provider.setCurrentIndex(dialog.provider.findData(oauth.id))
        seen["oauth rows"] = visible_rows(dialog)
        seen["oauth token_url"] = dialog.option_inputs["token_url"].placeholderText()
        seen["oauth hosts"] = dialog.option_inputs["result_hosts"].placeholderText()
        dialog.name.setText("sandbox")
        for name, value in (("client_id", "c"), ("client_secret", "s"), ("refresh_token", "r")):
            dialog.named_secrets[name].setText(value)
        dialog.option_inputs["token_url"].setText("https://test.example/token")
        dialog.option_inputs["result_hosts"].setText("files.eu.example.com")
        dialog.save()
        await settle()
        seen["saved"] = dict(engine.account("sandbox").options)
        dialog.clear_form()
        dialog.list.setCurrentItem(dialog.list.findItems("sandbox", Qt.MatchFlag.MatchExactly)[0])
        seen["loaded"] = dialog.option_inputs["token_url"].text()
        seen["more"] = dialog.options.toPlainText()
        dialog.done(0)
        return seen

    seen = qasync_loop.run_until_complete(scenario())
    assert "Token URL" not in seen["plain rows"] and "Result hosts" in seen["plain rows"]
    assert seen["plain hosts"] == "files.example.com,http://127.0.0.1:8"
    assert {"Token URL", "Result hosts"} <= set(seen["oauth rows"])
    assert seen["oauth token_url"] == "https://api.amazon.com/auth/o2/token"
    assert "none" in seen["oauth hosts"]
    assert seen["saved"] == {"grant": "refresh_token",  # the profile's, the choice's default
                             "token_url": "https://test.example/token",
                             "result_hosts": "files.eu.example.com"}  # fmt: skip
    assert seen["loaded"] == "https://test.example/token" and seen["more"] == ""


def test_a_url_option_that_cannot_be_used_is_said_by_its_field_not_by_the_cli_flag(
    qasync_loop: Any, qtbot: Any
) -> None:
    """The engine says `--option token_url=... is not an absolute URL` (the CLI's words, kept
    there); the dialog says it by the field's label."""
    from jobdock.core.model.errors import OptionError
    from jobdock.core.providers.profiles.load import parse_profile
    from jobdock.core.providers.profiles.provider import ProfileProvider
    from tests.core.providers.profiles.test_patterns import OAUTH, UNIPROT

    engine = FakeEngine()
    oauth = ProfileProvider(parse_profile(OAUTH, source="o"))
    plain = ProfileProvider(parse_profile(UNIPROT, source="u"))
    engine.providers = {**engine.providers, oauth.id: oauth, plain.id: plain}
    account = Account(name="x", provider=oauth.id, base_url="https://api.test",
                      options={"token_url": "login.test/token"})  # fmt: skip
    with pytest.raises(OptionError, match=r"^--option token_url='login.test/token' is not an "):
        oauth.check_account(account)  # what the command line says, unchanged

    async def scenario() -> dict[str, str]:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await settle()
        said: dict[str, str] = {}

        async def save(name: str) -> None:
            for key in ("client_id", "client_secret", "refresh_token"):  # saving clears them
                dialog.named_secrets[key].setText(key)
            dialog.save()
            await settle()
            said[name] = dialog.error.text()

        dialog.provider.setCurrentIndex(dialog.provider.findData(oauth.id))
        dialog.name.setText("sandbox")
        dialog.option_inputs["token_url"].setText("login.test/token")
        await save("token_url")
        dialog.option_inputs["token_url"].clear()
        dialog.option_inputs["result_hosts"].setText("files.test/x")
        await save("result_hosts")
        dialog.provider.setCurrentIndex(dialog.provider.findData(plain.id))  # no token URL field
        dialog.options.setPlainText("token_url=https://login.test/token")
        await save("more")
        dialog.done(0)
        return said

    said = qasync_loop.run_until_complete(scenario())
    assert said["token_url"].startswith("Token URL: 'login.test/token' is not an absolute URL")
    assert said["result_hosts"].startswith("Result hosts: expected a host name")
    assert said["more"].startswith("More options, token_url: idmapping-like signs in without")
    assert not any("--option" in text for text in said.values())
    assert "sandbox" not in engine._accounts  # nothing was saved


def test_accounts_form_saves_and_loads_the_documented_options(qasync_loop: Any, qtbot: Any) -> None:
    engine = FakeEngine()

    async def scenario() -> tuple[str, str, dict[str, str]]:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await settle()
        dialog.name.setText("lro")
        dialog.provider.setCurrentIndex(dialog.provider.findData("generic-202"))
        dialog.base_url.setText("https://lro.example")
        dialog.secret.setText("k")
        auth = dialog.option_inputs["auth"]
        auth.setCurrentIndex(auth.findData("header"))
        dialog.save()
        missing = dialog.error.text()  # the header's name is required with auth=header
        dialog.option_inputs["auth_header"].setText("X-Key")
        dialog.options.setPlainText("custom=1")
        dialog.save()
        await settle()
        saved = engine.account("lro")
        dialog.clear_form()
        dialog.list.setCurrentItem(dialog.list.findItems("lro", Qt.MatchFlag.MatchExactly)[0])
        loaded = dialog.option_inputs["auth_header"].text()
        dialog.done(0)
        return missing, loaded, dict(saved.options)

    missing, loaded, options = qasync_loop.run_until_complete(scenario())
    assert "Header name is needed" in missing
    assert options == {"auth": "header", "auth_header": "X-Key", "custom": "1"}
    assert loaded == "X-Key"


def test_cisco_account_needs_its_user(qasync_loop: Any, qtbot: Any) -> None:
    engine = FakeEngine()

    async def scenario() -> str:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await settle()
        dialog.name.setText("cce")
        dialog.provider.setCurrentIndex(dialog.provider.findData("cisco-cce"))
        dialog.secret.setText("pw")
        dialog.save()
        await settle()
        error = dialog.error.text()
        dialog.done(0)
        return error

    assert "user name" in qasync_loop.run_until_complete(scenario())
    assert engine.calls == []


def test_accounts_dialog_screenshots(qasync_loop: Any, qtbot: Any, tmp_path: Path) -> None:
    """The accounts form of a built-in provider with a user (Cisco CCE), of one with options
    (generic-202) and of a profile with its URL options (Salesforce Bulk Query, oauth2); saved
    to docs/screenshot-accounts-*.png with JOBDOCK_DOCS_SCREENSHOTS=1."""
    engine = FakeEngine()
    engine.credentials.backend_name = lambda: "Secret Service (GNOME Keyring)"  # type: ignore[method-assign]
    forms = {
        "cisco": ("cce-prod", "cisco-cce", "https://cce.example.com/unifiedconfig/config",
                  (760, 420)),
        "generic-202": ("azure-exports", "generic-202", "https://exports.example.net/api",
                        (760, 430)),
        "profile": ("sf-sandbox", "salesforce-bulk-query",
                    "https://acme--dev.sandbox.my.salesforce.com", (760, 520)),
    }  # fmt: skip

    async def scenario() -> dict[str, list[str]]:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await settle()
        dialog.show()  # first: showing it loads the first account into the form
        await settle()
        rows = {}
        for shot, (name, provider, base_url, size) in forms.items():
            dialog.clear_form()
            dialog.provider.setCurrentIndex(dialog.provider.findData(provider))
            dialog.name.setText(name)
            dialog.base_url.setText(base_url)
            if provider == "cisco-cce":
                dialog.user.setText("administrator")
                dialog.secret.setText("s3cr3t-pass")
            elif provider == "generic-202":
                dialog.secret.setText("subscription1")
                auth = dialog.option_inputs["auth"]
                auth.setCurrentIndex(auth.findData("header"))
                dialog.option_inputs["auth_header"].setText("Ocp-Apim-Subscription-Key")
            else:
                for secret in dialog.named_secrets.values():
                    secret.setText("secret-value")  # the token URL shows the profile's
            dialog.resize(*size)
            await asyncio.sleep(0.05)  # the layout settles; paint
            rows[shot] = visible_rows(dialog)
            image = tmp_path / f"screenshot-accounts-{shot}.png"
            assert dialog.grab().save(str(image))
            if os.environ.get("JOBDOCK_DOCS_SCREENSHOTS") == "1":
                shutil.copyfile(image, REPO / "docs" / image.name)
        dialog.done(0)
        return rows

    rows = qasync_loop.run_until_complete(scenario())
    assert "User" in rows["cisco"] and "Header name" in rows["generic-202"]
    assert {"Token URL", "Result hosts", "Client ID"} <= set(rows["profile"])
    # what decides the credentials (or how they are sent) comes with them, above them
    generic = rows["generic-202"]
    assert generic[3:6] == ["Authentication", "Header name", "Token or password"], generic
    assert rows["profile"][3:6] == ["OAuth2 grant", "Client ID", "Client secret"], rows
    # (the profile's own token endpoint, as the Token URL's placeholder, is in the picture)


def test_choices_read_as_words_and_keep_their_values(qasync_loop: Any, qtbot: Any) -> None:
    engine = FakeEngine()

    async def scenario() -> dict[str, list[tuple[str, str]]]:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await settle()
        seen = {}
        for provider in ("generic-202", "salesforce-bulk-query", "shoptet"):
            dialog.clear_form()
            dialog.provider.setCurrentIndex(dialog.provider.findData(provider))
            for key, box in dialog.option_inputs.items():
                if isinstance(box, QComboBox):
                    seen[f"{provider}.{key}"] = [
                        (box.itemText(i), box.itemData(i)) for i in range(box.count())
                    ]
        dialog.done(0)
        return seen

    seen = qasync_loop.run_until_complete(scenario())
    assert seen["generic-202.auth"][2] == ("HTTP Basic (user and password)", "basic")
    assert seen["generic-202.final_state_via"][0] == ("As the method implies (default)", "")
    assert [v for _, v in seen["salesforce-bulk-query.grant"]] == [
        "client_credentials", "refresh_token"]  # fmt: skip
    assert seen["salesforce-bulk-query.grant"][1][0].startswith("Refresh token")
    assert seen["shoptet.auth"] == [("Private API token", "private"),
                                    ("Add-on (OAuth access token)", "addon")]  # fmt: skip
