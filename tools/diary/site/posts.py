"""Posts and pages as generate reads them, and the validators of what they reference.

Every validator returns the list of its problems (DiaryErrors, never raised here): `diary generate`
stops at the first, `diary check` reports them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from diary.core import shortcodes
from diary.core.contract import (
    CHART_PARTIAL_PATH,
    DIFF_PARTIAL,
    GENERATED_DIR,
    SITE_CONFIG_PATH,
    post_chart_partial_path,
)
from diary.core.errors import DiaryError
from diary.core.yamlio import read_yaml
from diary.project.pages import Page
from diary.site.model import Diary, Snapshot
from diary.site.prose import front_markup_problem, front_shortcode_problem, front_strings


def check_front_matter(diary: Diary, pages: list[Page]) -> list[DiaryError]:
    """Every snapshot a post names exists; every definition it names is in one of those snapshots."""
    problems: list[DiaryError] = []
    for page in pages:
        for snap_id in page.snapshots:
            if snap_id not in diary.by_id:
                problems.append(DiaryError(f"unknown snapshot '{snap_id}' in 'snapshots'", file=page.path,
                                           line=page.line_of("snapshots"),
                                           hint="known snapshots: " + ", ".join(diary.by_id)))
        if not page.definitions or any(snap_id not in diary.by_id for snap_id in page.snapshots):
            continue
        if page.snapshots:
            last = max(diary.index[snap_id] for snap_id in page.snapshots)
            covered = diary.snapshots[: last + 1]
        else:
            covered = diary.snapshots
        known = sorted({name for snap in covered for name in [*snap.definitions, *snap.bare_names]})
        for name in page.definitions:
            if name not in known:
                problems.append(DiaryError(
                    f"unknown definition '{name}' in 'definitions': no top-level class or "
                    f"function of that name in the snapshots up to {covered[-1].id}",
                    file=page.path, line=page.line_of("definitions"), hint="known definitions: " + ", ".join(known)))
    return problems


def missing_descriptions(pages: list[Page]) -> list[DiaryError]:
    """Every post has a description: without one, the listing and the feed show the first text Quarto
    finds on the page, which in a post that starts with its progress table is the table's
    "Show all N columns" toggle."""
    return [DiaryError("the post has no description: the listing would show the first text of the page instead",
                       file=page.path, line=page.line_of("description") if "description" in page.lines else 2,
                       hint="write one sentence saying what the post is about in 'description:'")
            for page in pages if page.name is not None and not page.description]


def include_targets(root: Path, page: Page) -> list[tuple[str, int]]:
    """(path relative to the root, line) of every include of `page` that lands in `_generated/`."""
    targets = []
    for found in shortcodes.find(page.text, "include"):
        rel = shortcodes.include_target(_page_rel(root, page), found.argument)
        if found.live and rel is not None and rel.startswith(GENERATED_DIR + "/"):
            targets.append((rel, page.text.count("\n", 0, found.start) + 1))
    return targets


def _page_rel(root: Path, page: Page) -> str:
    try:
        return page.path.relative_to(root).as_posix()
    except ValueError:
        return page.path.name


def check_includes(root: Path, pages: list[Page]) -> list[DiaryError]:
    """Every include of every page, in any spelling but Quarto's escape `{{{< … >}}}` (a backslash
    is no escape to every engine), lands in the generated partials: `../../etc/passwd`,
    `/proc/self/environ` or `/_generated/../.git/config` would put that file in the page."""
    problems = []
    for page in pages:
        for found in shortcodes.find(page.text, "include"):
            why = None if found.quarto_escaped else shortcodes.include_problem(_page_rel(root, page), found.argument)
            if why is not None:
                problems.append(DiaryError(why, file=page.path, line=page.text.count("\n", 0, found.start) + 1,
                                           hint="include only the generated partials (docs/generated.md), "
                                                "or write {{{< include … >}}} to show the shortcode as text"))
    return problems


def wanted_diff_pairs(
    root: Path, diary: Diary, pages: list[Page]
) -> tuple[list[tuple[Snapshot, Snapshot]], list[DiaryError]]:
    """Each snapshot against its parent and the baseline, and every pair a page includes; and the
    problems: includes of a diff that names an unknown snapshot."""
    problems: list[DiaryError] = []
    pairs: dict[tuple[str, str], None] = {}
    for snap in diary.snapshots[1:]:
        if snap.meta.parent is not None:
            pairs[(snap.meta.parent, snap.id)] = None
        pairs[(diary.baseline.id, snap.id)] = None
    for page in pages:
        for rel, line in include_targets(root, page):
            match = DIFF_PARTIAL.match(rel)
            if not match:
                continue
            older, newer = match.groups()
            unknown = [snap_id for snap_id in (older, newer) if snap_id not in diary.by_id]
            for snap_id in unknown:
                problems.append(DiaryError(f"the diff partial /{rel} names an unknown snapshot '{snap_id}'",
                                           file=page.path, line=line,
                                           hint="known snapshots: " + ", ".join(diary.by_id)))
            if not unknown:
                pairs[(older, newer)] = None
    return [(diary.by_id[older], diary.by_id[newer]) for older, newer in pairs], problems


def check_pages(root: Path, pages: list[Page], files: Mapping[str, object], variables: dict) -> list[DiaryError]:
    """Every `/_generated/` include of a page is produced, and every `{{< var >}}` key exists."""
    problems: list[DiaryError] = []
    for page in pages:
        for rel, line in include_targets(root, page):
            if rel == CHART_PARTIAL_PATH and page.name is not None:
                # The whole diary's chart moves with every snapshot: in a post it would contradict the
                # post's own pinned figures once a later snapshot is added.
                problems.append(DiaryError(
                    f"the post includes the whole diary's chart /{rel}, which a later snapshot changes",
                    file=page.path, line=line,
                    hint=f"include /{post_chart_partial_path(page.name)}, pinned to this post's snapshots"
                         + ("" if page.snapshots else " (list them under 'snapshots:')")))
                continue
            if rel not in files and not DIFF_PARTIAL.match(rel):  # a bad diff include is reported above
                hint = "see docs/generated.md for the partials"
                if rel.startswith((f"{GENERATED_DIR}/tables/", f"{GENERATED_DIR}/charts/")):
                    hint = "a post's table and chart exist when its front matter lists 'snapshots:'"
                problems.append(DiaryError(f"the include /{rel} is not generated", file=page.path, line=line,
                                           hint=hint))
        for found in shortcodes.find(page.text, "var"):
            key = found.argument
            if found.live and lookup(variables, key) is None:
                problems.append(DiaryError(f"unknown variable '{key}'", file=page.path,
                                           line=page.text.count("\n", 0, found.start) + 1,
                                           hint="see _variables.yml and docs/generated.md for the keys"))
    return problems


def lookup(variables: dict, key: str) -> Any:
    """A dotted key in the nested variables, as Quarto and smalldocs read it; None when missing."""
    value: Any = variables
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


METADATA_NAME = "_metadata.yml"


def metadata_files(root: Path, sources: list[str]) -> list[str]:
    """`_quarto.yml` and every `_metadata.yml` of a folder that holds a page (or of one above it):
    the engines merge their keys into the front matter of every page below them."""
    folders = {PurePosixPath(src).parent for src in sources}
    above = sorted({str(parent) for folder in folders for parent in (folder, *folder.parents)})
    names = [SITE_CONFIG_PATH] + [METADATA_NAME if folder == "." else f"{folder}/{METADATA_NAME}" for folder in above]
    return [name for name in names if (root / name).is_file()]


def metadata_problems(root: Path, sources: list[str], allow_raw_html: bool) -> list[DiaryError]:
    """The strings of `metadata_files` hold no shortcode (Quarto expands them in every page's metadata,
    escaped or not); those of a `_metadata.yml` no markup either (unless `raw_html: allow`).
    `_quarto.yml` is the site's configuration, whose HTML options (a theme toggle's script) are its own."""
    problems: list[DiaryError] = []
    for name in metadata_files(root, sources):
        try:
            located = read_yaml(root / name)
        except DiaryError as error:
            problems.append(error)
            continue
        for key, value in front_strings(located.data):
            why = front_shortcode_problem(value)
            if why is None and name != SITE_CONFIG_PATH and not allow_raw_html:
                why = front_markup_problem(key, value)
            if why is not None:
                problems.append(DiaryError(f"{why}: {key!r}", file=root / name, line=located.line_of(key),
                                           hint="write plain text there; show a shortcode as {{{< … >}}}"))
    return problems
