"""How the diary's costs grow with the number of snapshots, printed as a table (a script, not a test).

    python benchmarks/scale.py [--sizes 8,50,200] [--repeat 3] [--steps 20] [--keep DIR | --reuse DIR]

`--keep DIR` keeps the diaries (to profile them); `--reuse DIR` times the diaries a `--keep` run left
there again without measuring them (after a change to the tool that leaves measuring alone).

For each size N it builds a synthetic diary in a temporary folder: this repository's diary (its
posts, its 8 snapshots), plus N - 8 copies of the final snapshot chained parent to child, each with a
harmless edit (one comment line of its own, so every copy has its own content hash and the same
behaviour). Then, whole-process figures on this machine:

  - full `diary measure`: CPU seconds of the tool and everything it started, per snapshot, and the
    peak resident memory of the largest process
  - no-op `diary build --engine smalldocs` (median)               budget: at N=200, <= 2x the N=8 figure
  - no-op `diary check` (median)                                  budget: at N=200, <= 2 s
  - edit one post's prose, then `diary build` (median)            budget: at N=200, <= 1.5 s
  - edit the last snapshot (behaviour kept), then `diary build`
  - the size of `_generated/` against the snapshots' own source

and the ratio of the largest size to the smallest for each. Measuring is the expensive part: about
5 s of CPU per snapshot at 20 steps, so 200 snapshots take several minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests"))

import yaml  # noqa: E402

from diarykit import copy_repo_diary  # noqa: E402

FINAL = "07-final"
POST = "posts/2026-02-20-the-result/index.qmd"


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_mb: float


def diary(root: Path, *args: str) -> Run:
    """One whole `diary` process, as a user runs it, with its children's CPU and peak memory."""
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # the pre-render step calls `diary`
    env = {**os.environ, "PYTHONPATH": str(REPO / "tools"), "PATH": path}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "diary", "--root", str(root), *args], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"diary {' '.join(args)} failed ({proc.returncode}) in {root}:\n{proc.stdout[-2000:]}{proc.stderr}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Run(wall, cpu, after.ru_maxrss / 1024)


def grow(root: Path, size: int) -> None:
    """Add `size - 8` chained copies of the final snapshot to the diary at `root`."""
    snapshots = root / "code" / "snapshots"
    existing = sorted(p.name for p in snapshots.iterdir() if (p / "snapshot.yml").is_file())
    parent = FINAL
    for number in range(size - len(existing)):
        snap_id = f"{80 + number // 1000:02d}-copy-{number:04d}"
        target = snapshots / snap_id
        shutil.copytree(snapshots / FINAL, target)
        meta = yaml.safe_load((target / "snapshot.yml").read_text(encoding="utf-8"))
        meta.update(id=snap_id, title=f"Copy {number} of the final version", parent=parent,
                    note="A copy with a comment of its own.", expect="ok")
        (target / "snapshot.yml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
        program = target / "microgpt.py"
        program.write_text(program.read_text(encoding="utf-8") + f"# copy {number}\n", encoding="utf-8")
        parent = snap_id


def median_of(repeat: int, action) -> float:
    return statistics.median(action().wall_s for _ in range(repeat))


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def one_size(size: int, repeat: int, steps: int | None, work: Path, reuse: bool = False) -> dict[str, float]:
    root = work / f"diary-{size}"
    if reuse:  # a diary an earlier run kept (--keep), measured already: the figures of the tool, not the judge
        print(f"  {size} snapshots: reusing {root}", flush=True)
        full = Run(math.nan, math.nan, math.nan)
    else:
        root.mkdir()
        copy_repo_diary(root)
        if steps is not None:
            config = root / "code" / "diary.yml"
            text = config.read_text(encoding="utf-8")
            config.write_text("\n".join(f"steps: {steps}" if line.startswith("steps:") else line
                                        for line in text.splitlines()) + "\n", encoding="utf-8")
        grow(root, size)
        print(f"  {size} snapshots: measuring them all ...", flush=True)
        full = diary(root, "measure", "--force")
    diary(root, "build", "--engine", "smalldocs", "--quiet")  # the first build writes what is new
    figures = {
        "full measure CPU per snapshot (s)": full.cpu_s / size,
        "full measure peak memory (MB)": full.peak_mb,
        "no-op build (s)": median_of(repeat, lambda: diary(root, "build", "--engine", "smalldocs", "--quiet")),
        "no-op check (s)": median_of(repeat, lambda: diary(root, "check")),
    }
    post = root / POST

    def edit_post() -> Run:
        post.write_text(post.read_text(encoding="utf-8") + "\nOne more sentence of prose.\n", encoding="utf-8")
        return diary(root, "build", "--engine", "smalldocs", "--quiet")

    figures["edit one post, build (s)"] = median_of(repeat, edit_post)
    last = sorted((root / "code" / "snapshots").iterdir())[-1] / "microgpt.py"

    def edit_snapshot() -> Run:
        last.write_text(last.read_text(encoding="utf-8") + "# one more comment\n", encoding="utf-8")
        return diary(root, "build", "--engine", "smalldocs", "--quiet")

    figures["edit last snapshot, build (s)"] = median_of(1, edit_snapshot)
    source = sum(folder_bytes(p) for p in (root / "code" / "snapshots").iterdir())
    figures["_generated/ (MB)"] = folder_bytes(root / "_generated") / 1e6
    figures["_generated/ vs snapshot source (x)"] = folder_bytes(root / "_generated") / source
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="8,50,200", help="comma-separated numbers of snapshots (each >= 8)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="training steps of every run (default: diary.yml's)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="build the diaries in DIR (created, must not exist) and keep them, e.g. to profile")
    parser.add_argument("--reuse", type=Path, default=None, metavar="DIR",
                        help="time the diaries an earlier --keep left in DIR, without measuring them again")
    args = parser.parse_args()
    sizes = sorted({int(part) for part in args.sizes.split(",")})
    if sizes[0] < 8:
        parser.error("every size must be at least 8, the snapshots of this diary")
    results: dict[int, dict[str, float]] = {}
    with contextlib.ExitStack() as stack:
        if args.reuse is not None:
            work, reuse = args.reuse, True
        elif args.keep is not None:
            args.keep.mkdir(parents=True)
            work, reuse = args.keep, False
        else:
            work, reuse = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="diary-scale-"))), False
        for size in sizes:
            results[size] = one_size(size, args.repeat, args.steps, work, reuse)
    names = list(results[sizes[0]])
    width = max(map(len, names))
    header = f"{'figure':<{width}} | " + " | ".join(f"{size:>8}" for size in sizes)
    ratio = len(sizes) > 1
    if ratio:
        header += f" | {sizes[-1]}:{sizes[0]}"
    print(f"\n{os.cpu_count()} cores\n{header}\n{'-' * len(header)}")
    for name in names:
        row = f"{name:<{width}} | " + " | ".join(
            f"{results[size][name]:8.2f}" if not math.isnan(results[size][name]) else f"{'—':>8}" for size in sizes)
        if ratio:
            ratio_of = results[sizes[-1]][name] / max(results[sizes[0]][name], 1e-9)
            row += f" | {ratio_of:.1f}x" if not math.isnan(ratio_of) else " | —"
        print(row)


if __name__ == "__main__":
    main()
