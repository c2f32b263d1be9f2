"""Build small diaries in a temporary folder, for tests that need their own snapshots."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES_DIR = REPO / "tests" / "fixtures"  # the committed fixtures every test package reads

TINY_PROGRAM = '''\
"""A tiny program with the diary's command line: it adds numbers."""
import argparse


def add(a, b):
    # the one operation under test
    return a + b


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = open("data/names.txt").read().split()
    for step in range(args.steps):
        print(f"step {step}: {add(step, args.seed)} {names[step % len(names)]}")


if __name__ == "__main__":
    main()
'''

TINY_SUITE = '''\
import importlib.util
import os
import sys
from pathlib import Path

import pytest

if not os.environ.get("DIARY_SNAPSHOT"):
    pytest.skip("run by diary measure", allow_module_level=True)


def load():
    folder = Path(os.environ["DIARY_SNAPSHOT"])
    sys.path.insert(0, str(folder))  # a multi-file snapshot imports its own modules
    path = folder / os.environ["DIARY_ENTRY"]
    spec = importlib.util.spec_from_file_location("snapshot_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_add():
    assert load().add(2, 3) == 5
'''

TINY_CONFIG = """\
schema: 1
entry: prog.py
steps: 3
samples: 1
seed: 1
timeout: 20
memory_mb: 512
output_kb: 64
data_files: [data/names.txt]
tests: tests/program
test_timeout: 60
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def snapshot_meta(snap_id: str, parent: str | None, expect: str = "ok", date: str = "2026-02-16") -> str:
    lines = [f"id: {snap_id}", f"title: Snapshot {snap_id}", f"date: {date}"]
    if parent:
        lines.append(f"parent: {parent}")
    lines += [f"note: The {snap_id} step.", f"expect: {expect}"]
    return "\n".join(lines) + "\n"


def make_diary(root: Path, snapshots: dict[str, tuple[str, str | None, str]] | None = None) -> Path:
    """A diary with the tiny program: snapshots maps id -> (source, parent, expect)."""
    if snapshots is None:
        shorter = TINY_PROGRAM.replace("def add(a, b):\n    # the one operation under test\n    return a + b\n",
                                       "def add(a, b):\n    # the one operation under test\n    return a+b\n")
        snapshots = {
            "00-base": (TINY_PROGRAM, None, "ok"),
            "01-wrong": (TINY_PROGRAM.replace("return a + b", "return a - b"), "00-base", "broken"),
            "02-short": (shorter, "00-base", "ok"),
        }
    write(root / "code/diary.yml", TINY_CONFIG)
    write(root / "code/data/names.txt", "ada\nbob\ncy\n")
    write(root / "tests/program/test_tiny.py", TINY_SUITE)
    for snap_id, (source, parent, expect) in snapshots.items():
        write(root / "code/snapshots" / snap_id / "prog.py", source)
        write(root / "code/snapshots" / snap_id / "snapshot.yml", snapshot_meta(snap_id, parent, expect))
    return root


def run_diary(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Call the CLI the way a user does, in a fresh interpreter."""
    env_path = str(REPO / "tools")
    return subprocess.run(
        [sys.executable, "-m", "diary", "--root", str(root), *args], capture_output=True, text=True,
        timeout=timeout, env={**_env(), "PYTHONPATH": env_path},
    )


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}


def read_record(root: Path, snap_id: str) -> dict:
    """A snapshot's record as plain data, loaded and validated as every stage loads it (load_record)."""
    from diary.project.records import load_record

    return load_record(root / "_data/records" / f"{snap_id}.yml").to_data()


def read_records(root: Path) -> dict[str, dict]:
    """Every record of a diary, by snapshot id."""
    return {path.stem: read_record(root, path.stem) for path in sorted((root / "_data/records").glob("*.yml"))}


def tree_bytes(root: Path, folder: str = "_data") -> dict[str, bytes]:
    base = root / folder
    if not base.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def copy_repo_diary(target: Path) -> Path:
    """A copy of this repository's diary (site sources, snapshots, records), for build tests."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_site", ".quarto", ".venv", ".git",
                                    "artifacts", ".pytest_cache", ".hypothesis", "*.egg-info")
    for name in ("_quarto.yml", "index.qmd", "about.qmd", "progress.qmd", "styles.css", "_variables.yml"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, target / name)
    for name in ("posts", "code", "_data", "_generated", "images", "snapshots", "tests/program"):
        if (REPO / name).exists():
            shutil.copytree(REPO / name, target / name, ignore=ignore)
    return target
