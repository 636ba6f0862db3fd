"""The provider that follows any job-style API described by a `Profile` (docs/profiles.md): the
account's credentials as the profile's `[auth]` says (headers, query parameters, or an OAuth2
token exchange, oauth.py) and the account options that change them, the default request, job
references, submitting and polling. What an answer says is read by status.py (its results by
results.py, a paged result's pages by pages.py) at the profile's paths (answer.py); the status URL
comes from the answer or is built from the job id (urls.py), and is polled with any method and a
templated body until the job ends. A job that ended but whose answer cannot be read fails after
`UNREADABLE_TRIES` identical answers instead of being polled until its deadline. Query-parameter
auth is never sent by this module: the engine puts `auth_params` on the account's session, which
merges them into the URL of every request to the account's origin and of no other.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from jobdock.core.model.errors import ConfigError, OptionError, ProtocolError, UsageError
from jobdock.core.model.job import Account, Job, JobState, SubmitRequest, origin_of
from jobdock.core.net.http import ApiSession, safe_url
from jobdock.core.net.inputs import quoted, url_problem
from jobdock.core.net.redaction import Redactor
from jobdock.core.providers.base import JobRef, PollPolicy, Provider, RemoteStatus
from jobdock.core.providers.common import (
    basic_auth,
    check_ref_origin,
    guard,
    is_url,
    one_line,
    raw_text,
)
from jobdock.core.providers.profiles.account_form import profile_account_form
from jobdock.core.providers.profiles.answer import fill
from jobdock.core.providers.profiles.oauth import SECRETS, TokenAuth, decode_secrets
from jobdock.core.providers.profiles.schema import ORIGIN, Profile
from jobdock.core.providers.profiles.status import (
    EndedUnreadable,
    no_job,
    read_status,
    unreadable_submit,
)
from jobdock.core.providers.profiles.templates import expand_now
from jobdock.core.providers.profiles.urls import id_in_url, result_hosts, template_url
from jobdock.core.providers.profiles.urls import merged_query as _merged_query

# `_merged_query` lived here before results.py and urls.py were split off; tests import it from
# here still.
__all__ = ["ProfileProvider", "_merged_query"]

UNREADABLE_TRIES = 3  # identical unreadable answers of an ended job before it fails
# A job id: plain (`r-1`) or a URI (`gid://shopify/BulkOperation/1`, `operations/123`).
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~:/?#@!$&'()*+,;=%-]{0,399}$")


class ProfileProvider(Provider):
    """A provider made from a profile: see docs/profiles.md."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._unreadable: dict[str, tuple[str, int]] = {}  # job id: (answer digest, times)
        self.needs_secret = profile.auth.kind != "none"
        # Named secrets (oauth2): NAME=VALUE lines on `accounts add --secret-stdin`, and one
        # password field each in the accounts dialog; those of the profile's grant, an
        # account's own `grant` option choosing another (`secret_names_for`).
        self.secret_names: tuple[str, ...] = SECRETS.get(profile.auth.grant or "", ())
        self.id = profile.id
        self.display_name = profile.name
        self.default_base_url = profile.base_url
        self.secret_label = profile.secret_label
        self.body_content_type = profile.submit.content_type  # a `--body` is sent as this
        self.poll_policy: PollPolicy = profile.poll
        self.account_form = profile_account_form(profile)

    def __repr__(self) -> str:
        return f"ProfileProvider({self.id!r} from {self.profile.source})"

    # credentials ---------------------------------------------------------------------------
    def auth_headers(self, account: Account, secret: str) -> dict[str, str]:
        auth = self.profile.auth
        if auth.kind == "bearer":
            return {"Authorization": f"Bearer {secret}"}
        if auth.kind == "basic":
            return basic_auth(account, secret, provider=self.id)
        if auth.kind == "header":
            return {str(auth.name): secret}
        return {}  # none; oauth2 tokens come from `http_auth`

    def grant_of(self, options: Mapping[str, str]) -> str | None:
        """The OAuth2 grant of an account with these options: its `grant` option, else the
        profile's `[auth] grant` (None: not oauth2). `OptionError` for a grant the profile
        does not allow (`[auth] grants`), or for any with another kind of auth."""
        auth = self.profile.auth
        given = options.get("grant")
        if given is None:
            return auth.grant
        if auth.kind != "oauth2":
            raise OptionError(f"--option grant: {self.id} has no OAuth2 grant to choose (its "
                              f"[auth] kind is {auth.kind!r})", option="grant",
                              problem=f"{self.id} signs in without OAuth2 "
                                      f"({auth.kind} authentication)")  # fmt: skip
        if given not in auth.grants:
            said = f"{one_line(given, 40)!r} is not one of {', '.join(auth.grants)}"
            raise OptionError(f"--option grant={said}", option="grant", problem=said)
        return given

    def secret_names_for(self, options: Mapping[str, str]) -> tuple[str, ...]:
        """The named secrets of an account with these options: those of its grant (the
        `refresh_token` grant needs a `refresh_token` too). `OptionError` as `grant_of`."""
        grant = self.grant_of(options)
        return SECRETS.get(grant or "", ()) if self.profile.auth.kind == "oauth2" else ()

    def http_auth(self, account: Account, secret: str, redactor: Redactor) -> TokenAuth | None:
        """The token exchange for the account's API client (`oauth2`), else None. The account's
        `token_url` option replaces the profile's (a sandbox, a region, a test server); a
        profile's `{origin}/…` is on the account's own origin (Salesforce's My Domain)."""
        auth = self.profile.auth
        grant = self.grant_of(account.options)
        if auth.kind != "oauth2" or grant is None:
            return None
        token_url = account.options.get("token_url") or auth.token_url or ""
        if token_url.startswith(ORIGIN):
            token_url = origin_of(account.base_url) + token_url.removeprefix(ORIGIN)
        if not token_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{self.id}: token_url must be an http(s) URL, got {quoted(token_url)}"
            )
        secrets = decode_secrets(secret, SECRETS[grant], provider=self.id)
        # `Authorization: Bearer <token>`, or the token in the header the profile names (raw,
        # unless it gives a `scheme`: SP-API's `x-amz-access-token`)
        scheme = auth.scheme if auth.scheme or auth.name else "Bearer"
        return TokenAuth(grant=grant, token_url=token_url, scope=auth.scope,
                         secrets=secrets, redactor=redactor, header=auth.name or "Authorization",
                         scheme=scheme, renew_on=auth.renew_on)  # fmt: skip

    def result_origins(self, account: Account) -> tuple[str, ...]:
        """The origins besides the account's that get its credentials, for a request that starts
        there: the profile's `result_hosts`, or the account's `result_hosts` option (comma
        separated: a sandbox's or a test server's)."""
        option = account.options.get("result_hosts")
        if option is None:
            return self.profile.result_hosts
        try:
            return result_hosts(option)
        except ValueError as exc:
            raise ConfigError(f"{self.id}: account option result_hosts: {exc}") from None

    def check_account(self, account: Account) -> None:
        """`UsageError` for an account option that cannot be used: `token_url` (an http(s)
        URL, for an `oauth2` profile only), `grant` (one the `oauth2` profile allows) and
        `result_hosts` (host names or origins, comma separated). Said when the account is
        added, not at its first request."""
        token_url = account.options.get("token_url")
        if token_url is not None:
            if self.profile.auth.kind != "oauth2":
                kind = self.profile.auth.kind
                raise OptionError(f"--option token_url: {self.id} has no token endpoint "
                                  f"(its [auth] kind is {kind!r})", option="token_url",
                                  problem=f"{self.id} signs in without one "
                                          f"({kind} authentication)")  # fmt: skip
            problem = url_problem(token_url)
            if problem is None and urlsplit(token_url).username is not None:
                problem = "a URL with credentials in it"
            if problem is not None:
                said = f"{one_line(token_url, 80)!r} is {problem}"
                raise OptionError(f"--option token_url={said}", option="token_url", problem=said)
        self.grant_of(account.options)
        hosts = account.options.get("result_hosts")
        try:
            result_hosts(hosts or "")
        except ValueError as exc:
            raise OptionError(f"{self.id}: --option result_hosts: {exc}",
                              option="result_hosts", problem=str(exc)) from None  # fmt: skip

    def auth_params(self, account: Account, secret: str) -> dict[str, str]:
        """Query parameters that authenticate requests to the account's origin (query auth)."""
        auth = self.profile.auth
        return {str(auth.name): secret} if auth.kind == "query" else {}

    # requests ------------------------------------------------------------------------------
    def default_request(self) -> SubmitRequest:
        spec = self.profile.submit
        body: bytes | None = None
        content_type = spec.content_type
        if isinstance(spec.body, str):
            body = str(expand_now(spec.body)).encode()
        elif spec.body is not None:
            body = json.dumps(expand_now(copy.deepcopy(spec.body))).encode()
            content_type = content_type or "application/json"
        return SubmitRequest(
            method=spec.method,
            path=spec.path,
            params=spec.query,
            body=body,
            content_type=content_type,
        )

    def parse_ref(self, account: Account, ref: str) -> JobRef:
        ref = ref.strip()
        if is_url(ref):
            url = check_ref_origin(account, ref, provider=self.id)
            return JobRef(remote_id=id_in_url(self.profile, url), status_url=url)
        if "id" in self.profile.fields and _ID.match(ref):
            return JobRef(remote_id=ref)
        like = ""
        if self.profile.status_url_template:
            example = self.profile.status_url_template.format(
                id=f"<{self.profile.id_noun}>", path=self.profile.submit.path.rstrip("/")
            )
            like = f" (like {account.base_url.rstrip('/')}/{example.lstrip('/')})"
        if "id" not in self.profile.fields:
            raise UsageError(
                f"{self.id}: jobs are tracked by their status URL{like}, not {quoted(ref)}"
            )
        raise UsageError(
            f"{self.id}: {quoted(ref)} is neither a {self.profile.id_noun} nor a status URL{like}"
        )

    async def submit(self, session: ApiSession, request: SubmitRequest) -> RemoteStatus:
        self._check_session(session)
        spec = self.profile.submit
        path = request.path or spec.path
        params = list(request.params)
        params += [(k, v) for k, v in spec.query if not any(k == key for key, _ in params)]
        headers = None
        if request.body is not None:
            headers = {"Content-Type": request.content_type or spec.content_type or _sniff(request)}
        what = f"{self.id}: submitting {path or '/'}"
        with guard(session, what=what):
            response = await session.request(
                request.method or spec.method, path, params=params, content=request.body,
                headers=headers,
            )  # fmt: skip
            try:
                status = await read_status(
                    self.profile,
                    session,
                    response,
                    request=request,
                    what=what,
                    url=None,
                    known_id=None,
                )
            except ProtocolError as exc:
                status = unreadable_submit(self.profile, session, response, exc)
            if status.remote_id is None and status.status_url is None:
                raise no_job(self.profile, response, what=what)
            url = status.status_url or template_url(
                self.profile, session, status.remote_id, request
            )
        return dataclasses.replace(status, status_url=url)

    async def poll(self, session: ApiSession, job: Job) -> RemoteStatus:
        self._check_session(session)
        url = job.status_url or template_url(self.profile, session, job.remote_id, job.request)
        if not url:
            raise ProtocolError(
                f"{self.id}: job {job.id} has neither a {self.profile.id_noun} nor a status URL"
            )
        what = f"{self.id}: polling {self.profile.job_noun} {job.remote_id or safe_url(url)}"
        spec = self.profile.poll_request
        body, content_type = None, spec.content_type
        if spec.body is not None:
            values = {"id": job.remote_id, "status_url": url}
            filled = fill(spec.body, values, lambda _: None, url=False, what=what)
            if isinstance(filled, str):
                body = filled.encode()
            else:
                body, content_type = json.dumps(filled).encode(), content_type or "application/json"
        headers = {"Content-Type": content_type} if body is not None and content_type else None
        with guard(session, what=what):
            response = await session.request(
                spec.method, url, content=body, headers=headers,
                follow_redirects=spec.follow_redirects,
            )  # fmt: skip
            try:
                status = await read_status(
                    self.profile, session, response, request=job.request, what=what, url=url,
                    known_id=job.remote_id,
                )  # fmt: skip
            except EndedUnreadable as exc:
                status = self._unreadable_poll(job, response, exc)
            if status.state is not JobState.FAILED:
                self._unreadable.pop(job.id, None)
        return status if status.status_url else dataclasses.replace(status, status_url=url)

    def _unreadable_poll(
        self, job: Job, response: httpx.Response, exc: EndedUnreadable
    ) -> RemoteStatus:
        """The job ended but its answer cannot be read: retried (a `ProtocolError`) until the
        same answer came `UNREADABLE_TRIES` times, then the job fails with the reason."""
        digest = hashlib.sha256(response.content + exc.user_message.encode()).hexdigest()
        last = self._unreadable.get(job.id)
        times = last[1] + 1 if last and last[0] == digest else 1
        self._unreadable[job.id] = (digest, times)
        if times < UNREADABLE_TRIES:
            raise exc
        del self._unreadable[job.id]
        return RemoteStatus(
            state=JobState.FAILED,
            remote_state=exc.remote_state,
            remote_id=job.remote_id,
            error=f"{exc.user_message} (the same answer {times} times)",
            raw=raw_text(response),
        )

    def _check_session(self, session: ApiSession) -> None:
        auth = self.profile.auth
        if auth.kind == "query" and str(auth.name) not in dict(session.auth_params):
            raise ConfigError(
                f"{self.id}: query-parameter auth needs an engine that passes `auth_params` "
                "to the account's session"
            )


def _sniff(request: SubmitRequest) -> str:
    text = (request.body or b"").lstrip()
    return "application/xml" if text.startswith(b"<") else "application/json"
