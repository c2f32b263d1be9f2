"""The parts of a record that follow from the snapshot's files and from its measured parts.

`measure` builds every record with these functions; `diary check` calls them again on the committed
files and records, so a hand-edited record (42 code lines, a broken snapshot marked ok) is refused:
what is committed is re-derived, not believed. Cheap by design (counting and the static rules,
milliseconds a snapshot); what needs a run (stdout, tests, probes) is re-derived by
`diary check --rerun`, which measures again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from diary.measure.count import LineCounts, comment_retention, measure_file
from diary.measure.judge import Staged, rule_breaches
from diary.measure.rules import describe
from diary.project.config import Settings
from diary.project.discover import SnapshotMeta
from diary.project.normalise import Normalisation, filter_lines, needed_normalisations

# The record's parts after `schema`, `id`, `key`, `produced_by`, in the order they are written.
RECORD_ORDER = ("snapshot", "lines", "definitions", "comments", "tabs", "run", "behaviour", "tests", "probes",
                "breaches", "verdict")
# The parts that need a run of the program; the rest are derived here.
MEASURED = ("run", "tests", "probes")


def counts(staged: Staged) -> tuple[dict, list[dict], list[str], list[dict]]:
    """Line counts per file and in total, per definition, comments, tab-indented lines: of every file
    the program can load as code (rules.code_files), whatever its extension."""
    total = LineCounts(0, 0, 0, 0, 0)
    per_file: dict[str, dict] = {}
    definitions: list[dict] = []
    comments: list[str] = []
    tabs: list[dict] = []
    for name, text in staged.code().items():
        measures = measure_file(text)  # by content, from the user's cache when another snapshot has the file
        per_file[name] = measures.counts.as_dict()
        total = total + measures.counts
        for definition in measures.definitions:
            definitions.append({"name": definition.name, "kind": definition.kind, "file": name,
                                "start": definition.start, "end": definition.end,
                                **definition.counts.as_dict()})
        comments.extend(measures.comments)
        tabs.extend({"file": name, "line": line} for line in measures.tabs)
    return {"total": total.as_dict(), "files": per_file}, definitions, comments, tabs


def compare_behaviour(run: dict, baseline_run: dict, baseline_id: str,
                      normalisations: Sequence[Normalisation] = ()) -> dict:
    """identical when the stdout hashes agree (and both ran cleanly), byte for byte or under the
    fewest declared normalisations (named in `normalised_by`); else the first differing line."""
    both_ran = run["status"] == "ok" and baseline_run["status"] == "ok"
    same = {"compared_with": baseline_id, "first_difference": None}
    if both_ran and run["stdout_sha256"] == baseline_run["stdout_sha256"]:
        return {"identical": True, "byte_identical": True, "normalised_by": [], **same}
    needed = needed_normalisations(normalisations, run.get("stdout_normalised", {}),
                                   baseline_run.get("stdout_normalised", {})) if both_ran else None
    if needed is not None:
        return {"identical": True, "byte_identical": False, "normalised_by": needed, **same}
    expected = filter_lines(normalisations, baseline_run["stdout_lines"])
    actual = filter_lines(normalisations, run["stdout_lines"])
    for index in range(max(len(expected), len(actual))):
        want = expected[index] if index < len(expected) else "<end of output>"
        got = actual[index] if index < len(actual) else "<end of output>"
        if want != got:
            break
    else:
        index = min(len(expected), len(actual))
        want = got = "<same as far as recorded>"
        if run["status"] != "ok":
            got = f"<run {run['status']}: {run['reason']}>"
    return {"identical": False, "byte_identical": False, "normalised_by": [], "compared_with": baseline_id,
            "first_difference": {"line": index + 1, "expected": want, "actual": got}}


def verdict(snapshot: SnapshotMeta, record: dict) -> dict:
    """broken when the run failed, the behaviour changed, a test or a probe failed, or a rule broke."""
    reasons = []
    run, behaviour, tests = record["run"], record["behaviour"], record["tests"]
    if run["status"] != "ok":
        reasons.append(f"run {run['status']}: {run['reason']}")
    if not behaviour["identical"]:
        diff = behaviour["first_difference"]
        reasons.append(f"output differs from {behaviour['compared_with']} at line {diff['line']}"
                       if diff else "output differs from the baseline")
    if tests["status"] != "ok":
        reasons.append(f"tests {tests['status']}: {tests['failed']} failed, {tests['errors']} errors"
                       + (f" ({tests['reason']})" if tests["reason"] else ""))
    if record["tabs"]:
        reasons.append(f"{len(record['tabs'])} line(s) indented with tabs")
    probes = record["probes"]
    if not probes["identical"]:
        reasons.append(f"probes: {probes['reason']}")
    reasons.extend(describe(b) for b in record["breaches"] if not b["what"].startswith("indented with a tab"))
    status = "broken" if reasons else "ok"
    return {"status": status, "expected": snapshot.expect, "surprise": status != snapshot.expect,
            "reasons": reasons}


def derived_parts(staged: Staged, baseline_comments: list[str], settings: Settings, measured: dict[str, Any],
                  baseline_run: dict, baseline_id: str) -> dict[str, Any]:
    """Every part of the record but the measured ones (`run`, `tests`, `probes`), as plain data."""
    snapshot = staged.meta
    lines, definitions, comments, tabs = counts(staged)
    kept, total, dropped = comment_retention(baseline_comments, comments)
    parts: dict[str, Any] = {
        "snapshot": {
            "title": snapshot.title, "date": snapshot.date.isoformat(), "parent": snapshot.parent,
            "note": snapshot.note, "expect": snapshot.expect, "entry": snapshot.entry, "files": list(snapshot.files),
        },
        "lines": lines,
        "definitions": definitions,
        "comments": {"total": total, "kept": kept, "percent": round(100.0 * kept / total, 1) if total else 100.0,
                     "dropped": dropped},
        "tabs": tabs,
        "behaviour": compare_behaviour(measured["run"], baseline_run, baseline_id, settings.normalise),
        "breaches": rule_breaches(staged, kept, total, settings),
    }
    parts["verdict"] = verdict(snapshot, {**measured, **parts})
    return parts
