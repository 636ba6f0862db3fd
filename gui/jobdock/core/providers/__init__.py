"""Provider registry: the built-in API adapters by id."""

from __future__ import annotations

from jobdock.core.errors import UsageError
from jobdock.core.providers.base import Provider


def builtin_providers() -> dict[str, Provider]:
    from jobdock.core.providers.cisco import CiscoCceProvider
    from jobdock.core.providers.generic202 import Generic202Provider
    from jobdock.core.providers.shoptet import ShoptetProvider
    from jobdock.core.providers.testo import TestoProvider
    from jobdock.core.providers.vainu import VainuProvider

    providers: list[Provider] = [
        VainuProvider(),
        TestoProvider(),
        CiscoCceProvider(),
        Generic202Provider(),
        ShoptetProvider(),
    ]
    return {p.id: p for p in providers}


def get_provider(provider_id: str, registry: dict[str, Provider] | None = None) -> Provider:
    registry = builtin_providers() if registry is None else registry
    try:
        return registry[provider_id]
    except KeyError:
        known = ", ".join(sorted(registry))
        raise UsageError(f"unknown provider {provider_id!r} (known: {known})") from None
