"""The generate stage's model: each snapshot with its record and text, its figures, the diary."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..discover import SnapshotMeta
from ..errors import DiaryError
from ..records import Definition, ExpectedKey, Record, record_path, staleness

DEFINITION_KINDS = ("class", "function")  # the top-level definitions that get a partial and variables


@dataclass
class Snapshot:
    """One snapshot with all generate needs: its metadata, its record and its files' text."""

    meta: SnapshotMeta
    record: Record
    raw: dict[str, bytes]
    texts: dict[str, str]
    # Top-level classes and functions by name (the first one when a name is defined twice).
    definitions: dict[str, Definition]

    @functools.cached_property
    def text_hashes(self) -> dict[str, str]:
        """sha256 of each file's text: what an excerpt's input hash names instead of the whole text."""
        return {name: hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
                for name, text in self.texts.items()}

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def broken(self) -> bool:
        return self.record.verdict.status != "ok"

    @property
    def code(self) -> int:
        return self.record.lines.total.code


@dataclass
class Metrics:
    """The figures every table, page and variable shows for one snapshot, computed once."""

    code: int
    comment: int  # comments + docstrings
    blank: int
    physical: int
    reference: str | None  # the nearest ancestor that is not broken: what the change is measured against
    vs_parent: int | None
    vs_baseline: int
    percent_vs_baseline: float
    best_so_far: int | None  # fewest code lines of a snapshot that is not broken, up to this one
    comments_kept: int
    comments_total: int
    comments_percent: float
    identical: bool  # after the normalisations in `normalised_by` (none: byte for byte)
    normalised_by: tuple[str, ...]
    tests_passed: int
    tests_failed: int  # failures + errors
    tests_total: int
    tests_status: str
    run_s: float
    cpu_s: float
    peak_mb: float
    status: str
    first_reason: str


@dataclass
class Diary:
    """The snapshots in order, their metrics, and the settings of the runs."""

    settings: Settings
    snapshots: list[Snapshot]
    metrics: dict[str, Metrics] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {snap.id: snap for snap in self.snapshots}
        self.index = {snap.id: position for position, snap in enumerate(self.snapshots)}
        self.metrics = compute_metrics(self)

    @property
    def baseline(self) -> Snapshot:
        return self.snapshots[0]

    @property
    def final(self) -> Snapshot:
        """The last snapshot that is not broken (the baseline when every one is)."""
        working = [snap for snap in self.snapshots if not snap.broken]
        return working[-1] if working else self.baseline

    def reference(self, snap: Snapshot) -> Snapshot | None:
        """The nearest ancestor that is not broken: a broken snapshot never counts as progress."""
        parent = snap.meta.parent
        while parent is not None:
            ancestor = self.by_id[parent]
            if not ancestor.broken:
                return ancestor
            parent = ancestor.meta.parent
        return None

    def children(self, snap: Snapshot) -> list[Snapshot]:
        return [other for other in self.snapshots if other.meta.parent == snap.id]


def load_snapshots(root: Path, metas: list[SnapshotMeta], records: dict[str, Record],
                   expected: dict[str, ExpectedKey]) -> list[Snapshot]:
    """Every snapshot with its record; a missing or stale record is an error that says what to run.

    Stale by the one rule that measure and check use (records.staleness): other files, settings,
    baseline, suite or tool. A record measured with other settings would publish figures next to
    settings they did not come from (`steps: 30` over runs of 20 steps)."""
    snapshots = []
    for meta in metas:
        path = record_path(root, meta.id)
        record = records.get(meta.id)
        changed = staleness(record, expected[meta.id])
        if record is None:
            raise DiaryError(f"snapshot '{meta.id}' has no record", file=path,
                             hint="run 'diary measure' to measure it")
        if changed is not None:
            raise DiaryError(f"the record of snapshot '{meta.id}' is stale: {', '.join(changed)} changed since "
                             "it was measured", file=path, hint="run 'diary measure' to measure it again")
        raw = meta.read_sources()
        texts = {name: data.decode("utf-8", errors="replace") for name, data in raw.items()}
        definitions: dict[str, Definition] = {}
        order = sorted(meta.files, key=lambda name: name != meta.entry)  # the entry file's wins a clash
        for name in order:
            for definition in record.definitions:
                if (definition.file == name and definition.kind in DEFINITION_KINDS
                        and definition.name not in definitions):
                    definitions[definition.name] = definition
        snapshots.append(Snapshot(meta, record, raw, texts, definitions))
    return snapshots


def compute_metrics(diary: Diary) -> dict[str, Metrics]:
    baseline_code = diary.baseline.code
    metrics: dict[str, Metrics] = {}
    best: int | None = None

    def percent(change: int) -> float:
        return round(100.0 * change / baseline_code, 1) if baseline_code else 0.0

    for snap in diary.snapshots:
        record = snap.record
        total = record.lines.total
        reference = diary.reference(snap)
        if not snap.broken:
            best = snap.code if best is None else min(best, snap.code)
        tests = record.tests
        failed = tests.failed + tests.errors
        reasons = record.verdict.reasons
        metrics[snap.id] = Metrics(
            code=snap.code,
            comment=total.comment + total.docstring,
            blank=total.blank,
            physical=total.physical,
            reference=reference.id if reference else None,
            vs_parent=snap.code - reference.code if reference else None,
            vs_baseline=snap.code - baseline_code,
            percent_vs_baseline=percent(snap.code - baseline_code),
            best_so_far=best,
            comments_kept=record.comments.kept,
            comments_total=record.comments.total,
            comments_percent=record.comments.percent,
            identical=record.behaviour.identical,
            normalised_by=record.behaviour.normalised_by,
            tests_passed=tests.passed,
            tests_failed=failed,
            tests_total=tests.passed + failed,
            tests_status=tests.status,
            run_s=round(record.run.wall_s, 2),
            cpu_s=round(record.run.cpu_s, 2),
            peak_mb=record.run.peak_mb,
            status=record.verdict.status,
            first_reason=reasons[0] if reasons else "",
        )
    return metrics
