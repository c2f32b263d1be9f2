"""Stage "measure: test": the program's behavioural test suite run against one snapshot.

The suite lives in `tests/program/` and is run by pytest inside the sandbox; its results are read
from pytest's JUnit XML (never from console text, which changes between pytest versions).
"""

from __future__ import annotations

import re
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .config import Settings
from .discover import SnapshotMeta
from .safefs import copy_file
from .sandbox import RunResult, clean_environment, run_sandboxed

MESSAGE_LIMIT = 2000  # characters kept of each failure message
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

    def as_dict(self) -> dict:
        return {
            "status": self.status, "passed": self.passed, "failed": self.failed, "errors": self.errors,
            "skipped": self.skipped, "seconds": round(self.seconds, 2), "cpu_s": round(self.cpu_s, 2),
            "reason": self.reason,
            "failures": self.failures,
        }


def copy_snapshot(snapshot: SnapshotMeta, target: Path) -> None:
    """Copy a snapshot's source files (not its metadata) into `target`."""
    for name in snapshot.files:
        copy_file(snapshot.directory / name, target / name)  # never through a link (safefs)


def copy_data_files(settings: Settings, target: Path) -> None:
    """Copy the configured data files at their paths relative to `code/` (e.g. data/names.txt)."""
    for name in settings.data_files:
        copy_file(settings.code_dir / name, target / name)


def parse_junit(xml_bytes: bytes, workdir: Path | None = None) -> TestOutcome:
    """Count outcomes from a JUnit XML report; a malformed report is an 'error' outcome."""
    try:
        root = ET.fromstring(xml_bytes)
    except ET.ParseError as exc:
        return TestOutcome(status="error", reason=f"unreadable JUnit XML: {exc}")
    outcome = TestOutcome(status="ok")
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
        else:
            outcome.passed += 1
    if outcome.failed or outcome.errors:
        outcome.status = "failed"
    elif outcome.passed == 0:
        outcome.status = "error"
        outcome.reason = "the suite collected no tests"
    return outcome


def run_test_suite(
    snapshot: SnapshotMeta, baseline: SnapshotMeta, settings: Settings, mode: str,
) -> tuple[TestOutcome, RunResult]:
    """Run `tests/program` against `snapshot` in a private directory; never raises for test trouble."""
    with tempfile.TemporaryDirectory(prefix=f"diary-test-{snapshot.id}-") as tmp:
        work = Path(tmp)
        copy_snapshot(snapshot, work / "snapshot")
        copy_snapshot(baseline, work / "baseline")
        copy_data_files(settings, work)
        junit = work / "junit.xml"
        argv = [
            settings.interpreter, "-m", "pytest", str(settings.tests_dir), "-q", "-p", "no:cacheprovider",
            "--confcutdir", str(settings.tests_dir), "-o", "addopts=", "--rootdir", str(settings.tests_dir),
            f"--junitxml={junit}",
        ]
        env = clean_environment(work, {
            "DIARY_SNAPSHOT": str(work / "snapshot"),
            "DIARY_ENTRY": snapshot.entry,
            "DIARY_BASELINE": str(work / "baseline"),
            "DIARY_BASELINE_ENTRY": baseline.entry,
            "DIARY_PYTHON": settings.interpreter,
        })
        result = run_sandboxed(
            argv, workdir=work, timeout=settings.test_timeout, memory_mb=max(settings.memory_mb, 1024),
            output_bytes=settings.output_kb * 1024, env=env, mode=mode, readable=[settings.tests_dir],
            outputs=[junit.name],  # under bwrap the run works on a copy: only this comes back
        )
        if result.status in ("timeout", "infrastructure"):
            outcome = TestOutcome(status="error", reason=f"test suite {result.reason}")
        elif junit.exists():
            outcome = parse_junit(junit.read_bytes(), work)
        else:
            tail = result.stderr_text().strip().splitlines()[-1:] or result.stdout_text().strip().splitlines()[-1:]
            reason = scrub(f"pytest wrote no report ({result.reason or 'no reason'}): {''.join(tail)}", work)
            outcome = TestOutcome(status="error", reason=reason[:300])
        outcome.seconds = result.wall_s
        outcome.cpu_s = result.cpu_s
        return outcome, result
