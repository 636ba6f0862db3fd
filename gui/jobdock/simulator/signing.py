"""Pre-signed URLs in the S3 query-string style, signed with a per-simulator random key.

The signature is hex HMAC-SHA256 over the percent-decoded path, `X-Amz-Date` and `X-Amz-Expires`
(no method: only GET is ever served). A URL is expired once `config.clock()` passes
`X-Amz-Date + X-Amz-Expires`, or when a `StorageFault(expire_at=...)` revoked its signature.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from urllib.parse import quote, urlencode

AMZ_DATE = "%Y%m%dT%H%M%SZ"
_PARAMS = ("X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature")


def amz_date(ts: float) -> str:
    return time.strftime(AMZ_DATE, time.gmtime(ts))


def parse_amz_date(text: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(text, AMZ_DATE)))
    except ValueError:
        return None


class Signer:
    """Signs and checks storage URLs; remembers signatures revoked by faults."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._revoked: set[str] = set()

    def object_path(self, key: str) -> str:
        return f"/{self.bucket}/{key}"

    def presign(self, origin: str, key: str, *, ttl: float, signed_at: float) -> str:
        path = self.object_path(key)
        date = amz_date(signed_at)
        expires = str(max(0, int(ttl)))
        query = urlencode(
            [
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("X-Amz-Credential", f"SIM/{date[:8]}/local-1/s3/aws4_request"),
                ("X-Amz-Date", date),
                ("X-Amz-Expires", expires),
                ("X-Amz-SignedHeaders", "host"),
                ("X-Amz-Signature", self._sign(path, date, expires)),
            ]
        )
        return f"{origin}{quote(path, safe='/')}?{query}"

    def check(self, path: str, params: Mapping[str, str], now: float) -> str | None:
        """None when the URL is valid, else `"missing"`, `"tampered"` or `"expired"`."""
        if not all(params.get(p) for p in _PARAMS):
            return "missing"
        date, expires, signature = (params[p] for p in _PARAMS)
        if not hmac.compare_digest(signature.encode(), self._sign(path, date, expires).encode()):
            return "tampered"
        signed_at = parse_amz_date(date)
        if signed_at is None or not expires.isdigit():
            return "tampered"
        with self._lock:
            revoked = signature in self._revoked
        if revoked or now > signed_at + int(expires):
            return "expired"
        return None

    def expires_at(self, params: Mapping[str, str]) -> float | None:
        signed_at = parse_amz_date(params.get("X-Amz-Date", ""))
        expires = params.get("X-Amz-Expires", "")
        if signed_at is None or not expires.isdigit():
            return None
        return signed_at + int(expires)

    def revoke(self, signature: str) -> None:
        with self._lock:
            self._revoked.add(signature)

    def _sign(self, path: str, date: str, expires: str) -> str:
        message = f"{path}\n{date}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
