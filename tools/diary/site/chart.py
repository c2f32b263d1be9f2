"""The progress charts: SVGs drawn by matplotlib only when their data changed, and their partials.

The whole diary's chart (the progress page) moves with every snapshot. A post's chart is pinned like
its table and its variables: it shows the snapshots up to the post's last one, so a snapshot added
after the post changes the progress page, never the post (check.py refuses a post that includes the
whole diary's chart)."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

from diary.core.contract import (
    CHART_DARK_PATH,
    CHART_PATH,
    post_chart_partial_path,
    post_chart_path,
)
from diary.core.escape import escape_markdown_inline
from diary.project.pages import Page
from diary.project.records import best_snapshot
from diary.site.model import Diary, Snapshot
from diary.site.templating import plural, render

# Bump when the chart's drawing code changes: it is part of the hash that decides whether to redraw.
CHART_VERSION = "3"
# The colours of each scheme: the chart is drawn once per scheme and the page shows the one that
# matches (Quarto's .light-content / .dark-content), since an <img> cannot follow the page's CSS.
THEMES = {
    "light": {"code": "#2c6e9e", "comment": "#9ec3e0", "broken": "#c0392b", "ink": "#222222",
              "background": "white", "bar_fill": "white"},
    "dark": {"code": "#6fb1e3", "comment": "#2f5877", "broken": "#ff7b6b", "ink": "#e6e6e6",
             "background": "none", "bar_fill": "none"},
}
CHART_PATHS = {"light": CHART_PATH, "dark": CHART_DARK_PATH}
CHART_MARK = "<!-- diary-chart-input: {} -->"
CHART_MARK_PATTERN = re.compile(rb"<!-- diary-chart-input: ([0-9a-f]{64}) -->")


def chart_data(diary: Diary, snapshots: list[Snapshot] | None = None) -> dict:
    """Exactly what the chart of `snapshots` (every one by default) shows; its hash decides whether the
    SVG is drawn again."""
    return {
        "version": CHART_VERSION,
        "snapshots": [{"id": snap.id, "code": diary.metrics[snap.id].code,
                       "comment": diary.metrics[snap.id].comment, "broken": snap.broken,
                       "best": diary.metrics[snap.id].best_so_far}
                      for snap in (diary.snapshots if snapshots is None else snapshots)],
    }


def chart_partial(diary: Diary, snapshots: list[Snapshot] | None = None,
                  paths: dict[str, str] = CHART_PATHS) -> str:
    """The chart's partial: both schemes' images, with a caption and alt text from the figures shown."""
    shown = diary.snapshots if snapshots is None else snapshots
    baseline = diary.baseline
    best_id = best_snapshot({snap.id: snap.record for snap in shown}, [snap.id for snap in shown])
    best = diary.by_id[best_id] if best_id is not None else None
    broken = sum(1 for snap in shown if snap.broken)
    scope = "each snapshot" if snapshots is None else f"each snapshot up to {escape_markdown_inline(shown[-1].id)}"
    base_tokens = baseline.record.size.total.tokens
    if best is None:  # a broken snapshot is never presented as the result
        result = (f"{baseline.code} code lines ({base_tokens} code tokens) in {escape_markdown_inline(baseline.id)}; "
                  "no snapshot works yet, so there is no best. ")
        alt_result = f"the baseline has {baseline.code} code lines and no snapshot works"
    else:
        result = (f"from {baseline.code} code lines ({base_tokens} code tokens) in "
                  f"{escape_markdown_inline(baseline.id)} to {best.code} ({best.record.size.total.tokens} tokens) "
                  f"in {escape_markdown_inline(best.id)}, the best (the shortest snapshot that works). ")
        alt_result = (f"code lines go from {baseline.code} in the baseline to {best.code} in the shortest "
                      "working snapshot")
    caption = (f"Code lines (the lower bars) and comment lines (stacked on top) of {scope}: {result}"
               f"Hatched bars are broken snapshots ({broken}), never counted as progress; the line is the "
               "best so far.")
    # Alt text is an attribute: only figures, no ids, so nothing needs escaping in it.
    alt = (f"Bar chart of code and comment lines for {len(shown)} snapshots; {alt_result}; "
           f"{plural(broken, 'broken snapshot')} hatched.")
    return render("chart.md.j2", caption=caption, alt=alt, chart_path=paths["light"], dark_chart_path=paths["dark"])


def post_chart_snapshots(diary: Diary, page: Page) -> list[Snapshot]:
    """The snapshots a post's chart shows: in diary order, up to the post's last snapshot."""
    last = max(diary.index[snap_id] for snap_id in page.snapshots)
    return diary.snapshots[: last + 1]


def post_charts(root: Path | None, diary: Diary, pages: list[Page], wanted: set[str]) -> tuple[dict[str, str | bytes],
                                                                                              bool]:
    """The partial and both SVGs of every post's own chart that some page includes (`wanted`), and
    whether any was drawn. A post whose snapshots are unknown gets none (check_front_matter says why)."""
    files: dict[str, str | bytes] = {}
    drawn = False
    for page in pages:
        if page.name is None or not page.snapshots or post_chart_partial_path(page.name) not in wanted \
                or any(snap_id not in diary.index for snap_id in page.snapshots):
            continue
        shown = post_chart_snapshots(diary, page)
        paths = {theme: post_chart_path(page.name, theme) for theme in CHART_PATHS}
        files[post_chart_partial_path(page.name)] = chart_partial(diary, shown, paths)
        charts, again = chart_files(root, diary, shown, paths)
        files.update(charts)
        drawn = drawn or again
    return files, drawn


def chart_files(root: Path | None, diary: Diary, snapshots: list[Snapshot] | None = None,
                paths: dict[str, str] = CHART_PATHS) -> tuple[dict[str, bytes], bool]:
    """Both schemes' SVGs by path, and whether any was drawn (see chart_bytes)."""
    files, drawn = {}, False
    for theme, path in paths.items():
        files[path], again = chart_bytes(root, diary, theme, snapshots, path)
        drawn = drawn or again
    return files, drawn


def chart_bytes(root: Path | None, diary: Diary, theme: str = "light", snapshots: list[Snapshot] | None = None,
                path: str | None = None) -> tuple[bytes, bool]:
    """The SVG: the file on disk under `root` when it was drawn from the same data, else drawn anew
    (slow import). `root=None` always draws: `diary check` compares a fresh drawing with the file, so
    a hand edit that kept the marker is found."""
    # The matplotlib version stays out of the hash on purpose: another version on another machine
    # must not redraw (and so change) a committed chart whose data did not change.
    data = {**chart_data(diary, snapshots), "theme": theme}
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    try:
        existing = (root / (path or CHART_PATHS[theme])).read_bytes() if root is not None else b""
    except OSError:
        existing = b""
    found = CHART_MARK_PATTERN.search(existing[:400])
    if found and found.group(1).decode() == digest:
        return existing, False
    return drawn_chart(data["snapshots"], digest, theme), True


def drawn_chart(points: list[dict], digest: str, theme: str) -> bytes:
    """render_chart_svg, kept in the user's cache by the data's digest, the theme, this module's
    source and matplotlib's version: `diary check` compares a drawing of its own with the committed
    file at every run (a second or more at 200 snapshots, two charts), and the drawing only changes
    with its inputs. What is cached is our drawing, never the committed file."""
    from importlib import metadata

    from diary.core import usercache

    key = usercache.key_of(usercache.code_salt(sys.modules[__name__]), metadata.version("matplotlib"), digest, theme)
    return usercache.remembered("chart", key, lambda: render_chart_svg(points, digest, theme),
                                encode=lambda svg: svg.decode("utf-8"), decode=lambda text: text.encode("utf-8"))


def render_chart_svg(points: list[dict], digest: str, theme: str = "light") -> bytes:
    """Stacked bars (code, comments) per snapshot, broken ones hatched in red, and the best so far.

    Byte-stable: fixed hash salt for ids, no date, text kept as text; the input's hash goes in a
    comment at the top so the next run can skip drawing.
    """
    import io

    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    colours = THEMES[theme]
    ok_code, ok_comment, broken_colour, ink = colours["code"], colours["comment"], colours["broken"], colours["ink"]
    fill = colours["bar_fill"]
    with matplotlib.rc_context({"svg.hashsalt": "diary-progress", "svg.fonttype": "none",
                                "font.size": 9, "font.family": "DejaVu Sans", "axes.spines.top": False,
                                "axes.spines.right": False, "text.color": ink, "axes.labelcolor": ink,
                                "axes.edgecolor": ink, "xtick.color": ink, "ytick.color": ink,
                                "axes.facecolor": colours["background"]}):
        figure = Figure(figsize=(8, 3.8))
        axes = figure.add_subplot()
        positions = list(range(len(points)))
        for x, point in zip(positions, points, strict=True):
            if point["broken"]:
                axes.bar(x, point["code"], color=fill, edgecolor=broken_colour, hatch="///", linewidth=1)
                axes.bar(x, point["comment"], bottom=point["code"], color=fill, edgecolor=broken_colour,
                         hatch="..", linewidth=1)
            else:
                axes.bar(x, point["code"], color=ok_code)
                axes.bar(x, point["comment"], bottom=point["code"], color=ok_comment)
        best = [point["best"] for point in points]
        if any(value is not None for value in best):
            axes.step(positions, [value if value is not None else float("nan") for value in best],
                      where="mid", color=ink, linewidth=1.2, linestyle="--")
        # parse_math off: an id is text, and "$" would start mathtext (a crash on an odd count).
        axes.set_xticks(positions, [point["id"] for point in points], rotation=30, ha="right", parse_math=False)
        axes.set_ylabel("lines")
        axes.set_xlim(-0.6, len(points) - 0.4)
        legend = [Patch(facecolor=ok_code, label="code lines"),
                  Patch(facecolor=ok_comment, label="comment lines"),
                  Patch(facecolor=fill, edgecolor=broken_colour, hatch="///",
                        label="broken (not counted)"),
                  Line2D([], [], color=ink, linestyle="--", label="best so far")]
        axes.legend(handles=legend, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False,
                    fontsize=8)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None},
                       bbox_inches="tight", facecolor=colours["background"])
    svg = buffer.getvalue()
    declaration_end = svg.find(b"?>") + 2 if svg.startswith(b"<?xml") else 0
    mark = ("\n" + CHART_MARK.format(digest)).encode()
    return svg[:declaration_end] + mark + svg[declaration_end:]
