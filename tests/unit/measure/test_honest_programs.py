"""Honest programs are never judged broken (issue 23): each a baseline plus an honest shorter copy.

Before issue 23 each of these baselines breached its own rules (`os.path` a code loader,
`sys.stdout` an outside import, any third-party import outside, PEP 8 spacing), and the run-time
guard refused the compile the standard library does to build a dataclass or a namedtuple. The
baseline now defines what is allowed, and the guard rests on what was counted, so all stay ok; a
snapshot that goes beyond its baseline still breaches, by name.
"""

from __future__ import annotations

import ast
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from diary.measure.allowed import allowances, beyond_baseline
from diary.measure.rules import check_files
from diarykit import TINY_CONFIG, run_diary, snapshot_meta, write

# Word statistics of data/names.txt: the standard library as people use it, 2-space indentation
# and one blank line between functions (its author's style, not PEP 8's).
WORDS = '''\
"""Word statistics of a text file."""
import argparse
import collections
import dataclasses
import enum
import json
import os.path
import sys
import threading
Stat = collections.namedtuple("Stat", "word count")

class Order(enum.Enum):
  COUNT = "count"
  WORD = "word"

@dataclasses.dataclass
class Report:
  total: int
  top: list

def count(path, found):
  # one thread per file: the counts meet in `found`
  with open(path) as text:
    found.update(text.read().split())

def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--samples", type=int, default=1)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  found = collections.Counter()
  worker = threading.Thread(target=count, args=(os.path.join("data", "names.txt"), found))
  worker.start()
  worker.join()
  ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))
  top = [Stat(word, n)._asdict() for word, n in ranked[: args.steps]]
  report = Report(sum(found.values()) + args.seed, top)
  for step in range(args.steps):
    sys.stdout.write(f"step {step}: {Order.COUNT.value} {args.seed + step}\\n")
  sys.stdout.write(json.dumps(dataclasses.asdict(report)) + "\\n")

if __name__ == "__main__":
  main()
'''
# The same program, shorter: two imports folded away, the same style, the same output.
WORDS_SHORTER = WORDS.replace('Stat = collections.namedtuple("Stat", "word count")\n',
                              'Stat = collections.namedtuple("Stat", ["word", "count"])\n').replace(
    "  worker = threading.Thread(target=count, args=(os.path.join(\"data\", \"names.txt\"), found))\n"
    "  worker.start()\n  worker.join()\n",
    "  worker = threading.Thread(target=count, args=(os.path.join(\"data\", \"names.txt\"), found))\n"
    "  worker.start(), worker.join()\n")

# A package installed beside the tool (PyYAML, a dependency of diary): the baseline imports it.
THIRD_PARTY = '''\
import argparse

import yaml


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for step in range(args.steps):
        print(yaml.safe_dump({"step": step, "seed": args.seed}, default_flow_style=True).strip())


if __name__ == "__main__":
    main()
'''
THIRD_PARTY_SHORTER = THIRD_PARTY.replace(
    'print(yaml.safe_dump({"step": step, "seed": args.seed}, default_flow_style=True).strip())',
    'print(yaml.safe_dump(dict(step=step, seed=args.seed), default_flow_style=True).strip())')

# A program split into modules: the entry imports its own helper.
SPLIT_MAIN = '''\
import argparse

from helpers import line


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for step in range(args.steps):
        print(line(step, args.seed))


if __name__ == "__main__":
    main()
'''
SPLIT_HELPERS = '''\
def line(step, seed):
    """One line of output."""
    total = step + seed
    return f"step {step}: {total}"
'''
SPLIT_HELPERS_SHORTER = '''\
def line(step, seed):
    """One line of output."""
    return f"step {step}: {step + seed}"
'''

PROGRAMS = {
    "words": ({"prog.py": WORDS}, {"prog.py": WORDS_SHORTER}),
    "third-party": ({"prog.py": THIRD_PARTY}, {"prog.py": THIRD_PARTY_SHORTER}),
    "modules": ({"prog.py": SPLIT_MAIN, "helpers.py": SPLIT_HELPERS},
                {"prog.py": SPLIT_MAIN, "helpers.py": SPLIT_HELPERS_SHORTER}),
}


def honest_diary(root: Path, baseline: dict[str, str], shorter: dict[str, str]) -> Path:
    """A diary without a suite (the verdict rests on the run, the probes and the rules)."""
    write(root / "code/diary.yml", TINY_CONFIG.replace("tests: tests/program\n", "tests: none\n"))
    write(root / "code/data/names.txt", "ada bob ada\ncy ada bob\n")
    for snap_id, files, parent in (("00-base", baseline, None), ("01-shorter", shorter, "00-base")):
        for name, text in files.items():
            write(root / "code/snapshots" / snap_id / name, text)
        write(root / "code/snapshots" / snap_id / "snapshot.yml", snapshot_meta(snap_id, parent))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(PROGRAMS))
def test_an_honest_baseline_and_its_shorter_copy_are_ok(tmp_path: Path, kind: str) -> None:
    baseline, shorter = PROGRAMS[kind]
    assert baseline != shorter
    root = honest_diary(tmp_path / "diary", baseline, shorter)
    done = run_diary(root, "measure")
    assert done.returncode == 0, done.stdout + done.stderr
    for snap_id in ("00-base", "01-shorter"):
        record = yaml.safe_load((root / "_data/records" / f"{snap_id}.yml").read_text())
        assert record["verdict"]["status"] == "ok", record["verdict"]["reasons"]
        assert record["breaches"] == [] and record["probes"]["status"] == "passed"


def test_a_snapshot_that_goes_beyond_its_baseline_breaches_by_name() -> None:
    allowed = allowances({"prog.py": WORDS.encode()})
    beyond = WORDS.replace("import json\n", "import json\nimport marshal\n").replace(
        "  COUNT = \"count\"\n", "  COUNT = \"count\"; WORDS = \"words\"\n")
    found = [(b.rule, b.line, b.what) for b in beyond_baseline(check_files({"prog.py": beyond.encode()}), allowed)]
    assert found == [("code-loader", 7, "imports marshal, which can load, decode or run code"),
                     ("joined-statements", 14, "two statements joined with ';'")]
    # The same module, allowed by the settings (`allow:` in code/diary.yml): no breach.
    assert [b.rule for b in beyond_baseline(check_files({"prog.py": beyond.encode()}), allowed, ["marshal"])] == \
        ["joined-statements"]


def test_a_snapshot_is_held_to_its_baselines_style() -> None:
    """One blank line between functions is this baseline's style; none is not."""
    allowed = allowances({"prog.py": WORDS.encode()})
    squeezed = WORDS.replace("    found.update(text.read().split())\n\n", "    found.update(text.read().split())\n")
    found = [(b.rule, b.what) for b in beyond_baseline(check_files({"prog.py": squeezed.encode()}), allowed)]
    assert found == [("blank-lines", "0 blank line(s) before a top-level definition, expected 2")]


def _main_modules() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    found = []
    for path in sorted(stdlib.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "__name__ == '__main__'" in text or '__name__ == "__main__"' in text:
            try:
                ast.parse(text)
            except SyntaxError:
                continue
            found.append(path)
    return found


def test_the_standard_librarys_main_modules_pass_the_rules_measured_against_themselves() -> None:
    modules = _main_modules()
    assert len(modules) > 40, sys.version
    for path in modules:
        files = {path.name: path.read_bytes()}
        assert beyond_baseline(check_files(files), allowances(files)) == [], path.name
