"""`diary new post` and `diary new snapshot`, through the CLI, in a minimal diary built in tmp_path."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from diary.author.scaffold import slugify
from diary.cli import main

PROGRAM = '"""A stand-in program."""\nprint("hello")  # one line of output\n'
HELPER = "def helper():\n    return 1\n"


def snapshot_yml(snap_id: str, parent: str | None = None, **extra: str) -> str:
    lines = [f"id: {snap_id}", f"title: Snapshot {snap_id}", "date: 2026-02-16"]
    if parent:
        lines.append(f"parent: {parent}")
    lines += [f"{key}: {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def diary_root(tmp_path: Path) -> Path:
    """code/diary.yml, code/data/names.txt, tests/program/ and one snapshot with two files."""
    root = tmp_path / "diary"
    (root / "code" / "data").mkdir(parents=True)
    (root / "code" / "data" / "names.txt").write_text("emma\nolivia\nava\n", encoding="utf-8")
    (root / "code" / "diary.yml").write_text(
        "schema: 1\nentry: microgpt.py\nseed: 42\nsteps: 2\nsamples: 2\n"
        "data_files: [data/names.txt]\ntests: tests/program\n",
        encoding="utf-8",
    )
    (root / "tests" / "program").mkdir(parents=True)
    # An empty suite folder is refused when the settings load: this one holds a test.
    (root / "tests" / "program" / "test_program.py").write_text("def test_nothing():\n    pass\n", encoding="utf-8")
    base = root / "code" / "snapshots" / "00-baseline"
    (base / "pkg").mkdir(parents=True)
    (base / "snapshot.yml").write_text(snapshot_yml("00-baseline"), encoding="utf-8")
    (base / "microgpt.py").write_text(PROGRAM, encoding="utf-8")
    (base / "pkg" / "helper.py").write_text(HELPER, encoding="utf-8")
    (base / "__pycache__").mkdir()
    (base / "__pycache__" / "microgpt.cpython-311.pyc").write_bytes(b"\0junk")
    return root


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes: to prove that a refused command wrote nothing."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run(root: Path, *args: str) -> int:
    return main(["--root", str(root), *args])


def front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


# ------------------------------------------------------------------ new snapshot


def test_new_snapshot_copies_the_parent_and_writes_its_metadata(diary_root: Path, capsys) -> None:
    code = run(diary_root, "new", "snapshot", "01-shorter", "--from", "00-baseline",
               "--title", "Short: 'Value'")
    assert code == 0
    new = diary_root / "code" / "snapshots" / "01-shorter"
    assert (new / "microgpt.py").read_text(encoding="utf-8") == PROGRAM
    assert (new / "pkg" / "helper.py").read_text(encoding="utf-8") == HELPER
    assert not (new / "__pycache__").exists()
    meta = yaml.safe_load((new / "snapshot.yml").read_text(encoding="utf-8"))
    assert meta == {
        "id": "01-shorter", "title": "Short: 'Value'", "date": dt.date.today(), "parent": "00-baseline",
        "note": "", "expect": "ok",
    }
    assert "01-shorter" in capsys.readouterr().out
    # no staging folder left behind, and discovery accepts the result as a child of the baseline
    assert sorted(p.name for p in new.parent.iterdir()) == ["00-baseline", "01-shorter"]
    from diary.project.config import load_settings
    from diary.project.discover import discover_snapshots

    snaps = discover_snapshots(load_settings(diary_root))
    assert [(s.id, s.parent) for s in snaps] == [("00-baseline", None), ("01-shorter", "00-baseline")]


def test_new_snapshot_title_defaults_to_the_words_of_the_id_and_a_child_of_a_child_works(diary_root: Path) -> None:
    assert run(diary_root, "new", "snapshot", "01-a", "--from", "00-baseline") == 0
    assert run(diary_root, "new", "snapshot", "02-other-sampler", "--from", "01-a") == 0
    meta = yaml.safe_load((diary_root / "code" / "snapshots" / "02-other-sampler" / "snapshot.yml").read_bytes())
    # Not the id again (a page would read "02-other-sampler: 02-other-sampler").
    assert meta["title"] == "Other sampler" and meta["parent"] == "01-a" and meta["note"] == ""


def test_new_snapshot_files_give_their_title_and_whole_note_from_the_docstring(
        diary_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "golfed"
    folder.mkdir()
    said = "The same program, golfed.\n\n" + "Every step is kept; the samples are the same. " * 12
    (folder / "microgpt.py").write_text(f'"""{said}"""\nprint("hello")  # one line of output\n', encoding="utf-8")
    assert run(diary_root, "new", "snapshot", "01-golf", "--from", "00-baseline", "--files", str(folder)) == 0
    meta = yaml.safe_load((diary_root / "code/snapshots/01-golf/snapshot.yml").read_bytes())
    assert meta["title"] == "The same program, golfed."
    assert meta["note"] == ("Every step is kept; the samples are the same. " * 12).strip()  # whole, not cut


def test_new_snapshot_keeps_a_custom_entry(diary_root: Path) -> None:
    base = diary_root / "code" / "snapshots" / "00-baseline"
    (base / "main.py").write_text(PROGRAM, encoding="utf-8")
    (base / "snapshot.yml").write_text(snapshot_yml("00-baseline", entry="main.py"), encoding="utf-8")
    assert run(diary_root, "new", "snapshot", "01-x", "--from", "00-baseline") == 0
    meta = yaml.safe_load((diary_root / "code" / "snapshots" / "01-x" / "snapshot.yml").read_bytes())
    assert meta["entry"] == "main.py"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["01-x", "--from", "99-nope"], "parent snapshot '99-nope' does not exist"),
        (["00-baseline", "--from", "00-baseline"], "already exists"),
        (["01.dotted", "--from", "00-baseline"], "is not a usable snapshot id"),
        (["has space", "--from", "00-baseline"], "is not a usable snapshot id"),
        (["_hidden", "--from", "00-baseline"], "is not a usable snapshot id"),
        (["../escape", "--from", "00-baseline"], "is not a usable snapshot id"),
        # snapshots/index.qmd and snapshots/raw/ are the site's: refused up front, not by generate later
        (["index", "--from", "00-baseline"], "the snapshot id 'index' is reserved"),
        (["raw", "--from", "00-baseline"], "the snapshot id 'raw' is reserved"),
        (["v1.2", "--from", "00-baseline"], "is not a usable snapshot id"),
        (["01-x", "--from", "00-baseline", "--title", "  "], "needs a title"),
    ],
)
def test_new_snapshot_refuses_bad_input_and_writes_nothing(diary_root: Path, capsys, args, message) -> None:
    before = tree(diary_root)
    assert run(diary_root, "new", "snapshot", *args) == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err
    assert tree(diary_root) == before


def test_new_snapshot_refuses_an_existing_folder(diary_root: Path, capsys) -> None:
    # a folder without snapshot.yml makes discovery fail, so use a hidden name discovery skips... and a
    # real one: a stray folder holding the id is reported, not merged into
    (diary_root / "code" / "snapshots" / "01-x").mkdir()
    (diary_root / "code" / "snapshots" / "01-x" / "snapshot.yml").write_text(
        snapshot_yml("01-x", parent="00-baseline"), encoding="utf-8")
    (diary_root / "code" / "snapshots" / "01-x" / "microgpt.py").write_text("print(1)\n", encoding="utf-8")
    before = tree(diary_root)
    assert run(diary_root, "new", "snapshot", "01-x", "--from", "00-baseline") == 2
    assert "already exists" in capsys.readouterr().err
    assert tree(diary_root) == before


def test_new_snapshot_reports_a_broken_diary(diary_root: Path, capsys) -> None:
    (diary_root / "code" / "diary.yml").write_text("seed: [not a number\n", encoding="utf-8")
    before = tree(diary_root)
    assert run(diary_root, "new", "snapshot", "01-x", "--from", "00-baseline") == 2
    assert "diary.yml" in capsys.readouterr().err
    assert tree(diary_root) == before


# ------------------------------------------------------------------ new post


def test_new_post_writes_front_matter_and_includes(diary_root: Path, capsys) -> None:
    assert run(diary_root, "new", "snapshot", "01-value", "--from", "00-baseline", "--title", "Value op") == 0
    code = run(diary_root, "new", "post", "Day 1: the Value class!", "--snapshot", "00-baseline",
               "--snapshot", "01-value", "--date", "2026-02-17")
    assert code == 0
    path = diary_root / "posts" / "2026-02-17-day-1-the-value-class" / "index.qmd"
    assert str(path) in capsys.readouterr().out
    meta = front_matter(path)
    assert meta == {
        "title": "Day 1: the Value class!", "date": dt.date(2026, 2, 17),
        "description": "What this step changed in the program, and whether the measurements say it still "
                       "behaves the same.",
        "categories": [], "snapshots": ["00-baseline", "01-value"], "definitions": [],
    }
    text = path.read_text(encoding="utf-8")
    assert "{{< include /_generated/tables/_2026-02-17-day-1-the-value-class.md >}}" in text
    assert "{{< include /_generated/code/00-baseline/_microgpt.py.md >}}" in text
    assert "{{< include /_generated/diff/_00-baseline__01-value.md >}}" in text
    assert "{{< var snap.01-value.code_vs_parent >}}" in text
    # includes stand at the top level, never inside a fenced code block
    assert "```" not in text
    # no figure typed by hand: outside shortcodes, no number is followed by "lines" or "%"
    body = re.sub(r"\{\{<.*?>\}\}", "VAR", text.split("---\n", 2)[2])
    assert not re.search(r"\d\s*(lines?\b|%)", body)
    assert body.count("VAR") >= 8


def test_new_post_writes_the_description_it_is_given_and_refuses_one_that_is_not_plain(
    diary_root: Path, capsys
) -> None:
    assert run(diary_root, "new", "post", "Day 1", "--date", "2026-02-17",
               "--description", "Why the sampler  got shorter.") == 0
    [path] = (diary_root / "posts").glob("*/index.qmd")
    assert front_matter(path)["description"] == "Why the sampler got shorter."
    before = tree(diary_root)
    assert run(diary_root, "new", "post", "Day 2", "--description", "{{< env HOME >}}") == 2
    assert "error: the description" in capsys.readouterr().err and tree(diary_root) == before


def test_every_post_new_post_writes_has_a_description_check_accepts(diary_root: Path) -> None:
    """An empty description makes the listing show the first text of the page (the table's toggle)."""
    assert run(diary_root, "new", "post", "Notes", "--date", "2026-02-17") == 0
    assert run(diary_root, "new", "post", "The start", "--date", "2026-02-18", "--snapshot", "00-baseline") == 0
    descriptions = {front_matter(path)["description"] for path in (diary_root / "posts").glob("*/index.qmd")}
    assert len(descriptions) == 2 and all(text and "Show all" not in text for text in descriptions)


def test_new_post_defaults_to_today_and_no_snapshots(diary_root: Path) -> None:
    assert run(diary_root, "new", "post", "Ünïcode — notes") == 0
    folder = f"{dt.date.today().isoformat()}-unicode-notes"
    meta = front_matter(diary_root / "posts" / folder / "index.qmd")
    assert meta["date"] == dt.date.today() and meta["snapshots"] == [] and meta["title"] == "Ünïcode — notes"


def test_new_post_quotes_awkward_titles(diary_root: Path) -> None:
    title = 'A "quoted" title: with # and \'single\' quotes'
    assert run(diary_root, "new", "post", title, "--date", "2026-02-18") == 0
    [path] = (diary_root / "posts").glob("*/index.qmd")
    assert front_matter(path)["title"] == title


def test_new_post_writes_a_shortcode_in_its_title_as_text(diary_root: Path) -> None:
    assert run(diary_root, "new", "post", "Day 3: {{< env GITHUB_TOKEN >}}", "--date", "2026-02-18") == 0
    [path] = (diary_root / "posts").glob("*/index.qmd")
    # Quarto's own escape: shown as written, never expanded; and the gate accepts the post.
    assert front_matter(path)["title"] == "Day 3: {{{< env GITHUB_TOKEN >}}}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["<img src=x onerror=alert(1)> Day 1"], "markup in the front matter"),
        (["Day 1 &#123;&#123;< env X >&#125;&#125;"], "a shortcode in the front matter"),
        (["Day 1", "--snapshot", "99-missing"], "unknown snapshot '99-missing'"),
        (["Day 1", "--date", "17/02/2026"], "is not an ISO date"),
        (["Day 1", "--date", "2026-02-30"], "is not an ISO date"),
        (["Day 1", "--date", "20260217"], "is not an ISO date"),
        (["   "], "needs a title"),
        (["!!!"], "cannot make a folder name"),
    ],
)
def test_new_post_refuses_bad_input_and_writes_nothing(diary_root: Path, capsys, args, message) -> None:
    before = tree(diary_root)
    assert run(diary_root, "new", "post", *args) == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err
    assert tree(diary_root) == before
    assert not (diary_root / "posts").exists()


def test_new_post_never_overwrites(diary_root: Path, capsys) -> None:
    assert run(diary_root, "new", "post", "Day 1", "--date", "2026-02-17") == 0
    path = diary_root / "posts" / "2026-02-17-day-1" / "index.qmd"
    path.write_text("my words\n", encoding="utf-8")
    capsys.readouterr()
    before = tree(diary_root)
    assert run(diary_root, "new", "post", "Day 1", "--date", "2026-02-17") == 2
    err = capsys.readouterr().err
    assert "already exists" in err and str(path) in err and "--date" in err
    assert tree(diary_root) == before


def test_new_post_refuses_a_same_named_single_file_post(diary_root: Path, capsys) -> None:
    (diary_root / "posts").mkdir()
    (diary_root / "posts" / "2026-02-17-day-1.qmd").write_text("---\ntitle: Day 1\n---\n", encoding="utf-8")
    before = tree(diary_root)
    assert run(diary_root, "new", "post", "Day 1", "--date", "2026-02-17") == 2
    assert "already exists" in capsys.readouterr().err
    assert tree(diary_root) == before


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Day 1: the Value class", "day-1-the-value-class"),
        ("  Spaces   and --- dashes  ", "spaces-and-dashes"),
        ("Café, naïve & résumé", "cafe-naive-resume"),
        ("x" * 100, "x" * 60),
        ("word " * 30, ("word-" * 12).rstrip("-")),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


@pytest.mark.parametrize("snap_id", ["v1.2", "index", "raw", "a b"])
def test_a_snapshot_id_scaffold_refuses_is_refused_by_every_command(diary_root: Path, capsys, snap_id) -> None:
    # One id rule (contract.py): a hand-made snapshot.yml with an id `diary new snapshot` refuses is
    # refused by measure, generate and check alike, at its `id:` line, with nothing written.
    folder = diary_root / "code" / "snapshots" / "01-odd"
    folder.mkdir()
    (folder / "snapshot.yml").write_text(snapshot_yml("01-odd", parent="00-baseline").replace(
        "id: 01-odd", f"id: '{snap_id}'"), encoding="utf-8")
    (folder / "microgpt.py").write_text("print(1)\n", encoding="utf-8")
    before = tree(diary_root)
    before.pop(".diary.lock", None)
    for command in ("measure", "generate"):
        assert run(diary_root, command) == 2, command
        err = capsys.readouterr().err
        assert f"{folder / 'snapshot.yml'}:1:" in err and "error:" in err and repr(snap_id)[1:-1] in err, err
    assert run(diary_root, "check") == 1
    err = capsys.readouterr().err
    assert "snapshot.yml:1: " in err and ("reserved" in err or "not a usable snapshot id" in err), err
    after = tree(diary_root)
    after.pop(".diary.lock", None)  # the commands' lock file, which holds no data
    assert after == before


# ------------------------------------------------------------------ one entry rule, --replace

DISPATCHER = ('import sys\nimport train\n\nif __name__ == "__main__":\n'
              '    sys.exit(train.main(sys.argv[1:]) if sys.argv[1:] else 2)\n')
TRAIN = 'def main(argv):\n    print("trained")\n    return 0\n\n\nif __name__ == "__main__":\n    main([])\n'


def a_split(tmp_path: Path, name: str = "split") -> Path:
    """A module split whose dispatcher keeps the parent's entry name (microgpt.py) beside another
    module that runs as a script: two candidates, neither to be chosen silently."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "microgpt.py").write_text(DISPATCHER, encoding="utf-8")
    (folder / "train.py").write_text(TRAIN, encoding="utf-8")
    return folder


def test_new_snapshot_files_never_keep_the_parents_entry_among_several_candidates(
        diary_root: Path, tmp_path: Path, capsys) -> None:
    split = a_split(tmp_path)
    before = tree(diary_root)
    assert run(diary_root, "new", "snapshot", "01-split", "--from", "00-baseline", "--files", str(split)) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "several modules could be the entry: microgpt.py, train.py" in line and "--entry" in line, line
    assert tree(diary_root) == before
    assert run(diary_root, "new", "snapshot", "01-split", "--from", "00-baseline", "--files", str(split),
               "--entry", "train.py") == 0
    meta = yaml.safe_load((diary_root / "code/snapshots/01-split/snapshot.yml").read_text(encoding="utf-8"))
    assert meta["entry"] == "train.py"


def test_new_snapshot_files_keep_the_parents_entry_when_it_is_the_one_candidate(
        diary_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "variant"
    folder.mkdir()
    (folder / "microgpt.py").write_text(PROGRAM, encoding="utf-8")  # runs at top level, no main guard
    (folder / "helper.py").write_text(HELPER, encoding="utf-8")
    assert run(diary_root, "new", "snapshot", "01-v", "--from", "00-baseline", "--files", str(folder)) == 0
    meta = yaml.safe_load((diary_root / "code/snapshots/01-v/snapshot.yml").read_text(encoding="utf-8"))
    assert "entry" not in meta  # the diary's own, microgpt.py


def test_new_snapshot_replace_swaps_an_existing_ids_files(diary_root: Path, tmp_path: Path, capsys) -> None:
    split = a_split(tmp_path)
    assert run(diary_root, "new", "snapshot", "01-v", "--from", "00-baseline") == 0
    before = tree(diary_root)
    assert run(diary_root, "new", "snapshot", "01-v", "--from", "00-baseline", "--files", str(split),
               "--entry", "train.py") == 2
    assert "--replace" in capsys.readouterr().err
    assert tree(diary_root) == before
    assert run(diary_root, "new", "snapshot", "01-v", "--from", "00-baseline", "--files", str(split),
               "--entry", "train.py", "--replace", "--title", "The split") == 0
    folder = diary_root / "code/snapshots/01-v"
    assert sorted(p.name for p in folder.iterdir()) == ["microgpt.py", "snapshot.yml", "train.py"]
    assert (folder / "microgpt.py").read_text(encoding="utf-8") == DISPATCHER
    assert yaml.safe_load((folder / "snapshot.yml").read_text(encoding="utf-8"))["title"] == "The split"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["00-baseline", "01-v"]  # nothing left aside


def test_new_snapshot_files_count_the_parents_entry_as_a_candidate(diary_root: Path, tmp_path: Path, capsys) -> None:
    """microgpt.py runs at top level (the parent's entry); a helper with a main guard of its own
    is a second candidate: asked, not chosen by the guard alone."""
    folder = tmp_path / "variant"
    folder.mkdir()
    (folder / "microgpt.py").write_text(PROGRAM, encoding="utf-8")
    (folder / "check.py").write_text('if __name__ == "__main__":\n    print("self-test")\n', encoding="utf-8")
    assert run(diary_root, "new", "snapshot", "01-v", "--from", "00-baseline", "--files", str(folder)) == 2
    assert "several modules could be the entry: check.py, microgpt.py" in capsys.readouterr().err
