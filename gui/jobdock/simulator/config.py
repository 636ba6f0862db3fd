"""The simulator's settings and the demo accounts it hands out.

`SimConfig` is deliberately mutable: tests tune it while a simulator runs (shorter link lifetimes,
a smaller Shoptet bucket, a different Retry-After), and every fake reads it on each request. All
times come from `SimConfig.clock`, so a test can pass a fake clock and jump hours ahead without
sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from jobdock.core.model.job import Account, SubmitRequest
from jobdock.simulator.integrity import StoredDigests


@dataclass(kw_only=True)
class SimConfig:
    """How the fake APIs behave; read live on every request."""

    queue_time: float = 1.0
    run_time: float = 3.0
    result_size: int = 64 * 1024
    link_ttl: float = 3600.0
    vainu_link_ttl: float = 600.0
    retry_after: float | None = None
    retry_after_ms: int | None = None
    cisco_queue_timeout: float = 30.0
    # Demo mode: a job submitted without any sim_* parameter takes a random time in this range
    # and fails with this probability (any sim_* parameter makes the job deterministic).
    duration_range: tuple[float, float] | None = None
    failure_rate: float = 0.0
    seed: int | None = None
    shoptet_require_webhook: bool = False
    shoptet_detail_limit: int = 10
    shoptet_max_connections: int = 3
    shoptet_result_ttl: float = 86400.0
    shoptet_bucket_size: int = 200
    shoptet_leak_per_second: float = 3.0
    shoptet_access_token_ttl: float = 1800.0
    webhook_timeout: float = 2.0
    # Every answer that lists result links lists them in another order (rotated by one each
    # time), as an API may: links are to be matched by what they point at, not by position.
    reorder_links: bool = False
    # How the storage describes the result files the fake APIs store (ETag kind, stated digests).
    storage_digests: StoredDigests = field(default_factory=StoredDigests)
    # A hostile server: vainu and testo echo the credential a request presented in every error
    # body and in a `message` of their job answers (tests prove it never reaches any output).
    echo_secrets: bool = False
    # vainu also accepts its key as this query parameter (a query-auth API for profile tests).
    vainu_key_param: str | None = None
    # The lifetime (`expires_in`) of the access tokens the fake Google token endpoint issues.
    google_token_ttl: float = 3599.0
    # Salesforce's "Enable Refresh Token Rotation": each refresh token grant answers a new
    # `refresh_token` and the one sent stops working (400 invalid_grant); using one of those
    # again revokes the current one and its sessions too, as Salesforce does.
    salesforce_rotate_refresh_tokens: bool = False
    clock: Callable[[], float] = time.time


def demo_config() -> SimConfig:
    """Settings for `jobdock --demo`: jobs take 5 to 40 seconds and about one in five fails."""
    return SimConfig(
        queue_time=4.0,
        run_time=12.0,
        result_size=256 * 1024,
        duration_range=(5.0, 40.0),
        failure_rate=0.2,
        retry_after=3.0,
    )


@dataclass(frozen=True, kw_only=True)
class DemoAccount:
    """An account that works against a running simulator, with a request worth submitting."""

    name: str
    provider: str
    base_url: str
    user: str | None
    secret: str
    request: SubmitRequest | None = None  # None: the provider's default request
    path: str | None = None  # in place of the default request's path (its query kept)
    options: Mapping[str, str] = field(default_factory=dict)

    def account(self) -> Account:
        """The `Account` value (without its secret, which belongs in the keyring)."""
        return Account(
            name=self.name,
            provider=self.provider,
            base_url=self.base_url,
            user=self.user,
            options=dict(self.options),
        )


@dataclass(frozen=True, kw_only=True)
class DemoProfile:
    """What the fake of a bundled profile's API declares (its `demo_profile(origin)` method) so
    that `jobdock --demo` gets an account on it and a job: every field left out takes the
    default, which suits a fake with one secret in a header. A fake without the method joins
    the demo with all the defaults."""

    account: str | None = None  # default: demo-<the profile id's first word>
    base_url: str | None = None  # default: `Simulator.base_url(profile id)`
    # The account's named secrets (OAuth clients: client_id, client_secret, ...); default: the
    # fake's one secret, `Simulator.secret(profile id)`.
    secrets: Mapping[str, str] | None = None
    options: Mapping[str, str] = field(default_factory=dict)  # e.g. a token_url
    request: SubmitRequest | None = None  # default: the profile's own default request
    path: str | None = None  # the default request's path when it is a placeholder


class FakeClock:
    """A clock tests can move: `clock()` answers the current time, `advance(s)` jumps ahead."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self._now = start

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
