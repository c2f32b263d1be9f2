"""Stage "measure": count, run and test every snapshot; cached by content hash, run in parallel.

A record is reused when its key matches: sha256 of the snapshot's files, the run settings, the
measuring code's version, the baseline's files, the behavioural suite and the data files. Only
stale snapshots run; each finished record is written at once (atomically), so an interrupted
measure keeps everything already done.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from diary.core.atomic import remove_stale_temporaries
from diary.core.errors import DiaryError
from diary.measure.allowed import allowances
from diary.measure.derive import Measured, assemble, counts, derived_parts
from diary.measure.judge import Judge, Staged, copy_data, stage, with_setting_hint
from diary.measure.renormalise import keep_raw_stdout, renormalisable, renormalise
from diary.measure.rules import longest_line
from diary.measure.sandbox.run import chosen_sandbox, raise_for_infrastructure, run_sandboxed
from diary.measure.sandbox.supervise import RunResult
from diary.measure.testsuite import TestOutcome, collected_nothing, run_test_suite, scrub
from diary.project.config import CONFIG_NAME, Settings
from diary.project.discover import SnapshotMeta
from diary.project.freshness import ExpectedKey, expected_key, metadata_changes, staleness, with_metadata
from diary.project.merge import write_shard_folder
from diary.project.normalise import kept_lines, normalised_hashes, scrub_paths, terminal_lines
from diary.project.project import Project
from diary.project.records import (
    NO_PROBES,
    Probes,
    Record,
    Run,
    records_dir,
    remove_record,
    write_record,
)
from diary.project.shards import Shard, plan_for

T = TypeVar("T")
EXCERPT_CHARS = 2000


@dataclass
class MeasureReport:
    """What one `diary measure` did: every record (in snapshot order) and which ones ran."""

    snapshots: list[SnapshotMeta]
    records: dict[str, Record]
    measured: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    relabelled: list[str] = field(default_factory=list)  # cached, with the snapshot's new metadata
    renormalised: list[str] = field(default_factory=list)  # derived again under new normalisations
    removed: list[str] = field(default_factory=list)
    sandbox: str = "none"
    wall_s: float = 0.0

    @property
    def surprises(self) -> list[str]:
        return [s.id for s in self.snapshots if self.records[s.id].verdict.surprise]

    @property
    def exit_code(self) -> int:
        return 1 if self.surprises else 0


def run_snapshot(snapshot: Staged, settings: Settings, mode: str) -> tuple[RunResult, Run]:
    """One run of the program in a private directory holding its files and the data files: what the
    sandbox saw, and the record's part (made while the folder exists, whose path it scrubs)."""
    from diary.measure.sandbox.run import clean_environment

    with tempfile.TemporaryDirectory(prefix=f"diary-run-{snapshot.id}-") as tmp:
        work = Path(tmp)
        snapshot.write(work)  # the copy made at hashing time, not the files as they are now
        copy_data(settings, snapshot, work)
        # Not under the run-time guard: its figures are the sandbox's alone (a program may start
        # others here, under the sandbox's caps). The same counted code runs guarded in the probes,
        # on fresh seeds and as many steps, and beside the driver (judge.GUARD).
        argv = [settings.interpreter, snapshot.entry, *settings.command_args(snapshot.meta.args)]
        result = run_sandboxed(
            argv, workdir=work, timeout=settings.timeout, memory_mb=settings.memory_mb,
            output_bytes=settings.output_kb * 1024, env=clean_environment(work), mode=mode,
        )
        result = with_setting_hint(result, "timeout")
        return result, _run_part(result, work, snapshot.meta, settings)


def run_command(snapshot: SnapshotMeta, settings: Settings) -> str:
    """The command line of a snapshot's run, as a reader would type it in the run's folder."""
    return shlex.join(["python", snapshot.entry, *settings.command_args(snapshot.args)])


def _run_part(result: RunResult, workdir: Path, snapshot: SnapshotMeta, settings: Settings) -> Run:
    keep_raw_stdout(result.stdout, result.stdout_sha256)  # a normalisation added later re-runs nothing
    # As a terminal shows it (a \r-redrawn progress line is the one line a reader saw); the hashes
    # are of the raw bytes.
    lines = terminal_lines(result.stdout.decode("utf-8", errors="replace"))
    root = settings.root
    return Run(
        status=result.status,
        reason=scrub_paths(scrub(result.reason, workdir), root),
        exit_code=result.exit_code,
        signal=result.signal,
        wall_s=round(result.wall_s, 3),
        cpu_s=round(result.cpu_s, 3),
        peak_mb=round(result.peak_mb, 1),
        sandbox=result.sandbox,
        command=scrub_paths(run_command(snapshot, settings), root),
        stdout_sha256=result.stdout_sha256,
        stdout_normalised=normalised_hashes(settings.normalise, result.stdout),
        stdout_truncated=bool(result.stdout_truncated),
        stdout_lines=tuple(kept_lines(lines)),
        stdout_line_count=len(lines),
        # A progress bar on stderr (tqdm) is redrawn with \r too: its last state, as for stdout.
        stderr_excerpt=scrub_paths(scrub(_as_terminal(result.stderr_text()), workdir), root)[-EXCERPT_CHARS:],
    )


def _as_terminal(text: str) -> str:
    return "".join(line + "\n" for line in terminal_lines(text))


def build_record(
    staged: Staged, expected: ExpectedKey, run: Run, tests: TestOutcome,
    baseline: SnapshotMeta, baseline_run: Run, baseline_comments: list[str], settings: Settings,
    allowed: frozenset[str],
    baseline_longest_line: int,
) -> Record:
    root = settings.root
    measured = Measured(
        run=run,
        # The test messages and reasons without the host's paths (after testsuite.scrub's working directory).
        tests=tests.to_record(lambda text: scrub_paths(text, root)),
        probes=Probes(**tests.probes) if tests.probes else NO_PROBES,
    )
    derived = derived_parts(staged, baseline_comments, settings, measured, baseline_run, baseline.id,
                            allowed, baseline_longest_line)
    return assemble(staged.meta.id, expected.key, expected.produced_by, measured, derived)


def baseline_comments(baseline: SnapshotMeta | Staged) -> list[str]:
    return counts(baseline if isinstance(baseline, Staged) else stage(baseline)).comments


# (event, snapshot id, record) -> None; events: "planned" (id holds the count), "started", "done"
Progress = Callable[[str, str, Record | None], None]


def _announced(progress: Progress | None, snapshot_id: str, job: Callable[..., T], *args: object) -> T:
    """`job(*args)`, said first: a CI job cut off by its time limit shows which snapshot was running."""
    if progress:
        progress("started", snapshot_id, None)
    return job(*args)


def measure_all(
    project: Project,
    *,
    only: list[str] | None = None,
    force: bool = False,
    jobs: int | None = None,
    progress: Progress | None = None,
    write: bool = True,
    shard: Shard | None = None,
    out: str | Path | None = None,
    sandbox: str = "bwrap",
) -> MeasureReport:
    """Measure every stale snapshot (or those in `only`), write their records, return all records.

    The caller holds the command's lock; `project.records` is updated with what was measured. With
    `write=False` nothing is written or changed (`diary check --rerun` compares the fresh records with
    the committed ones). With `shard`, only that share of the snapshots to measure is measured and
    reported (shards.plan_for: the same share on every runner of one checkout). With `out` the
    records reported are also written to that folder: the artifact `diary merge` reads."""
    started = time.perf_counter()
    settings = project.settings
    root = settings.root
    snapshots = project.snapshots
    by_id = {s.id: s for s in snapshots}
    for wanted in only or []:
        if wanted not in by_id:
            raise DiaryError(f"unknown snapshot '{wanted}'", file=settings.snapshots_dir,
                             hint="known ids: " + ", ".join(by_id))
    # Only under the lock: a temporary file outside it may be another process's write in progress.
    if write:
        remove_stale_temporaries(records_dir(root))
    existing = project.records if force else project.strict_records()
    baseline = snapshots[0]
    keys = project.expected_keys
    stale = [
        s for s in snapshots
        if (only is None or s.id in only)
        and (force or staleness(existing.get(s.id), keys[s.id]) is not None)
    ]
    baseline_stale = staleness(existing.get(baseline.id), keys[baseline.id]) is not None
    if shard is not None:
        share = set(plan_for(snapshots, existing, shard.count, [s.id for s in stale]).share(shard))
        stale = [s for s in stale if s.id in share]
    report = MeasureReport(snapshots=snapshots, records=dict(existing), sandbox="none")
    report.cached = [s.id for s in snapshots if s not in stale]
    for snapshot in snapshots if shard is None else []:  # a new title, note, parent or expect: no run
        record = report.records.get(snapshot.id)
        if snapshot not in stale and record is not None and metadata_changes(record, snapshot):
            report.records[snapshot.id] = with_metadata(record, snapshot)
            report.relabelled.append(snapshot.id)
            if write:
                write_record(root, report.records[snapshot.id])
    for orphan in sorted(set(existing) - set(by_id)):
        if only is None and write and shard is None:
            remove_record(root, orphan)
            report.records.pop(orphan)
            report.removed.append(orphan)
    if stale and not force and shard is None and all(renormalisable(existing.get(s.id), keys[s.id]) for s in stale):
        for snap_id, record in renormalise(project, stale, keys, report.records).items():
            report.records[snap_id] = record
            if write:
                write_record(root, record)
        report.renormalised, stale = [s.id for s in stale], []
    if stale:
        report.sandbox = chosen_sandbox(sandbox, settings.sandbox, settings.root / CONFIG_NAME)
        if progress:
            progress("planned", str(len(stale)), None)
        # Another shard's baseline: run here too (every comparison needs its output), never recorded here.
        _measure(stale, baseline, settings, keys, report, jobs, progress, write,
                 run_baseline=baseline in stale or baseline_stale)
    if shard is not None:
        report.snapshots = [s for s in snapshots if s in stale]
        report.records = {s.id: report.records[s.id] for s in report.snapshots}
        report.cached = []
        if out:
            write_shard_folder(Path(out), report.records, shard)
        report.wall_s = time.perf_counter() - started
        return report
    missing = [s.id for s in snapshots if s.id not in report.records]
    if missing:
        raise DiaryError(
            f"no record for {', '.join(missing)}", file=records_dir(root),
            hint="run 'diary measure' without --only to measure them",
        )
    report.records = {s.id: report.records[s.id] for s in snapshots}
    if out:
        write_shard_folder(Path(out), report.records, shard)
    if write:
        project.records = dict(report.records)
        project.record_errors = []
    report.wall_s = time.perf_counter() - started
    return report


def _measure(
    stale: list[SnapshotMeta], baseline: SnapshotMeta, settings: Settings, keys: dict[str, ExpectedKey],
    report: MeasureReport, jobs: int | None, progress: Progress | None, write: bool = True,
    run_baseline: bool = True,
) -> None:
    workers = jobs or settings.jobs or os.cpu_count() or 1
    mode = report.sandbox
    # Each file is read once, here: the key, the counts, the rules, the run and the tests all use
    # these bytes (an edit during the measure changes nothing that is judged).
    staged = {s.id: stage(s) for s in stale}
    staged_baseline = staged.get(baseline.id) or stage(baseline)
    suite = keys[baseline.id].produced_by.suite
    keys = dict(keys)
    for snapshot in stale:
        keys[snapshot.id] = expected_key(snapshot, staged_baseline.content_hash, settings, suite,
                                         content=staged[snapshot.id].content_hash)
    judge = Judge.for_measure(settings, mode, staged_baseline)
    base_comments = baseline_comments(staged_baseline)
    allowed = allowances(staged_baseline.files)  # the baseline defines what the rules allow
    base_longest = longest_line(staged_baseline.code())
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="diary-measure") as pool:
        runs: dict[str, Future] = {}
        suites: dict[str, Future] = {}
        # The baseline's run first (every comparison needs it), then each snapshot's test suite
        # (its longest job) and its run, snapshot by snapshot: a record is written as soon as its
        # two jobs are done, not after every suite of the diary has run.
        if run_baseline:
            runs[baseline.id] = pool.submit(run_snapshot, staged_baseline, settings, mode)
        for snapshot in stale:
            suites[snapshot.id] = pool.submit(_announced, progress, snapshot.id, run_test_suite, staged[snapshot.id],
                                              settings, mode, judge)
            if snapshot is not baseline:
                runs[snapshot.id] = pool.submit(run_snapshot, staged[snapshot.id], settings, mode)
        if baseline.id in runs:
            raise_for_infrastructure(runs[baseline.id].result()[0], f"snapshot {baseline.id!r}")
            baseline_run = runs[baseline.id].result()[1]
        else:
            baseline_run = report.records[baseline.id].run
        if baseline.id in suites:
            try:
                _refuse_empty_suite(settings, *suites[baseline.id].result())
            except DiaryError:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        for snapshot in stale:
            outcome, suite_result = suites[snapshot.id].result()
            # A failure of the sandbox is no verdict: stop before anything of it is recorded.
            for result in (suite_result, runs[snapshot.id].result()[0]):
                raise_for_infrastructure(result, f"snapshot {snapshot.id!r}")
            run = baseline_run if snapshot is baseline else runs[snapshot.id].result()[1]
            expected = keys[snapshot.id]
            record = build_record(staged[snapshot.id], expected, run, outcome, baseline, baseline_run, base_comments,
                                  settings, allowed, base_longest)
            if write:
                write_record(settings.root, record)
            report.records[snapshot.id] = record
            report.measured.append(snapshot.id)
            if progress:
                progress("done", snapshot.id, record)



def _refuse_empty_suite(settings: Settings, outcome: TestOutcome, result: RunResult) -> None:
    """A suite in which pytest collects nothing on the baseline is the suite's fault, not every
    snapshot's: one error naming `tests:`, and nothing is recorded."""
    if collected_nothing(outcome, result):
        from diary.core.contract import SETTINGS_PATH
        from diary.core.yamlio import read_yaml

        path = settings.root / SETTINGS_PATH
        line = read_yaml(path).line_of("tests") if path.is_file() else None
        raise DiaryError(f"pytest collects no tests in {settings.tests!r}", file=path, line=line,
                         hint="add test_*.py files with test functions, or write 'tests: none' for no suite")
