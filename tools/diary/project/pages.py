"""The site's pages as the author wrote them: posts (with the front matter the diary reads) and top-level pages."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diary.core.contract import POSTS_DIR, SITE_CONFIG_PATH, parse_iso_date
from diary.core.errors import DiaryError
from diary.core.yamlio import parse_yaml, read_utf8

PAGE_SUFFIXES = (".qmd", ".md", ".ipynb")
# The folders Quarto and smalldocs leave out besides those starting with "_" or ".".
SKIP_DIRS = {"node_modules", "venv", "env", "renv", "site-packages", "__pycache__"}
FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*\r?$", re.S | re.M)

@dataclass
class Page:
    """A page of the site whose includes and variables are checked: a post or a top-level page."""

    path: Path
    text: str
    name: str | None = None  # a post's name, for its table partial
    snapshots: list[str] = field(default_factory=list)
    definitions: list[str] = field(default_factory=list)
    description: str = ""  # a post's `description:` (empty when missing or not text)
    lines: dict[str, int] = field(default_factory=dict)  # line of each front-matter key
    front: dict[str, Any] = field(default_factory=dict)  # the whole front matter, as parsed

    def line_of(self, key: str) -> int:
        return self.lines.get(key, 1)


def read_pages(root: Path) -> list[Page]:
    """The posts (`posts/**/*.qmd`) with their front matter, and the top-level pages (`*.qmd`)."""
    pages = []
    posts = root / POSTS_DIR
    names: dict[str, Path] = {}
    if posts.is_dir():
        for path in sorted(posts.rglob("*.qmd")):
            if any(part.startswith(("_", ".")) for part in path.relative_to(posts).parts):
                continue  # Quarto renders neither
            page = read_post(path)
            if page.name in names:
                raise DiaryError(f"two posts are named '{page.name}' (the other is {names[page.name]})",
                                 file=path, line=1, hint="rename one of the post folders")
            names[page.name or ""] = path
            pages.append(page)
    for path in sorted(root.glob("*.qmd")):
        page = Page(path, read_text(path))
        read_front(page)
        pages.append(page)
    return pages


def read_front(page: Page) -> dict[str, Any] | None:
    """The page's front matter (kept in `page.front`, with the line of each key), or None without one."""
    match = FRONT_MATTER.match(page.text)
    if not match:
        return None
    located = parse_yaml(match.group(1), page.path, line_offset=1)
    data = located.data
    if data is None:
        return None
    if not isinstance(data, dict):
        raise DiaryError("the front matter must be a mapping of keys to values", file=page.path, line=2,
                         hint="write it as 'key: value' lines between the two '---' lines")
    page.lines, page.front = located.lines, data
    return data


def read_text(path: Path) -> str:
    return read_utf8(path, encoding="utf-8-sig")


def read_post(path: Path) -> Page:
    """A post and the keys of its front matter that generate reads: `snapshots` and `definitions`."""
    text = read_text(path)
    name = path.parent.name if path.stem == "index" else path.stem
    page = Page(path, text, name=name)
    data = read_front(page)
    if data is None:
        return page
    check_post_date(data.get("date"), path, page.line_of("date"))
    description = data.get("description")
    page.description = description.strip() if isinstance(description, str) else ""
    for key in ("snapshots", "definitions"):
        value = data.get(key)
        if value is None:
            continue
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise DiaryError(f"'{key}' must be a list of names, like [a, b]", file=path,
                             line=page.line_of(key))
        setattr(page, key, list(items))
    return page


def check_post_date(value: Any, path: Path, line: int | None) -> None:
    """A diary post is dated like a diary: the listing sorts by it and the feed publishes it."""
    if value is None:
        raise DiaryError("the post has no 'date'", file=path, line=2, hint="add 'date: YYYY-MM-DD' to its front matter")
    try:
        parse_iso_date(value)
    except ValueError:
        raise DiaryError(f"'date': {value!r} is not an ISO date", file=path, line=line,
                         hint="write it as YYYY-MM-DD") from None


def page_sources(root: Path) -> list[str]:
    """Every page of the site, found as Quarto (and smalldocs) find them: `.qmd`, `.md` and `.ipynb`
    files outside `_*` and `.*` folders and environments, filtered by `project.render` when it is set."""
    from smalldocs.config import glob_match  # Quarto's glob rules, as smalldocs implements them

    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(name for name in dirnames
                             if not name.startswith((".", "_")) and name not in SKIP_DIRS)
        folder = Path(dirpath)
        files += [(folder / name).relative_to(root).as_posix() for name in sorted(filenames)
                  if not name.startswith((".", "_")) and name.endswith(PAGE_SUFFIXES)]
    patterns = _render_list(root)
    if not patterns:
        return [f for f in files if f.endswith(PAGE_SUFFIXES) and Path(f).stem.lower() != "readme"]
    keep: list[str] = []
    drop: list[str] = []
    for pattern in patterns:
        bare = pattern.lstrip("!")
        if bare.endswith("/") or (not any(c in bare for c in "*?[") and (root / bare.lstrip("/")).is_dir()):
            bare = bare.rstrip("/") + "/**"  # a folder means the pages in it
        (drop if pattern.startswith("!") else keep).append(bare)
    found = [f for f in files if any(glob_match(f, p) for p in keep) and not any(glob_match(f, p) for p in drop)]
    return [f for f in found if f.endswith(PAGE_SUFFIXES)]


def _render_list(root: Path) -> list[str]:
    import yaml

    try:
        config = yaml.safe_load((root / SITE_CONFIG_PATH).read_text(encoding="utf-8-sig"))
        listed = config["project"]["render"]
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError):
        return []
    return [str(item) for item in (listed if isinstance(listed, list) else [listed])]
