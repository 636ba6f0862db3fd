"""The exception tree of Jobdock. Every error carries a `user_message` fit for a person.

    JobdockError
     ├── UsageError                 bad input from the user (CLI exit 2)
     ├── ConfigError                an account, profile or setting that cannot work
     ├── KeyringUnavailableError    no usable keyring backend (CLI exit 4)
     ├── StoreError                 the SQLite job store failed
     ├── NetworkError               connect/read failures, timeouts (transient)
     ├── DownloadError              a result could not be saved
     │    ├── LinkExpiredError      the result link answered 403/404/410 or is past its expiry
     │    └── ChecksumError         the saved bytes differ from the server's MD5
     └── ProviderError              an API answered something we cannot use
          ├── AuthError             401/403: wrong or missing credentials
          ├── NotFoundError         404: the job or endpoint does not exist
          ├── RateLimitedError      429 (transient; carries retry_after seconds)
          ├── ServerError           5xx (transient)
          └── ProtocolError         malformed JSON/XML, HTML error pages, missing fields

Providers turn httpx exceptions and bad answers into these at their border; nothing above the
providers sees an httpx exception. Messages never contain secrets (see `redact`).
"""

from __future__ import annotations


class JobdockError(Exception):
    """Base of every error Jobdock raises on purpose."""

    transient = False

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class UsageError(JobdockError):
    pass


class ConfigError(JobdockError):
    pass


class KeyringUnavailableError(JobdockError):
    pass


class StoreError(JobdockError):
    pass


class NetworkError(JobdockError):
    transient = True


class DownloadError(JobdockError):
    def __init__(self, user_message: str, *, transient: bool = False) -> None:
        super().__init__(user_message)
        self.transient = transient


class LinkExpiredError(DownloadError):
    """The link no longer works; a fresh one may be had by polling the job again."""


class ChecksumError(DownloadError):
    """The bytes differ from the server's MD5 (ETag or Content-MD5): re-downloaded once."""


class ProviderError(JobdockError):
    def __init__(
        self, user_message: str, *, status_code: int | None = None, body: str | None = None
    ) -> None:
        super().__init__(user_message)
        self.status_code = status_code
        self.body = body


class AuthError(ProviderError):
    pass


class NotFoundError(ProviderError):
    pass


class RateLimitedError(ProviderError):
    transient = True

    def __init__(
        self,
        user_message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = 429,
        body: str | None = None,
    ) -> None:
        super().__init__(user_message, status_code=status_code, body=body)
        self.retry_after = retry_after


class ServerError(ProviderError):
    transient = True

    def __init__(
        self,
        user_message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(user_message, status_code=status_code, body=body)
        self.retry_after = retry_after


class ProtocolError(ProviderError):
    """An answer we cannot read. Retried while polling (proxies and overloaded servers send
    HTML pages with 200 now and then); the message stays on the job until a good answer comes."""

    transient = True
