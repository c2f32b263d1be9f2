"""The table printed at the end of `diary measure`: one row per snapshot; and a verdict's reasons
with the rules' breaches grouped by rule (`grouped_reasons`), as the terminal and the pages show them."""

from __future__ import annotations

import re
import sys

from diary.core.escape import for_terminal
from diary.measure.pipeline import MeasureReport
from diary.measure.rules import describe
from diary.project import records
from diary.project.discover import alternatives
from diary.project.records import Breach, Record

COLUMNS = ("snapshot", "code", "comment", "blank", "identical", "tests", "cpu s", "status", "")


def best_snapshot(report: MeasureReport) -> str | None:
    return records.best_snapshot(report.records, [snap.id for snap in report.snapshots])


def alternatives_of(report: MeasureReport) -> dict[str, str]:
    """Each snapshot that is an alternative, and its parent."""
    return {child: parent for parent, ids in alternatives(report.snapshots).items() for child in ids}


def best_line(report: MeasureReport) -> str:
    best = best_snapshot(report)
    if best is None:
        return "best: none (no snapshot works)"
    total = report.records[best].lines.total
    return (f"best: {best}, {total.code} code lines, {report.records[best].size.total.tokens} code tokens "
            f"(the working snapshot with the fewest {records.BEST_MEASURES['code']})")


def summary_rows(report: MeasureReport) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    best = best_snapshot(report)
    alternatives = alternatives_of(report)
    for snap in report.snapshots:
        record = report.records[snap.id]
        total = record.lines.total
        tests = record.tests
        verdict = record.verdict
        if verdict.surprise:
            note = "UNEXPECTED" if verdict.status == "broken" else "expected broken, but passes"
        else:
            note = "cached" if snap.id in report.cached else "measured"
        if snap.id in report.renormalised:
            note = "renormalised, nothing ran"
        if snap.id in report.relabelled:
            note += " (metadata updated, nothing ran)"
        if snap.id in alternatives:
            note += f", alternative of {alternatives[snap.id]}"
        if snap.id == best:
            note += ", best"
        rows.append((
            snap.id, str(total.code), str(total.comment + total.docstring), str(total.blank),
            # "normalised": identical only after the declared normalisations (never shown as "yes")
            ("yes" if record.behaviour.byte_identical else "normalised") if record.behaviour.identical else "NO",
            "none" if tests.judged == "none" else f"{tests.passed}/{tests.passed + tests.failed + tests.errors}",
            f"{record.run.cpu_s:.2f}", verdict.status, note,
        ))
    return rows


def print_summary(report: MeasureReport) -> None:
    # Ids, reasons and test messages come from the repository and the program: never raw to a terminal.
    rows = [tuple(for_terminal(cell) for cell in row) for row in summary_rows(report)]
    footer = (f"{len(report.measured)} measured, {len(report.cached)} cached"
              + (f", {len(report.renormalised)} renormalised (nothing ran)" if report.renormalised else "")
              + f"{', sandbox ' + report.sandbox if report.measured else ''}; {report.wall_s:.2f} s; "
              + for_terminal(best_line(report)))  # an id comes from the repository
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        table = Table(*COLUMNS, caption=escape(footer))
        for row in rows:
            style = "red" if row[-1] == "UNEXPECTED" or row[-1].startswith("expected") else None
            table.add_row(*(escape(cell) for cell in row), style=style)  # "[link=...]" is text, not markup
        Console().print(table)
        return
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    for row in [COLUMNS, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print(footer)
    for snap in report.snapshots:
        verdict = report.records[snap.id].verdict
        if verdict.surprise:
            print(for_terminal(f"{snap.id}: expected {verdict.expected}, is {verdict.status}: "
                               + ("; ".join(grouped_reasons(report.records[snap.id])) or "all checks pass")))


def surprise_lines(report: MeasureReport) -> list[str]:
    """One line per snapshot whose verdict is not the expected one, with the reasons, for the terminal."""
    lines = []
    for snap_id in report.surprises:
        verdict = report.records[snap_id].verdict
        reasons = "; ".join(grouped_reasons(report.records[snap_id])) or "no reason recorded"
        lines.append(for_terminal(f"{snap_id}: {verdict.status}, but expected {verdict.expected}: {reasons}"))
    return lines


PLACES_SHOWN = 3  # of a rule broken in many places, on the verdict's one line for it
_MORE = re.compile(r"(\d+) more of the same in ")


def grouped_reasons(record: Record) -> list[str]:
    """The verdict's reasons with the rules' breaches grouped by rule, each with its count and its
    first places: a page opens with what broke, not with thirty bullets of one rule."""
    each = {describe(breach) for breach in record.breaches}
    reasons = [reason for reason in record.verdict.reasons if reason not in each]
    by_rule: dict[str, list[Breach]] = {}
    for breach in record.breaches:
        by_rule.setdefault(breach.rule, []).append(breach)
    for rule, breaches in by_rule.items():
        places = [b for b in breaches if b.line]
        more = sum(int(m.group(1)) for b in breaches if not b.line and (m := _MORE.match(b.what)))
        count = len(places) + more + sum(1 for b in breaches if not b.line and not _MORE.match(b.what))
        where: dict[str, list[str]] = {}  # what was found -> where, for the first places
        for b in places[:PLACES_SHOWN]:
            where.setdefault(b.what, []).append(f"{b.file}:{b.line}")
        shown = "; ".join(f"{what} ({', '.join(at)})" for what, at in where.items()) or breaches[0].what
        rest = count - min(len(places), PLACES_SHOWN) if places else count - 1
        reasons.append(f"rule {rule}, broken {count} time{'s' * (count != 1)}: {shown}"
                       + (f" (and {rest} more)" if rest > 0 else ""))
    return reasons
