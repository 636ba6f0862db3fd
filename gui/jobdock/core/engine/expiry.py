"""When a result link stops working, as far as this machine can tell: a hint, never a verdict.

Expiry times come from a link's signature (`X-Amz-Date` + `X-Amz-Expires`) or from the API's answer,
both on the server's clock, so a local clock ahead of the signer would see every link expired on
arrival. Two rules keep that from losing a result. Each API answer's `Date` header gives the offset
between that origin's clock and ours (`ClockSkew`, per origin, the latest answer wins), and the
expiry times of an answer are moved onto the local clock with it (`localize`), so what is shown and
the download order are right. And an expiry time only orders downloads and tells the user: a result
is declared expired only once the storage refused its link (403/404/410) to the download's own
GET, and a fresh link from the API did not help either (`transfers._download_result`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import httpx

from jobdock.core.model.job import origin_of
from jobdock.core.net.http import server_date
from jobdock.core.providers.base import RemoteStatus

# `Date` has whole seconds and the answer takes a moment to arrive: smaller offsets are noise.
NOISE = timedelta(seconds=2)


class ClockSkew:
    """Per origin, how far the server's clock is ahead of ours (negative: behind)."""

    def __init__(self) -> None:
        self._offsets: dict[str, timedelta] = {}

    def observe(self, response: httpx.Response, *, local_now: datetime) -> None:
        when = server_date(response.headers)
        if when is None:
            return
        # The server wrote `Date` somewhere within the second it names; a cache passing on an
        # older answer says how old in `Age` (RFC 9111 §5.1).
        age = response.headers.get("age", "")
        if age.isdigit():
            when += timedelta(seconds=min(int(age), 86400))
        offset = when + timedelta(seconds=0.5) - local_now
        origin = origin_of(str(response.request.url))
        self._offsets[origin] = offset if abs(offset) > NOISE else timedelta(0)

    def offset(self, origin: str) -> timedelta | None:
        return self._offsets.get(origin)

    def to_local(self, when: datetime, *, origins: tuple[str, ...]) -> datetime:
        """`when` on a server's clock, on ours: by the first of `origins` whose clock is known
        (the link's own storage, then the API that signed it)."""
        for origin in origins:
            offset = self._offsets.get(origin)
            if offset is not None:
                return when - offset
        return when

    def localize(self, status: RemoteStatus, *, api_origin: str) -> RemoteStatus:
        """The answer with its links' expiry times on the local clock."""
        if not any(link.expires_at for link in status.results):
            return status
        links = tuple(
            dataclasses.replace(
                link,
                expires_at=self.to_local(
                    link.expires_at, origins=(origin_of(link.url), api_origin)
                ),
            )
            if link.expires_at is not None
            else link
            for link in status.results
        )
        return dataclasses.replace(status, results=links)
