"""A heavy diary split over shards, as CI runners would run it: balance and sameness, printed.

    python benchmarks/shards.py [--snapshots 24] [--unit-s 0.4] [--shards 2,3,4]

Builds a synthetic diary whose snapshots each burn a deterministic amount of CPU (1 to 5 units of
--unit-s seconds, varied so that balancing matters) and print the same line. It measures it once in
one process (the records a single runner would commit), then, for each shard count N, runs
`diary measure --force --shard K/N --out DIR` for every K as a separate process in a clone of its
own (one at a time, so that each shard's CPU is its own), merges their folders into a fresh clone
and compares the merged records with the single run's.

Prints, per N: each shard's snapshots and its CPU (the runs, suites and probes its records report,
and the whole process's: the tool's own work included), the ideal share (the total over N), the
balance (the largest shard's CPU over the ideal share: 1.00 is perfect; the issue asks for <= 1.15
at 4 shards of 24), and whether the merged records equal the single run's but for timings.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from diary.project.records import load_record, load_records, without_timings  # noqa: E402
from diary.project.shards import record_cpu_s  # noqa: E402

PROGRAM = '''\
"""A deterministic CPU burn: the same answer whatever the amount of work."""
import hashlib

WORK = {work}


def burn(rounds):
    # a digest hashed over and over: CPU only, next to no memory
    digest = b"diary"
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest


def main():
    burn(WORK)
    print("burned")


if __name__ == "__main__":
    main()
'''

SETTINGS = """\
schema: 1
entry: burn.py
args: []
timeout: 600
memory_mb: 256
output_kb: 16
data_files: []
tests: none
"""


def rounds_per_second() -> float:
    started, rounds, digest = time.process_time(), 200_000, b"diary"
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return rounds / max(time.process_time() - started, 1e-6)


def make_diary(root: Path, snapshots: int, unit_s: float) -> Path:
    rate = rounds_per_second()
    (root / "code").mkdir(parents=True)
    (root / "code/diary.yml").write_text(SETTINGS, encoding="utf-8")
    for index in range(snapshots):
        units = 1 + (index * 7) % 5  # 1..5, spread over the chain
        folder = root / "code/snapshots" / f"{index:02d}-burn"
        folder.mkdir(parents=True)
        (folder / "burn.py").write_text(PROGRAM.format(work=int(rate * unit_s * units)), encoding="utf-8")
        parent = f"parent: {index - 1:02d}-burn\n" if index else ""
        (folder / "snapshot.yml").write_text(
            f"id: {index:02d}-burn\ntitle: Burn {index}\ndate: 2026-01-01\n{parent}note: {units} units.\n"
            "expect: ok\n", encoding="utf-8")
    return root


def diary(root: Path, *args: str) -> tuple[float, float]:
    """Run the CLI in a fresh interpreter; its wall time and CPU (the process and its children)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "tools")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "diary", "--root", str(root), *args], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"diary {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def steady(root: Path) -> dict[str, dict]:
    return {snap_id: without_timings(record) for snap_id, record in load_records(root).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshots", type=int, default=24)
    parser.add_argument("--unit-s", type=float, default=0.4, help="CPU seconds of one unit of burn")
    parser.add_argument("--shards", default="2,3,4", help="shard counts, comma-separated")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="diary-shards-") as tmp:
        work = Path(tmp)
        source = make_diary(work / "source", options.snapshots, options.unit_s)
        single = work / "single"
        shutil.copytree(source, single)
        wall, cpu = diary(single, "measure")
        records = load_records(single)
        total = sum(record_cpu_s(record) for record in records.values())
        print(f"{options.snapshots} snapshots, one run: {wall:.1f} s wall, {cpu:.1f} s CPU "
              f"(the snapshots' own: {total:.1f} s)")
        for count in (int(text) for text in options.shards.split(",")):
            folders, shard_cpu = [], []
            for index in range(1, count + 1):
                runner = work / f"n{count}-runner{index}"
                shutil.copytree(single, runner)  # the committed records: the plan's CPU comes from them
                out = work / f"n{count}-records{index}"
                wall, cpu = diary(runner, "measure", "--force", "--shard", f"{index}/{count}", "--out", str(out))
                share = [load_record(path) for path in sorted(out.glob("*.yml"))]
                own = sum(record_cpu_s(record) for record in share)
                shard_cpu.append(own)
                folders.append(str(out))
                print(f"  shard {index}/{count}: {len(share):2d} snapshots, {own:6.1f} s CPU of runs "
                      f"({cpu:6.1f} s CPU of the process, {wall:6.1f} s wall)")
            merged = work / f"n{count}-merged"
            shutil.copytree(source, merged)
            diary(merged, "merge", *folders)
            ideal = sum(shard_cpu) / count or 1.0
            print(f"{count} shards: ideal share {ideal:.1f} s CPU, largest {max(shard_cpu):.1f} s, "
                  f"balance {max(shard_cpu) / ideal:.3f}; merged records equal the single run's "
                  f"(timings aside): {steady(merged) == steady(single)}")


if __name__ == "__main__":
    main()
