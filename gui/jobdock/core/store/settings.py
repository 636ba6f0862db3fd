"""User settings the engine obeys, kept in the store's settings table (never secrets)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobdock.core.store.jobs import JobStore


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    download_dir: Path
    auto_download: bool = True
    expiry_margin: float = 15 * 60.0  # start downloads at least this long before links expire
    poll_min: float | None = None  # override the providers' interval bounds when set
    poll_max: float | None = None
    max_per_origin: int = 4  # concurrent polls, and concurrent downloads, per origin
    # Downloads at once in all (the files of one job too), each origin still within its own
    # `max_per_origin`.
    max_downloads: int = 4
    download_retries: int = 5
    # A download slower than `min_speed` bytes/s averaged over `min_speed_window` seconds (or
    # silent that long) is dropped and resumed with Range on a new connection: a peer that
    # trickles must not hold a download, or its origin's slot, forever.
    min_speed: float = 1024.0
    min_speed_window: float = 60.0
    # Every API request (submit, poll, link refresh) has this long for its whole answer, body
    # included: a status answer that stalls after its headers frees its per-origin slot.
    request_deadline: float = 120.0
    # A result whose download failed for a passing reason (network, 5xx, disk full) is tried
    # again `retry_min` seconds later, doubling up to `retry_max`, for `retry_rounds` rounds.
    retry_min: float = 30.0
    retry_max: float = 15 * 60.0
    retry_rounds: int = 8
    # When a result's link expired and the API cannot issue a new one (Shoptet after
    # validUntil), submit the same request again instead of only offering it.
    auto_resubmit: bool = False
    # The local receiver of Shoptet's job:finished webhooks (providers/shoptet/webhooks.py),
    # off by default.
    # The path token only keeps scanners off the receiver (every event is HMAC-verified);
    # `webhook_public_url` is where Shoptet reaches it (a tunnel or reverse proxy).
    webhook_enabled: bool = False
    webhook_bind: str = "127.0.0.1"
    webhook_port: int = 8787
    webhook_token: str = ""
    webhook_public_url: str = ""

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["download_dir"] = str(self.download_dir)
        return data


def load_settings(store: JobStore, *, default_download_dir: Path) -> EngineSettings:
    stored = store.get_setting("engine", {}) or {}
    fields = {f.name for f in dataclasses.fields(EngineSettings)}
    values = {k: v for k, v in stored.items() if k in fields}
    values["download_dir"] = Path(values.get("download_dir") or default_download_dir)
    return EngineSettings(**values)


def save_settings(store: JobStore, settings: EngineSettings) -> None:
    store.set_setting("engine", settings.to_json())
