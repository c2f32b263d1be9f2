"""Budgets of `diary measure`, printed as figures (a script, not a test: timings flake in tests).

    python benchmarks/measure.py [--root .] [--repeat 5]

Prints:
  - no-op `diary measure` wall time (everything cached)               target <= 0.5 s
  - full measure: wall time vs the sum of the snapshots' CPU seconds   efficiency target >= 0.85
  - per-snapshot overhead: CPU of the tool itself, not of the programs  target <= 100 ms
  - counting throughput of count_lines against cloc on the same files
  - the judge's static part: the rules checked on every snapshot (rules.py)
With --probes N the copy measures with `probes: N` (0: no probe runs), to show what they cost.
It works on a temporary copy of the diary, so the repository's records are not touched.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from diary.measure.count import count_lines  # noqa: E402
from diary.measure.rules import check_files  # noqa: E402
from diary.project.config import load_settings  # noqa: E402
from diary.project.discover import discover_snapshots  # noqa: E402


def copy_diary(root: Path, target: Path) -> Path:
    for name in ("code", "tests/program", "pyproject.toml"):
        src = root / name
        if src.is_dir():
            shutil.copytree(src, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / name)
    return target


def diary(root: Path, *args: str) -> float:
    """Run the CLI as a user would (a fresh interpreter: import time counts) and time it."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "tools")}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "diary", "--root", str(root), *args],
                          env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"diary {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--probes", type=int, default=None, help="override `probes:` in the copy's diary.yml")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="diary-bench-") as tmp:
        root = copy_diary(args.root.resolve(), Path(tmp))
        if args.probes is not None:
            config = root / "code/diary.yml"
            kept = [line for line in config.read_text().splitlines() if not line.startswith("probes:")]
            config.write_text("\n".join([*kept, f"probes: {args.probes}"]) + "\n")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        full = diary(root, "measure", "--force")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        all_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        settings = load_settings(root)
        snapshots = discover_snapshots(settings)
        import yaml

        records = [yaml.safe_load((root / "_data/records" / f"{s.id}.yml").read_text()) for s in snapshots]
        child_cpu = sum(r["run"]["cpu_s"] + r["tests"]["cpu_s"] + r.get("probes", {}).get("cpu_s", 0) for r in records)
        child_wall = sum(r["run"]["wall_s"] + r["tests"]["seconds"] for r in records)
        noop = [diary(root, "measure") for _ in range(args.repeat)]
        workers = min(cores, len(records) * 2)
        efficiency = child_cpu / (full * workers)
        tool_cpu = max(0.0, all_cpu - child_cpu) / len(records)
        idle = max(0.0, full * workers - child_wall) / len(records)

        print(f"snapshots:                {len(records)} on {cores} cores")
        print(f"no-op measure (median):   {statistics.median(noop):.3f} s   (target <= 0.5 s)")
        print(f"full measure wall:        {full:.2f} s")
        print(f"sum of children's CPU:    {child_cpu:.2f} s  (runs + test suites + probe runs)")
        print(f"all CPU of the measure:   {all_cpu:.2f} s  (diary, sandboxes, programs, suites)")
        print(f"parallel efficiency:      {efficiency:.2f}     (CPU / (wall x cores); target >= 0.85)")
        print(f"tool overhead/snapshot:   {tool_cpu * 1000:.0f} ms   (CPU of diary itself and the sandbox "
              "wrapper, not the program or its tests; target <= 100 ms)")
        print(f"idle core-time/snapshot:  {idle * 1000:.0f} ms   (a core waiting while the other finishes)")

    repo_snapshots = discover_snapshots(load_settings(args.root.resolve()))
    files = [s.directory / name for s in repo_snapshots for name in s.files if name.endswith(".py")]
    texts = [f.read_text() for f in files]
    lines = sum(t.count("\n") + 1 for t in texts)
    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for text in texts:
            count_lines(text)
    ours = (time.perf_counter() - started) / rounds
    started = time.perf_counter()
    subprocess.run(["cloc", "--quiet", "--json", *map(str, files)], capture_output=True, check=True)
    theirs = time.perf_counter() - started
    sources = [{n: (s.directory / n).read_bytes() for n in s.files} for s in repo_snapshots]
    started = time.perf_counter()
    for _ in range(rounds):
        for files_of_one in sources:
            check_files(files_of_one)
    rules_s = (time.perf_counter() - started) / rounds
    print(f"rules on {len(sources)} snapshots:     {rules_s * 1000:.1f} ms "
          f"({rules_s * 1000 / len(sources):.1f} ms each)")
    print(f"counting {len(files)} files, {lines} lines: count_lines {ours * 1000:.1f} ms "
          f"({lines / ours:,.0f} lines/s); cloc {theirs * 1000:.0f} ms ({lines / theirs:,.0f} lines/s)")


if __name__ == "__main__":
    main()
