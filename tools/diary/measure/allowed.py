"""The baseline defines what the rules allow (rules.py names the breaches).

**The baseline defines what is allowed.** A breach is what a snapshot does that its baseline does
not (`beyond_baseline`): each breach has an allowance (`allowance`: the rule and what was used,
without where: `code-loader: imports os, ...`, `blank-lines: 1 blank line(s) before a top-level
definition, expected 2`), and the baseline's own allowances, with the modules that `allow:` in
`code/diary.yml` names, excuse the same in every snapshot. So an honest baseline never breaches its
own rules (it may use `os`, `sys.stdout`, a third-party package, two-space indentation or one blank
line between functions), and a snapshot is held to the baseline's own style and means, not to PEP 8
or to a list of modules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from diary.measure.rules import check_files
from diary.project.records import Breach

MAX_REPORTED_PER_RULE = 20  # a file of 500 joined lines is named 20 times, then counted


# The module an import breach names: its allowance may come from `allow:` in code/diary.yml.
_IMPORTED = re.compile(r"imports ([\w.]+)")


def allowance(breach: Breach) -> str:
    """What a breach uses, without where (file and line): the unit the baseline allows."""
    return f"{breach.rule}: {breach.what}"


def allowances(baseline_files: dict[str, bytes]) -> frozenset[str]:
    """Everything the baseline itself does that a rule names: what every snapshot may do too."""
    return frozenset(allowance(breach) for breach in check_files(baseline_files))


def beyond_baseline(breaches: Iterable[Breach], allowed: frozenset[str], modules: Iterable[str] = ()) -> list[Breach]:
    """The breaches the baseline does not commit itself, nor `modules` (allowed by the settings)
    excuse; at most MAX_REPORTED_PER_RULE named per rule and file."""
    excused_modules = {name.split(".")[0] for name in modules}
    kept = []
    for breach in breaches:
        if allowance(breach) in allowed:
            continue
        imported = _IMPORTED.match(breach.what) if breach.rule in ("code-loader", "outside-import") else None
        if imported and imported.group(1).split(".")[0] in excused_modules:
            continue
        kept.append(breach)
    return _limit(kept)


def _limit(breaches: list[Breach]) -> list[Breach]:
    kept: list[Breach] = []
    seen: dict[tuple[str, str], int] = {}
    for breach in breaches:
        count = seen.get((breach.rule, breach.file), 0)
        seen[(breach.rule, breach.file)] = count + 1
        if count < MAX_REPORTED_PER_RULE:
            kept.append(breach)
    for (rule, file), count in seen.items():
        if count > MAX_REPORTED_PER_RULE:
            kept.append(Breach(rule, file, 0, f"{count - MAX_REPORTED_PER_RULE} more of the same in {file}"))
    return kept
