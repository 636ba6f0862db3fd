"""Every bundled profile passes the checks of `jobdock profiles check` (its own id aside: that
one is taken by the profile itself), is documented on its own page, and is listed in
docs/profiles.md."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

import pytest

from jobdock.core.providers import builtin_ids
from jobdock.core.providers.profiles.load import BUNDLED_PACKAGE, scan_profiles

DOCS = Path(__file__).parents[4] / "docs"
BUNDLED = sorted(e.name for e in files(BUNDLED_PACKAGE).iterdir() if e.name.endswith(".toml"))


@pytest.mark.parametrize("name", BUNDLED)
def test_a_bundled_profile_passes_every_check(name: str) -> None:
    profile_id = name.removesuffix(".toml")
    with as_file(files(BUNDLED_PACKAGE) / name) as path:
        reserved = set(builtin_ids()) - {profile_id}
        (entry,) = scan_profiles([path], reserved=reserved, include_user=False)
    assert entry.error is None, entry.error
    assert entry.profile is not None and entry.profile.id == profile_id


@pytest.mark.parametrize("name", [n for n in BUNDLED if n not in ("vainu.toml", "testo.toml")])
def test_a_vendor_profile_has_its_page_and_a_line_in_the_list(name: str) -> None:
    profile_id = name.removesuffix(".toml")
    page = DOCS / "profiles" / f"{profile_id}.md"
    assert page.is_file()
    assert "jobdock submit" in page.read_text()
    assert f"(profiles/{profile_id}.md)" in (DOCS / "profiles.md").read_text()
