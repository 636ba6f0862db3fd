"""The provider that follows any job-style API described by a `Profile`: submit the request,
read the job id, status URL, state, progress, times, error, log and result links from the answers
at the profile's paths (JSON or XML), map the raw state to a canonical one, and poll the status URL
(from the answer, or built from the job id) until the job ends. An unmapped raw state is a
`ProtocolError` naming the value. Query-parameter auth is never sent by this module: the engine
puts `auth_params` on the account's session, which merges them into the URL of every request to
the account's origin and of no other.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit
from xml.etree.ElementTree import Element

import httpx

from jobdock.core.errors import ConfigError, ProtocolError, UsageError
from jobdock.core.filenames import filename_from_url, unique_names
from jobdock.core.http import (
    ApiSession,
    expect_object,
    parse_json,
    parse_retry_after,
    raise_for_status,
    safe_url,
    server_date,
)
from jobdock.core.integrity import api_checksum
from jobdock.core.job import Account, Job, JobState, SubmitRequest
from jobdock.core.providers.base import (
    AccountForm,
    JobRef,
    PollPolicy,
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
from jobdock.core.providers.profile_paths import FieldPath, lookup_header, lookup_json, lookup_xml
from jobdock.core.providers.profile_schema import Profile, ResultSpec, normalise_state

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,199}$")
_NOW = re.compile(r"\{now(?:-(\d+)([smhd]))?\}")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class _Answer:
    """One answer, parsed once, with lookups at the profile's paths."""

    def __init__(self, profile: Profile, response: httpx.Response, *, what: str) -> None:
        self.response = response
        self.data: object = None
        self.root: Element | None = None
        if profile.answers == "xml":
            self.root = parse_xml(response.text) if response.content else None
            if self.root is None:
                raise ProtocolError(f"{what}: expected XML (HTTP {response.status_code})")
        else:
            self.data = expect_object(parse_json(response, what=what), what=what)

    def get(self, path: FieldPath) -> Any:
        if path.header is not None:
            return lookup_header(self.response, path)
        if self.root is not None:
            return lookup_xml(self.root, path)
        return lookup_json(self.data, path)

    def text(self, paths: tuple[FieldPath, ...]) -> str | None:
        for path in paths:
            value = self.get(path)
            value = value[0] if isinstance(value, list) and value else value
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                if str(value).strip():
                    return str(value).strip()
        return None


class ProfileProvider:
    """A provider made from a profile: see docs/profiles.md."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.id = profile.id
        self.display_name = profile.name
        self.default_base_url = profile.base_url
        self.secret_label = profile.secret_label
        self.poll_policy: PollPolicy = profile.poll
        self.account_form = AccountForm(user=profile.auth.kind == "basic")

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
        return {}

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
            body = _expand_now(spec.body).encode()
        elif spec.body is not None:
            body = json.dumps(_expand_now(copy.deepcopy(spec.body))).encode()
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
            raise UsageError(f"{self.id}: jobs are tracked by their status URL{like}, not {ref!r}")
        raise UsageError(
            f"{self.id}: {ref!r} is neither a {self.profile.id_noun} nor a status URL{like}"
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
            status = self._status(response, request=request, what=what)
            if status.remote_id is None and status.status_url is None:
                wanted = " or ".join(f"`{p}`" for p in self._finders())
                raise ProtocolError(f"{what}: the answer has no {wanted}")
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
        with guard(session, what=what):
            response = await session.request("GET", url)
            status = self._status(response, request=job.request, what=what)
        return status if status.status_url else dataclasses.replace(status, status_url=url)

    # reading answers -----------------------------------------------------------------------
    def _status(
        self, response: httpx.Response, *, request: SubmitRequest | None, what: str
    ) -> RemoteStatus:
        raise_for_status(response, what=what)
        answer = _Answer(self.profile, response, what=what)
        fields = self.profile.fields
        state_path = fields["state"][0]
        remote_state = answer.text(fields["state"])
        if remote_state is None:
            raise ProtocolError(f"{what}: the answer has no `{state_path}`", status_code=200)
        state = self.profile.states.get(normalise_state(remote_state))
        if state is None:
            noun = f"{self.profile.job_noun} {state_path.text.rsplit('.', 1)[-1]}"
            raise ProtocolError(
                f"{what}: unknown {noun} {one_line(remote_state, 60)!r} "
                f"(not in the profile's [states])"
            )
        remote_id = answer.text(fields.get("id", ()))
        status_url = answer.text(fields.get("status_url", ()))
        return RemoteStatus(
            state=state,
            remote_state=remote_state,
            remote_id=remote_id,
            status_url=self._resolve(response, status_url) if status_url else None,
            progress=_progress(answer.text(fields.get("progress", ()))),
            created_at=parse_timestamp(answer.text(fields.get("created", ()))),
            finished_at=parse_timestamp(answer.text(fields.get("finished", ()))),
            error=self._error(answer, state),
            log=_log(answer, fields.get("log", ())),
            results=self._results(answer, state, remote_id, request),
            retry_after=parse_retry_after(response.headers),
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
        return f"the {self.profile.job_noun} failed on {self.profile.name}'s side (no reason given)"

    def _results(
        self, answer: _Answer, state: JobState, job_id: str | None, request: SubmitRequest | None
    ) -> tuple[ResultLink, ...]:
        if state is not JobState.SUCCEEDED:
            return ()
        found: list[tuple[str, str, ResultSpec, str | None]] = []
        for spec in self.profile.results:
            items = [v for v in _as_list(answer.get(spec.url)) if _url_of(v)]
            for n, item in enumerate(items, start=1):
                url = self._resolve(answer.response, _url_of(item) or "")
                name = self._filename(spec, url, n, job_id, request)
                found.append((url, name, spec, _checksum(spec, answer, item, len(items))))
        names = unique_names([name for _, name, _, _ in found])
        return tuple(
            ResultLink(
                url=url,
                expires_at=_expiry(spec, answer, url),
                filename_hint=name,
                needs_auth=spec.needs_auth,
                checksum=checksum,
            )
            for (url, _, spec, checksum), name in zip(found, names, strict=True)
        )

    def _filename(
        self, spec: ResultSpec, url: str, n: int, job_id: str | None, request: SubmitRequest | None
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
            return re.sub(r"[^a-z0-9]", "", params.get(name[len("param.") :], "").lower())

        default = re.sub(r"\{([^{}]*)\}", fill, template)
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
        return session.url(template.format(id=job_id, path=path))

    def _id_in_url(self, url: str) -> str | None:
        template = self.profile.status_url_template
        if not template or "id" not in self.profile.fields:
            return None
        parts = [re.escape(p) for p in re.split(r"\{(?:id|path)\}", template.strip("/"))]
        markers = re.findall(r"\{(id|path)\}", template)
        pieces = zip(parts, markers, strict=False)
        pattern = "".join(p + ("([^/?#]+)" if m == "id" else ".*?") for p, m in pieces)
        match = re.search("/" + pattern + re.escape(parts[-1]) + r"/?$", urlsplit(url).path)
        return match.group(1) if match and match.groups() else None

    def _resolve(self, response: httpx.Response, ref: str) -> str:
        """`ref` made absolute against the URL that answered, without any query credential."""
        base = urlsplit(str(response.url))
        if self.profile.auth.kind == "query":
            kept = [(k, v) for k, v in parse_qsl(base.query, True) if k != self.profile.auth.name]
            base = base._replace(query=urlencode(kept))
        return urljoin(urlunsplit(base), ref.strip())

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


def _expand_now(value: Any) -> Any:
    """`{now}` and `{now-24h}` (s, m, h, d) in strings, as ISO 8601 UTC to the second."""
    if isinstance(value, str):
        now = datetime.now(UTC).replace(microsecond=0)

        def fill(match: re.Match[str]) -> str:
            amount, unit = match.groups()
            when = now - timedelta(**{_UNITS[unit]: int(amount)}) if amount else now
            return when.isoformat().replace("+00:00", "Z")

        return _NOW.sub(fill, value)
    if isinstance(value, dict):
        return {k: _expand_now(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_now(v) for v in value]
    return value


def _progress(text: str | None) -> float | None:
    try:
        value = float(text.rstrip("%")) if text else None
    except ValueError:
        return None
    return value if value is not None and 0.0 <= value <= 100.0 else None


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
    if spec.checksum is None or spec.checksum_algorithm is None:
        return None
    value = lookup_json(item, spec.checksum) if isinstance(item, dict) else None
    if value is None and count == 1:
        value = answer.text((spec.checksum,))
    return api_checksum(spec.checksum_algorithm, value)


def _expiry(spec: ResultSpec, answer: _Answer, url: str) -> datetime | None:
    if spec.expiry == "presigned-url":
        return presigned_expiry(url)
    if spec.expires_at is not None:
        return parse_timestamp(answer.text((spec.expires_at,)))
    if spec.ttl is not None:
        # From the answer's own time, on the server's clock like every other expiry time (the
        # engine moves them all onto the local clock, `expiry.ClockSkew`).
        sent = server_date(answer.response.headers) or datetime.now(UTC)
        return sent + timedelta(seconds=spec.ttl)
    return None
