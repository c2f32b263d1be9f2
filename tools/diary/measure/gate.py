"""What the publish gate (`diary check`) asks of committed records beyond their freshness.

Three questions, each against a record an author could make look better than what was measured:

- **Was it judged in the sandbox?** Running without bwrap is the builder's choice (`--sandbox
  none`, never `code/diary.yml`'s): the record says so (`run.sandbox`), and a record measured so
  is not published (`unsandboxed`).
- **Was it judged by today's judge?** The judge's identity (the driver, the suite's files, the
  normalisations) is part of each record's key; when it changed since a record was made, the gate
  names what changed, not only that the record is stale (`judge_changes`).
- **Do its timings hold?** `check --rerun` measures again; the program's own figures (CPU seconds,
  peak memory) must agree with the fresh run's within `TIMING_TOLERANCE` (`contradicted_timings`):
  a typed-in CPU time does not survive a re-run. Wall-clock time is not compared: it measures the
  machine's load as much as the program (5.9 s against 1.3 s for the same files, one measured on a
  loaded machine), so the site shows it only beside the CPU time, as measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from diary.core.errors import DiaryError
from diary.project.freshness import staleness
from diary.project.project import Project
from diary.project.records import Record, record_path


@dataclass(frozen=True)
class Tolerance:
    """Two honest measurements of one program agree within `factor` times, or `slack` apart (the
    machine and its load differ between an author's laptop and a CI runner)."""

    factor: float
    slack: float

    def agrees(self, committed: float, measured: float) -> bool:
        low, high = sorted((committed, measured))
        return high - low <= self.slack or high <= low * self.factor


TIMING_TOLERANCE = {
    "cpu_s": Tolerance(factor=3.0, slack=0.1),
    "peak_mb": Tolerance(factor=2.0, slack=32.0),
}


def unsandboxed(project: Project) -> list[DiaryError]:
    """Records measured without the sandbox: the program ran as the builder, so nothing it did
    (reading a private file into its output, writing the user's cache) can be ruled out."""
    problems = []
    for snap_id, record in project.records.items():
        if record.run.sandbox != "bwrap":
            problems.append(DiaryError(
                f"record of '{snap_id}' was measured without the sandbox (sandbox: {record.run.sandbox}), "
                "so it is not published", file=record_path(project.root, snap_id),
                hint=f"measure it again where bwrap works: diary measure --force --only {snap_id}"))
    return problems


def judge_changes(project: Project) -> list[DiaryError]:
    """Records made by another judge than today's: which part of it changed, once per part."""
    keys = project.expected_keys
    changed: dict[str, list[str]] = {}
    for snap_id, record in project.records.items():
        expected = keys.get(snap_id)
        if expected is None:
            continue
        for part in staleness(record, expected) or []:
            if part in ("suite", "settings"):
                changed.setdefault(part, []).append(snap_id)
    problems = []
    settings = project.settings
    what = {
        "suite": f"the behavioural suite ({settings.tests}) or the data files",
        "settings": f"the judge's settings in code/diary.yml (driver: {settings.driver or 'none'}, probes: "
                    f"{settings.probes}, normalise, allowed_skips, the run's arguments)",
    }
    for part, ids in changed.items():
        problems.append(DiaryError(
            f"the judge changed since {len(ids)} record(s) were made: {what[part]}",
            file=settings.root / (settings.tests if part == "suite" else "code/diary.yml"),
            hint="review the change of the judge, then run 'diary measure' and commit the records it makes"))
    return problems


def contradicted_timings(project: Project, fresh: dict[str, Record]) -> list[DiaryError]:
    """Committed timings that a fresh run of the same files contradicts (`check --rerun`)."""
    problems = []
    for snap_id, record in project.records.items():
        again = fresh.get(snap_id)
        if again is None or again.key != record.key:
            continue
        wrong = [f"run.{name} {getattr(record.run, name)} (fresh run: {getattr(again.run, name)})"
                 for name, tolerance in TIMING_TOLERANCE.items()
                 if not tolerance.agrees(getattr(record.run, name), getattr(again.run, name))]
        if wrong:
            problems.append(DiaryError(
                f"timings of '{snap_id}' are contradicted by a fresh run of the same files: {', '.join(wrong)}",
                file=record_path(project.root, snap_id),
                hint=f"run 'diary measure --force --only {snap_id}' and commit what it measures"))
    return problems


def judge_identity(project: Project) -> str:
    """One line naming the judge the records were made by (the parts of their keys that are it)."""
    settings = project.settings
    if not project.snapshots:
        return "judge: no snapshot"
    made_by = project.expected_keys[project.snapshots[0].id].produced_by
    return (f"judge: suite {made_by.suite} ({settings.tests}, driver {settings.driver or 'none'}), "
            f"settings {made_by.settings}, measure {made_by.measure}")
