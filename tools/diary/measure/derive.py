"""The parts of a record that follow from the snapshot's files and from its measured parts.

`measure` builds every record with these functions; `diary check` calls them again on the committed
files and records, so a hand-edited record (42 code lines, a broken snapshot marked ok) is refused:
what is committed is re-derived, not believed. Cheap by design (counting and the static rules,
milliseconds a snapshot); what needs a run (stdout, tests, probes) is re-derived by
`diary check --rerun`, which measures again. Every part is the record's own type from the moment
it is made (project/records.py), so the invariants of the types hold for what is measured as for
what is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from diary.measure import size
from diary.measure.count import comment_retention, measure_file
from diary.measure.judge import Staged, rule_breaches
from diary.measure.rules import describe
from diary.project.config import Settings
from diary.project.discover import SnapshotMeta
from diary.project.linecounts import NO_LINES, NO_SIZE, Counts, Lines, Size, Sizes
from diary.project.normalise import Normalisation, filter_lines, leading_lines, needed_normalisations
from diary.project.records import (
    RECORD_SCHEMA,
    Behaviour,
    Breach,
    Comments,
    Definition,
    Difference,
    Probes,
    ProducedBy,
    Record,
    Run,
    SnapshotInfo,
    Tab,
    Tests,
    Verdict,
)


@dataclass(frozen=True)
class Measured:
    """The parts of a record that need a run of the program."""

    run: Run
    tests: Tests
    probes: Probes


@dataclass(frozen=True)
class Derived:
    """The parts of a record that follow from the files and the measured parts, in the record's order."""

    snapshot: SnapshotInfo
    lines: Lines
    size: Sizes
    definitions: tuple[Definition, ...]
    comments: Comments
    tabs: tuple[Tab, ...]
    behaviour: Behaviour
    breaches: tuple[Breach, ...]
    verdict: Verdict


DERIVED = tuple(field.name for field in fields(Derived))


@dataclass(frozen=True)
class CodeCounts:
    """What counting a snapshot's code gives: lines per file and in total, definitions, comments, tabs."""

    lines: Lines
    size: Sizes
    definitions: tuple[Definition, ...]
    comments: list[str]
    tabs: tuple[Tab, ...]


def counts(staged: Staged) -> CodeCounts:
    """Line counts per file and in total, per definition, comments, tab-indented lines: of every file
    the program can load as code (rules.code_files), whatever its extension; beside the lines, the code
    tokens and characters of each (size.py), which cramming cannot lower."""
    total = NO_LINES
    per_file: dict[str, Counts] = {}
    total_size = NO_SIZE
    per_file_size: dict[str, Size] = {}
    definitions: list[Definition] = []
    comments: list[str] = []
    tabs: list[Tab] = []
    for name, text in staged.code().items():
        measures = measure_file(text)  # by content, from the user's cache when another snapshot has the file
        per_file[name] = measures.counts
        total = total + measures.counts
        per_file_size[name] = Size(*size.total(measures.sizes))
        total_size = total_size + per_file_size[name]
        definitions.extend(Definition(definition.name, definition.kind, name, definition.start, definition.end,
                                      **definition.counts.as_dict(),
                                      **dict(zip(("tokens", "characters"),
                                                 size.total(measures.sizes, definition.start, definition.end),
                                                 strict=True)))
                           for definition in measures.definitions)
        comments.extend(measures.comments)
        tabs.extend(Tab(name, line) for line in measures.tabs)
    return CodeCounts(Lines(total, per_file), Sizes(total_size, per_file_size), tuple(definitions), comments,
                      tuple(tabs))


def compare_behaviour(run: Run, baseline_run: Run, baseline_id: str,
                      normalisations: Sequence[Normalisation] = ()) -> Behaviour:
    """identical when the stdout hashes agree (and both ran cleanly), byte for byte or under the
    fewest declared normalisations (named in `normalised_by`); else the first differing line."""
    both_ran = run.status == "ok" and baseline_run.status == "ok"
    if both_ran and run.stdout_sha256 == baseline_run.stdout_sha256:
        return Behaviour(True, True, (), baseline_id, None)
    needed = needed_normalisations(normalisations, run.stdout_normalised,
                                   baseline_run.stdout_normalised) if both_ran else None
    if needed is not None:
        return Behaviour(True, False, tuple(needed), baseline_id, None)
    # Line by line as far as both were kept without a gap (a long output keeps its head and tail).
    expected = filter_lines(normalisations, leading_lines(baseline_run.stdout_lines, baseline_run.stdout_line_count))
    actual = filter_lines(normalisations, leading_lines(run.stdout_lines, run.stdout_line_count))
    for index in range(max(len(expected), len(actual))):
        want = expected[index] if index < len(expected) else "<end of output>"
        got = actual[index] if index < len(actual) else "<end of output>"
        if want != got:
            break
    else:
        index = min(len(expected), len(actual))
        want = got = "<same as far as recorded>"
        if run.status != "ok":
            got = f"<run {run.status}: {run.reason}>"
    return Behaviour(False, False, (), baseline_id, Difference(index + 1, want, got))


def verdict(snapshot: SnapshotMeta, measured: Measured, behaviour: Behaviour, tabs: tuple[Tab, ...],
            breaches: tuple[Breach, ...]) -> Verdict:
    """broken when the run failed, the behaviour changed, a test or a probe failed, or a rule broke."""
    reasons = []
    run, tests, probes = measured.run, measured.tests, measured.probes
    if run.status != "ok":
        reasons.append(f"run {run.status}: {run.reason}")
    if not behaviour.identical:
        diff = behaviour.first_difference
        reasons.append(f"output differs from {behaviour.compared_with} at line {diff.line}"
                       if diff else "output differs from the baseline")
    if tests.status != "ok":
        reasons.append(f"tests {tests.status}: {tests.failed} failed, {tests.errors} errors"
                       + (f" ({tests.reason})" if tests.reason else ""))
    if tabs:
        reasons.append(f"{len(tabs)} line(s) indented with tabs")
    if not probes.identical:
        reasons.append(f"probes: {probes.reason}")
    reasons.extend(describe(b) for b in breaches if not b.what.startswith("indented with a tab"))
    status = "broken" if reasons else "ok"
    return Verdict(status, snapshot.expect, status != snapshot.expect, tuple(reasons))


def snapshot_info(snapshot: SnapshotMeta) -> SnapshotInfo:
    return SnapshotInfo(snapshot.title, snapshot.date.isoformat(), snapshot.parent, snapshot.note, snapshot.expect,
                        snapshot.entry, tuple(snapshot.files))


def derived_parts(staged: Staged, baseline_comments: list[str], settings: Settings, measured: Measured,
                  baseline_run: Run, baseline_id: str, allowed: frozenset[str],
                  baseline_longest_line: int) -> Derived:
    """Every part of the record but the measured ones (`run`, `tests`, `probes`); `allowed`: what
    the baseline does itself (rules.allowances), no breach in any snapshot; `baseline_longest_line`
    (rules.longest_line of the baseline's code): the line-length rule's limit unless `max_line_length` is set."""
    code = counts(staged)
    kept, total, dropped = comment_retention(baseline_comments, code.comments)
    behaviour = compare_behaviour(measured.run, baseline_run, baseline_id, settings.normalise)
    breaches = tuple(rule_breaches(staged, kept, total, settings, allowed, baseline_longest_line))
    return Derived(
        snapshot=snapshot_info(staged.meta), lines=code.lines, size=code.size, definitions=code.definitions,
        comments=Comments.of(kept, total, tuple(dropped)), tabs=code.tabs, behaviour=behaviour, breaches=breaches,
        verdict=verdict(staged.meta, measured, behaviour, code.tabs, breaches),
    )


def assemble(snapshot_id: str, key: str, produced_by: ProducedBy, measured: Measured, derived: Derived) -> Record:
    """The record of one measurement, from its measured and derived parts."""
    return Record(
        schema=RECORD_SCHEMA, id=snapshot_id, key=key, produced_by=produced_by, snapshot=derived.snapshot,
        lines=derived.lines, size=derived.size, definitions=derived.definitions, comments=derived.comments,
        tabs=derived.tabs,
        run=measured.run, behaviour=derived.behaviour, tests=measured.tests, probes=measured.probes,
        breaches=derived.breaches, verdict=derived.verdict,
    )


def measured_parts(record: Record) -> Measured:
    return Measured(record.run, record.tests, record.probes)
