"""Malformed inputs: each gets one clear error (file, line, what to do), exit 2, nothing written."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from diarykit import make_diary, run_diary, tree_bytes, write


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_diary(tmp_path_factory.mktemp("tiny"))
    assert run_diary(root, "measure").returncode == 0
    return root


def edit(path: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        file = root / path
        text = file.read_text()
        assert old in text, (old, text)
        file.write_text(text.replace(old, new, 1))
    return apply


def append(path: str, extra: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        file = root / path
        file.write_text(file.read_text() + extra)
    return apply


def remove(path: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        target = root / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return apply


CONFIG = "code/diary.yml"
POST = "posts/day-one/index.qmd"
META = "code/snapshots/02-short/snapshot.yml"

# (id, change, file the message must name, line, words the message must hold)
CASES = [
    ("config-yaml-syntax", edit(CONFIG, "steps: 3", "steps: [3"), CONFIG, 4, "not valid YAML"),
    ("config-unknown-key", append(CONFIG, "stepz: 4\n"), CONFIG, 12, "unknown key 'stepz'"),
    ("config-wrong-type", edit(CONFIG, "steps: 3", "steps: three"), CONFIG, 3, "'steps': must be int"),
    ("config-out-of-range", edit(CONFIG, "timeout: 20", "timeout: -1"), CONFIG, 6, "'timeout': must be between"),
    ("config-duplicate-key", append(CONFIG, "seed: 2\n"), CONFIG, 12, "key 'seed' appears twice"),
    ("config-bad-placeholder", append(CONFIG, "args: ['--n', '{stepz}']\n"), CONFIG, 12, "unknown placeholder"),
    ("config-format-spec", append(CONFIG, "args: ['{steps:9999999999}']\n"), CONFIG, 12, "unknown placeholder"),
    ("config-missing-data-file", edit(CONFIG, "data_files: [data/names.txt]", "data_files: [data/nope.txt]"),
     CONFIG, 9, "data file 'data/nope.txt' does not exist"),
    ("config-missing-tests", edit(CONFIG, "tests: tests/program", "tests: tests/nowhere"), CONFIG, 10,
     "test directory 'tests/nowhere' does not exist"),
    ("config-bad-entry", edit(CONFIG, "entry: prog.py", "entry: prog.txt"), CONFIG, 2, "must be a .py file"),
    ("config-not-a-mapping", lambda r: write(r / CONFIG, "- a\n- b\n"), CONFIG, 1, "must be a mapping"),
    ("config-not-utf8", lambda r: (r / CONFIG).write_bytes(b"schema: 1\nentry: \xff\n"), CONFIG, 2, "not UTF-8"),
    ("config-bad-sandbox", append(CONFIG, "sandbox: docker\n"), CONFIG, 12, "must be auto or bwrap"),
    ("config-sandbox-none", append(CONFIG, "sandbox: none\n"), CONFIG, 12, "a repository cannot turn the sandbox off"),
    ("meta-yaml-syntax", edit(META, "title: Snapshot 02-short", "title: [oops"), META, 3, "not valid YAML"),
    ("meta-unknown-key", append(META, "author: me\n"), META, 7, "unknown key 'author'"),
    ("meta-missing-date", edit(META, "date: 2026-02-16\n", ""), META, 1, "missing required key 'date'"),
    ("meta-non-iso-date", edit(META, "date: 2026-02-16", "date: 16/02/2026"), META, 3, "is not an ISO date"),
    ("meta-bad-expect", edit(META, "expect: ok", "expect: maybe"), META, 6, "must be 'ok' or 'broken'"),
    ("meta-duplicate-id", edit(META, "id: 02-short", "id: 01-wrong"), META, 1, "duplicate snapshot id '01-wrong'"),
    ("meta-unknown-parent", edit(META, "parent: 00-base", "parent: 99-nope"), META, 4,
     "parent '99-nope' of snapshot '02-short' does not exist"),
    ("meta-parent-cycle", lambda r: (edit(META, "parent: 00-base", "parent: 01-wrong")(r),
                                     edit("code/snapshots/01-wrong/snapshot.yml", "parent: 00-base",
                                          "parent: 02-short")(r)),
     "code/snapshots/01-wrong/snapshot.yml", 4, "snapshot parents form a cycle"),
    ("meta-two-baselines", edit(META, "parent: 00-base\n", ""), META, None, "exactly one snapshot"),
    ("meta-missing-entry", remove("code/snapshots/02-short/prog.py"), META, 1,
     "entry file 'prog.py' is missing from snapshot '02-short'"),
    ("meta-missing-file", remove(META), META, None, "has no snapshot.yml"),
    ("unknown-only", None, "code/snapshots", None, "unknown snapshot 'nope'"),
    ("post-missing-date", edit(POST, "date: 2026-02-17\n", ""), POST, 2, "the post has no 'date'"),
    ("post-non-iso-date", edit(POST, "date: 2026-02-17", "date: 17 Feb 2026"), POST, 3, "is not an ISO date"),
    ("post-front-matter-yaml", edit(POST, "title: Day one", "title: [Day one"), POST, 3, "not valid YAML"),
    ("post-front-matter-not-mapping",
     edit(POST, "title: Day one\ndate: 2026-02-17\nsnapshots: [00-base]\n", "- a list\n"), POST, 2,
     "front matter must be a mapping"),

]


@pytest.mark.parametrize(("case", "change", "file", "line", "words"), CASES, ids=[c[0] for c in CASES])
def test_malformed_input(measured: Path, tmp_path: Path, case: str, change, file: str, line: int | None,
                         words: str) -> None:
    root = tmp_path / "diary"
    shutil.copytree(measured, root)
    write(root / POST, "---\ntitle: Day one\ndate: 2026-02-17\nsnapshots: [00-base]\n---\n\nHello.\n")
    args = ["generate"] if case.startswith("post-") else ["measure"]
    if change is None:
        args += ["--only", "nope"]
    else:
        change(root)
    before = {**tree_bytes(root, "_data"), **tree_bytes(root, "_generated")}
    proc = run_diary(root, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = proc.stderr.strip()
    assert len(message.splitlines()) == 1, message
    location = str(root / file) + (f":{line}:" if line else ":")
    assert message.startswith(location), (message, location)
    assert words in message
    assert "error:" in message
    assert {**tree_bytes(root, "_data"), **tree_bytes(root, "_generated")} == before
    assert not (root / "_variables.yml").exists()
