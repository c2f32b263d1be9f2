"""Freshness: the one rule measure (what to run), generate (refuse a stale record) and check share.

A record is fresh when its key is the key of what would be measured now: the tool and measure
versions, the settings that change a run, the snapshot's content, the baseline's and the suite's.
What its author says about a snapshot (title, date, parent, note, `expect:`) is no part of the key: no
run depends on it. A record keeps a copy of it, which `measure` rewrites without running anything
(`with_metadata`) and `check` and `generate` refuse when it is out of date (`metadata_changes`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from diary import MEASURE_VERSION, __version__
from diary.core.shape import to_data
from diary.project.config import Settings
from diary.project.discover import SnapshotMeta
from diary.project.records import ProducedBy, Record


def _hash_files(paths: list[Path], base: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.relative_to(base).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def suite_hash(settings: Settings) -> str:
    """The behavioural suite and the data files: a change to either re-runs every snapshot."""
    suite = sorted(
        p for p in settings.tests_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")
    ) if settings.suite_kind != "none" else []
    # A snapshot's own data files are part of its content hash (discover.SnapshotMeta.contract_digest).
    data = [settings.code_dir / file.source for file in settings.data_files]
    return _hash_files(suite + data, settings.root)[:16]


@dataclass(frozen=True)
class ExpectedKey:
    """The key a fresh record of one snapshot carries, and what it is made of (`produced_by`)."""

    key: str
    produced_by: ProducedBy


def expected_keys(settings: Settings, snapshots: list[SnapshotMeta]) -> dict[str, ExpectedKey]:
    """The expected key of every snapshot (the first one is the baseline), by id."""
    if not snapshots:
        return {}
    baseline_hash = snapshots[0].content_hash()
    suite = suite_hash(settings)
    return {snap.id: expected_key(snap, baseline_hash, settings, suite) for snap in snapshots}


def expected_key(snapshot: SnapshotMeta, baseline_hash: str, settings: Settings, suite: str,
                 content: str | None = None) -> ExpectedKey:
    """The key of `snapshot`'s record; `content` is the hash of the bytes that were staged for the
    run (measure passes it, so a record is keyed by what ran, even if a file changed meanwhile)."""
    produced_by = ProducedBy(
        tool=__version__, measure=MEASURE_VERSION, settings=settings.run_fingerprint(),
        normalise=settings.normalise_fingerprint(),
        content=(content or snapshot.content_hash())[:16], baseline=baseline_hash[:16], suite=suite,
    )
    parts = to_data(produced_by)  # in the order of the fields: the key of every committed record depends on it
    key = hashlib.sha256("|".join(f"{k}={v}" for k, v in parts.items()).encode()).hexdigest()[:24]
    return ExpectedKey(key, produced_by)


def staleness(record: Record | None, expected: ExpectedKey) -> list[str] | None:
    """None when `record` is fresh; else what changed since it was measured (`[]`: no record)."""
    if record is None:
        return []
    if record.key == expected.key:
        return None
    measured_from, now = to_data(record.produced_by), to_data(expected.produced_by)
    return [k for k, v in now.items() if measured_from.get(k) != v] or ["key"]

def metadata_changes(record: Record, snapshot: SnapshotMeta) -> list[str]:
    """What the author changed in `snapshot.yml` since the record's copy of it was written ([] when
    nothing): a title, a note, a parent or `expect:` needs a new copy, never a new run."""
    fresh = with_metadata(record, snapshot)
    changed = [name for name in ("title", "date", "parent", "note", "expect")
               if getattr(record.snapshot, name) != getattr(fresh.snapshot, name)]
    return changed or (["expect"] if record.verdict != fresh.verdict else [])


def with_metadata(record: Record, snapshot: SnapshotMeta) -> Record:
    """`record` with `snapshot`'s current metadata and the verdict's expectation that follows from
    it (whether the verdict is a surprise); what was measured is kept as it is."""
    info = replace(record.snapshot, title=snapshot.title, date=snapshot.date.isoformat(), parent=snapshot.parent,
                   note=snapshot.note, expect=snapshot.expect)
    verdict = replace(record.verdict, expected=snapshot.expect, surprise=record.verdict.status != snapshot.expect)
    return replace(record, snapshot=info, verdict=verdict)
