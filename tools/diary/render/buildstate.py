"""The build state: what each page of the last build was made from, so a build renders only what changed.

A page's inputs are its source, every file it includes (recursively), the value of every `{{< var >}}`
key it uses, and the site's own inputs (`_quarto.yml`, every `_metadata.yml`, the tool's and the
engine's versions, the front matter of the pages the configuration names, as the navigation may show
their titles); a listing's inputs also hold the list of pages and every page's front matter, which it
shows. A new page renders itself and the listings; a removed one, every page. The state keeps, per
page, the hash of its inputs and the hash of the output it wrote: a page is rendered again when either
differs, so a deleted or hand-edited output is rebuilt. It lives in `.diary-cache/` (gitignored), never
in the published tree; a state that does not load is no state (everything is rendered), never an error: it is a cache.

A commit can hold a `.diary-cache/` (and a `_site/` with a hand-edited page whose hash the state
names), so nothing there is believed unless it is sealed (`seal`, `unseal`): an HMAC with a key of
the user's own, kept in the user's cache folder (usercache.secret), which no commit can set. A
forged or foreign state is no state: the build renders every page into an emptied `_site/`.

The scan over-approximates (an include or a variable inside a code block counts): that costs at most an
extra render, never a stale page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diary import __version__
from diary.core import shortcodes
from diary.core.atomic import write_text_atomic
from diary.core.contract import SITE_CONFIG_PATH, SITE_DIR, STATE_DIR
from diary.core.safefs import stat_digest
from diary.core.usercache import read_sealed, seal
from diary.project.pages import PAGE_SUFFIXES, SKIP_DIRS, page_sources

STATE_FILE = f"{STATE_DIR}/build-state.json"
STATE_SCHEMA = 1
OUTPUT_DIR = SITE_DIR
_FRONT = re.compile(rb"\A---[ \t]*\r?\n.*?^(?:---|\.\.\.)[ \t]*\r?$", re.S | re.M)
ENGINE_CACHE_DIR = ".quarto"
MAX_INCLUDE_DEPTH = 10  # as deep as the engines follow includes


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def output_path(src: str) -> str:
    """Where a page's HTML goes, relative to the output folder."""
    return str(Path(src).with_suffix(".html").as_posix())


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _lookup(variables: Any, key: str) -> Any:
    value = variables
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def page_digest(root: Path, src: str, variables: Any, site_key: str) -> str:
    """The hash of everything page `src` is made from (see the module's docstring)."""
    digest = hashlib.sha256(site_key.encode())
    pending = [(root / src, 0)]
    seen: set[Path] = set()
    keys: set[str] = set()
    while pending:
        path, depth = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        data = _read(path)
        digest.update(f"\0{path.relative_to(root) if path.is_relative_to(root) else path}\0".encode())
        digest.update(b"<missing>" if data is None else sha256(data).encode())
        if data is None or depth >= MAX_INCLUDE_DEPTH:
            continue
        text = data.decode("utf-8", errors="replace")
        keys.update(found.argument for found in shortcodes.find(text, "var"))
        page = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        for found in shortcodes.find(text, "include"):
            target = shortcodes.include_target(page, found.argument)
            if target is not None:  # one outside the root is refused before any build (site/posts.py)
                pending.append((root / target, depth + 1))
    values = {key: _lookup(variables, key) for key in sorted(keys)}
    digest.update(json.dumps(values, sort_keys=True, default=str, ensure_ascii=False).encode())
    return digest.hexdigest()


def site_key(root: Path, sources: list[str], engine: str) -> str:
    """What every page depends on: the configuration, the versions, and the front matter of the pages
    the configuration names (a navbar entry without text shows its page's title)."""
    digest = hashlib.sha256(f"{STATE_SCHEMA}|{__version__}|{engine}".encode())
    config = b""
    for name in (SITE_CONFIG_PATH, "_smalldocs.yml"):
        data = _read(root / name)
        config += data or b""
        digest.update(f"\0{name}\0".encode() + (data or b"<missing>"))
    folders = {Path(src).parent for src in sources}
    for folder in sorted({parent for f in folders for parent in (f, *f.parents)}):
        data = _read(root / folder / "_metadata.yml")
        if data is not None:
            digest.update(f"\0{folder}/_metadata.yml\0".encode() + data)
    for src in sources:
        if src.encode() in config or output_path(src).encode() in config:
            digest.update(f"\0{src}\0".encode() + front_matter(root, src))
    return digest.hexdigest()


def listing_key(root: Path, sources: list[str]) -> str:
    """What a listing shows of the other pages: which pages there are and their front matter (title,
    date, description, categories). Part of every listing's inputs, so a new page or an edited title
    renders the listings, not every page."""
    digest = hashlib.sha256()
    for src in sources:
        digest.update(f"\0{src}\0".encode() + front_matter(root, src))
    return digest.hexdigest()


def front_matter(root: Path, src: str) -> bytes:
    front = _FRONT.match(_read(root / src) or b"")
    return front.group(0) if front else b""


@dataclass
class PageState:
    inputs: str  # the hash of the page's inputs when it was last rendered
    output: str | None  # the hash of the HTML it wrote; None when none was found


@dataclass
class BuildState:
    """The last build's site key and pages; `load` returns an empty state for anything unreadable."""

    root: Path
    engine: str = ""
    site: str = ""
    tree: str = ""  # every file of the output folder, by path, size and modification time
    engine_cache: str = ""  # every file of Quarto's `.quarto/`, the same way (engine_cache_digest)
    sources: str = ""  # every other file of the project, the same way
    warnings: list[str] = field(default_factory=list)  # what the engine warned about, shown again by a no-op
    pages: dict[str, PageState] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> BuildState:
        state = cls(root)
        try:
            data = json.loads(read_sealed(root / STATE_FILE) or "null")
            if data.get("schema") != STATE_SCHEMA:
                return state
            state.engine, state.site, state.tree = str(data["engine"]), str(data["site"]), str(data["tree"])
            state.engine_cache = str(data.get("engine_cache", ""))
            state.sources = str(data["sources"])
            state.warnings = [str(w) for w in data.get("warnings", [])]
            state.pages = {str(src): PageState(str(page["inputs"]), page.get("output"))
                           for src, page in data["pages"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cls(root)
        return state

    def save(self) -> None:
        data = {"schema": STATE_SCHEMA, "engine": self.engine, "site": self.site, "tree": self.tree,
                "engine_cache": self.engine_cache,
                "sources": self.sources, "warnings": self.warnings,
                "pages": {src: {"inputs": page.inputs, "output": page.output}
                          for src, page in sorted(self.pages.items())}}
        write_text_atomic(self.root / STATE_FILE, seal(json.dumps(data, indent=1)))

    def output_digest(self, src: str) -> str | None:
        data = _read(self.root / OUTPUT_DIR / output_path(src))
        return None if data is None else sha256(data)

    def unchanged(self, src: str, inputs: str) -> bool:
        """Whether the page was last made from these inputs and its output is still what was written."""
        page = self.pages.get(src)
        return (page is not None and page.inputs == inputs and page.output is not None
                and self.output_digest(src) == page.output)


def tree_digest(root: Path) -> str:
    """The output folder's files by path, size and modification time: a file removed, added or
    rewritten by hand (a page, the search index, the feed, a stylesheet) changes it."""
    out = root / OUTPUT_DIR
    return stat_digest(_walk(out, lambda folder, name: True), out)


def engine_cache_digest(root: Path) -> str:
    """Quarto's own cache, `.quarto/` (what it knows of the pages it does not render: listings and the
    search index are made from it), by path, size and modification time. A commit can hold one: when
    it is not what the last build left, every page is rendered, into an emptied `.quarto/`."""
    cache = root / ENGINE_CACHE_DIR
    return stat_digest(_walk(cache, lambda folder, name: True), cache) if cache.is_dir() else ""


def sources_digest(root: Path) -> str:
    """The project's other files (stylesheets, images, downloads, ...) by path, size and modification
    time: the engine copies some of them into the output folder, so a change to one makes it run
    (with every unchanged page reused), though no page's inputs changed."""

    def wanted_folder(folder: Path, name: str) -> bool:
        return not name.startswith(".") and name not in SKIP_DIRS and not (folder == root and name == OUTPUT_DIR)

    files = (path for path in _walk(root, wanted_folder) if not path.name.startswith(".")
             and not path.name.endswith(PAGE_SUFFIXES))
    return stat_digest(files, root)


def _walk(top: Path, wanted_folder: Callable[[Path, str], bool]) -> Iterator[Path]:
    """Every file under `top`, in a stable order, entering only the folders `wanted_folder` keeps."""
    for dirpath, dirnames, filenames in os.walk(top):
        folder = Path(dirpath)
        dirnames[:] = sorted(name for name in dirnames if wanted_folder(folder, name))
        for name in sorted(filenames):
            yield folder / name


@dataclass
class Plan:
    """What a build renders: every page (`full`), or only `changed`; with each page's input hash."""

    full: bool
    changed: list[str]
    sources: list[str]
    digests: dict[str, str]
    site: str
    reason: str = ""
    tree_intact: bool = False  # the output folder is as the last build left it
    # The listings in `changed` only because pages they list changed (their own inputs did not).
    followers: list[str] = field(default_factory=list)

    @property
    def nothing_to_do(self) -> bool:
        return not self.full and not self.changed and self.tree_intact


def is_listing(root: Path, src: str) -> bool:
    """A page whose front matter holds a listing: it shows the other pages, so it follows them."""
    data = _read(root / src) or b""
    front = _FRONT.match(data)
    return front is not None and re.search(rb"^listing\s*:", front.group(0), re.M) is not None


def plan_build(root: Path, engine: str, variables: Any, state: BuildState | None = None) -> Plan:
    """Compare every page's inputs with the last build's and say what to render."""
    state = state if state is not None else BuildState.load(root)
    sources = page_sources(root)
    key = site_key(root, sources, engine)
    listed = listing_key(root, sources)
    digests = {src: page_digest(root, src, variables, key + listed if is_listing(root, src) else key)
               for src in sources}
    removed = [src for src in state.pages if src not in digests]
    if (state.engine != engine or state.site != key or removed
            or state.engine_cache != engine_cache_digest(root)):
        # A removed page leaves its output, search entries and sitemap line behind unless all is rendered.
        if not state.site:
            reason = "no earlier build"
        elif removed:
            reason = f"{removed[0]} was removed"
        elif state.engine != engine or state.site != key:
            reason = "the site's configuration changed"
        else:
            reason = "Quarto's .quarto/ cache is not what the last build left"
        return Plan(True, list(sources), sources, digests, key, reason)
    changed = [src for src in sources if not state.unchanged(src, digests[src])]
    followers: list[str] = []
    if changed:
        # The listings (and with them the feed and the search index) follow the pages they list.
        followers = [src for src in sources if src not in changed and is_listing(root, src)]
        changed += followers
    return Plan(False, [src for src in sources if src in changed], sources, digests, key,
                tree_intact=bool(state.tree) and tree_digest(root) == state.tree
                and sources_digest(root) == state.sources, followers=followers)


def record_build(root: Path, engine: str, plan: Plan, rendered: list[str] | None = None,
                 warnings: list[str] | None = None) -> BuildState:
    """Save the state after a successful build that rendered `rendered` (every page when None)."""
    state = BuildState.load(root) if rendered is not None else BuildState(root)
    if rendered is None or state.site != plan.site or state.engine != engine:
        state = BuildState(root)
        rendered = plan.sources
    state.engine, state.site = engine, plan.site
    state.pages = {src: page for src, page in state.pages.items() if src in plan.digests}
    for src in rendered:
        state.pages[src] = PageState(plan.digests[src], state.output_digest(src))
    state.tree = tree_digest(root)
    state.engine_cache = engine_cache_digest(root)
    state.sources = sources_digest(root)
    state.warnings = list(warnings or [])
    state.save()
    return state


# -- a page's rendered form for the embedded engine, as JSON: sets, tuples and dates tagged, nothing else
# (a pickle in a folder that a repository could hold would run code on load).

def encode(value: Any) -> Any:
    """Plain JSON data for `value`; raise TypeError for what it cannot hold (a page then renders anew)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(item) for item in value]}
    if isinstance(value, (set, frozenset)):
        return {"__set__": [encode(item) for item in sorted(value, key=repr)]}
    if isinstance(value, dt.datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, dt.date):
        return {"__date__": value.isoformat()}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value) or any(k.startswith("__") for k in value):
            raise TypeError("a mapping with keys JSON cannot tag")
        return {k: encode(v) for k, v in value.items()}
    raise TypeError(f"cannot store {type(value).__name__}")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (tag, inner), = value.items()
            if tag == "__tuple__":
                return tuple(decode(item) for item in inner)
            if tag == "__set__":
                return {decode(item) for item in inner}
            if tag == "__datetime__":
                return dt.datetime.fromisoformat(inner)
            if tag == "__date__":
                return dt.date.fromisoformat(inner)
        return {k: decode(v) for k, v in value.items()}
    return value


def cache_path(root: Path, src: str) -> Path:
    return root / STATE_DIR / "pages" / (hashlib.sha256(src.encode()).hexdigest()[:32] + ".json")
