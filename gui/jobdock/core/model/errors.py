"""The exception tree of Jobdock. Every error carries a `user_message` fit for a person.

    JobdockError
     ├── UsageError                 bad input from the user (CLI exit 2)
     │    └── OptionError           an account option that cannot be used
     ├── ConfigError                an account, profile or setting that cannot work
     ├── KeyringUnavailableError    no usable keyring backend (CLI exit 4)
     ├── StoreError                 the SQLite job store failed
     ├── NetworkError               connect/read failures, timeouts (transient)
     ├── DownloadError              a result could not be saved
     │    ├── LinkExpiredError      the result link answered 403/404/410 or is past its expiry
     │    ├── DiskFullError         no room for the bytes (transient: the .part waits for space)
     │    └── ChecksumError         the bytes differ from a digest the server stated
     │         └── HintMismatchError  ... from S3's plain ETag: download once more and compare
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


class OptionError(UsageError):
    """An account option that cannot be used. `user_message` names it as the command line
    takes it (`--option token_url=...`); `option` (its key) and `problem` (what is wrong, in
    words that fit any front end) let a form say it by the field's own label."""

    def __init__(self, user_message: str, *, option: str, problem: str) -> None:
        super().__init__(user_message)
        self.option = option
        self.problem = problem


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


class DiskFullError(DownloadError):
    """The download folder's disk (or quota) is full: retried later, resuming the .part."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message, transient=True)


class ChecksumError(DownloadError):
    """The bytes differ from a digest the server states for the whole file (`integrity`):
    downloaded once more from zero, then the result fails."""


class HintMismatchError(ChecksumError):
    """A trusted ETag differs from the bytes' MD5: download once more from zero and compare
    (`sha256`: of the bytes that differed; `first`: no earlier download differed yet)."""

    def __init__(self, user_message: str, *, sha256: str, first: bool) -> None:
        super().__init__(user_message)
        self.sha256 = sha256
        self.first = first


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
