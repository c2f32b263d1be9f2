"""A long output keeps its end: the record holds its head and its tail with the count of every
line, and the snapshot's page shows both with the middle left out counted."""

from __future__ import annotations

from pathlib import Path

import yaml

from diary.cli import main
from diarykit import TINY_PROGRAM, make_diary

# 1,000 training-like lines, then the samples a reader wants to see.
LONG = TINY_PROGRAM.replace(
    '    for step in range(args.steps):\n'
    '        print(f"step {step}: {add(step, args.seed)} {names[step % len(names)]}")\n',
    '    for step in range(1000):\n        print(f"step {step + 1:4d} | loss {add(step, args.seed)}")\n'
    '    for sample in range(20):\n        print(f"sample {sample + 1:2d}: {names[sample % len(names)]}")\n')


def test_a_long_outputs_last_lines_stay_visible_and_the_middle_is_counted(tmp_path: Path) -> None:
    assert LONG != TINY_PROGRAM
    root = make_diary(tmp_path, {"00-base": (LONG, None, "ok"),
                                 "01-same": (LONG.replace("a + b", "a+b"), "00-base", "ok")})
    assert main(["--root", str(root), "measure"]) == 0
    run = yaml.safe_load((root / "_data/records/01-same.yml").read_text(encoding="utf-8"))["run"]
    assert run["stdout_line_count"] == 1020 and not run["stdout_truncated"]
    assert run["stdout_lines"][0] == "step    1 | loss 1" and run["stdout_lines"][-1] == "sample 20: bob"
    assert main(["--root", str(root), "generate", "--quiet"]) == 0
    page = (root / "snapshots/01-same.qmd").read_text(encoding="utf-8")
    assert "lines 1 to 25 and 996 to 1020 of 1020; the 970 between are left out here" in page
    assert "… 970 lines left out …" in page
    for sample in range(1, 21):
        assert f"sample {sample:2d}: " in page, sample
    assert "step   25 " in page and "step   26 " not in page and "step  995 " not in page and "step 1000 " in page


def test_a_difference_after_the_kept_head_is_not_invented(tmp_path: Path) -> None:
    """Where both outputs were kept only in part, lines are compared where they follow each other."""
    different_end = LONG.replace('print(f"sample {sample + 1:2d}: ', 'print(f"sample {sample + 2:2d}: ')
    root = make_diary(tmp_path, {"00-base": (LONG, None, "ok"), "01-other": (different_end, "00-base", "broken")})
    assert main(["--root", str(root), "measure"]) == 0
    behaviour = yaml.safe_load((root / "_data/records/01-other.yml").read_text(encoding="utf-8"))["behaviour"]
    assert not behaviour["identical"]
    assert behaviour["first_difference"]["expected"] == "<same as far as recorded>"


def test_a_rule_broken_in_many_places_is_one_line_with_its_count(tmp_path: Path) -> None:
    """25 joined statements: one bullet for the rule with its count and first places, not 20
    bullets and a '5 more of the same'."""
    joined = TINY_PROGRAM.replace('    names = open("data/names.txt").read().split()\n',
                                  '    names = open("data/names.txt").read().split()\n'
                                  + "    x = 1; y = 2\n" * 25)
    root = make_diary(tmp_path, {"00-base": (TINY_PROGRAM, None, "ok"), "01-joined": (joined, "00-base", "broken")})
    assert main(["--root", str(root), "measure"]) == 0
    assert main(["--root", str(root), "generate", "--quiet"]) == 0
    page = (root / "snapshots/01-joined.qmd").read_text(encoding="utf-8")
    verdict = page.split("## Verdict", 1)[1].split("##", 1)[0]
    bullets = [line for line in verdict.splitlines() if line.startswith("- ")]
    [rule] = [line for line in bullets if "joined" in line]
    assert rule == (r"- rule joined\-statements, broken 25 times: two statements joined with \';\' "
                    r"(prog\.py:17, prog\.py:18, prog\.py:19) (and 22 more)"), rule
    assert "more of the same" not in verdict and len(bullets) == 1, bullets


def test_a_broken_snapshots_change_against_the_baseline_has_no_nested_parentheses(tmp_path: Path) -> None:
    root = make_diary(tmp_path)  # 01-wrong is broken
    assert main(["--root", str(root), "measure"]) == 0
    assert main(["--root", str(root), "generate", "--quiet"]) == 0
    page = (root / "snapshots/01-wrong.qmd").read_text(encoding="utf-8")
    [row] = [line for line in page.splitlines() if "change in code lines against the baseline" in line]
    assert "~~(0, 0.0%)~~" in row, row
    ok = (root / "snapshots/02-short.qmd").read_text(encoding="utf-8")
    assert "0 (0.0%)" in next(line for line in ok.splitlines() if "against the baseline" in line)


def test_measure_prints_a_surprise_with_its_breaches_grouped(tmp_path: Path, capsys) -> None:
    joined = TINY_PROGRAM.replace('    names = open("data/names.txt").read().split()\n',
                                  '    names = open("data/names.txt").read().split()\n' + "    x = 1; y = 2\n" * 25)
    root = make_diary(tmp_path, {"00-base": (TINY_PROGRAM, None, "ok"), "01-joined": (joined, "00-base", "ok")})
    assert main(["--root", str(root), "measure"]) == 1
    [said] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("01-joined: expected ok")]
    assert "rule joined-statements, broken 25 times: " in said and "more of the same" not in said, said
