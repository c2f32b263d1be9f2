"""`diary merge`: the union of the shards' records, refused (one line, nothing written) when they
disagree, come from another version, another checkout, or leave a snapshot out."""

from __future__ import annotations

import json
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


def shard(measured: Path, folder: Path, name: str, *ids: str) -> Path:
    """Shard `name` (K/N)'s artifact: the records of `ids` and the manifest, as `--out` writes them."""
    folder.mkdir(parents=True)
    for snap_id in ids:
        shutil.copy2(measured / "_data/records" / f"{snap_id}.yml", folder / f"{snap_id}.yml")
    (folder / "shard.json").write_text(json.dumps({"shard": name, "snapshots": list(ids)}))
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
    one = shard(measured, tmp_path / "s1", "1/2", "00-base", "02-short")
    two = shard(measured, tmp_path / "s2", "2/2", "01-wrong", "02-short")  # a snapshot in two shards: they agree
    done = run_diary(diary, "merge", str(one), str(two))
    assert done.returncode == 0, done.stderr
    assert "3 record(s) from 2 shard(s), 3 changed" in done.stdout
    assert tree_bytes(diary) == tree_bytes(measured)


def test_a_snapshot_left_out_is_named(measured: Path, diary: Path, tmp_path: Path) -> None:
    line = refused(diary, str(shard(measured, tmp_path / "s1", "1/1", "00-base", "02-short")))
    assert "no shard measured 01-wrong" in line


def test_a_snapshot_whose_committed_record_is_fresh_need_not_be_measured(measured: Path, diary: Path,
                                                                          tmp_path: Path) -> None:
    (diary / "_data/records").mkdir(parents=True)
    shutil.copy2(measured / "_data/records/01-wrong.yml", diary / "_data/records/01-wrong.yml")
    done = run_diary(diary, "merge", str(shard(measured, tmp_path / "s1", "1/1", "00-base", "02-short")))
    assert done.returncode == 0, done.stderr
    assert tree_bytes(diary) == tree_bytes(measured)


def test_shards_that_contradict_each_other_are_refused(measured: Path, diary: Path, tmp_path: Path) -> None:
    one = shard(measured, tmp_path / "s1", "1/2", *IDS)
    two = shard(measured, tmp_path / "s2", "2/2", "02-short")
    path = two / "02-short.yml"
    path.write_text(path.read_text().replace("status: ok", "status: broken", 1))
    line = refused(diary, str(one), str(two))
    assert line.startswith(f"{path}:1: error: snapshot '02-short': the shards disagree on what was measured")
    text = path.read_text().replace("status: broken", "status: ok", 1)
    key = next(row for row in text.splitlines() if row.startswith("key: "))
    path.write_text(text.replace(key, "key: " + "f" * 24))
    assert "the shards disagree on the key" in refused(diary, str(one), str(two))


def test_a_record_of_another_tool_version_is_refused(measured: Path, diary: Path, tmp_path: Path) -> None:
    one = shard(measured, tmp_path / "s1", "1/1", *IDS)
    path = one / "01-wrong.yml"
    text = path.read_text()
    measure = next(row for row in text.splitlines() if row.startswith("  measure: "))
    path.write_text(text.replace(measure, "  measure: '0'"))
    line = refused(diary, str(one))
    assert line.startswith(f"{path}:1: error: measured by diary") and "(measure 0)" in line


def test_a_record_of_another_checkout_is_refused(measured: Path, diary: Path, tmp_path: Path) -> None:
    one = shard(measured, tmp_path / "s1", "1/1", *IDS)
    source = diary / "code/snapshots/02-short/prog.py"
    source.write_text(source.read_text() + "# edited after the shards ran\n")
    line = refused(diary, str(one))
    assert line.startswith(f"{one / '02-short.yml'}:1: error: snapshot '02-short' was measured from other inputs")
    assert "(content)" in line


def test_a_record_of_no_snapshot_is_refused(measured: Path, diary: Path, tmp_path: Path) -> None:
    one = shard(measured, tmp_path / "s1", "1/1", *IDS)
    shutil.rmtree(diary / "code/snapshots/02-short")
    assert "a record of '02-short', which is not a snapshot of this diary" in refused(diary, str(one))


def test_verify_needs_every_snapshot_verified_and_writes_nothing(measured: Path, tmp_path: Path) -> None:
    one = shard(measured, tmp_path / "s1", "1/2", "00-base")
    two = shard(measured, tmp_path / "s2", "2/2", "01-wrong", "02-short")
    assert "the records of shard 2/2 are missing" in refused(measured, "--verify", str(one))
    (two / "01-wrong.yml").unlink()
    line = refused(measured, "--verify", str(one), str(two))
    assert "the folder does not hold the records its manifest names" in line
    (two / "shard.json").write_text(json.dumps({"shard": "2/2", "snapshots": ["02-short"]}))
    assert "no shard verified 01-wrong" in refused(measured, "--verify", str(one), str(two))
    (two / "shard.json").write_text(json.dumps({"shard": "2/2", "snapshots": ["01-wrong", "02-short"]}))
    shutil.copy2(measured / "_data/records/01-wrong.yml", two / "01-wrong.yml")
    done = run_diary(measured, "merge", "--verify", str(one), str(two))
    assert done.returncode == 0 and "every snapshot was verified by a shard (3)" in done.stdout


def test_every_shard_of_the_plan_must_be_there_once(measured: Path, diary: Path, tmp_path: Path) -> None:
    one = shard(measured, tmp_path / "s1", "1/3", "00-base")
    three = shard(measured, tmp_path / "s3", "3/3", "01-wrong", "02-short")
    line = refused(diary, str(one), str(three))
    assert line.startswith(f"{one}: error: the records of shard 2/3 are missing")
    assert "shard 1/3 is given twice" in refused(diary, str(one), str(one))
    other = shard(measured, tmp_path / "s4", "2/2", "02-short")
    assert "the folders come from plans of 2 and 3 shards" in refused(diary, str(one), str(other), str(three))
    (three / "shard.json").unlink()
    assert f"{three}: error: not a shard's folder (no readable shard.json)" in refused(diary, str(one), str(three))
