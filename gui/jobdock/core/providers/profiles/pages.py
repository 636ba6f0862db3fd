"""The pages of a paged result (`[results.pages]`): from the first page's URL, each page's answer
names the next (a `header:` path, read from the headers alone, or a body path; with `next_query`
the value of that parameter on the first page's URL), until a page names none, names `end_value`,
names a page already seen, or `max_pages` is passed. A `header:` chain leaves every body unread
(the download fetches it); a body chain, and every chain of pages that list links, reads each
page's body, which must then fit an answer's limit.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urljoin

from jobdock.core.model.errors import ProtocolError
from jobdock.core.net.http import ApiSession, raise_for_status, read_limited, safe_url
from jobdock.core.net.inputs import MAX_ANSWER_BYTES
from jobdock.core.providers.profiles.answer import Answer
from jobdock.core.providers.profiles.paths import lookup_header
from jobdock.core.providers.profiles.schema import PageSpec, Profile
from jobdock.core.providers.profiles.urls import strip_credential, with_query


async def walk_pages(
    profile: Profile, session: ApiSession, spec: PageSpec, first: str, job_id: str | None
) -> list[tuple[str, Answer | None]]:
    """Every page of a paged result, from the first, with its answer when its body was
    read: each page's answer names the next (so the chain is walked here, while the result
    list is built). A `header:` chain reads only each page's headers (the body is left
    unread: the download fetches it); a body chain, and every chain of pages that list
    links, reads each page's body, which must then fit an answer's limit."""
    what = f"{profile.id}: pages of the result of {profile.job_noun} {job_id}"
    urls = [first]
    pages: list[tuple[str, Answer | None]] = []
    while True:
        value, answer = await _next_page(profile, session, spec, urls[-1], what=what)
        pages.append((urls[-1], answer))
        if value is None or value == spec.end_value:
            return pages
        if spec.next_query is not None:
            following = strip_credential(
                profile, session, with_query(first, spec.next_query, value)
            )
        else:
            following = strip_credential(profile, session, urljoin(urls[-1], value))
        if following in urls:
            again = urls.index(following) + 1
            raise ProtocolError(f"{what}: page {len(urls)} names page {again} as the next")
        if len(urls) >= spec.max_pages:
            raise ProtocolError(f"{what}: more than {spec.max_pages} pages (max_pages)")
        urls.append(following)


async def _next_page(
    profile: Profile, session: ApiSession, spec: PageSpec, url: str, *, what: str
) -> tuple[str | None, Answer | None]:
    """What page `url`'s answer says of the next page (None: none), and the answer when
    its body was read."""
    what = f"{what}: {safe_url(url)}"
    if spec.links or any(path.header is None for path in spec.next):
        response = await session.request("GET", url)
        raise_for_status(response, what=what)
        answer = Answer(profile, response, what=what)
        return answer.text(spec.next), answer
    async with asyncio.timeout(session.deadline):
        async with session.stream("GET", url) as streamed:
            if streamed.status_code >= 400:
                await read_limited(streamed, limit=MAX_ANSWER_BYTES)
            raise_for_status(streamed, what=what)
            found = (lookup_header(streamed, path) for path in spec.next)
            return next((value for value in found if value), None), None  # the body unread
