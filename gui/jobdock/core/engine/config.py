"""The engine's settings as they are at this moment, shared by everything that reads them.

`LiveSettings.current` is read each time it is needed (the user may change a limit while
downloads run); `configure` replaces it, in memory or also in the store, and tells the engine
(`on_change`: the scheduler looks again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from jobdock.core.store.jobs import JobStore
from jobdock.core.store.settings import EngineSettings, save_settings


class LiveSettings:
    def __init__(
        self,
        store: JobStore,
        current: EngineSettings,
        *,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self.current = current
        self.on_change = on_change

    def configure(self, *, persist: bool = False, **changes: object) -> EngineSettings:
        """Change settings (in memory; also in the store with `persist=True`)."""
        # Ignored: mypy checks replace()'s keywords field by field, which a dict of changes
        # (typed object) cannot be; replace() itself still refuses an unknown field (TypeError).
        self.current = replace(self.current, **changes)  # type: ignore[arg-type]
        if persist:
            save_settings(self._store, self.current)
        self.on_change()
        return self.current
