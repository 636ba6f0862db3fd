"""Where Jobdock keeps its files: one `AppPaths` value, built once and passed in (no global)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "jobdock"


@dataclass(frozen=True, kw_only=True)
class AppPaths:
    data_dir: Path
    default_download_dir: Path

    @property
    def store_file(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "jobdock.log"

    def ensure(self) -> AppPaths:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self

    @classmethod
    def resolve(cls, data_dir: str | os.PathLike[str] | None = None) -> AppPaths:
        """`--data-dir`, else `JOBDOCK_DATA_DIR`, else the platform's user data dir."""
        chosen = data_dir or os.environ.get("JOBDOCK_DATA_DIR")
        base = Path(chosen).expanduser() if chosen else Path(platformdirs.user_data_dir(APP_NAME))
        downloads = Path(platformdirs.user_downloads_dir()) / "Jobdock"
        if chosen:
            # An explicit data dir is self-contained (tests, portable use): results go beside it.
            downloads = base / "downloads"
        return cls(data_dir=base.resolve(), default_download_dir=downloads.resolve())
