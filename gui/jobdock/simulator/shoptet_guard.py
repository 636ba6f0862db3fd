"""What stands in front of the fake Shoptet API: tokens, the per-token connection limit, the
leaky-bucket rate limit and the counters tests read through `Simulator.shoptet_stats`.

Private API tokens (`Shoptet-Private-API-Token`) never expire. Add-on accounts exchange their
OAuth access token at `GET /token` for short-lived `Shoptet-Access-Token`s that answer
`expired-token` after `SimConfig.shoptet_access_token_ttl`. Limits are kept per identity
("private" or "addon") so renewing a short-lived token does not reset them.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections import Counter
from dataclasses import dataclass

from jobdock.simulator.config import SimConfig
from jobdock.simulator.wire import Request, same_secret


@dataclass
class _Bucket:
    level: float = 0.0
    at: float = 0.0


class ShoptetGuard:
    """Authentication, limits and counters; every method is thread-safe."""

    def __init__(self, config: SimConfig, *, private_token: str, oauth_token: str) -> None:
        self.config = config
        self.private_token = private_token
        self.oauth_token = oauth_token
        self._lock = threading.Lock()
        self._access: dict[str, float] = {}
        self._in_flight: Counter[str] = Counter()
        self._buckets: dict[str, _Bucket] = {}
        self.stats: Counter[str] = Counter()

    # Tokens
    def issue_access_token(self) -> tuple[str, int]:
        ttl = self.config.shoptet_access_token_ttl
        token = "sat-" + secrets.token_urlsafe(24)
        with self._lock:
            self._access[token] = self.config.clock() + ttl
        return token, int(ttl)

    def identify(self, req: Request) -> tuple[str | None, str]:
        """(identity, "") for a valid token, else (None, errorCode)."""
        private = req.header("Shoptet-Private-API-Token")
        if private is not None:
            ok = same_secret(private, self.private_token)
            return ("private", "") if ok else (None, "invalid-token")
        access = req.header("Shoptet-Access-Token")
        if access is None:
            return None, "invalid-token"
        with self._lock:
            expires = self._access.get(access)
        if expires is None:
            return None, "invalid-token"
        if self.config.clock() >= expires:
            return None, "expired-token"
        return "addon", ""

    # Connections
    def enter(self, identity: str) -> bool:
        """Count a request in flight; False when it exceeds the limit (still call `leave`)."""
        with self._lock:
            self._in_flight[identity] += 1
            current = self._in_flight[identity]
            self.stats["max_concurrent"] = max(self.stats["max_concurrent"], current)
            if current > self.config.shoptet_max_connections:
                self.stats["too_many_connections"] += 1
                return False
            return True

    def leave(self, identity: str) -> None:
        with self._lock:
            self._in_flight[identity] -= 1

    # Leaky bucket
    def take(self, identity: str) -> float | None:
        """Add one request to the bucket; None when it fits, else seconds until it would."""
        cfg = self.config
        now = cfg.clock()
        with self._lock:
            bucket = self._buckets.setdefault(identity, _Bucket(at=now))
            bucket.level = max(0.0, bucket.level - (now - bucket.at) * cfg.shoptet_leak_per_second)
            bucket.at = now
            if bucket.level + 1 > cfg.shoptet_bucket_size:
                self.stats["rate_limited"] += 1
                excess = bucket.level + 1 - cfg.shoptet_bucket_size
                return max(1.0, math.ceil(excess / max(cfg.shoptet_leak_per_second, 1e-6)))
            bucket.level += 1
            return None

    def filling(self, identity: str | None) -> str:
        """The `X-RateLimit-Bucket-Filling` value, `n/size`."""
        cfg = self.config
        with self._lock:
            bucket = self._buckets.get(identity or "")
            level = 0.0
            if bucket is not None:
                elapsed = cfg.clock() - bucket.at
                level = max(0.0, bucket.level - elapsed * cfg.shoptet_leak_per_second)
        return f"{math.ceil(level - 1e-9)}/{cfg.shoptet_bucket_size}"

    def count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def snapshot(self) -> dict[str, int]:
        names = (
            "requests",
            "detail_calls",
            "detail_403",
            "max_concurrent",
            "list_calls",
            "rate_limited",
            "too_many_connections",
        )
        with self._lock:
            return {name: int(self.stats[name]) for name in names}
