"""Templates in profiles: `{now}` times in request bodies (`{now}`, `{now-24h}`, as ISO 8601,
`{now:epoch}` or `{now-1d:epoch_ms}` as epoch seconds or milliseconds), and a job's own values in
URLs and poll bodies (`{id}`, `{status_url}`, `{answer.PATH}` for a value in the job's last answer).
Only these names are placeholders: any other text in braces is left as it is, so a GraphQL query
(`{ node(id: $id) { status } }`) can sit in a body unescaped; URL templates are checked strictly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

_NOW = re.compile(r"\{now(?:-(\d+)([smhd]))?(?::(epoch|epoch_ms|iso))?\}")
_JOB = re.compile(r"\{(id|status_url|path|answer\.[^{}\s]+)\}")
_ANY = re.compile(r"\{([^{}]*)\}")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
NOW_FORMS = "{now}, {now-24h}, {now:epoch}, {now:epoch_ms}"


def expand_now(value: Any, *, now: datetime | None = None) -> Any:
    """`value` (a string, or JSON made of strings) with every `{now…}` filled in. A string that is
    exactly one `{now:epoch…}` becomes a JSON number."""
    if isinstance(value, str):
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        whole = _NOW.fullmatch(value)
        if whole and whole.group(3) in ("epoch", "epoch_ms"):
            return int(_now_text(whole, moment))
        return _NOW.sub(lambda m: _now_text(m, moment), value)
    if isinstance(value, dict):
        return {k: expand_now(v, now=now) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_now(v, now=now) for v in value]
    return value


def _now_text(match: re.Match[str], now: datetime) -> str:
    amount, unit, form = match.groups()
    when = now - timedelta(**{_UNITS[unit]: int(amount)}) if amount else now
    if form == "epoch":
        return str(int(when.timestamp()))
    if form == "epoch_ms":
        return str(int(when.timestamp() * 1000))
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def expand_job(
    value: Any, values: Mapping[str, str | None], answer: Callable[[str], str | None], *, url: bool
) -> Any:
    """`value` with `{id}`, `{status_url}`, `{path}` and `{answer.PATH}` filled in (`url`: each
    value percent-encoded but for `/`, except `{status_url}` and `{path}`), then `{now…}`.
    `KeyError` names a placeholder that has no value for this job."""
    if isinstance(value, dict):
        return {k: expand_job(v, values, answer, url=url) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_job(v, values, answer, url=url) for v in value]
    if not isinstance(value, str):
        return value

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        found = answer(name[len("answer.") :]) if name.startswith("answer.") else values.get(name)
        if found is None:
            raise KeyError(name)
        # In a URL a value is percent-encoded but keeps its slashes: AIP-151 names
        # (`operations/123`) are paths; a URI id's `:` is encoded (`gid%3A//shopify/…`).
        keep = name in ("status_url", "path")
        return quote(found, safe="/") if url and not keep else found

    return expand_now(_JOB.sub(fill, value))


def unknown_placeholders(text: str, allowed: set[str]) -> list[str]:
    """The `{…}` names in a URL template that are none of `allowed` (`answer.` stands for every
    `answer.PATH`) nor a `{now…}`."""
    bad = []
    for name in _ANY.findall(text):
        if _NOW.fullmatch("{" + name + "}") or name in allowed:
            continue
        if name.startswith("answer.") and "answer." in allowed and len(name) > len("answer."):
            continue
        bad.append(name)
    return bad
