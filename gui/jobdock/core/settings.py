"""User settings the engine obeys, kept in the store's settings table (never secrets)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobdock.core.store import JobStore


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    download_dir: Path
    auto_download: bool = True
    expiry_margin: float = 15 * 60.0  # start downloads at least this long before links expire
    poll_min: float | None = None  # override the providers' interval bounds when set
    poll_max: float | None = None
    max_per_origin: int = 4  # concurrent polls, and concurrent downloads, per origin
    download_retries: int = 5
    # When a result's link expired and the API cannot issue a new one (Shoptet after
    # validUntil), submit the same request again instead of only offering it.
    auto_resubmit: bool = False

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
