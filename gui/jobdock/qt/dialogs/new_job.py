"""Start a new job: a form per provider (testo time range + format, Vainu filters + format,
Cisco/202 method/path/body, Shoptet endpoint), and a raw request tab for any API.

Every form starts from `provider.default_request()` and builds the final request with
`requests.build_request`, so the body is checked (malformed JSON/XML is refused inline).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QDateTime
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QStackedWidget,
    QTabWidget,
    QWidget,
)

from jobdock.core.model.errors import UsageError
from jobdock.core.model.job import SubmitRequest
from jobdock.core.net.inputs import quoted
from jobdock.core.net.requests import build_request
from jobdock.qt.dialogs.base import AsyncDialog

TESTO_FORMATS = ("CSV", "PARQUET", "JSON", "ORC", "AVRO", "TEXTFILE")
TESTO_PATHS = ("/v3/devices/status", "/v3/measurements", "/v3/alarms")
VAINU_FORMATS = ("csv", "json", "jsonl")
SHOPTET_ENDPOINTS = ("GET /api/products/snapshot", "GET /api/orders/snapshot",
                     "GET /api/customers/snapshot")  # fmt: skip


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """`key=value` lines → pairs; blank lines ignored; a line without `=` is refused."""
    pairs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"expected key=value, got {quoted(line.strip())}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _body_text(request: SubmitRequest) -> str:
    return request.body.decode("utf-8", "replace") if request.body else ""


class TestoForm(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.path = QComboBox(editable=True)
        self.path.addItems(TESTO_PATHS)
        now = QDateTime.currentDateTimeUtc()
        self.start = QDateTimeEdit(now.addDays(-1), calendarPopup=True)
        self.end = QDateTimeEdit(now, calendarPopup=True)
        self.format = QComboBox()
        self.format.addItems(TESTO_FORMATS)
        form = QFormLayout(self)
        form.addRow("Data", self.path)
        form.addRow("From (UTC)", self.start)
        form.addRow("To (UTC)", self.end)
        form.addRow("File format", self.format)

    def build(self, default: SubmitRequest) -> SubmitRequest:
        body: dict[str, Any] = json.loads(_body_text(default) or "{}")
        body["time_range"] = {"from": _iso(self.start), "to": _iso(self.end)}
        body.setdefault("options", {})["result_file_format"] = self.format.currentText()
        return build_request(default, path=self.path.currentText().strip(), body=json.dumps(body))


def _iso(edit: QDateTimeEdit) -> str:
    when = datetime.fromtimestamp(edit.dateTime().toSecsSinceEpoch(), UTC)
    return when.isoformat().replace("+00:00", "Z")


class VainuForm(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.filters = QPlainTextEdit(placeholderText="one filter a line, e.g.\ncountry=FI")
        self.format = QComboBox()
        self.format.addItems(VAINU_FORMATS)
        form = QFormLayout(self)
        form.addRow("Filters", self.filters)
        form.addRow("Format", self.format)

    def build(self, default: SubmitRequest) -> SubmitRequest:
        params = [p for p in parse_pairs(self.filters.toPlainText()) if p[0] != "async_format"]
        params.append(("async_format", self.format.currentText()))
        return build_request(default, params=params)


class MethodPathBodyForm(QWidget):
    """Cisco CCE and generic-202: method, path under the base URL, body."""

    def __init__(self, methods: tuple[str, ...] = ("POST", "PUT", "DELETE")) -> None:
        super().__init__()
        self.method = QComboBox()
        self.method.addItems(methods)
        self.path = QLineEdit()
        self.body = QPlainTextEdit()
        form = QFormLayout(self)
        form.addRow("Method", self.method)
        form.addRow("Path", self.path)
        form.addRow("Body", self.body)

    def load(self, default: SubmitRequest) -> None:
        self.method.setCurrentText(default.method)
        self.path.setText(default.path)
        self.body.setPlainText(_pretty_body(default))

    def build(self, default: SubmitRequest) -> SubmitRequest:
        body = self.body.toPlainText().strip()
        return build_request(
            default, method=self.method.currentText(), path=self.path.text().strip(),
            body=body or None,
        )  # fmt: skip


class ShoptetForm(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.endpoint = QComboBox(editable=True)
        self.endpoint.addItems(SHOPTET_ENDPOINTS)
        form = QFormLayout(self)
        form.addRow("Endpoint", self.endpoint)

    def build(self, default: SubmitRequest) -> SubmitRequest:
        method, _, path = self.endpoint.currentText().strip().partition(" ")
        if not path:
            method, path = "GET", method
        return build_request(default, method=method, path=path)


# The forms the "Form" tab can show, one a provider: each builds the request it describes.
RequestForm = TestoForm | VainuForm | MethodPathBodyForm | ShoptetForm


class RawForm(MethodPathBodyForm):
    def __init__(self) -> None:
        super().__init__(("GET", "POST", "PUT", "PATCH", "DELETE"))
        self.params = QPlainTextEdit(placeholderText="key=value, one a line")
        self.content_type = QLineEdit(placeholderText="inferred (JSON or XML) when empty")
        layout = self.layout()
        assert isinstance(layout, QFormLayout)
        layout.insertRow(2, "Query", self.params)
        layout.addRow("Content type", self.content_type)

    def load(self, default: SubmitRequest) -> None:
        super().load(default)
        self.params.setPlainText("\n".join(f"{k}={v}" for k, v in default.params))

    def build(self, default: SubmitRequest, body_type: str | None = None) -> SubmitRequest:
        body = self.body.toPlainText().strip()
        return build_request(
            default,
            method=self.method.currentText(),
            path=self.path.text().strip(),
            params=parse_pairs(self.params.toPlainText()) or None,
            body=body or None,
            content_type=self.content_type.text().strip() or None,
            body_type=body_type,
        )


def _pretty_body(request: SubmitRequest) -> str:
    text = _body_text(request)
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text


class NewJobDialog(AsyncDialog):
    def __init__(self, engine: Any, parent: QWidget | None = None) -> None:
        super().__init__("New job", parent)
        self._engine = engine
        self.account = QComboBox()
        self.label = QLineEdit(placeholderText="optional: shown in the job list")
        self.forms: dict[str, RequestForm] = {
            "testo": TestoForm(),
            "vainu": VainuForm(),
            "cisco-cce": MethodPathBodyForm(),
            "generic-202": MethodPathBodyForm(),
            "shoptet": ShoptetForm(),
        }
        self.stack = QStackedWidget()
        self.no_form = QWidget()
        self.stack.addWidget(self.no_form)
        for form in self.forms.values():
            self.stack.addWidget(form)
        self.raw = RawForm()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.stack, "Form")
        self.tabs.addTab(self.raw, "Raw request")
        head = QFormLayout()
        head.addRow("Account", self.account)
        head.addRow("Label", self.label)
        self.layout_.addLayout(head)
        self.layout_.addWidget(self.tabs)
        self.finish_layout()
        for account in engine.accounts():
            self.account.addItem(f"{account.name} ({account.provider})", account.name)
        self.account.currentIndexChanged.connect(self._on_account_changed)
        self._on_account_changed()
        self.resize(620, 520)

    def provider(self) -> Any:
        name = self.account.currentData()
        return None if name is None else self._engine.provider(self._engine.account(name).provider)

    def _on_account_changed(self, _index: int = 0) -> None:
        provider = self.provider()
        if provider is None:
            return
        default = provider.default_request()
        form = self.forms.get(provider.id)
        self.stack.setCurrentWidget(form or self.no_form)
        self.tabs.setTabEnabled(0, form is not None)
        self.tabs.setCurrentIndex(0 if form is not None else 1)
        if isinstance(form, MethodPathBodyForm):
            form.load(default)
        self.raw.load(default)
        self.raw.content_type.setPlaceholderText(
            provider.body_content_type or "inferred (JSON or XML) when empty"
        )

    def request(self) -> SubmitRequest:
        """The request the user described (raises UsageError when it is malformed)."""
        provider = self.provider()
        default = provider.default_request()
        if self.tabs.currentIndex() == 1:  # an empty content type: the provider's, else inferred
            return self.raw.build(default, provider.body_content_type)
        form = self.stack.currentWidget()
        assert isinstance(form, RequestForm)  # the Form tab is enabled only with a form shown
        return form.build(default)

    def accept(self) -> None:
        name = self.account.currentData()
        if name is None:
            self.show_error("Add an account first (Accounts…).")
            return
        try:
            request = self.request()
        except UsageError as exc:
            self.show_error(exc.user_message)
            return
        label = self.label.text().strip()
        self.run(lambda: self._engine.submit(name, request, label=label))
