"""The simulator's storage origins and planted faults, checked with a plain httpx client."""

from __future__ import annotations

import base64
import hashlib
import re
import ssl
import threading
import time
import zlib
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

import crc32c
import httpx
import pytest

from jobdock.simulator import FakeClock, SimConfig, Simulator
from jobdock.simulator.faults import ResetFault, StatusFault, StorageFault
from jobdock.simulator.integrity import StoredDigests
from jobdock.simulator.server import SimHandler
from tests.support.waiting import wait_until

# One TLS context for every client: building one per client costs ~50 ms.
TLS = ssl.create_default_context()

DATA = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    with Simulator(SimConfig(queue_time=0.0, run_time=1.0, clock=clock)) as simulator:
        yield simulator


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(verify=TLS, timeout=5.0) as c:
        yield c


def _url(sim: Simulator, key: str = "obj/data.bin", ttl: float = 60.0) -> str:
    if key not in ("missing",):
        sim.storage.put(key, DATA, filename="data.bin")
    return sim.storage.presign(key, ttl=ttl)


def _with_param(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    params.update(changes)
    return parts._replace(query=urlencode(params)).geturl()


def _read_partial(client: httpx.Client, url: str, headers: dict[str, str]) -> tuple[bytes, bool]:
    """(bytes received, whether the connection broke before the body was complete)."""
    got = bytearray()
    try:
        with client.stream("GET", url, headers=headers) as response:
            for chunk in response.iter_bytes():
                got += chunk
    except (httpx.ReadError, httpx.RemoteProtocolError):
        return bytes(got), True
    return bytes(got), False


def test_get_serves_object_with_metadata(sim: Simulator, client: httpx.Client) -> None:
    response = client.get(_url(sim))
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["etag"] == f'"{hashlib.md5(DATA).hexdigest()}"'
    assert parsedate_to_datetime(response.headers["last-modified"])
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-disposition"] == 'attachment; filename="data.bin"'
    assert sim.storage.object_bytes("obj/data.bin") == DATA


def test_url_expires_by_the_clock(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    url = _url(sim, ttl=60)
    clock.advance(59)
    assert client.get(url).status_code == 200
    clock.advance(2)
    response = client.get(url)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/xml"
    assert b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in response.content


@pytest.mark.parametrize(
    "change",
    [
        {"X-Amz-Signature": "0" * 64},
        {"X-Amz-Expires": "999999"},
        {"X-Amz-Date": "20991231T000000Z"},
    ],
)
def test_tampered_url_is_refused(
    sim: Simulator, client: httpx.Client, change: dict[str, str]
) -> None:
    response = client.get(_with_param(_url(sim), **change))
    assert response.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in response.content


def test_other_key_with_same_signature_is_refused(sim: Simulator, client: httpx.Client) -> None:
    sim.storage.put("obj/other.bin", b"other")
    url = _url(sim).replace("/obj/data.bin", "/obj/other.bin")
    assert b"SignatureDoesNotMatch" in client.get(url).content


def test_unknown_key_and_unsigned_url(sim: Simulator, client: httpx.Client) -> None:
    response = client.get(sim.storage.presign("missing"))
    assert response.status_code == 404
    assert b"<Code>NoSuchKey</Code>" in response.content
    unsigned = _url(sim).split("?")[0]
    assert client.get(unsigned).status_code == 403


def test_head_is_refused(sim: Simulator, client: httpx.Client) -> None:
    response = client.head(_url(sim))
    assert response.status_code == 403
    assert response.content == b""
    assert client.get(_url(sim)).status_code == 200  # the connection stays usable


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=10-19", 10, 20), ("bytes=1000-", 1000, len(DATA)), ("bytes=-5", len(DATA) - 5, None)],
)
def test_range_requests(
    sim: Simulator, client: httpx.Client, header: str, start: int, end: int | None
) -> None:
    response = client.get(_url(sim), headers={"Range": header})
    assert response.status_code == 206
    stop = len(DATA) if end is None else end
    assert response.content == DATA[start:stop]
    assert response.headers["content-range"] == f"bytes {start}-{stop - 1}/{len(DATA)}"


def test_unsatisfiable_range(sim: Simulator, client: httpx.Client) -> None:
    response = client.get(_url(sim), headers={"Range": f"bytes={len(DATA)}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"


def test_if_range(sim: Simulator, client: httpx.Client) -> None:
    url = _url(sim)
    etag = client.get(url).headers["etag"]
    matching = client.get(url, headers={"Range": "bytes=5-", "If-Range": etag})
    assert matching.status_code == 206
    stale = client.get(url, headers={"Range": "bytes=5-", "If-Range": '"0000"'})
    assert stale.status_code == 200
    assert stale.content == DATA


def test_hostile_names_are_sent_raw(sim: Simulator, client: httpx.Client) -> None:
    sim.storage.put("a", b"x", filename="../../x")
    assert client.get(sim.storage.presign("a")).headers["content-disposition"] == (
        'attachment; filename="../../x"'
    )
    sim.storage.put("b", b"x", disposition="attachment; filename*=UTF-8''ev%00il%2F..%2Fx")
    value = client.get(sim.storage.presign("b")).headers["content-disposition"]
    assert value == "attachment; filename*=UTF-8''ev%00il%2F..%2Fx"
    sim.storage.put("c", b"x", filename="a\x00b")
    assert "%00" in client.get(sim.storage.presign("c")).headers["content-disposition"]
    sim.storage.put("d", b"x")
    assert "content-disposition" not in client.get(sim.storage.presign("d")).headers


def test_credential_headers_are_recorded(sim: Simulator, client: httpx.Client) -> None:
    client.get(_url(sim), headers={"API-Key": "leaked", "Authorization": "Bearer leaked"})
    (record,) = sim.requests("storage")
    assert record.headers["api-key"] == "leaked"
    assert record.headers["authorization"] == "Bearer leaked"
    assert (record.method, record.status, record.path) == ("GET", 200, "/sim-results/obj/data.bin")
    assert record.params["X-Amz-Expires"] == "60"


def test_reset_at_breaks_reads_then_resume_with_range(sim: Simulator, client: httpx.Client) -> None:
    url = _url(sim)
    sim.storage.add_fault(StorageFault(reset_at=[0.3, 0.6]))
    first, broken = _read_partial(client, url, {})
    assert broken
    assert len(first) == int(0.3 * len(DATA))  # every byte written before the RST arrives
    second, broken = _read_partial(client, url, {"Range": f"bytes={len(first)}-"})
    assert broken
    assert len(first) + len(second) <= int(0.6 * len(DATA))
    done = len(first) + len(second)
    rest, broken = _read_partial(client, url, {"Range": f"bytes={done}-"})
    assert not broken
    assert first + second + rest == DATA


def test_fault_for_another_key_does_not_fire(sim: Simulator, client: httpx.Client) -> None:
    sim.storage.add_fault(StorageFault(key="elsewhere", reset_at=[0.1]))
    assert client.get(_url(sim)).content == DATA


def test_no_range(sim: Simulator, client: httpx.Client) -> None:
    sim.storage.add_fault(StorageFault(no_range=True))
    url = _url(sim)
    ignored = client.get(url, headers={"Range": "bytes=100-"})
    assert (ignored.status_code, len(ignored.content)) == (200, len(DATA))
    assert client.get(url, headers={"Range": "bytes=100-"}).status_code == 206


def test_truncate_at(sim: Simulator, client: httpx.Client) -> None:
    sim.storage.add_fault(StorageFault(truncate_at=0.5))
    got, broken = _read_partial(client, _url(sim), {})
    assert broken
    assert len(got) == len(DATA) // 2


def test_wrong_length(sim: Simulator, client: httpx.Client) -> None:
    url = _url(sim)
    sim.storage.add_fault(StorageFault(wrong_length=100))
    short = client.get(url)
    assert short.headers["content-length"] == "100"
    assert short.content == DATA[:100]
    sim.storage.add_fault(StorageFault(wrong_length=len(DATA) + 10))
    _, broken = _read_partial(client, url, {})
    assert broken
    assert client.get(url).content == DATA


def test_redirect_to_alt_origin(sim: Simulator, client: httpx.Client) -> None:
    sim.storage.add_fault(StorageFault(redirect=True))
    response = client.get(_url(sim))
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(sim.storage_alt.origin + "/")
    assert client.get(location).content == DATA
    assert [r.status for r in sim.requests("storage-alt")] == [200]


def test_expire_at_revokes_the_url(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    url = _url(sim)
    sim.storage.add_fault(StorageFault(expire_at=0.5))
    _, broken = _read_partial(client, url, {})
    assert broken
    response = client.get(url, headers={"Range": "bytes=10-"})
    assert response.status_code == 403
    assert b"Request has expired" in response.content
    clock.advance(1)  # a new X-Amz-Date, so a new signature
    assert client.get(sim.storage.presign("obj/data.bin")).content == DATA


def test_status_fault_times_and_prefix(sim: Simulator, client: httpx.Client) -> None:
    url = _url(sim)
    sim.add_fault(
        "storage",
        StatusFault(status=503, body=b"<html>busy</html>", headers={"Retry-After": "7"}, times=2),
    )
    for _ in range(2):
        response = client.get(url)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "7"
        assert response.text == "<html>busy</html>"
    assert client.get(url).status_code == 200
    sim.add_fault("storage", StatusFault(status=500, path_prefix="/sim-results/other"))
    assert client.get(url).status_code == 200
    sim.clear_faults()


def test_reset_fault_drops_the_connection(sim: Simulator, client: httpx.Client) -> None:
    base = sim.base_url("vainu")
    sim.add_fault("vainu", ResetFault())
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(base + "/companies/async/")
    assert client.get(base + "/companies/async/").status_code == 401
    # Both recorded (the dropped one as 0), in either order: the reset request is recorded as its
    # handler ends, which may be after the next request on a new connection has been answered.
    wait_until(lambda: len(sim.requests("vainu")) == 2, timeout=10, what="both requests recorded")
    assert sorted(r.status for r in sim.requests("vainu")) == [0, 401]


def test_stop_closes_open_connections_promptly(clock: FakeClock) -> None:
    sim = Simulator(SimConfig(clock=clock)).start()
    url = sim.base_url("testo") + "/v3/x"
    with httpx.Client(verify=TLS) as client:
        assert client.get(url).status_code == 403  # leaves a keep-alive connection open
        # Left to itself the open connection would hold a handler for its idle timeout: stop()
        # must close it instead. It runs in a thread so that a stop() waiting for that timeout
        # shows as a stop still running (a guard a quarter of that timeout long), not a hang.
        stopper = threading.Thread(target=sim.stop)
        stopper.start()
        stopper.join(timeout=SimHandler.timeout / 4)
        assert not stopper.is_alive(), "stop() waited for the idle keep-alive connection"
        with pytest.raises(httpx.TransportError):
            client.get(url)


def test_rate_throttles_the_body(sim: Simulator, client: httpx.Client) -> None:
    url = _url(sim)
    rate = 4 * 1024 * 1024
    sim.storage.add_fault(StorageFault(rate=rate))  # 1 MiB at 4 MiB/s: ~0.25 s
    faults = sim.storage.site.faults
    assert faults.pending() == 1
    started = time.monotonic()
    assert client.get(url).content == DATA
    # A floor, not a deadline: no byte leaves before its time, however fast the machine.
    assert time.monotonic() - started >= 0.8 * len(DATA) / rate
    assert faults.pending() == 0  # used up by that one download: the next gets full speed
    assert client.get(url).content == DATA
    assert faults.pending() == 0


def _stored(sim: Simulator, digests: StoredDigests, key: str = "obj/d.bin") -> str:
    sim.storage.put(key, DATA, digests=digests)
    return sim.storage.presign(key, ttl=60.0)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_etags_that_are_not_the_md5(sim: Simulator, client: httpx.Client) -> None:
    md5 = hashlib.md5(DATA).hexdigest()
    kms = client.get(_stored(sim, StoredDigests(etag="sse-kms"), "k"))
    assert re.fullmatch(r'"[0-9a-f]{32}"', kms.headers["etag"]) and md5 not in kms.headers["etag"]
    assert kms.headers["x-amz-server-side-encryption"] == "aws:kms"
    again = client.get(_stored(sim, StoredDigests(etag="sse-kms"), "k2"))
    assert again.headers["etag"] != kms.headers["etag"], "random per object"
    url = _stored(sim, StoredDigests(etag="sse-c"), "c")
    ssec = client.get(url)
    assert ssec.headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    assert client.get(url).headers["etag"] == ssec.headers["etag"], "stable for one object"
    opaque = client.get(_stored(sim, StoredDigests(etag="opaque"), "o"))
    assert (
        md5 not in opaque.headers["etag"] and "x-amz-server-side-encryption" not in opaque.headers
    )
    third = len(DATA) // 3 + 1
    parts = [DATA[i : i + third] for i in range(0, len(DATA), third)]
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    multipart = client.get(_stored(sim, StoredDigests(etag="multipart"), "m"))
    assert multipart.headers["etag"] == f'"{hashlib.md5(joined).hexdigest()}-3"'
    assert multipart.content == kms.content == DATA


def test_stated_digests_on_full_and_ranged_answers(sim: Simulator, client: httpx.Client) -> None:
    url = _stored(
        sim,
        StoredDigests(
            content_md5=True,
            goog_hash=("crc32c", "md5"),
            repr_digest=("sha-256", "sha-512"),
            content_digest=("sha-256",),
            amz_checksum="crc32",
        ),
    )
    md5 = _b64(hashlib.md5(DATA).digest())
    full = client.get(url)
    assert full.headers["content-md5"] == md5 and "x-ms-blob-content-md5" not in full.headers
    crc = _b64(crc32c.crc32c(DATA).to_bytes(4, "big"))
    assert full.headers["x-goog-hash"] == f"crc32c={crc},md5={md5}"
    sha256, sha512 = _b64(hashlib.sha256(DATA).digest()), _b64(hashlib.sha512(DATA).digest())
    assert full.headers["repr-digest"] == f"sha-256=:{sha256}:, sha-512=:{sha512}:"
    assert full.headers["content-digest"] == f"sha-256=:{sha256}:"
    assert full.headers["x-amz-checksum-crc32"] == _b64(zlib.crc32(DATA).to_bytes(4, "big"))
    assert full.headers["x-amz-checksum-type"] == "FULL_OBJECT"
    ranged = client.get(url, headers={"Range": "bytes=100-"})
    assert ranged.status_code == 206
    assert "content-md5" not in ranged.headers  # Azure: the whole blob's MD5 has its own header
    assert ranged.headers["x-ms-blob-content-md5"] == md5
    assert ranged.headers["repr-digest"] == full.headers["repr-digest"]  # the whole object's
    part = _b64(hashlib.sha256(DATA[100:]).digest())
    assert ranged.headers["content-digest"] == f"sha-256=:{part}:"  # this answer's bytes


def test_a_composite_checksum_and_a_wrong_digest(sim: Simulator, client: httpx.Client) -> None:
    composite = client.get(
        _stored(sim, StoredDigests(amz_checksum="sha256", amz_checksum_type="COMPOSITE"), "c")
    )
    assert composite.headers["x-amz-checksum-sha256"].endswith("-3")
    assert composite.headers["x-amz-checksum-type"] == "COMPOSITE"
    wrong = client.get(
        _stored(sim, StoredDigests(content_md5=True, repr_digest=("sha-256",), wrong=True), "w")
    )
    assert wrong.content == DATA
    assert wrong.headers["etag"] == f'"{hashlib.md5(DATA).hexdigest()}"'  # only digests lie
    assert wrong.headers["content-md5"] != _b64(hashlib.md5(DATA).digest())
    assert _b64(hashlib.sha256(DATA).digest()) not in wrong.headers["repr-digest"]


def test_the_config_picks_the_digests_of_what_the_fake_apis_store(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.config.storage_digests = StoredDigests(etag="multipart", repr_digest=("sha-256",))
    sim.storage.put("from/api.csv", DATA)
    answer = client.get(sim.storage.presign("from/api.csv", ttl=60.0))
    assert answer.headers["etag"].endswith('-3"') and "repr-digest" in answer.headers
