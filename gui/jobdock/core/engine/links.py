"""Which fresh result link is which saved result: a stable identity for links across refreshes.

An API that re-signs its links on every answer may also list them in another order, so a link is
known by what stays when it is re-signed: scheme, host and path plus the query parameters that are
not part of a signature (`?part=1` and `?part=2` are two files; `X-Amz-Signature=…` changing is the
same file). A refresh is matched to the results already known in rounds, each only where it is
unambiguous: the same identity; then the same path, picking the one sharing most query parameters
(a signature scheme whose parameter names are not listed below); then a job that has one link
before and after. Whatever stays unmatched is a new result: a saved file is never handed to a
link for other bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit

from jobdock.core.model.job import Result, origin_of

# Query parameters of the URL-signing schemes of the object stores (they change on every
# re-signing). AWS SigV4 / GCS V4 use prefixes; SigV2, CloudFront and GCS V2 the plain names:
# https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-creating-signed-url-canned-policy.html
# https://cloud.google.com/storage/docs/access-control/signed-urls
_SIGNING_PREFIXES = ("x-amz-", "x-goog-")
_SIGNING_NAMES = frozenset(
    {"awsaccesskeyid", "signature", "expires", "key-pair-id", "policy", "googleaccessid"}
)
# Azure SAS tokens: only recognised as such when the query carries `sig`, since the names are
# short enough to mean something else elsewhere.
# https://learn.microsoft.com/en-us/rest/api/storageservices/create-service-sas
_SAS_NAMES = frozenset(
    "sv ss srt sp se st spr sip sig si sr sdd skoid sktid skt ske sks skv saoid suoid scid ses "
    "rscc rscd rsce rscl rsct".split()
)


def _query(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def _is_signing(name: str, sas: bool) -> bool:
    lower = name.lower()
    return (
        lower.startswith(_SIGNING_PREFIXES)
        or lower in _SIGNING_NAMES
        or (sas and lower in _SAS_NAMES)
    )


def stable_params(url: str) -> list[tuple[str, str]]:
    """The URL's query parameters that are not part of a signature, sorted."""
    pairs = _query(url)
    sas = any(k.lower() == "sig" for k, _ in pairs)
    return sorted((k, v) for k, v in pairs if not _is_signing(k, sas))


def link_path(url: str) -> str:
    """scheme://host[:port]/path: the link without its query."""
    return origin_of(url) + (urlsplit(url).path or "/")


def link_key(url: str) -> str:
    """The link's identity: its path and the query parameters that are not a signature."""
    kept = stable_params(url)
    return link_path(url) + ("?" + urlencode(kept) if kept else "")


def identity(result: Result) -> str:
    """What a result is known by: its key, or its URL's for one stored before keys existed."""
    return result.key or link_key(result.url)


def unique_keys(keys: Sequence[str]) -> list[str]:
    """`keys` with repeats told apart (`…#2`, `…#3`): two links to the same file stay two."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        out.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
    return out


def pair_links(old: Sequence[tuple[str, str]], new_urls: Sequence[str]) -> list[int | None]:
    """For each new URL, the index in `old` ((key, url) pairs) of the result it refreshes, or
    None for a new result. Each old result is used at most once."""
    pairs: list[int | None] = [None] * len(new_urls)
    used: set[int] = set()
    by_key = {key: i for i, (key, _) in enumerate(old)}
    for n, key in enumerate(unique_keys([link_key(u) for u in new_urls])):  # the same identity
        i = by_key.get(key)
        if i is not None and i not in used:
            pairs[n] = i
            used.add(i)
    _pair_by_path([u for _, u in old], new_urls, pairs, used)
    if len(old) == len(new_urls) == 1 and pairs[0] is None:
        pairs[0] = 0  # one link before and one after: the same result under a new address
    return pairs


def _pair_by_path(
    old_urls: Sequence[str], new_urls: Sequence[str], pairs: list[int | None], used: set[int]
) -> None:
    """Pair what is left on the same path: alone on it on both sides, or each the other's
    single closest match (most query parameters in common)."""
    for n, url in enumerate(new_urls):
        if pairs[n] is not None:
            continue
        path = link_path(url)
        olds = [i for i, u in enumerate(old_urls) if i not in used and link_path(u) == path]
        news = [m for m, u in enumerate(new_urls) if pairs[m] is None and link_path(u) == path]
        best = _closest(url, olds, old_urls)
        if best is not None and _closest(old_urls[best], news, new_urls) == n:
            pairs[n] = best
            used.add(best)


def _shared(a: str, b: str) -> int:
    return len(set(_query(a)) & set(_query(b)))


def _closest(url: str, candidates: Sequence[int], pool: Sequence[str]) -> int | None:
    """The candidate sharing most query parameters with `url`; None on a tie."""
    scored = sorted(((_shared(url, pool[i]), i) for i in candidates), reverse=True)
    if not scored or (len(scored) > 1 and scored[0][0] == scored[1][0]):
        return None
    return scored[0][1]
