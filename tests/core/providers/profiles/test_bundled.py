"""Every bundled profile passes the checks of `jobdock profiles check` (whose reserved ids include
its own: the bundled file, or a copy of it, is that profile and does not clash with itself, while
a changed copy does), is documented on its own page, and is listed in docs/profiles.md."""

from __future__ import annotations

import io
import re
from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path

import pytest

from jobdock.cli.main import main
from jobdock.cli.profiles import check
from jobdock.core.providers import builtin_ids
from jobdock.core.providers.profiles.load import BUNDLED_PACKAGE, load_profiles, scan_profiles

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


@pytest.mark.parametrize("name", BUNDLED)
def test_profiles_check_of_a_bundled_file_or_a_copy_does_not_clash_with_itself(
    name: str, tmp_path: Path
) -> None:
    profile_id = name.removesuffix(".toml")
    copy = tmp_path / name
    with as_file(files(BUNDLED_PACKAGE) / name) as path:
        copy.write_text(path.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        assert check([str(path), str(copy)], out=out, err=err) == 0, err.getvalue()
    assert out.getvalue().count(f"(profile {profile_id}: ") == 2
    assert "the bundled one" in out.getvalue()
    # A bundled file given as a profile adds nothing: the registry takes it without a clash
    assert load_profiles([copy], reserved=builtin_ids(), include_user=False) == []


def test_profiles_check_of_every_bundled_file_at_once_exits_0() -> None:
    """`jobdock profiles check` given every bundled file (as the package installs them)."""
    with ExitStack() as stack:
        paths = [str(stack.enter_context(as_file(files(BUNDLED_PACKAGE) / n))) for n in BUNDLED]
        out = io.StringIO()
        assert main(["profiles", "check", *paths], stdout=out) == 0
    missing = [n for n in BUNDLED if f"(profile {n.removesuffix('.toml')}: " not in out.getvalue()]
    assert missing == [], out.getvalue()


def test_a_changed_copy_of_a_bundled_profile_still_clashes(tmp_path: Path) -> None:
    with as_file(files(BUNDLED_PACKAGE) / "vainu.toml") as path:
        text = path.read_text(encoding="utf-8").replace("first_delay = 3", "first_delay = 4")
    changed = tmp_path / "vainu.toml"
    changed.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert check([str(changed)], out=out, err=err) == 2
    assert "'vainu' is a built-in provider's id; choose another" in err.getvalue()


@pytest.mark.parametrize("name", [n for n in BUNDLED if n not in ("vainu.toml", "testo.toml")])
def test_a_vendor_profile_has_its_page_and_a_line_in_the_list(name: str) -> None:
    profile_id = name.removesuffix(".toml")
    page = DOCS / "profiles" / f"{profile_id}.md"
    assert page.is_file()
    text = page.read_text()
    # what to put in the account, a copy-paste submit, the result files to expect (that these
    # run as written: tests/e2e/test_profile_docs.py)
    assert re.search(r"^## (The )?[Aa]ccount$", text, re.MULTILINE), "no account section"
    assert "jobdock accounts add " in text and f"--provider {profile_id}" in text
    assert "jobdock submit" in text
    assert re.search(r"^## Result", text, re.MULTILINE), "no Result section"
    assert f"(profiles/{profile_id}.md)" in (DOCS / "profiles.md").read_text()
