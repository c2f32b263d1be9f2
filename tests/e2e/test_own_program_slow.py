"""Issue 25's promise, end to end: your own program diaried in one sitting, from `diary init` to a
green `diary check --rerun` (what the publish workflow runs), for a program that is slow to run (a
deterministic CPU burn), prints a timestamp, and has a module split with two `__main__` candidates.
Each command's wall time is printed (run with -s to see it): the closing note of the issue."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from diarykit import REPO

pytestmark = pytest.mark.slow

# About four seconds of CPU on an idle core: long enough that the timeouts must follow from it,
# short enough for a shared machine. Deterministic: the same total on every run.
BURN = '''\
def burn(rounds):
    total = 0
    for i in range(rounds):
        total += i % 7
    return total
'''
PROGRAM = '''\
"""Counts a long sum, slowly, and says when it started."""
import time

from burn import burn

if __name__ == "__main__":
    print(f"started {time.strftime('%Y-%m-%d %H:%M:%S')}")
    print(f"total: {burn(60_000_000)}")
'''
# The split: the old entry's name becomes a dispatcher that needs a sub-command; main.py runs.
DISPATCHER = '''\
"""Counts a long sum: the dispatcher of the split."""
import sys

import main

if __name__ == "__main__":
    sys.exit(main.run() if sys.argv[1:] == ["run"] else 2)
'''
MAIN = '''\
"""The split's own entry."""
import time

from burn import burn


def run():
    print(f"started {time.strftime('%Y-%m-%d %H:%M:%S')}")
    print(f"total: {burn(60_000_000)}")
    return 0


if __name__ == "__main__":
    run()
'''


def test_a_slow_timestamped_program_and_its_split_reach_a_green_rerun(tmp_path: Path) -> None:
    times: list[tuple[str, float]] = []

    def diary(cwd: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "diary", *args], capture_output=True, text=True, timeout=1200,
                              cwd=cwd, env={**env, "PYTHONPATH": str(REPO / "tools")})
        times.append((shlex.join(["diary", *args]), time.perf_counter() - started))
        assert done.returncode == expect, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        return done

    mine, split = tmp_path / "mine", tmp_path / "split"
    for folder, files in ((mine, {"counter.py": PROGRAM, "burn.py": BURN}),
                          (split, {"counter.py": DISPATCHER, "main.py": MAIN, "burn.py": BURN})):
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")

    # The timestamp is found before anything is measured, with a filter that works as proposed.
    refused = diary(tmp_path, "init", "d", "--program", "mine", "--entry", "counter.py", expect=2)
    [line] = refused.stderr.strip().splitlines()
    proposed = shlex.split(line.split("e.g. ", 1)[1].split(" (with it", 1)[0])
    assert proposed[:2] == ["--filter", "varies"], line
    assert not (tmp_path / "d").exists()
    made = diary(tmp_path, "init", "d", "--program", "mine", "--entry", "counter.py", "--timing-limit", "600",
                 *proposed)
    root = tmp_path / "d"
    settings = yaml.safe_load((root / "code/diary.yml").read_text(encoding="utf-8"))
    cpu = float(made.stdout.split(" s CPU", 1)[0].rsplit(" ", 1)[1])
    assert settings["timeout"] >= 5 * cpu and settings["timeout"] >= 30, (settings, made.stdout)

    # The split has two modules that run as scripts: asked, not guessed (the dispatcher would exit 2).
    asked = diary(root, "new", "snapshot", "01-split", "--from", "00-baseline", "--files", str(split), expect=2)
    assert "several modules could be the entry: counter.py, main.py" in asked.stderr
    diary(root, "new", "snapshot", "01-split", "--from", "00-baseline", "--files", str(split), "--entry", "main.py")
    meta = yaml.safe_load((root / "code/snapshots/01-split/snapshot.yml").read_text(encoding="utf-8"))
    assert (meta["entry"], meta["title"]) == ("main.py", "The split's own entry.")

    diary(root, "measure")
    diary(root, "build", "--engine", "smalldocs")
    diary(root, "check", "--rerun")
    records = {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in (root / "_data/records").glob("*.yml")}
    assert {k: r["verdict"]["status"] for k, r in records.items()} == {"00-baseline": "ok", "01-split": "ok"}
    # Identical byte for byte when both runs started in the same second, else once 'varies' is applied.
    assert records["01-split"]["behaviour"]["normalised_by"] in ([], ["varies"])
    # A title edit afterwards costs no run, and the gate agrees.
    meta_path = root / "code/snapshots/01-split/snapshot.yml"
    meta_path.write_text("".join("title: Two modules\n" if line.startswith("title:") else line
                                 for line in meta_path.read_text(encoding="utf-8").splitlines(keepends=True)),
                         encoding="utf-8")
    assert "0 measured" in diary(root, "build", "--engine", "smalldocs").stdout
    diary(root, "check")
    print("\n" + "\n".join(f"{seconds:7.1f} s  {command}" for command, seconds in times))
