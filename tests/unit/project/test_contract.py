"""The program's contract as data (entry, args, data files per snapshot), the pluggable judge
(`tests: none`, the bundled suite, the user's own pytest suite) and `_generated/checks.md`, on real
runs of a third-party-style program (tests/fixtures/thirdparty) and of the tiny diary."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from diary.cli import main
from diarykit import REPO, TINY_PROGRAM, make_diary, read_record, run_diary, tree_bytes, write

THIRDPARTY = REPO / "tests/fixtures/thirdparty"
# wordgen prints the time it started; comparing that needs a declared normalisation (another part of
# issue 12), so these copies print a fixed word in its place: the runs here are about the contract.
TIMESTAMP = "{time.strftime('%Y-%m-%d %H:%M:%S')}"

WORDGEN_SETTINGS = """\
schema: 1
entry: wordgen.py
args: []
data_files: [{from: data/words.txt, to: input.txt}]
tests: none
timeout: 30
memory_mb: 512
"""

OWN_SUITE = '''\
"""The user's own suite: the snapshot under test is found through DIARY_SNAPSHOT and DIARY_ENTRY."""
import importlib.util
import json
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


def test_reads_the_data_file_as_a_run_does():
    assert len(load().read_words("input.txt")) == 59
    assert json.loads(os.environ["DIARY_ARGS"]) == ([] if os.environ["DIARY_ENTRY"] == "wordgen.py" else ["run"])


def test_counts_each_pair_once():
    assert load().count_pairs(["ab"]) == {"^": {"a": 1}, "a": {"b": 1}, "b": {"$": 1}}
'''


def snapshot_yml(snap_id: str, parent: str | None = None, extra: str = "") -> str:
    lines = [f"id: {snap_id}", f"title: Snapshot {snap_id}", "date: 2026-03-01"]
    if parent:
        lines.append(f"parent: {parent}")
    return "\n".join(lines) + "\n" + extra


def wordgen_diary(root: Path, settings: str = WORDGEN_SETTINGS) -> Path:
    """The baseline wordgen and the 3-module split run as `python main.py run`."""
    write(root / "code/diary.yml", settings)
    (root / "code/data").mkdir(parents=True)
    shutil.copy(THIRDPARTY / "words.txt", root / "code/data/words.txt")
    for snap_id, source, extra in (("00-base", THIRDPARTY / "program", ""),
                                   ("01-split", THIRDPARTY / "split", "entry: main.py\nargs: [run]\n")):
        folder = root / "code/snapshots" / snap_id
        folder.mkdir(parents=True)
        for path in sorted(source.glob("*.py")):
            write(folder / path.name, path.read_text(encoding="utf-8").replace(TIMESTAMP, "then"))
        write(folder / "snapshot.yml", snapshot_yml(snap_id, None if snap_id == "00-base" else "00-base", extra))
    return root



@pytest.fixture(scope="module")
def wordgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = wordgen_diary(tmp_path_factory.mktemp("wordgen"))
    for command in ("measure", "generate"):
        proc = run_diary(root, command)
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return root


def test_each_snapshot_runs_with_its_own_entry_arguments_and_data(wordgen: Path) -> None:
    base, split = read_record(wordgen, "00-base"), read_record(wordgen, "01-split")
    assert base["run"]["command"] == "python wordgen.py"
    assert split["run"]["command"] == "python main.py run"
    for rec in (base, split):  # input.txt was there: the program read the 59 words
        assert rec["run"]["status"] == "ok", rec["run"]
        assert "59 words, 16 letters seen" in rec["run"]["stdout_lines"]
    assert split["behaviour"]["identical"] and split["verdict"]["status"] == "ok"


def test_no_suite_and_no_seed_are_recorded_as_such(wordgen: Path) -> None:
    for snap_id in ("00-base", "01-split"):
        rec = read_record(wordgen, snap_id)
        assert rec["tests"]["judged"] == "none" and rec["tests"]["ran"] == []
        assert rec["probes"]["status"] == "not run" and rec["probes"]["runs"] == 0
        assert "{seed}" in rec["probes"]["reason"]
        assert not any("probe" in reason or "test" in reason for reason in rec["verdict"]["reasons"])


def test_settings_the_program_does_not_use_are_not_published(wordgen: Path) -> None:
    summary = yaml.safe_load((wordgen / "_variables.yml").read_text(encoding="utf-8"))["diary"]
    assert not {"seed", "steps", "samples"} & set(summary)
    page = (wordgen / "snapshots/01-split.qmd").read_text(encoding="utf-8")
    assert "passes the behavioural tests" not in page and "fresh seeds" not in page
    assert "No test suite" in page


def test_checks_partial_says_what_ran(wordgen: Path) -> None:
    checks = (wordgen / "_generated/checks.md").read_text(encoding="utf-8")
    assert "<code>python wordgen\\.py</code> (00\\-base)" in checks
    assert "<code>python main\\.py run</code> (01\\-split)" in checks
    assert "data/words\\.txt as input\\.txt" in checks
    assert "byte for byte" in checks
    assert "There is no test suite (`tests: none`)" in checks
    assert "No probe runs: the baseline\\'s arguments have no \\{seed\\} placeholder" in checks
    assert "pytest" not in checks and "Beside the seed" not in checks
    assert "raise" not in checks and "timeout of 30.0 s (the setting\n`timeout`)" in checks


def check(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`diary check`, in this process (the CLI's own entry point): its exit status and what it printed."""
    code = main(["--root", str(root), "check"])
    return code, capsys.readouterr().err


def test_check_reports_a_missing_or_edited_checks_partial(wordgen: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "diary"
    shutil.copytree(wordgen, root)
    code, printed = check(root, capsys)
    assert code == 0, printed
    partial = root / "_generated/checks.md"
    partial.write_text(partial.read_text(encoding="utf-8") + "Every snapshot passes 40 tests.\n", encoding="utf-8")
    code, printed = check(root, capsys)
    assert code == 1 and "_generated/checks.md: generated file is stale" in printed
    partial.unlink()
    code, printed = check(root, capsys)
    assert code == 1 and "_generated/checks.md: generated file is missing" in printed


def test_contract_of_a_snapshot_is_part_of_its_key(wordgen: Path, tmp_path: Path) -> None:
    root = tmp_path / "diary"
    shutil.copytree(wordgen, root)
    meta = root / "code/snapshots/01-split/snapshot.yml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("args: [run]", "args: [run, '']"), encoding="utf-8")
    proc = run_diary(root, "check")
    assert proc.returncode == 1 and "record of '01-split' is stale (content changed)" in proc.stderr
    assert "00-base" not in proc.stderr.split("stale")[0].splitlines()[-1]
    # A snapshot's own data file: its bytes are part of its key, and it is what the run reads.
    write(root / "code/data/few.txt", "ab\nabc\n")
    meta.write_text(snapshot_yml("01-split", "00-base",
                                 "entry: main.py\nargs: [run]\ndata_files: [{from: data/few.txt, to: input.txt}]\n"),
                    encoding="utf-8")
    proc = run_diary(root, "measure")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # other words, other output: broken, unexpectedly
    split = read_record(root, "01-split")
    assert "2 words, 4 letters seen" in split["run"]["stdout_lines"] and not split["behaviour"]["identical"]
    assert run_diary(root, "measure").stdout.count("measured") == 1  # "0 measured": cached
    write(root / "code/data/few.txt", "ab\n")
    assert "record of '01-split' is stale (content changed)" in run_diary(root, "check").stderr


def test_the_users_own_pytest_suite_judges_in_process(tmp_path: Path) -> None:
    root = wordgen_diary(tmp_path, WORDGEN_SETTINGS.replace("tests: none", "tests: tests/own"))
    write(root / "tests/own/test_wordgen.py", OWN_SUITE)
    # Each pair counted twice: the same weights, the same output, a failing test.
    doubled = (root / "code/snapshots/00-base/wordgen.py").read_text(encoding="utf-8")
    write(root / "code/snapshots/02-double/wordgen.py",
          doubled.replace("row.get(second, 0) + 1", "row.get(second, 0) + 2"))
    write(root / "code/snapshots/02-double/snapshot.yml", snapshot_yml("02-double", "00-base", "expect: broken\n"))
    for command in ("measure", "generate"):
        proc = run_diary(root, command)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    base, split, double = (read_record(root, i) for i in ("00-base", "01-split", "02-double"))
    assert base["tests"]["judged"] == "in-process" and base["tests"]["status"] == "ok"
    assert base["tests"]["ran"] == ["test_wordgen::test_reads_the_data_file_as_a_run_does",
                                    "test_wordgen::test_counts_each_pair_once"]
    assert split["tests"]["status"] == "ok" and split["verdict"]["status"] == "ok"
    assert double["behaviour"]["identical"] and double["verdict"]["status"] == "broken"
    assert [f["test"] for f in double["tests"]["failures"]] == ["test_wordgen::test_counts_each_pair_once"]
    checks = (root / "_generated/checks.md").read_text(encoding="utf-8")
    assert "The pytest suite in tests/own runs against every snapshot in-process" in checks
    assert ("- <code>test_wordgen</code>: <code>test_reads_the_data_file_as_a_run_does</code>, "
            "<code>test_counts_each_pair_once</code>") in checks.replace("\\_", "_")


def test_a_snapshot_that_drops_the_seed_cannot_escape_the_probes(tmp_path: Path) -> None:
    root = make_diary(tmp_path, {
        "00-base": (TINY_PROGRAM, None, "ok"),
        "01-fixed": (TINY_PROGRAM.replace("args.seed)", "1)"), "00-base", "broken"),
    })
    meta = root / "code/snapshots/01-fixed/snapshot.yml"
    meta.write_text(meta.read_text(encoding="utf-8") + "args: [--steps, '{steps}']\n", encoding="utf-8")
    proc = run_diary(root, "measure")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fixed = read_record(root, "01-fixed")
    assert fixed["run"]["command"] == "python prog.py --steps 3"
    assert fixed["behaviour"]["identical"]  # it prints what the baseline prints on the configured seed
    assert fixed["probes"]["status"] == "failed" and "no {seed} placeholder" in fixed["probes"]["reason"]
    assert read_record(root, "00-base")["probes"]["status"] == "passed"
    proc = run_diary(root, "generate")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = yaml.safe_load((root / "_variables.yml").read_text(encoding="utf-8"))["diary"]
    assert (summary["seed"], summary["steps"], summary["samples"]) == (1, 3, 1)
    checks = (root / "_generated/checks.md").read_text(encoding="utf-8")
    assert "Beside the seed 1, every snapshot runs on 2 seeds" in checks
    # Two snapshots, two commands, each as run; `--` kept from becoming a dash by the typographic break.
    assert "- <code>python prog\\.py \\-<span></span>\\-steps 3</code> (01\\-fixed)" in checks


def test_a_timed_out_run_names_the_setting_to_raise(tmp_path: Path) -> None:
    root = make_diary(tmp_path, {"00-base": (TINY_PROGRAM.replace("    main()", "    while True:\n        pass"),
                                             None, "broken")})
    config = root / "code/diary.yml"
    config.write_text(config.read_text(encoding="utf-8").replace("timeout: 20", "timeout: 1")
                      + "probes: 0\n", encoding="utf-8")
    proc = run_diary(root, "measure")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rec = read_record(root, "00-base")
    assert rec["run"]["status"] == "timeout"
    assert rec["run"]["reason"] == "timed out after 1.0 s (raise 'timeout' in code/diary.yml)"
    assert rec["probes"]["status"] == "not run" and rec["probes"]["reason"] == "'probes' is 0 in code/diary.yml"


@pytest.mark.parametrize(("settings", "files", "expected"), [
    ('tests: ""', {}, "code/diary.yml:5: error: 'tests': is empty (write 'tests: none'"),
    ("tests:", {}, "code/diary.yml:5: error: 'tests': is empty"),
    ("tests: tests/nowhere", {}, "code/diary.yml:5: error: 'tests': test directory 'tests/nowhere' does not exist"),
    ("tests: .", {}, "code/diary.yml:5: error: 'tests': '.' must be a folder inside the repository, not the"),
    ("tests: code", {}, "code/diary.yml:5: error: 'tests': 'code' holds the program under study"),
    ("tests: tests/empty", {"tests/empty/README.md": "nothing\n"},
     "code/diary.yml:5: error: 'tests': test directory 'tests/empty' holds no Python file"),
    ("tests: none\ndriver: tests/d.py", {"tests/d.py": ""},
     "code/diary.yml:6: error: 'driver': a driver needs a suite"),
])
def test_a_suite_that_cannot_judge_is_one_line_at_load(tmp_path: Path, settings: str, files: dict[str, str],
                                                       expected: str) -> None:
    root = wordgen_diary(tmp_path, WORDGEN_SETTINGS.replace("tests: none", settings))
    for name, text in files.items():
        write(root / name, text)
    proc = run_diary(root, "measure")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"{root}/{expected}") and proc.stderr.count("\n") == 1, proc.stderr
    assert tree_bytes(root) == {}


def test_a_suite_where_pytest_collects_nothing_is_one_line_at_measure(tmp_path: Path) -> None:
    root = wordgen_diary(tmp_path, WORDGEN_SETTINGS.replace("tests: none", "tests: tests/own"))
    write(root / "tests/own/helpers.py", "def helper():\n    return 1\n")
    proc = run_diary(root, "measure")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"{root}/code/diary.yml:5: error: pytest collects no tests in 'tests/own'")
    assert proc.stderr.count("error:") == 1 and "Traceback" not in proc.stderr
    assert tree_bytes(root) == {}


@pytest.mark.parametrize(("extra", "expected"), [
    ("data_files: [{from: data/words.txt}]",
     "'data_files': every item must be a path or a mapping with 'from' and 'to'"),
    ("data_files: [{from: data/words.txt, to: ../input.txt}]", "'data_files': 'to: ../input.txt' must be a file path"),
    ("data_files: [{from: /etc/passwd, to: input.txt}]", "'data_files': '/etc/passwd' must be a path inside code/"),
    ("data_files: [data/missing.txt]", "'data_files': data file 'data/missing.txt' does not exist"),
    ("data_files: [data/words.txt, {from: data/words.txt, to: data/words.txt}]",
     "'data_files': two data files are copied to 'data/words.txt'"),
    ("data_files: [{from: data/words.txt, to: pairs.py}]", "'data_files': 'to: pairs.py' would be code"),
    ("data_files: [{from: data/words.txt, to: baseline/input.txt}]",
     "'data_files': 'to: baseline/input.txt' would be code or overwrite the run's own folders"),
    ("data_files: [{from: snapshots/00-base/wordgen.py, to: input.txt}]",
     "'data_files': 'snapshots/00-base/wordgen.py' is inside the snapshots' folder"),
    ("args: ['{seed:99999}']", "'args': unknown placeholder in '{seed:99999}'"),
    ("args: run", "'args': must be list, not str"),
    ("entry: ../main.py", "'entry': must be a .py file name inside the snapshot"),
])
def test_a_bad_contract_in_snapshot_yml_is_one_line_naming_file_and_line(tmp_path: Path, extra: str,
                                                                        expected: str) -> None:
    root = wordgen_diary(tmp_path)
    meta = root / "code/snapshots/01-split/snapshot.yml"
    meta.write_text(snapshot_yml("01-split", "00-base", extra + "\n"), encoding="utf-8")
    proc = run_diary(root, "measure")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"{meta}:5: error: {expected}"), proc.stderr
    assert proc.stderr.count("\n") == 1
    assert tree_bytes(root) == {}


def test_a_new_snapshot_keeps_its_parents_contract(wordgen: Path, tmp_path: Path) -> None:
    root = tmp_path / "diary"
    shutil.copytree(wordgen, root)
    meta = root / "code/snapshots/01-split/snapshot.yml"
    write(root / "code/data/more.txt", (THIRDPARTY / "words.txt").read_text(encoding="utf-8"))
    meta.write_text(meta.read_text(encoding="utf-8") + "data_files: [{from: data/more.txt, to: input.txt}]\n",
                    encoding="utf-8")
    proc = run_diary(root, "new", "snapshot", "02-more", "--from", "01-split")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = yaml.safe_load((root / "code/snapshots/02-more/snapshot.yml").read_text(encoding="utf-8"))
    assert (written["entry"], written["args"]) == ("main.py", ["run"])
    assert written["data_files"] == [{"from": "data/more.txt", "to": "input.txt"}]
    proc = run_diary(root, "measure")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    more = read_record(root, "02-more")
    assert more["run"]["command"] == "python main.py run" and more["verdict"]["status"] == "ok"


def test_a_suite_that_times_out_names_the_setting_to_raise(tmp_path: Path) -> None:
    root = wordgen_diary(tmp_path, WORDGEN_SETTINGS.replace("tests: none", "tests: tests/own\ntest_timeout: 1"))
    write(root / "tests/own/test_slow.py", "import time\n\n\ndef test_slow():\n    time.sleep(60)\n")
    proc = run_diary(root, "measure")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # broken, unexpectedly
    tests = read_record(root, "00-base")["tests"]
    assert tests["status"] == "error"
    assert tests["reason"] == "test suite timed out after 1.0 s (raise 'test_timeout' in code/diary.yml)"


def test_checks_name_each_declared_normalisation() -> None:
    from diary.project.normalise import Normalisation
    from diary.site.checks import _normalisations

    assert _normalisations(()) == []  # no `normalise:` key: byte for byte
    declared = (Normalisation("line-endings"), Normalisation("carriage-returns"),
                Normalisation("timestamp", r"\d\d:\d\d:\d\d", "T"))
    assert _normalisations(declared) == [
        "line endings (CRLF read as LF)",
        "carriage returns (a CR counts as a line end; a CR next to a line end adds none)",
        r"timestamp: text matching /\d\d:\d\d:\d\d/ replaced by 'T'",
    ]
