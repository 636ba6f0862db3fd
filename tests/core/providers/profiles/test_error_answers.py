"""HTTP error answers read as status answers (`[poll] error_answers`): UniProt answers a failed
ID mapping job 500 or 400 with `{"jobStatus": "ERROR", …}`; a body whose state maps to failed
fails the job at once with its message, any other stays an ordinary HTTP error. On
httpx.MockTransport."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from jobdock.core.model.errors import ServerError
from jobdock.core.model.job import Account, Job, JobState
from jobdock.core.net.http import ApiSession, make_api_client
from jobdock.core.providers.base import RemoteStatus
from jobdock.core.providers.profiles.load import parse_profile
from jobdock.core.providers.profiles.provider import ProfileProvider
from jobdock.core.providers.profiles.schema import ProfileError

# https://github.com/ebi-uniprot/uniprot-rest-api IdMappingJobController.createStatus: a failed
# job answers 500 {"jobStatus": "ERROR"}, or 400 with its `errors` when a limit was exceeded
UNIPROT = """
id = "idmapping"
name = "ID mapping"
base_url = "https://rest.test"
[auth]
kind = "none"
[submit]
method = "POST"
path = "idmapping/run"
[fields]
id = "jobId"
status_url_template = "idmapping/status/{{id}}"
state = ["jobStatus", "http:status"]
error = ["messages[0]", "errors[0].message"]
[states]
NEW = "queued"
RUNNING = "running"
303 = "succeeded"
ERROR = "failed"
[poll]
follow_redirects = false
{error_answers}
"""
LIMIT = 'Id Mapping API is not supported for mapping results with "mapped to" IDs more than 500,000'


def _uniprot(answer: httpx.Response, *, error_answers: str = "error_answers = [400, 500]"
             ) -> RemoteStatus:  # fmt: skip
    text = UNIPROT.format(error_answers=error_answers)
    provider = ProfileProvider(parse_profile(text, source="up.toml"))
    account = Account(name="up", provider=provider.id, base_url="https://rest.test")

    async def go() -> RemoteStatus:
        transport = httpx.MockTransport(lambda _request: answer)
        api = make_api_client(headers={}, transport=transport)
        session = ApiSession(account, api, api)
        job = Job(id="j1", account="up", provider=provider.id, remote_id="27a0")
        try:
            return await provider.poll(session, job)
        finally:
            await api.aclose()

    return asyncio.run(go())


def test_an_error_answer_whose_state_is_a_failure_fails_the_job_with_its_message():
    limit = {"jobStatus": "ERROR", "errors": [{"code": 40, "message": LIMIT}]}
    status = _uniprot(httpx.Response(400, json=limit))
    assert (status.state, status.remote_state, status.error) == (JobState.FAILED, "ERROR", LIMIT)
    assert status.remote_id == "27a0" and status.results == ()
    status = _uniprot(httpx.Response(500, json={"jobStatus": "ERROR"}))
    assert (status.state, status.error) == (
        JobState.FAILED,
        "ID mapping: the job failed (no reason given) (HTTP 500)",
    )
    assert status.status_url == "https://rest.test/idmapping/status/27a0"


def test_an_error_answer_without_a_known_failure_stays_an_http_error():
    # no state at all (a real server error), a state that is no failure, a body that is no JSON
    for answer in (
        httpx.Response(500, json={"url": "…", "messages": ["Internal server error"]}),
        httpx.Response(500, json={"jobStatus": "RUNNING"}),
        httpx.Response(500, text="<html>Bad gateway</html>"),
        httpx.Response(503, json={"jobStatus": "ERROR"}),  # not a status the profile names
    ):
        with pytest.raises(ServerError, match=r"server error \(HTTP 50[03]\)"):
            _uniprot(answer)
    # and without error_answers every error answer is one, as before
    with pytest.raises(ServerError, match=r"HTTP 500"):
        _uniprot(httpx.Response(500, json={"jobStatus": "ERROR"}), error_answers="")


@pytest.mark.parametrize("value", ["[]", "[200]", "[600]", "500", '["500"]', "[true]"])
def test_error_answers_are_checked(value: str):
    with pytest.raises(ProfileError, match=r"poll.error_answers: expected a non-empty array"):
        parse_profile(UNIPROT.format(error_answers=f"error_answers = {value}"), source="up.toml")
