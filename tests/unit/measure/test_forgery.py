"""Verdicts that cannot be forged: hostile-author snapshots, each of which must end broken, reason named.

A small copy of this diary (its config, data, baseline and behavioural suite, 5 training steps)
gets the snapshots of `tests/fixtures/forgery/` (filled from the baseline at test time) plus
snapshots derived from the baseline by an edit that breaks one of the diary's rules, all marked
`expect: ok` as their author claims. One `diary measure` judges them all; every forgery must be
broken with its reason in the record (so `diary generate` shows it), and an honest copy of the
baseline must stay ok: the checks catch forgeries, not honest code.

| forgery (issue 10)                                           | what it gets now                                   |
| ------------------------------------------------------------ | -------------------------------------------------- |
| 1. the code lives in `impl.txt`, `exec`uted by 4 lines       | rules hidden-code and dynamic-code; impl counted   |
| 1. the code compressed and encoded in a string               | rules code-loader and dynamic-code                 |
| 1. the code imported from the committed baseline's folder    | rule outside-import (sys.path)                     |
| 2. prints the remembered stdout, rewrites junit.xml at exit  | tests failed (no program code where pytest runs);  |
|                                                              | probe runs on fresh seeds differ                   |
| 2. also rewrites the driver's answers with remembered ones   | probes: answers on a fresh seed differ             |
| 3. `exec`s `$DIARY_BASELINE/microgpt.py`                     | run failed (no baseline reachable); dynamic-code   |
| 2. same, with an in-process suite (no driver configured)     | tests error: pytest's exit status contradicts it   |
| 4. `pytest.skip(allow_module_level=True)` at import          | tests failed; rule outside-import                  |
| 4. a suite test that skips (in-process suite)                | tests failed: skipped, unless `allowed_skips`      |
| 6. an edit during `diary measure`, undone after              | record describes what ran; the undone files are    |
|                                                              | stale, measured again                              |
| 8. statements joined with `;`, blank lines removed           | rules joined-statements and blank-lines            |
| 8. a function body indented by 2 spaces                      | rule indentation                                   |
| 8. every comment dropped                                     | rule comments (below comments_min_percent)         |
| 1. the code run by `typing.ForwardRef` (no `exec` in sight)  | the run-time guard stops the probes and the driver |
| 6 (issue 23). operators missing, an exit hook swaps the       | tests failed: the questions are drawn at measure   |
|    answers to the published questions for remembered ones     | time, the remembered answers answer others         |
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from diary.measure.pipeline import measure_all
from diary.project.config import load_settings
from diary.project.discover import discover_snapshots
from diary.project.project import Project
from diary.project.records import load_record
from diarykit import FIXTURES_DIR, REPO, run_diary, snapshot_meta, write

# Hostile authors measured for real (runs, the two-half suite, probes): end to end, so slow.
pytestmark = pytest.mark.slow

FIXTURES = FIXTURES_DIR / "forgery"
# A frozen copy of MicroGPT's baseline, settings and data (its README says why), not this diary's.
MICROGPT = REPO / "tests" / "fixtures" / "microgpt"
BASELINE_DIR = MICROGPT / "code" / "snapshots" / "00-baseline"
BASELINE = (BASELINE_DIR / "microgpt.py").read_text(encoding="utf-8")
STEPS = 5
GUARDED = "probes: probe run 1 on a fresh seed failed: exit code 1: "


def copy_small_diary(root: Path) -> Path:
    """MicroGPT's config (5 steps), data, baseline and the bundled behavioural suite: nothing else."""
    config = (MICROGPT / "code/diary.yml").read_text(encoding="utf-8")
    assert "\nsteps: 20" in config
    write(root / "code/diary.yml", config.replace("\nsteps: 20", f"\nsteps: {STEPS}"))
    shutil.copytree(MICROGPT / "code/data", root / "code/data")
    shutil.copytree(BASELINE_DIR, root / "code/snapshots/00-baseline")
    shutil.copytree(REPO / "tests/program", root / "tests/program",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def remembered_stdout(tmp: Path) -> str:
    """What an author who ran the baseline once would paste into a forgery."""
    work = tmp / "remember-run"
    shutil.copytree(MICROGPT / "code/data", work / "data")
    settings = load_settings(copy_small_diary(tmp / "settings-of"))
    args = [a.replace("{steps}", str(STEPS)) for a in settings.args]
    args = [a.format(seed=settings.seed, samples=settings.samples) for a in args]
    done = subprocess.run([sys.executable, str(BASELINE_DIR / "microgpt.py"), *args], cwd=work,
                          capture_output=True, text=True, check=True, timeout=120)
    return done.stdout


def remembered_answers(tmp: Path, *seed: str) -> str:
    """The baseline's answers to the driver: on a guessed seed, or (no seed) to the published questions."""
    work = tmp / f"remember-answers{'-'.join(seed)}"
    shutil.copytree(MICROGPT / "code/data", work / "data")
    shutil.copytree(BASELINE_DIR, work / "snapshot")
    subprocess.run([sys.executable, str(REPO / "tests/program/driver.py"), "snapshot", "microgpt.py",
                    "answers.json", *seed], cwd=work, check=True, timeout=300, capture_output=True)
    return (work / "answers.json").read_text(encoding="utf-8")


# Issue 23, forgery 6: two reflected operators missing (the model never uses them, so the probe
# answers stay right), and an exit hook in the driver's process that swaps the answers to the
# operation questions for the baseline's, remembered from the published questions.
SWAP_ANSWERS = """

def _swap_answers():
    import json as _json
    import sys as _sys
    if len(_sys.argv) > 3 and _sys.argv[3].endswith(".json"):
        with open(_sys.argv[3]) as _file:
            _answers = _json.load(_file)
        _answers["operations"] = REMEMBERED_OPERATIONS
        with open(_sys.argv[3], "w") as _file:
            _json.dump(_answers, _file)


import atexit  # noqa: E402

atexit.register(_swap_answers)
"""


def operators_missing_answers_swapped(published_answers: str) -> str:
    source = BASELINE
    for operator in ("__rsub__", "__rtruediv__"):
        start = source.index(f"    def {operator}(")
        end = source.index("\n\n", start) + 2
        source = source[:start] + source[end:]
    operations = json.loads(published_answers)["operations"]
    return source + f"\nREMEMBERED_OPERATIONS = {operations!r}\n" + SWAP_ANSWERS


def fixture(name: str, **fill: str) -> str:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for constant, value in fill.items():
        text = text.replace(f'{constant} = ""', f"{constant} = {value!r}", 1)
        text = text.replace(f'{constant} = b""', f"{constant} = {value.encode()!r}", 1)
    return text


def joined_and_squeezed(source: str) -> str:
    """Two statements joined with ';' and the two blank lines between two functions removed."""
    joined = source.replace("    learning_rate = 0.01\n    beta1 = 0.9\n", "    learning_rate = 0.01; beta1 = 0.9\n", 1)
    squeezed = joined.replace("\n\n\ndef init_model(", "\ndef init_model(", 1)
    assert joined != source and squeezed != joined, "the baseline changed: pick other lines to edit"
    return squeezed


def badly_indented(source: str) -> str:
    """A function body indented by 2 spaces (it still runs: only the rule can tell)."""
    edited = source.replace(
        "    \"\"\"A nout x nin list of lists of trainable Values drawn from N(0, std^2).\"\"\"\n"
        "    return [[",
        "  \"\"\"A nout x nin list of lists of trainable Values drawn from N(0, std^2).\"\"\"\n"
        "  return [[", 1)
    assert edited.count("\n  return [[") == 1
    return edited


def without_comments(source: str) -> str:
    kept = [line for line in source.splitlines(keepends=True) if not line.lstrip().startswith("#")]
    return "".join(kept)


# id -> (files, the reasons that must all appear in the verdict)
def forgeries(tmp: Path) -> dict[str, tuple[dict[str, str], list[str]]]:
    stdout = remembered_stdout(tmp)
    answers = remembered_answers(tmp, "42")
    published = remembered_answers(tmp)
    blob = base64.b64encode(zlib.compress(BASELINE.encode())).decode()
    return {
        "10-code-in-txt": ({"microgpt.py": fixture("code_in_txt.py"), "impl.txt": BASELINE},
                           ["rule hidden-code at impl.txt:1", "rule dynamic-code at microgpt.py:5"]),
        "11-code-compressed": ({"microgpt.py": fixture("code_compressed.py", BLOB=blob)},
                               ["rule code-loader at microgpt.py:1", "rule dynamic-code at microgpt.py:5"]),
        "12-code-outside": ({"microgpt.py": fixture("code_outside.py").replace("BASELINE_DIR", str(BASELINE_DIR))},
                            ["rule outside-import at microgpt.py:3: uses sys.path"]),
        "13-report-writer": ({"microgpt.py": fixture("report_writer.py", REMEMBERED=stdout)},
                             ["tests failed", "probes: probe run 1 on a fresh seed prints other output"]),
        "14-answers-writer": ({"microgpt.py": fixture("answers_writer.py", REMEMBERED=stdout, ANSWERS=answers)},
                              ["probes: probe run 1 on a fresh seed prints other output"]),
        "15-becomes-baseline": ({"microgpt.py": fixture("becomes_baseline.py")},
                                ["run failed", "rule dynamic-code at microgpt.py:4"]),
        "16-skips-at-import": ({"microgpt.py": fixture("skips_at_import.py")},
                               ["tests failed", "rule outside-import at microgpt.py:1: imports pytest"]),
        "17-joined": ({"microgpt.py": joined_and_squeezed(BASELINE)},
                      ["rule joined-statements at microgpt.py:", "rule blank-lines at microgpt.py:"]),
        "18-indented": ({"microgpt.py": badly_indented(BASELINE)},
                        ["rule indentation at microgpt.py:119: indented by 2 spaces instead of 4"]),
        "19-no-comments": ({"microgpt.py": without_comments(BASELINE)}, ["rule comments: "]),
        "22-operators-swapped": ({"microgpt.py": operators_missing_answers_swapped(published)},
                                 ["tests failed"]),
        "21-typing-eval": ({"microgpt.py": fixture("typing_eval.py", SOURCE=BASELINE)},
                           ["tests failed", GUARDED + "PermissionError: diary guard: rule dynamic-code"]),
    }


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("forgery")
    root = copy_small_diary(tmp / "diary")
    cases = forgeries(tmp)
    for snap_id, (files, _) in cases.items():
        for name, text in files.items():
            write(root / "code/snapshots" / snap_id / name, text)
        write(root / "code/snapshots" / snap_id / "snapshot.yml", snapshot_meta(snap_id, "00-baseline", "ok"))
    write(root / "code/snapshots/20-honest-copy/microgpt.py", BASELINE)
    write(root / "code/snapshots/20-honest-copy/snapshot.yml", snapshot_meta("20-honest-copy", "00-baseline"))
    done = run_diary(root, "measure", timeout=900)
    return root, cases, done


def verdict(root: Path, snap_id: str) -> dict:
    """The record as plain data (the shape written to YAML)."""
    return load_record(root / "_data/records" / f"{snap_id}.yml").to_data()


def test_measure_says_the_forgeries_broke_unexpectedly(judged) -> None:
    root, cases, done = judged
    assert done.returncode == 1, done.stdout + done.stderr
    for snap_id in cases:
        assert snap_id in done.stdout


@pytest.mark.parametrize("snap_id", ["10-code-in-txt", "11-code-compressed", "12-code-outside", "13-report-writer",
                                     "14-answers-writer", "15-becomes-baseline", "16-skips-at-import", "17-joined",
                                     "18-indented", "19-no-comments", "21-typing-eval", "22-operators-swapped"])
def test_each_forgery_ends_broken_with_its_reason_named(judged, snap_id: str) -> None:
    root, cases, _ = judged
    record = verdict(root, snap_id)
    reasons = record["verdict"]["reasons"]
    assert record["verdict"]["status"] == "broken" and record["verdict"]["surprise"], reasons
    for wanted in cases[snap_id][1]:
        assert any(reason.startswith(wanted) for reason in reasons), f"{wanted!r} not in {reasons}"


def test_an_honest_copy_of_the_baseline_stays_ok(judged) -> None:
    root, _, _ = judged
    record, base = verdict(root, "20-honest-copy"), verdict(root, "00-baseline")
    assert record["verdict"] == {"status": "ok", "expected": "ok", "surprise": False, "reasons": []}
    assert record["breaches"] == [] and record["probes"]["runs"] == 2 and record["probes"]["identical"]
    assert record["tests"]["judged"] == "driver" and record["tests"]["passed"] == base["tests"]["passed"] > 30
    assert record["lines"]["total"] == base["lines"]["total"]


def test_code_in_any_file_is_counted(judged) -> None:
    root, _, _ = judged
    hidden, base = verdict(root, "10-code-in-txt"), verdict(root, "00-baseline")
    assert set(hidden["lines"]["files"]) == {"microgpt.py", "impl.txt"}
    assert hidden["lines"]["total"]["code"] == base["lines"]["total"]["code"] + 4


def test_the_program_never_reaches_the_baseline(judged) -> None:
    root, _, _ = judged
    record = verdict(root, "15-becomes-baseline")
    assert "KeyError: 'DIARY_BASELINE'" in record["run"]["stderr_excerpt"]
    assert any("the snapshot raised KeyError: 'DIARY_BASELINE'" in f["message"] for f in record["tests"]["failures"])


def test_a_rewritten_report_is_not_read(judged) -> None:
    root, _, _ = judged
    record = verdict(root, "13-report-writer")
    # The program printed the remembered output, so the main run looks identical; the judge is not fooled.
    assert record["behaviour"]["identical"]
    assert record["tests"]["status"] == "failed" and record["tests"]["failed"] >= 30


def test_code_the_static_rules_miss_is_stopped_by_the_guard(judged) -> None:
    root, _, _ = judged
    record = verdict(root, "21-typing-eval")
    # The rules are a floor: typing evaluates the string (only the comments, in a string, are missed)
    # (its one long line breaks line-length too: beside the point here)
    assert [b["rule"] for b in record["breaches"] if b["rule"] != "line-length"] == ["comments"]
    assert record["behaviour"]["identical"]  # the configured run is the baseline's, verbatim
    [import_failure] = [f for f in record["tests"]["failures"] if f["test"].endswith("test_import_has_no_side_effects")]
    assert "the snapshot raised PermissionError: diary guard: rule dynamic-code" in import_failure["message"]
    assert record["tests"]["passed"] == 0


GUARD_PROGRAM = """\
import sys
what = sys.argv[1]
if what == "exec":
    exec("print('ran')")
elif what == "typing":
    import typing
    G = {}
    typing.ForwardRef("exec(S, G)")._evaluate({"S": "x = 1", "G": G}, None, frozenset())
elif what == "read":
    print(open(sys.argv[2]).read()[:20])
elif what == "spawn":
    import subprocess
    subprocess.run(["true"])
elif what == "own":
    import helper
    print(helper.X)
"""


@pytest.mark.parametrize(("what", "refused"), [
    ("exec", "rule dynamic-code: compile on behalf of prog.py"),
    ("typing", "rule dynamic-code: exec on behalf of typing.py"),
    ("read", "rule outside-import: open of "),
    ("spawn", "rule code-loader: subprocess.Popen: the program may not start other programs"),
    ("own", None),
])
def test_the_run_time_guard(tmp_path: Path, what: str, refused: str | None) -> None:
    from diary.measure.judge import guarded
    from diary.measure.sandbox.run import run_sandboxed

    repo = copy_small_diary(tmp_path / "repo")  # a repository beside the run: its baseline must stay closed
    work = tmp_path / "work"
    write(work / "prog.py", GUARD_PROGRAM)
    write(work / "helper.py", "X = 5\n")
    settings = load_settings(repo)
    baseline = repo / "code/snapshots/00-baseline/microgpt.py"
    argv = guarded(settings, work, work, "prog.py", [what, str(baseline)],
                   {"prog.py": GUARD_PROGRAM.encode(), "helper.py": b"X = 5\n"})
    done = run_sandboxed(argv, workdir=work, timeout=60, memory_mb=1024, output_bytes=65536,
                         readable=[repo])
    if refused is None:
        assert (done.status, done.stdout_text()) == ("ok", "5\n")
    else:
        assert done.status == "failed" and f"PermissionError: diary guard: {refused}" in done.stderr_text()


def test_records_do_not_store_the_probe_seeds(judged) -> None:
    root, _, _ = judged
    text = (root / "_data/records/00-baseline.yml").read_text()
    assert "seed" not in text.replace("--seed 42", "").replace("same seed", "")


SKIPPING_SUITE = '''\
import os

import pytest

if not os.environ.get("DIARY_SNAPSHOT"):
    pytest.skip("run by diary measure", allow_module_level=True)


def test_runs():
    assert True


def test_not_today():
    pytest.skip("maybe later")


@pytest.mark.xfail(reason="known")
def test_known_bad():
    assert False
'''


def test_skips_and_xfails_are_failures_unless_allowed(tmp_path: Path) -> None:
    from diarykit import make_diary

    root = make_diary(tmp_path / "diary", {"00-base": (_tiny(), None, "ok")})
    write(root / "tests/program/test_tiny.py", SKIPPING_SUITE)
    done = run_diary(root, "measure")
    record = verdict(root, "00-base")
    assert done.returncode == 1, done.stdout + done.stderr
    assert record["tests"]["status"] == "failed"
    assert "tests failed: 0 failed, 0 errors (2 test(s) skipped or xfailed)" in record["verdict"]["reasons"]
    failures = {f["test"] for f in record["tests"]["failures"]}
    assert failures == {"test_tiny::test_not_today", "test_tiny::test_known_bad"}

    config = root / "code/diary.yml"
    config.write_text(config.read_text() + "allowed_skips: ['test_tiny::test_not_today', '*::test_known_*']\n")
    done = run_diary(root, "measure")
    assert done.returncode == 0, done.stdout + done.stderr
    assert verdict(root, "00-base")["tests"]["status"] == "ok"


REPORT_REWRITER = '''\
import atexit
import os

CASE = '<testcase classname="test_tiny" name="test_add"/>'
REPORT = f'<testsuites><testsuite tests="1" failures="0" errors="0" skipped="0">{CASE}</testsuite></testsuites>'


def _rewrite():
    for name in os.listdir(os.getcwd()):
        if name.endswith(".xml"):
            with open(name, "w") as report:
                report.write(REPORT)


atexit.register(_rewrite)
'''


def test_in_process_suite_a_rewritten_report_is_caught_by_the_exit_status(tmp_path: Path) -> None:
    """Without a driver pytest imports the snapshot, which can rewrite the report; pytest's exit
    status still tells, and the record says the suite was judged in-process."""
    from diarykit import TINY_PROGRAM, make_diary

    wrong = TINY_PROGRAM.replace("return a + b", "return a - b").replace("import argparse\n",
                                                                         "import argparse\n" + REPORT_REWRITER)
    root = make_diary(tmp_path / "diary", {"00-base": (TINY_PROGRAM, None, "ok"), "01-liar": (wrong, "00-base", "ok")})
    done = run_diary(root, "measure")
    assert done.returncode == 1, done.stdout + done.stderr
    tests = verdict(root, "01-liar")["tests"]
    assert tests["judged"] == "in-process" and tests["status"] == "error"
    assert tests["reason"] == "pytest exited 1 (tests failed) for a report with 0 failed and 0 errors"


def _tiny() -> str:
    from diarykit import TINY_PROGRAM

    return TINY_PROGRAM


def test_an_edit_during_measure_is_never_recorded_as_the_undone_files(tmp_path: Path) -> None:
    """Case 6: the author breaks the snapshot while measure starts, and undoes it afterwards."""
    from diarykit import TINY_PROGRAM, make_diary

    root = make_diary(tmp_path / "diary", {"00-base": (TINY_PROGRAM, None, "ok"),
                                           "01-copy": (TINY_PROGRAM, "00-base", "ok")})
    program = root / "code/snapshots/01-copy/prog.py"
    broken = TINY_PROGRAM.replace("return a + b", "return a - b")

    def progress(event: str, snap_id: str, record: object) -> None:
        if event == "planned":
            program.write_text(broken)  # after the staleness check, before anything is read for judging
        elif event == "done" and snap_id == "01-copy":
            program.write_text(TINY_PROGRAM)  # undone while the others are still measured

    report = measure_all(Project.load(root), progress=progress, jobs=1)
    record = report.records["01-copy"]
    assert record.verdict.status == "broken"  # what ran was the edit: judged as it ran
    snapshot = next(s for s in discover_snapshots(load_settings(root)) if s.id == "01-copy")
    assert record.produced_by.content != snapshot.content_hash()[:16]
    again = measure_all(Project.load(root))
    assert "01-copy" in again.measured and again.records["01-copy"].verdict.status == "ok"


def test_remembered_answers_parse(tmp_path: Path) -> None:
    """The forged answers are the baseline's real answers: only the probe can tell them apart."""
    answers = json.loads(remembered_answers(tmp_path, "42"))
    assert "probe" in answers and "error" not in answers["gradients"]


@pytest.mark.parametrize(("line", "message"), [
    ("driver: ../outside.py", "'../outside.py' must be a path inside the repository"),
    ("driver: tests/program/nope.py", "driver script 'tests/program/nope.py' does not exist"),
    ("probes: -1", "must be between 0 and 16, not -1"),
    ("allowed_skips: skip-everything", "allowed_skips"),
    ("comments_min_percent: 101", "must be between 0 and 100, not 101"),
])
def test_the_judges_settings_are_checked(tmp_path: Path, line: str, message: str) -> None:
    """A mistake in the judge's settings is bad input: one line naming file and line, exit 2, nothing written."""
    from diarykit import make_diary

    root = make_diary(tmp_path / "diary")
    config = root / "code/diary.yml"
    config.write_text(config.read_text() + line + "\n")
    assert config.read_text().splitlines()[11] == line
    done = run_diary(root, "measure")
    assert done.returncode == 2 and not (root / "_data").exists()
    [error] = done.stderr.strip().splitlines()
    assert error.startswith(f"{config}:12") and ": error: " in error and message in error, error


def test_a_suite_that_only_skips_passes_nothing(tmp_path: Path) -> None:
    from diarykit import make_diary

    root = make_diary(tmp_path / "diary", {"00-base": (_tiny(), None, "ok")})
    write(root / "tests/program/test_tiny.py", "import pytest\n\n\ndef test_later():\n    pytest.skip('later')\n")
    config = root / "code/diary.yml"
    config.write_text(config.read_text() + "allowed_skips: ['*']\n")
    assert run_diary(root, "measure").returncode == 1
    tests = verdict(root, "00-base")["tests"]
    assert (tests["status"], tests["reason"]) == ("error", "no test passed")
