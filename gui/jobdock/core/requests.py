"""Building a `SubmitRequest` from what a user typed: the provider's default, overridden field
by field, the body's type inferred (JSON or XML), malformed bodies refused with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

from jobdock.core.errors import UsageError
from jobdock.core.job import SubmitRequest


def parse_body(body: str, *, content_type: str | None) -> tuple[bytes, str]:
    """`DATA` or `@FILE` → (bytes, content type). Raises `UsageError` for malformed JSON/XML."""
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
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError("--body is not UTF-8 text; set --content-type for binary bodies") from None
    if text.lstrip().startswith("<"):
        from xml.etree.ElementTree import ParseError

        import defusedxml.ElementTree as SafeET

        try:
            SafeET.fromstring(text)
        except (ParseError, ValueError) as exc:
            raise UsageError(f"malformed XML in --body: {exc}") from None
        return data, "application/xml"
    try:
        json.loads(text)
    except ValueError as exc:
        raise UsageError(f"malformed JSON in --body: {exc}") from None
    return data, "application/json"


def build_request(
    default: SubmitRequest,
    *,
    method: str | None = None,
    path: str | None = None,
    params: list[tuple[str, str]] | None = None,
    body: str | None = None,
    content_type: str | None = None,
) -> SubmitRequest:
    """The provider's default request with the user's overrides applied."""
    new_method = (method or default.method).upper()
    new_params = tuple(params) if params else (default.params if path is None else ())
    data: bytes | None
    ctype: str | None
    if body is not None:
        data, ctype = parse_body(body, content_type=content_type)
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
