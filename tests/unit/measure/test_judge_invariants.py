"""Forgeries of issue 23 that the judge's invariants end, each with its reason named.

| forgery                                                         | what ends it                                 |
| --------------------------------------------------------------- | -------------------------------------------- |
| 5. remembered output for the published arguments, shorter runs | probes as long as the configured run         |
|    for any other                                                |                                              |
| 7. `sandbox: none` chosen by the repository                     | refused: only the builder's --sandbox, which |
|                                                                 | the records show and the gate refuses        |
| 8. the judge changed in the same pull request                   | diary check names what changed               |
| 9. timings typed into a committed record                        | check --rerun compares them (TIMING_TOLERANCE)   |

(1-4: tests/unit/measure/test_guard.py; 6: the driver's questions, tests/unit/measure/test_forgery.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from diarykit import TINY_PROGRAM, make_diary, run_diary

pytestmark = pytest.mark.slow  # each measures a small diary for real

# Honest for the published arguments (--steps 8 --seed 1), a remembered output in effect; any other
# run (a probe, which before issue 23 ran 5 steps) is cut to 5 steps, a fraction of the work.
REMEMBERED = TINY_PROGRAM.replace(
    "    for step in range(args.steps):",
    "    published = args.steps == 8 and args.seed == 1\n"
    "    for step in range(args.steps if published else min(args.steps, 5)):")
# A program with CPU time worth publishing (about half a second), so that a typed-in figure is told apart.
BUSY = TINY_PROGRAM.replace("    names = open(", "    sum(i * i for i in range(8_000_000))\n    names = open(")


def record(root: Path, snap_id: str) -> dict:
    return yaml.safe_load((root / "_data/records" / f"{snap_id}.yml").read_text())


def with_config(root: Path, old: str, new: str) -> Path:
    config = root / "code/diary.yml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))
    return config


def test_a_remembered_output_fails_probes_as_long_as_the_configured_run(tmp_path: Path) -> None:
    root = make_diary(tmp_path / "diary", {"00-base": (TINY_PROGRAM, None, "ok"),
                                           "01-remembered": (REMEMBERED, "00-base", "ok")})
    with_config(root, "steps: 3\n", "steps: 8\n")
    done = run_diary(root, "measure")
    assert done.returncode == 1, done.stdout + done.stderr
    forged = record(root, "01-remembered")
    assert forged["behaviour"]["identical"]  # the configured run cannot tell
    assert forged["verdict"]["status"] == "broken"
    assert any(reason.startswith("probes: probe run 1 on a fresh seed prints other output than the baseline")
               for reason in forged["verdict"]["reasons"]), forged["verdict"]["reasons"]


def test_probe_steps_cannot_make_probes_shorter(tmp_path: Path) -> None:
    root = make_diary(tmp_path / "diary")
    config = with_config(root, "steps: 3\n", "steps: 3\nprobe_steps: 1\n")
    done = run_diary(root, "measure")
    assert done.returncode == 2 and not (root / "_data").exists()
    [error] = done.stderr.strip().splitlines()
    assert error.startswith(f"{config}:4") and "probe runs are as long as the configured run" in error, error


def test_the_repository_cannot_turn_the_sandbox_off(tmp_path: Path) -> None:
    root = make_diary(tmp_path / "diary")
    config = with_config(root, "steps: 3\n", "steps: 3\nsandbox: none\n")
    done = run_diary(root, "measure")
    assert done.returncode == 2 and not (root / "_data").exists()
    [error] = done.stderr.strip().splitlines()
    assert error.startswith(f"{config}:4") and "a repository cannot turn the sandbox off" in error, error


def test_a_repository_may_require_the_sandbox(tmp_path: Path) -> None:
    root = make_diary(tmp_path / "diary")
    with_config(root, "steps: 3\n", "steps: 3\nsandbox: bwrap\n")
    done = run_diary(root, "measure", "--sandbox", "none")
    assert done.returncode == 2 and not (root / "_data").exists()
    assert "this repository requires the bwrap sandbox, and --sandbox none was given" in done.stderr


def test_running_without_the_sandbox_is_the_builders_choice_and_the_gate_refuses_it(tmp_path: Path) -> None:
    root = make_diary(tmp_path / "diary")
    assert run_diary(root, "measure", "--sandbox", "none").returncode == 0
    assert {record(root, snap)["run"]["sandbox"] for snap in ("00-base", "01-wrong", "02-short")} == {"none"}
    assert run_diary(root, "generate").returncode == 0
    check = run_diary(root, "check")
    assert check.returncode == 1
    assert "record of '00-base' was measured without the sandbox (sandbox: none), so it is not published" \
        in check.stderr
    # Measured again in the sandbox (the default), the same diary passes.
    assert run_diary(root, "measure", "--force").returncode == 0
    assert run_diary(root, "generate").returncode == 0
    assert run_diary(root, "check").returncode == 0


def test_a_change_of_the_judge_is_named(tmp_path: Path) -> None:
    root = make_diary(tmp_path / "diary")
    assert run_diary(root, "measure").returncode == 0
    assert run_diary(root, "generate").returncode == 0
    passed = run_diary(root, "check")
    made_by = record(root, "00-base")["produced_by"]
    # The publish workflow's log and the About page's checks say which judge passed the records.
    identity = f"judge: suite {made_by['suite']} (tests/program, driver none), settings {made_by['settings']}"
    assert passed.returncode == 0 and identity in passed.stdout, passed.stdout + passed.stderr
    checks = (root / "_generated/checks.md").read_text()
    assert f"**The judge.** Its identity, from the records' keys: suite <code>{made_by['suite']}</code>" in checks
    suite = root / "tests/program/test_tiny.py"
    suite.write_text(suite.read_text().replace("assert load().add(2, 3) == 5", "assert True"))
    check = run_diary(root, "check")
    assert check.returncode == 1
    assert "the judge changed since 3 record(s) were made: the behavioural suite (tests/program)" in check.stderr


def test_typed_in_timings_do_not_survive_a_rerun(tmp_path: Path) -> None:
    root = make_diary(tmp_path / "diary", {"00-base": (BUSY, None, "ok")})
    assert run_diary(root, "measure").returncode == 0
    path = root / "_data/records/00-base.yml"
    measured = record(root, "00-base")["run"]["cpu_s"]
    assert measured > 0.15
    text = path.read_text()
    path.write_text(text.replace(f"cpu_s: {measured}\n", "cpu_s: 0.01\n", 1))
    assert record(root, "00-base")["run"]["cpu_s"] == 0.01
    assert run_diary(root, "generate").returncode == 0
    assert run_diary(root, "check").returncode == 0  # timings are not re-derived from the files
    rerun = run_diary(root, "check", "--rerun")
    assert rerun.returncode == 1
    assert "timings of '00-base' are contradicted by a fresh run of the same files: run.cpu_s 0.01" in rerun.stderr
