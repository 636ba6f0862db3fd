"""Keeping secrets out of everything Jobdock stores or shows: one `Redactor` per engine knows every
credential of the accounts it talks to — keyring secrets, what the providers make of them (a
bearer token, the base64 `user:pass` of Basic auth, a query parameter), secrets obtained at run
time (short-lived access tokens, webhook signature keys) — and every text that enters a job goes
through it in `JobTable.commit` (`redact_job`, `redact_event`), every log record through
`logs.RedactingFilter`, every error message a provider raises through `guard`, every CLI error
line through the CLI. URLs lose the query parameters that carry a credential (the session adds
them again on the account's origin), the rest of a pre-signed link is kept as the server gave it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

from jobdock.core.model.job import Job, JobEvent, Result

MIN_LENGTH = 4  # shorter values would mask ordinary text; no real credential is this short
CUT = "…"  # how excerpts of answers end when they were cut short
PARTIAL_MIN = 6  # a secret's first characters before a cut are masked from this many on
# Headers every client sends that are not credentials.
_PLAIN_HEADERS = frozenset(
    {"user-agent", "accept", "accept-encoding", "connection", "content-type"}
)
_JOB_TEXT = ("error", "log", "last_response", "remote_state", "label")
_JOB_URLS = ("status_url", "result_url")


class Redactor:
    """Replaces known secrets (and their obvious encodings) in text bound for the store, logs or
    the screen. Thread-safe: log records are filtered in worker threads too."""

    MASK = "[REDACTED]"

    def __init__(self) -> None:
        self._secrets: frozenset[str] = frozenset()  # as sent
        self._variants: frozenset[str] = frozenset()  # every form that is masked
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def add(self, secret: str | None) -> None:
        """Know `secret` from now on (and its URL-quoted and base64 forms)."""
        if not secret or len(secret) < MIN_LENGTH or secret in self._secrets:
            return
        raw = secret.encode()
        variants = {
            secret,
            quote(secret, safe=""),
            quote_plus(secret, safe=""),
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode(),
            base64.b64encode(raw).decode().rstrip("="),
            secret.replace("/", "\\/"),  # JSON may escape a slash
        }
        with self._lock:
            self._secrets |= {secret}
            self._variants |= {v for v in variants if len(v) >= MIN_LENGTH}
            alternatives = sorted(self._variants, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in alternatives))

    def add_headers(self, headers: Mapping[str, str]) -> None:
        """Know the credentials in request headers: any value but the plain ones, an
        `Authorization` scheme's token, and the password inside a Basic token."""
        for name, value in headers.items():
            if name.lower() in _PLAIN_HEADERS:
                continue
            self.add(value)
            scheme, _, token = value.partition(" ")
            if name.lower() == "authorization" and token:
                self.add(token)
                if scheme.lower() == "basic":
                    self.add(_basic_password(token))

    def add_all(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            self.add(secret)

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        text = pattern.sub(self.MASK, text)
        return self._cut_tails(text) if CUT in text else text

    def _cut_tails(self, text: str) -> str:
        """A text cut short (`…`, as error excerpts are) may end in the first part of a secret:
        that part is masked too."""
        pieces = text.split(CUT)
        for i, piece in enumerate(pieces[:-1]):
            body = piece.rstrip()  # `raw_text` cuts with "\n… (truncated)"
            for variant in self._variants:
                tail = next(
                    (n for n in range(len(variant) - 1, PARTIAL_MIN - 1, -1)
                     if body.endswith(variant[:n])),
                    0,
                )  # fmt: skip
                if tail:
                    body = body[:-tail] + self.MASK
            pieces[i] = body + piece[len(piece.rstrip()) :]
        return CUT.join(pieces)

    def url(self, url: str) -> str:
        """`url` without the query parameters or user info that carry a known secret, and with
        any other occurrence masked; the rest kept byte for byte."""
        return self(self.strip(url))

    def strip(self, url: str) -> str:
        """`url` without the query parameters or user info that carry a known secret, the rest
        kept byte for byte and nothing masked: a URL still to be requested (a `paging.next`
        that echoes the access token it was asked with loses it; the session's own auth, a
        header or its query credentials on the account's origin, still authenticates it)."""
        if self._pattern is None or not url:
            return url
        parts = urlsplit(url)
        changed = parts
        if parts.query:
            kept = [p for p in parts.query.split("&") if not self._carries(p)]
            changed = changed._replace(query="&".join(kept))
        if "@" in parts.netloc:
            userinfo, _, host = parts.netloc.rpartition("@")
            if self._carries(userinfo):
                changed = changed._replace(netloc=host)
        return url if changed == parts else urlunsplit(changed)

    def _carries(self, value: str) -> bool:
        decoded = unquote_plus(value)
        return self(decoded) != decoded or self(value) != value


def _basic_password(token: str) -> str:
    try:
        return base64.b64decode(token).decode("utf-8").partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        return ""


def redact_job(job: Job, redact: Redactor, *, previous: Job | None = None) -> Job:
    """`job` with every text and URL it carries redacted. A field equal to the one of
    `previous` (the version already redacted) is left as it is: cheap for repeated commits."""
    if not redact.active:
        return job
    changes: dict[str, object] = {}
    for name in _JOB_TEXT:
        _redact_field(job, previous, name, redact, changes)
    for name in _JOB_URLS:
        _redact_field(job, previous, name, redact.url, changes)
    old = previous.results if previous is not None else ()
    results = tuple(
        _redact_result(r, redact, old[i] if i < len(old) else None)
        for i, r in enumerate(job.results)
    )
    if any(a is not b for a, b in zip(results, job.results, strict=True)):
        changes["results"] = results
    return job.replace(**changes) if changes else job


def _redact_field(
    item: object,
    previous: object | None,
    name: str,
    clean: Callable[[str], str],
    changes: dict[str, object],
) -> None:
    value = getattr(item, name)
    if not isinstance(value, str) or not value:
        return
    if previous is not None and getattr(previous, name) == value:
        return
    cleaned = clean(value)
    if cleaned != value:
        changes[name] = cleaned


def _redact_result(result: Result, redact: Redactor, previous: Result | None) -> Result:
    changes: dict[str, object] = {}
    _redact_field(result, previous, "url", redact.url, changes)
    _redact_field(result, previous, "key", redact.url, changes)  # an identity made of a URL
    _redact_field(result, previous, "error", redact, changes)
    # Ignored: mypy checks replace()'s keywords field by field, which a dict of changes
    # (typed object) cannot be; replace() itself still refuses an unknown field (TypeError).
    return dataclasses.replace(result, **changes) if changes else result  # type: ignore[arg-type]


def redact_event(event: JobEvent, redact: Redactor) -> JobEvent:
    message = redact(event.message)
    return event if message == event.message else dataclasses.replace(event, message=message)
