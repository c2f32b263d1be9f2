"""A diary measured and verified across CI runners: each shard in a clone of its own, as on CI.

Records merged from 2 and 3 shards are those of one run in everything but timings, and `check
--rerun` split over shards verifies every snapshot exactly once, failing on the shard that holds a
forged record.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from diary.project.records import load_records, without_timings
from diarykit import TINY_PROGRAM, make_diary, run_diary

pytestmark = pytest.mark.slow  # several diaries measured in separate clones

SNAPSHOTS = {
    "00-base": (TINY_PROGRAM, None, "ok"),
    "01-wrong": (TINY_PROGRAM.replace("return a + b", "return a - b"), "00-base", "broken"),
    "02-short": (TINY_PROGRAM.replace("    return a + b\n", "    return a+b\n"), "00-base", "ok"),
    "03-shorter": (TINY_PROGRAM.replace("    return a + b\n", "    return b+a\n"), "02-short", "ok"),
    "04-args": (TINY_PROGRAM.replace("args = parser.parse_args(argv)", "args=parser.parse_args(argv)"),
                "03-shorter", "ok"),
}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository as committed before anything was measured."""
    return make_diary(tmp_path_factory.mktemp("shards") / "source", SNAPSHOTS)


def clone(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def measured(root: Path, *args: str) -> str:
    done = run_diary(root, "measure", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stderr


def steady(root: Path) -> dict[str, dict]:
    return {snap_id: without_timings(record) for snap_id, record in load_records(root).items()}


@pytest.fixture(scope="module")
def single(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = clone(source, tmp_path_factory.mktemp("single") / "diary")
    log = measured(root)
    assert "still measuring" not in log, "a quick snapshot adds no line (tests/unit/measure/test_progress.py)"
    return root


@pytest.mark.parametrize("count", [1, 2, 3])
def test_records_merged_from_shards_are_those_of_one_run(source: Path, single: Path, tmp_path: Path,
                                                         count: int) -> None:
    folders = []
    for index in range(1, count + 1):
        runner = clone(source, tmp_path / f"runner{index}")
        measured(runner, "--shard", f"{index}/{count}", "--out", str(tmp_path / f"records{index}"))
        written = sorted(path.stem for path in (runner / "_data/records").glob("*.yml"))
        assert written == sorted(path.stem for path in (tmp_path / f"records{index}").glob("*.yml")), \
            "a shard writes only its own share"
        folders.append(str(tmp_path / f"records{index}"))
    shares = [sorted(path.stem for path in Path(folder).glob("*.yml")) for folder in folders]
    assert sorted(sum(shares, [])) == sorted(SNAPSHOTS), f"each snapshot in exactly one share: {shares}"
    merge = clone(source, tmp_path / "merge")
    done = run_diary(merge, "merge", *folders)
    assert done.returncode == 0, done.stderr
    assert steady(merge) == steady(single)


def test_check_rerun_split_over_shards_verifies_each_snapshot_once(single: Path, tmp_path: Path) -> None:
    root = clone(single, tmp_path / "diary")
    plan = json.loads(run_diary(root, "plan", "--shards", "2", "--json").stdout)
    assert plan["matrix"] == ["1/2", "2/2"]
    # A forged record: the share holding it fails, the other passes, and no share is verified twice.
    forged = plan["shards"][1]["snapshots"][-1]
    path = root / "_data/records" / f"{forged}.yml"
    path.write_text(path.read_text().replace("passed: 1", "passed: 2", 1))
    assert run_diary(root, "generate").returncode == 0  # the forger commits what generate writes from it
    results = {}
    for shard in plan["matrix"]:
        index = shard.split("/")[0]
        done = run_diary(root, "check", "--rerun", "--shard", shard, "--out", str(tmp_path / f"verified{index}"))
        results[shard] = (done.returncode, done.stderr)
    assert results["1/2"][0] == 0, results["1/2"][1]
    assert results["2/2"][0] == 1 and f"record of '{forged}' is contradicted by a fresh run" in results["2/2"][1]
    verified = [sorted(p.stem for p in (tmp_path / f"verified{i}").glob("*.yml")) for i in (1, 2)]
    assert verified == [sorted(share["snapshots"]) for share in plan["shards"]]
    done = run_diary(root, "merge", "--verify", str(tmp_path / "verified1"), str(tmp_path / "verified2"))
    assert done.returncode == 0, done.stderr
