"""The `generic-202` provider: any RFC 9110 API that answers `202 Accepted` with a monitor
(docs/providers.md). It runs the shared `lro` engine with Azure's status monitors honoured
(`Azure-AsyncOperation`, `Operation-Location`, then `Location`) and authenticates as the account's
options say: `auth=bearer` (default), `auth=header` with `auth_header=<Name>`, or `auth=basic`.
The option `final_state_via` (location, original-uri, azure-async-operation, operation-location)
says where a finished operation's result is read when the API does not follow Azure's defaults.
"""

from __future__ import annotations

import json

from jobdock.core.model.errors import ConfigError
from jobdock.core.model.job import Account, SubmitRequest
from jobdock.core.providers.base import AccountForm, AccountOption, PollPolicy
from jobdock.core.providers.common import basic_auth
from jobdock.core.providers.lro import (
    FINAL_STATE_VIA,
    LroStyle,
    StatusMonitorProvider,
    final_state_via,
)

_AUTH_KINDS = ("bearer", "header", "basic")
_AUTH_LABELS = (
    ("bearer", "Bearer token (Authorization: Bearer …)"),
    ("header", "Key in a header of its own"),
    ("basic", "HTTP Basic (user and password)"),
)
_FINAL_LABELS = (
    ("", "As the method implies (default)"),
    ("location", "The Location header"),
    ("original-uri", "The URL first requested"),
    ("azure-async-operation", "The Azure-AsyncOperation monitor"),
    ("operation-location", "The Operation-Location monitor"),
)


class Generic202Provider(StatusMonitorProvider):
    """Any API with `202 Accepted` + Location / Operation-Location / Azure-AsyncOperation."""

    id = "generic-202"
    display_name = "Generic 202 Accepted API"
    default_base_url = "https://api.example.com"
    secret_label = "Token or password"
    account_form = AccountForm(
        user_when=("auth", "basic"),
        options=(
            AccountOption(key="auth", label="Authentication", choices=_AUTH_KINDS,
                          choice_labels=_AUTH_LABELS, near_credentials=True),
            AccountOption(key="auth_header", label="Header name",
                          hint="e.g. Ocp-Apim-Subscription-Key", when=("auth", "header"),
                          near_credentials=True),
            AccountOption(key="final_state_via", label="Final result from",
                          choices=("", *FINAL_STATE_VIA), choice_labels=_FINAL_LABELS),
        ),
    )  # fmt: skip
    poll_policy = PollPolicy(first_delay=1.0, min_interval=1.0, max_interval=30.0)
    style = LroStyle(
        provider="generic-202", status_monitors=True, final_body_is_result=True, body_polling=True
    )
    monitor_url = "monitor URL (the Azure-AsyncOperation, Operation-Location or Location header)"

    def auth_headers(self, account: Account, secret: str) -> dict[str, str]:
        final_state_via(account, style=self.style)  # a bad option fails here, not at the end
        kind = (account.options.get("auth") or "bearer").strip().lower()
        if kind == "bearer":
            return {"Authorization": f"Bearer {secret}"}
        if kind == "basic":
            return basic_auth(account, secret, provider=self.id)
        if kind == "header":
            return {_header_name(account): secret}
        raise ConfigError(
            f"generic-202: account {account.name!r} has auth={kind!r}; "
            f"use one of {', '.join(_AUTH_KINDS)}"
        )

    def default_request(self) -> SubmitRequest:
        return SubmitRequest(
            method="PUT",
            path="items/jobdock-example",
            body=json.dumps({"name": "jobdock-example"}).encode(),
            content_type="application/json",
        )


def _header_name(account: Account) -> str:
    name = (account.options.get("auth_header") or "").strip()
    if not name or any(ch in name for ch in " :\r\n\t"):
        raise ConfigError(
            f"generic-202: account {account.name!r} has auth=header but no valid auth_header "
            "option (e.g. --option auth_header=X-Api-Key)"
        )
    return name
