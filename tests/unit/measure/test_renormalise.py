"""A filter declared after the first measure re-runs nothing it does not change: the records are
derived again from the raw output kept in the user's cache, and check agrees they are fresh."""

from __future__ import annotations

from pathlib import Path

import yaml

from diary.check import stale_records, unfaithful_records
from diary.cli import main
from diary.project.project import Project
from diarykit import TINY_PROGRAM, make_diary

STAMPED = TINY_PROGRAM.replace("import argparse\n", "import argparse\nimport time\n").replace(
    "    names = open", '    print(f"started {time.time_ns()}")\n    names = open')
NO_SEED = "args: []\n"  # no {seed}: no probe runs, whose outputs are not kept
FILTER = "normalise:\n  - {name: started, pattern: '^started .*$', replace: 'started <time>'}\n"


def test_a_filter_added_later_rederives_the_records_without_a_run(tmp_path: Path, capsys) -> None:
    root = make_diary(tmp_path, {"00-base": (STAMPED, None, "ok"),
                                 "01-same": (STAMPED.replace("a + b", "a+b"), "00-base", "ok")})
    settings = root / "code/diary.yml"
    settings.write_text(settings.read_text(encoding="utf-8") + NO_SEED, encoding="utf-8")
    assert main(["--root", str(root), "measure"]) == 1  # the time differs: 01-same is broken, unexpectedly
    capsys.readouterr()
    settings.write_text(settings.read_text(encoding="utf-8") + FILTER, encoding="utf-8")
    assert main(["--root", str(root), "measure"]) == 0
    out = capsys.readouterr().out
    assert "0 measured, 0 cached, 2 renormalised (nothing ran)" in out, out
    record = yaml.safe_load((root / "_data/records/01-same.yml").read_text(encoding="utf-8"))
    assert record["verdict"]["status"] == "ok" and record["behaviour"]["normalised_by"] == ["started"]
    project = Project.load(root)
    assert stale_records(project) == [] and unfaithful_records(project) == []


def test_without_the_kept_output_a_filter_measures_again(tmp_path: Path, capsys, monkeypatch) -> None:
    root = make_diary(tmp_path, {"00-base": (STAMPED, None, "ok"),
                                 "01-same": (STAMPED.replace("a + b", "a+b"), "00-base", "ok")})
    settings = root / "code/diary.yml"
    settings.write_text(settings.read_text(encoding="utf-8") + NO_SEED, encoding="utf-8")
    assert main(["--root", str(root), "measure"]) == 1
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))  # a fresh machine: CI
    capsys.readouterr()
    settings.write_text(settings.read_text(encoding="utf-8") + FILTER, encoding="utf-8")
    assert main(["--root", str(root), "measure"]) == 0
    assert "2 measured" in capsys.readouterr().out
