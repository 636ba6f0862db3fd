"""Accounts: add, edit, test the connection, remove. The secret field (password mode) goes only to
`engine.add_account` → the OS keyring; the dialog shows which keyring backend is used and a clear
banner when none works (`KeyringUnavailableError`, with the fix)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from jobdock.core.model.errors import (
    AuthError,
    ConfigError,
    JobdockError,
    KeyringUnavailableError,
    NetworkError,
    NotFoundError,
    OptionError,
    UsageError,
)
from jobdock.core.model.job import Account, Job
from jobdock.core.providers.base import AccountForm, Provider, account_form_of
from jobdock.core.providers.profiles.oauth import encode_secrets
from jobdock.qt.dialogs.base import AsyncDialog
from jobdock.qt.dialogs.new_job import parse_pairs

PROBE_ID = "jobdock-connection-test"


async def test_connection(engine: Any, account: Account) -> str:
    """Ask the API about a job that does not exist: an answer other than 401/403 means the
    origin is reachable and the credentials were not rejected. Raises `JobdockError` otherwise."""
    provider = engine.provider(account.provider)
    session = await engine.session(account)
    try:
        ref = provider.parse_ref(account, PROBE_ID)
    except UsageError:  # providers that follow URLs only
        ref = provider.parse_ref(account, account.base_url)
    probe = Job(id=PROBE_ID, account=account.name, provider=provider.id,
                remote_id=ref.remote_id, status_url=ref.status_url)  # fmt: skip
    try:
        await provider.poll(session, probe)
    except NotFoundError:
        pass  # the probe job is unknown, as expected
    except (AuthError, NetworkError, ConfigError, KeyringUnavailableError):
        raise
    except JobdockError:
        pass  # the API answered, in its own way, about a job it cannot know: reachable
    return f"Connected to {account.origin}: credentials accepted."


NAMED_SECRETS = {"client_id": "Client ID", "client_secret": "Client secret",
                 "refresh_token": "Refresh token"}  # fmt: skip


class AccountsDialog(AsyncDialog):
    def __init__(self, engine: Any, parent: QWidget | None = None) -> None:
        super().__init__("Accounts", parent)
        self._engine = engine
        self.banner = QLabel(wordWrap=True)
        self.list = QListWidget()
        self.name = QLineEdit()
        self.provider = QComboBox()
        for provider in engine.providers.values():
            self.provider.addItem(f"{provider.display_name} ({provider.id})", provider.id)
        self.base_url = QLineEdit()
        self.user = QLineEdit(placeholderText="the HTTP Basic user name")
        self.secret = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        # A profile's named secrets (OAuth2: client id, client secret, refresh token): one
        # password field each, shown when the provider names them; one keyring entry together.
        self.named_secrets = {name: QLineEdit(echoMode=QLineEdit.EchoMode.Password)
                              for name in NAMED_SECRETS}  # fmt: skip
        # The options the provider documents get labelled inputs (a list where it names the
        # allowed values); anything else it may take goes in "More options" as key=value lines.
        self.option_inputs: dict[str, QComboBox | QLineEdit] = {}
        self._form_spec = AccountForm()
        self.options = QPlainTextEdit(placeholderText="key=value, one a line")
        self.options.setMaximumHeight(60)
        self.status = QLabel(wordWrap=True)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Provider", self.provider)
        form.addRow("Base URL", self.base_url)
        form.addRow("User", self.user)
        form.addRow("Secret", self.secret)
        for name, edit in self.named_secrets.items():
            form.addRow(NAMED_SECRETS[name], edit)
        form.addRow("More options", self.options)
        self.form = form
        buttons = QHBoxLayout()
        self.new_button = QPushButton("New")
        self.save_button = QPushButton("Save")
        self.test_button = QPushButton("Test connection")
        self.remove_button = QPushButton("Remove")
        for button in (self.new_button, self.save_button, self.test_button, self.remove_button):
            buttons.addWidget(button)
        body = QHBoxLayout()
        body.addWidget(self.list, 1)
        right = QFormLayout()
        right.addRow(form)
        right.addRow(buttons)
        right.addRow(self.status)
        body.addLayout(right, 2)
        self.layout_.addWidget(self.banner)
        self.layout_.addLayout(body)
        self.finish_layout()
        self.buttons.button(self.buttons.StandardButton.Cancel).hide()
        self.list.currentTextChanged.connect(self._on_list_current_changed)
        self.provider.currentIndexChanged.connect(self._on_provider_changed)
        self.new_button.clicked.connect(self.clear_form)
        self.save_button.clicked.connect(self.save)
        self.test_button.clicked.connect(self.test)
        self.remove_button.clicked.connect(self.remove)
        self.reload()
        self.clear_form()
        self.resize(760, 420)
        self.confirmation: QMessageBox | None = None
        self._backend_task = asyncio.get_running_loop().create_task(self.check_keyring())

    async def check_keyring(self) -> None:
        try:
            name = await asyncio.to_thread(self._engine.credentials.backend_name)
        except KeyringUnavailableError as exc:
            self.banner.setText(f"⚠ Secrets cannot be saved: {exc.user_message}")
            self.banner.setStyleSheet("background:#fbe3e3; color:#8a1f1f; padding:6px")
            return
        self.banner.setText(f"Secrets are kept in the OS keyring: {name}")
        self.banner.setStyleSheet("color: palette(mid)")

    def reload(self) -> None:
        self.list.clear()
        self.list.addItems(sorted(a.name for a in self._engine.accounts()))

    def clear_form(self) -> None:
        self.list.clearSelection()
        self.list.setCurrentRow(-1)  # so choosing the same account again loads it again
        for edit in (self.name, self.user, self.secret):
            edit.clear()
        self.options.clear()
        self.name.setReadOnly(False)
        self._on_provider_changed()

    def _on_provider_changed(self, _index: int = 0) -> None:
        provider: Provider = self._engine.provider(self.provider.currentData())
        self.secret.setPlaceholderText(f"{provider.secret_label} (kept in the keyring)")
        label = self.form.labelForField(self.secret)
        assert isinstance(label, QLabel)  # addRow("Secret", ...) made it a QLabel
        label.setText(provider.secret_label.split(" (")[0])
        if not self.name.isReadOnly():
            self.base_url.setText(provider.default_base_url)
        self._build_option_inputs(account_form_of(provider))

    def _build_option_inputs(self, spec: AccountForm) -> None:
        """The provider's documented options as labelled inputs, in place of the old ones."""
        for old in self.option_inputs.values():
            self.form.removeRow(old)
        self.option_inputs = {}
        self._form_spec = spec
        # Options that decide which credentials are asked for (the grant, the kind of auth)
        # come before them, the others before "More options".
        first = self._row_of(self.user)
        for option in spec.options:
            widget: QComboBox | QLineEdit
            if option.choices:
                widget = QComboBox()
                for choice in option.choices:
                    widget.addItem(option.choice_label(choice), choice)
                widget.currentIndexChanged.connect(self._update_visible_rows)
            else:
                widget = QLineEdit(placeholderText=option.hint)
            widget.setAccessibleName(option.label)
            if option.near_credentials:
                self.form.insertRow(first, option.label, widget)
                first += 1
            else:
                self.form.insertRow(self._row_of(self.options), option.label, widget)
            self.option_inputs[option.key] = widget
        self._update_visible_rows()

    def _row_of(self, widget: QWidget) -> int:
        position: Any = self.form.getWidgetPosition(widget)  # (row, role); typed as object
        return int(position[0])

    def _option_value(self, key: str) -> str:
        widget = self.option_inputs.get(key)
        if isinstance(widget, QComboBox):
            return str(widget.currentData() or "")
        return widget.text().strip() if widget is not None else ""

    def _applies(self, when: tuple[str, str] | None) -> bool:
        return when is None or self._option_value(when[0]) == when[1]

    def _update_visible_rows(self, _index: int = 0) -> None:
        spec = self._form_spec
        self.form.setRowVisible(self.user, spec.user or (
            spec.user_when is not None and self._applies(spec.user_when)))  # fmt: skip
        for option in spec.options:
            self.form.setRowVisible(self.option_inputs[option.key], self._applies(option.when))
        # A profile with `auth.kind = "none"` (UniProt) has no secret to ask for; an oauth2
        # one a password field for each secret of the grant chosen (refresh_token: 3, else 2).
        provider: Provider = self._engine.provider(self.provider.currentData())
        names = self._secret_names(provider)
        self.form.setRowVisible(self.secret, provider.needs_secret and not names)
        for name, edit in self.named_secrets.items():
            self.form.setRowVisible(edit, name in names)

    def _secret_names(self, provider: Provider) -> tuple[str, ...]:
        """The named secrets of the account the form shows: those of its chosen grant."""
        chosen = {o.key: self._option_value(o.key) for o in self._form_spec.options}
        try:
            return provider.secret_names_for({k: v for k, v in chosen.items() if v})
        except UsageError:
            return provider.secret_names

    def _load_options(self, options: Mapping[str, str]) -> None:
        for shown in self.option_inputs.values():  # nothing left of the account shown before
            if isinstance(shown, QComboBox):
                shown.setCurrentIndex(0)
            else:
                shown.clear()
        rest = []
        for key, value in options.items():
            widget = self.option_inputs.get(key)
            if isinstance(widget, QComboBox) and widget.findData(value) >= 0:
                widget.setCurrentIndex(widget.findData(value))
            elif isinstance(widget, QLineEdit):
                widget.setText(value)
            else:
                rest.append(f"{key}={value}")
        self.options.setPlainText("\n".join(rest))
        self._update_visible_rows()

    def _collect_options(self) -> dict[str, str]:
        options = dict(parse_pairs(self.options.toPlainText()))
        for option in self._form_spec.options:
            value = self._option_value(option.key)
            if value and self._applies(option.when):
                options[option.key] = value
        return options

    def _user_wanted(self) -> bool:
        spec = self._form_spec
        return spec.user or (spec.user_when is not None and self._applies(spec.user_when))

    def error_text(self, error: JobdockError) -> str:
        """An account option that cannot be used, said by its field's label (the engine's
        message names it as the command line takes it: `--option token_url=...`)."""
        if not isinstance(error, OptionError):
            return error.user_message
        widget = self.option_inputs.get(error.option)
        if widget is not None and self.form.isRowVisible(widget):
            widget.setFocus()
            return f"{widget.accessibleName()}: {error.problem}"
        return f"More options, {error.option}: {error.problem}"

    def _on_list_current_changed(self, name: str) -> None:
        if not name:
            return
        account = self._engine.account(name)
        self.name.setText(account.name)
        self.name.setReadOnly(True)
        self.provider.setCurrentIndex(self.provider.findData(account.provider))
        self.base_url.setText(account.base_url)
        self.user.setText(account.user or "")
        self.secret.clear()
        self.secret.setPlaceholderText("unchanged (type to replace)")
        self._load_options(account.options)

    def account_from_form(self) -> Account:
        name = self.name.text().strip()
        if not name:
            raise UsageError("An account needs a name.")
        base_url = self.base_url.text().strip()
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError("The base URL must be an http:// or https:// address.")
        provider: Provider = self._engine.provider(self.provider.currentData())
        needs_secret = provider.needs_secret
        options = self._collect_options()
        names = provider.secret_names_for(options)  # the chosen grant's
        given = [n for n in names if self.named_secrets[n].text()]
        wanted = bool(given) or self._new_secrets(provider, name, names)
        if names and wanted and len(given) < len(names):
            missing = [NAMED_SECRETS[n] for n in names if n not in given]
            raise UsageError(f"Fill in {', '.join(missing)} (all of them are kept together).")
        if needs_secret and not names and not self.name.isReadOnly() and not self.secret.text():
            raise UsageError(f"A new account needs its {provider.secret_label}.")
        user = self.user.text().strip() if self._user_wanted() else ""
        if self._user_wanted() and not user:
            raise UsageError(f"{provider.display_name} signs in with a user name: fill in User.")
        for option in self._form_spec.options:
            if option.when and self._applies(option.when) and not options.get(option.key):
                raise UsageError(f"{option.label} is needed when {option.when[0]} is "
                                 f"{option.when[1]}.")  # fmt: skip
        return Account(
            name=name,
            provider=self.provider.currentData(),
            base_url=base_url,
            user=user or None,
            options=options,
        )

    def _new_secrets(self, provider: Provider, name: str, names: tuple[str, ...]) -> bool:
        """Whether the account needs its named secrets given now: a new account, one of another
        provider, or one whose kept secrets are another grant's."""
        if not self.name.isReadOnly():
            return True
        try:
            old = self._engine.account(name)
            return old.provider != provider.id or provider.secret_names_for(old.options) != names
        except UsageError:
            return True

    def save(self) -> None:
        try:
            account = self.account_from_form()
        except UsageError as exc:
            self.show_error(self.error_text(exc))
            return
        names = self._engine.provider(account.provider).secret_names_for(account.options)
        secret = self.secret.text() or None
        if names and all(self.named_secrets[n].text() for n in names):
            secret = encode_secrets({n: self.named_secrets[n].text() for n in names})
        self.secret.clear()  # the secret leaves the dialog for the keyring, nowhere else
        for edit in self.named_secrets.values():
            edit.clear()
        self.run(lambda: self._save(account, secret), close=False)

    async def _save(self, account: Account, secret: str | None) -> None:
        await self._engine.add_account(account, secret)
        self.reload()
        matches = self.list.findItems(account.name, Qt.MatchFlag.MatchExactly)
        if matches:
            self.list.setCurrentItem(matches[0])
        self.status.setText(f"Saved {account.name}.")

    def test(self) -> None:
        name = self.list.currentItem().text() if self.list.currentItem() else None
        if name is None:
            self.show_error("Save the account first, then test it.")
            return
        self.status.setText("Testing…")
        self.run(lambda: self._test(name), close=False)

    async def _test(self, name: str) -> None:
        try:
            self.status.setText(await test_connection(self._engine, self._engine.account(name)))
        except JobdockError:
            self.status.setText("")
            raise

    def remove(self) -> None:
        """Ask first: removing an account deletes its secret from the keyring for good."""
        item = self.list.currentItem()
        if item is None or self.confirmation is not None:
            return
        name = item.text()
        jobs = self._engine.count_of_account(name)  # no read of the whole history
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Remove account",
            f"Remove the account {name}?",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setInformativeText(
            f"Its secret is deleted from the OS keyring; you will need it again to add the "
            f"account back. Its {jobs} job(s) stay in the list, marked orphaned, and files "
            "already saved stay on disk."
        )
        box.addButton("Remove account and secret", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda _result: self._on_remove_answered(name))
        self.confirmation = box
        box.open()  # never exec(): the qasync loop keeps running

    def _on_remove_answered(self, name: str) -> None:
        box, self.confirmation = self.confirmation, None
        if box is None:
            return
        box.deleteLater()
        if box.buttonRole(box.clickedButton()) == QMessageBox.ButtonRole.DestructiveRole:
            self.run(lambda: self._remove(name), close=False)

    async def _remove(self, name: str) -> None:
        await self._engine.remove_account(name)
        self.reload()
        self.clear_form()
        self.status.setText(f"Removed {name}; its jobs stay, marked orphaned.")

    def accept(self) -> None:
        self.done(self.DialogCode.Accepted.value)

    def done(self, result: int) -> None:
        self._backend_task.cancel()
        super().done(result)
