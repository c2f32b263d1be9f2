"""Shares of the snapshots for CI runners: the K/N spec, the plan (longest first, least loaded), estimates."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from diary.core.errors import DiaryError
from diary.project.project import Project
from diary.project.records import Record, load_records
from diary.project.shards import (
    JOB_LIMIT_MINUTES,
    Shard,
    estimated_cpu_s,
    job_timeout_minutes,
    parse_shard,
    plan_for,
    plan_shards,
    record_cpu_s,
)
from diarykit import make_diary, run_diary


def test_a_shard_is_k_of_n() -> None:
    assert parse_shard("2/4") == Shard(2, 4)
    assert parse_shard("1/1") == Shard(1, 1)
    assert parse_shard(None) is None
    assert str(parse_shard("3/256")) == "3/256"


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "1/257", "a/b", "2", "2/4/6", ""])
def test_a_wrong_shard_is_one_error_with_an_example(text: str) -> None:
    with pytest.raises(DiaryError) as caught:
        parse_shard(text)
    assert "--shard" in caught.value.message and "2/4" in (caught.value.hint or "")


def test_the_ci_shard_comes_from_gitlabs_variables() -> None:
    assert parse_shard("ci", {"CI_NODE_INDEX": "3", "CI_NODE_TOTAL": "5"}) == Shard(3, 5)
    with pytest.raises(DiaryError, match="CI_NODE_INDEX and CI_NODE_TOTAL are not set"):
        parse_shard("ci", {"CI_NODE_TOTAL": "5"})


def test_the_plan_gives_the_longest_first_to_the_least_loaded_shard() -> None:
    cpu = {"a": 1.0, "b": 7.0, "c": 5.0, "d": 4.0, "e": 3.0, "f": 2.0}
    plan = plan_shards(cpu, 2)
    # b(7) -> 1; c(5) -> 2; d(4) -> 2 (5 < 7); e(3) -> 1 (7 < 9); f(2) -> 2 (9 < 10); a(1) -> 1 (10 < 11)
    assert sorted(id_ for share in plan.shares for id_ in share) == sorted(cpu), "each snapshot exactly once"
    assert plan.shares == (("a", "b", "e"), ("c", "d", "f"))  # each share in the snapshots' order
    assert plan.cpu_s == (11.0, 11.0) and plan.balance == 1.0
    assert plan_shards(dict(reversed(list(cpu.items()))), 2).cpu_s == plan.cpu_s


def test_the_plan_is_the_same_on_every_runner_and_ties_go_by_order() -> None:
    cpu = {f"{index:02d}": 2.0 for index in range(7)}
    plans = {plan_shards(cpu, 3) for _ in range(5)}
    assert len(plans) == 1
    assert plans.pop().shares == (("00", "03", "06"), ("01", "04"), ("02", "05"))


def test_more_shards_than_snapshots_leaves_some_empty() -> None:
    plan = plan_shards({"a": 1.0}, 3)
    assert plan.shares == (("a",), (), ())
    assert plan.share(Shard(2, 3)) == ()
    with pytest.raises(ValueError):
        plan.share(Shard(1, 2))


def test_the_json_plan_is_what_a_workflow_matrix_reads() -> None:
    data = json.loads(plan_shards({"a": 3.0, "b": 1.0, "c": 1.0}, 2).as_json())
    assert data["matrix"] == ["1/2", "2/2"]
    assert data["shards"] == [{"shard": "1/2", "snapshots": ["a"], "cpu_s": 3.0},
                              {"shard": "2/2", "snapshots": ["b", "c"], "cpu_s": 2.0}]
    assert data["ideal_cpu_s"] == 2.5 and data["balance"] == 1.2


@pytest.fixture(scope="module")
def a_record(tmp_path_factory: pytest.TempPathFactory) -> Record:
    root = make_diary(tmp_path_factory.mktemp("shards") / "d", {"00-base": (_program(), None, "ok")})
    done = run_diary(root, "measure")
    assert done.returncode == 0, done.stderr
    return load_records(root)["00-base"]


def _program() -> str:
    from diarykit import TINY_PROGRAM

    return TINY_PROGRAM


def costing(record: Record, run: float, tests: float, probes: float) -> Record:
    return dataclasses.replace(record, run=dataclasses.replace(record.run, cpu_s=run),
                               tests=dataclasses.replace(record.tests, cpu_s=tests),
                               probes=dataclasses.replace(record.probes, cpu_s=probes))


def test_a_snapshot_costs_its_run_its_suite_and_its_probes(a_record: Record) -> None:
    assert record_cpu_s(costing(a_record, 2.0, 0.5, 1.5)) == 4.0


def test_a_new_snapshot_is_estimated_from_its_nearest_measured_ancestor(a_record: Record) -> None:
    chain: list[Any] = [SimpleNamespace(id=i, parent=p) for i, p in
                        [("a", None), ("b", "a"), ("c", "b"), ("d", "c"), ("x", None)]]
    records = {"a": costing(a_record, 1.0, 0, 0), "b": costing(a_record, 8.0, 0, 0),
               "x": costing(a_record, 3.0, 0, 0)}
    estimates = estimated_cpu_s(chain, records)
    assert estimates == {"a": 1.0, "b": 8.0, "c": 8.0, "d": 8.0, "x": 3.0}
    orphan: list[Any] = [SimpleNamespace(id="y", parent="gone"), *chain]
    assert estimated_cpu_s(orphan, records)["y"] == 3.0  # no measured ancestor: the median
    assert set(estimated_cpu_s(chain, {}).values()) == {1.0}  # nothing measured yet: all alike
    plan = plan_for(chain, records, 2, only=["c", "d", "x"])
    assert plan.shares == (("c", "x"), ("d",))  # 8 and 8, then 3 to the first of two equal shards


def test_plan_command_prints_text_and_json(tmp_path: Path) -> None:
    root = make_diary(tmp_path / "d")
    before = Project.load(root).settings
    (root / "code/diary.yml").write_text((root / "code/diary.yml").read_text() + "shards: 2\n")
    after = Project.load(root).settings
    assert (before.shards, after.shards) == (1, 2)
    assert after.run_fingerprint() == before.run_fingerprint(), "how many runners share it changes no record"
    done = run_diary(root, "plan", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["matrix"] == ["1/2", "2/2"]
    assert sorted(s for shard in data["shards"] for s in shard["snapshots"]) == ["00-base", "01-wrong", "02-short"]
    capped = json.loads(run_diary(root, "plan", "--shards", "5", "--json").stdout)
    assert capped["matrix"] == ["1/3", "2/3", "3/3"], "never more shards than snapshots to run"
    assert capped["timeout_minutes"] == job_timeout_minutes(1.0, 20, 60)  # the tiny diary's timeouts
    text = run_diary(root, "plan", "--shards", "3").stdout
    assert text.splitlines()[0].startswith("shard 1/3: 1.0 s CPU expected: 00-base")
    assert "the largest shard is 1.00x of it" in text
    bad = run_diary(root, "measure", "--shard", "4/3")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--shard 4/3" in bad.stderr


def test_a_shards_job_limit_leaves_room_for_its_cpu_and_one_timed_out_run() -> None:
    assert job_timeout_minutes(0.0, 60, 60) == 15 + 2
    assert job_timeout_minutes(600.0, 60, 60) == 15 + 22  # 2 x 10 CPU minutes, then the run's own timeouts
    assert job_timeout_minutes(40_000.0, 60, 60) == JOB_LIMIT_MINUTES
    warning = dataclasses.replace(plan_shards({"a": 1.0}, 1), timeout_minutes=JOB_LIMIT_MINUTES).as_text()
    assert "warning: the largest shard may not finish within a CI job's 360 minutes: raise 'shards:'" in warning


def test_measure_takes_its_share_from_gitlabs_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_diary(tmp_path / "d")
    plan = json.loads(run_diary(root, "plan", "--shards", "2", "--json").stdout)
    monkeypatch.setenv("CI_NODE_INDEX", "2")
    monkeypatch.setenv("CI_NODE_TOTAL", "2")
    done = run_diary(root, "measure", "--shard", "ci", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.stem for p in (root / "_data/records").glob("*.yml")) == plan["shards"][1]["snapshots"]
    manifest = json.loads((tmp_path / "out/shard.json").read_text())
    assert manifest == {"shard": "2/2", "snapshots": plan["shards"][1]["snapshots"]}
