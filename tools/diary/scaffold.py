"""`diary new post` and `diary new snapshot`: start a post or a snapshot from a template.

Both check everything before writing anything: a bad title, date or id, an unknown snapshot or parent,
or a post or snapshot that already exists is a DiaryError (exit 2) and leaves the tree untouched.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
import unicodedata
from pathlib import Path

from .atomic import write_bytes_atomic, write_text_atomic
from .config import Settings, load_settings
from .contract import (
    POSTS_DIR,
    SNAPSHOT_ID_HINT,
    code_partial_path,
    diff_partial_path,
    include_shortcode,
    parse_iso_date,
    snapshot_id_problem,
    table_partial_path,
    var_shortcode,
)
from .discover import META_NAME, SnapshotMeta, discover_snapshots
from .errors import DiaryError

POST_TEMPLATE = "new_post.qmd.j2"
SNAPSHOT_TEMPLATE = "new_snapshot.yml.j2"
MAX_SLUG = 60


def slugify(title: str) -> str:
    """`Day 1: the Value class` -> `day-1-the-value-class` (ASCII letters, digits and single dashes)."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if len(slug) > MAX_SLUG:
        slug = slug[:MAX_SLUG].rsplit("-", 1)[0] or slug[:MAX_SLUG]
    return slug.strip("-")


def _render(template: str, **context: object) -> str:
    from .site.templating import render  # the tool's one Jinja environment

    return render(template, **context)


def _parse_date(date: str | dt.date | None) -> dt.date:
    if date is None:
        return dt.date.today()
    if isinstance(date, dt.date):
        return date
    try:
        return parse_iso_date(date)
    except ValueError:
        raise DiaryError(f"date {date!r} is not an ISO date",
                         hint="write it as YYYY-MM-DD, e.g. 2026-02-16") from None


def _snapshots(root: Path) -> tuple[Settings, list[SnapshotMeta]]:
    settings = load_settings(root)
    return settings, discover_snapshots(settings)


_var = var_shortcode
_include = include_shortcode


def new_post(
    root: Path, title: str, snapshots: list[str] | None = None, date: str | dt.date | None = None
) -> Path:
    """Write `posts/<date>-<slug>/index.qmd` for a post covering `snapshots`; return its path."""
    root = Path(root).resolve()
    title = (title or "").strip()
    if not title or "\n" in title:
        raise DiaryError("a post needs a title on one line", hint='diary new post "Day 5: the sampler"')
    slug = slugify(title)
    if not slug:
        raise DiaryError(f"cannot make a folder name from the title {title!r}",
                         hint="use at least one ASCII letter or digit in the title")
    day = _parse_date(date)
    wanted = list(dict.fromkeys(snapshots or []))  # keep order, drop repeats
    _settings, known = _snapshots(root)
    by_id = {snap.id: snap for snap in known}
    unknown = [snap_id for snap_id in wanted if snap_id not in by_id]
    if unknown:
        raise DiaryError(f"unknown snapshot {', '.join(repr(s) for s in unknown)}",
                         hint="known ids: " + ", ".join(by_id))
    folder = f"{day.isoformat()}-{slug}"
    path = root / POSTS_DIR / folder / "index.qmd"
    for existing in (path, root / POSTS_DIR / f"{folder}.qmd"):
        if existing.exists():
            raise DiaryError("this post already exists", file=existing,
                             hint="edit it, or give the new post another title or --date")
    if path.parent.exists() and any(path.parent.iterdir()):
        raise DiaryError("the post's folder already exists and is not empty", file=path.parent,
                         hint="move it away, or give the new post another title or --date")
    sections = []
    for snap_id in wanted:
        snap = by_id[snap_id]
        prefix = f"snap.{snap.id}."
        if snap.parent is None:
            include = _include("/" + code_partial_path(snap.id, snap.entry))
        else:
            include = _include("/" + diff_partial_path(snap.parent, snap.id))
        sections.append({
            "id": snap.id, "title": snap.title, "parent": snap.parent, "include": include,
            **{name: _var(prefix + name) for name in (
                "code", "comment", "status", "code_vs_parent", "identity", "tests_passed", "tests_total")},
        })
    text = _render(
        POST_TEMPLATE, title=title, date=day.isoformat(), snapshots=wanted, sections=sections,
        table_include=_include("/" + table_partial_path(folder)),
    )
    write_text_atomic(path, text)
    return path


def new_snapshot(root: Path, snapshot_id: str, parent: str, title: str | None = None) -> Path:
    """Copy snapshot `parent` into `code/snapshots/<snapshot_id>/` with a new snapshot.yml; return the folder.

    The copy is assembled in a hidden temporary folder (which discovery skips) and renamed into place,
    so a snapshot appears whole or not at all.
    """
    root = Path(root).resolve()
    snapshot_id = str(snapshot_id or "")
    problem = snapshot_id_problem(snapshot_id)
    if problem is not None:  # the rule discover applies: refused here, before anything is written
        raise DiaryError(problem, hint=SNAPSHOT_ID_HINT)
    title = (title if title is not None else snapshot_id).strip()
    if not title or "\n" in title:
        raise DiaryError("a snapshot needs a title on one line", hint='--title "Shorter sampler"')
    settings, known = _snapshots(root)
    by_id = {snap.id: snap for snap in known}
    if parent not in by_id:
        raise DiaryError(f"parent snapshot {parent!r} does not exist", hint="known ids: " + ", ".join(by_id))
    target = settings.snapshots_dir / snapshot_id
    if snapshot_id in by_id:
        raise DiaryError(f"snapshot {snapshot_id!r} already exists", file=by_id[snapshot_id].meta_path,
                         hint="choose another id")
    if target.exists():
        raise DiaryError("the snapshot's folder already exists", file=target,
                         hint="choose another id, or move the folder away")
    source = by_id[parent]
    meta = _render(
        SNAPSHOT_TEMPLATE, id=snapshot_id, title=title, date=dt.date.today().isoformat(), parent=parent,
        entry=source.entry if source.entry != settings.entry else None,
    )
    staging = Path(tempfile.mkdtemp(prefix=f".{snapshot_id}.", suffix=".tmp", dir=settings.snapshots_dir))
    try:
        for name, data in source.read_sources().items():
            write_bytes_atomic(staging / name, data)
        write_text_atomic(staging / META_NAME, meta)
        try:
            os.rename(staging, target)  # fails if another process created the folder meanwhile
        except OSError as exc:
            raise DiaryError(f"cannot create the snapshot's folder: {exc.strerror}", file=target,
                             hint="choose another id, or move the folder away") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
