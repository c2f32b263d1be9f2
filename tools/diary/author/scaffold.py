"""`diary new post` and `diary new snapshot`: start a post or a snapshot from a template.

Both check everything before writing anything: a bad title, date or id, an unknown snapshot or parent,
or a post or snapshot that already exists is a DiaryError (exit 2) and leaves the tree untouched.
"""

from __future__ import annotations

import ast
import datetime as dt
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from diary.core import shortcodes
from diary.core.atomic import write_bytes_atomic, write_text_atomic
from diary.core.contract import (
    POSTS_DIR,
    SNAPSHOT_ID_HINT,
    code_partial_path,
    diff_partial_path,
    parse_iso_date,
    snapshot_id_problem,
    table_partial_path,
)
from diary.core.errors import DiaryError
from diary.core.escape import metadata_text
from diary.core.safefs import HARD_MAX_FILE_BYTES, MAX_FILES, check_name, read_bytes
from diary.project.config import Settings, load_settings
from diary.project.discover import META_NAME, SnapshotMeta, discover_snapshots
from diary.project.records import load_records
from diary.site.prose import FIGURE, front_matter_problem, visible

POST_TEMPLATE = "new_post.qmd.j2"
SNAPSHOT_TEMPLATE = "new_snapshot.yml.j2"
MAX_SLUG = 60
# Never part of a snapshot taken from a folder: caches and tools' folders.
SKIP_NAMES = {"__pycache__", ".pytest_cache", ".git", ".venv", ".mypy_cache", ".ruff_cache"}


def folder_files(folder: Path, left_out: list[str] | None = None) -> dict[str, bytes]:
    """The files of a folder (no caches, links or hidden files). With `left_out`, only its Python
    modules, as a snapshot holds them (any other file would break the hidden-code rule): the other
    files' names are added to `left_out`."""
    found: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in SKIP_NAMES or part.startswith(".") for part in rel.parts) or path.suffix == ".pyc":
            continue
        if path.is_symlink():
            raise DiaryError("a link in the program's folder: a snapshot holds plain files", file=path,
                             hint="replace the link by the file it points to, or remove it")
        if path.is_dir():
            continue
        if rel.as_posix() == META_NAME:
            continue
        if left_out is not None and path.suffix != ".py":
            left_out.append(rel.as_posix())
            continue
        if len(found) >= MAX_FILES:
            raise DiaryError(f"more than {MAX_FILES} files in the program's folder", file=folder,
                             hint="point --program at the program's own folder")
        check_name(rel.as_posix(), path)  # the names a record, a page and a download can hold
        found[rel.as_posix()] = read_bytes(path, HARD_MAX_FILE_BYTES)
    if not found:
        raise DiaryError("the folder holds no Python module" if left_out is not None else "the folder holds no file",
                         file=folder, hint="point it at a folder of .py files")
    return found


def _has_main_guard(source: bytes) -> bool:
    """Whether a module runs something as a script: a top-level `if __name__ == "__main__":`."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            names = [node.test.left, *node.test.comparators]
            if any(isinstance(n, ast.Name) and n.id == "__name__" for n in names) and any(
                    isinstance(n, ast.Constant) and n.value == "__main__" for n in names):
                return True
    return False


def entry_candidates(files: dict[str, bytes]) -> list[str]:
    """The top-level modules that could be the entry: the only one, else those with a main guard."""
    modules = sorted(name for name in files if "/" not in name and name.endswith(".py"))
    if len(modules) <= 1:
        return modules
    if "__main__.py" in modules:
        return ["__main__.py"]
    return [name for name in modules if _has_main_guard(files[name])]


ENTRY_HINT = "name the one to run with --entry FILE.py"


def infer_entry(files: dict[str, bytes], given: str | None, where: Path, *, inherited: str | None = None,
                hint: str = ENTRY_HINT) -> str:
    """The entry module of a program's files: the one rule of init, `init --snapshots` and `new
    snapshot --files`. `given` (--entry) when it names a top-level module; else the one module that
    runs as a script, the parent's entry (`inherited`) counted as one when the files hold a module
    of that name. Several candidates are a refusal, even when one is named like the parent's entry:
    a split keeps the old name for its dispatcher as often as for its main module."""
    if given is not None:
        if given not in files or "/" in given or not given.endswith(".py"):
            raise DiaryError(f"--entry {given!r} is not a top-level .py file of the program", file=where,
                             hint="top-level modules: " + ", ".join(n for n in files if "/" not in n) or "none")
        return given
    candidates = entry_candidates(files)
    if inherited is not None and inherited in files and inherited not in candidates:
        candidates = sorted([*candidates, inherited])
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DiaryError("no module of the program runs as a script (no top-level .py file with "
                         "if __name__ == \"__main__\")", file=where, hint=hint)
    raise DiaryError(f"several modules could be the entry: {', '.join(candidates)}", file=where, hint=hint)


MAX_TITLE = 100


def describe_snapshot(snapshot_id: str, files: dict[str, bytes], entry: str,
                      parent_files: dict[str, bytes] | None = None) -> tuple[str, str]:
    """A title and a note for a snapshot, from its files: the entry module's docstring (its first
    line, then the rest whole), unless it is the parent's too; else the title from the id
    (`02-other-sampler` -> "Other sampler") and no note. The author edits both in snapshot.yml."""
    lines = _docstring(files.get(entry, b""))
    if parent_files is not None and lines == _docstring(parent_files.get(entry, b"")):
        lines = []
    title = lines[0] if lines and len(lines[0]) <= MAX_TITLE else ""
    words = re.sub(r"^[\d._-]+", "", snapshot_id).replace("-", " ").replace("_", " ").strip()
    return title or (words[:1].upper() + words[1:]) or snapshot_id, " ".join(lines[1:] if title else lines)


def _docstring(source: bytes) -> list[str]:
    """The module docstring's lines, stripped, blank ones left out."""
    try:
        text = ast.get_docstring(ast.parse(source)) or ""
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # a snapshot's text is anybody's
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def slugify(title: str) -> str:
    """`Day 1: the Value class` -> `day-1-the-value-class` (ASCII letters, digits and single dashes)."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if len(slug) > MAX_SLUG:
        slug = slug[:MAX_SLUG].rsplit("-", 1)[0] or slug[:MAX_SLUG]
    return slug.strip("-")


def _render(template: str, **context: object) -> str:
    from diary.site.templating import render  # the tool's one Jinja environment

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


_var = shortcodes.var
_include = shortcodes.include


@dataclass(frozen=True)
class PostSnapshot:
    """What a new post needs to know of one snapshot it covers."""

    id: str
    parent: str | None
    entry: str
    broken: bool  # expected broken, or measured broken: its change is never shown as progress


def post_folder(title: str, date: str | dt.date | None) -> tuple[str, dt.date]:
    """The post's folder name (`<date>-<slug>`) and its date; a bad title or date is a DiaryError."""
    title = (title or "").strip()
    if not title or "\n" in title:
        raise DiaryError("a post needs a title on one line", hint='diary new post "Day 5: the sampler"')
    figures = [" ".join(match.group(0).split()) for match in FIGURE.finditer(visible(title))]
    if figures:
        raise DiaryError(f"the title types a figure by hand: {', '.join(figures)}",
                         hint="the listing and the feed show the title: give the figure in the post, from the data")
    problem = front_matter_problem("title", shortcodes.escape(title))
    if problem is not None:
        raise DiaryError(f"cannot write the title {title!r}: {problem}",
                         hint="write the title as plain text, without angle brackets or entities")
    slug = slugify(title)
    if not slug:
        raise DiaryError(f"cannot make a folder name from the title {title!r}",
                         hint="use at least one ASCII letter or digit in the title")
    day = _parse_date(date)
    return f"{day.isoformat()}-{slug}", day


def post_description(snapshots: list[PostSnapshot], given: str | None = None) -> str:
    """The post's `description:`, which the listing and the feed show: the author's, when given (plain
    text, as front matter holds it), else one sentence saying what kind of post it is. Never empty:
    without one, Quarto shows the first text of the page, the progress table's toggle."""
    if given is not None:
        text = " ".join(given.split())
        if metadata_text(text) is None:
            raise DiaryError(f"the description {given!r} is not plain text on one line",
                             hint="use letters, digits, spaces and -,.:;()!?/+=% only, starting with a letter")
        return text
    if not snapshots:
        return "Notes on the diary, between two measured steps."
    if all(snap.parent is None for snap in snapshots):
        return "The program as it starts: what it does, and what the diary measures of it."
    return "What this step changed in the program, and whether the measurements say it still behaves the same."


def post_text(title: str, day: dt.date, folder: str, snapshots: list[PostSnapshot], suite: bool,
              written_by: str = "new post", description: str | None = None) -> str:
    """The text of a new post covering `snapshots`: only variables and partials, so `diary check`
    accepts it as written (no figure by hand, no broken snapshot's change shown as progress, and no
    sentence about tests when the diary has no suite)."""
    sections = []
    for snap in snapshots:
        prefix = f"snap.{snap.id}."
        if snap.parent is None:
            include = _include("/" + code_partial_path(snap.id, snap.entry))
        else:
            include = _include("/" + diff_partial_path(snap.parent, snap.id))
        sections.append({
            "id": snap.id, "title": _var(prefix + "title"), "parent": snap.parent, "include": include,
            "broken": snap.broken,
            "parent_code": _var(f"snap.{snap.parent}.code") if snap.parent else "",
            **{name: _var(prefix + name) for name in (
                "code", "comment", "status", "code_vs_parent", "identity", "tests_passed", "tests_total")},
        })
    return _render(
        POST_TEMPLATE, title=shortcodes.escape(title.strip()), date=day.isoformat(),
        snapshots=[snap.id for snap in snapshots], description=post_description(snapshots, description),
        sections=sections, suite=suite, written_by=written_by,
        table_include=_include("/" + table_partial_path(folder)),
    )


def new_post(
    root: Path, title: str, snapshots: list[str] | None = None, date: str | dt.date | None = None,
    description: str | None = None,
) -> Path:
    """Write `posts/<date>-<slug>/index.qmd` for a post covering `snapshots`; return its path."""
    root = Path(root).resolve()
    folder, day = post_folder(title, date)
    wanted = list(dict.fromkeys(snapshots or []))  # keep order, drop repeats
    settings, known = _snapshots(root)
    by_id = {snap.id: snap for snap in known}
    unknown = [snap_id for snap_id in wanted if snap_id not in by_id]
    if unknown:
        raise DiaryError(f"unknown snapshot {', '.join(repr(s) for s in unknown)}",
                         hint="known ids: " + ", ".join(by_id))
    path = root / POSTS_DIR / folder / "index.qmd"
    for existing in (path, root / POSTS_DIR / f"{folder}.qmd"):
        if existing.exists():
            raise DiaryError("this post already exists", file=existing,
                             hint="edit it, or give the new post another title or --date")
    if path.parent.exists() and any(path.parent.iterdir()):
        raise DiaryError("the post's folder already exists and is not empty", file=path.parent,
                         hint="move it away, or give the new post another title or --date")
    records = load_records(root, force=True)  # a measured verdict, where there is one
    covered = [
        PostSnapshot(snap.id, snap.parent, snap.entry, broken=snap.expected_broken or (
            snap.id in records and records[snap.id].verdict.status == "broken"))
        for snap in (by_id[snap_id] for snap_id in wanted)
    ]
    text = post_text(title, day, folder, covered, suite=settings.suite_kind != "none", description=description)
    write_text_atomic(path, text)
    return path


def new_snapshot(root: Path, snapshot_id: str, parent: str, title: str | None = None, *,
                 files_from: Path | None = None, entry: str | None = None,
                 args: tuple[str, ...] | None = None, replace: bool = False) -> Path:
    """Copy snapshot `parent` into `code/snapshots/<snapshot_id>/` with a new snapshot.yml; return the folder.

    With `files_from`, the snapshot holds that folder's files instead (a variant written elsewhere, a
    program split in modules); `entry` and `args` are the snapshot's own (written only when they
    differ from the diary's), and an entry the files do not hold is inferred as `diary init` does.

    The copy is assembled in a hidden temporary folder (which discovery skips) and renamed into place,
    so a snapshot appears whole or not at all.
    """
    root = Path(root).resolve()
    snapshot_id = str(snapshot_id or "")
    problem = snapshot_id_problem(snapshot_id)
    if problem is not None:  # the rule discover applies: refused here, before anything is written
        raise DiaryError(problem, hint=SNAPSHOT_ID_HINT)
    if title is not None and (not title.strip() or "\n" in title):
        raise DiaryError("a snapshot needs a title on one line", hint='--title "Shorter sampler"')
    settings, known = _snapshots(root)
    by_id = {snap.id: snap for snap in known}
    if parent not in by_id:
        raise DiaryError(f"parent snapshot {parent!r} does not exist", hint="known ids: " + ", ".join(by_id))
    target = settings.snapshots_dir / snapshot_id
    replaced = by_id.get(snapshot_id) if replace else None
    if replaced is not None and (parent == snapshot_id or replaced.directory != target):
        raise DiaryError(f"snapshot {snapshot_id!r} cannot be replaced by a copy of itself or from another folder",
                         file=replaced.meta_path, hint="give --from its parent, and --files the new files")
    if snapshot_id in by_id and replaced is None:
        raise DiaryError(f"snapshot {snapshot_id!r} already exists", file=by_id[snapshot_id].meta_path,
                         hint="choose another id, or give --replace to replace its files and snapshot.yml")
    if target.exists() and replaced is None:
        raise DiaryError("the snapshot's folder already exists", file=target,
                         hint="choose another id, or move the folder away")
    source = by_id[parent]
    left_out: list[str] = []
    files = source.read_sources() if files_from is None else folder_files(Path(files_from).resolve(), left_out)
    # The parent's files keep its entry; other files get the one rule of init (infer_entry).
    own_entry = infer_entry(files, entry, Path(files_from), inherited=source.entry) if files_from is not None \
        else infer_entry(files, entry, source.directory) if entry is not None else source.entry
    # Copied files say nothing new: the title comes from the id; given files may say what they are.
    described_title, note = describe_snapshot(snapshot_id, files, own_entry,
                                              source.read_sources() if files_from is not None else files)
    title = (title or described_title).strip()
    meta = _render(
        SNAPSHOT_TEMPLATE, id=snapshot_id, title=title, note=note, date=dt.date.today().isoformat(), parent=parent,
        entry=own_entry if own_entry != settings.entry else None,
        # Given --args, those; else the parent's own contract goes with its files (a split run as
        # `main.py run` stays one).
        args=(list(args) if tuple(args) != settings.args else None) if args is not None
        else (list(source.args) if source.args != settings.args else None),
        data_files=[file.source if file.source == file.target else {"from": file.source, "to": file.target}
                    for file in source.data_files] if source.data_files != settings.data_files else None,
        files_from=Path(files_from).name if files_from is not None else None, left_out=left_out,
    )
    staging = Path(tempfile.mkdtemp(prefix=f".{snapshot_id}.", suffix=".tmp", dir=settings.snapshots_dir))
    try:
        for name, data in files.items():
            write_bytes_atomic(staging / name, data)
        write_text_atomic(staging / META_NAME, meta)
        try:
            if replaced is not None:  # the old folder moves aside first: the id is never half replaced
                old = Path(tempfile.mkdtemp(prefix=f".{snapshot_id}.", suffix=".old", dir=settings.snapshots_dir))
                os.rename(target, old / snapshot_id)
                os.rename(staging, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(staging, target)  # fails if another process created the folder meanwhile
        except OSError as exc:
            raise DiaryError(f"cannot create the snapshot's folder: {exc.strerror}", file=target,
                             hint="choose another id, or move the folder away") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
