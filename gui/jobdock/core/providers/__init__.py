"""Provider registry: the built-in API adapters by id, and profiles added to them.

Built in are the providers written as code (`cisco-cce`, `generic-202`, `shoptet`: behaviour no
profile can declare) and the profiles bundled with the package (`vainu`, `testo`). User profiles
(docs/profiles.md) join them through `with_profiles`; none may take a built-in id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from jobdock.core.model.errors import ConfigError, UsageError
from jobdock.core.net.inputs import quoted
from jobdock.core.providers.base import Provider

if TYPE_CHECKING:
    from jobdock.core.providers.profiles.schema import Profile

_ORDER = ("vainu", "testo", "cisco-cce", "generic-202", "shoptet")


def builtin_providers() -> dict[str, Provider]:
    from jobdock.core.providers.cisco import CiscoCceProvider
    from jobdock.core.providers.generic202 import Generic202Provider
    from jobdock.core.providers.profiles.load import bundled_profiles
    from jobdock.core.providers.profiles.provider import ProfileProvider
    from jobdock.core.providers.shoptet.provider import ShoptetProvider

    providers: list[Provider] = [ProfileProvider(p) for p in bundled_profiles()]
    providers += [CiscoCceProvider(), Generic202Provider(), ShoptetProvider()]
    by_id = {p.id: p for p in providers}
    ordered = [i for i in _ORDER if i in by_id] + sorted(set(by_id) - set(_ORDER))
    return {i: by_id[i] for i in ordered}


def builtin_ids() -> frozenset[str]:
    """The ids no profile may take: the built-in providers' (`profiles.load`'s `reserved`)."""
    return frozenset(builtin_providers())


def with_profiles(profiles: Iterable[Profile]) -> dict[str, Provider]:
    """The built-in providers plus one `ProfileProvider` for each profile (a `Profile`);
    `ConfigError` when a profile takes a built-in provider's id."""
    from jobdock.core.providers.profiles.provider import ProfileProvider

    registry = builtin_providers()
    for profile in profiles:
        if profile.id in registry:
            raise ConfigError(
                f"{profile.source}: profile id {profile.id!r} is a built-in provider's; "
                "give the profile another id"
            )
        registry[profile.id] = ProfileProvider(profile)
    return registry


def get_provider(provider_id: str, registry: dict[str, Provider] | None = None) -> Provider:
    registry = builtin_providers() if registry is None else registry
    try:
        return registry[provider_id]
    except KeyError:
        known = ", ".join(sorted(registry))
        raise UsageError(f"unknown provider {quoted(provider_id)} (known: {known})") from None
