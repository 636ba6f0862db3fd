"""Deterministic result files: realistic text (Vainu companies, testo device rows, Shoptet snapshot
lines) of exactly the requested size.

A file is a header, then rows cycled from a few hundred seeded rows (so a 100 MB file costs a few
block copies, not a million string formats), padded with spaces to the exact size, then a tail.
The same seed always gives the same bytes, and the fakes store each file once, so
`Simulator.expected_results` is the stored copy.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

UNIQUE_ROWS = 400

_TOWNS = ["Helsinki", "Espoo", "Tampere", "Oulu", "Turku", "Stockholm", "Oslo", "Tallinn"]
_INDUSTRIES = ["software", "logistics", "retail", "energy", "construction", "healthcare"]
_WORDS = ["Nordic", "Arctic", "Blue", "Polar", "Birch", "Lake", "Granite", "Aurora", "Fjord"]
_SUFFIXES = ["Oy", "Ab", "AS", "Group", "Solutions", "Labs"]
_CHANNELS = [("temperature", "°C"), ("humidity", "%RH"), ("co2", "ppm"), ("pressure", "hPa")]


def fill(
    *, head: bytes, rows: Sequence[bytes], sep: bytes, tail: bytes, size: int, pad: bytes = b" "
) -> bytes:
    """head + rows (cycled, joined by sep) + padding + tail, exactly `size` bytes long."""
    budget = size - len(head) - len(tail)
    if budget < 0:
        return (head + tail)[:size]
    block = sep.join(rows)
    parts: list[bytes] = []
    used = 0
    if len(block) + len(sep) <= budget:
        repeats = (budget - len(block)) // (len(block) + len(sep)) + 1
        parts.append(sep.join([block] * repeats))
        used = len(parts[0])
    for row in rows:
        extra = len(row) + (len(sep) if parts else 0)
        if used + extra > budget:
            break
        parts.append(row)
        used += extra
    body = sep.join(parts)
    return head + body + pad * (budget - len(body)) + tail


def _company(rng: random.Random, n: int) -> dict[str, object]:
    name = f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {rng.choice(_SUFFIXES)}"
    return {
        "business_id": f"{rng.randrange(1000000, 9999999)}-{n % 10}",
        "company_name": name,
        "country": "FI" if n % 3 else "SE",
        "city": rng.choice(_TOWNS),
        "industry": rng.choice(_INDUSTRIES),
        "employees": rng.randrange(1, 5000),
        "revenue_eur": rng.randrange(10_000, 900_000_000),
        "website": f"https://www.{name.split()[0].lower()}{n}.example",
    }


def vainu_file(fmt: str, *, size: int, seed: str) -> bytes:
    """Get Companies results as CSV (with a header row), a JSON array or JSON lines."""
    rng = random.Random(seed)
    companies = [_company(rng, n) for n in range(UNIQUE_ROWS)]
    if fmt == "json":
        rows = [json.dumps(c).encode() for c in companies]
        return fill(head=b"[", rows=rows, sep=b",\n", tail=b"]\n", size=size)
    if fmt == "jsonl":
        rows = [json.dumps(c).encode() for c in companies]
        return fill(head=b"", rows=rows, sep=b"\n", tail=b"\n", size=size)
    head = (",".join(companies[0]) + ",note\n").encode()
    rows = [(",".join(str(v) for v in c.values()) + ",").encode() for c in companies]
    return fill(head=head, rows=rows, sep=b"\n", tail=b"\n", size=size)


def testo_file(fmt: str, *, size: int, seed: str) -> bytes:
    """One device-data export file in the requested `result_file_format`."""
    rng = random.Random(seed)
    records = []
    for n in range(UNIQUE_ROWS):
        channel, unit = _CHANNELS[n % len(_CHANNELS)]
        records.append(
            {
                "device_id": f"dev-{rng.randrange(1000, 9999)}",
                "serial_no": f"{rng.randrange(10**7, 10**8)}",
                "timestamp": f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00Z",
                "channel": channel,
                "value": round(rng.uniform(-20, 1100), 2),
                "unit": unit,
                "status": "ok" if n % 17 else "alarm",
            }
        )
    fmt = fmt.upper()
    if fmt == "JSON":
        rows = [json.dumps(r, ensure_ascii=False).encode() for r in records]
        return fill(head=b"[", rows=rows, sep=b",\n", tail=b"]\n", size=size)
    if fmt in ("CSV", "TEXTFILE"):
        delim = "," if fmt == "CSV" else "\t"
        head = (delim.join(records[0]) + f"{delim}note\n").encode()
        rows = [(delim.join(str(v) for v in r.values()) + delim).encode() for r in records]
        return fill(head=head, rows=rows, sep=b"\n", tail=b"\n", size=size)
    # Binary formats are not worth faking for real: a labelled repeating pattern.
    magic = {"PARQUET": b"PAR1", "ORC": b"ORC", "AVRO": b"Obj\x01"}.get(fmt, b"")
    rows = [bytes((i * 31 + k) % 256 for k in range(64)) for i in range(16)]
    return fill(head=magic, rows=rows, sep=b"", tail=magic, size=size, pad=b"\x00")


def testo_metadata(*, request_uuid: str, path: str, fmt: str, files: Sequence[bytes]) -> bytes:
    meta = {
        "request_uuid": request_uuid,
        "endpoint": path,
        "result_file_format": fmt,
        "files": [{"index": i, "size": len(f)} for i, f in enumerate(files)],
        "total_size": sum(len(f) for f in files),
    }
    return json.dumps(meta, indent=2).encode() + b"\n"


def shoptet_file(endpoint: str, *, size: int, seed: str) -> bytes:
    """A snapshot as JSON lines (one product, order or image result a line)."""
    rng = random.Random(seed)
    kind = "order" if "orders" in endpoint else "product"
    rows = []
    joined = -1  # the length of the rows so far joined by "\n"
    for n in range(UNIQUE_ROWS):
        item = {
            "guid": f"{rng.getrandbits(32):08x}-0000-4000-8000-{n:012d}",
            "code": f"{kind[0].upper()}{n:05d}",
            "name": f"{rng.choice(_WORDS)} {kind} {n}",
            "price": f"{rng.uniform(1, 999):.2f}",
            "currencyCode": "CZK",
            "stock": rng.randrange(0, 500),
        }
        rows.append(json.dumps(item, ensure_ascii=False).encode())
        joined += len(rows[-1]) + 1
        if joined >= size - 1:  # a small file holds only these first rows: `fill` needs no more
            break
    return fill(head=b"", rows=rows, sep=b"\n", tail=b"\n", size=size)


def padded_json(data: dict[str, object], *, size: int) -> bytes:
    """`data` as JSON with a `padding` string making it `size` bytes (or as small as it gets)."""
    bare = json.dumps({**data, "padding": ""}).encode()
    missing = max(0, size - len(bare))
    return json.dumps({**data, "padding": "." * missing}).encode()


def shopify_file(*, size: int, seed: str) -> bytes:
    """A bulk query's result: JSON lines, one product a line, as Shopify's JSONL output."""
    rng = random.Random(seed)
    rows = []
    for n in range(UNIQUE_ROWS):
        item = {
            "id": f"gid://shopify/Product/{rng.randrange(10**12, 10**13)}",
            "title": f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {n}",
            "handle": f"{rng.choice(_WORDS).lower()}-{n}",
            "status": "ACTIVE" if n % 7 else "DRAFT",
        }
        rows.append(json.dumps(item, ensure_ascii=False).encode())
    return fill(head=b"", rows=rows, sep=b"\n", tail=b"\n", size=size)


def hubspot_file(fmt: str, *, size: int, seed: str) -> bytes:
    """A CRM export: CSV rows of contacts (the spreadsheet formats as opaque bytes)."""
    rng = random.Random(seed)
    rows = []
    for n in range(UNIQUE_ROWS):
        first, last = rng.choice(_WORDS), rng.choice(_SUFFIXES)
        record = f"{rng.randrange(10**9, 10**10)},{first.lower()}.{n}@example.com,{first},{last}"
        rows.append(record.encode())
    if fmt != "CSV":  # XLSX, XLS: a spreadsheet the simulator does not build; its size is right
        return fill(head=b"PK\x03\x04", rows=rows, sep=b"\x00", tail=b"", size=size, pad=b"\x00")
    head = b"Record ID,Email,First Name,Last Name\n"
    return fill(head=head, rows=rows, sep=b"\n", tail=b"\n", size=size)


def amazon_report(report_type: str, *, size: int, seed: str) -> bytes:
    """An SP-API flat-file report: tab-separated listing rows under the report's header (every
    report type gets the listings columns; only the size and the bytes matter here)."""
    rng = random.Random(seed)
    head = (
        b"item-name\titem-description\tlisting-id\tseller-sku\tprice\tquantity\topen-date\t"
        b"asin1\tfulfillment-channel\tstatus\n"
    )
    rows = []
    for n in range(UNIQUE_ROWS):
        name = f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {rng.choice(_INDUSTRIES)} kit"
        listing = f"{rng.randrange(10**9, 10**10)}{chr(65 + n % 26)}"
        asin = f"B0{rng.randrange(10**7, 10**8)}"
        price = f"{rng.randrange(199, 99999) / 100:.2f}"
        row = (f"{name}\t\t{listing}\tSKU-{seed[-4:]}-{n:04d}\t{price}\t{rng.randrange(0, 500)}\t"
               f"2026-0{1 + n % 9}-1{n % 10} 10:00:00 PDT\t{asin}\tDEFAULT\tActive")  # fmt: skip
        rows.append(row.encode())
    return fill(head=head, rows=rows, sep=b"\n", tail=b"\n", size=size)
