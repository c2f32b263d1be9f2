"""`diary check`, the freshness gate: exit 1 with every problem (file, line, how to fix it), changing nothing.

Each case breaks one thing in its own copy of the tiny diary (tests/fixtures/tinydiary, built once
per session by conftest.py) and runs the CLI like a user, so the suite stays green whatever this
repository's diary holds. Cases that change the tool itself (a template, the measuring version) run
it from a copy of tools/. One test's subject is this repository's own diary (named as such).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from diary.check import hand_typed_claims
from diarykit import REPO, copy_repo_diary

BROKEN = "01-broken"  # the tiny diary's snapshot that fails (Day 1)
LATEST = "02-fixed"  # its last snapshot
LAST_POST = "posts/day-2/index.qmd"  # the post about it
MEASURE_FIX = "run 'diary measure'"


# ---------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture(scope="module")
def tiny_copy(tiny_site_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny diary as its author would commit it after a build: site sources, snapshots, records,
    generated files (not the rendered site or the build's cache)."""
    root = tmp_path_factory.mktemp("tiny-diary") / "diary"
    shutil.copytree(tiny_site_root, root, symlinks=True,
                    ignore=shutil.ignore_patterns("_site", ".diary-cache", ".quarto", ".diary.lock"))
    return root


@pytest.fixture
def diary(tiny_copy: Path, tmp_path: Path) -> Path:
    """A fresh copy for one test to break."""
    return Path(shutil.copytree(tiny_copy, tmp_path / "diary", symlinks=True))


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """A copy of tools/ (the `diary` package with its templates) that a test may edit."""
    return Path(shutil.copytree(REPO / "tools", tmp_path / "tools",
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc")))


def run_check(root: Path, tools: Path = REPO / "tools") -> subprocess.CompletedProcess:
    """`diary check` in a fresh interpreter, importing the `diary` package from `tools`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}
    return subprocess.run([sys.executable, "-m", "diary", "--root", str(root), "check"], capture_output=True,
                          text=True, timeout=300, env={**env, "PYTHONPATH": str(tools)})


def tree_state(root: Path) -> dict[str, str]:
    """Every file and folder under `root` with a hash of its content: what 'changed nothing' compares."""
    state = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            state[rel] = "link:" + os.readlink(path)
        elif path.is_dir():
            state[rel] = "dir"
        else:
            state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def check_fails(root: Path, tools: Path = REPO / "tools") -> list[str]:
    """Run the check, expect exit 1 and an untouched tree; return the problem lines."""
    before = tree_state(root)
    result = run_check(root, tools)
    assert result.returncode == 1, f"expected exit 1, got {result.returncode}\n{result.stdout}{result.stderr}"
    assert tree_state(root) == before, "diary check changed files"
    lines = [line for line in result.stderr.strip().splitlines() if ": warning: " not in line]
    problems = [line for line in lines if not line.startswith("diary check:")]
    assert lines[-1] == f"diary check: {len(problems)} problem(s)", result.stderr
    assert problems, result.stderr
    return problems


def problems_at(problems: list[str], where: str) -> list[str]:
    """The problems reported at `where` ('file' or 'file:line')."""
    return [problem for problem in problems if problem.startswith(f"{where}: ")]


def line_of(path: Path, needle: str) -> int:
    """The 1-based number of the first line of `path` that contains `needle`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def append_line(path: Path, line: str) -> int:
    """Add a paragraph at the end of `path`; return its line number."""
    text = path.read_text(encoding="utf-8")
    text = (text if text.endswith("\n") else text + "\n") + "\n" + line + "\n"
    path.write_text(text, encoding="utf-8")
    return line_of(path, line)


def a_post(root: Path) -> Path:
    return sorted(root.glob("posts/*/index.qmd"))[-1]


def rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def record_ids(root: Path) -> list[str]:
    return sorted(path.stem for path in (root / "_data/records").glob("*.yml"))


# ---------------------------------------------------------------------------------------------
# The committed state


def test_the_tiny_diary_as_built_is_fresh(tiny_copy: Path) -> None:
    before = tree_state(tiny_copy)
    result = run_check(tiny_copy)
    assert result.returncode == 0, f"the tiny diary is not fresh after its build:\n{result.stderr}"
    assert "everything is fresh" in result.stdout and result.stderr == ""
    assert tree_state(tiny_copy) == before


def test_this_repositorys_committed_diary_is_fresh(tmp_path: Path) -> None:
    """This repository's own diary (its subject is the committed content, not the tool)."""
    repo_copy = copy_repo_diary(tmp_path)
    before = tree_state(repo_copy)
    result = run_check(repo_copy)
    assert result.returncode == 0, f"the committed diary is not fresh:\n{result.stderr}"
    assert "everything is fresh" in result.stdout
    # Nothing but the warning that the site's address is still the placeholder (a fresh fork's state).
    said = [line for line in result.stderr.splitlines() if line]
    assert all(line.startswith("_quarto.yml:") and ": warning: site-url" in line for line in said), said
    assert tree_state(repo_copy) == before


def test_check_warns_while_site_url_is_the_placeholder(diary: Path) -> None:
    quarto = diary / "_quarto.yml"
    quarto.write_text(re.sub(r"site-url: \S+", "site-url: https://YOUR-USER.github.io/YOUR-REPO/", quarto.read_text()))
    result = run_check(diary)
    assert result.returncode == 0  # a warning, not a problem: the feed is wrong, nothing is false
    [warning] = result.stderr.strip().splitlines()
    line = next(n for n, text in enumerate((diary / "_quarto.yml").read_text().splitlines(), 1) if "site-url:" in text)
    assert warning.startswith(f"_quarto.yml:{line}: warning: site-url is still the placeholder")
    quarto = diary / "_quarto.yml"
    quarto.write_text(re.sub(r"site-url: \S+", "site-url: https://example.org/diary/", quarto.read_text()))
    assert run_check(diary).stderr == ""


# ---------------------------------------------------------------------------------------------
# Stale records


def test_a_snapshot_edited_without_measuring(diary: Path) -> None:
    snapshot = sorted((diary / "code/snapshots").iterdir())[-1]  # not the baseline: only its record goes stale
    source = snapshot / "prog.py"
    source.write_text(source.read_text(encoding="utf-8") + "# edited after it was measured\n", encoding="utf-8")
    problems = check_fails(diary)
    record = diary / "_data/records" / f"{snapshot.name}.yml"
    where = f"{rel(record, diary)}:{line_of(record, 'key:')}"
    # One problem, not one from the record check and another from the generator stopping on it.
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{where}: record of '{snapshot.name}' is stale (content changed)")
    assert MEASURE_FIX in problems[0]


def run_diary_command(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}
    return subprocess.run([sys.executable, "-m", "diary", "--root", str(root), *args], capture_output=True,
                          text=True, timeout=300, env={**env, "PYTHONPATH": str(REPO / "tools")})


def test_metadata_edits_cost_no_run_and_measure_and_check_agree(diary: Path) -> None:
    """Title, note, parent and expect are what the author says, not what a run measured: measure
    rewrites them without running anything, check asks for exactly that, and neither calls it stale."""
    latest = diary / "code/snapshots" / LATEST / "snapshot.yml"
    broken = diary / "code/snapshots" / BROKEN / "snapshot.yml"
    text = latest.read_text(encoding="utf-8")
    latest.write_text(text.replace("title: Shorter and right", "title: Right again")
                      .replace("parent: 01-broken", "parent: 00-base")
                      .replace("The sum starts at 0 again.", "A longer note, " * 40), encoding="utf-8")
    broken.write_text(broken.read_text(encoding="utf-8").replace("expect: broken", "expect: ok"), encoding="utf-8")
    problems = check_fails(diary)
    for snap_id in (LATEST, BROKEN):
        found = [p for p in problems if p.startswith(f"_data/records/{snap_id}.yml:")]
        assert found and all("runs nothing" in p and "stale" not in p for p in found), problems
    # Following the hint: no program runs, and the record says the surprise snapshot.yml now asks for.
    measured = run_diary_command(diary, "measure")
    assert measured.returncode == 1, measured.stderr  # 01-broken is broken, not ok as now expected
    assert "0 measured" in measured.stdout and "metadata updated" in measured.stdout, measured.stdout
    record = yaml.safe_load((diary / f"_data/records/{LATEST}.yml").read_text(encoding="utf-8"))
    assert (record["snapshot"]["title"], record["snapshot"]["parent"]) == ("Right again", "00-base")
    assert record["snapshot"]["note"] == ("A longer note, " * 40).strip()
    # check's own hint for the surprise ('set expect: to what it is') costs no run either.
    broken.write_text(broken.read_text(encoding="utf-8").replace("expect: ok", "expect: broken"), encoding="utf-8")
    again = run_diary_command(diary, "measure")
    assert again.returncode == 0 and "0 measured" in again.stdout, again.stdout + again.stderr
    assert run_diary_command(diary, "generate", "--quiet").returncode == 0
    result = run_check(diary)
    assert result.returncode == 0, result.stderr


def test_changed_settings_make_every_record_stale(diary: Path) -> None:
    config = diary / "code/diary.yml"
    text = config.read_text(encoding="utf-8")
    steps = int(re.search(r"^steps:\s*(\d+)", text, re.M).group(1))
    config.write_text(re.sub(r"^steps:\s*\d+", f"steps: {steps + 1}", text, flags=re.M), encoding="utf-8")
    problems = check_fails(diary)
    for snap_id in record_ids(diary):
        record = diary / "_data/records" / f"{snap_id}.yml"
        found = problems_at(problems, f"{rel(record, diary)}:{line_of(record, 'key:')}")
        assert len(found) == 1, (snap_id, problems)
        assert "(settings changed)" in found[0] and MEASURE_FIX in found[0]


@pytest.mark.parametrize(("name", "changed"), [("MEASURE_VERSION", "measure"), ("__version__", "tool")])
def test_a_new_tool_version_makes_every_record_stale(diary: Path, tools: Path, name: str, changed: str) -> None:
    init = tools / "diary/__init__.py"
    text, count = re.subn(rf'^{name} = "([^"]*)"', rf'{name} = "\1.next"', init.read_text(encoding="utf-8"),
                          flags=re.M)
    assert count == 1, f"no {name} in {init}"
    init.write_text(text, encoding="utf-8")
    problems = check_fails(diary, tools)
    assert len(problems) == len(record_ids(diary)), problems
    for snap_id in record_ids(diary):
        record = diary / "_data/records" / f"{snap_id}.yml"
        found = problems_at(problems, f"{rel(record, diary)}:{line_of(record, 'key:')}")
        assert len(found) == 1 and f"({changed} changed)" in found[0] and MEASURE_FIX in found[0], problems


# ---------------------------------------------------------------------------------------------
# Stale generated files


def test_a_changed_template_makes_its_outputs_stale(diary: Path, tools: Path) -> None:
    template = tools / "diary/templates/table.md.j2"
    template.write_text(template.read_text(encoding="utf-8") + "<!-- a new line under every table -->\n",
                        encoding="utf-8")
    problems = check_fails(diary, tools)
    tables = ["_generated/_progress-table.md", *(rel(p, diary) for p in (diary / "_generated/tables").glob("*.md"))]
    for table in tables:
        found = problems_at(problems, table)
        assert len(found) == 1 and "generated file is stale" in found[0] and "diary generate" in found[0], table
    assert all("generated file is stale" in problem for problem in problems), problems
    assert not any(problem.startswith("_data/") for problem in problems), problems


def test_a_template_change_that_changes_no_output_is_fresh(diary: Path, tools: Path) -> None:
    """Like `cog --check`: the gate compares what would be written, not the inputs' timestamps."""
    template = tools / "diary/templates/table.md.j2"
    template.write_text(template.read_text(encoding="utf-8") + "{# a template comment renders as nothing #}",
                        encoding="utf-8")
    result = run_check(diary, tools)
    assert result.returncode == 0, result.stderr


def test_a_hand_edited_table_partial_is_stale(diary: Path) -> None:
    partial = diary / "_generated/_progress-table.md"
    partial.write_text(partial.read_text(encoding="utf-8").replace("|", "| ", 1), encoding="utf-8")
    problems = check_fails(diary)
    assert problems == [f"{rel(partial, diary)}: generated file is stale "
                        "(fix: run 'diary generate' (or 'diary build') and commit the result)"]


def test_a_hand_edited_code_excerpt_is_stale(diary: Path) -> None:
    """An excerpt keeps its data-input hash when edited by hand; generate would reuse it as it is."""
    partial = sorted((diary / "_generated/code").glob("*/_def-*.md"))[0]
    text = partial.read_text(encoding="utf-8")
    assert 'data-input="' in text
    partial.write_text(text.replace("</p>", " (tidied by hand)</p>", 1), encoding="utf-8")
    problems = check_fails(diary)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{rel(partial, diary)}: generated file is stale")
    assert "delete it, run 'diary generate'" in problems[0]


# ---------------------------------------------------------------------------------------------
# Posts


def test_a_hand_typed_figure(diary: Path) -> None:
    post = a_post(diary)
    line = append_line(post, "The class went from 60 to 25 lines, and the whole file saved 14.3%.")
    problems = check_fails(diary)
    found = problems_at(problems, f"{rel(post, diary)}:{line}")
    assert [problem.split(" (fix: ")[0] for problem in found] == [
        f"{rel(post, diary)}:{line}: hand-typed figure '25 lines'",
        f"{rel(post, diary)}:{line}: hand-typed figure '14.3%'",
    ]
    assert all("{{< var" in problem for problem in found)
    assert len(problems) == 2, problems


def test_a_post_without_a_description(diary: Path) -> None:
    """Quarto's listing would show the page's first text instead: in a new post, the table's toggle."""
    post = a_post(diary)
    post.write_text(re.sub(r"^description:.*$", 'description: ""', post.read_text(encoding="utf-8"), count=1,
                           flags=re.M), encoding="utf-8")
    problems = check_fails(diary)
    found = problems_at(problems, f"{rel(post, diary)}:{line_of(post, 'description:')}")
    assert len(found) == 1 and "the post has no description" in found[0] and "'description:'" in found[0]
    assert len(problems) == 1, problems


def test_a_quoted_figure_is_refused_typed_and_accepted_as_a_citation(diary: Path) -> None:
    post = a_post(diary)
    line = append_line(post, "The program we started from has 154 code lines.")
    assert problems_at(check_fails(diary), f"{rel(post, diary)}:{line}")[0].startswith(
        f"{rel(post, diary)}:{line}: hand-typed figure '154 code lines'")
    (diary / "_data/cited.yml").write_text(
        "original-size:\n  value: 154\n  unit: code lines\n  what: the original as published\n"
        "  source: Ann Author, the original (2026)\n  url: https://example.org/original\n", encoding="utf-8")
    text = post.read_text(encoding="utf-8").replace("has 154 code lines.", "has {{< var cited.original-size >}}.")
    post.write_text(text, encoding="utf-8")
    assert run_check(diary).returncode == 1  # _variables.yml is stale until generate adds the citation
    generated = subprocess.run([sys.executable, "-m", "diary", "--root", str(diary), "generate"],
                               capture_output=True, text=True, timeout=300,
                               env={**os.environ, "PYTHONPATH": str(REPO / "tools")})
    assert generated.returncode == 0, generated.stderr
    variables = yaml.safe_load((diary / "_variables.yml").read_text(encoding="utf-8"))
    assert variables["cited"]["original-size"] == (
        "154 code lines (cited from [Ann Author, the original (2026)](https://example.org/original))")
    result = run_check(diary)
    assert result.returncode == 0, result.stderr


def test_an_unknown_definition_in_front_matter(diary: Path) -> None:
    post = a_post(diary)
    text = post.read_text(encoding="utf-8")
    if re.search(r"^definitions:", text, re.M):
        text = re.sub(r"^definitions:.*$", "definitions: [NoSuchThing]", text, count=1, flags=re.M)
    else:
        text = text.replace("---\n", "---\ndefinitions: [NoSuchThing]\n", 1)
    post.write_text(text, encoding="utf-8")
    problems = check_fails(diary)
    found = problems_at(problems, f"{rel(post, diary)}:{line_of(post, 'definitions: [NoSuchThing]')}")
    assert len(found) == 1 and "unknown definition 'NoSuchThing'" in found[0], problems
    assert "known definitions:" in found[0]


def test_an_include_of_a_partial_that_does_not_exist(diary: Path) -> None:
    post = a_post(diary)
    include = "{{< include /_generated/code/00-base/_def-NoSuchThing.md >}}"
    line = append_line(post, include)
    problems = check_fails(diary)
    found = problems_at(problems, f"{rel(post, diary)}:{line}")
    assert len(found) == 1, problems
    assert "the include /_generated/code/00-base/_def-NoSuchThing.md is not generated" in found[0]
    assert "docs/generated.md" in found[0]


def test_an_unknown_variable(diary: Path) -> None:
    post = a_post(diary)
    line = append_line(post, "It printed {{< var snap.00-base.no_such_key >}}.")
    problems = check_fails(diary)
    found = problems_at(problems, f"{rel(post, diary)}:{line}")
    assert len(found) == 1 and "unknown variable 'snap.00-base.no_such_key'" in found[0], problems
    assert "_variables.yml" in found[0]


def test_a_broken_snapshot_presented_as_progress(diary: Path) -> None:
    record = yaml.safe_load((diary / "_data/records" / f"{BROKEN}.yml").read_text(encoding="utf-8"))
    assert record["verdict"]["status"] == "broken"
    post = a_post(diary)
    line = append_line(post, f"Generating the operators changed the code by "
                             f"{{{{< var snap.{BROKEN}.code_vs_baseline >}}}}.")
    problems = check_fails(diary)
    found = problems_at(problems, f"{rel(post, diary)}:{line}")
    assert len(found) == 1, problems
    assert f"presents the change of broken snapshot '{BROKEN}' as progress (code_vs_baseline)" in found[0]
    assert f"snap.{BROKEN}.status" in found[0]


def test_a_broken_snapshot_named_as_broken_is_fine(diary: Path) -> None:
    post = a_post(diary)
    append_line(post, f"That snapshot is {{{{< var snap.{BROKEN}.status >}}}}: "
                      f"`{{{{{{< var snap.{BROKEN}.code_vs_baseline >}}}}}}` would be wrong here.")
    result = run_check(diary)
    assert result.returncode == 0, result.stderr


def test_following_checks_hint_clears_the_problem(diary: Path) -> None:
    """`diary new post` writes 'Status: ... Code lines against its parent: ...' for a snapshot that
    worked; once it breaks, the status in the same paragraph says so, as check's own fix asks."""
    post = a_post(diary)
    append_line(post, f"Status: **{{{{< var snap.{BROKEN}.status >}}}}**. Code lines against its parent:")
    with post.open("a", encoding="utf-8") as text:  # the next line of the same paragraph
        text.write(f"{{{{< var snap.{BROKEN}.code_vs_parent >}}}}.\n")
    result = run_check(diary)
    assert result.returncode == 0, result.stderr
    # In another paragraph the change stands alone: refused.
    line = append_line(post, f"Then it changed by {{{{< var snap.{BROKEN}.code_vs_parent >}}}}.")
    assert problems_at(check_fails(diary), f"{rel(post, diary)}:{line}")


def test_every_problem_is_listed_at_once(diary: Path) -> None:
    post = a_post(diary)
    figure = append_line(post, "It took 12 tests to be sure.")
    progress = append_line(post, f"It went {{{{< var snap.{BROKEN}.percent_vs_baseline >}}}} per cent down.")
    partial = diary / "_generated/_progress-table.md"
    partial.write_text(partial.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    problems = check_fails(diary)
    assert len(problems_at(problems, rel(partial, diary))) == 1, problems
    assert "hand-typed figure '12 tests'" in " ".join(problems_at(problems, f"{rel(post, diary)}:{figure}"))
    assert "broken snapshot" in " ".join(problems_at(problems, f"{rel(post, diary)}:{progress}"))
    assert len(problems) == 3, problems


def test_bad_settings_and_an_unreadable_post_are_both_listed(diary: Path) -> None:
    config = diary / "code/diary.yml"
    config.write_text(re.sub(r"^steps:.*$", "steps: many", config.read_text(encoding="utf-8"), count=1,
                             flags=re.M), encoding="utf-8")
    post = diary / "posts/zz-draft.qmd"
    post.write_bytes(b"---\ntitle: Draft\n---\n\ncaf\xe9\n")
    problems = check_fails(diary)
    assert len(problems_at(problems, f"code/diary.yml:{line_of(config, 'steps: many')}")) == 1, problems
    assert [p for p in problems_at(problems, "posts/zz-draft.qmd:5") if "not UTF-8" in p], problems
    assert len(problems) == 2, problems


# ---------------------------------------------------------------------------------------------
# The claims lint on tricky lines


def claims(tmp_path: Path, text: str) -> list[tuple[int, str]]:
    """(line, figure) of every hand-typed figure in a post holding `text`."""
    post = tmp_path / "post.qmd"
    post.write_text(text, encoding="utf-8")
    found = hand_typed_claims(post, tmp_path)
    assert all(problem.file == "post.qmd" for problem in found)
    return [(problem.line, re.search(r"'(.*)'", problem.message).group(1)) for problem in found]


@pytest.mark.parametrize("line", [
    "The baseline has {{< var snap.00-baseline.code >}} lines of code.",
    "It saved {{< var diary.saved_percent >}}% and {{< var diary.saved_code >}} lines.",
    "Run `head -n 200 lines.txt` to see `12 tests` in the log.",
    "Double backticks: ``a ` b, 20 lines`` stay code.",
    "Day 1: the Value class",
    "## Day 3: Adam and the forward pass",
    "Written on 2026-02-17, and again on 2026-02-18.",
    "GPT-2 is a much larger model.",
    "The 3rd attempt worked; the 2nd did not.",
    "<!-- a note to self: 200 lines -->",
    "![the chart](/images/progress.svg){width=80%}",
    "See [the diff](/snapshots/05-adam.qmd) for details.",
    '<img src="chart.png" width="80%">',
    "Python 3.11 and 3.13 both run it.",
])
def test_claims_lint_leaves_these_alone(tmp_path: Path, line: str) -> None:
    assert claims(tmp_path, f"Some prose.\n\n{line}\n") == []


@pytest.mark.parametrize(("line", "figure"), [
    ("The file is 200 lines long.", "200 lines"),
    ("That is 31.7 % less.", "31.7 %"),
    ("It saved 14.3% of the code.", "14.3%"),
    ("All 12 tests pass.", "12 tests"),
    ("A run takes 1.5 seconds.", "1.5 seconds"),
    ("The class went from 60 to 25 lines.", "25 lines"),
    ("A 60-line class became short.", "60-line"),
    ("It lost 1,234 lines.", "1,234 lines"),
    ("It shrank by −12 lines.", "−12 lines"),
    ("About 40 per cent shorter.", "40 per cent"),
    ("It peaks at 35 MB.", "35 MB"),
    ("## It keeps 24 comments", "24 comments"),
    ("| code | 197 code lines |", "197 code lines"),
    ("[the 200 lines page](/snapshots/00-baseline.qmd)", "200 lines"),
    ("> A quoted 30 lines are still prose.", "30 lines"),
])
def test_claims_lint_flags_these(tmp_path: Path, line: str, figure: str) -> None:
    assert claims(tmp_path, f"Some prose.\n\n{line}\n") == [(3, figure)]


def test_claims_lint_reads_front_matter_and_skips_code_blocks_and_comments(tmp_path: Path) -> None:
    text = "\n".join([
        "---",                                                  # 1
        'title: "Day 2: 200 lines gone"',                       # 2
        'description: "It saved 14.3% and 12 tests pass."',     # 3
        "date: 2026-02-18",                                     # 4
        "---",                                                  # 5
        "",                                                     # 6
        "```python",                                            # 7
        "x = 200  # 200 lines",                                 # 8
        "```not a closing fence, 5 lines",                      # 9
        "print('12 tests')",                                    # 10
        "```",                                                  # 11
        "~~~~",                                                 # 12
        "~~~",                                                  # 13
        "31.7 % inside a tilde fence",                          # 14
        "~~~~",                                                 # 15
        "<!--",                                                 # 16
        "Drafted: 60 to 25 lines.",                             # 17
        "-->",                                                  # 18
        "- a list item:",                                       # 19
        "",                                                     # 20
        "    ```",                                              # 21
        "    1.5 seconds in an indented fence",                 # 22
        "    ```",                                              # 23
        "After all that, 7 tests in prose.",                    # 24
        "```{python}",                                          # 25
        "# 9 lines",                                            # 26
        "```",                                                  # 27
        "And ```inline``` with 8 lines.",                       # 28
        "",
    ])
    # The title and description are shown in the listing, the page title and the feed: read too.
    assert claims(tmp_path, text) == [(2, "200 lines"), (3, "14.3%"), (3, "12 tests"), (24, "7 tests"),
                                      (28, "8 lines")]


def test_claims_lint_reads_front_matter_after_a_byte_order_mark(tmp_path: Path) -> None:
    post = tmp_path / "post.qmd"
    post.write_bytes('\ufeff---\ntitle: "200 lines gone"\n---\n\nProse with 3 tests.\n'.encode())
    from diary.project.pages import read_text

    found = hand_typed_claims(post, tmp_path, read_text(post))
    assert [(problem.line, problem.message) for problem in found] == [
        (2, "hand-typed figure '200 lines'"), (5, "hand-typed figure '3 tests'")]
    assert [problem.line for problem in hand_typed_claims(post, tmp_path)] == [2, 5]


def test_check_lists_every_dangling_reference_not_only_the_first(diary: Path) -> None:
    # generate stops at the first problem; the gate lists them all, each at its own line.
    post = diary / LAST_POST
    text = post.read_text(encoding="utf-8")
    post.write_text(text + "\n{{< var snap.nope.code >}} and {{< var diary.nothing >}}\n\n"
                    "{{< include /_generated/diff/_00-base__99-gone.md >}}\n", encoding="utf-8")
    lines = text.count("\n") + 1
    problems = check_fails(diary)
    rel = LAST_POST
    assert f"{rel}:{lines + 3}: the diff partial /_generated/diff/_00-base__99-gone.md names an unknown " \
           "snapshot '99-gone'" in "\n".join(problems)
    assert any(p.startswith(f"{rel}:{lines + 1}: unknown variable 'snap.nope.code'") for p in problems), problems
    assert any(p.startswith(f"{rel}:{lines + 1}: unknown variable 'diary.nothing'") for p in problems), problems


# ---------------------------------------------------------------------------------------------
# Committed data is re-derived, not believed (issue: verdicts that cannot be forged)


def edit_record(root: Path, snap_id: str, change) -> None:
    path = root / "_data/records" / f"{snap_id}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def forge_code_lines(record: dict, code: int) -> None:
    """42 code lines typed in consistently: the total and its file, each still summing to its physical lines."""
    for counts in (record["lines"]["total"], *record["lines"]["files"].values()):
        counts["physical"] += code - counts["code"]
        counts["code"] = code


def test_a_hand_edited_record_is_refused_with_both_figures(diary: Path) -> None:
    # The motivated author: 42 code lines for the final version, and the naive snapshot marked ok.
    final = yaml.safe_load((diary / f"_data/records/{LATEST}.yml").read_text(encoding="utf-8"))
    real = final["lines"]["total"]["code"]
    edit_record(diary, LATEST, lambda r: forge_code_lines(r, 42))
    edit_record(diary, BROKEN, lambda r: r["verdict"].update(status="ok", reasons=[], surprise=True))
    problems = "\n".join(check_fails(diary))
    assert (f"_data/records/{LATEST}.yml:3: record of '{LATEST}' does not match its snapshot: lines (the record "
            f"says 42 code lines, the files have {real})") in problems
    assert (f"record of '{BROKEN}' does not match its snapshot: verdict (the record says ok, its own parts say "
            "broken)") in problems


def test_a_record_whose_figures_do_not_add_up_is_refused_by_every_stage(diary: Path) -> None:
    # Classes that cannot describe a file (1,116 lines of classes in 259 physical): the record does not
    # load, so generate refuses it as check does, naming the record and the line of its counts.
    edit_record(diary, LATEST, lambda r: r["lines"]["total"].update(code=r["lines"]["total"]["code"] + 999))
    text = (diary / f"_data/records/{LATEST}.yml").read_text(encoding="utf-8")
    line = text.splitlines().index("lines:") + 1
    expected = f"_data/records/{LATEST}.yml:{line}: error: record does not add up: line classes"
    generate = subprocess.run([sys.executable, "-m", "diary", "--root", str(diary), "generate"], capture_output=True,
                              text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO / "tools")})
    assert generate.returncode == 2 and expected in generate.stderr, generate.stderr
    assert "Traceback" not in generate.stderr
    assert any("record does not add up" in problem for problem in check_fails(diary))


def test_regenerating_from_a_forged_record_does_not_make_it_pass(diary: Path) -> None:
    # Generated files made from the forged record agree with it; the record still disagrees with the files.
    edit_record(diary, LATEST, lambda r: forge_code_lines(r, 42))
    generate = subprocess.run([sys.executable, "-m", "diary", "--root", str(diary), "generate"], capture_output=True,
                              text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO / "tools")})
    assert generate.returncode == 0, generate.stderr
    problems = check_fails(diary)
    assert [p for p in problems if "does not match its snapshot" in p], problems


def test_a_hand_edited_chart_is_found_although_its_marker_matches(diary: Path) -> None:
    chart = diary / "images/progress.svg"
    text = chart.read_text(encoding="utf-8")
    assert "diary-chart-input" in text[:400]
    chart.write_text(text.replace("</svg>", "<text x='0' y='0'>-90 %</text></svg>"), encoding="utf-8")
    assert "images/progress.svg: generated file is stale" in "\n".join(check_fails(diary))


def test_an_unexpectedly_broken_snapshot_fails_the_gate(diary: Path) -> None:
    # measure and build exit 1 on it; the gate must not stay green.
    meta = diary / "code/snapshots" / BROKEN / "snapshot.yml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("expect: broken", "expect: ok"), encoding="utf-8")
    measure = subprocess.run([sys.executable, "-m", "diary", "--root", str(diary), "measure"], capture_output=True,
                             text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO / "tools")})
    assert measure.returncode == 1, measure.stderr
    problems = "\n".join(check_fails(diary))
    assert f"code/snapshots/{BROKEN}/snapshot.yml: snapshot '{BROKEN}' is broken, but expected ok: " in problems


def test_generate_refuses_records_measured_with_other_settings(diary: Path) -> None:
    config = diary / "code/diary.yml"
    config.write_text(re.sub(r"(?m)^steps: \d+", "steps: 30", config.read_text(encoding="utf-8")), encoding="utf-8")
    before = tree_state(diary)
    generate = subprocess.run([sys.executable, "-m", "diary", "--root", str(diary), "generate"], capture_output=True,
                              text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO / "tools")})
    assert generate.returncode == 2, generate.stdout + generate.stderr
    message = generate.stderr.strip()
    assert len(message.splitlines()) == 1 and "is stale: settings changed" in message, message
    assert "diary measure" in message
    after = tree_state(diary)
    after.pop(".diary.lock", None)  # the command's lock file (gitignored) holds only a pid
    assert after == {k: v for k, v in before.items() if k != ".diary.lock"}


@pytest.mark.slow
def test_rerun_refuses_a_record_whose_run_was_forged(diary: Path) -> None:
    """`diary check --rerun` measures every snapshot again and compares: a forged run is contradicted."""
    edit_record(diary, LATEST, lambda r: r["tests"].update(passed=r["tests"]["passed"] + 5))
    generate = subprocess.run([sys.executable, "-m", "diary", "--root", str(diary), "generate"], capture_output=True,
                              text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO / "tools")})
    assert generate.returncode == 0, generate.stderr
    assert run_check(diary).returncode == 0  # counts, rules and verdict still agree: only a run can tell
    before = tree_state(diary)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}
    result = subprocess.run([sys.executable, "-m", "diary", "--root", str(diary), "check", "--rerun"],
                            capture_output=True, text=True, timeout=900, env={**env, "PYTHONPATH": str(REPO / "tools")})
    assert result.returncode == 1, result.stdout + result.stderr
    assert tree_state(diary) == before, "check --rerun changed files"
    assert (f"_data/records/{LATEST}.yml:3: record of '{LATEST}' is contradicted by a fresh run of the same "
            "files: tests") in result.stderr


def test_a_post_may_not_use_the_latest_figures_of_the_diary(diary: Path) -> None:
    # Adding a snapshot must never rewrite an older post: its figures are its own snapshots'.
    post = diary / LAST_POST
    text = post.read_text(encoding="utf-8")
    post.write_text(text + "\nIn the end {{< var diary.best_code >}} and {{< var def.gpt.saved >}}, "
                    "{{< var diary.best >}}, {{< var def.Value.best_name >}}.\n", encoding="utf-8")
    line = text.count("\n") + 2
    problems = check_fails(diary)
    rel = LAST_POST
    for key in ("diary.best_code", "def.gpt.saved", "diary.best", "def.Value.best_name"):
        assert any(p.startswith(f"{rel}:{line}: '{key}' is the latest figure of the diary") and f"snap.{LATEST}." in p
                   for p in problems), problems
    progress = diary / "progress.qmd"  # the progress page shows the latest on purpose
    progress.write_text(progress.read_text(encoding="utf-8") + "\n{{< var diary.best_code >}}\n", encoding="utf-8")
    assert not [p for p in check_fails(diary) if p.startswith("progress.qmd")]


def test_the_as_of_figures_of_a_snapshot_count_only_what_came_before_it(tiny_copy: Path) -> None:
    variables = yaml.safe_load((tiny_copy / "_variables.yml").read_text(encoding="utf-8"))
    snaps = variables["snap"]
    ids = list(snaps)
    base = snaps[ids[0]]["code"]
    for position, snap_id in enumerate(ids, 1):
        entry = snaps[snap_id]
        assert entry["snapshots_so_far"] == position
        assert entry["broken_so_far"] == sum(snaps[i]["status"] == "broken" for i in ids[:position])
        assert entry["saved_code"] == base - entry["code"]


@pytest.mark.parametrize(("text", "figure"), [
    ("| snapshot | size |\n| --- | --- |\n| a | 66 | lines |\n", "66 lines"),
    ("It now runs in 5.5 s.\n", "5.5 s"),
    ("All 34 passing tests still pass.\n", "34 passing tests"),
    ("It has 66&nbsp;lines.\n", "66 lines"),
    ("A cut of 99&#37; at last.\n", "99%"),
    ("With 34&#32;tests.\n", "34 tests"),
    ("It has 66 *lines* now.\n", "66 lines"),
    ("It ran for 12\nseconds in all.\n", "12 seconds"),
])
def test_figures_as_readers_read_them_are_found(tmp_path: Path, text: str, figure: str) -> None:
    assert [found for _, found in claims(tmp_path, "---\ntitle: Post\n---\n\n" + text)] == [figure]


@pytest.mark.parametrize("key", ["title", "subtitle", "description"])
def test_figures_in_the_front_matter_readers_see_are_found(tmp_path: Path, key: str) -> None:
    from diary.project.pages import read_post

    post = tmp_path / "posts/p/index.qmd"
    post.parent.mkdir(parents=True)
    extra = "" if key == "title" else "title: Post\n"
    post.write_text(f"---\n{extra}{key}: Down to 66 lines\ndate: 2026-01-01\n---\n\nWords.\n", encoding="utf-8")
    page = read_post(post)
    found = hand_typed_claims(post, tmp_path, page.text, page)
    assert [(p.line, "66 lines" in p.message) for p in found] == [(3 if extra else 2, True)]
