"""An account's choice of the OAuth2 grant (docs/profiles.md, `[auth] grants`; docs/cli.md,
`--option grant=`): the profile's `grant` is the default, `grants` the ones an account may choose
(both when not given). The grant says the account's named secrets (`refresh_token` needs a
refresh token too): what `accounts add --secret-stdin` reads, what the form asks for, what the
token request sends. A grant the profile does not allow is refused when the account is added,
and nothing is stored."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import keyring.core
import pytest

from jobdock.cli.main import main
from jobdock.core.model.errors import OptionError
from jobdock.core.model.job import Account
from jobdock.core.net.redaction import Redactor
from jobdock.core.providers.profiles.load import parse_profile
from jobdock.core.providers.profiles.oauth import encode_secrets
from jobdock.core.providers.profiles.provider import ProfileProvider
from jobdock.core.providers.profiles.schema import ProfileError
from tests.support import file_keyring

PROFILE = """
id = "org-like"
name = "Org-like"
base_url = "https://org.test"
[auth]
kind = "oauth2"
grant = "client_credentials"
token_url = "https://login.test/services/oauth2/token"
{extra}
[fields]
id = "id"
status_url_template = "jobs/{{id}}"
state = "state"
[states]
JobComplete = "succeeded"
"""
TWO = ("client_id", "client_secret")
THREE = ("client_id", "client_secret", "refresh_token")
SECRETS = {"client_id": "cid-1", "client_secret": "csecret-1", "refresh_token": "5Aep-refresh-1"}


def provider(extra: str = "", text: str = PROFILE) -> ProfileProvider:
    return ProfileProvider(parse_profile(text.format(extra=extra), source="org.toml"))


def account(**options: str) -> Account:
    return Account(name="org", provider="org-like", base_url="https://org.test", options=options)


def test_the_profiles_grant_is_the_default_and_either_may_be_chosen() -> None:
    p = provider()
    assert p.profile.auth.grants == ("client_credentials", "refresh_token")  # the default first
    assert p.secret_names == TWO and p.secret_names_for({}) == TWO
    assert p.secret_names_for({"grant": "refresh_token"}) == THREE
    assert p.secret_names_for({"grant": "client_credentials"}) == TWO
    p.check_account(account(grant="refresh_token"))
    form = {o.key: o for o in p.account_form.options}
    assert form["grant"].label == "OAuth2 grant"
    assert form["grant"].choices == ("client_credentials", "refresh_token")
    assert list(form)[:2] == ["grant", "token_url"]


def test_grants_restricts_the_choice_and_one_grant_is_no_choice() -> None:
    p = provider('grants = ["client_credentials"]')
    assert p.profile.auth.grants == ("client_credentials",)
    assert "grant" not in {o.key for o in p.account_form.options}
    p.check_account(account(grant="client_credentials"))
    with pytest.raises(OptionError) as caught:
        p.secret_names_for({"grant": "refresh_token"})
    error = caught.value
    assert error.user_message == "--option grant='refresh_token' is not one of client_credentials"
    assert (error.option, error.problem) == ("grant", "'refresh_token' is not one of "
                                             "client_credentials")  # fmt: skip
    with pytest.raises(OptionError, match="not one of client_credentials"):
        p.check_account(account(grant="refresh_token"))
    listed = provider('grants = ["refresh_token", "client_credentials"]')
    assert listed.profile.auth.grants == ("client_credentials", "refresh_token")


@pytest.mark.parametrize("value", ["password", "", "Refresh_Token", "refresh_token "])
def test_a_grant_that_is_not_one_is_an_option_error(value: str) -> None:
    with pytest.raises(OptionError, match=r"^--option grant=.* is not one of client_credentials, "
                       "refresh_token$"):  # fmt: skip
        provider().check_account(account(grant=value))


def test_a_grant_option_for_a_profile_without_oauth2_is_an_option_error() -> None:
    text = PROFILE.replace('kind = "oauth2"\ngrant = "client_credentials"\n'
                           'token_url = "https://login.test/services/oauth2/token"',
                           'kind = "bearer"')  # fmt: skip
    p = provider(text=text)
    assert p.secret_names_for({}) == ()
    with pytest.raises(OptionError, match="org-like has no OAuth2 grant to choose") as caught:
        p.check_account(account(grant="refresh_token"))
    assert caught.value.problem == "org-like signs in without OAuth2 (bearer authentication)"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('grants = ["refresh_token"]',
         "auth.grants: does not include grant = 'client_credentials' (an account's default)"),
        ("grants = []", "auth.grants: expected a non-empty array of grants"),
        ('grants = ["password"]', "auth.grants: expected a non-empty array of grants, each "
         "once, from client_credentials, refresh_token; got ['password']"),
        ('grants = ["refresh_token", "refresh_token"]', "auth.grants: expected a non-empty"),
        ('grants = "refresh_token"', "auth.grants: expected a non-empty array of grants"),
    ],
)  # fmt: skip
def test_a_profiles_grants_are_checked(extra: str, expected: str) -> None:
    with pytest.raises(ProfileError) as caught:
        provider(extra)
    assert any(f"{p.key}: {p.message}".startswith(expected) for p in caught.value.problems), (
        caught.value.problems
    )


def test_grants_is_not_used_without_oauth2() -> None:
    text = PROFILE.replace('kind = "oauth2"\ngrant = "client_credentials"\n'
                           'token_url = "https://login.test/services/oauth2/token"',
                           'kind = "bearer"\ngrants = ["refresh_token"]')  # fmt: skip
    with pytest.raises(ProfileError, match=r"auth\.grants: not used with kind = 'bearer'"):
        provider(text=text)


@pytest.mark.parametrize(
    ("options", "form"),
    [
        ({}, {"grant_type": "client_credentials", "client_id": "cid-1",
              "client_secret": "csecret-1"}),
        ({"grant": "refresh_token"}, {"grant_type": "refresh_token", "client_id": "cid-1",
                                      "client_secret": "csecret-1",
                                      "refresh_token": "5Aep-refresh-1"}),
    ],
)  # fmt: skip
def test_the_token_request_is_the_accounts_grant(
    options: dict[str, str], form: dict[str, str]
) -> None:
    asked: list[dict[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "login.test":
            asked.append(dict(httpx.QueryParams(request.content.decode())))
            return httpx.Response(200, json={"access_token": "00D!token", "token_type": "Bearer"})
        return httpx.Response(200, json={"ok": True})

    names = provider().secret_names_for(options)
    auth = provider().http_auth(
        account(**options), encode_secrets({n: SECRETS[n] for n in names}), Redactor()
    )
    assert auth is not None
    with httpx.Client(auth=auth, transport=httpx.MockTransport(answer)) as client:
        auth._sync_transport = httpx.MockTransport(answer)
        sent = client.get("https://org.test/jobs/1").request
    assert asked == [form] and sent.headers["Authorization"] == "Bearer 00D!token"


def test_a_refresh_token_grant_account_whose_entry_lacks_the_refresh_token() -> None:
    """An entry of the client credentials grant's two secrets does not do for the refresh token
    grant: said by name, before any request."""
    from jobdock.core.model.errors import ConfigError

    two = encode_secrets({n: SECRETS[n] for n in TWO})
    with pytest.raises(ConfigError, match="should hold client_id, client_secret, refresh_token"):
        provider().http_auth(account(grant="refresh_token"), two, Redactor())


# through the command line, with a file keyring ---------------------------------------------
@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv(file_keyring.FILE_VARIABLE, str(tmp_path / "keyring.json"))
    monkeypatch.setattr(keyring.core, "_keyring_backend", file_keyring.FileKeyring())
    written = tmp_path / "org.toml"
    written.write_text(PROFILE.format(extra=""))
    data = ["--data-dir", str(tmp_path / "data"), "--profile", str(written)]

    def run(*args: str, stdin: str = "", code: int = 0) -> tuple[str, str]:
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr("sys.stderr", err)
        got = main([*data, *args], stdin=io.StringIO(stdin), stdout=out)
        assert got == code, (args, out.getvalue(), err.getvalue())
        return out.getvalue(), err.getvalue()

    return run


def lines(*names: str) -> str:
    return "".join(f"{n}={SECRETS[n]}\n" for n in names)


def stored(tmp_path: Path) -> dict[str, str]:
    """The keyring's entries of account `org`, by service."""
    path = tmp_path / "keyring.json"
    services = json.loads(path.read_text()) if path.exists() else {}
    return {s: users["org"] for s, users in services.items() if "org" in users}


ADD = ("accounts", "add", "org", "--provider", "org-like", "--base-url", "https://org.test")


def test_accounts_add_reads_the_secrets_of_the_accounts_grant(cli, tmp_path: Path) -> None:
    refresh = (*ADD, "--option", "grant=refresh_token", "--secret-stdin")
    _, said = cli(*refresh, stdin=lines(*TWO), code=2)  # the refresh token is missing
    assert "missing refresh_token" in said and stored(tmp_path) == {}
    _, said = cli(*ADD, "--secret-stdin", stdin=lines(*THREE), code=2)  # the default: two
    assert "NAME one of client_id, client_secret; got a line starting 'refresh_token'" in said
    assert stored(tmp_path) == {}
    cli(*refresh, stdin=lines(*THREE))
    (entry,) = stored(tmp_path).values()
    assert json.loads(entry) == SECRETS
    listed, _ = cli("accounts", "list", "--json")
    assert json.loads(listed)[0]["options"] == {"grant": "refresh_token"}


@pytest.mark.parametrize("value", ["password", "authorization_code", ""])
def test_accounts_add_with_a_grant_that_is_not_one_is_exit_2_and_stores_nothing(
    cli, tmp_path: Path, value: str
) -> None:
    _, said = cli(*ADD, "--option", f"grant={value}", "--secret-stdin", stdin=lines(*THREE),
                  code=2)  # fmt: skip
    assert f"--option grant={value!r} is not one of client_credentials, refresh_token" in said
    assert stored(tmp_path) == {}
    listed, _ = cli("accounts", "list", "--json")
    assert json.loads(listed) == []


def test_changing_an_accounts_grant_needs_its_secrets_again(cli, tmp_path: Path) -> None:
    cli(*ADD, "--secret-stdin", stdin=lines(*TWO))
    _, said = cli(*ADD, "--option", "grant=refresh_token", code=2)  # the entry holds two
    assert "its grant needs client_id, client_secret, refresh_token" in said
    listed, _ = cli("accounts", "list", "--json")
    assert json.loads(listed)[0]["options"] == {}  # unchanged
    cli(*ADD, "--option", "grant=refresh_token", "--secret-stdin", stdin=lines(*THREE))
    cli(*ADD, "--option", "grant=refresh_token", "--option", "poll_min=5")  # same grant: kept
    (entry,) = stored(tmp_path).values()
    assert json.loads(entry) == SECRETS
