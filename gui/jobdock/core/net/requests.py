"""Building a `SubmitRequest` from what a user typed: the provider's default, overridden field
by field, the body's type the provider's or inferred (JSON or XML), malformed bodies and fields
that would break the request line or a header (CR/LF) refused with a clear message."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from jobdock.core.model.errors import UsageError
from jobdock.core.model.job import SubmitRequest
from jobdock.core.net.inputs import has_line_break, load_json, quoted, url_problem

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP method (RFC 9110, section 5.6.2)


def parse_body(
    body: str, *, content_type: str | None, body_type: str | None = None
) -> tuple[bytes, str]:
    """`DATA` or `@FILE` → (bytes, content type). Raises `UsageError` for malformed JSON/XML.
    Without `content_type` the body is sent as `body_type` (the provider's: a profile's `[submit]
    content_type`), checked when that is JSON or XML; without either its type is inferred."""
    if body.startswith("@"):
        path = Path(body[1:]).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read --body file {path}: {exc.strerror or exc}") from None
    else:
        data = body.encode("utf-8")
    if content_type:
        return data, content_type
    kind = _kind(body_type)
    if body_type and kind is None:
        return data, body_type  # a form, CSV, …: sent as it is
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError("--body is not UTF-8 text; set --content-type for binary bodies") from None
    if kind == "xml" or (kind is None and text.lstrip().startswith("<")):
        from xml.etree.ElementTree import ParseError

        import defusedxml.ElementTree as SafeET

        try:
            SafeET.fromstring(text)
        except (ParseError, ValueError) as exc:
            raise UsageError(f"malformed XML in --body: {exc}") from None
        return data, body_type or "application/xml"
    try:
        load_json(text)
    except ValueError as exc:
        raise UsageError(f"malformed JSON in --body: {exc}") from None
    return data, body_type or "application/json"


def _kind(media_type: str | None) -> str | None:
    """`json` or `xml` for a media type of that syntax (`application/vnd.api+json`), else None."""
    essence = (media_type or "").split(";")[0].strip().lower()
    for kind in ("json", "xml"):
        if essence in (f"application/{kind}", f"text/{kind}") or essence.endswith(f"+{kind}"):
            return kind
    return None


def build_request(
    default: SubmitRequest,
    *,
    method: str | None = None,
    path: str | None = None,
    params: list[tuple[str, str]] | None = None,
    body: str | None = None,
    content_type: str | None = None,
    body_type: str | None = None,
) -> SubmitRequest:
    """The provider's default request with the user's overrides applied; a `body` without a
    `content_type` is sent as `body_type` (`Provider.body_content_type`) when there is one."""
    _check_fields(method=method, path=path, params=params or [], content_type=content_type)
    new_method = (method or default.method).upper()
    new_params = tuple(params) if params else (default.params if path is None else ())
    data: bytes | None
    ctype: str | None
    if body is not None:
        data, ctype = parse_body(body, content_type=content_type, body_type=body_type)
    elif new_method == default.method and path is None:
        data, ctype = default.body, content_type or default.content_type
    else:
        data, ctype = None, content_type
    return SubmitRequest(
        method=new_method,
        path=path if path is not None else default.path,
        params=new_params,
        body=data,
        content_type=ctype,
    )


def _check_fields(
    *, method: str | None, path: str | None, params: list[tuple[str, str]], content_type: str | None
) -> None:
    if method is not None and not _TOKEN.fullmatch(method):
        raise UsageError(
            f"--method must be an HTTP method such as GET or POST, got {quoted(method)}"
        )
    if path is not None:
        if has_line_break(path) or any(ord(ch) < 0x20 for ch in path):
            raise UsageError(f"--path must be one line, got {quoted(path)}")
        try:
            absolute = bool(urlsplit(path).scheme)
        except ValueError:  # a broken IPv6 literal
            absolute = True
        problem = url_problem(path) if absolute else None
        if problem is not None:
            raise UsageError(f"--path {quoted(path)} is {problem}")
    for key, value in params:
        if has_line_break(key) or has_line_break(value):
            raise UsageError(f"--param must be one line, got {quoted(f'{key}={value}')}")
    if content_type is not None and has_line_break(content_type):
        raise UsageError(f"--content-type must be one line, got {quoted(content_type)}")
