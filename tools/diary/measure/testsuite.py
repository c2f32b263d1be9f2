"""Stage "measure: test": the program's behavioural test suite run against one snapshot.

The suite is the folder `tests:` of `code/diary.yml` names, or none (`tests: none`: the record says
`judged: none`, and the verdict rests on the run, the comparison of its output and the rules). Its
results are read from pytest's JUnit XML (never from console text, which changes between pytest
versions) and from pytest's exit status. Two ways:

- **driver** (`driver:` in `code/diary.yml`; the way this diary works): the verdict is decided
  where the program never runs. The driver script runs beside the snapshot in its sandbox and
  writes answers (JSON); the baseline's answers come from its own sandbox; then pytest runs in a
  third sandbox holding only the two answer files (no snapshot, no baseline), and writes its report
  there. Nothing the program does can change what pytest reports.
- **in-process** (no driver: the user's own pytest suite): pytest imports the snapshot itself,
  found through the environment (`DIARY_SNAPSHOT`, `DIARY_ENTRY`, `DIARY_ARGS`, ...; see
  docs/architecture.md). The record says `judged: in-process`, because code of the snapshot can then
  rewrite the report.

Either way, a test that is skipped or xfailed is a failure unless `allowed_skips` in
`code/diary.yml` names it (fnmatch patterns on `file::test` ids), pytest must exit 0, and the
report must hold as many test cases as it says it collected.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from diary.measure.judge import copy_data, guarded, with_setting_hint
from diary.measure.sandbox.run import clean_environment, raise_for_infrastructure, run_sandboxed
from diary.measure.sandbox.supervise import RunResult
from diary.project.config import Settings
from diary.project.records import Failure, Tests

if TYPE_CHECKING:
    from diary.measure.judge import Judge, Staged

MESSAGE_LIMIT = 2000  # characters kept of each failure message
RAN_LIMIT = 1000  # names of tests that ran, kept in the record (the counts cover the rest)
ADDRESS = re.compile(r"\b0x[0-9a-f]{6,16}\b")


def scrub(text: str, workdir: Path) -> str:
    """Make output reproducible and private: the temporary directory's path and memory addresses
    change on every run (and would publish the machine's paths), so both become placeholders."""
    text = text.replace(str(workdir) + "/", "").replace(str(workdir), ".")
    return ADDRESS.sub("0x…", text)


@dataclass
class TestOutcome:
    """What pytest said about the suite for one snapshot."""

    status: str  # "ok" | "failed" | "error" (the suite itself could not run)
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    reason: str = ""
    failures: list[dict[str, str]] = field(default_factory=list)
    skipped_ids: list[str] = field(default_factory=list)
    collected: int | None = None  # what pytest says it ran (the report's "tests" attribute)
    judged: str = "in-process"  # none (no suite) | driver | in-process
    ran: list[str] = field(default_factory=list)  # the tests that ran (passed, failed or in error)
    extra_seconds: float = 0.0  # the driver's run, beside pytest's
    extra_cpu_s: float = 0.0
    probe_problem: str = ""  # the driver's probe answers differ from the baseline's
    probes: dict | None = None  # the probe verdict (judge.py), stored beside the tests in the record

    def to_record(self, publish: Callable[[str], str]) -> Tests:
        """The record's part: what a reader may see (`publish` scrubs the host's paths from text)."""
        return Tests(
            status=self.status, passed=self.passed, failed=self.failed, errors=self.errors, skipped=self.skipped,
            seconds=round(self.seconds, 2), cpu_s=round(self.cpu_s, 2), reason=publish(self.reason),
            failures=tuple(Failure(f["test"], publish(f["message"])) for f in self.failures), judged=self.judged,
            ran=tuple(self.ran[:RAN_LIMIT]),
        )


def parse_junit(xml_bytes: bytes, workdir: Path | None = None) -> TestOutcome:
    """Count outcomes from a JUnit XML report; a malformed report is an 'error' outcome."""
    try:
        root = ET.fromstring(xml_bytes)
    except ET.ParseError as exc:
        return TestOutcome(status="error", reason=f"unreadable JUnit XML: {exc}")
    outcome = TestOutcome(status="ok")
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    try:
        outcome.collected = sum(int(suite.get("tests", "0")) for suite in suites)
    except ValueError:
        outcome.collected = None
    for case in root.iter("testcase"):
        name = "::".join(filter(None, [case.get("classname", ""), case.get("name", "")]))
        failure = case.find("failure")
        error = case.find("error")
        if failure is not None or error is not None:
            node = failure if failure is not None else error
            assert node is not None
            message = node.get("message") or (node.text or "").strip().splitlines()[-1:] or [""]
            if isinstance(message, list):
                message = message[0]
            message = scrub(str(message), workdir) if workdir else str(message)
            outcome.failures.append({"test": name, "message": message[:MESSAGE_LIMIT]})
            if failure is not None:
                outcome.failed += 1
            else:
                outcome.errors += 1
        elif case.find("skipped") is not None:
            outcome.skipped += 1
            outcome.skipped_ids.append(name)
        else:
            outcome.passed += 1
        if case.find("skipped") is None:
            outcome.ran.append(name[:MESSAGE_LIMIT])
    if outcome.failed or outcome.errors:
        outcome.status = "failed"
    elif outcome.passed == 0 and outcome.skipped == 0:
        outcome.status = "error"
        outcome.reason = "the suite collected no tests"
    return outcome


PYTEST_EXIT = {0: "ok", 1: "tests failed", 2: "interrupted", 3: "internal error", 4: "usage error",
               5: "no tests collected"}
ANSWERS_LIMIT_BYTES = 16 * 2**20


def _pytest_argv(settings: Settings, junit: Path) -> list[str]:
    return [
        settings.interpreter, "-m", "pytest", str(settings.tests_dir), "-q", "-p", "no:cacheprovider",
        "--confcutdir", str(settings.tests_dir), "-o", "addopts=", "--rootdir", str(settings.tests_dir),
        f"--junitxml={junit}",
    ]


def _read_outcome(result: RunResult, junit: Path, work: Path) -> TestOutcome:
    if result.status in ("timeout", "infrastructure"):
        return TestOutcome(status="error", reason=f"test suite {with_setting_hint(result, 'test_timeout').reason}")
    if junit.is_file():
        return parse_junit(junit.read_bytes(), work)
    tail = result.stderr_text().strip().splitlines()[-1:] or result.stdout_text().strip().splitlines()[-1:]
    reason = scrub(f"pytest wrote no report ({result.reason or 'no reason'}): {''.join(tail)}", work)
    return TestOutcome(status="error", reason=reason[:300])


# pytest loads no plugin by itself: the suite's own conftest.py names any it needs (`pytest_plugins`).
# What happens to be installed beside the tool (hypothesis, xdist, playwright: its own test tools)
# neither changes a verdict nor costs every snapshot's judge its import (about 0.4 s of CPU of the
# 0.55 s the judging pytest took; benchmarks/judge_cpu.py).
PYTEST_ENVIRONMENT = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def _run_pytest(settings: Settings, work: Path, env: dict[str, str], mode: str) -> tuple[TestOutcome, RunResult]:
    """pytest over the suite in `work`, in the sandbox; its JUnit report is the one file that comes back."""
    junit = work / "junit.xml"
    result = run_sandboxed(
        _pytest_argv(settings, junit), workdir=work, timeout=settings.test_timeout,
        memory_mb=max(settings.memory_mb, 1024), output_bytes=settings.output_kb * 1024,
        env={**env, **PYTEST_ENVIRONMENT}, mode=mode,
        readable=[settings.tests_dir],
        outputs=[junit.name],  # under bwrap the run works on a copy: only this comes back
    )
    return _read_outcome(result, junit, work), result


def enforce(outcome: TestOutcome, result: RunResult, settings: Settings) -> TestOutcome:
    """The rules the report alone does not show: pytest's exit status, the count, skips."""
    if outcome.status == "error":
        return outcome
    problems = []
    cases = outcome.passed + outcome.failed + outcome.errors + outcome.skipped
    if outcome.collected is not None and outcome.collected != cases:
        problems.append(f"the report lists {cases} test cases but says {outcome.collected} ran")
    code = result.exit_code
    expected_code = 1 if (outcome.failed or outcome.errors) else 0
    if code != expected_code:
        meaning = PYTEST_EXIT.get(code, "unknown") if code is not None else (result.reason or "no exit status")
        problems.append(f"pytest exited {code} ({meaning}) "
                        f"for a report with {outcome.failed} failed and {outcome.errors} errors")
    forbidden = [t for t in outcome.skipped_ids if not any(fnmatch.fnmatchcase(t, p) for p in settings.allowed_skips)]
    if forbidden:
        outcome.failures.extend({"test": t, "message": "skipped or xfailed (not in allowed_skips)"}
                                for t in forbidden[:50])
        problems.append(f"{len(forbidden)} test(s) skipped or xfailed")
    if outcome.passed == 0 and not (outcome.failed or outcome.errors):
        problems.append("no test passed")
    if problems:
        only_skips = bool(forbidden) and len(problems) == 1
        outcome.status = "failed" if only_skips else "error"
        outcome.reason = "; ".join(problems)
    return outcome


def no_suite_run(mode: str) -> RunResult:
    """What stands for pytest's run when there is no suite: nothing ran, nothing failed."""
    return RunResult(status="ok", reason="", exit_code=0, signal=None, wall_s=0.0, cpu_s=0.0, peak_mb=0.0,
                     stdout=b"", stderr=b"", stdout_truncated=False, stderr_truncated=False, stdout_sha256="",
                     sandbox=mode)


def collected_nothing(outcome: TestOutcome, result: RunResult) -> bool:
    """pytest found no test in the suite (exit status 5, or a report of none): a fault of the suite."""
    return outcome.judged != "none" and (result.exit_code == 5 or outcome.collected == 0)


def run_test_suite(
    staged: Staged, settings: Settings, mode: str, judge: Judge | None = None,
) -> tuple[TestOutcome, RunResult]:
    """Run the suite against a staged snapshot (judge.Staged); never raises for test trouble."""
    if settings.suite_kind == "none":
        outcome, result = TestOutcome(status="ok", judged="none"), no_suite_run(mode)
    elif settings.driver and judge is not None:
        outcome, result = _run_with_driver(staged, settings, mode, judge)
    else:
        baseline = judge.baseline if judge is not None else None
        outcome, result = _run_in_process(staged, baseline, settings, mode)
    if outcome.judged != "none":
        outcome = enforce(outcome, result, settings)
    outcome.seconds, outcome.cpu_s = result.wall_s, result.cpu_s
    if judge is not None:
        outcome.probes = judge.probes(staged)
        if outcome.probe_problem and outcome.probes["identical"]:
            outcome.probes = {**outcome.probes, "identical": False, "reason": outcome.probe_problem, "status": "failed"}
        outcome.seconds += outcome.extra_seconds
        outcome.cpu_s += outcome.extra_cpu_s
    return outcome, result


def _run_in_process(
    staged: Staged, baseline: Staged | None, settings: Settings, mode: str,
) -> tuple[TestOutcome, RunResult]:
    """pytest imports the snapshot itself (no driver configured): the report is the program's to write."""
    with tempfile.TemporaryDirectory(prefix=f"diary-test-{staged.id}-") as tmp:
        work = Path(tmp)
        staged.write(work / "snapshot")
        (baseline or staged).write(work / "baseline")
        copy_data(settings, staged, work)  # pytest's working directory holds the data, as a run's does
        env = clean_environment(work, {
            "DIARY_SNAPSHOT": str(work / "snapshot"),
            "DIARY_ENTRY": staged.entry,
            "DIARY_ARGS": json.dumps(settings.command_args(staged.meta.args)),
            "DIARY_BASELINE": str(work / "baseline"),
            "DIARY_BASELINE_ENTRY": (baseline or staged).entry,
            "DIARY_PYTHON": settings.interpreter,
        })
        outcome, result = _run_pytest(settings, work, env, mode)
        outcome.judged = "in-process"
        return outcome, result


def drive(staged: Staged, settings: Settings, mode: str, seed: int) -> tuple[bytes | None, RunResult]:
    """Run the driver beside `staged` in its own sandbox; its answers (untrusted bytes), or None."""
    with tempfile.TemporaryDirectory(prefix=f"diary-drive-{staged.id}-") as tmp:
        work = Path(tmp)
        staged.write(work / "snapshot")
        copy_data(settings, staged, work)
        answers = work / "answers.json"
        # Under the run-time guard (judge.GUARD): the snapshot's code is what lies in snapshot/.
        argv = guarded(settings, work, work / "snapshot", str(settings.root / settings.driver),
                       ["snapshot", staged.entry, answers.name, str(seed)], staged.files)
        result = run_sandboxed(
            argv, workdir=work, timeout=settings.test_timeout, memory_mb=max(settings.memory_mb, 1024),
            output_bytes=settings.output_kb * 1024, env=clean_environment(work), mode=mode,
            readable=[settings.tests_dir, (settings.root / settings.driver).parent],
            outputs=[answers.name],  # under bwrap the run works on a copy: only this comes back
        )
        raise_for_infrastructure(result, f"the driver of snapshot {staged.id!r}")  # no verdict on the program
        result = with_setting_hint(result, "test_timeout")
        if not answers.is_file() or answers.is_symlink() or answers.stat().st_size > ANSWERS_LIMIT_BYTES:
            return None, result
        return answers.read_bytes(), result


def split_probe(answers: bytes | None) -> tuple[bytes | None, str | None]:
    """(the answers without their probe section, a digest of the probe section): both untrusted."""
    if answers is None:
        return None, None
    try:
        data = json.loads(answers)
    except (ValueError, RecursionError):
        return answers, None
    if not isinstance(data, dict):
        return answers, None
    probe = data.pop("probe", None)
    digest = hashlib.sha256(json.dumps(probe, sort_keys=True).encode()).hexdigest() if probe is not None else None
    return json.dumps(data).encode(), digest


def _run_with_driver(staged: Staged, settings: Settings, mode: str, judge: Judge) -> tuple[TestOutcome, RunResult]:
    seed = judge.driver_seed
    driver_run: RunResult | None
    if staged.id == judge.baseline.id:
        base_answers, base_run = judge.baseline_answers(lambda b: drive(b, settings, mode, seed))
        ours, driver_run = base_answers, base_run  # the baseline's driver ran once, counted here
    else:
        # Our own answers first: the baseline's are usually ready by then (no core waits for them).
        ours, driver_run = drive(staged, settings, mode, seed)
        base_answers, _ = judge.baseline_answers(lambda b: drive(b, settings, mode, seed))
    ours_plain, ours_probe = split_probe(ours)
    base_plain, base_probe = split_probe(base_answers)
    with tempfile.TemporaryDirectory(prefix=f"diary-judge-{staged.id}-") as tmp:
        work = Path(tmp)
        (work / "answers").mkdir()
        observed, baseline_observed = work / "answers" / "snapshot.json", work / "answers" / "baseline.json"
        observed.write_bytes(ours_plain if ours_plain is not None else b"null")
        baseline_observed.write_bytes(base_plain if base_plain is not None else b"null")
        # The seed the driver drew its questions from (fresh when probes are on): the tests draw the
        # same questions, so an answer remembered from another measure answers another question.
        env = clean_environment(work, {"DIARY_OBSERVED": str(observed),
                                       "DIARY_BASELINE_OBSERVED": str(baseline_observed),
                                       "DIARY_QUESTIONS_SEED": str(seed)})
        outcome, result = _run_pytest(settings, work, env, mode)
    outcome.judged = "driver"
    if driver_run is not None:
        outcome.extra_seconds, outcome.extra_cpu_s = driver_run.wall_s, driver_run.cpu_s
        if ours is None:
            why = driver_run.reason or "it wrote no answers"
            outcome.status, outcome.reason = "error", f"the driver gave no answers ({why})"[:300]
    if base_probe is None or ours_probe != base_probe:
        outcome.probe_problem = "the driver's answers on a fresh seed differ from the baseline's"
    return outcome, result
