"""Fixtures for the program's behavioural suite, run by `diary measure` against one snapshot.

The tool sets three environment variables and runs pytest in a working directory that holds
`data/names.txt`:

- `DIARY_SNAPSHOT`: the directory holding the snapshot's files (required);
- `DIARY_ENTRY`: the entry file name inside it (default `microgpt.py`);
- `DIARY_BASELINE`: the directory holding the baseline's files, for the comparison tests;
- `DIARY_BASELINE_ENTRY`: the baseline's entry file name (default: the same as `DIARY_ENTRY`);
- `DIARY_PYTHON`: the interpreter for the program's subprocess runs (default: this one).

Without `DIARY_SNAPSHOT` nothing in this directory is collected, so the project's own `pytest`
run skips it. See README.md for the interface the tests rely on.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

SNAPSHOT = os.environ.get("DIARY_SNAPSHOT", "")
BASELINE = os.environ.get("DIARY_BASELINE", "")
ENTRY = os.environ.get("DIARY_ENTRY") or "microgpt.py"
BASELINE_ENTRY = os.environ.get("DIARY_BASELINE_ENTRY") or ENTRY
PYTHON = os.environ.get("DIARY_PYTHON") or sys.executable
DATA_FILE = Path("data/names.txt")

if not SNAPSHOT:
    # Not started by the diary tool: collect nothing here.
    collect_ignore_glob = ["*"]
else:
    # Importing a snapshot must not leave __pycache__ behind in its directory.
    sys.dont_write_bytecode = True

_module_ids = itertools.count()


def load_program(directory: str | Path, label: str, entry: str = ENTRY):
    """Import `<directory>/<entry>` under a fresh, unique module name and return the module."""
    path = (Path(directory) / entry).resolve()
    if not path.is_file():
        pytest.fail(f"entry file {path} does not exist", pytrace=False)
    name = f"diary_program_{label}_{next(_module_ids)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # A snapshot may hold several modules that import each other.
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def _same_dir(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


@pytest.fixture(scope="session")
def program():
    """The snapshot's entry module."""
    return load_program(SNAPSHOT, "snapshot")


@pytest.fixture
def import_snapshot():
    """A function that imports the snapshot's entry module afresh, under a new name."""
    return lambda: load_program(SNAPSHOT, "snapshot")


@pytest.fixture(scope="session")
def baseline(program):
    """The baseline's entry module (the snapshot itself when the baseline is under test)."""
    if not BASELINE:
        pytest.skip("DIARY_BASELINE is not set")
    if _same_dir(BASELINE, SNAPSHOT):
        return program
    return load_program(BASELINE, "baseline", BASELINE_ENTRY)


def _start(directory: str, entry: str, args: list[str]) -> subprocess.Popen:
    path = str((Path(directory) / entry).resolve())
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    return subprocess.Popen(
        [PYTHON, path, *args],
        cwd=os.getcwd(),
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _finish(proc: subprocess.Popen, timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{proc.args} timed out after {timeout} s", pytrace=False)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


TRAIN_ARGS = ["--steps", "5", "--samples", "2", "--seed", "42"]


@pytest.fixture(scope="session")
def short_runs():
    """(snapshot, baseline) results of `python <entry> --steps 5 --samples 2 --seed 42`.

    Both run in the current working directory, at the same time; the baseline's result is None
    when DIARY_BASELINE is unset.
    """
    if not DATA_FILE.is_file():
        pytest.fail(f"the working directory {os.getcwd()} has no {DATA_FILE}", pytrace=False)
    snap = _start(SNAPSHOT, ENTRY, TRAIN_ARGS)
    separate = BASELINE and not _same_dir(BASELINE, SNAPSHOT)
    base = _start(BASELINE, BASELINE_ENTRY, TRAIN_ARGS) if separate else None
    snap_result = _finish(snap)
    base_result = _finish(base) if base is not None else (snap_result if BASELINE else None)
    return snap_result, base_result
