"""CPU of a full `diary measure` per snapshot, broken down by process (a script, not a test).

    python benchmarks/judge_cpu.py [--copies 12] [--steps 20] [--jobs 2] [--startup 5]

It builds a synthetic diary in a temporary folder (this repository's diary plus `--copies` chained
copies of the final snapshot, each with a comment of its own, as benchmarks/scale.py does), measures
it in this process (`measure_all`, as `diary measure --force` does) and prints:

  - CPU seconds per snapshot of the whole measure (the tool and everything it started)
  - the same for the copies alone, split by the process that spent it: the program's configured
    run, its probe runs, the suite's driver, the judging pytest, the tool itself (its threads)
  - with --startup N: the fixed start-up cost of one sandboxed process (bwrap and its init around
    `python -c pass`, against `python -c pass` alone), median of N

Every sandboxed run is recorded by wrapping `sandbox.run_sandboxed` where measure, judge and
testsuite call it; the working directory's prefix (`diary-run-<id>-`, `diary-probe-<id>-`, ...)
says which process it was and for which snapshot. CPU seconds are the figure to compare: on a
shared machine they move far less than wall time.
"""

from __future__ import annotations

import argparse
import collections
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from scale import grow  # noqa: E402

from diary.measure import judge, testsuite  # noqa: E402
from diary.measure import pipeline as measure  # noqa: E402
from diary.measure.pipeline import measure_all  # noqa: E402
from diary.measure.sandbox import run as sandbox  # noqa: E402
from diary.measure.sandbox.supervise import RunResult  # noqa: E402
from diary.project.project import Project  # noqa: E402
from diarykit import copy_repo_diary  # noqa: E402

# What each working-directory prefix is (tools/diary: measure.py, judge.py, testsuite.py).
KINDS = {"run": "program run", "probe": "probe runs", "drive": "driver", "judge": "judging pytest",
         "test": "in-process pytest"}
WORKDIR = re.compile(r"^diary-(run|probe|drive|judge|test)-(.+)-[^-]+$")


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class Trace:
    """Every sandboxed run of one measure: (kind, snapshot id or "", CPU seconds)."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str, float]] = []
        self._real = sandbox.run_sandboxed

    def install(self) -> None:
        for module in (measure, judge, testsuite):
            if getattr(module, "run_sandboxed", None) is self._real:
                module.run_sandboxed = self.run  # type: ignore[attr-defined]

    def run(self, argv: list[str], **kwargs) -> RunResult:
        result = self._real(argv, **kwargs)
        match = WORKDIR.match(Path(kwargs["workdir"]).name)
        kind, snap_id = (match.group(1), match.group(2)) if match else ("other", "")
        self.runs.append((kind, snap_id, result.cpu_s))
        return result


def startup_cost(repeat: int) -> dict[str, float]:
    """Median CPU of one near-empty process: bare, and inside the bwrap sandbox with its init."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="diary-bench-startup-") as tmp:
        for mode in ("none", "bwrap"):
            for label, argv in (("python -c pass", [sys.executable, "-c", "pass"]),
                                ("python -I -S -c pass", [sys.executable, "-I", "-S", "-c", "pass"]),
                                ("python -m pytest --version", [sys.executable, "-m", "pytest", "--version"])):
                runs = [sandbox.run_sandboxed(argv, workdir=Path(tmp), timeout=60, memory_mb=1024,
                                              output_bytes=65536, mode=mode).cpu_s for _ in range(repeat)]
                figures[f"{label} ({mode})"] = statistics.median(runs)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=12, help="copies of the final snapshot added to the 8")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--startup", type=int, default=0, metavar="N", help="also time start-ups, median of N")
    args = parser.parse_args()
    trace = Trace()
    trace.install()
    with tempfile.TemporaryDirectory(prefix="diary-bench-judge-") as tmp:
        root = copy_repo_diary(Path(tmp))
        config = root / "code" / "diary.yml"
        config.write_text("\n".join(f"steps: {args.steps}" if line.startswith("steps:") else line
                                    for line in config.read_text(encoding="utf-8").splitlines()) + "\n")
        grow(root, 8 + args.copies)
        project = Project.load(root)
        ids = [s.id for s in project.snapshots]
        self_before, children_before, started = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN), \
            time.perf_counter()
        measure_all(project, force=True, jobs=args.jobs)
        wall = time.perf_counter() - started
        tool = cpu(resource.RUSAGE_SELF) - self_before
        children = cpu(resource.RUSAGE_CHILDREN) - children_before
    copies = [i for i in ids if "-copy-" in i]
    by_kind: dict[str, float] = collections.defaultdict(float)
    shared: dict[str, float] = collections.defaultdict(float)  # runs of no copy (the baseline's, workers)
    for kind, snap_id, seconds in trace.runs:
        if snap_id in copies:
            by_kind[kind] += seconds
        elif snap_id not in ids:
            shared[kind] += seconds
    traced = sum(seconds for _, _, seconds in trace.runs)
    total = tool + children
    print(f"{len(ids)} snapshots ({len(copies)} copies of the final one), {args.steps} steps, "
          f"{args.jobs} jobs: wall {wall:.1f} s")
    print(f"full measure CPU per snapshot:      {total / len(ids):6.2f} s  (tool {tool:.1f} s + children "
          f"{children:.1f} s, of which traced runs {traced:.1f} s)")
    print("per copy of the final snapshot, by process (CPU s):")
    untraced = children - traced
    per_copy = 0.0
    for kind, label in KINDS.items():
        if by_kind.get(kind):
            print(f"  {label:<22} {by_kind[kind] / len(copies):6.2f}")
            per_copy += by_kind[kind] / len(copies)
    for kind, seconds in shared.items():
        print(f"  {'shared ' + KINDS.get(kind, kind):<22} {seconds / len(ids):6.2f}  (per snapshot of the diary)")
        per_copy += seconds / len(ids)
    print(f"  {'untraced children':<22} {untraced / len(ids):6.2f}  (per snapshot: processes outside run_sandboxed)")
    print(f"  {'the tool itself':<22} {tool / len(ids):6.2f}  (per snapshot: staging, counting, rules, records)")
    print(f"  {'sum':<22} {per_copy + (untraced + tool) / len(ids):6.2f}")
    baseline = ids[0]
    counted = collections.Counter(kind for kind, snap_id, _ in trace.runs if snap_id == baseline)
    print(f"processes of the baseline ({baseline}), which every comparison needs: "
          + ", ".join(f"{KINDS.get(kind, kind)} x{count}" for kind, count in sorted(counted.items())))
    if args.startup:
        print(f"start-up of one process (CPU s, median of {args.startup}):")
        for label, seconds in startup_cost(args.startup).items():
            print(f"  {label:<36} {seconds:6.3f}")


if __name__ == "__main__":
    main()
