"""Which Quarto processes a build starts for the pages it changed, and the proof that each page was written.

Quarto's CLI renders ONE input per process (`quarto render [input] [args...]`, a file or a folder) and
hands every further argument to Pandoc, which reads a second page as more text of the first: given
`index.qmd posts/x/index.qmd`, Quarto 1.10.18 appended the post to the home page, rendered no post and
exited 0. So a changed page is rendered alone, in its own process; rendered alone, a page of a website
brings the listings that list it (so a listing whose own inputs did not change needs no process of its
own), and Quarto updates the search index, the sitemap and the feeds instead of rebuilding them.

A project profile (`_quarto-<name>.yml` with `project: render:`, `--profile <name>`) does not render a
subset of this site: Quarto concatenates a profile's lists with those of `_quarto.yml` (whose own
`render:` list then still holds every page), and a render of the project with a shorter list is, to
Quarto, the full render of a smaller site: the output folder cleaned, the search index and the sitemap
rebuilt from those pages alone.

The cost, measured with Quarto 1.10.18 on this diary (2 loaded cores): one page alone 24-25 s, two
of them 49 s, the whole project (17 pages) 53 s. A build renders its changed pages one by one up to
`MAX_SINGLE_RENDERS`, and the whole project past that or when a file other than the pages changed.

Whatever Quarto's exit code says, every page a build asked for must have been written (a new file, or
one whose inode, size or time changed); one that was not is an error, and the build state is left as it
was, so no later build takes the page for rendered.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from diary.core.contract import SITE_DIR
from diary.core.errors import DiaryError
from diary.render.buildstate import Plan, front_matter, output_path, page_sources
from diary.render.quarto_cli import Echo, render_with_quarto

# Two pages alone (49 s) still cost less than the whole project (53 s); three (74 s) do not.
MAX_SINGLE_RENDERS = 2
# Quarto writes no output for a draft (draft-mode: gone, its default): nothing to verify.
_DRAFT = re.compile(rb"^draft\s*:\s*(true|yes)\s*$", re.M | re.I)

Stamp = tuple[int, int, int] | None


def output_stamp(root: Path, src: str) -> Stamp:
    """The output file of page `src` as the file system knows it (inode, size, time), None when missing."""
    try:
        info = os.stat(root / SITE_DIR / output_path(src))
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _is_draft(root: Path, src: str) -> bool:
    return _DRAFT.search(front_matter(root, src)) is not None


def require_written(root: Path, pages: Iterable[str], before: dict[str, Stamp], command: str) -> None:
    """Raise a DiaryError naming the first page whose output `command` did not write."""
    for src in pages:
        now = output_stamp(root, src)
        if (now is None or now == before.get(src)) and not _is_draft(root, src):
            raise DiaryError(
                f"{command} exited 0 but did not write {SITE_DIR}/{output_path(src)}: the page was not rendered",
                file=root / src,
                hint="the build state is left as it was, so the next build renders the page again; "
                "`diary build --full` renders every page",
            )


def render_changed_with_quarto(
    root: Path, executable: str, label: str, plan: Plan | None, *, quiet: bool, env: dict[str, str], echo: Echo
) -> tuple[list[str] | None, list[str]]:
    """Render what `plan` changed (every page when `plan` is None or full); return the pages rendered
    (None: every page) and Quarto's warnings."""
    sources = plan.sources if plan is not None else page_sources(root)
    before = {src: output_stamp(root, src) for src in sources}
    own = [] if plan is None or plan.full else [src for src in plan.changed if src not in plan.followers]
    if plan is None or plan.full or not own or not plan.tree_intact or len(own) > MAX_SINGLE_RENDERS:
        # Another file changed (a stylesheet, an image, the search index in the output folder), which a
        # page rendered alone would not copy or would update from what is there; or too many pages for
        # one by one: the whole project.
        warnings = render_with_quarto(root, executable, label, quiet=quiet, env=env, echo=echo)
        require_written(root, sources, before, "quarto render of the project")
        return None, warnings
    warnings = []
    rendered: list[str] = []
    for src in own:
        warnings += render_with_quarto(root, executable, label, quiet=quiet, env=env, echo=echo, page=src)
        require_written(root, [src], before, f"quarto render {src}")
        rendered.append(src)
    # A listing's own inputs are unchanged: Quarto rendered it again with the pages it lists (its
    # supplemental render), or it lists none of them and stays as it was; either way it is current.
    return rendered + list(plan.followers), warnings
