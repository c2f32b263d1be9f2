"""The generated pages under snapshots/: one per snapshot, and their index."""

from __future__ import annotations

from diary.core.contract import PAGE_MARKER, PAGES_DIR, code_partial_path, diff_partial_path, raw_file_path
from diary.core.errors import DiaryError
from diary.core.escape import escape_markdown_inline, link_target, metadata_text, shortcode_argument
from diary.measure.summary import grouped_reasons
from diary.project.records import Run, best_snapshot
from diary.site.model import Diary, Snapshot
from diary.site.tables import struck
from diary.site.templating import front_matter, identity, render, render_table, signed, signed_percent

STDOUT_HEAD_SHOWN, STDOUT_TAIL_SHOWN = 25, 25  # of a run's output on its page


def _size(count: int) -> str:
    return f"{count} bytes" if count < 1024 else f"{count / 1024:.1f} KiB"


def snapshot_page(diary: Diary, snap: Snapshot) -> str:
    m = diary.metrics[snap.id]
    record = snap.record
    run, tests, behaviour, verdict = record.run, record.tests, record.behaviour, record.verdict
    parent = diary.by_id.get(snap.meta.parent or "")
    reference = m.reference
    metrics_rows = [
        ["code lines", str(m.code)],
        ["comment lines (comments + docstrings)", str(m.comment)],
        ["blank lines", str(m.blank)],
        ["physical lines", str(m.physical)],
        ["change in code lines against " + (escape_markdown_inline(reference) if reference else "the parent"),
         struck(signed(m.vs_parent), snap.broken) if m.vs_parent is not None else "—"],
        ["change in code lines against the baseline",
         # Struck in parentheses when broken: no parentheses inside them ("(-122 (-79.2%))").
         struck(f"{signed(m.vs_baseline)}" + (", " if snap.broken else " (")
                + f"{signed_percent(m.percent_vs_baseline)}%" + ("" if snap.broken else ")"), snap.broken)],
        ["code tokens (without comments and docstrings)", str(m.tokens)],
        ["characters of those tokens", str(m.characters)],
        ["change in code tokens against the baseline",
         struck(f"{signed(m.tokens_vs_baseline)}" + (", " if snap.broken else " (")
                + f"{signed_percent(m.tokens_percent_vs_baseline)}%" + ("" if snap.broken else ")"), snap.broken)],
        ["comments of the baseline kept",
         f"{m.comments_kept}/{m.comments_total} ({m.comments_percent:.1f}%)"],
        ["output identical to the baseline's",
         escape_markdown_inline(identity(m.identical, m.normalised_by, bool(diary.settings.normalise)))],
        ["CPU time (wall-clock)", f"{m.cpu_s:.2f} s ({m.run_s:.2f} s)"],
        ["peak memory of the program", f"{m.peak_mb:.1f} MB"],
        ["sandbox", escape_markdown_inline(run.sandbox)],
    ]
    metrics_table = render_table(["metric", "value"], metrics_rows, {1},
                                 f"Measured from {escape_markdown_inline(snap.id)}.")
    tests_summary = (f"{tests.passed} passed, {tests.failed} failed, {tests.errors} errors, "
                     f"{tests.skipped} skipped in {tests.seconds:.2f} s.")
    if tests.judged == "none":
        tests_summary = "No test suite (`tests: none`): the verdict rests on the run, its output and the rules."
    if tests.status == "error":
        reason = tests.reason or "no reason given"
        tests_summary += " The suite could not run: " + escape_markdown_inline(reason)
    shown, tail, stdout_note = stdout_excerpt(run)
    for name in snap.meta.files:
        if shortcode_argument("/" + code_partial_path(snap.id, name)) is None:
            raise DiaryError(f"the file name {name!r} cannot be shown on the snapshot's page: an include "
                             "shortcode cannot hold a quote, brace, angle bracket, backslash, backtick or "
                             "line break", file=snap.meta.directory / name, hint="rename the file")
    files = [{"name": name, "raw_href": link_target(raw_file_path(snap.id, name).removeprefix(f"{PAGES_DIR}/")),
              "size": _size(len(snap.raw[name])), "partial": code_partial_path(snap.id, name)}
             for name in snap.meta.files]
    # A download that runs: each data file is published beside the snapshot's files, at the path the
    # program opens it by (outputs.build_outputs), and the page says where it goes and what to run.
    data_files = [{"target": data.target,
                   "href": link_target(raw_file_path(snap.id, data.target).removeprefix(f"{PAGES_DIR}/"))}
                  for data in snap.meta.data_files]
    # Front matter holds only plain text (escape.metadata_text); what is not plain is shown once, in
    # the body, escaped as body Markdown. The note is shown once either way: as the description (both
    # engines print it under the title) or as the body's first paragraph.
    full_title = f"{snap.id}: {snap.meta.title}"
    title = metadata_text(full_title)
    description = metadata_text(snap.meta.note) if snap.meta.note else None
    difference = behaviour.first_difference if not behaviour.identical else None
    return render(
        "snapshot.qmd.j2",
        front_matter=front_matter(
            title=title or metadata_text(snap.id) or "Snapshot",
            date=snap.meta.date.isoformat(),
            description=description,
        ),
        body_title=None if title else full_title,
        marker=PAGE_MARKER,
        parent={"id": parent.id, "href": link_target(f"{parent.id}.qmd")} if parent else None,
        children=[{"id": child.id, "href": link_target(f"{child.id}.qmd")} for child in diary.children(snap)],
        children_label=" · alternatives: " if diary.alternatives(snap) else " · next: ",
        siblings=[{"id": other.id, "href": link_target(f"{other.id}.qmd")}
                  for other in (diary.alternatives(parent) if parent else []) if other is not snap],
        best=snap is diary.best,
        alternatives_table=alternatives_table(diary, snap),
        definitions_table=definitions_table(diary, snap),
        file_sources=file_sources_note(snap),
        note=None if description else snap.meta.note,
        broken=snap.broken, expected_broken=snap.meta.expected_broken, surprise=verdict.surprise,
        reasons=grouped_reasons(record),
        metrics_table=metrics_table,
        first_difference=difference, compared_with=behaviour.compared_with,
        normalised_by=list(behaviour.normalised_by) if behaviour.identical else [],
        normalisations=[{"name": n.name, "what": n.describe()} for n in diary.settings.normalise
                        if behaviour.identical and n.name in behaviour.normalised_by],
        tests_summary=tests_summary, failures=tests.failures, suite=tests.judged,
        probes_passed=record.probes.status == "passed",
        command=run.command, stdout="\n".join(shown), stdout_note=stdout_note,
        stdout_tail="\n".join(tail), stdout_left_out=run.stdout_line_count - len(shown) - len(tail),
        stderr=run.stderr_excerpt.strip("\n"),
        files=files, data_files=data_files,
        parent_diff=diff_partial_path(parent.id, snap.id) if parent else None,
    )


def stdout_excerpt(run: Run) -> tuple[list[str], list[str], str]:
    """The head and the tail of a run's output shown on its page, and what they are: a long
    output's last lines (a result, samples) stay visible, and the middle left out is counted."""
    lines, count = list(run.stdout_lines), run.stdout_line_count
    cut = " of what was captured (the output cap stopped it)" if run.stdout_truncated else ""
    if count <= STDOUT_HEAD_SHOWN + STDOUT_TAIL_SHOWN and len(lines) == count:
        return lines, [], f"all {count} line{'s' * (count != 1)}{cut}"
    head, tail = lines[:STDOUT_HEAD_SHOWN], lines[-STDOUT_TAIL_SHOWN:]
    return head, tail, (f"lines 1 to {len(head)} and {count - len(tail) + 1} to {count} of {count}{cut}; "
                        f"the {count - len(head) - len(tail)} between are left out here")


def alternatives_table(diary: Diary, snap: Snapshot) -> str | None:
    """The children of `snap` when it has several: alternatives, compared with it and each other."""
    alternatives = diary.alternatives(snap)
    if not alternatives:
        return None
    best = best_snapshot({child.id: child.record for child in alternatives}, [child.id for child in alternatives])
    shortest = diary.by_id[best] if best is not None else None
    rows = []
    for child in alternatives:
        m = diary.metrics[child.id]
        rows.append([
            f"[{escape_markdown_inline(child.id)}]({link_target(child.id + '.qmd')})",
            escape_markdown_inline(child.meta.title), str(m.code),
            struck(signed(m.code - snap.code), child.broken),
            struck(signed(m.code - shortest.code), child.broken) if shortest else "—",
            escape_markdown_inline(identity(m.identical, m.normalised_by, bool(diary.settings.normalise))),
            "ok" if not child.broken else "**broken**: " + escape_markdown_inline(m.first_reason),
        ])
    caption = (f"The {len(alternatives)} alternatives of {escape_markdown_inline(snap.id)}: children of one "
               "parent, each another way on from it, not a step after the other. "
               + (f"The shortest that works is {escape_markdown_inline(shortest.id)}." if shortest
                  else "None of them works."))
    return render_table(["alternative", "title", "code", f"vs {escape_markdown_inline(snap.id)}",
                         "vs the shortest alternative", "identical", "status"], rows, {2, 3, 4}, caption)


def definitions_table(diary: Diary, snap: Snapshot) -> str | None:
    """Every top-level class and function, by module and name, with what it continues of the parent's
    (renamed: declared, or matched by similarity and how much), and the parent's that are gone."""
    parent = diary.by_id.get(snap.meta.parent or "")
    if not snap.definitions and (parent is None or not parent.definitions):
        return None
    rows = []
    for key, definition in snap.definitions.items():
        origin = snap.origins.get(key)
        before = parent.definitions.get(origin.parent_key) if parent and origin and origin.parent_key else None
        rows.append([
            escape_markdown_inline(key), definition.kind, escape_markdown_inline(definition.file),
            f"{definition.start}–{definition.end}", str(definition.code),
            signed(definition.code - before.code) if before else "—",
            escape_markdown_inline(origin.describe()) if origin else "—",
        ])
    continued = {origin.parent_key for origin in snap.origins.values()}
    for key, definition in (parent.definitions.items() if parent else []):
        if key not in continued:
            rows.append([escape_markdown_inline(key), definition.kind, "—", "—", "—", signed(-definition.code),
                         "removed"])
    header = ["definition", "kind", "file", "lines", "code",
              f"vs {escape_markdown_inline(parent.id)}" if parent else "", "from the parent"]
    if parent is None:  # the baseline continues nothing
        rows, header = [row[:5] for row in rows], header[:5]
    caption = (f"Top-level classes and functions of {escape_markdown_inline(snap.id)}"
               + (", by module and name" if len(snap.record.lines.files) > 1 else "")
               + (f"; each is followed from {escape_markdown_inline(parent.id)} by name, by a rename "
                  "declared in snapshot.yml, or by the similarity of its body." if parent else "."))
    return render_table(header, rows, {4, 5}, caption)


def file_sources_note(snap: Snapshot) -> list[str]:
    """One sentence per file the diff pairs with a parent's file of another name, or with none."""
    return [f"{escape_markdown_inline(name)}: {escape_markdown_inline(source.describe())}"
            for name, source in snap.file_sources.items() if source.how != "same"]


def snapshot_index(diary: Diary) -> str:
    rows = []
    for snap in diary.snapshots:
        m = diary.metrics[snap.id]
        parent = diary.by_id.get(snap.meta.parent or "")
        rows.append([
            f"[{escape_markdown_inline(snap.id)}]({link_target(snap.id + '.qmd')})", snap.meta.date.isoformat(),
            escape_markdown_inline(snap.meta.title),
            f"[{escape_markdown_inline(parent.id)}]({link_target(parent.id + '.qmd')})" if parent else "—",
            str(m.code), "ok" if not snap.broken else "**broken**: " + escape_markdown_inline(m.first_reason),
        ])
    table = render_table(["snapshot", "date", "title", "parent", "code", "status"], rows, {4},
                         f"{len(diary.snapshots)} snapshots, parents before children.", kind="snapshots")
    return render("snapshot_index.qmd.j2", marker=PAGE_MARKER, table=table,
                  front_matter=front_matter(title="Snapshots",
                                            description="Every snapshot of the program, measured."))
