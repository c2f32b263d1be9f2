"""Nothing is lost: SIGKILL at random moments, two commands at once, atomic writes."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from diary.core.atomic import write_text_atomic
from diary.core.errors import DiaryError
from diary.project.records import load_records
from diarykit import REPO, make_diary, run_diary

# Real `diary measure` processes killed and raced against each other: end to end, so slow.
pytestmark = pytest.mark.slow

KILLS = 50


def start_measure(root: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}
    env["PYTHONPATH"] = str(REPO / "tools")
    return subprocess.Popen([sys.executable, "-m", "diary", "--root", str(root), "measure", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)


@pytest.fixture(scope="module")
def old_and_new(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], dict[str, str], float]:
    """A measured diary, the keys of its records, and the keys after its settings change."""
    old = make_diary(tmp_path_factory.mktemp("old"))
    assert run_diary(old, "measure").returncode == 0
    new = tmp_path_factory.mktemp("new") / "diary"
    shutil.copytree(old, new)
    config = new / "code/diary.yml"
    config.write_text(config.read_text().replace("steps: 3", "steps: 2"))
    started = time.perf_counter()
    assert run_diary(new, "measure").returncode == 0
    duration = time.perf_counter() - started
    old_keys = {k: r.key for k, r in load_records(old).items()}
    new_keys = {k: r.key for k, r in load_records(new).items()}
    assert set(old_keys) == set(new_keys) and not set(old_keys.values()) & set(new_keys.values())
    return old, old_keys, new_keys, duration


def test_sigkill_at_random_moments_loses_nothing(old_and_new, tmp_path: Path, say) -> None:
    """Kill `diary measure` at 50 random moments: every record is the old or the new one."""
    old, old_keys, new_keys, duration = old_and_new
    rng = random.Random(20261121)
    outcomes = {"old": 0, "new": 0}
    for attempt in range(KILLS):
        root = tmp_path / f"kill{attempt}"
        shutil.copytree(old, root)
        config = root / "code/diary.yml"
        config.write_text(config.read_text().replace("steps: 3", "steps: 2"))
        proc = start_measure(root)
        time.sleep(rng.uniform(0.0, duration * 1.1))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        records = load_records(root)  # every file loads; a half-written temporary is never read
        assert set(records) == set(old_keys)
        for snap_id, record in records.items():
            if record.key == old_keys[snap_id]:
                outcomes["old"] += 1
            else:
                assert record.key == new_keys[snap_id], f"attempt {attempt}: {snap_id} is neither old nor new"
                outcomes["new"] += 1
        if attempt == KILLS - 1:  # the next measure removes any temporary the kill left behind
            assert run_diary(root, "measure").returncode == 0
            assert not list((root / "_data/records").glob(".*.tmp"))
        shutil.rmtree(root)
        if (attempt + 1) % 10 == 0:
            say(f"{attempt + 1}/{KILLS} kill points: {outcomes}")
    # The kill points must really fall inside the work, not all before or after it.
    assert outcomes["old"] > 0 and outcomes["new"] > 0, outcomes


def test_second_command_is_refused_while_the_first_runs(old_and_new, tmp_path: Path) -> None:
    old = old_and_new[0]
    root = tmp_path / "diary"
    shutil.copytree(old, root)
    lock = root / ".diary.lock"
    lock.unlink(missing_ok=True)  # the copy's lock file names the old holder; wait for the new one
    first = start_measure(root, "--force")
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not (lock.exists() and "pid" in lock.read_text(errors="ignore")):
            time.sleep(0.02)
        assert first.poll() is None, "the first measure ended before the second could start"
        second = run_diary(root, "measure")
        assert second.returncode == 2
        assert "another diary command is running here" in second.stderr
        assert "wait for it to finish" in second.stderr
    finally:
        first.wait(timeout=120)
    assert first.returncode == 0
    assert run_diary(root, "measure").returncode == 0  # the lock is released


def test_atomic_write_keeps_old_file_when_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "data.yml"
    target.write_text("old\n")

    def boom(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]


def test_unchanged_write_leaves_file_untouched(tmp_path: Path) -> None:
    target = tmp_path / "data.yml"
    assert write_text_atomic(target, "same\n") is True
    mtime = target.stat().st_mtime_ns
    time.sleep(0.01)
    assert write_text_atomic(target, "same\n") is False
    assert target.stat().st_mtime_ns == mtime


def test_load_records_refuses_garbage(tmp_path: Path) -> None:
    folder = tmp_path / "_data/records"
    folder.mkdir(parents=True)
    (folder / "x.yml").write_bytes(b"\x00\xff garbage")
    with pytest.raises(DiaryError) as info:
        load_records(tmp_path)
    assert "x.yml" in str(info.value)
    assert load_records(tmp_path, force=True) == {}
