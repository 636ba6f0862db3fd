"""The result links of a job that succeeded, read as the profile's `[[results]]` say: each
entry's links from the job's answer, from a URL template, or from the answer to a second request
(`fetch`); a paged entry gives one result a page, or one a link its pages list (pages.py). Each
link gets its file name (from the profile's template or the link's URL, made unique), its checksum,
expiry time, compression and the headers its GET must send, whose values the session's redactor
learns before the answer that holds them is kept anywhere.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

from jobdock.core.download.filenames import filename_from_url, unique_names
from jobdock.core.download.integrity import api_checksum
from jobdock.core.model.errors import ProtocolError
from jobdock.core.model.job import JobState, SubmitRequest
from jobdock.core.net.http import ApiSession, raise_for_status, server_date
from jobdock.core.providers.base import ResultLink
from jobdock.core.providers.common import one_line, parse_timestamp, presigned_expiry
from jobdock.core.providers.profiles.answer import Answer, fill
from jobdock.core.providers.profiles.pages import walk_pages
from jobdock.core.providers.profiles.paths import FieldPath, lookup_json
from jobdock.core.providers.profiles.schema import PageSpec, Profile, ResultSpec
from jobdock.core.providers.profiles.urls import merged_query, resolve


async def read_results(
    profile: Profile,
    session: ApiSession,
    answer: Answer,
    state: JobState,
    values: dict[str, str | None],
    request: SubmitRequest | None,
) -> tuple[ResultLink, ...]:
    if state is not JobState.SUCCEEDED:
        return ()
    job_id = values["id"]
    found: list[_Found] = []
    for spec in profile.results:
        source = answer
        if spec.fetch is not None:  # SP-API: getReport names a document, getReportDocument
            source = await _fetch(profile, session, spec.fetch, answer, values)  # gives its link
        if spec.url_template is not None:
            what = f"{profile.id}: results of {profile.job_noun} {job_id}"
            built = fill(spec.url_template, values, answer.lookup, url=True, what=what)
            items: list[object] = [session.url(str(built))]
        else:
            items = [v for v in _as_list(source.first(spec.url)) if _url_of(v)]
        for n, item in enumerate(items, start=1):
            link = resolve(profile, session, source.response, _url_of(item) or "")
            url = merged_query(link, spec.query)
            name = _filename(profile, spec, url, n, job_id, request, answer)
            if spec.pages is not None:  # one result a page (or a link), each numbered
                found += await _paged(profile, session, spec, url, name, (job_id, source))
                continue
            checksum = _checksum(spec, source, item, len(items))
            what = f"{profile.id}: the link {n}"
            headers = _link_headers(session, spec.link_headers, item, source, len(items), what=what)
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
    profile: Profile,
    session: ApiSession,
    spec: ResultSpec,
    first: str,
    name: str,
    job: tuple[str | None, Answer],
) -> list[_Found]:
    """The results of a paged entry: one a page, or with `links` one a link the pages list,
    numbered from 1 (three digits wide, wider past 999). `job` is the job's id and the
    answer the entry was read from."""
    assert spec.pages is not None
    job_id, source = job
    pages = await walk_pages(profile, session, spec.pages, first, job_id)
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
                    url = resolve(profile, session, page.response, link)
                    what = f"{profile.id}: the link {len(found) + 1}"
                    headers = _link_headers(
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
    session: ApiSession,
    paths: tuple[FieldPath, ...],
    item: object,
    answer: Answer | None,
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
    profile: Profile,
    session: ApiSession,
    template: str,
    answer: Answer,
    values: dict[str, str | None],
) -> Answer:
    """The answer to the second request a result needs (its URL built from the first)."""
    what = f"{profile.id}: fetching the result of {profile.job_noun} {values['id']}"
    url = session.url(str(fill(template, values, answer.lookup, url=True, what=what)))
    response = await session.request("GET", url)
    raise_for_status(response, what=what)
    return Answer(profile, response, what=what)


def _filename(
    profile: Profile,
    spec: ResultSpec,
    url: str,
    n: int,
    job_id: str | None,
    request: SubmitRequest | None,
    answer: Answer,
) -> str:
    params = dict(profile.submit.query)
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


@dataclasses.dataclass(frozen=True)
class _Found:
    """One result found in the answers, before its name is made unique."""

    url: str
    name: str
    spec: ResultSpec
    source: Answer  # the job's answer (or the `fetch` answer) it was read from
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


def _as_list(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    return [value] if value else []


def _url_of(item: object) -> str | None:
    # Lists of links come as bare strings or as `{"url": ...}` objects.
    value = item.get("url") if isinstance(item, dict) else item
    return value.strip() if isinstance(value, str) and value.strip() else None


def _checksum(spec: ResultSpec, answer: Answer, item: object, count: int) -> str | None:
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


def _decompress(spec: ResultSpec, answer: Answer, name: str) -> str | None:
    """`gzip` when the answer says so (`compressionAlgorithm: GZIP`) or, with `decompress`,
    when the file is named `.gz`."""
    said = answer.text(spec.compression) if spec.compression else None
    if said is not None:
        return "gzip" if said.strip().lower() == "gzip" else None
    return "gzip" if spec.decompress and name.lower().endswith(".gz") else None


def _link_expiry(
    spec: ResultSpec, pages: PageSpec, page: Answer, item: object, url: str
) -> datetime | None:
    """When a link a page lists expires: its own `link_expires_at` (Databricks' `expiration`),
    else as the entry's `expiry` or `ttl` says (from the page's answer)."""
    if pages.link_expires_at:
        found = (
            (lookup_json(item, p) for p in pages.link_expires_at) if isinstance(item, dict) else ()
        )
        return parse_timestamp(next((v for v in found if v not in (None, "")), None))
    return _expiry(spec, page, url)


def _expiry(spec: ResultSpec, answer: Answer, url: str) -> datetime | None:
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
