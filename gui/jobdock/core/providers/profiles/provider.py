"""The provider that follows any job-style API described by a `Profile`: submit the request, read
the job id, status URL, state, progress, times, error, log and result links from the answers at the
profile's paths (JSON or XML), map the raw state to a canonical one, and poll the status URL (from
the answer, or built from the job id, with any method and a templated body) until the job ends.
Result links are read from the answer, built from a template, or read from the answer to a second
request (`fetch`), which is made again whenever the job is polled for fresh links. An unmapped raw
state is a `ProtocolError` naming the value. A submit answer that cannot be read but names the job
is still a job (the vendor's job exists); a job that ended but whose answer cannot be read fails
after `UNREADABLE_TRIES` identical answers instead of being polled until its deadline. Query-
parameter auth is never sent by this module: the engine puts `auth_params` on the account's
session, which merges them into the URL of every request to the account's origin and of no other.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus, urlencode, urljoin, urlsplit, urlunsplit
from xml.etree.ElementTree import Element

import httpx

from jobdock.core.download.filenames import filename_from_url, unique_names
from jobdock.core.download.integrity import api_checksum
from jobdock.core.model.errors import ConfigError, OptionError, ProtocolError, UsageError
from jobdock.core.model.job import Account, Job, JobState, SubmitRequest, origin_of
from jobdock.core.net.http import (
    ApiSession,
    expect_object,
    parse_json,
    parse_retry_after,
    raise_for_status,
    read_limited,
    safe_url,
    server_date,
)
from jobdock.core.net.inputs import MAX_ANSWER_BYTES, quoted, url_problem
from jobdock.core.net.redaction import Redactor
from jobdock.core.providers.base import (
    JobRef,
    PollPolicy,
    Provider,
    RemoteStatus,
    ResultLink,
)
from jobdock.core.providers.common import (
    basic_auth,
    check_ref_origin,
    guard,
    is_url,
    one_line,
    parse_timestamp,
    parse_xml,
    presigned_expiry,
    raw_text,
)
from jobdock.core.providers.profiles.account_form import profile_account_form
from jobdock.core.providers.profiles.oauth import SECRETS, TokenAuth, decode_secrets
from jobdock.core.providers.profiles.paths import (
    FieldPath,
    lookup_header,
    lookup_json,
    lookup_xml,
    parse_path,
)
from jobdock.core.providers.profiles.schema import (
    ORIGIN,
    PageSpec,
    Profile,
    ResultSpec,
    normalise_state,
    result_origin,
)
from jobdock.core.providers.profiles.templates import expand_job, expand_now

UNREADABLE_TRIES = 3  # identical unreadable answers of an ended job before it fails
# A job id: plain (`r-1`) or a URI (`gid://shopify/BulkOperation/1`, `operations/123`).
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~:/?#@!$&'()*+,;=%-]{0,399}$")


class _Answer:
    """One answer, parsed once, with lookups at the profile's paths."""

    def __init__(
        self, profile: Profile, response: httpx.Response, *, what: str, strict: bool = True
    ) -> None:
        self.response = response
        self.data: object = None
        self.root: Element | None = None
        if response.is_redirect and not _looks_like(profile.answers, response):
            return  # a redirect not followed (303 See Other) is read from its status and headers
        try:
            self._parse(profile, response, what=what)
        except ProtocolError:
            if strict:
                raise
            # not strict: whatever can be read, here the headers (`header:Location`)

    def _parse(self, profile: Profile, response: httpx.Response, *, what: str) -> None:
        if profile.answers == "xml":
            self.root = parse_xml(response.text) if response.content else None
            if self.root is None:
                raise ProtocolError(f"{what}: expected XML (HTTP {response.status_code})")
        else:
            self.data = expect_object(parse_json(response, what=what), what=what)

    def get(self, path: FieldPath) -> Any:
        if path.status:  # a 200 leaves the state to the next path (or the missing state)
            code = self.response.status_code
            return str(code) if code != 200 else None
        if path.header is not None:
            return lookup_header(self.response, path)
        value = lookup_xml(self.root, path) if self.root is not None else None
        if self.root is None:
            value = lookup_json(self.data, path)
        if path.present:  # which key the answer carries: its name, or no match
            return path.steps[-1].name if value is not None else None
        return value

    def first(self, paths: tuple[FieldPath, ...]) -> Any:
        """The value at the first path that has one."""
        for path in paths:
            value = self.get(path)
            if value is not None and value != "" and value != []:
                return value
        return None

    def text(self, paths: tuple[FieldPath, ...]) -> str | None:
        """The first path's value that reads as text: strings, numbers, and booleans as `true`
        and `false` (AIP-151's `done`)."""
        for path in paths:
            value = self.get(path)
            value = value[0] if isinstance(value, list) and value else value
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, str | int | float) and str(value).strip():
                return str(value).strip()
        return None

    def lookup(self, text: str) -> str | None:
        return self.text((parse_path(text),))


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
            return _hosts(option)
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
            _hosts(hosts or "")
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
            return JobRef(remote_id=self._id_in_url(url), status_url=url)
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
                status = await self._status(
                    session, response, request=request, what=what, url=None, known_id=None
                )
            except ProtocolError as exc:
                status = self._unreadable_submit(session, response, exc)
            if status.remote_id is None and status.status_url is None:
                raise self._no_job(response, what=what)
            url = status.status_url or self._template_url(session, status.remote_id, request)
        return dataclasses.replace(status, status_url=url)

    async def poll(self, session: ApiSession, job: Job) -> RemoteStatus:
        self._check_session(session)
        url = job.status_url or self._template_url(session, job.remote_id, job.request)
        if not url:
            raise ProtocolError(
                f"{self.id}: job {job.id} has neither a {self.profile.id_noun} nor a status URL"
            )
        what = f"{self.id}: polling {self.profile.job_noun} {job.remote_id or safe_url(url)}"
        spec = self.profile.poll_request
        body, content_type = None, spec.content_type
        if spec.body is not None:
            values = {"id": job.remote_id, "status_url": url}
            filled = _fill(spec.body, values, lambda _: None, url=False, what=what)
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
                status = await self._status(
                    session, response, request=job.request, what=what, url=url,
                    known_id=job.remote_id,
                )  # fmt: skip
            except _EndedUnreadable as exc:
                status = self._unreadable_poll(job, response, exc)
            if status.state is not JobState.FAILED:
                self._unreadable.pop(job.id, None)
        return status if status.status_url else dataclasses.replace(status, status_url=url)

    def _unreadable_submit(
        self, session: ApiSession, response: httpx.Response, exc: ProtocolError
    ) -> RemoteStatus:
        """A submit answer that cannot be read: the job it names (if any) is recorded with the
        raw answer, since the vendor's job exists and must not be orphaned."""
        answer = _Answer(self.profile, response, what="", strict=False)
        fields = self.profile.fields
        remote_id = answer.text(fields.get("id", ()))
        status_url = answer.text(fields.get("status_url", ()))
        if remote_id is None and status_url is None:
            reason = answer.text(fields.get("error", ()))
            raise ProtocolError(f"{exc.user_message}: {one_line(reason)}") if reason else exc
        state = self.profile.initial_state
        return RemoteStatus(
            state=state,
            remote_state=state.value,
            remote_id=remote_id,
            status_url=self._resolve(session, response, status_url) if status_url else None,
            log=f"the submit answer could not be read: {exc.user_message}",
            raw=raw_text(response),
        )

    def _no_job(self, response: httpx.Response, *, what: str) -> ProtocolError:
        """The error of a submit answer that names no job: the API's own reason when the
        profile's `error` paths find one (Shopify's `userErrors` with `bulkOperation: null`)."""
        wanted = " or ".join(f"`{p}`" for p in self._finders())
        answer = _Answer(self.profile, response, what=what, strict=False)
        reason = answer.text(self.profile.fields.get("error", ()))
        if reason:
            return ProtocolError(f"{what}: {one_line(reason)} (the answer has no {wanted})")
        return ProtocolError(f"{what}: the answer has no {wanted}")

    def _unreadable_poll(
        self, job: Job, response: httpx.Response, exc: _EndedUnreadable
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

    # reading answers -----------------------------------------------------------------------
    async def _status(
        self,
        session: ApiSession,
        response: httpx.Response,
        *,
        request: SubmitRequest | None,
        what: str,
        url: str | None,
        known_id: str | None,
    ) -> RemoteStatus:
        if url is not None and response.status_code in self.profile.poll_request.error_answers:
            ended = self._error_answer(response, what=what, known_id=known_id)
            if ended is not None:
                return ended
        raise_for_status(response, what=what)
        answer = _Answer(self.profile, response, what=what)
        fields = self.profile.fields
        state_path = fields["state"][0]
        remote_state = answer.text(fields["state"])
        # An answer without a state: a submit's job is `initial_state` (an API that answers only
        # an id), a poll's is `absent_state` when the profile gives one (AIP-151 leaves out
        # `done: false`).
        missing = self.profile.initial_state if url is None else self.profile.absent_state
        if remote_state is None and missing is not None:
            remote_state = missing.value
            state: JobState | None = missing
        elif remote_state is None:
            raise ProtocolError(f"{what}: the answer has no `{state_path}`", status_code=200)
        else:
            state = self.profile.states.get(normalise_state(remote_state))
        if state is None:
            noun = f"{self.profile.job_noun} {state_path.text.rsplit('.', 1)[-1]}"
            raise ProtocolError(
                f"{what}: unknown {noun} {one_line(remote_state, 60)!r} "
                f"(not in the profile's [states])"
            )
        remote_id = answer.text(fields.get("id", ()))
        status_url = answer.text(fields.get("status_url", ()))
        status_url = self._resolve(session, response, status_url) if status_url else None
        values = {
            "id": remote_id or known_id,
            "status_url": status_url or url or self._template_url(session, remote_id, request),
        }
        try:
            results = await self._results(session, answer, state, values, request)
        except ProtocolError as exc:  # the job has ended: the same answer will not read better
            raise _EndedUnreadable(exc.user_message, remote_state=remote_state) from None
        return RemoteStatus(
            state=state,
            remote_state=remote_state,
            remote_id=remote_id,
            status_url=status_url,
            progress=_progress_of(answer, fields),
            created_at=parse_timestamp(answer.text(fields.get("created", ()))),
            finished_at=parse_timestamp(answer.text(fields.get("finished", ()))),
            error=self._error(answer, state),
            log=_log(answer, fields.get("log", ())),
            results=results,
            retry_after=parse_retry_after(response.headers),
            raw=raw_text(response),
        )

    def _error_answer(
        self, response: httpx.Response, *, what: str, known_id: str | None
    ) -> RemoteStatus | None:
        """A poll's HTTP error answer (a status in `[poll] error_answers`) read as a status
        answer: the job's end when its state maps to failed or cancelled (UniProt answers a
        failed job with 500 or 400 and `{"jobStatus": "ERROR", …}`); None (an ordinary HTTP
        error, retried) for a body without such a state."""
        try:
            answer = _Answer(self.profile, response, what=what)
        except ProtocolError:
            return None
        fields = self.profile.fields
        remote_state = answer.text(fields["state"])
        state = self.profile.states.get(normalise_state(remote_state)) if remote_state else None
        if remote_state is None or state not in (JobState.FAILED, JobState.CANCELLED):
            return None
        error = self._error(answer, state)
        if not answer.text(fields.get("error", ())):  # no reason given: at least the status
            error = f"{error} (HTTP {response.status_code})"
        return RemoteStatus(
            state=state,
            remote_state=remote_state,
            remote_id=answer.text(fields.get("id", ())) or known_id,
            error=error,
            log=_log(answer, fields.get("log", ())),
            raw=raw_text(response),
        )

    def _error(self, answer: _Answer, state: JobState) -> str | None:
        if state not in (JobState.FAILED, JobState.CANCELLED):
            return None
        found = answer.text(self.profile.fields.get("error", ()))
        if found:
            return one_line(found)
        if state is JobState.CANCELLED:
            return f"the {self.profile.job_noun} was cancelled"
        return f"{self.profile.name}: the {self.profile.job_noun} failed (no reason given)"

    async def _results(
        self,
        session: ApiSession,
        answer: _Answer,
        state: JobState,
        values: dict[str, str | None],
        request: SubmitRequest | None,
    ) -> tuple[ResultLink, ...]:
        if state is not JobState.SUCCEEDED:
            return ()
        job_id = values["id"]
        found: list[_Found] = []
        for spec in self.profile.results:
            source = answer
            if spec.fetch is not None:  # SP-API: getReport names a document, getReportDocument
                source = await self._fetch(session, spec.fetch, answer, values)  # gives its link
            if spec.url_template is not None:
                what = f"{self.id}: results of {self.profile.job_noun} {job_id}"
                built = _fill(spec.url_template, values, answer.lookup, url=True, what=what)
                items: list[object] = [session.url(str(built))]
            else:
                items = [v for v in _as_list(source.first(spec.url)) if _url_of(v)]
            for n, item in enumerate(items, start=1):
                link = self._resolve(session, source.response, _url_of(item) or "")
                url = _merged_query(link, spec.query)
                name = self._filename(spec, url, n, job_id, request, answer)
                if spec.pages is not None:  # one result a page (or a link), each numbered
                    found += await self._paged(session, spec, url, name, (job_id, source))
                    continue
                checksum = _checksum(spec, source, item, len(items))
                what = f"{self.id}: the link {n}"
                headers = self._link_headers(
                    session, spec.link_headers, item, source, len(items), what=what
                )
                expires = _expiry(spec, source, url)
                found.append(_Found(url, name, spec, source, checksum, expires, headers))
        names = unique_names([f.name for f in found])
        return tuple(
            ResultLink(
                url=f.url,
                expires_at=f.expires_at,
                filename_hint=name,
                needs_auth=f.spec.needs_auth,
                checksum=f.checksum,
                decompress=_decompress(f.spec, f.source, name),
                headers=f.headers,
            )
            for f, name in zip(found, names, strict=True)
        )

    async def _paged(
        self,
        session: ApiSession,
        spec: ResultSpec,
        first: str,
        name: str,
        job: tuple[str | None, _Answer],
    ) -> list[_Found]:
        """The results of a paged entry: one a page, or with `links` one a link the pages list,
        numbered from 1 (three digits wide, wider past 999). `job` is the job's id and the
        answer the entry was read from."""
        assert spec.pages is not None
        job_id, source = job
        pages = await self._pages(session, spec.pages, first, job_id)
        no_headers: tuple[tuple[str, str], ...] = ()
        if not spec.pages.links:
            found = [(url, _expiry(spec, source, url), no_headers) for url, _ in pages]
        else:
            found = []
            for _, page in pages:
                assert page is not None  # a chain of pages that list links reads every body
                for item in _as_list(page.first(spec.pages.links)):
                    link = _link_of(item, spec.pages.link_url)
                    if link is not None:
                        url = self._resolve(session, page.response, link)
                        what = f"{self.id}: the link {len(found) + 1}"
                        headers = self._link_headers(
                            session, spec.pages.link_headers, item, None, 0, what=what
                        )
                        found.append((url, _link_expiry(spec, spec.pages, page, item, url),
                                      headers))  # fmt: skip
        width = max(3, len(str(len(found))))
        own = spec.pages.links and spec.filename is None  # each link named from its own URL
        return [
            _Found(url, _numbered(filename_from_url(url, default=name) if own else name,
                                  str(number).zfill(width)), spec, source, None, expires, headers)
            for number, (url, expires, headers) in enumerate(found, start=1)
        ]  # fmt: skip

    def _link_headers(
        self,
        session: ApiSession,
        paths: tuple[FieldPath, ...],
        item: object,
        answer: _Answer | None,
        count: int,
        *,
        what: str,
    ) -> tuple[tuple[str, str], ...]:
        """The headers a link's GET must send (`link_headers`: an object of name: value in the
        link's own object, or in the answer when it gives one link). Their values are secrets
        (Databricks: "should not expose these values in a log"): the engine's redactor learns
        them here, before the answer that holds them is kept anywhere. `ProtocolError` for
        headers that are not an object of strings, or that Jobdock sets itself."""
        if not paths:
            return ()
        value = None
        if isinstance(item, dict):
            found = (lookup_json(item, p) for p in paths)
            value = next((v for v in found if v is not None), None)
        if value is None and answer is not None and count == 1:
            value = answer.first(paths)
        if value is None or value == {}:
            return ()
        if not isinstance(value, dict):
            raise ProtocolError(f"{what}: its headers are not an object of name: value")
        headers: list[tuple[str, str]] = []
        for name, text in value.items():
            problem = _header_problem(name, text)
            if problem is not None:
                raise ProtocolError(f"{what}: header {one_line(str(name), 60)!r} {problem}")
            session.redactor.add(text)
            headers.append((name, text))
        return tuple(headers)

    async def _fetch(
        self, session: ApiSession, template: str, answer: _Answer, values: dict[str, str | None]
    ) -> _Answer:
        """The answer to the second request a result needs (its URL built from the first)."""
        what = f"{self.id}: fetching the result of {self.profile.job_noun} {values['id']}"
        url = session.url(str(_fill(template, values, answer.lookup, url=True, what=what)))
        response = await session.request("GET", url)
        raise_for_status(response, what=what)
        return _Answer(self.profile, response, what=what)

    async def _pages(
        self, session: ApiSession, spec: PageSpec, first: str, job_id: str | None
    ) -> list[tuple[str, _Answer | None]]:
        """Every page of a paged result, from the first, with its answer when its body was
        read: each page's answer names the next (so the chain is walked here, while the result
        list is built). A `header:` chain reads only each page's headers (the body is left
        unread: the download fetches it); a body chain, and every chain of pages that list
        links, reads each page's body, which must then fit an answer's limit."""
        what = f"{self.id}: pages of the result of {self.profile.job_noun} {job_id}"
        urls = [first]
        pages: list[tuple[str, _Answer | None]] = []
        while True:
            value, answer = await self._next_page(session, spec, urls[-1], what=what)
            pages.append((urls[-1], answer))
            if value is None or value == spec.end_value:
                return pages
            if spec.next_query is not None:
                following = self._strip_credential(
                    session, _with_query(first, spec.next_query, value)
                )
            else:
                following = self._strip_credential(session, urljoin(urls[-1], value))
            if following in urls:
                again = urls.index(following) + 1
                raise ProtocolError(f"{what}: page {len(urls)} names page {again} as the next")
            if len(urls) >= spec.max_pages:
                raise ProtocolError(f"{what}: more than {spec.max_pages} pages (max_pages)")
            urls.append(following)

    async def _next_page(
        self, session: ApiSession, spec: PageSpec, url: str, *, what: str
    ) -> tuple[str | None, _Answer | None]:
        """What page `url`'s answer says of the next page (None: none), and the answer when
        its body was read."""
        what = f"{what}: {safe_url(url)}"
        if spec.links or any(path.header is None for path in spec.next):
            response = await session.request("GET", url)
            raise_for_status(response, what=what)
            answer = _Answer(self.profile, response, what=what)
            return answer.text(spec.next), answer
        async with asyncio.timeout(session.deadline):
            async with session.stream("GET", url) as streamed:
                if streamed.status_code >= 400:
                    await read_limited(streamed, limit=MAX_ANSWER_BYTES)
                raise_for_status(streamed, what=what)
                found = (lookup_header(streamed, path) for path in spec.next)
                return next((value for value in found if value), None), None  # the body unread

    def _strip_credential(self, session: ApiSession, url: str) -> str:
        """`url` without the credentials an answer may echo into the URLs it gives, the rest
        kept byte for byte: every query parameter (and user info) that carries a secret the
        session's redactor knows — the account's secret, its bearer or OAuth access token
        (Meta's `paging.next` carries the `access_token` the request presented) — and with
        `query` auth the profile's parameter, whatever its value. The session's own auth still
        authenticates the URL on the account's origin and its result hosts; what Jobdock
        follows, stores and shows holds no credential."""
        url = session.redactor.strip(url)
        auth = self.profile.auth
        return _without_param(url, str(auth.name)) if auth.kind == "query" else url

    def _filename(
        self,
        spec: ResultSpec,
        url: str,
        n: int,
        job_id: str | None,
        request: SubmitRequest | None,
        answer: _Answer,
    ) -> str:
        params = dict(self.profile.submit.query)
        params.update(dict(request.params) if request else {})
        template = spec.filename or f"result-{n}"

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "id":
                return re.sub(r"[^A-Za-z0-9._-]", "_", job_id or "result")
            if name == "n":
                return str(n)
            if name == "page":
                return "{page}"  # numbered by `_numbered`
            if name.startswith("answer."):  # Databricks' `manifest.format`: CSV → csv
                found = answer.lookup(name[len("answer.") :]) or ""
                return re.sub(r"[^a-z0-9_-]", "_", found.lower())
            return re.sub(r"[^a-z0-9]", "", params.get(name[len("param.") :], "").lower())

        default = re.sub(r"\{([^{}]*)\}", fill, template)
        if spec.pages is not None and spec.filename is not None:
            return default  # every page has the same URL path: the profile's name, numbered
        from_url = filename_from_url(url, default="") if spec.filename_from_url else ""
        if "." in from_url or (from_url and spec.filename is None):
            return from_url
        return default

    # URLs ----------------------------------------------------------------------------------
    def _finders(self) -> list[str]:
        return [p.text for name in ("id", "status_url") for p in self.profile.fields.get(name, ())]

    def _template_url(
        self, session: ApiSession, job_id: str | None, request: SubmitRequest | None
    ) -> str | None:
        template = self.profile.status_url_template
        if not (template and job_id):
            return None
        path = ((request.path if request else "") or self.profile.submit.path).rstrip("/")
        # An id that is a URI (`gid://shopify/BulkOperation/1`) is one path segment, encoded.
        return session.url(expand_job(template, {"id": job_id, "path": path}, _none, url=True))

    def _id_in_url(self, url: str) -> str | None:
        template = self.profile.status_url_template
        if not template or "id" not in self.profile.fields:
            return None
        parts = [re.escape(p) for p in re.split(r"\{(?:id|path)\}", template.strip("/"))]
        markers = re.findall(r"\{(id|path)\}", template)
        pieces = zip(parts, markers, strict=False)
        pattern = "".join(p + ("([^?#]+?)" if m == "id" else ".*") for p, m in pieces)
        match = re.search("/" + pattern + re.escape(parts[-1]) + r"/?$", urlsplit(url).path)
        return unquote(match.group(1)) if match and match.groups() else None

    def _resolve(self, session: ApiSession, response: httpx.Response, ref: str) -> str:
        """`ref` made absolute against the URL that answered, without any credential in its
        query (`_strip_credential`), the base's or its own."""
        base = self._strip_credential(session, str(response.url))
        return self._strip_credential(session, urljoin(base, ref.strip()))

    def _check_session(self, session: ApiSession) -> None:
        auth = self.profile.auth
        if auth.kind == "query" and str(auth.name) not in dict(session.auth_params):
            raise ConfigError(
                f"{self.id}: query-parameter auth needs an engine that passes `auth_params` "
                "to the account's session"
            )


@dataclasses.dataclass(frozen=True)
class _Found:
    """One result found in the answers, before its name is made unique."""

    url: str
    name: str
    spec: ResultSpec
    source: _Answer  # the job's answer (or the `fetch` answer) it was read from
    checksum: str | None
    expires_at: datetime | None
    headers: tuple[tuple[str, str], ...] = ()


# Headers a link may not set: the request's framing and routing, and those the download sets
# itself (its resume and its undecoded bytes).
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive",
                          "te", "trailer", "upgrade", "proxy-authorization", "range", "if-range",
                          "accept-encoding"})  # fmt: skip
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")


def _header_problem(name: object, value: object) -> str | None:
    """Why a link's header cannot be sent (None: it can)."""
    if not isinstance(name, str) or not _HEADER_NAME.match(name):
        return "is not a header name"
    if name.lower() in _OWN_HEADERS:
        return "is one Jobdock sets itself"
    if not isinstance(value, str):
        return "has a value that is not a string"
    if (
        len(value) > 8192
        or not value.isascii()
        or any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value)
    ):
        return "has a value that cannot be sent (control characters, or too long)"
    return None


def _link_of(item: object, paths: tuple[FieldPath, ...]) -> str | None:
    """The URL of one link a page lists: the item itself, its value at the first of `paths`
    that has one, or its `url`."""
    if isinstance(item, dict) and paths:
        item = next((v for v in (lookup_json(item, p) for p in paths) if v), None)
    return _url_of(item)


def _numbered(name: str, page: str) -> str:
    """The name of one page: `{page}` filled in, else the number before the first extension
    (`results.csv` → `results-001.csv`)."""
    if "{page}" in name:
        return name.replace("{page}", page)
    stem, dot, extension = name.partition(".")
    return f"{stem}-{page}{dot}{extension}" if stem else f"{name}-{page}"


def _merged_query(url: str, query: tuple[tuple[str, str], ...]) -> str:
    """`url` with the parameters of `query` it does not have added after its own query, which
    is kept as it is (`[results] query`: UniProt's `format` and `size` on a `Location`)."""
    if not query:
        return url
    parts = urlsplit(url)
    own = {k for k, _ in parse_qsl(parts.query, True)}
    added = urlencode([(k, v) for k, v in query if k not in own])
    if not added:
        return url
    return urlunsplit(parts._replace(query=f"{parts.query}&{added}" if parts.query else added))


def _without_param(url: str, name: str) -> str:
    """`url` without its query parameters named `name`, the others kept byte for byte."""
    parts = urlsplit(url)
    pairs = parts.query.split("&") if parts.query else []
    kept = [p for p in pairs if unquote_plus(p.partition("=")[0]) != name]
    return url if len(kept) == len(pairs) else urlunsplit(parts._replace(query="&".join(kept)))


def _with_query(url: str, name: str, value: str) -> str:
    """`url` with query parameter `name` set to `value` (replacing it, keeping the others)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, True) if k != name]
    return urlunsplit(parts._replace(query=urlencode([*kept, (name, value)])))


def _sniff(request: SubmitRequest) -> str:
    text = (request.body or b"").lstrip()
    return "application/xml" if text.startswith(b"<") else "application/json"


class _EndedUnreadable(ProtocolError):
    """A job's answer says it ended, but the rest of it cannot be read."""

    def __init__(self, message: str, *, remote_state: str) -> None:
        super().__init__(message)
        self.remote_state = remote_state


def _none(_: str) -> None:
    return None


def _fill(
    value: object, values: dict[str, str | None], answer: Any, *, url: bool, what: str
) -> Any:
    try:
        return expand_job(copy.deepcopy(value), values, answer, url=url)
    except KeyError as exc:
        raise ProtocolError(f"{what}: no value for {{{exc.args[0]}}} in the answer") from None


def _looks_like(answers: str, response: httpx.Response) -> bool:
    text = response.text.lstrip() if response.content else ""
    return text.startswith("<") if answers == "xml" else text.startswith(("{", "["))


def _progress(text: str | None) -> float | None:
    try:
        value = float(text.rstrip("%")) if text else None
    except ValueError:
        return None
    return value if value is not None and 0.0 <= value <= 100.0 else None


def _progress_of(answer: _Answer, fields: Mapping[str, tuple[FieldPath, ...]]) -> float | None:
    """The `progress` path's percent, or `progress_done` of `progress_total` as one (Mailchimp's
    `finished_operations` of `total_operations`); None when the answer gives no usable one."""
    if "progress_done" not in fields:
        return _progress(answer.text(fields.get("progress", ())))
    try:
        done = float(answer.text(fields["progress_done"]) or "nan")
        total = float(answer.text(fields.get("progress_total", ())) or "nan")
    except ValueError:
        return None
    if not (math.isfinite(done) and math.isfinite(total)) or total <= 0:
        return None
    return _progress(str(100.0 * done / total))


def _log(answer: _Answer, paths: tuple[FieldPath, ...]) -> str | None:
    for path in paths:
        value = answer.get(path)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, dict | list) and value:
            return json.dumps(value, indent=2)
    return None


def _as_list(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    return [value] if value else []


def _url_of(item: object) -> str | None:
    # Lists of links come as bare strings or as `{"url": ...}` objects.
    value = item.get("url") if isinstance(item, dict) else item
    return value.strip() if isinstance(value, str) and value.strip() else None


def _checksum(spec: ResultSpec, answer: _Answer, item: object, count: int) -> str | None:
    """The link's checksum: in its own `{"url": ...}` object, or in the answer when the entry
    gives one link (`"<algorithm>:<hex>"`, see `integrity.api_checksum`)."""
    if not spec.checksum or spec.checksum_algorithm is None:
        return None
    value = None
    for path in spec.checksum if isinstance(item, dict) else ():
        value = value if value is not None else lookup_json(item, path)
    if value is None and count == 1:
        value = answer.text(spec.checksum)
    return api_checksum(spec.checksum_algorithm, value)


def _decompress(spec: ResultSpec, answer: _Answer, name: str) -> str | None:
    """`gzip` when the answer says so (`compressionAlgorithm: GZIP`) or, with `decompress`,
    when the file is named `.gz`."""
    said = answer.text(spec.compression) if spec.compression else None
    if said is not None:
        return "gzip" if said.strip().lower() == "gzip" else None
    return "gzip" if spec.decompress and name.lower().endswith(".gz") else None


def _link_expiry(
    spec: ResultSpec, pages: PageSpec, page: _Answer, item: object, url: str
) -> datetime | None:
    """When a link a page lists expires: its own `link_expires_at` (Databricks' `expiration`),
    else as the entry's `expiry` or `ttl` says (from the page's answer)."""
    if pages.link_expires_at:
        found = (
            (lookup_json(item, p) for p in pages.link_expires_at) if isinstance(item, dict) else ()
        )
        return parse_timestamp(next((v for v in found if v not in (None, "")), None))
    return _expiry(spec, page, url)


def _expiry(spec: ResultSpec, answer: _Answer, url: str) -> datetime | None:
    if spec.expiry == "presigned-url":
        return presigned_expiry(url)
    if spec.expires_at:
        return parse_timestamp(answer.text(spec.expires_at))
    if spec.ttl is not None:
        # From the answer's own time, on the server's clock like every other expiry time (the
        # engine moves them all onto the local clock, `expiry.ClockSkew`).
        sent = server_date(answer.response.headers) or datetime.now(UTC)
        return sent + timedelta(seconds=spec.ttl)
    return None


def _hosts(option: str) -> tuple[str, ...]:
    """An account's `result_hosts` option (host names or origins, comma separated) as origins;
    `ValueError` for one that is neither."""
    return tuple(result_origin(h) for h in option.split(",") if h.strip())
