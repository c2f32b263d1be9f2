"""Issue 12's promise, end to end: anyone can keep a diary of their own program.

A new user's program (tests/fixtures/thirdparty: wordgen, no argument parser, reads input.txt,
redraws its progress with \\r, prints the time it started) becomes a diary with only the commands the
README's "Keep a diary of your own program" documents, run as a user runs them (a fresh `diary`
process in the diary's folder): `diary init`, `diary new snapshot` (two alternatives of the baseline
and a three-module split run as `python main.py run`), `diary measure`, `diary new post`, `diary
build`, `diary check`. Every command succeeds, and the pages say only true things: which checks ran
(no suite, no probes, the normalisations), what is best, what was normalised, each definition of the
split by module, no MicroGPT, no host path.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from diarykit import FIXTURES_DIR, REPO, read_records

THIRDPARTY = FIXTURES_DIR / "thirdparty"
TIMESTAMP = r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
# What the pages of this repository's own diary say, and a diary of another program must not.
MICROGPT_WORDS = ("microgpt", "MicroGPT", "gradient", "--steps", "--seed", "finite difference", "Adam",
                  "behavioural tests", "prints what the baseline prints on fresh seeds")


def diary(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`diary ARGS` typed in `cwd`: a fresh process, no DIARY_* variable of the test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}
    return subprocess.run([sys.executable, "-m", "diary", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd, env={**env, "PYTHONPATH": str(REPO / "tools")})


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, f"{done.args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout + done.stderr


def page_text(path: Path) -> str:
    """What a reader sees of a page: its text, without markup, scripts or styles."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", path.read_text(encoding="utf-8"), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text)))


@pytest.fixture(scope="module")
def wordgen_diary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("user")
    mine = home / "mine"  # the program as its author has it: a file and its data beside it
    mine.mkdir()
    (mine / "wordgen.py").write_bytes((THIRDPARTY / "program/wordgen.py").read_bytes())
    (mine / "words.txt").write_bytes((THIRDPARTY / "words.txt").read_bytes())
    ok(diary(home, "init", "diary", "--program", "mine/wordgen.py", "--data", "mine/words.txt:input.txt",
             "--normalise", "carriage-returns", "--filter", "timestamp", TIMESTAMP, "started <time>"))
    root = home / "diary"
    ok(diary(root, "new", "snapshot", "01-compact", "--from", "00-baseline", "--files",
             str(THIRDPARTY / "alt-compact"), "--title", "Compact"))
    ok(diary(root, "new", "snapshot", "02-newline", "--from", "00-baseline", "--files",
             str(THIRDPARTY / "alt-newline"), "--title", "Progress on lines of their own"))
    ok(diary(root, "new", "snapshot", "03-split", "--from", "01-compact", "--files", str(THIRDPARTY / "split"),
             "--entry", "main.py", "--args", "run", "--title", "Three modules"))
    ok(diary(root, "measure"))
    ok(diary(root, "new", "post", "Two alternatives and a split", "--snapshot", "01-compact",
             "--snapshot", "02-newline", "--snapshot", "03-split"))
    ok(diary(root, "build", "--engine", "smalldocs"))
    ok(diary(root, "check"))
    return root


def test_every_snapshot_works_as_the_author_declared_it(wordgen_diary: Path) -> None:
    measured = read_records(wordgen_diary)
    assert list(measured) == ["00-baseline", "01-compact", "02-newline", "03-split"]
    assert {snap_id: r["verdict"]["status"] for snap_id, r in measured.items()} == dict.fromkeys(measured, "ok")
    # The split runs with its own entry and arguments; the others as the baseline does.
    assert measured["03-split"]["run"]["command"] == "python main.py run"
    assert {measured[s]["run"]["command"] for s in ("00-baseline", "01-compact", "02-newline")} == {
        "python wordgen.py"}
    # The alternative that ends its progress lines with \n is identical only once a CR counts as a line end.
    newline = measured["02-newline"]["behaviour"]
    assert newline["identical"] and not newline["byte_identical"] and "carriage-returns" in newline["normalised_by"]
    # No suite and no {seed}: the records say what did not run, never that it passed.
    for record in measured.values():
        assert record["tests"]["judged"] == "none" and record["probes"]["status"] == "not run"


def test_the_best_is_the_shortest_working_snapshot_and_the_site_names_it(wordgen_diary: Path) -> None:
    measured = read_records(wordgen_diary)
    shortest = min(measured, key=lambda s: measured[s]["lines"]["total"]["code"])
    summary = yaml.safe_load((wordgen_diary / "_variables.yml").read_text(encoding="utf-8"))["diary"]
    assert summary["best"] == shortest != "03-split"  # the last snapshot is not "the result"
    assert summary["saved_code"] == (measured["00-baseline"]["lines"]["total"]["code"]
                                     - measured[shortest]["lines"]["total"]["code"])
    # No placeholder is published for a program that takes none.
    assert not {"seed", "steps", "samples"} & set(summary)
    baseline = page_text(wordgen_diary / "_site/snapshots/00-baseline.html")
    assert "alternatives: 01-compact , 02-newline" in baseline
    assert f"The shortest that works is {shortest}." in baseline


def test_about_says_exactly_which_checks_run(wordgen_diary: Path) -> None:
    about = page_text(wordgen_diary / "_site/about.html")
    assert "python wordgen.py (00-baseline, 01-compact, 02-newline)" in about
    assert "python main.py run (03-split)" in about
    assert "data/words.txt as input.txt" in about
    assert "There is no test suite ( tests: none )" in about
    assert "No probe runs" in about
    assert "carriage returns" in about and "timestamp" in about and "not byte for byte" in about


def test_a_normalised_identity_is_never_shown_as_byte_identity(wordgen_diary: Path) -> None:
    for snap_id, record in read_records(wordgen_diary).items():
        page = page_text(wordgen_diary / f"_site/snapshots/{snap_id}.html")
        normalised = record["behaviour"]["normalised_by"]
        if normalised:
            assert f"✓ after normalising {', '.join(normalised)} (not byte for byte)" in page
            assert "✓ byte for byte" not in page
        else:
            assert "✓ byte for byte" in page
    [post] = (wordgen_diary / "_site/posts").glob("*-two-alternatives-and-a-split/index.html")
    assert "(not byte for byte)" in page_text(post)


def test_the_output_is_shown_as_a_terminal_showed_it(wordgen_diary: Path) -> None:
    page = page_text(wordgen_diary / "_site/snapshots/00-baseline.html")
    # The baseline redraws one progress line 59 times: a reader saw its last state, once.
    assert "counting: 59/59 words 59 words, 16 letters seen" in page and "counting: 58/59" not in page


def test_every_definition_of_the_split_is_shown_by_module(wordgen_diary: Path) -> None:
    page = page_text(wordgen_diary / "_site/snapshots/03-split.html")
    for key in ("main.main", "pairs.count_pairs", "pairs.invent", "pairs.main", "words.read_words", "words.main"):
        assert f" {key} function " in page, key
    assert "moved from wordgen.py (was count_pairs)" in page


def test_the_pages_say_nothing_of_microgpt_and_no_host_path(wordgen_diary: Path) -> None:
    host_paths = {str(wordgen_diary.parent), sys.prefix, str(REPO), os.path.expanduser("~") + "/"}
    published = [p for folder in ("_site", "_generated", "_data") for p in (wordgen_diary / folder).rglob("*")
                 if p.is_file() and p.suffix in (".html", ".md", ".yml", ".json", ".xml", ".qmd")]
    assert published
    for path in published:
        text = path.read_text(encoding="utf-8")
        leaked = [host for host in host_paths if host in text]
        assert not leaked, f"{path.relative_to(wordgen_diary)} shows {leaked}"
        if path.suffix == ".html":
            words = [word for word in MICROGPT_WORDS if word in page_text(path)]
            assert not words, f"{path.relative_to(wordgen_diary)} says {words}"
