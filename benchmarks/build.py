"""Budgets of `diary build`, printed as figures (a script, not a test).

    python benchmarks/build.py [--repeat 5]

Prints, on a temporary copy of this repository's diary (records, partials and pages all fresh):
  - the embedded engine's render time of the whole site (smalldocs, in-process)  target <= 2 s
  - no-op `diary build` wall time without the engine (measure + generate, cached)  target <= 0.5 s
  - the whole no-op `diary build --engine smalldocs` for reference
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests"))

from diarykit import copy_repo_diary  # noqa: E402


def timed(root: Path, *args: str) -> float:
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # the pre-render step calls `diary`
    env = {**os.environ, "PYTHONPATH": str(REPO / "tools"), "PATH": path}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "diary", "--root", str(root), *args], env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"diary {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="diary-bench-") as tmp:
        root = copy_repo_diary(Path(tmp))
        timed(root, "build", "--engine", "smalldocs")  # warm: the first build may redraw nothing but fills caches
        refresh = [timed(root, "refresh", "--quiet") for _ in range(args.repeat)]
        builds = [timed(root, "build", "--engine", "smalldocs", "--quiet") for _ in range(args.repeat)]

        from diary.core.lock import command_lock
        from diary.render.engine import choose_engine, render_site

        engine = choose_engine("smalldocs")
        renders = []
        for _ in range(args.repeat):
            # Held by this process, the lock tells the engine's pre-render hook that everything is fresh.
            with command_lock(root):
                result = render_site(root, engine, quiet=True, echo=lambda line: None)
            renders.append(result.seconds)
        pages = len(list((root / "_site").rglob("*.html")))
    print(f"site: {pages} pages")
    print(f"embedded engine render (median of {args.repeat}): {statistics.median(renders):.2f} s   (target <= 2 s)")
    print(f"no-op build without the engine (diary refresh, median): {statistics.median(refresh):.3f} s   "
          "(target <= 0.5 s)")
    print(f"no-op diary build --engine smalldocs (median): {statistics.median(builds):.2f} s")


if __name__ == "__main__":
    main()
