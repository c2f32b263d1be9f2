"""A normalisation declared after the first measure, applied without running anything again.

What `normalise:` changes is how a run's output is compared (its hashes under each combination, the
behaviour, the verdict), never the run: when the declared normalisations are all that changed since
a record was measured, and the raw output of the run is still in the user's cache (kept there at
measure time, checked against the record's hash), the record is derived again from it. A record
whose probes ran needs its runs again (a probe's output is not kept), and a fresh machine (CI) has
no cache: both measure as before."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import replace

from diary.core import usercache
from diary.measure.allowed import allowances
from diary.measure.derive import assemble, counts, derived_parts, measured_parts
from diary.measure.judge import stage
from diary.measure.rules import longest_line
from diary.project.discover import SnapshotMeta
from diary.project.freshness import ExpectedKey, staleness
from diary.project.normalise import normalised_hashes
from diary.project.project import Project
from diary.project.records import Record

RAW = "stdout"  # the user cache's kind for raw outputs, by their sha256


def keep_raw_stdout(stdout: bytes, sha256: str) -> None:
    usercache.store(RAW, sha256, base64.b64encode(stdout).decode("ascii"))


def raw_stdout(sha256: str) -> bytes | None:
    """The raw output whose hash is `sha256`, if the cache holds it intact."""
    value = usercache.load(RAW, sha256)
    try:
        data = base64.b64decode(value, validate=True) if isinstance(value, str) else None
    except (binascii.Error, ValueError):
        return None
    return data if data is not None and hashlib.sha256(data).hexdigest() == sha256 else None


def renormalisable(record: Record | None, expected: ExpectedKey) -> bool:
    """Whether only the normalisations changed since `record`, and it can be derived again."""
    return (record is not None and staleness(record, expected) == ["normalise"] and record.probes.status == "not run"
            and raw_stdout(record.run.stdout_sha256) is not None)


def renormalise(project: Project, snapshots: list[SnapshotMeta], keys: dict[str, ExpectedKey],
                records: dict[str, Record]) -> dict[str, Record]:
    """New records of `snapshots` (each renormalisable) under the normalisations declared now."""
    settings, baseline = project.settings, project.snapshots[0]
    runs = {snap.id: replace(records[snap.id].run, stdout_normalised=normalised_hashes(
        settings.normalise, raw_stdout(records[snap.id].run.stdout_sha256) or b"")) for snap in snapshots}
    baseline_run = runs.get(baseline.id) or records[baseline.id].run
    staged_baseline = stage(baseline)
    comments = counts(staged_baseline).comments
    allowed = allowances(staged_baseline.files)  # the baseline defines what the rules allow
    fresh = {}
    for snap in snapshots:
        measured = replace(measured_parts(records[snap.id]), run=runs[snap.id])
        staged = staged_baseline if snap.id == baseline.id else stage(snap)
        derived = derived_parts(staged, comments, settings, measured, baseline_run, baseline.id, allowed,
                                longest_line(staged_baseline.code()))
        fresh[snap.id] = assemble(snap.id, keys[snap.id].key, keys[snap.id].produced_by, measured, derived)
    return fresh
