"""The accounts dialog's OAuth2 grant (docs/profiles.md, `[auth] grants`): a labelled choice
whose default is the profile's grant, and one password field per secret of the grant chosen —
choosing `refresh_token` adds the Refresh token field, choosing `client_credentials` again takes
it away. The account is saved with its grant and that grant's secrets, one keyring entry; an
account loaded shows its own grant; a grant the profile does not allow is said by its field."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from jobdock.core.model.job import Account
from jobdock.core.providers.profiles.load import BUNDLED_PACKAGE, parse_profile
from jobdock.core.providers.profiles.provider import ProfileProvider
from jobdock.qt.dialogs.accounts import AccountsDialog
from tests.qt.conftest import FakeEngine
from tests.qt.test_dialogs import settle, visible_rows

SECRET_ROWS = ("Client ID", "Client secret", "Refresh token")


def salesforce() -> ProfileProvider:
    text = (files(BUNDLED_PACKAGE) / "salesforce-bulk-query.toml").read_text(encoding="utf-8")
    return ProfileProvider(parse_profile(text, source="salesforce-bulk-query.toml"))


def secret_rows(dialog: AccountsDialog) -> list[str]:
    return [row for row in visible_rows(dialog) if row in (*SECRET_ROWS, "Secret")]


def test_the_grant_choice_changes_the_password_fields(qasync_loop: Any, qtbot: Any) -> None:
    engine = FakeEngine()
    provider = salesforce()
    engine.providers = {**engine.providers, provider.id: provider}
    kept: list[str | None] = []
    add_account = engine.add_account

    async def keep(account: Account, secret: str | None) -> Account:
        kept.append(secret)
        return await add_account(account, secret)

    engine.add_account = keep  # type: ignore[method-assign]

    async def scenario() -> dict[str, Any]:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await settle()
        seen: dict[str, Any] = {}
        dialog.provider.setCurrentIndex(dialog.provider.findData(provider.id))
        grant = dialog.option_inputs["grant"]
        assert isinstance(grant, QComboBox)
        seen["rows"] = visible_rows(dialog)
        seen["choices"] = [grant.itemData(i) for i in range(grant.count())]
        seen["default"] = (grant.currentData(), secret_rows(dialog))
        grant.setCurrentIndex(grant.findData("refresh_token"))
        seen["refresh_token"] = secret_rows(dialog)
        grant.setCurrentIndex(grant.findData("client_credentials"))
        seen["back"] = secret_rows(dialog)
        grant.setCurrentIndex(grant.findData("refresh_token"))
        dialog.name.setText("org")
        dialog.named_secrets["client_id"].setText("3MVG9-key")
        dialog.named_secrets["client_secret"].setText("consumer-secret")
        dialog.save()  # the refresh token is missing: refused, nothing saved
        await settle()
        seen["missing"] = dialog.error.text()
        dialog.named_secrets["refresh_token"].setText("5Aep-refresh")
        dialog.save()
        await settle()
        seen["saved"] = dict(engine.account("org").options)
        # a second account with the profile's default grant, then each loaded in turn
        engine._accounts["cc"] = Account(name="cc", provider=provider.id,
                                          base_url=provider.default_base_url)  # fmt: skip
        dialog.reload()
        for name in ("org", "cc", "org"):
            dialog.list.setCurrentItem(dialog.list.findItems(name, Qt.MatchFlag.MatchExactly)[0])
            seen[f"loaded {name}"] = (grant.currentData(), secret_rows(dialog))
        # the loaded account's grant changed: its kept secrets are the other grant's
        grant.setCurrentIndex(grant.findData("client_credentials"))
        dialog.save()
        await settle()
        seen["changed"] = dialog.error.text()
        dialog.done(0)
        return seen

    seen = qasync_loop.run_until_complete(scenario())
    assert "OAuth2 grant" in seen["rows"] and "Secret" not in seen["rows"]
    assert seen["choices"] == ["client_credentials", "refresh_token"]
    assert seen["default"] == ("client_credentials", ["Client ID", "Client secret"])
    assert seen["refresh_token"] == ["Client ID", "Client secret", "Refresh token"]
    assert seen["back"] == ["Client ID", "Client secret"]
    assert seen["missing"] == "Fill in Refresh token (all of them are kept together)."
    assert len(kept) == 1 and json.loads(kept[0] or "") == {
        "client_id": "3MVG9-key", "client_secret": "consumer-secret",
        "refresh_token": "5Aep-refresh"}  # fmt: skip
    assert seen["saved"] == {"grant": "refresh_token"}
    assert seen["loaded org"] == ("refresh_token", list(SECRET_ROWS))
    assert seen["loaded cc"] == ("client_credentials", ["Client ID", "Client secret"])
    assert seen["changed"] == "Fill in Client ID, Client secret (all of them are kept together)."
    assert len(kept) == 1


def test_a_grant_the_profile_does_not_allow_is_said_by_its_field(
    qasync_loop: Any, qtbot: Any
) -> None:
    """One grant allowed (Google's, Amazon's): no choice is shown; a `grant=` among More
    options that the profile does not allow is said by that field, and nothing is saved."""
    engine = FakeEngine()
    only = salesforce()
    text = (files(BUNDLED_PACKAGE) / "google-lro.toml").read_text(encoding="utf-8")
    google = ProfileProvider(parse_profile(text, source="google-lro.toml"))
    engine.providers = {**engine.providers, only.id: only, google.id: google}

    async def scenario() -> tuple[list[str], str]:
        dialog = AccountsDialog(engine)
        qtbot.addWidget(dialog)
        await settle()
        dialog.provider.setCurrentIndex(dialog.provider.findData(google.id))
        rows = visible_rows(dialog)
        dialog.name.setText("video")
        for name in ("client_id", "client_secret", "refresh_token"):
            dialog.named_secrets[name].setText(name)
        dialog.options.setPlainText("grant=client_credentials")
        dialog.save()
        await settle()
        said = dialog.error.text()
        dialog.done(0)
        return rows, said

    rows, said = qasync_loop.run_until_complete(scenario())
    assert "OAuth2 grant" not in rows and "Refresh token" in rows
    assert said == "More options, grant: 'client_credentials' is not one of refresh_token"
    assert "video" not in engine._accounts
