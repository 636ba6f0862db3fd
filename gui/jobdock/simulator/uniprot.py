"""A fake UniProt ID mapping service (rest.uniprot.org's `idmapping`), which needs no key.

`POST /idmapping/run` takes a form (URL-encoded or multipart, as the documentation's `curl
--form` sends it): `from`, `to`, `ids` (separated by commas or spaces, at most 100,000) and
optionally `taxId`, and answers `{"jobId": …}` (40 hex digits). `GET /idmapping/status/{jobId}`
answers `{"jobStatus": "NEW"}`, then `RUNNING`; once finished `303 See Other` with `Location` the
results (`/idmapping/results/{jobId}` for a plain mapping, `/idmapping/uniprotkb/…`,
`/idmapping/uniref/…` or `/idmapping/uniparc/results/{jobId}` when the target is UniProtKB,
UniRef or UniParc) and the body `{"jobStatus": "FINISHED"}`; a job that failed answers 500 with
`{"jobStatus": "ERROR"}` (`sim_outcome=fail`), and one whose result would exceed the documented
500,000 "mapped to" ids (`sim_files` above 1000) 400 with `{"jobStatus": "ERROR", "errors":
[{"code": 40, "message": …}]}`. `GET /idmapping/details/{jobId}` names the
request and, once finished, its `redirectURL`. The results come in pages: `size` entries a page
(25 unless asked, at most 500), `format` `tsv` (a header row on every page) or `json`
(`{"results": [{"from", "to"}]}`, the default), and while more follow a `Link: <…?cursor=…>;
rel="next"` to the next page (the page's own query kept, `cursor` set), with `X-Total-Results`.
A job's result has `sim_files` (default 2) pages of 500 entries, the last one half full. Errors
are `{"url", "messages": [...]}` bodies.
https://www.uniprot.org/help/id_mapping_prog
https://www.uniprot.org/help/pagination
https://www.uniprot.org/help/id_mapping
https://github.com/ebi-uniprot/uniprot-rest-api (IdMappingJobController.createStatus)
"""

from __future__ import annotations

import hashlib
import random
import re
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl, urlencode

from jobdock.simulator.config import SimConfig
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.wire import Reply, Request, json_reply

PAGE = 500  # the most a page may hold, and a result's page in the simulator
MAX_MAPPED = 500_000  # "Total number of "mapped to" ids allowed" (id_mapping_prog)
LIMIT_ERROR = {"code": 40, "message": 'Id Mapping API is not supported for mapping results with '
               '"mapped to" IDs more than 500,000'}  # fmt: skip
DEFAULT_SIZE = 25
MAX_IDS = 100_000
_STATUS = re.compile(r"^/idmapping/status/([0-9a-f]{40})$")
_DETAILS = re.compile(r"^/idmapping/details/([0-9a-f]{40})$")
_RESULTS = re.compile(r"^/idmapping/(?:(uniprotkb|uniref|uniparc)/)?results/([0-9a-f]{40})$")
# Some of https://rest.uniprot.org/configure/idmapping/fields: the target's results path
TARGETS = {
    "UniProtKB": "uniprotkb",
    "UniProtKB-Swiss-Prot": "uniprotkb",
    "UniRef100": "uniref",
    "UniRef90": "uniref",
    "UniRef50": "uniref",
    "UniParc": "uniparc",
    "UniProtKB_AC-ID": "",
    "Gene_Name": "",
    "GeneID": "",
    "Ensembl": "",
    "PDB": "",
    "RefSeq_Protein": "",
    "EMBL-GenBank-DDBJ": "",
}
SOURCES = ("UniProtKB_AC-ID", "UniParc", "UniRef100", "UniRef90", "UniRef50", "Gene_Name",
           "GeneID", "Ensembl", "PDB", "RefSeq_Protein", "EMBL-GenBank-DDBJ")  # fmt: skip
COLUMNS = {
    "uniprotkb": "From\tEntry\tEntry Name\tReviewed\tProtein names\tGene Names\tOrganism\tLength",
    "uniref": "From\tCluster ID\tCluster Name\tCommon taxon\tSize\tDate of creation",
    "uniparc": "From\tEntry\tOrganisms\tUniProtKB\tFirst seen\tLast seen\tLength",
    "": "From\tTo",
}
_PROTEINS = ["Amyloid-beta precursor protein", "Hemoglobin subunit beta", "Insulin",
             "Cellular tumor antigen p53", "Serum albumin", "Myoglobin"]  # fmt: skip
_GENES = ["APP", "HBB", "INS", "TP53", "ALB", "MB", "EGFR", "BRCA1"]


def uniprot_error(req: Request, status: int, *messages: str) -> Reply:
    return json_reply(status, {"url": f"http://rest.uniprot.org{req.path}",
                               "messages": list(messages)})  # fmt: skip


def _form(req: Request) -> dict[str, str] | None:
    """The submitted form, URL-encoded or multipart (None: neither)."""
    kind = req.header("Content-Type") or ""
    if "application/x-www-form-urlencoded" in kind:
        try:
            return dict(parse_qsl(req.body.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            return None
    if "multipart/form-data" in kind:
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {kind}\r\n\r\n".encode() + req.body
        )
        form: dict[str, str] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                form[name] = payload.decode("utf-8", "replace")
        return form
    return None


class UniProtIdMappingApi(Api):
    name = "uniprot-idmapping"

    def __init__(self, *, config: SimConfig) -> None:
        super().__init__()
        self.config = config
        self.jobs = JobBook(config)
        self.secret = ""  # none is asked for; the demo's saved state restores one for every API

    def route(self, req: Request) -> Reply:
        if req.path == "/idmapping/run":
            if req.method != "POST":
                return uniprot_error(req, 405, f"Request method '{req.method}' not supported")
            return self._run(req)
        for pattern, answer in ((_STATUS, self._status), (_DETAILS, self._details)):
            match = pattern.match(req.path)
            if match is not None:
                job = self.jobs.get(match.group(1))
                if job is None:
                    return uniprot_error(req, 404, "Resource not found")
                return answer(req, job)
        match = _RESULTS.match(req.path)
        if match is not None:
            job = self.jobs.get(match.group(2))
            if job is None:
                return uniprot_error(req, 404, "Resource not found")
            return self._results(req, job, match.group(1) or "")
        return uniprot_error(req, 404, "Resource not found")

    def _run(self, req: Request) -> Reply:
        form = _form(req)
        if form is None:
            return uniprot_error(req, 415, "Content type not supported: send a form")
        problems = [f"'{name}' is a required parameter" for name in ("from", "to", "ids")
                    if not form.get(name, "").strip()]  # fmt: skip
        if problems:
            return uniprot_error(req, 400, *problems)
        source, target = form["from"], form["to"]
        if source not in SOURCES:
            return uniprot_error(req, 400, f"The parameter 'from' has an invalid value '{source}'.")
        if target not in TARGETS:
            return uniprot_error(req, 400, f"The parameter 'to' has an invalid value '{target}'.")
        ids = [i for i in re.split(r"[\s,]+", form["ids"]) if i]
        if len(ids) > MAX_IDS:
            return uniprot_error(req, 400, f"Maximum number of ids allowed is {MAX_IDS}.")
        digest = hashlib.sha1(req.body + str(req.at).encode() + str(len(self.jobs.all())).encode())
        job = self.jobs.create(id=digest.hexdigest(), created=req.at,
                               controls=self.jobs.controls(req.params), method="POST",
                               path=req.path, params=req.params, body=req.body,
                               extra={"from": source, "to": target, "ids": ids,
                                      "taxId": form.get("taxId")})  # fmt: skip
        return json_reply(200, {"jobId": job.id})

    def _state(self, job: FakeJob) -> str:
        phase = job.phase(self.config.clock())
        if phase is Phase.QUEUED:
            return "NEW"
        if phase is Phase.RUNNING:
            return "RUNNING"
        return "FINISHED" if job.outcome == "succeed" and not self._too_many(job) else "ERROR"

    def _too_many(self, job: FakeJob) -> bool:
        """More mapped entries than the service allows (the result's row count, not built)."""
        return PAGE * max(1, job.files) - PAGE // 2 > MAX_MAPPED

    def results_path(self, job: FakeJob) -> str:
        db = TARGETS[job.extra["to"]]
        return f"/idmapping/{db}/results/{job.id}" if db else f"/idmapping/results/{job.id}"

    def _status(self, req: Request, job: FakeJob) -> Reply:
        state = self._state(job)
        if state == "FINISHED":
            location = self.origin + self.results_path(job)
            return json_reply(303, {"jobStatus": state}, headers=(("Location", location),))
        if state == "ERROR" and self._too_many(job):
            return json_reply(400, {"jobStatus": state, "errors": [LIMIT_ERROR]})
        if state == "ERROR":
            return json_reply(500, {"jobStatus": state})
        return json_reply(200, {"jobStatus": state})

    def _details(self, req: Request, job: FakeJob) -> Reply:
        answer: dict[str, object] = {"from": job.extra["from"], "to": job.extra["to"],
                                     "ids": ",".join(job.extra["ids"])}  # fmt: skip
        if job.extra["taxId"]:
            answer["taxId"] = job.extra["taxId"]
        if self._state(job) == "FINISHED":
            answer["redirectURL"] = self.origin + self.results_path(job)
        return json_reply(200, answer)

    def _results(self, req: Request, job: FakeJob, db: str) -> Reply:
        state = self._state(job)
        if state != "FINISHED":
            return uniprot_error(req, 400, f"Job id '{job.id}' is not finished: {state}")
        if db != TARGETS[job.extra["to"]]:
            return uniprot_error(req, 400, f"Invalid request for job id '{job.id}': its "
                                 f"results are at {self.results_path(job)}")  # fmt: skip
        params = req.params
        fmt = params.get("format", "json")
        if fmt not in ("json", "tsv"):
            return uniprot_error(req, 400, f"Invalid format requested: '{fmt}'")
        try:
            size = int(params.get("size", str(DEFAULT_SIZE)))
            start = int(params.get("cursor", "0"), 36)
        except ValueError:
            return uniprot_error(req, 400, "'size' and 'cursor' must be valid")
        if not 0 <= size <= PAGE:
            return uniprot_error(req, 400, f"'size' must be less then or equal to {PAGE}")
        rows = self.rows(job)
        if not 0 <= start <= len(rows):
            return uniprot_error(req, 400, "Invalid cursor")
        end = min(start + size, len(rows))
        headers: list[tuple[str, str]] = [("X-Total-Results", str(len(rows)))]
        if end < len(rows):
            kept = [(k, v) for k, v in parse_qsl(req.query, True) if k != "cursor"]
            query = urlencode([("cursor", _base36(end)), *kept])
            headers.append(("Link", f'<{self.origin}{req.path}?{query}>; rel="next"'))
        body, kind = self.page(job, start, end, fmt)
        return Reply(status=200, body=body, content_type=kind, headers=tuple(headers))

    def rows(self, job: FakeJob) -> list[list[str]]:
        """The job's mapped entries, one a row (`From` first), seeded by its id."""
        cached: list[list[str]] | None = job.extra.get("rows")
        if cached is not None:
            return cached
        rng = random.Random(job.id)
        db = TARGETS[job.extra["to"]]
        ids = job.extra["ids"]
        count = PAGE * max(1, job.files) - PAGE // 2
        rows = []
        for n in range(count):
            source = ids[n % len(ids)]
            entry = f"{rng.choice('OPQ')}{rng.randrange(10)}{rng.randrange(10**4):04d}"
            gene = rng.choice(_GENES)
            if db == "uniprotkb":
                rows.append([source, entry, f"{gene}_HUMAN", rng.choice(["reviewed", "unreviewed"]),
                             rng.choice(_PROTEINS), gene, "Homo sapiens (Human)",
                             str(rng.randrange(50, 3000))])  # fmt: skip
            elif db == "uniref":
                rows.append([source, f"{job.extra['to']}_{entry}", f"Cluster: {gene}",
                             "Homo sapiens", str(rng.randrange(1, 90)), "2024-05-29"])  # fmt: skip
            elif db == "uniparc":
                rows.append(
                    [
                        source,
                        f"UPI{rng.randrange(16**10):010X}",
                        "Homo sapiens",
                        entry,
                        "2004-07-19",
                        "2025-04-09",
                        str(rng.randrange(50, 3000)),
                    ]
                )
            else:
                rows.append([source, f"{gene}{n}" if job.extra["to"] != "PDB" else entry])
        job.extra["rows"] = rows
        return rows

    def page(self, job: FakeJob, start: int, end: int, fmt: str) -> tuple[bytes, str]:
        rows = self.rows(job)[start:end]
        db = TARGETS[job.extra["to"]]
        if fmt == "tsv":
            lines = [COLUMNS[db], *("\t".join(row) for row in rows)]
            return ("\n".join(lines) + "\n").encode(), "text/plain;format=tsv"
        results = [{"from": row[0], "to": row[1]} for row in rows]
        body = json_reply(200, {"results": results}).body
        return body, "application/json"

    def expected_results(self, remote_id: str) -> list[bytes]:
        """Every page of a finished job's result, as the bundled profile asks (TSV, 500 a
        page)."""
        job = self.jobs.get(remote_id)
        if job is None or self._state(job) != "FINISHED":
            return []
        total = len(self.rows(job))
        return [self.page(job, start, min(start + PAGE, total), "tsv")[0]
                for start in range(0, total, PAGE)]  # fmt: skip


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text
