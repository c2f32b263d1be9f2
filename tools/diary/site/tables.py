"""The progress tables: the whole diary's, and each post's window onto it.

A post's table shows a bounded window, not every snapshot so far: the post's own snapshots, their
parents, the ancestors their changes are measured against, and the baseline. Its figures (best so
far included) are still computed over the whole diary; only the rows are chosen. A table per post
that listed every earlier snapshot grew with the square of the diary's length."""

from __future__ import annotations

from diary.core.contract import PROGRESS_TABLE_PATH, snapshot_page_path, table_partial_path
from diary.core.escape import escape_markdown_inline
from diary.project.pages import Page
from diary.site.model import Diary, Snapshot
from diary.site.templating import identity, render_table, signed


def snapshot_link(snap: Snapshot, bold: bool = False) -> str:
    # A link from the project root to the page's source: both engines turn it into a relative link
    # to the page's .html, wherever the partial is included.
    link = f"[{escape_markdown_inline(snap.id)}](/{snapshot_page_path(snap.id)})"
    return f"**{link}**" if bold else link


def struck(text: str, broken: bool) -> str:
    """A broken snapshot's change is shown but not counted: struck through and in parentheses."""
    return f"~~({text})~~" if broken and text else text


def progress_table(diary: Diary, snapshots: list[Snapshot], definitions: list[str], covered: set[str],
                   caption: str | None = None) -> str:
    """One row per snapshot: lines, changes, definitions, comments, behaviour, tests, time, status."""
    header = ["snapshot", "title", "code", "comment", "blank", "vs parent", "vs baseline", "best so far",
              *(f"{escape_markdown_inline(name)} code" for name in definitions),
              "comments kept", "identical", "tests", "CPU (wall)", "tokens", "status"]
    right = {2, 3, 4, 5, 6, 7, *range(8, 8 + len(definitions)), 8 + len(definitions) + 3, 8 + len(definitions) + 4}
    rows = []
    for snap in snapshots:
        m = diary.metrics[snap.id]
        per_definition = [str(found[1].code) if (found := diary.definition_named(snap, name)) else "—"
                          for name in definitions]
        tests = ("no suite" if snap.record.tests.judged == "none"
                 else "did not run" if m.tests_status == "error" and m.tests_total == 0
                 else f"{m.tests_passed} passed" + (f", {m.tests_failed} failed" if m.tests_failed else ""))
        status = "ok" if not snap.broken else "**broken**: " + escape_markdown_inline(m.first_reason)
        rows.append([
            snapshot_link(snap, bold=snap.id in covered) + alternative_note(diary, snap),
            escape_markdown_inline(snap.meta.title),
            str(m.code), str(m.comment), str(m.blank),
            struck(signed(m.vs_parent), snap.broken) if m.vs_parent is not None else "—",
            # Lines alone reward cramming: the tokens saved stand beside the lines saved.
            struck(f"{signed(m.vs_baseline)} lines, {signed(m.tokens_vs_baseline)} tokens", snap.broken)
            if snap is not diary.baseline else "—",
            str(m.best_so_far) if m.best_so_far is not None else "—",
            *per_definition,
            f"{m.comments_kept}/{m.comments_total} ({m.comments_percent:.1f}%)",
            escape_markdown_inline(identity(m.identical, m.normalised_by, bool(diary.settings.normalise))), tests,
            f"{m.cpu_s:.2f} s ({m.run_s:.2f} s)", str(m.tokens), status,
        ])
    if caption is None:
        last = snapshots[-1].id if snapshots else ""
        caption = f"Every snapshot up to {escape_markdown_inline(last)}."
    caption += (" Changes count code lines against the nearest ancestor that works and against the "
                "baseline (beside them, code tokens: cramming saves lines, never tokens); a broken "
                "snapshot's change is struck through and never counted, and the best so far ignores it.")
    return render_table(header, rows, right, caption, kind="progress")


def alternative_note(diary: Diary, snap: Snapshot) -> str:
    """Beside an alternative's id, whose alternative it is: in diary order an alternative follows the
    last snapshot of its elder sibling's line, and is no step after it."""
    parent = diary.by_id.get(snap.meta.parent or "")
    if parent is None or not diary.alternatives(parent):
        return ""
    return f" (alternative of {escape_markdown_inline(parent.id)})"


def whole_diary_caption(diary: Diary) -> str:
    """The progress table's caption: every snapshot, and which is the best (the shortest that works)."""
    best = diary.best
    caption = ("Every snapshot, parents before children. " + (
        "No snapshot works yet, so there is no best." if best is None else
        f"The best is {escape_markdown_inline(best.id)}, the shortest snapshot that works ({best.code} code lines)."))
    if not diary.is_chain:
        caption += (" Several children of one parent are alternatives, not steps: each is measured "
                    "against the parent, and its page compares it with the other alternatives.")
    return caption


def post_window(diary: Diary, covered: list[str]) -> list[Snapshot]:
    """The rows of a post's table, in diary order: the baseline, the post's snapshots, their parents
    and the nearest working ancestors their changes are measured against."""
    wanted = {diary.baseline.id}
    for snap_id in covered:
        snap = diary.by_id[snap_id]
        wanted.add(snap_id)
        if snap.meta.parent is not None:
            wanted.add(snap.meta.parent)
        reference = diary.metrics[snap_id].reference
        if reference is not None:
            wanted.add(reference)
    return [snap for snap in diary.snapshots if snap.id in wanted]


def progress_tables(diary: Diary, pages: list[Page]) -> dict[str, str]:
    """The whole diary's table, and each post's window: its snapshots bold."""
    tables = {PROGRESS_TABLE_PATH: progress_table(diary, diary.snapshots, [], set(), whole_diary_caption(diary))}
    for post in pages:
        known = [snap_id for snap_id in post.snapshots if snap_id in diary.index]
        if post.name is not None and known:  # an unknown snapshot is one of the pages' problems
            caption = (f"The snapshots of this post ({', '.join(escape_markdown_inline(s) for s in known)}), "
                       "their parents and the baseline; the whole diary is in the progress table.")
            tables[table_partial_path(post.name)] = progress_table(
                diary, post_window(diary, known), post.definitions, set(known), caption)
    return tables
