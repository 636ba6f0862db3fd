"""Bad input through the real CLI: every case gives one clear line on stderr (exit 2 for usage),
never a traceback or a hang, quotes what it was given cut to a sane length, and leaves the store
as it was. Hostile answers come from a small stdlib server on 127.0.0.1."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jobdock.simulator import Simulator
from tests.e2e.conftest import Cli, add_account
from tests.e2e.test_cli_errors import _one_line_error, _store_is_sound

Reply = tuple[int, dict[str, str], bytes]


class _Api:
    """A stdlib HTTP server answering each path with a scripted reply; records the paths."""

    def __init__(self, routes: dict[str, Reply]) -> None:
        self.routes = routes
        self.seen: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                api.seen.append(f"{self.command} {self.path}")
                code, headers, body = api.routes.get(self.path, (404, {}, b"{}"))
                self.send_response(code)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def api() -> Iterator[_Api]:
    server = _Api({})
    yield server
    server.close()


def _generic(cli: Cli, api: _Api) -> str:
    cli("accounts", "add", "g", "--provider", "generic-202", "--base-url", api.origin,
        "--option", "poll_min=0.05", "--option", "poll_max=0.3",
        "--secret-stdin", stdin="t0ken-t0ken\n")  # fmt: skip
    return "g"


def _rows(cli: Cli, table: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(cli.data_dir / "jobs.sqlite3")
    try:
        return db.execute(f"SELECT * FROM {table}").fetchall()
    finally:
        db.close()


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf"])
def test_watch_timeout_must_be_positive_and_finite(cli: Cli, value: str) -> None:
    done = cli("watch", "--until-done", "--timeout", value, expect=2, timeout=30)
    _one_line_error(done, "--timeout", value)


@pytest.mark.parametrize(
    ("base_url", "needle"),
    [
        ("http://h:99999", "port"),
        ("http://h:abc", "port"),
        ("http://[::1", "IPv6"),
        ("https://", "without a host"),
    ],
)
def test_a_broken_base_url_is_refused(cli: Cli, base_url: str, needle: str) -> None:
    done = cli("accounts", "add", "b", "--provider", "vainu", "--base-url", base_url,
               "--secret-stdin", stdin="k3y-k3y\n", expect=2)  # fmt: skip
    _one_line_error(done, "base URL", needle)
    assert cli.json("accounts", "list", "--json") == []


@pytest.mark.parametrize(
    "options",
    [
        ["poll_min=nan"],
        ["poll_min=inf"],
        ["poll_max=infinity"],
        ["poll_min=10", "poll_max=5"],
    ],
)
def test_poll_bounds_must_be_finite_positive_and_ordered(
    cli: Cli, simulator: Simulator, options: list[str]
) -> None:
    flags = [arg for option in options for arg in ("--option", option)]
    done = cli("accounts", "add", "p", "--provider", "vainu", "--base-url",
               simulator.base_url("vainu"), *flags, "--secret-stdin",
               stdin="k3y-k3y\n", expect=2)  # fmt: skip
    _one_line_error(done, "poll_")
    assert cli.json("accounts", "list", "--json") == []


@pytest.mark.parametrize(
    "flags",
    [
        ["--method", "GET\r\nX-Evil: 1"],
        ["--method", "GET /x"],
        ["--path", "/x\r\nHost: evil.example"],
        ["--path", "/x\n"],
        ["--path", "http://127.0.0.1:99999/x"],
        ["--param", "q=a\r\nb"],
        ["--content-type", "application/json\r\nX-Evil: 1"],
    ],
)
def test_line_breaks_in_request_fields_are_refused_before_sending(
    cli: Cli, simulator: Simulator, flags: list[str]
) -> None:
    account = add_account(cli, simulator, "vainu")
    before = len(simulator.requests("vainu"))
    _one_line_error(cli("submit", account, *flags, expect=2), flags[0])
    assert len(simulator.requests("vainu")) == before  # nothing was sent
    assert _rows(cli, "jobs") == []
    _store_is_sound(cli)


def test_a_header_option_with_a_line_break_is_refused(cli: Cli, api: _Api) -> None:
    done = cli("accounts", "add", "h", "--provider", "generic-202", "--base-url", api.origin,
               "--option", "auth=header", "--option", "auth_header=X-Key\r\nX-Evil: 1",
               "--secret-stdin", stdin="k3y-k3y\n", expect=2)  # fmt: skip
    _one_line_error(done, "--option", "one line")
    assert cli.json("accounts", "list", "--json") == []


def test_a_100_kb_reference_to_track_is_one_short_line(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "vainu")
    before = len(simulator.requests("vainu"))
    line = _one_line_error(cli("track", account, "j" * 100_000, expect=2), "100,000 characters")
    assert len(line) < 300
    assert len(simulator.requests("vainu")) == before
    assert _rows(cli, "jobs") == [] and _rows(cli, "events") == []


def test_a_long_unknown_job_id_is_quoted_short(cli: Cli) -> None:
    line = _one_line_error(cli("download", "x" * 50_000, expect=2), "unknown job")
    assert len(line) < 200 and "(50,000 characters)" in line


def test_a_long_unknown_provider_is_quoted_short(cli: Cli) -> None:
    added = cli("accounts", "add", "acc", "--provider", "p" * 50_000, "--base-url",
                "https://api.test", expect=2)  # fmt: skip
    line = _one_line_error(added, "unknown provider")
    assert len(line) < 400 and "(50,000 characters)" in line


def test_a_long_unknown_account_is_quoted_short(cli: Cli) -> None:
    line = _one_line_error(cli("submit", "a" * 50_000, expect=2), "unknown account")
    assert len(line) < 200 and "(50,000 characters)" in line


def test_deeply_nested_body_is_malformed_json(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "vainu")
    deep = "[" * 50_000 + "]" * 50_000
    done = cli("submit", account, "--body", deep, expect=2)
    line = _one_line_error(done, "malformed JSON in --body", "nested")
    assert len(line) < 300
    assert _rows(cli, "jobs") == []


def test_a_body_is_checked_as_the_json_its_profile_declares(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "testo")  # [submit] content_type = "application/json"
    done = cli("submit", account, "--body", "<time_range/>", expect=2)  # not inferred as XML
    _one_line_error(done, "malformed JSON in --body")
    assert simulator.requests("testo") == []
    cli(
        "submit", account, "--body", '{"time_range": {"from": "2024-01-01T00:00:00Z"}}', expect=None
    )
    (post,) = simulator.requests("testo")
    assert post.headers["content-type"] == "application/json"


def test_deeply_nested_profile_is_a_profile_error(cli: Cli, tmp_path: Path) -> None:
    profile = tmp_path / "deep.toml"
    profile.write_text('id = "deep"\nx = ' + "[" * 20_000 + "]" * 20_000 + "\n")
    _one_line_error(cli("--profile", str(profile), "jobs", expect=2), "deep.toml", "nested")
    inline = tmp_path / "inline.toml"
    inline.write_text('id = "deep"\nx = ' + "{a = " * 20_000 + "1" + "}" * 20_000 + "\n")
    _one_line_error(cli("--profile", str(inline), "jobs", expect=2), "inline.toml", "nested")
    checked = cli("profiles", "check", str(profile), expect=2)
    assert "Traceback" not in checked.stderr and "nested" in checked.stderr


@pytest.mark.parametrize("target", ["data:text/plain,hello", "http://127.0.0.1:99999/x"])
def test_a_redirect_to_a_non_http_url_is_not_followed(cli: Cli, api: _Api, target: str) -> None:
    account = _generic(cli, api)
    api.routes["/jobs"] = (307, {"Location": target}, b"")
    done = cli("submit", account, "--method", "POST", "--path", "/jobs", expect=1)
    _one_line_error(done, "redirected to", "does not follow")
    assert _rows(cli, "jobs") == []
    _store_is_sound(cli)


@pytest.mark.parametrize("value", ["1e12", "99999999999999999999999"])
def test_a_huge_retry_after_waits_at_most_six_hours(cli: Cli, api: _Api, value: str) -> None:
    account = _generic(cli, api)
    api.routes["/jobs"] = (202, {"Operation-Location": "/ops/1", "Retry-After": value}, b"")
    job_id = cli("submit", account, "--method", "POST", "--path", "/jobs").stdout.strip()
    (row,) = _rows(cli, "jobs")
    stored = dict(zip(_job_columns(cli), row, strict=True))
    assert stored["id"] == job_id
    wait = datetime.fromisoformat(stored["next_poll_at"]) - datetime.fromisoformat(
        stored["submitted_at"]
    )
    assert timedelta(hours=5, minutes=59) <= wait <= timedelta(hours=6, minutes=1)


@pytest.mark.parametrize("value", ["inf", "Infinity"])
def test_an_infinite_retry_after_is_ignored(cli: Cli, api: _Api, value: str) -> None:
    """Unusable values (also NaN and negative ones: tests/core/net/test_http.py) are ignored."""
    account = _generic(cli, api)
    api.routes["/jobs"] = (202, {"Operation-Location": "/ops/1", "Retry-After": value}, b"")
    api.routes["/ops/1"] = (200, {"Retry-After": value, "retry-after-ms": value},
                            json.dumps({"status": "Succeeded"}).encode())  # fmt: skip
    cli("submit", account, "--method", "POST", "--path", "/jobs")
    cli("watch", "--until-done", "--timeout", "30", "--no-auto-download")
    assert [j["state"] for j in cli.json("jobs", "--json")] == ["succeeded"]


def test_a_data_result_link_is_refused_at_once(cli: Cli, api: _Api, tmp_path: Path) -> None:
    account = _generic(cli, api)
    api.routes["/jobs"] = (202, {"Operation-Location": "/ops/1"}, b"")
    api.routes["/ops/1"] = (200, {}, json.dumps(
        {"status": "Succeeded", "resourceLocation": "data:text/plain,hello"}
    ).encode())  # fmt: skip
    cli("submit", account, "--method", "POST", "--path", "/jobs")
    watched = cli("watch", "--until-done", "--timeout", "30",
                  "--download-dir", str(tmp_path / "out"), expect=1)  # fmt: skip
    assert "Traceback" not in watched.stderr
    (job,) = cli.json("jobs", "--json")
    (result,) = job["results"]
    assert result["download_state"] == "failed"
    assert "data: URL" in result["error"]
    kinds = [row[3] for row in _rows(cli, "events")]
    assert "download-retry" not in kinds  # refused at once, not retried as a network error
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def _job_columns(cli: Cli) -> list[str]:
    db = sqlite3.connect(cli.data_dir / "jobs.sqlite3")
    try:
        return [r[1] for r in db.execute("PRAGMA table_info(jobs)")]
    finally:
        db.close()
