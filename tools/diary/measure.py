"""Stage "measure": count, run and test every snapshot; cached by content hash, run in parallel.

A record is reused when its key matches: sha256 of the snapshot's files, the run settings, the
measuring code's version, the baseline's files, the behavioural suite and the data files. Only
stale snapshots run; each finished record is written at once (atomically), so an interrupted
measure keeps everything already done.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import MEASURE_VERSION, __version__
from .atomic import build_lock, remove_stale_temporaries
from .config import Settings
from .count import (
    LineCounts,
    comment_retention,
    count_definitions,
    count_lines,
    extract_comments,
    tab_indented_lines,
)
from .discover import SnapshotMeta, discover_snapshots
from .errors import DiaryError
from .records import RECORD_SCHEMA, load_records, records_dir, remove_record, write_record
from .sandbox import RunResult, raise_for_infrastructure, run_sandboxed, sandbox_mode
from .testsuite import TestOutcome, copy_data_files, copy_snapshot, run_test_suite, scrub

STDOUT_LINES_KEPT = 200  # enough for the whole output of a measured run; the hash covers the rest
EXCERPT_CHARS = 2000


@dataclass
class MeasureReport:
    """What one `diary measure` did: every record (in snapshot order) and which ones ran."""

    snapshots: list[SnapshotMeta]
    records: dict[str, dict]
    measured: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    sandbox: str = "none"
    wall_s: float = 0.0

    @property
    def surprises(self) -> list[str]:
        return [s.id for s in self.snapshots if self.records[s.id]["verdict"]["surprise"]]

    @property
    def exit_code(self) -> int:
        return 1 if self.surprises else 0


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
    )
    data = [settings.code_dir / name for name in settings.data_files]
    return _hash_files(suite + data, settings.root)[:16]


def cache_key(snapshot: SnapshotMeta, baseline_hash: str, settings: Settings, suite: str) -> tuple[str, dict]:
    produced_by = {
        "tool": __version__,
        "measure": MEASURE_VERSION,
        "settings": settings.run_fingerprint(),
        "content": snapshot.content_hash()[:16],
        "baseline": baseline_hash[:16],
        "suite": suite,
    }
    key = hashlib.sha256("|".join(f"{k}={v}" for k, v in produced_by.items()).encode()).hexdigest()[:24]
    return key, produced_by


def _counts(snapshot: SnapshotMeta) -> tuple[dict, list[dict], list[str], list[dict]]:
    """Line counts per file and in total, per definition, comments, tab-indented lines (.py files)."""
    total = LineCounts(0, 0, 0, 0, 0)
    per_file: dict[str, dict] = {}
    definitions: list[dict] = []
    comments: list[str] = []
    tabs: list[dict] = []
    for name in snapshot.files:
        if not name.endswith(".py"):
            continue
        text = (snapshot.directory / name).read_bytes().decode("utf-8", errors="replace")
        counts = count_lines(text)
        per_file[name] = counts.as_dict()
        total = total + counts
        for definition in count_definitions(text):
            definitions.append({"name": definition.name, "kind": definition.kind, "file": name,
                                "start": definition.start, "end": definition.end,
                                **definition.counts.as_dict()})
        comments.extend(extract_comments(text))
        tabs.extend({"file": name, "line": line} for line in tab_indented_lines(text))
    return {"total": total.as_dict(), "files": per_file}, definitions, comments, tabs


def run_snapshot(snapshot: SnapshotMeta, settings: Settings, mode: str) -> tuple[RunResult, Path]:
    """One run of the program in a private directory holding its files and the data files."""
    from .sandbox import clean_environment

    with tempfile.TemporaryDirectory(prefix=f"diary-run-{snapshot.id}-") as tmp:
        work = Path(tmp)
        copy_snapshot(snapshot, work)
        copy_data_files(settings, work)
        argv = [settings.interpreter, snapshot.entry, *settings.command_args()]
        result = run_sandboxed(
            argv, workdir=work, timeout=settings.timeout, memory_mb=settings.memory_mb,
            output_bytes=settings.output_kb * 1024, env=clean_environment(work), mode=mode,
        )
        return result, work


def _run_dict(outcome: tuple[RunResult, Path], snapshot: SnapshotMeta, settings: Settings) -> dict:
    result, workdir = outcome
    lines = result.stdout.decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return {
        "status": result.status,
        "reason": result.reason,
        "exit_code": result.exit_code,
        "signal": result.signal,
        "wall_s": round(result.wall_s, 3),
        "cpu_s": round(result.cpu_s, 3),
        "peak_mb": round(result.peak_mb, 1),
        "sandbox": result.sandbox,
        "command": shlex.join(["python", snapshot.entry, *settings.command_args()]),
        "stdout_sha256": result.stdout_sha256,
        "stdout_truncated": bool(result.stdout_truncated or len(lines) > STDOUT_LINES_KEPT),
        "stdout_lines": lines[:STDOUT_LINES_KEPT],
        "stderr_excerpt": scrub(result.stderr_text()[-EXCERPT_CHARS:], workdir),
    }


def compare_behaviour(run: dict, baseline_run: dict, baseline_id: str) -> dict:
    """identical when the stdout hashes agree (and both ran cleanly); else the first differing line."""
    both_ran = run["status"] == "ok" and baseline_run["status"] == "ok"
    if both_ran and run["stdout_sha256"] == baseline_run["stdout_sha256"]:
        return {"identical": True, "compared_with": baseline_id, "first_difference": None}
    expected, actual = baseline_run["stdout_lines"], run["stdout_lines"]
    for index in range(max(len(expected), len(actual))):
        want = expected[index] if index < len(expected) else "<end of output>"
        got = actual[index] if index < len(actual) else "<end of output>"
        if want != got:
            break
    else:
        index = min(len(expected), len(actual))
        want = got = "<same as far as recorded>"
        if run["status"] != "ok":
            got = f"<run {run['status']}: {run['reason']}>"
    return {"identical": False, "compared_with": baseline_id,
            "first_difference": {"line": index + 1, "expected": want, "actual": got}}


def verdict(snapshot: SnapshotMeta, record: dict) -> dict:
    """broken when the run failed, the behaviour changed, a test failed or indentation has tabs."""
    reasons = []
    run, behaviour, tests = record["run"], record["behaviour"], record["tests"]
    if run["status"] != "ok":
        reasons.append(f"run {run['status']}: {run['reason']}")
    if not behaviour["identical"]:
        diff = behaviour["first_difference"]
        reasons.append(f"output differs from {behaviour['compared_with']} at line {diff['line']}"
                       if diff else "output differs from the baseline")
    if tests["status"] != "ok":
        reasons.append(f"tests {tests['status']}: {tests['failed']} failed, {tests['errors']} errors"
                       + (f" ({tests['reason']})" if tests["reason"] else ""))
    if record["tabs"]:
        reasons.append(f"{len(record['tabs'])} line(s) indented with tabs")
    status = "broken" if reasons else "ok"
    return {"status": status, "expected": snapshot.expect, "surprise": status != snapshot.expect,
            "reasons": reasons}


def build_record(
    snapshot: SnapshotMeta, key: str, produced_by: dict, run: dict, tests: TestOutcome,
    baseline: SnapshotMeta, baseline_run: dict, baseline_comments: list[str],
) -> dict:
    lines, definitions, comments, tabs = _counts(snapshot)
    kept, total, dropped = comment_retention(baseline_comments, comments)
    record = {
        "schema": RECORD_SCHEMA,
        "id": snapshot.id,
        "key": key,
        "produced_by": produced_by,
        "snapshot": {
            "title": snapshot.title, "date": snapshot.date.isoformat(), "parent": snapshot.parent,
            "note": snapshot.note, "expect": snapshot.expect, "entry": snapshot.entry, "files": list(snapshot.files),
        },
        "lines": lines,
        "definitions": definitions,
        "comments": {"total": total, "kept": kept, "percent": round(100.0 * kept / total, 1) if total else 100.0,
                     "dropped": dropped},
        "tabs": tabs,
        "run": run,
        "behaviour": compare_behaviour(run, baseline_run, baseline.id),
        "tests": tests.as_dict(),
    }
    record["verdict"] = verdict(snapshot, record)
    return record


def baseline_comments(baseline: SnapshotMeta) -> list[str]:
    return _counts(baseline)[2]


# (event, snapshot id, record) -> None; events: "planned" (id holds the count), "done"
Progress = Callable[[str, str, dict | None], None]


def measure_all(
    settings: Settings,
    *,
    only: list[str] | None = None,
    force: bool = False,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> MeasureReport:
    """Measure every stale snapshot (or those in `only`), write their records, return all records."""
    started = time.perf_counter()
    root = settings.root
    snapshots = discover_snapshots(settings)
    by_id = {s.id: s for s in snapshots}
    for wanted in only or []:
        if wanted not in by_id:
            raise DiaryError(f"unknown snapshot '{wanted}'", file=settings.snapshots_dir,
                             hint="known ids: " + ", ".join(by_id))
    with build_lock(root):
        # Only under the lock: a temporary file outside it may be another process's write in progress.
        remove_stale_temporaries(records_dir(root))
        existing = load_records(root, force=force)
        baseline = snapshots[0]
        baseline_hash = baseline.content_hash()
        suite = suite_hash(settings)
        keys = {s.id: cache_key(s, baseline_hash, settings, suite) for s in snapshots}
        stale = [
            s for s in snapshots
            if (only is None or s.id in only)
            and (force or s.id not in existing or existing[s.id]["key"] != keys[s.id][0])
        ]
        report = MeasureReport(snapshots=snapshots, records=dict(existing), sandbox="none")
        report.cached = [s.id for s in snapshots if s not in stale]
        for orphan in sorted(set(existing) - set(by_id)):
            if only is None:
                remove_record(root, orphan)
                report.records.pop(orphan)
                report.removed.append(orphan)
        if stale:
            report.sandbox = sandbox_mode(settings.sandbox)
            if progress:
                progress("planned", str(len(stale)), None)
            _measure(stale, baseline, settings, keys, report, jobs, progress)
        missing = [s.id for s in snapshots if s.id not in report.records]
        if missing:
            raise DiaryError(
                f"no record for {', '.join(missing)}", file=records_dir(root),
                hint="run 'diary measure' without --only to measure them",
            )
        report.records = {s.id: report.records[s.id] for s in snapshots}
    report.wall_s = time.perf_counter() - started
    return report


def _measure(
    stale: list[SnapshotMeta], baseline: SnapshotMeta, settings: Settings, keys: dict,
    report: MeasureReport, jobs: int | None, progress: Progress | None,
) -> None:
    workers = jobs or settings.jobs or os.cpu_count() or 1
    mode = report.sandbox
    base_comments = baseline_comments(baseline)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="diary-measure") as pool:
        runs: dict[str, Future] = {}
        suites: dict[str, Future] = {}
        # The baseline's run first (every comparison needs it), then the test suites, which take
        # longest, then the other runs: longest jobs first, so the cores finish close together.
        if baseline in stale:
            runs[baseline.id] = pool.submit(run_snapshot, baseline, settings, mode)
        for snapshot in stale:
            suites[snapshot.id] = pool.submit(run_test_suite, snapshot, baseline, settings, mode)
        for snapshot in stale:
            if snapshot is not baseline:
                runs[snapshot.id] = pool.submit(run_snapshot, snapshot, settings, mode)
        if baseline.id in runs:
            raise_for_infrastructure(runs[baseline.id].result()[0], f"snapshot {baseline.id!r}")
            baseline_run = _run_dict(runs[baseline.id].result(), baseline, settings)
        else:
            baseline_run = report.records[baseline.id]["run"]
        for snapshot in stale:
            outcome, suite_result = suites[snapshot.id].result()
            # A failure of the sandbox is no verdict: stop before anything of it is recorded.
            for result in (suite_result, runs[snapshot.id].result()[0]):
                raise_for_infrastructure(result, f"snapshot {snapshot.id!r}")
            run = baseline_run if snapshot is baseline else _run_dict(runs[snapshot.id].result(), snapshot, settings)
            key, produced_by = keys[snapshot.id]
            record = build_record(snapshot, key, produced_by, run, outcome, baseline, baseline_run, base_comments)
            write_record(settings.root, record)
            report.records[snapshot.id] = record
            report.measured.append(snapshot.id)
            if progress:
                progress("done", snapshot.id, record)

