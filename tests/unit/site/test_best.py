"""The best snapshot is the shortest one that works, computed in one place, and never a broken one:
when nothing works, every generated place that names the best says there is none."""

from __future__ import annotations

from pathlib import Path

import yaml

from diary.cli import main
from diarykit import TINY_PROGRAM, make_diary

BROKEN = TINY_PROGRAM.replace('if __name__ == "__main__":', 'raise SystemExit(3)\nif __name__ == "__main__":')


def test_a_broken_baseline_is_never_published_as_the_best(tmp_path: Path, capsys) -> None:
    # The baseline fails as its author expects, and so does its child: nothing works.
    root = make_diary(tmp_path, {"00-base": (BROKEN, None, "broken"),
                                 "01-child": (BROKEN.replace("a + b", "a+b"), "00-base", "broken")})
    assert main(["--root", str(root), "measure"]) == 0
    assert "best: none" in capsys.readouterr().out
    assert main(["--root", str(root), "generate", "--quiet"]) == 0
    variables = yaml.safe_load((root / "_variables.yml").read_text(encoding="utf-8"))["diary"]
    assert variables["best"] == "none (no snapshot works)"
    assert not {"best_code", "saved_code", "saved_percent"} & set(variables), variables
    for partial in ("_generated/_chart.md", "_generated/_progress-table.md"):
        text = (root / partial).read_text(encoding="utf-8")
        assert "no snapshot works" in text.lower(), partial
        assert "the shortest snapshot that works (" not in text and "the best (" not in text, partial
    for page in ("snapshots/00-base.qmd", "snapshots/01-child.qmd"):
        assert "best snapshot" not in (root / page).read_text(encoding="utf-8"), page


def test_the_best_is_the_shortest_working_snapshot_on_every_page(tmp_path: Path) -> None:
    # 01-wrong is broken and the shortest; 02-short works, one line shorter than the baseline.
    shorter = TINY_PROGRAM.replace('    names = open("data/names.txt").read().split()\n', "").replace(
        "names[step % len(names)]", "open('data/names.txt').read().split()[step % 3]")
    wrong = shorter.replace("a + b", "a - b").replace("# the one operation under test\n    ", "")
    root = make_diary(tmp_path, {"00-base": (TINY_PROGRAM, None, "ok"), "01-wrong": (wrong, "00-base", "broken"),
                                 "02-short": (shorter, "00-base", "ok")})
    # 02-short folds a line into a longer one than the baseline's longest: allowed here, the subject is the best
    config = root / "code/diary.yml"
    config.write_text(config.read_text(encoding="utf-8") + "max_line_length: 120\n", encoding="utf-8")
    assert main(["--root", str(root), "measure"]) == 0
    assert main(["--root", str(root), "generate", "--quiet"]) == 0
    variables = yaml.safe_load((root / "_variables.yml").read_text(encoding="utf-8"))["diary"]
    assert variables["best"] == "02-short"
    assert "best snapshot" in (root / "snapshots/02-short.qmd").read_text(encoding="utf-8")
    assert "best snapshot" not in (root / "snapshots/00-base.qmd").read_text(encoding="utf-8")
    assert r"The best is 02\-short" in (root / "_generated/_progress-table.md").read_text(encoding="utf-8")
