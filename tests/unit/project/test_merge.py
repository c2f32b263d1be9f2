"""`diary merge`: the union of the shards' records, refused (one line, nothing written) when they
disagree, come from another version, another checkout, or leave a snapshot out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from diarykit import make_diary, run_diary, tree_bytes

IDS = ("00-base", "01-wrong", "02-short")


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny diary measured in one run: its records are what the shards must add up to."""
    root = make_diary(tmp_path_factory.mktemp("merge") / "whole")
    done = run_diary(root, "measure")
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def diary(measured: Path, tmp_path: Path) -> Path:
    """A clone of the diary with no records: what the merge job checks out before it merges."""
    root = tmp_path / "diary"
    shutil.copytree(measured, root, ignore=shutil.ignore_patterns("_data"))
    return root


def shard(measured: Path, folder: Path, *ids: str) -> Path:
    """A shard's artifact: the records of `ids`, as `--out` writes them."""
    folder.mkdir(parents=True)
    for snap_id in ids:
        shutil.copy2(measured / "_data/records" / f"{snap_id}.yml", folder / f"{snap_id}.yml")
    return folder


def refused(root: Path, *args: str) -> str:
    before = tree_bytes(root)
    done = run_diary(root, "merge", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert tree_bytes(root) == before, "a refused merge writes nothing"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_the_union_of_the_shards_is_the_records(measured: Path, diary: Path, tmp_path: Path) -> None:
    one = shard(measured, tmp_path / "s1", "00-base", "02-short")
    two = shard(measured, tmp_path / "s2", "01-wrong", "02-short")  # a snapshot in two shards: they agree
    done = run_diary(diary, "merge", str(one), str(two))
    assert done.returncode == 0, done.stderr
    assert "3 record(s) from 2 shard(s), 3 changed" in done.stdout
    assert tree_bytes(diary) == tree_bytes(measured)


def test_a_snapshot_left_out_is_named(measured: Path, diary: Path, tmp_path: Path) -> None:
    line = refused(diary, str(shard(measured, tmp_path / "s1", "00-base", "02-short")))
    assert "no shard measured 01-wrong" in line


def test_a_snapshot_whose_committed_record_is_fresh_need_not_be_measured(measured: Path, diary: Path,
                                                                          tmp_path: Path) -> None:
    (diary / "_data/records").mkdir(parents=True)
    shutil.copy2(measured / "_data/records/01-wrong.yml", diary / "_data/records/01-wrong.yml")
    done = run_diary(diary, "merge", str(shard(measured, tmp_path / "s1", "00-base", "02-short")))
    assert done.returncode == 0, done.stderr
    assert tree_bytes(diary) == tree_bytes(measured)


def test_shards_that_contradict_each_other_are_refused(measured: Path, diary: Path, tmp_path: Path) -> None:
    one = shard(measured, tmp_path / "s1", *IDS)
    two = shard(measured, tmp_path / "s2", "02-short")
    path = two / "02-short.yml"
    path.write_text(path.read_text().replace("status: ok", "status: broken", 1))
    line = refused(diary, str(one), str(two))
    assert line.startswith(f"{path}:1: error: snapshot '02-short': the shards disagree on what was measured")
    text = path.read_text().replace("status: broken", "status: ok", 1)
    key = next(row for row in text.splitlines() if row.startswith("key: "))
    path.write_text(text.replace(key, "key: " + "f" * 24))
    assert "the shards disagree on the key" in refused(diary, str(one), str(two))


def test_a_record_of_another_tool_version_is_refused(measured: Path, diary: Path, tmp_path: Path) -> None:
    one = shard(measured, tmp_path / "s1", *IDS)
    path = one / "01-wrong.yml"
    text = path.read_text()
    measure = next(row for row in text.splitlines() if row.startswith("  measure: "))
    path.write_text(text.replace(measure, "  measure: '0'"))
    line = refused(diary, str(one))
    assert line.startswith(f"{path}:1: error: measured by diary") and "(measure 0)" in line


def test_a_record_of_another_checkout_is_refused(measured: Path, diary: Path, tmp_path: Path) -> None:
    one = shard(measured, tmp_path / "s1", *IDS)
    source = diary / "code/snapshots/02-short/prog.py"
    source.write_text(source.read_text() + "# edited after the shards ran\n")
    line = refused(diary, str(one))
    assert line.startswith(f"{one / '02-short.yml'}:1: error: snapshot '02-short' was measured from other inputs")
    assert "(content)" in line


def test_a_record_of_no_snapshot_is_refused(measured: Path, diary: Path, tmp_path: Path) -> None:
    one = shard(measured, tmp_path / "s1", *IDS)
    shutil.rmtree(diary / "code/snapshots/02-short")
    assert "a record of '02-short', which is not a snapshot of this diary" in refused(diary, str(one))


def test_verify_needs_every_snapshot_verified_and_writes_nothing(measured: Path, tmp_path: Path) -> None:
    one = shard(measured, tmp_path / "s1", "00-base")
    two = shard(measured, tmp_path / "s2", "01-wrong", "02-short")
    assert "no shard verified 01-wrong, 02-short" in refused(measured, "--verify", str(one))
    done = run_diary(measured, "merge", "--verify", str(one), str(two))
    assert done.returncode == 0 and "every snapshot was verified by a shard (3)" in done.stdout
