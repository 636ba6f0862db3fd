"""Paths into API answers, as profiles write them: dotted steps with list indexes into JSON
(`data.items[0].url`), the same steps as element names into XML (relative to the root element,
namespaces ignored, `@name` as the last step reads an attribute), `header:Name` for a response
header, `link:REL` for the target of the RFC 8288 `Link` header's link with that relation
(`link:next`: GitHub's and UniProt's pages), `present:PATH` for the name of PATH's last step
when PATH has a value (which of `error` and `response` an AIP-151 operation carries), or
`http:status` for the answer's status code. `parse_path` refuses malformed paths with a message
fit for `profiles check`; the lookups are tolerant and answer `None` when any step misses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

import httpx

from jobdock.core.net.inputs import quoted

_STEP = re.compile(r"^(?P<name>[^.\[\]\s]*)(?P<indexes>(?:\[-?\d+\])*)$")
_INDEX = re.compile(r"\[(-?\d+)\]")
STATUS_PATH = "http:status"
PRESENT = "present:"
_HEADER = re.compile(r"^header:(?P<name>[!#$%&'*+.^_`|~0-9A-Za-z-]+)$")
_LINK = re.compile(r"^link:(?P<rel>[a-z][a-z0-9.-]*)$")  # a registered relation type (RFC 8288)
# One link-value of a `Link` header: `<target>` and its parameters, a quoted value kept whole.
_LINK_VALUE = re.compile(r'\s*<(?P<target>[^>]*)>(?P<params>(?:\s*;\s*[^;,=\s]+'
                         r'(?:\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;,"]*))?)*)\s*(?:,|$)')  # fmt: skip
_LINK_PARAM = re.compile(r'\s*;\s*(?P<name>[^;,=\s]+)(?:\s*=\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"'
                         r'|(?P<token>[^;,"]*)))?')  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One step: a key or element name (`None` for a bare `[0]`), then list indexes."""

    name: str | None
    indexes: tuple[int, ...] = ()


@dataclass(frozen=True)
class FieldPath:
    """A parsed path: steps into the body, or the name of a response header."""

    text: str
    steps: tuple[Step, ...] = ()
    header: str | None = None
    present: bool = False  # `present:PATH`: the last step's name when PATH has a value
    status: bool = False  # `http:status`: the HTTP status code
    rel: str | None = None  # `link:REL`: the `Link` header's target with this relation

    def __str__(self) -> str:
        return self.text


def parse_path(text: str) -> FieldPath:
    """A `FieldPath`, or `ValueError` saying what is wrong with `text`."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("expected a path like `data.items[0].url`, got an empty string")
    if text != text.strip():
        raise ValueError(f"path {quoted(text)} has leading or trailing spaces")
    if text == STATUS_PATH:
        return FieldPath(text=text, status=True)
    if text.startswith("http:"):
        raise ValueError(f"path {quoted(text)}: the only `http:` path is {STATUS_PATH!r}")
    if text.startswith(PRESENT):
        inner = parse_path(text[len(PRESENT) :])
        if inner.header or inner.status or inner.present or not inner.steps[-1].name:
            raise ValueError(
                f"path {quoted(text)}: `present:` must be followed by a path ending in a name"
            )
        return FieldPath(text=text, steps=inner.steps, present=True)
    link = _LINK.match(text)
    if link:
        return FieldPath(text=text, header="Link", rel=link.group("rel"))
    if text.startswith("link:"):
        raise ValueError(
            f"path {quoted(text)}: `link:` must be followed by a relation type like `next`"
        )
    header = _HEADER.match(text)
    if header:
        return FieldPath(text=text, header=header.group("name"))
    if text.startswith("header:"):
        raise ValueError(f"path {quoted(text)}: `header:` must be followed by a header name")
    steps = []
    raws = text.split(".")
    for position, raw in enumerate(raws, start=1):
        match = _STEP.match(raw)
        if not raw or match is None or (not match.group("name") and not match.group("indexes")):
            raise ValueError(
                f"path {quoted(text)}: bad step {quoted(raw)} (steps are names with optional [N] "
                "indexes, joined by dots, e.g. `data.items[0].url`)"
            )
        name = match.group("name") or None
        if name and name.startswith("@") and (position < len(raws) or len(name) == 1):
            raise ValueError(f"path {quoted(text)}: an `@attribute` step must be last and named")
        indexes = tuple(int(i) for i in _INDEX.findall(match.group("indexes")))
        steps.append(Step(name=name, indexes=indexes))
    return FieldPath(text=text, steps=tuple(steps))


def lookup_json(data: object, path: FieldPath) -> Any:
    """The value at `path` in parsed JSON; `None` when a step misses."""
    current: Any = data
    for step in path.steps:
        if step.name is not None:
            if not isinstance(current, dict):
                return None
            current = current.get(step.name)
        for index in step.indexes:
            if not isinstance(current, list) or not -len(current) <= index < len(current):
                return None
            current = current[index]
    return current


def lookup_xml(root: Element | None, path: FieldPath) -> str | list[str] | None:
    """The text (or texts, when several elements match) at `path` below the root element."""
    if root is None:
        return None
    nodes = [root]
    attribute: str | None = None
    for step in path.steps:
        if step.name is not None and step.name.startswith("@"):
            attribute = step.name[1:]
            break
        if step.name is not None:
            nodes = [child for node in nodes for child in node if _local(child) == step.name]
        for index in step.indexes:
            if not -len(nodes) <= index < len(nodes):
                return None
            nodes = [nodes[index]]
    texts = [_text(node, attribute) for node in nodes]
    found = [t for t in texts if t is not None]
    if not found:
        return None
    return found[0] if len(found) == 1 else found


def lookup_header(response: httpx.Response, path: FieldPath) -> str | None:
    if path.rel is not None:
        return link_target(response.headers.get_list("Link"), path.rel)
    value = response.headers.get(path.header or "")
    return value.strip() if value and value.strip() else None


def link_target(values: list[str], rel: str) -> str | None:
    """The target of the first link in `Link` header `values` whose `rel` (a space-separated
    list of relation types, case-insensitive) holds `rel`; None when none does or the header
    cannot be read (RFC 8288 section 3)."""
    for value in values:
        at = 0
        while at < len(value):
            match = _LINK_VALUE.match(value, at)
            if match is None or match.end() == at:
                break
            at = match.end()
            for param in _LINK_PARAM.finditer(match.group("params")):
                if param.group("name").lower() != "rel":
                    continue
                quoted = param.group("quoted")
                text = (
                    re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else param.group("token")
                )
                if rel in (text or "").lower().split():
                    return match.group("target").strip() or None
                break  # only a link's first `rel` counts
    return None


def _local(element: Element) -> str:
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _text(node: Element, attribute: str | None) -> str | None:
    if attribute is not None:
        for name, value in node.attrib.items():
            if name.rsplit("}", 1)[-1] == attribute:
                return value.strip()
        return None
    return node.text.strip() if node.text and node.text.strip() else None
