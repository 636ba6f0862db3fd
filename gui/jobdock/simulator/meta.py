"""A fake Meta Marketing API (Graph API): asynchronous insights report runs.

`POST /vXX.X/act_{ad_account_id}/insights` with the insights parameters (`fields`, `level`,
`time_range` or `date_preset`, …, in the query or a form body) starts an async report run and
answers `{"report_run_id": "…"}`. `GET /vXX.X/{report_run_id}` reads it: `async_status` "Job Not
Started", "Job Started", "Job Running", then "Job Completed" ("Job Failed" for
`sim_outcome=fail`, "Job Skipped" for `sim_outcome=skip`), `async_percent_completion` 0 to 100,
`time_ref`, `time_completed`, `date_start`, `date_stop`. `GET /vXX.X/{report_run_id}/insights`
answers the result a page at a time: `{"data": [...], "paging": {"cursors": {"before", "after"},
"next"}}`, `next` a full URL on this origin (absent on the last page), `limit` rows a page (at
most 50 here, 25 by default), `sim_files` pages (default 2). A `next` (and a `previous`) repeats
the request's own query with `access_token=<the token the request presented>` in it, whether the
request carried it in its query or as `Authorization: Bearer`: the Graph API writes the token
into its paging links (its documentation's examples leave it out), and a client that keeps these
URLs must drop it. The access token is accepted as the `access_token` parameter or as
`Authorization: Bearer`; errors are `{"error": {"message", "type", "code", "fbtrace_id"}}`.
https://developers.facebook.com/docs/marketing-api/insights/best-practices/#asynchronous
https://developers.facebook.com/docs/marketing-api/reference/ad-report-run/
https://developers.facebook.com/docs/graph-api/results
"""

from __future__ import annotations

import base64
import json
import random
import re
import secrets
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode

from jobdock.simulator.config import DemoProfile, SimConfig
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.wire import Reply, Request, json_reply, same_secret

_SUBMIT = re.compile(r"^/(v\d+\.\d+)/act_(\d+)/insights$")
_RUN = re.compile(r"^/(v\d+\.\d+)/(\d{15,17})(/insights)?$")
_LEVELS = ("account", "campaign", "adset", "ad")
PAGE_CAP = 50
VERSION = "v21.0"
_CAMPAIGNS = ("Spring sale", "Retargeting", "Brand awareness", "App installs", "Lead gen")


def graph_error(status: int, message: str, kind: str, code: int) -> Reply:
    trace = base64.b64encode(secrets.token_bytes(8)).decode().rstrip("=")
    return json_reply(status, {"error": {"message": message, "type": kind, "code": code,
                                         "fbtrace_id": trace}})  # fmt: skip


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str) -> int | None:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
        return int(text.removeprefix("offset:")) if text.startswith("offset:") else None
    except ValueError:
        return None


class MetaApi(Api):
    """`graph.facebook.com` for async insights report runs (see above)."""

    name = "meta-insights"

    def __init__(self, *, config: SimConfig, secret: str) -> None:
        super().__init__()
        self.config = config
        self.secret = secret
        self.jobs = JobBook(config)

    @property
    def base_url(self) -> str:
        """What an account's base URL is: the origin and an API version."""
        return f"{self.origin}/{VERSION}"

    def _token(self, req: Request) -> str | None:
        """The access token the request presented, in its query or its `Authorization`."""
        if "access_token" in req.params:
            return req.params["access_token"]
        scheme, _, token = (req.header("Authorization") or "").partition(" ")
        return token.strip() if scheme.lower() in ("bearer", "oauth") else None

    def demo_profile(self, origin: Callable[[str], str]) -> DemoProfile:
        """The demo's account: the profile's request on an ad account the fake knows."""
        return DemoProfile(path="act_1234567890/insights")

    def route(self, req: Request) -> Reply:
        token = self._token(req)
        if token is None:
            return graph_error(400, "An active access token must be used to query information "
                               "about the current user.", "OAuthException", 2500)  # fmt: skip
        if not same_secret(token, self.secret):
            return graph_error(400, "Invalid OAuth access token - Cannot parse access token",
                               "OAuthException", 190)  # fmt: skip
        match = _SUBMIT.match(req.path)
        if match is not None:
            if req.method != "POST":
                return self._unsupported(req)
            return self._submit(req, match.group(2))
        match = _RUN.match(req.path)
        job = self.jobs.get(match.group(2)) if match else None
        if match is None or job is None or req.method != "GET":
            return self._unsupported(req)
        if match.group(3):
            return self._insights(req, job)
        return json_reply(200, self.run(job))

    @staticmethod
    def _unsupported(req: Request) -> Reply:
        message = (f"Unsupported {req.method.lower()} request. Object with ID '{req.path}' does "
                   "not exist, cannot be loaded due to missing permissions, or does not support "
                   "this operation.")  # fmt: skip
        return graph_error(400, message, "GraphMethodException", 100)

    def _submit(self, req: Request, account_id: str) -> Reply:
        params = dict(req.params)
        if req.body and "json" not in (req.header("Content-Type") or ""):
            params.update(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        elif req.body:
            try:
                body = json.loads(req.body)
            except (UnicodeDecodeError, json.JSONDecodeError):
                body = None
            if isinstance(body, dict):
                params.update({k: v if isinstance(v, str) else json.dumps(v)
                               for k, v in body.items()})  # fmt: skip
        level = params.get("level", "ad")
        if level not in _LEVELS:
            return graph_error(400, f"(#100) level must be one of the following values: "
                               f"{', '.join(_LEVELS)}", "OAuthException", 100)  # fmt: skip
        since, until = "2026-11-01", "2026-11-30"
        if "time_range" in params:
            try:
                window = json.loads(params["time_range"])
                since, until = str(window["since"]), str(window["until"])
            except (ValueError, KeyError, TypeError):
                return graph_error(400, "(#100) Param time_range must be a JSON object with "
                                   "since and until", "OAuthException", 100)  # fmt: skip
        fields = [f.strip() for f in params.get("fields", "impressions,spend").split(",")]
        run_id = str(10**15 + secrets.randbelow(9 * 10**15))
        self.jobs.create(
            id=run_id, created=req.at, controls=self.jobs.controls(req.params), method="POST",
            path=req.path, params=req.params, body=req.body,
            extra={"account": account_id, "level": level, "fields": [f for f in fields if f],
                   "since": since, "until": until, "version": req.path.split("/")[1]},
        )  # fmt: skip
        return json_reply(200, {"report_run_id": run_id})

    def _status(self, job: FakeJob, now: float) -> tuple[str, int]:
        phase = job.phase(now)
        if phase is Phase.QUEUED:
            return "Job Not Started", 0
        if phase is Phase.RUNNING:
            share = (now - job.started_at) / max(job.duration - job.queue, 1e-9)
            return ("Job Started" if share < 0.25 else "Job Running"), min(99, int(100 * share))
        outcome = {"succeed": "Job Completed", "skip": "Job Skipped"}.get(job.outcome)
        return outcome or "Job Failed", 100 if outcome == "Job Completed" else 0

    def run(self, job: FakeJob) -> dict[str, object]:
        """The report run as `GET /vXX.X/{report_run_id}` answers it now."""
        now = self.config.clock()
        status, percent = self._status(job, now)
        answer: dict[str, object] = {
            "id": job.id, "account_id": job.extra["account"], "time_ref": int(job.created),
            "async_status": status, "async_percent_completion": percent,
            "date_start": job.extra["since"], "date_stop": job.extra["until"],
            "is_running": job.phase(now) is not Phase.DONE,
        }  # fmt: skip
        if job.phase(now) is Phase.DONE:
            answer["time_completed"] = int(job.finished_at)
        return answer

    def _rows(self, job: FakeJob, per_page: int) -> list[dict[str, str]]:
        rng = random.Random(job.id)
        rows = []
        for n in range(per_page * max(1, job.files)):
            campaign = str(23850000000000000 + rng.randrange(10**6))
            row: dict[str, str] = {}
            for name in job.extra["fields"]:
                if name in ("account_id", "campaign_id", "adset_id", "ad_id"):
                    row[name] = job.extra["account"] if name == "account_id" else campaign
                elif name.endswith("_name"):
                    row[name] = f"{rng.choice(_CAMPAIGNS)} {n}"
                elif name in ("spend", "cpc", "cpm", "ctr"):
                    row[name] = f"{rng.uniform(0.1, 500):.2f}"
                else:
                    row[name] = str(rng.randrange(10**5))
            row["date_start"], row["date_stop"] = job.extra["since"], job.extra["until"]
            rows.append(row)
        return rows

    def _insights(self, req: Request, job: FakeJob) -> Reply:
        if self._status(job, self.config.clock())[0] != "Job Completed":
            return graph_error(400, "(#100) The report run is not completed yet",
                               "OAuthException", 100)  # fmt: skip
        params = req.params
        try:
            limit = int(params.get("limit", "25"))
        except ValueError:
            limit = 0
        if limit <= 0:
            return graph_error(400, "(#100) Param limit must be a positive integer",
                               "OAuthException", 100)  # fmt: skip
        offset = _offset(params["after"]) if "after" in params else 0
        if offset is None:
            return graph_error(400, "(#100) Invalid cursor", "OAuthException", 100)
        return Reply(status=200, content_type="application/json",
                     body=self.page(job, dict(params), offset, self._token(req)))  # fmt: skip

    def page(self, job: FakeJob, params: dict[str, str], offset: int, token: str | None) -> bytes:
        """One page of the report run's insights, as served for a request with `params` that
        presented `token` (echoed into its paging links)."""
        per_page = min(int(params.get("limit", "25")), PAGE_CAP)
        rows = self._rows(job, per_page)
        data = rows[offset : offset + per_page]
        end = offset + len(data)
        paging: dict[str, object] = {
            "cursors": {"before": _cursor(offset), "after": _cursor(max(end - 1, offset))}
        }
        own = {k: v for k, v in params.items() if k not in ("access_token", "after", "before")}
        echoed = {"access_token": token} if token else {}
        if end < len(rows):
            query = {**echoed, **own, "after": _cursor(end)}
            paging["next"] = (f"{self.origin}/{job.extra['version']}/{job.id}/insights?"
                              f"{urlencode(query)}")  # fmt: skip
        if offset > 0:
            query = {**echoed, **own, "before": _cursor(offset)}
            paging["previous"] = (f"{self.origin}/{job.extra['version']}/{job.id}/insights?"
                                  f"{urlencode(query)}")  # fmt: skip
        return json.dumps({"data": data, "paging": paging}, indent=2).encode()

    def expected_results(self, remote_id: str, limit: int = 500) -> list[bytes]:
        """Every page of a completed run, as the bundled profile asks for them (`limit`, the
        token in a header: echoed into each page's links all the same)."""
        job = self.jobs.get(remote_id)
        if job is None or self._status(job, self.config.clock())[0] != "Job Completed":
            return []
        pages, offset, params = [], 0, {"limit": str(limit)}
        total = min(limit, PAGE_CAP) * max(1, job.files)
        while True:
            pages.append(self.page(job, dict(params), offset, self.secret))
            offset += min(limit, PAGE_CAP)
            if offset >= total:
                return pages
            params["after"] = _cursor(offset)
