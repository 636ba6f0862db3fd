"""One redaction mechanism: the engine's `Redactor` knows every credential of every auth kind
(bearer, header, query, Basic's password and its base64 `user:pass`, add-on access tokens and
webhook signature keys obtained at run time), and every text that enters a job — errors, logs,
stored answers, events, result and status URLs — goes through it in `JobTable.commit`; the log
file goes through it too."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from jobdock.core.engine.engine import Engine
from jobdock.core.logs import setup_logging, teardown_logging
from jobdock.core.model.job import Account, Job, JobEvent, JobState, Result, SubmitRequest
from jobdock.core.model.paths import AppPaths
from jobdock.core.net.http import ApiSession, make_api_client, make_bare_client
from jobdock.core.net.redaction import Redactor, redact_job
from jobdock.core.providers.shoptet.webhooks import signature_key_name
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.core.store.jobs import JobStore
from jobdock.simulator import FakeClock, SimConfig, Simulator
from tests.core.shoptet_helpers import ACCOUNT, shoptet_engine

SECRET = "pa55-w0rd/with+odd=chars"
MASK = Redactor.MASK


def test_every_header_auth_kind_is_known_to_the_session() -> None:
    basic = base64.b64encode(f"admin:{SECRET}".encode()).decode()

    async def sessions() -> list[Redactor]:
        found = []
        for headers in (
            {"Authorization": f"Bearer {SECRET}"},
            {"Authorization": f"Basic {basic}"},
            {"X-Api-Key": SECRET},
        ):
            async with make_api_client(headers=headers) as api, make_bare_client() as bare:
                found.append(ApiSession(Account(name="a", provider="p", base_url="https://a.test"),
                                        api, bare).redactor)  # fmt: skip
        return found

    bearer, basic_auth, header = asyncio.run(sessions())
    for redact in (bearer, basic_auth, header):
        text = f"echo {SECRET} / {base64.b64encode(SECRET.encode()).decode()}"
        assert redact(text) == f"echo {MASK} / {MASK}"
    assert basic_auth(f"got {basic}") == f"got {MASK}"  # the base64 `user:pass`
    assert bearer("User-Agent Jobdock") == "User-Agent Jobdock"  # plain headers are not secrets


def test_a_secret_cut_short_in_an_excerpt_is_masked_too() -> None:
    redact = Redactor()
    redact.add(SECRET)
    cut = f"HTTP 500: {'x' * 20} invalid key {SECRET[:9]}…; check the account"
    assert redact(cut) == f"HTTP 500: {'x' * 20} invalid key {MASK}…; check the account"
    assert redact("a pa55-… b") == "a pa55-… b"  # too short to tell a secret from a word
    assert redact(f"{{...{SECRET[:12]}\n… (truncated)") == f"{{...{MASK}\n… (truncated)"


def test_urls_lose_the_parameters_that_carry_a_credential() -> None:
    redact = Redactor()
    redact.add(SECRET)
    quoted = "pa55-w0rd%2Fwith%2Bodd%3Dchars"
    url = f"https://api.test/jobs/7?view=full&api_key={quoted}&a=%20b#frag"
    assert redact.url(url) == "https://api.test/jobs/7?view=full&a=%20b#frag"
    assert redact.url(f"https://u:{quoted}@api.test/x") == "https://api.test/x"
    signed = "https://s3.test/b/k?X-Amz-Signature=abc&X-Amz-Expires=60"
    assert redact.url(signed) == signed  # a pre-signed link is kept as the server gave it
    job = Job(
        id="j", account="a", provider="p", status_url=url, error=f"HTTP 401: invalid key {SECRET}",
        results=(Result(url=url, error=f"denied for {quoted}"),),
    )  # fmt: skip
    clean = redact_job(job, redact)
    assert clean.status_url == clean.results[0].url == redact.url(url)
    assert clean.error == f"HTTP 401: invalid key {MASK}"
    assert clean.results[0].error == f"denied for {MASK}"


def test_a_url_still_to_be_asked_for_loses_its_credentials_and_nothing_else() -> None:
    redact = Redactor()
    redact.add(SECRET)
    quoted = "pa55-w0rd%2Fwith%2Bodd%3Dchars"
    # Meta's `paging.next` echoes the access token of the request, whichever way it came.
    following = (
        f"https://graph.test/v21.0/6023/insights?access_token={quoted}&limit=500&after=QQ%3D%3D"
    )
    assert (
        redact.strip(following) == "https://graph.test/v21.0/6023/insights?limit=500&after=QQ%3D%3D"
    )
    assert redact.strip(f"https://graph.test/x?{quoted}&a=1") == "https://graph.test/x?a=1"
    assert redact.strip(f"https://u:{quoted}@graph.test/x") == "https://graph.test/x"
    in_path = f"https://graph.test/{quoted}/x?a=%20b"
    assert redact.strip(in_path) == in_path  # nothing masked: a URL to request
    assert redact.url(in_path) == f"https://graph.test/{MASK}/x?a=%20b"  # one to show
    assert Redactor().strip(following) == following  # it knows no secret yet


@asynccontextmanager
async def _engine(tmp_path: Path, *, level: int = logging.INFO) -> AsyncIterator[Engine]:
    paths = AppPaths(data_dir=tmp_path / "d", default_download_dir=tmp_path / "dl").ensure()
    store = JobStore.open(paths.store_file)
    credentials = MemoryCredentialStore({signature_key_name("shop"): "sig-key-1234567"})
    engine = Engine(store=store, credentials=credentials, paths=paths)
    handler = setup_logging(paths.log_file, redact=engine.redactor, level=level)
    try:
        yield engine
    finally:
        await engine.aclose()
        store.close()
        teardown_logging(handler)


def test_commit_redacts_everything_that_enters_a_job_and_the_log(tmp_path: Path) -> None:
    async def go() -> tuple[Job, list[JobEvent]]:
        async with _engine(tmp_path) as engine:
            account = Account(name="shop", provider="shoptet", base_url="https://shop.test")
            await engine.add_account(account, SECRET)
            await engine.webhook_receiver()._read_keys()  # the signature key, read from the keyring
            job = Job(
                id="j1", account="shop", provider="shoptet", state=JobState.FAILED,
                error=f"refused {SECRET}", log=f"log line sig-key-1234567 {SECRET}",
                last_response=f'{{"message": "{SECRET}"}}', status_url=f"https://shop.test/j?k={SECRET}",
            )  # fmt: skip
            event = JobEvent(job_id="j1", at=job.updated_at, kind="link-refresh",
                             message=f"asking again after {SECRET}")  # fmt: skip
            engine.table.commit([job], [event])
            logging.getLogger("jobdock.test").warning("echoed %s and sig-key-1234567", SECRET)
            return engine.job("j1"), engine.store.events("j1")

    job, events = asyncio.run(go())
    assert job.error == f"refused {MASK}" and job.log == f"log line {MASK} {MASK}"
    assert job.last_response == f'{{"message": "{MASK}"}}'
    assert job.status_url == "https://shop.test/j"
    assert [e.message for e in events] == [f"asking again after {MASK}"]
    store_bytes = (tmp_path / "d/jobs.sqlite3").read_bytes()
    log_text = (tmp_path / "d/logs/jobdock.log").read_text()
    assert f"echoed {MASK} and {MASK}" in log_text
    for needle in (SECRET, "sig-key-1234567"):
        assert needle not in log_text and needle.encode() not in store_bytes


def test_addon_access_tokens_obtained_at_run_time_are_redacted(tmp_path: Path) -> None:
    clock = FakeClock()
    with Simulator(SimConfig(shoptet_access_token_ttl=600, result_size=128, clock=clock)) as sim:
        options = {"auth": "addon", "token_url": f"{sim.base_url('shoptet')}/token"}

        async def scenario() -> Redactor:
            async with shoptet_engine(
                sim, tmp_path, options=options, secret=sim.shoptet_oauth_token
            ) as engine:
                await engine.submit(ACCOUNT, engine.provider("shoptet").default_request())
                return engine.redactor

        redact = asyncio.run(scenario())
        tokens = {r.headers["shoptet-access-token"] for r in sim.requests("shoptet")
                  if r.path != "/token"}  # fmt: skip
    assert tokens and all(redact(f"x {t} y") == f"x {MASK} y" for t in tokens)
    assert redact(sim.shoptet_oauth_token) == MASK


def test_the_token_meta_echoes_into_paging_next_is_in_no_url_store_or_log(tmp_path: Path) -> None:
    """The bundled meta-insights profile on the simulator's Graph API, whose every `paging.next`
    carries `access_token=<the bearer token>`: the pages are followed, listed and saved as
    served, and the token is in no result URL, in no byte of the store and in no log line."""
    with Simulator(SimConfig(queue_time=0.05, run_time=0.1)) as sim:
        token = sim.secret("meta-insights")

        async def scenario() -> Job:
            async with _engine(tmp_path, level=logging.DEBUG) as engine:
                account = Account(name="ads", provider="meta-insights",
                                  base_url=sim.base_url("meta-insights"))  # fmt: skip
                await engine.add_account(account, token)
                request = SubmitRequest(
                    method="POST", path="act_1234567890/insights", params=(("sim_files", "3"),)
                )
                job = await engine.submit("ads", request)
                for _ in range(100):
                    if (job := await engine.refresh(job.id)).state is JobState.SUCCEEDED:
                        break
                    await asyncio.sleep(0.05)
                logging.getLogger("jobdock.test").debug("the job: %r", job)
                return await engine.download(job.id)

        job = asyncio.run(scenario())
        served = sim.expected_results("meta-insights", job.remote_id or "")
        requests = sim.requests("meta-insights")
    assert len(served) == 3 and all(f"access_token={token}".encode() in p for p in served[:2])
    assert [Path(r.path or "").read_bytes() for r in job.results] == served  # as served
    assert [r.url.rsplit("?", 1)[-1].split("&")[0] for r in job.results] == ["limit=500"] * 3
    assert all(token not in r.url for r in job.results)
    assert all(token not in r.query for r in requests)  # the header authenticates every page
    data = tmp_path / "d"
    kept = [p for p in data.rglob("*") if p.is_file()]
    assert {"jobs.sqlite3", "jobdock.log"} <= {p.name for p in kept}
    for path in kept:
        assert token.encode() not in path.read_bytes(), path
    assert "/insights" in (data / "logs/jobdock.log").read_text()  # the log did see the URLs
