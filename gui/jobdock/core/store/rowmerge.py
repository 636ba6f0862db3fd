"""Three-way merge of a job row, for the store's compare-and-set writes (`JobStore.put_jobs`).

A process writes a job it read at version `base`; when another process changed the row since
(`theirs`), the write is not simply applied: the fields the writer changed and the other did not
are taken from the writer (`ours`), every other field keeps the stored value, so of two changes
to one field the one already stored stays and the stale one loses. Results merge one by one when
both sides have the same number, field by field, by the same rule. The merged row gets an
`updated_at` later than the stored one, so every other process sees it as news.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import TypeVar

from jobdock.core.model.job import Job, Result

T = TypeVar("T", Job, Result)
TICK = timedelta(microseconds=1)


def merge(base: Job, ours: Job, theirs: Job) -> Job:
    """`theirs` with the fields only `ours` changed from `base`; `updated_at` after both."""
    merged = _merge_fields(base, ours, theirs, skip=("updated_at", "results"))
    results = _merge_results(base.results, ours.results, theirs.results)
    stamp = max(ours.updated_at, theirs.updated_at + TICK)
    return merged.replace(results=results, updated_at=stamp)


def _merge_fields(base: T, ours: T, theirs: T, *, skip: tuple[str, ...] = ()) -> T:
    changes: dict[str, object] = {}
    for field in dataclasses.fields(base):
        if field.name in skip:
            continue
        mine = getattr(ours, field.name)
        if mine != getattr(base, field.name) and getattr(theirs, field.name) == getattr(
            base, field.name
        ):
            changes[field.name] = mine
    # Ignored: mypy checks replace()'s keywords field by field, which a dict of changes
    # (typed object) cannot be; replace() itself still refuses an unknown field (TypeError).
    return dataclasses.replace(theirs, **changes) if changes else theirs  # type: ignore[arg-type]


def _merge_results(
    base: tuple[Result, ...], ours: tuple[Result, ...], theirs: tuple[Result, ...]
) -> tuple[Result, ...]:
    if len(base) == len(ours) == len(theirs):
        return tuple(_merge_fields(b, o, t) for b, o, t in zip(base, ours, theirs, strict=True))
    return ours if ours != base and theirs == base else theirs
