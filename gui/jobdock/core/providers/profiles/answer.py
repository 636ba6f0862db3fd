"""One API answer as a profile reads it: parsed once (JSON or XML, as the profile's `answers`
says), then looked up at the profile's paths (docs/profiles.md), the first path with a value
winning. A redirect that was not followed is read from its status and headers alone; an answer
read leniently (`strict=False`) keeps what can be read, its headers, when its body cannot be
parsed. `fill` expands a template with a job's values and the answer's, naming a placeholder that
has no value as a `ProtocolError`.
"""

from __future__ import annotations

import copy
from typing import Any
from xml.etree.ElementTree import Element

import httpx

from jobdock.core.model.errors import ProtocolError
from jobdock.core.net.http import expect_object, parse_json
from jobdock.core.providers.common import parse_xml
from jobdock.core.providers.profiles.paths import (
    FieldPath,
    lookup_header,
    lookup_json,
    lookup_xml,
    parse_path,
)
from jobdock.core.providers.profiles.schema import Profile
from jobdock.core.providers.profiles.templates import expand_job


class Answer:
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


def _looks_like(answers: str, response: httpx.Response) -> bool:
    text = response.text.lstrip() if response.content else ""
    return text.startswith("<") if answers == "xml" else text.startswith(("{", "["))


def fill(value: object, values: dict[str, str | None], answer: Any, *, url: bool, what: str) -> Any:
    try:
        return expand_job(copy.deepcopy(value), values, answer, url=url)
    except KeyError as exc:
        raise ProtocolError(f"{what}: no value for {{{exc.args[0]}}} in the answer") from None
