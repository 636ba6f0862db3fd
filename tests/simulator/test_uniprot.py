"""The fake UniProt ID mapping service: a job's states on a fake clock, the `303 See Other` to
the results path of its target database, the results in `Link`-paged TSV or JSON pages of
`size` entries (at most 500), and UniProt's errors."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from jobdock.simulator import FakeClock, SimConfig, Simulator

FORM = {"from": "UniProtKB_AC-ID", "to": "UniProtKB", "ids": "P05067,P12345"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    with Simulator(SimConfig(queue_time=1.0, run_time=3.0, clock=clock)) as simulator:
        yield simulator


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url("uniprot-idmapping"), timeout=10) as http:
        yield http


def test_a_mapping_job_goes_new_running_then_303_to_its_paged_results(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    job_id = client.post("/idmapping/run", data=FORM).json()["jobId"]
    assert len(job_id) == 40 and int(job_id, 16) >= 0
    states = []
    for _ in range(2):
        answer = client.get(f"/idmapping/status/{job_id}")
        states.append((answer.status_code, answer.json()))
        clock.advance(2.0)
    assert states == [(200, {"jobStatus": "NEW"}), (200, {"jobStatus": "RUNNING"})]
    clock.advance(2.0)
    done = client.get(f"/idmapping/status/{job_id}")
    location = f"{sim.base_url('uniprot-idmapping')}/idmapping/uniprotkb/results/{job_id}"
    assert (done.status_code, done.json()) == (303, {"jobStatus": "FINISHED"})
    assert done.headers["Location"] == location
    assert client.get(f"/idmapping/details/{job_id}").json()["redirectURL"] == location

    pages, url = [], f"{location}?format=tsv&size=500"
    while url:
        page = client.get(url)
        assert page.status_code == 200 and page.headers["X-Total-Results"] == "750"
        pages.append(page.content)
        url = page.links.get("next", {}).get("url")
        if url:
            assert "size=500" in url and "format=tsv" in url  # the page's own query kept
    assert pages == sim.expected_results("uniprot-idmapping", job_id)
    assert [p.count(b"\n") for p in pages] == [501, 251]  # a header row on every page
    assert pages[0].startswith(b"From\tEntry\tEntry Name\tReviewed\t")
    first = client.get(location).json()  # JSON and 25 a page unless asked
    assert len(first["results"]) == 25 and first["results"][0]["from"] == "P05067"
    assert client.get(location, params={"size": "501"}).status_code == 400


def test_the_target_decides_the_results_path_and_a_multipart_form_is_taken(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    files = {name: (None, value) for name, value in {**FORM, "to": "UniRef90"}.items()}
    uniref = client.post("/idmapping/run", files=files).json()["jobId"]  # curl --form
    plain = client.post("/idmapping/run", data={**FORM, "to": "Gene_Name"}).json()["jobId"]
    clock.advance(5.0)
    assert (
        client.get(f"/idmapping/status/{uniref}")
        .headers["Location"]
        .endswith(f"/idmapping/uniref/results/{uniref}")
    )
    assert (
        client.get(f"/idmapping/status/{plain}")
        .headers["Location"]
        .endswith(f"/idmapping/results/{plain}")
    )
    assert client.get(f"/idmapping/uniprotkb/results/{plain}").status_code == 400
    tsv = client.get(f"/idmapping/results/{plain}", params={"format": "tsv"}).text
    assert tsv.startswith("From\tTo\nP05067\t")


def test_errors_a_failed_job_and_results_asked_for_too_early(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    missing = client.post("/idmapping/run", data={"from": "UniProtKB_AC-ID", "to": "UniProtKB"})
    assert missing.status_code == 400
    assert missing.json()["messages"] == ["'ids' is a required parameter"]
    bad = client.post("/idmapping/run", data={**FORM, "to": "Nope"})
    assert bad.status_code == 400 and "'to'" in bad.json()["messages"][0]
    failing = client.post("/idmapping/run", data=FORM, params={"sim_outcome": "fail"}).json()
    early = client.post("/idmapping/run", data=FORM).json()["jobId"]
    assert client.get(f"/idmapping/uniprotkb/results/{early}").status_code == 400
    clock.advance(5.0)
    failed = client.get(f"/idmapping/status/{failing['jobId']}")
    assert (failed.status_code, failed.json()) == (500, {"jobStatus": "ERROR"})
    assert client.get(f"/idmapping/status/{'0' * 40}").status_code == 404
