"""OAuth2 access tokens in a header the profile names (`[auth] name`, `scheme`): Amazon SP-API
wants the LWA token as it is in `x-amz-access-token`
(https://developer-docs.amazon.com/sp-api/docs/connecting-to-the-selling-partner-api). Renewed
before `expires_in` and once on a 401 as a Bearer token is, redacted, and sent by the account's
session only to its origin and its result hosts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from jobdock.core.model.errors import AuthError, NetworkError, ProtocolError
from jobdock.core.model.job import Account
from jobdock.core.net.http import ApiSession, make_api_client, make_bare_client
from jobdock.core.net.redaction import Redactor
from jobdock.core.providers.profiles.load import parse_profile
from jobdock.core.providers.profiles.oauth import TokenAuth, encode_secrets
from jobdock.core.providers.profiles.provider import ProfileProvider

SECRETS = {"client_id": "amzn1.application-oa2-client.x", "client_secret": "cs-secret-1",
           "refresh_token": "Atzr|refresh-1"}  # fmt: skip
PROFILE = """
id = "sp-like"
name = "SP-like"
base_url = "https://sellingpartnerapi-eu.amazon.com"
result_hosts = ["files.sp.test"]
[auth]
kind = "oauth2"
grant = "refresh_token"
token_url = "https://api.amazon.com/auth/o2/token"
{extra}
[fields]
id = "reportId"
status_url_template = "reports/2021-06-30/reports/{{id}}"
state = "processingStatus"
[states]
DONE = "succeeded"
"""


def provider(extra: str = "") -> ProfileProvider:
    return ProfileProvider(parse_profile(PROFILE.format(extra=extra), source="sp.toml"))


class Tokens:
    """A token endpoint and an API behind one MockTransport; `issued` in order."""

    def __init__(self, lifetime: int = 3600) -> None:
        self.issued: list[str] = []
        self.seen: list[httpx.Request] = []
        self.lifetime = lifetime
        self.refuse: set[str] = set()  # tokens the API answers `status` to
        self.status = 401

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.amazon.com":
            form = dict(httpx.QueryParams(request.content.decode()))
            assert (
                form["grant_type"] == "refresh_token" and form["refresh_token"] == "Atzr|refresh-1"
            )
            self.issued.append(f"Atza|token-{len(self.issued) + 1}")
            body = {"access_token": self.issued[-1], "token_type": "bearer",
                    "expires_in": self.lifetime}  # fmt: skip
            return httpx.Response(200, json=body)
        self.seen.append(request)
        if request.headers.get("x-amz-access-token") in self.refuse:
            return httpx.Response(self.status, json={"errors": [{"code": "Unauthorized"}]})
        return httpx.Response(200, json={"ok": True})


def token_auth(provider: ProfileProvider, tokens: Tokens, redactor: Redactor) -> TokenAuth:
    account = Account(name="sp", provider="sp-like", base_url=provider.default_base_url)
    auth = provider.http_auth(account, encode_secrets(SECRETS), redactor)
    assert auth is not None
    auth._transport = httpx.MockTransport(tokens)  # the token endpoint, in this test
    return auth


def test_a_named_header_gets_the_token_raw_and_authorization_nothing() -> None:
    tokens, redactor = Tokens(), Redactor()
    auth = token_auth(provider('name = "x-amz-access-token"'), tokens, redactor)

    async def go() -> httpx.Request:
        async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(tokens)) as c:
            return (await c.get("https://sellingpartnerapi-eu.amazon.com/r")).request

    sent = asyncio.run(go())
    assert sent.headers["x-amz-access-token"] == "Atza|token-1"
    assert "authorization" not in sent.headers
    assert redactor("got Atza|token-1 back") == f"got {Redactor.MASK} back"
    assert redactor("cs-secret-1 Atzr|refresh-1").count(Redactor.MASK) == 2


@pytest.mark.parametrize(
    ("extra", "header", "value"),
    [
        ("", "Authorization", "Bearer Atza|token-1"),  # the default, as before
        ('scheme = "OAuth"', "Authorization", "OAuth Atza|token-1"),
        ('name = "X-Token"\nscheme = "Token"', "X-Token", "Token Atza|token-1"),
    ],
)
def test_the_header_and_scheme_the_profile_says(extra: str, header: str, value: str) -> None:
    tokens = Tokens()
    auth = token_auth(provider(extra), tokens, Redactor())

    async def go() -> httpx.Request:
        async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(tokens)) as c:
            return (await c.get("https://sellingpartnerapi-eu.amazon.com/r")).request

    assert asyncio.run(go()).headers[header] == value
    # the blocking download clients share the token (and send it the same way)
    with httpx.Client(auth=auth, transport=httpx.MockTransport(tokens)) as client:
        sent = client.get("https://sellingpartnerapi-eu.amazon.com/file").request
    assert sent.headers[header] == value and tokens.issued == ["Atza|token-1"]


def test_a_named_header_token_is_renewed_before_it_expires_and_once_on_a_401() -> None:
    now = [0.0]
    tokens = Tokens(lifetime=600)
    auth = token_auth(provider('name = "x-amz-access-token"'), tokens, Redactor())
    auth._clock = lambda: now[0]

    async def go() -> list[tuple[int, str | None]]:
        seen = []
        async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(tokens)) as c:
            for at, refuse in ((0, set()), (500, set()), (541, set()), (542, {"Atza|token-2"})):
                now[0], tokens.refuse = at, refuse
                response = await c.get("https://sellingpartnerapi-eu.amazon.com/r")
                seen.append((response.status_code, response.request.headers["x-amz-access-token"]))
        return seen

    # 600 s tokens renewed 60 s early; the 401 to token-2 renews once (token-3), then answers
    assert asyncio.run(go()) == [(200, "Atza|token-1"), (200, "Atza|token-1"),
                                 (200, "Atza|token-2"), (200, "Atza|token-3")]  # fmt: skip
    tokens.refuse = {"Atza|token-3", "Atza|token-4"}

    async def refused() -> int:
        async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(tokens)) as c:
            return (await c.get("https://sellingpartnerapi-eu.amazon.com/r")).status_code

    assert asyncio.run(refused()) == 401 and tokens.issued[-1] == "Atza|token-4"  # once only


@pytest.mark.parametrize(
    ("extra", "status", "renewed"),
    [
        ("", 403, False),  # by default a 403 is an answer, not a reason to renew
        ("renew_on = [401, 403]", 403, True),  # SP-API: an expired or revoked token is a 403
        ("renew_on = [401, 403]", 401, True),
        ("renew_on = [403]", 401, False),
    ],
)
def test_renew_on_says_which_statuses_renew_the_token_once(
    extra: str, status: int, renewed: bool
) -> None:
    tokens = Tokens()
    auth = token_auth(provider(f'name = "x-amz-access-token"\n{extra}'), tokens, Redactor())
    url = "https://sellingpartnerapi-eu.amazon.com/r"

    async def go() -> int:
        async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(tokens)) as c:
            await c.get(url)  # token-1
            tokens.refuse, tokens.status = {"Atza|token-1"}, status  # revoked early
            return (await c.get(url)).status_code

    assert asyncio.run(go()) == (200 if renewed else status)
    assert tokens.issued == (["Atza|token-1", "Atza|token-2"] if renewed else ["Atza|token-1"])
    # the blocking download clients renew on the same statuses
    tokens.refuse = set(tokens.issued)
    auth._sync_transport = httpx.MockTransport(tokens)
    with httpx.Client(auth=auth, transport=httpx.MockTransport(tokens)) as client:
        assert client.get(url).status_code == (200 if renewed else status)
    assert len(tokens.issued) == (3 if renewed else 1)
    # a refusal that persists after the renewal is the answer: renewed once, never a loop
    tokens.refuse = {f"Atza|token-{n}" for n in range(1, 6)}

    async def refused() -> int:
        async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(tokens)) as c:
            return (await c.get(url)).status_code

    before = len(tokens.issued)
    assert asyncio.run(refused()) == status
    assert len(tokens.issued) == before + (1 if renewed else 0)


@pytest.mark.parametrize(
    ("base_url", "options", "expected"),
    [
        (
            "https://acme.my.salesforce.com",
            {},
            "https://acme.my.salesforce.com/services/oauth2/token",
        ),
        # the origin only: scheme, host and port, never the base URL's path
        ("http://127.0.0.1:8080/org/", {}, "http://127.0.0.1:8080/services/oauth2/token"),
        (
            "HTTPS://Acme--Dev.sandbox.my.salesforce.com:443/x",
            {},
            "https://acme--dev.sandbox.my.salesforce.com/services/oauth2/token",
        ),
        # an account's --option token_url still replaces it
        (
            "https://acme.my.salesforce.com",
            {"token_url": "https://login.test/token"},
            "https://login.test/token",
        ),
    ],
)
def test_a_token_url_relative_to_the_account_origin(
    base_url: str, options: dict[str, str], expected: str
) -> None:
    text = PROFILE.replace('token_url = "https://api.amazon.com/auth/o2/token"',
                           'token_url = "{{origin}}/services/oauth2/token"')  # fmt: skip
    profile = ProfileProvider(parse_profile(text.format(extra=""), source="sf.toml"))
    account = Account(name="org", provider="sp-like", base_url=base_url, options=options)
    profile.check_account(account)
    auth = profile.http_auth(account, encode_secrets(SECRETS), Redactor())
    assert auth is not None and auth._token_url == expected


def test_the_session_sends_the_named_header_to_the_origin_and_result_hosts_only() -> None:
    tokens, redactor = Tokens(), Redactor()
    profile = provider('name = "x-amz-access-token"')
    account = Account(name="sp", provider="sp-like", base_url=profile.default_base_url)
    transport = httpx.MockTransport(tokens)
    api = make_api_client(headers=profile.auth_headers(account, "unused"), transport=transport)
    api.auth = token_auth(profile, tokens, redactor)
    bare = make_bare_client(transport=transport)
    session = ApiSession(account=account, api=api, bare=bare, redactor=redactor,
                         result_origins=profile.result_origins(account))  # fmt: skip

    async def go() -> None:
        for url in ("reports/2021-06-30/reports/R1", "https://files.sp.test/doc",
                    "https://tortuga-prod-eu.s3.amazonaws.com/doc?X-Amz-Signature=s"):  # fmt: skip
            await session.request("GET", url)
        await api.aclose()
        await bare.aclose()

    asyncio.run(go())
    carried = {r.url.host: r.headers.get("x-amz-access-token") for r in tokens.seen}
    assert carried == {
        "sellingpartnerapi-eu.amazon.com": "Atza|token-1",
        "files.sp.test": "Atza|token-1",  # a declared result host
        "tortuga-prod-eu.s3.amazonaws.com": None,  # a pre-signed link elsewhere: nothing
    }
    assert all("authorization" not in r.headers for r in tokens.seen)


# The token endpoint's answer is read like any API answer: at most 16 MiB, JSON of bounded
# nesting, and on the blocking path (a download's worker thread) within an overall deadline.
def endpoint_auth(answer, *, clock=None, deadline: float = 120.0) -> TokenAuth:
    transport = httpx.MockTransport(answer)
    return TokenAuth(grant="client_credentials", token_url="https://token.test/t", scope=None,
                     secrets={"client_id": "id", "client_secret": "sec"}, redactor=Redactor(),
                     transport=transport, sync_transport=transport, deadline=deadline,
                     **({"clock": clock} if clock else {}))  # fmt: skip


def fetch_both_ways(auth: TokenAuth) -> list[str]:
    """What an API request through the async client, then one through the blocking client,
    ends with (the token exchange's error, or the token sent)."""
    api = httpx.MockTransport(lambda r: httpx.Response(200))
    outcomes = []

    async def go() -> str:
        async with httpx.AsyncClient(auth=auth, transport=api) as c:
            return (await c.get("https://api.test/r")).request.headers["Authorization"]

    for run in (lambda: asyncio.run(go()), lambda: sync_get(auth, api)):
        try:
            outcomes.append(run())
        except ProtocolError as exc:
            outcomes.append(exc.user_message)
    return outcomes


def sync_get(auth: TokenAuth, transport: httpx.BaseTransport) -> str:
    with httpx.Client(auth=auth, transport=transport) as c:
        return c.get("https://api.test/r").request.headers["Authorization"]


def padded(size: int) -> httpx.Response:
    """A valid token answer of more than `size` bytes, without a Content-Length."""
    body = b'{"access_token": "tok", "padding": "' + b"x" * size + b'"}'
    response = httpx.Response(200, content=body)
    del response.headers["Content-Length"]
    return response


def test_a_token_answer_larger_than_16_mib_is_not_read() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return padded(16 * 1024 * 1024)

    auth = endpoint_auth(answer)
    outcomes = fetch_both_ways(auth)
    assert all("larger than 16 MiB" in o for o in outcomes), outcomes
    assert auth._token is None


def test_a_deeply_nested_token_answer_is_a_protocol_error() -> None:
    auth = endpoint_auth(lambda r: httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000))
    assert (
        fetch_both_ways(auth)
        == ["the token endpoint https://token.test/t gave no access_token"] * 2
    )


def test_a_token_lifetime_that_is_not_a_number_is_a_protocol_error() -> None:
    body = b'{"access_token": "t", "expires_in": "nan"}'
    auth = endpoint_auth(lambda r: httpx.Response(200, content=body))
    assert (
        fetch_both_ways(auth)
        == ["the token endpoint https://token.test/t gave no usable expires_in"] * 2
    )


def test_the_blocking_token_exchange_has_an_overall_deadline() -> None:
    """A peer that trickles its answer (each piece within the read timeout) is cut off once
    the exchange's deadline is over: the clock moves 10 s per piece here, never really."""
    now = [0.0]
    pieces = []

    def trickle() -> Iterator[bytes]:
        for _ in range(1000):
            now[0] += 10.0
            pieces.append(now[0])
            yield b" "

    auth = endpoint_auth(lambda r: httpx.Response(200, content=trickle()), clock=lambda: now[0],
                         deadline=60.0)  # fmt: skip
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    with pytest.raises(NetworkError, match=r"token\.test sent no complete answer within 60 s"):
        sync_get(auth, transport)
    assert len(pieces) < 10


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (
            400,
            b'{"error": "invalid_grant", "error_description": "expired access/refresh token"}',
            "(HTTP 400: invalid_grant: expired access/refresh token)",
        ),
        # RFC 6749 5.2's fields only, redacted: an endpoint that echoes the secret shows none
        (401, b'{"error": "invalid_client", "error_description": "bad secret cs-secret-1"}',
         "(HTTP 401: invalid_client: bad secret [REDACTED])"),
        (401, b"<html>no</html>", "(HTTP 401)"),
        (403, b'["not", "an", "object"]', "(HTTP 403)"),
    ],
)  # fmt: skip
def test_a_refused_token_request_says_the_oauth_error(status: int, body: bytes, said: str) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(status, content=body))
    auth = TokenAuth(
        grant="client_credentials",
        token_url="https://token.test/t",
        scope=None,
        secrets={"client_id": "id", "client_secret": "cs-secret-1"},
        redactor=Redactor(),
        transport=transport,
        sync_transport=transport,
    )
    with pytest.raises(AuthError) as caught:
        sync_get(auth, httpx.MockTransport(lambda r: httpx.Response(200)))
    message = caught.value.user_message
    assert f"refused the account's credentials {said}; check the client id and secret" in message
    assert "cs-secret-1" not in message
