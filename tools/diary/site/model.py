"""The generate stage's model: each snapshot with its record and text, its figures, the diary."""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from diary.core.errors import DiaryError
from diary.measure.count import module_name
from diary.project.config import Settings
from diary.project.discover import SnapshotMeta, alternatives
from diary.project.freshness import ExpectedKey, metadata_changes, staleness
from diary.project.records import Definition, Record, best_snapshot, record_path
from diary.site.lineage import FileSource, Origin, follow_definitions, follow_moves, pair_files

DEFINITION_KINDS = ("class", "function")  # the top-level definitions that get a partial and variables


@dataclass
class Snapshot:
    """One snapshot with all generate needs: its metadata, its record and its files' text."""

    meta: SnapshotMeta
    record: Record
    raw: dict[str, bytes]
    texts: dict[str, str]
    # Top-level classes and functions by key (definition_keys): the bare name when the snapshot is one
    # module, else module and name (`pairs.main`), so that no definition hides another.
    definitions: dict[str, Definition]
    # Filled by Diary: what each definition continues of the parent's (lineage.follow_definitions),
    # and which of the parent's files each file is compared with (lineage.pair_files).
    origins: dict[str, Origin] = field(default_factory=dict)
    file_sources: dict[str, FileSource] = field(default_factory=dict)
    # Every key a definition had on the way from the baseline (itself included), by current key.
    aliases: dict[str, list[str]] = field(default_factory=dict)

    @functools.cached_property
    def text_hashes(self) -> dict[str, str]:
        """sha256 of each file's text: what an excerpt's input hash names instead of the whole text."""
        return {name: hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
                for name, text in self.texts.items()}

    @functools.cached_property
    def bare_names(self) -> dict[str, str]:
        """In a snapshot of several modules, each name that only one module defines, and its key: a
        post's `def.total` (or `_def-total.md`) still names `prog.total` once a second file is added."""
        counts = Counter(d.name for d in self.definitions.values())
        return {d.name: key for key, d in self.definitions.items() if counts[d.name] == 1 and key != d.name}

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
    tokens: int  # code tokens, without comments and docstrings (measure/size.py): cramming cannot lower them
    characters: int  # the characters of those tokens
    comment: int  # comments + docstrings
    blank: int
    physical: int
    reference: str | None  # the nearest ancestor that is not broken: what the change is measured against
    vs_parent: int | None
    vs_baseline: int
    percent_vs_baseline: float
    tokens_vs_baseline: int
    tokens_percent_vs_baseline: float
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
        self._alternatives = alternatives([snap.meta for snap in self.snapshots])
        for snap in self.snapshots:  # parents before children: a parent's aliases are known first
            parent = self.by_id.get(snap.meta.parent or "")
            if parent is None:
                snap.aliases = {key: [key] for key in snap.definitions}
                continue
            snap.file_sources = pair_files(parent.texts, snap.texts)
            snap.origins = follow_definitions(parent.definitions, parent.texts, snap.definitions, snap.texts,
                                              snap.meta.renames, snap.meta.meta_path)
            snap.file_sources = follow_moves(snap.file_sources, snap.origins, parent.definitions, snap.definitions)
            snap.aliases = {key: continued_names(parent.aliases.get(origin.parent_key or "", []), key)
                            for key, origin in snap.origins.items()}
        self.metrics = compute_metrics(self)

    @property
    def baseline(self) -> Snapshot:
        return self.snapshots[0]

    @property
    def best(self) -> Snapshot | None:
        """The shortest snapshot that works (fewest code lines; the earlier one on a tie), None when
        none does: a broken snapshot is never the best, not even the baseline. Several children of
        one parent are alternatives, not steps, so the last one is no "final": the best is what the
        diary achieved. In a chain that only shortens, it is the last working snapshot."""
        best = best_snapshot({snap.id: snap.record for snap in self.snapshots}, list(self.by_id))
        return self.by_id[best] if best is not None else None

    @property
    def is_chain(self) -> bool:
        """No snapshot has two children: every snapshot is a step, none an alternative."""
        return not self._alternatives

    def alternatives(self, snap: Snapshot) -> list[Snapshot]:
        """The children of `snap` when it has several (alternatives of one another), else []."""
        return [self.by_id[child] for child in self._alternatives.get(snap.id, [])]

    def definition_named(self, snap: Snapshot, name: str) -> tuple[str, Definition] | None:
        """The definition of `snap` that is `name` or continues it (under an earlier key on the way
        from the baseline, across renames): its key and its counts."""
        if name in snap.definitions:
            return name, snap.definitions[name]
        if name in snap.bare_names:
            return snap.bare_names[name], snap.definitions[snap.bare_names[name]]
        for key, names in snap.aliases.items():
            if name in names:
                return key, snap.definitions[key]
        return None

    def follow(self, key: str, older: Snapshot, newer: Snapshot) -> str | None:
        """The key in `newer` of `older`'s definition `key`, following renames down the parents from
        `older` to `newer` (an ancestor of it); None when it was removed on the way."""
        path = []
        current: Snapshot | None = newer
        while current is not None and current is not older:
            path.append(current)
            current = self.by_id.get(current.meta.parent or "")
        if current is None:
            return None
        for step in reversed(path):
            following = [child for child, origin in step.origins.items() if origin.parent_key == key]
            if not following:
                return None
            key = following[0]
        return key

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


def continued_names(earlier: list[str], key: str) -> list[str]:
    """The names a definition had, with `key` last; the same list (not a copy) when the name did not
    change, so a chain of a thousand snapshots keeps one list per definition, not a thousand."""
    return earlier if earlier and earlier[-1] == key else [*earlier, key]


def load_snapshots(root: Path, metas: list[SnapshotMeta], records: dict[str, Record],
                   expected: dict[str, ExpectedKey]) -> list[Snapshot]:
    """Every snapshot with its record; a missing or stale record is an error that says what to run.

    Stale by the one rule that measure and check use (freshness.staleness): other files, settings,
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
        if changes := metadata_changes(record, meta):
            raise DiaryError(f"the record of snapshot '{meta.id}' has its old {', '.join(changes)}", file=path,
                             hint="run 'diary measure': it rewrites what snapshot.yml says and runs nothing")
        raw = meta.read_sources()
        texts = {name: data.decode("utf-8", errors="replace") for name, data in raw.items()}
        snapshots.append(Snapshot(meta, record, raw, texts, definition_keys(meta, record)))
    return snapshots


def definition_keys(meta: SnapshotMeta, record: Record) -> dict[str, Definition]:
    """The top-level classes and functions of a snapshot by key, entry file first: the bare name when
    the program is one module (so `Value` stays `Value`), else module and name (`pairs.main`,
    `main.main`). A name defined again in the same module gets `-2`, `-3`, ... (no Python name holds
    a '-'): every definition has a key, a partial and variables, none hides another."""
    chosen = [d for d in record.definitions if d.kind in DEFINITION_KINDS]
    one_module = len(record.lines.files) <= 1
    order = {name: position for position, name in enumerate(sorted(meta.files, key=lambda n: n != meta.entry))}
    chosen.sort(key=lambda d: (order.get(d.file, len(order)), d.file, d.start))
    definitions: dict[str, Definition] = {}
    for definition in chosen:
        base = definition.name if one_module else f"{module_name(definition.file)}.{definition.name}"
        key, again = base, 1
        while key in definitions:
            again += 1
            key = f"{base}-{again}"
        definitions[key] = definition
    return definitions


def compute_metrics(diary: Diary) -> dict[str, Metrics]:
    baseline_code = diary.baseline.code
    baseline_tokens = diary.baseline.record.size.total.tokens
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
            tokens=record.size.total.tokens,
            characters=record.size.total.characters,
            comment=total.comment + total.docstring,
            blank=total.blank,
            physical=total.physical,
            reference=reference.id if reference else None,
            vs_parent=snap.code - reference.code if reference else None,
            vs_baseline=snap.code - baseline_code,
            percent_vs_baseline=percent(snap.code - baseline_code),
            tokens_vs_baseline=record.size.total.tokens - baseline_tokens,
            tokens_percent_vs_baseline=(round(100.0 * (record.size.total.tokens - baseline_tokens) / baseline_tokens,
                                              1)
                                        if baseline_tokens else 0.0),
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
