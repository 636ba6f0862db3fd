"""The URLs of a profile's jobs and results: a job's status URL built from its id (the profile's
`status_url_template`) and the id read back out of such a URL, links made absolute against the
URL that answered, with any credential an answer echoes into them taken out (`strip_credential`),
and the query changes the result and page links need. An account's `result_hosts` option is read
here too (`result_hosts`), as origins.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, unquote_plus, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from jobdock.core.model.job import SubmitRequest
from jobdock.core.net.http import ApiSession
from jobdock.core.providers.profiles.schema import Profile, result_origin
from jobdock.core.providers.profiles.templates import expand_job


def template_url(
    profile: Profile, session: ApiSession, job_id: str | None, request: SubmitRequest | None
) -> str | None:
    template = profile.status_url_template
    if not (template and job_id):
        return None
    path = ((request.path if request else "") or profile.submit.path).rstrip("/")
    # An id that is a URI (`gid://shopify/BulkOperation/1`) is one path segment, encoded.
    return session.url(expand_job(template, {"id": job_id, "path": path}, _none, url=True))


def id_in_url(profile: Profile, url: str) -> str | None:
    template = profile.status_url_template
    if not template or "id" not in profile.fields:
        return None
    parts = [re.escape(p) for p in re.split(r"\{(?:id|path)\}", template.strip("/"))]
    markers = re.findall(r"\{(id|path)\}", template)
    pieces = zip(parts, markers, strict=False)
    pattern = "".join(p + ("([^?#]+?)" if m == "id" else ".*") for p, m in pieces)
    match = re.search("/" + pattern + re.escape(parts[-1]) + r"/?$", urlsplit(url).path)
    return unquote(match.group(1)) if match and match.groups() else None


def resolve(profile: Profile, session: ApiSession, response: httpx.Response, ref: str) -> str:
    """`ref` made absolute against the URL that answered, without any credential in its
    query (`strip_credential`), the base's or its own."""
    base = strip_credential(profile, session, str(response.url))
    return strip_credential(profile, session, urljoin(base, ref.strip()))


def strip_credential(profile: Profile, session: ApiSession, url: str) -> str:
    """`url` without the credentials an answer may echo into the URLs it gives, the rest
    kept byte for byte: every query parameter (and user info) that carries a secret the
    session's redactor knows — the account's secret, its bearer or OAuth access token
    (Meta's `paging.next` carries the `access_token` the request presented) — and with
    `query` auth the profile's parameter, whatever its value. The session's own auth still
    authenticates the URL on the account's origin and its result hosts; what Jobdock
    follows, stores and shows holds no credential."""
    url = session.redactor.strip(url)
    auth = profile.auth
    return _without_param(url, str(auth.name)) if auth.kind == "query" else url


def merged_query(url: str, query: tuple[tuple[str, str], ...]) -> str:
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


def with_query(url: str, name: str, value: str) -> str:
    """`url` with query parameter `name` set to `value` (replacing it, keeping the others)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, True) if k != name]
    return urlunsplit(parts._replace(query=urlencode([*kept, (name, value)])))


def result_hosts(option: str) -> tuple[str, ...]:
    """An account's `result_hosts` option (host names or origins, comma separated) as origins;
    `ValueError` for one that is neither."""
    return tuple(result_origin(h) for h in option.split(",") if h.strip())


def _none(_: str) -> None:
    return None
