"""A fake Stripe Reporting API (report runs) and its file host (`files.stripe.com`).

Every request needs the secret key, as the user name of HTTP Basic auth (any password) or as
`Authorization: Bearer` (401 `invalid_request_error` otherwise). `POST /v1/reporting/report_runs`
takes a form: `report_type` and `parameters[interval_start]`/`parameters[interval_end]` (Unix
timestamps, the start before the end and the end not past the data's availability), and
answers the `reporting.report_run` object, `status: pending`; `GET
/v1/reporting/report_runs/{id}` answers it `pending`, then `succeeded` with `result`, a `file`
object whose `url` (`/v1/files/{file}/contents` on the file host) needs the same key, or
`failed` with `error` (`sim_outcome=fail`). Errors are Stripe's `{"error": {"type", "message",
"param"}}`.
https://docs.stripe.com/api/reporting/report_run
https://docs.stripe.com/reports/api
"""

from __future__ import annotations

import base64
import binascii
import random
import re
import secrets
import string
from collections.abc import Callable
from urllib.parse import parse_qsl

from jobdock.simulator.config import DemoProfile, SimConfig
from jobdock.simulator.content import UNIQUE_ROWS, fill
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.wire import Reply, Request, json_reply, same_secret

SUBMIT = "/v1/reporting/report_runs"
_RUN = re.compile(r"^/v1/reporting/report_runs/(frr_[A-Za-z0-9]+)$")
_CONTENTS = re.compile(r"^/v1/files/(file_[A-Za-z0-9]+)/contents$")
# Some of https://docs.stripe.com/reports/report-types and their first CSV columns.
REPORT_TYPES = {
    "balance.summary.1": "category,description,net_amount,currency",
    "balance_change_from_activity.summary.1": "reporting_category,currency,count,gross,fee,net",
    "balance_change_from_activity.itemized.3": "balance_transaction_id,created_utc,available_"
    "on_utc,currency,gross,fee,net,reporting_category,description",
    "payouts.summary.1": "reporting_category,currency,count,gross,fee,net",
    "payouts.itemized.3": "payout_id,effective_at_utc,currency,gross,fee,net,reporting_category,"
    "description",
    "payout_reconciliation.summary.1": "reporting_category,currency,count,gross,fee,net",
    "payout_reconciliation.itemized.5": "automatic_payout_id,automatic_payout_effective_at,"
    "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,description",
    "ending_balance_reconciliation.summary.1": "reporting_category,currency,count,gross,fee,net",
}
_CATEGORIES = ["charge", "refund", "fee", "payout", "adjustment", "dispute", "transfer"]


def _stripe_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24))


def stripe_error(status: int, message: str, param: str | None = None) -> Reply:
    error: dict[str, object] = {"type": "invalid_request_error", "message": message}
    if param is not None:
        error["param"] = param
    return json_reply(status, {"error": error})


def secret_key(req: Request) -> str | None:
    """The secret key a request presents: Basic auth's user name, or a bearer token."""
    scheme, _, value = (req.header("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            user, _, _ = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user
    return None


def refused(req: Request, secret: str) -> Reply | None:
    """Stripe's 401 for a request without the right key (None: it has it)."""
    key = secret_key(req)
    if not key:
        return stripe_error(401, "You did not provide an API key. You need to provide your API "
                            "key in the Authorization header, using Bearer auth (e.g. "
                            "'Authorization: Bearer YOUR_SECRET_KEY').")  # fmt: skip
    if not same_secret(key, secret):
        return stripe_error(401, f"Invalid API Key provided: {key[:8]}{'*' * 12}{key[-4:]}")
    return None


def report_csv(report_type: str, *, size: int, seed: str) -> bytes:
    """A report's CSV: its header and seeded rows in major currency units."""
    rng = random.Random(seed)
    columns = REPORT_TYPES[report_type].split(",")
    rows = []
    for n in range(UNIQUE_ROWS):
        cells = []
        for column in columns:
            if column in ("gross", "fee", "net", "net_amount"):
                cells.append(f"{rng.randrange(-50_000, 500_000) / 100:.2f}")
            elif column == "currency":
                cells.append(rng.choice(["usd", "eur"]))
            elif column in ("category", "reporting_category"):
                cells.append(rng.choice(_CATEGORIES))
            elif column == "count":
                cells.append(str(rng.randrange(1, 900)))
            else:
                cells.append(f"{column.split('_')[0]}_{n}")
        rows.append(",".join(cells).encode())
    return fill(head=REPORT_TYPES[report_type].encode() + b"\n", rows=rows, sep=b"\n",
                tail=b"\n", size=size)  # fmt: skip


class StripeFilesApi(Api):
    """`files.stripe.com`: a report's file at `/v1/files/{id}/contents`, for the secret key."""

    name = "stripe-files"

    def __init__(self, *, config: SimConfig, secret: str) -> None:
        super().__init__()
        self.secret = secret
        self.jobs = JobBook(config)  # none: the files are the report runs' (persist reads it)
        self.find: Callable[[str], bytes | None] = lambda file_id: None

    def route(self, req: Request) -> Reply:
        denied = refused(req, self.secret)
        if denied is not None:
            return denied
        match = _CONTENTS.match(req.path)
        data = self.find(match.group(1)) if match and req.method == "GET" else None
        if data is None:
            return stripe_error(404, f"No such file: '{req.path}'", "id")
        return Reply(status=200, body=data, content_type="text/csv")

    def expected_results(self, remote_id: str) -> list[bytes]:
        return []


class StripeReportsApi(Api):
    name = "stripe-reports"

    def __init__(self, *, config: SimConfig, files: StripeFilesApi, secret: str) -> None:
        super().__init__()
        self.config = config
        self.files = files
        self.secret = secret
        self.jobs = JobBook(config)
        self.files_origin: Callable[[], str] = lambda: files.origin
        files.find = self._file

    def demo_profile(self, origin: Callable[[str], str]) -> DemoProfile:
        """The demo's account: its report files come from the files host, with the key."""
        return DemoProfile(options={"result_hosts": origin("stripe-files")})

    def _file(self, file_id: str) -> bytes | None:
        """The bytes of the report file `file_id`, once its run has succeeded."""
        now = self.config.clock()
        for job in self.jobs.all():
            if job.extra.get("file") == file_id and job.succeeded(now):
                return job.results[0]
        return None

    def route(self, req: Request) -> Reply:
        denied = refused(req, self.secret)
        if denied is not None:
            return denied
        if req.path == SUBMIT and req.method == "POST":
            return self._submit(req)
        match = _RUN.match(req.path)
        job = self.jobs.get(match.group(1)) if match and req.method == "GET" else None
        if job is None:
            run_id = req.path.rsplit("/", 1)[-1]
            return stripe_error(404, f"No such reporting.report_run: '{run_id}'", "id")
        return json_reply(200, self._run(job))

    def _submit(self, req: Request) -> Reply:
        if "application/x-www-form-urlencoded" not in (req.header("Content-Type") or ""):
            return stripe_error(400, "Invalid request: the body must be form-encoded "
                                "(application/x-www-form-urlencoded).")  # fmt: skip
        try:
            form = dict(parse_qsl(req.body.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            return stripe_error(400, "Invalid request: the body is not UTF-8.")
        report_type = form.get("report_type", "")
        if not report_type:
            return stripe_error(400, "Missing required param: report_type.", "report_type")
        if report_type not in REPORT_TYPES:
            return stripe_error(400, f"No such report type: '{report_type}'", "report_type")
        now = int(self.config.clock())
        interval: dict[str, int] = {}
        for name in ("interval_start", "interval_end"):
            key = f"parameters[{name}]"
            try:
                interval[name] = int(form[key])
            except KeyError:
                return stripe_error(400, f"Missing required param: {key}.", key)
            except ValueError:
                return stripe_error(400, f"Invalid integer: {form[key]}", key)
        if interval["interval_end"] <= interval["interval_start"]:
            message = "parameters[interval_end] must be after parameters[interval_start]."
            return stripe_error(400, message, "parameters[interval_end]")
        if interval["interval_end"] > now:
            return stripe_error(400, f"parameters[interval_end] must be at most {now}, the "
                                "data_available_end of this report type.",
                                "parameters[interval_end]")  # fmt: skip
        run_id = _stripe_id("frr_")
        job = self.jobs.create(id=run_id, created=req.at, controls=self.jobs.controls(req.params),
                               method="POST", path=req.path, params=req.params,
                               body=req.body)  # fmt: skip
        job.extra.update(report_type=report_type, parameters=interval)
        if job.outcome == "succeed":
            file_id = _stripe_id("file_")
            data = report_csv(report_type, size=job.size, seed=run_id)
            job.extra["file"] = file_id
            job.results.append(data)
        return json_reply(200, self._run(job))

    def _run(self, job: FakeJob) -> dict[str, object]:
        done = job.phase(self.config.clock()) is Phase.DONE
        status = "pending" if not done else "succeeded" if "file" in job.extra else "failed"
        answer: dict[str, object] = {
            "id": job.id,
            "object": "reporting.report_run",
            "created": int(job.created),
            "error": None,
            "livemode": False,
            "parameters": job.extra["parameters"],
            "report_type": job.extra["report_type"],
            "result": None,
            "status": status,
            "succeeded_at": None,
        }
        if status == "failed":
            answer["error"] = "The report could not be run (simulated)."
        elif status == "succeeded":
            file_id = str(job.extra["file"])
            answer["succeeded_at"] = int(job.finished_at)
            answer["result"] = {
                "id": file_id,
                "object": "file",
                "created": int(job.finished_at),
                "expires_at": None,
                "filename": f"{job.id}.csv",
                "links": {
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "url": f"/v1/file_links?file={file_id}",
                },
                "purpose": "finance_report_run",
                "size": len(job.results[0]),
                "title": f"FinanceReportRun {job.id}",
                "type": "csv",
                "url": f"{self.files_origin()}/v1/files/{file_id}/contents",
            }
        return answer

    def expected_results(self, remote_id: str) -> list[bytes]:
        job = self.jobs.get(remote_id)
        return list(job.results) if job is not None else []
