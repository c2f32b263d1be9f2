"""`diary measure` on a tiny diary, called the way a user calls it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from diary.project.records import RECORD_SCHEMA, dump_record, load_record, parse_record
from diarykit import TINY_PROGRAM, make_diary, read_record, run_diary, tree_bytes, write


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_diary(tmp_path_factory.mktemp("tiny"))
    proc = run_diary(root, "measure")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return root


def fresh_copy(measured: Path, tmp_path: Path) -> Path:
    target = tmp_path / "diary"
    shutil.copytree(measured, target)
    return target



def test_every_snapshot_gets_a_record(measured: Path) -> None:
    base, wrong, short = (read_record(measured, i) for i in ("00-base", "01-wrong", "02-short"))
    assert base["behaviour"]["identical"] and base["tests"]["passed"] == 1
    assert short["behaviour"]["identical"] and short["verdict"]["status"] == "ok"
    assert short["run"]["stdout_lines"] == ["step 0: 1 ada", "step 1: 2 bob", "step 2: 3 cy"]
    assert wrong["verdict"] == {
        "status": "broken", "expected": "broken", "surprise": False,
        "reasons": ["output differs from 00-base at line 1", "tests failed: 1 failed, 0 errors",
                    "probes: probe run 1 on a fresh seed prints other output than the baseline"],
    }
    assert wrong["behaviour"]["first_difference"] == {"line": 1, "expected": "step 0: 1 ada",
                                                      "actual": "step 0: -1 ada"}
    assert wrong["tests"]["failures"][0]["test"].endswith("test_add")


def test_line_counts_and_definitions_are_recorded(measured: Path) -> None:
    rec = read_record(measured, "00-base")
    assert rec["lines"]["total"] == {"physical": 22, "blank": 6, "comment": 1, "docstring": 1, "code": 14}
    assert rec["size"]["total"] == {"tokens": 115, "characters": 433}
    names = [d["name"] for d in rec["definitions"]]
    assert "add" in names and "main" in names
    add = next(d for d in rec["definitions"] if d["name"] == "add")
    assert (add["kind"], add["code"], add["comment"]) == ("function", 2, 1)
    # def add ( a , b ) : return a + b -- the comment is no token
    assert (add["tokens"], add["characters"]) == (12, len("defadd(a,b):returna+b"))
    assert rec["comments"] == {"total": 1, "kept": 1, "percent": 100.0, "dropped": []}


def test_second_run_runs_nothing(measured: Path, tmp_path: Path) -> None:
    root = fresh_copy(measured, tmp_path)
    before = tree_bytes(root)
    proc = run_diary(root, "measure")
    assert proc.returncode == 0
    assert "0 measured, 3 cached" in proc.stdout
    assert tree_bytes(root) == before


def test_editing_one_snapshot_reruns_only_it(measured: Path, tmp_path: Path) -> None:
    root = fresh_copy(measured, tmp_path)
    before = tree_bytes(root)
    prog = root / "code/snapshots/02-short/prog.py"
    prog.write_text(prog.read_text() + "# one more comment\n")
    proc = run_diary(root, "measure")
    assert proc.returncode == 0, proc.stderr
    assert "1 measured, 2 cached" in proc.stdout
    after = tree_bytes(root)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"_data/records/02-short.yml"}


def test_title_edit_does_not_rerun_but_force_does(measured: Path, tmp_path: Path) -> None:
    root = fresh_copy(measured, tmp_path)
    proc = run_diary(root, "measure", "--force", "--only", "00-base")
    assert "1 measured, 2 cached" in proc.stdout


def test_unexpected_breakage_exits_1_after_measuring_all(measured: Path, tmp_path: Path) -> None:
    root = fresh_copy(measured, tmp_path)
    prog = root / "code/snapshots/02-short/prog.py"
    prog.write_text(prog.read_text().replace("return a+b", "return a*b"))
    proc = run_diary(root, "measure")
    assert proc.returncode == 1
    assert "02-short: expected ok, is broken" in proc.stdout


def test_expected_broken_that_passes_exits_1(measured: Path, tmp_path: Path) -> None:
    root = fresh_copy(measured, tmp_path)
    prog = root / "code/snapshots/01-wrong/prog.py"
    prog.write_text(prog.read_text().replace("return a - b", "return a + b"))
    proc = run_diary(root, "measure")
    assert proc.returncode == 1
    assert "01-wrong: expected broken, is ok" in proc.stdout


def test_record_round_trip(measured: Path) -> None:
    path = measured / "_data/records/01-wrong.yml"
    rec = load_record(path)
    assert dump_record(rec) == path.read_text()
    assert parse_record(dump_record(rec), path) == rec


@pytest.mark.parametrize(
    ("mangle", "expected"),
    [
        (lambda t: t[: len(t) // 3], "01-wrong.yml:"),
        (lambda t: "", "01-wrong.yml:1: error: record file is empty"),
        (lambda t: t.replace(f"schema: {RECORD_SCHEMA}", "schema: 9"),
         f"schema 9, newer than this tool's {RECORD_SCHEMA}"),
        (lambda t: t.replace("  passed: 0", "  passed: many"), "record field 'tests.passed' must be an integer"),
        (lambda t: t.replace("  identical: false", "  identical: 'no'"), "'behaviour.identical' must be true or false"),
        (lambda t: "key: [unclosed\n" + t, re.compile(r"01-wrong\.yml:2:\d+: error: record is not valid YAML")),
        (lambda t: t.replace("lines:\n", "lines:\n  extra: 1\n", 1), "has an unknown key 'extra'"),
    ],
    ids=["truncated", "empty", "newer-schema", "wrong-type", "wrong-bool", "not-yaml", "unknown-key"],
)
def test_bad_record_is_refused_and_kept(measured: Path, tmp_path: Path, mangle, expected: str) -> None:
    root = fresh_copy(measured, tmp_path)
    path = root / "_data/records/01-wrong.yml"
    path.write_text(mangle(path.read_text()))
    before = tree_bytes(root)
    proc = run_diary(root, "measure")
    assert proc.returncode == 2
    assert (expected.search(proc.stderr) if isinstance(expected, re.Pattern) else expected in proc.stderr), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "diary measure --force" in proc.stderr
    assert tree_bytes(root) == before
    forced = run_diary(root, "measure", "--force")
    assert forced.returncode == 0, forced.stderr
    assert load_record(path).id == "01-wrong"


def test_wrong_type_error_names_line_and_column(measured: Path, tmp_path: Path) -> None:
    root = fresh_copy(measured, tmp_path)
    path = root / "_data/records/00-base.yml"
    text = path.read_text().replace("  passed: 1\n", "  passed: one\n")
    path.write_text(text)
    line = text.splitlines().index("  passed: one") + 1
    proc = run_diary(root, "measure")
    assert f"00-base.yml:{line}:11: error: record field 'tests.passed' must be an integer" in proc.stderr


def test_deleted_snapshot_loses_its_record(measured: Path, tmp_path: Path) -> None:
    root = fresh_copy(measured, tmp_path)
    shutil.rmtree(root / "code/snapshots/02-short")
    proc = run_diary(root, "measure")
    assert proc.returncode == 0
    assert not (root / "_data/records/02-short.yml").exists()


def test_records_are_stable_diff_friendly_yaml(measured: Path) -> None:
    text = (measured / "_data/records/00-base.yml").read_text()
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith((" ", "-"))]
    assert keys == ["schema", "id", "key", "produced_by", "snapshot", "lines", "size", "definitions", "comments",
                    "tabs", "run", "behaviour", "tests", "probes", "breaches", "verdict"]
    assert yaml.safe_load(text)["schema"] == RECORD_SCHEMA == 3


def test_multi_file_snapshot_counts_per_file_and_sums(tmp_path: Path) -> None:
    root = make_diary(tmp_path, {"00-base": (
        "from helper import add\nimport argparse\n\n\ndef main():\n    argparse.ArgumentParser().parse_known_args()\n"
        "    print(add(1, 2))\n\n\nif __name__ == '__main__':\n    main()\n", None, "ok")})
    write(root / "code/snapshots/00-base/helper.py", "# helpers\n\n\ndef add(a, b):\n    return a + b\n")
    proc = run_diary(root, "measure")
    assert proc.returncode == 0, proc.stderr
    rec = read_record(root, "00-base")
    assert rec["lines"]["files"]["helper.py"] == {"physical": 5, "blank": 2, "comment": 1, "docstring": 0,
                                                  "code": 2}
    assert rec["size"]["files"]["helper.py"] == {"tokens": 12, "characters": 21}
    assert rec["lines"]["total"]["physical"] == 16
    files = rec["size"]["files"].values()
    assert rec["size"]["total"]["tokens"] == sum(f["tokens"] for f in files)  # the total sums the files
    assert rec["size"]["total"]["characters"] == sum(f["characters"] for f in files)
    assert rec["run"]["stdout_lines"] == ["3"]
    assert {d["file"] for d in rec["definitions"]} == {"prog.py", "helper.py"}


PLUGIN_SUITE = '''\
import os
from importlib.metadata import entry_points

import pytest

if not os.environ.get("DIARY_SNAPSHOT"):
    pytest.skip("run by diary measure", allow_module_level=True)


def test_installed_plugins_are_not_loaded(request):
    manager = request.config.pluginmanager
    assert [ep.name for ep in entry_points(group="pytest11") if manager.has_plugin(ep.name)] == []


def test_a_plugin_the_suite_names_is_loaded(request):
    assert request.config.pluginmanager.has_plugin("_hypothesis_pytestplugin")
'''


def test_the_suite_runs_with_the_plugins_it_names_and_no_other(tmp_path: Path) -> None:
    # The tool's own test plugins (xdist, hypothesis) are installed beside it; the suite sees only
    # those its conftest.py names, so what is installed neither changes a verdict nor costs a start-up.
    root = make_diary(tmp_path, {"00-base": (TINY_PROGRAM, None, "ok")})
    write(root / "tests/program/conftest.py", 'pytest_plugins = ["_hypothesis_pytestplugin"]\n')
    write(root / "tests/program/test_plugins.py", PLUGIN_SUITE)
    proc = run_diary(root, "measure")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    tests = read_record(root, "00-base")["tests"]
    assert (tests["status"], tests["passed"], tests["failed"]) == ("ok", 3, 0), tests["failures"]


ORDER_SUITE = '''\
import os
import time
from pathlib import Path

import pytest

if not os.environ.get("DIARY_SNAPSHOT"):
    pytest.skip("run by diary measure", allow_module_level=True)

RECORDS = Path({records!r})


def test_the_record_before_this_snapshot_is_written():
    # Only the last snapshot waits: with one job its suite starts after every earlier job.
    if "02-" not in os.environ["DIARY_SNAPSHOT"]:
        return
    for _ in range(100):
        if (RECORDS / "01-next.yml").is_file():
            return
        time.sleep(0.1)
    raise AssertionError("the record of 01-next was not written before this suite ran")
'''


def test_each_record_is_written_before_later_snapshots_are_judged(tmp_path: Path) -> None:
    # One job, no sandbox (so this suite can look at the records folder): a record reaches the disk
    # once its own suite and run are done, not after the suites of the whole diary have run.
    snapshots = {"00-base": (TINY_PROGRAM, None, "ok"), "01-next": (TINY_PROGRAM + "\n# one\n", "00-base", "ok"),
                 "02-last": (TINY_PROGRAM + "\n# two\n", "01-next", "ok")}
    root = make_diary(tmp_path, snapshots)
    config = root / "code/diary.yml"
    config.write_text(config.read_text(encoding="utf-8") + "jobs: 1\n", encoding="utf-8")
    write(root / "tests/program/test_order.py", ORDER_SUITE.format(records=str(root / "_data/records")))
    proc = run_diary(root, "measure", "--sandbox", "none")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    tests = read_record(root, "02-last")["tests"]
    assert (tests["status"], tests["passed"]) == ("ok", 2), tests["failures"]
