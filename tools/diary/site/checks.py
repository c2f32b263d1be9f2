"""`_generated/checks.md`: exactly what the diary checks, from the settings and the records.

About pages include it instead of describing the checks by hand, so they cannot claim a check that
did not run: the run command is the records' own, the tests are those that ran on the baseline, and
the probes are described as they were run (or not, and why).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from diary.measure.rules import RULES, code_files, longest_line
from diary.project.normalise import Normalisation
from diary.site.model import Diary
from diary.site.templating import render

# What each rule of rules.py refuses, in a reader's words (`comments` takes its threshold).
RULE_TEXT = {
    "hidden-code": "every file of a snapshot is a Python module (a file that parses as Python counts as "
                   "code, whatever its extension)",
    "dynamic-code": "no exec, eval or compile, nor a way to reach them",
    "code-loader": "no import that loads, decodes or decompresses code, and no starting other programs",
    "outside-import": "no import from outside the snapshot and no change to sys.path",
    "joined-statements": "no statements joined with ';' or written on their header's line",
    "blank-lines": "PEP 8 blank lines around and inside definitions",
    "indentation": "indentation of 4 spaces, never tabs",
    "comments": "at least {percent}% of the baseline's comments kept, word for word",
    "line-length": "no line longer than {limit} characters ({limit_source}): cramming saves no line",
}
NORMALISATION_TEXT = {
    "line-endings": "line endings (CRLF read as LF)",
    "carriage-returns": "carriage returns (a CR counts as a line end; a CR next to a line end adds none)",
}


def _normalisations(normalise: Sequence[Normalisation]) -> list[str]:
    """The declared normalisations of output before comparison (`normalise:`), in a reader's words;
    none: byte for byte."""
    return [NORMALISATION_TEXT[item.name] if not item.pattern
            else f"{item.name}: text matching /{item.pattern}/ replaced by '{item.replace}'" for item in normalise]


def _by_file(names: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """Test ids (`module::test`, as the JUnit report names them) grouped by module, in the order run."""
    groups: dict[str, list[str]] = {}
    for name in names:
        module, _, test = name.rpartition("::")
        groups.setdefault(module, []).append(test)
    return list(groups.items())


def _line_limit(diary: Diary) -> dict[str, Any]:
    """The line-length rule's limit, and where it comes from, as judge.rule_breaches sets it."""
    if diary.settings.max_line_length:
        return {"limit": diary.settings.max_line_length, "limit_source": "max_line_length in code/diary.yml"}
    return {"limit": longest_line(code_files(diary.baseline.raw)), "limit_source": "the baseline's longest line"}


def checks_context(diary: Diary) -> dict[str, Any]:
    """What the partial says, as plain data (tested directly)."""
    settings = diary.settings
    baseline = diary.baseline
    commands: dict[str, list[str]] = {}
    for snap in diary.snapshots:
        commands.setdefault(snap.record.run.command, []).append(snap.id)
    data: dict[str, list[str]] = {}
    for snap in diary.snapshots:
        for file in snap.meta.data_files:
            data.setdefault(file.describe(), []).append(snap.id)
    everyone = len(diary.snapshots)
    tests = baseline.record.tests
    probes = baseline.record.probes
    return {
        "baseline": baseline.id,
        "commands": [{"command": command, "snapshots": ids if len(ids) < everyone else []}
                     for command, ids in commands.items()],
        "data_files": [{"file": file, "snapshots": ids if len(ids) < everyone else []} for file, ids in data.items()],
        "timeout": settings.timeout, "memory_mb": settings.memory_mb, "output_kb": settings.output_kb,
        "test_timeout": settings.test_timeout,
        "sandbox": baseline.record.run.sandbox,
        "normalisations": _normalisations(settings.normalise),
        "rules": [(name, RULE_TEXT[name].format(percent=f"{settings.comments_min_percent:g}", **_line_limit(diary)))
                  for name in RULES
                  if name != "comments" or settings.comments_min_percent > 0],
        "allow": list(settings.allow),
        "judge": {"suite": baseline.record.produced_by.suite, "settings": baseline.record.produced_by.settings,
                  "measure": baseline.record.produced_by.measure},
        "suite": tests.judged,
        "tests_folder": settings.tests,
        "driver": settings.driver,
        "tests_ran": _by_file(tests.ran),
        "tests_count": len(tests.ran),
        "allowed_skips": list(settings.allowed_skips),
        "raw_html": settings.raw_html,
        "probes": {"status": probes.status, "runs": probes.runs, "reason": probes.reason,
                   "seed": settings.seed, "steps": settings.steps},
    }


def checks_partial(diary: Diary) -> str:
    return render("checks.md.j2", **checks_context(diary))
