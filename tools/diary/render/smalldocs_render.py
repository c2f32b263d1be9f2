"""The smalldocs path of the render stage (render.py): smalldocs, the embedded pure-Python engine, run
in our process, with its progress handed on line by line, `_variables.yml` and the other YAML files read
once per build (`_memoised_yaml`), and the pages whose inputs did not change reused from the last build
(`.diary-cache/`, see buildstate.py) with an output identical to a full build's.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from diary.core.errors import DiaryError
from diary.render.buildstate import Plan
from diary.render.smalldocs_compat import quarto_code_blocks, without_remote_imports

Echo = Callable[[str], None]


class _LineEcho(io.TextIOBase):
    """A text stream that hands each complete line to `echo`: smalldocs prints its progress to sys.stderr."""

    def __init__(self, echo: Echo) -> None:
        super().__init__()
        self._echo = echo
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._echo(line)
        return len(text)

    def flush_pending(self) -> None:
        if self._pending:
            self._echo(self._pending)
            self._pending = ""


@contextlib.contextmanager
def added_environment(extra: dict[str, str]) -> Iterator[None]:
    """Add `extra` to os.environ for the duration: smalldocs hands os.environ to the pre-render scripts."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _memoised_yaml() -> Iterator[None]:
    """smalldocs re-reads `_variables.yml` with the pure-Python YAML parser for every page and every
    include: most of its render time on this diary. During our build, files are read once per
    (path, size, mtime), with libyaml when available; the originals are restored afterwards.

    `_variables.yml` grows with the diary and is read for every include, and smalldocs only looks
    values up in it: it is shared, not copied (a copy per include made the build quadratic in the
    number of snapshots). The small config and metadata files, which smalldocs merges, are copied."""
    import yaml
    from smalldocs import config, shortcodes, site

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    original = config.read_yaml
    cache: dict[tuple[str, int, int], object] = {}

    def read_yaml(path: Path) -> object:
        try:
            stat = Path(path).stat()
        except OSError:
            return original(path)
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in cache:
            try:
                cache[key] = yaml.load(Path(path).read_text(encoding="utf-8-sig"), Loader=loader)
            except (yaml.YAMLError, ValueError):
                cache[key] = original(path)  # let smalldocs raise its own error for a bad file
        return cache[key] if Path(path).name == "_variables.yml" else copy.deepcopy(cache[key])

    modules = (config, shortcodes, site)
    for module in modules:
        module.read_yaml = read_yaml
    # smalldocs compiles a glob into a regular expression on every match: tens of thousands of times
    # per build on a long diary (every file against every `render` and `resources` pattern). It is a
    # pure function of the pattern, so it is compiled once per pattern while we build.
    original_glob_regex = config.glob_regex
    config.glob_regex = functools.lru_cache(maxsize=None)(original_glob_regex)
    try:
        yield
    finally:
        for module in modules:
            module.read_yaml = original
        config.glob_regex = original_glob_regex


def render_with_smalldocs(
    root: Path, *, quiet: bool, env: dict[str, str], echo: Echo, plan: Plan | None = None
) -> tuple[Path, list[str]]:
    # Imported here: smalldocs's engine takes a quarter of a second to import, which commands that do not
    # render should not pay.
    from smalldocs.config import BuildError, ConfigError, load

    progress = _LineEcho(echo)
    try:
        with added_environment(env), contextlib.redirect_stderr(progress), _memoised_yaml(), quarto_code_blocks():
            site_class = _incremental_site_class()
            reusable = set() if plan is None or plan.full else set(plan.sources) - set(plan.changed)
            site = site_class(load(root), quiet=quiet, reusable=reusable)
            count = site.build()
            where = os.path.relpath(site.out)
            site.say(f"wrote {count} page(s) to {site.out if where.startswith('..') else where}")
    except (BuildError, ConfigError) as error:
        raise DiaryError(
            f"smalldocs could not render the site: {error}",
            file=root,
            hint="fix what the message names (a pre-render script's own output is above it)",
        ) from error
    except OSError as error:
        raise DiaryError(f"smalldocs could not render the site: {error}", file=root) from error
    finally:
        progress.flush_pending()
    warnings = [w for w in site.warnings if not _is_written_later(w, Path(site.out)) and w not in _FOR_QUARTO_ONLY]
    for warning in warnings:
        echo(f"warning: {warning}")
    return site.out, warnings


@functools.cache
def _incremental_site_class() -> type:
    """smalldocs' Site, made to reuse the pages whose inputs did not change (smalldocs itself always
    renders every page). A reused page comes back from `.diary-cache/` as smalldocs had it after
    rendering (front matter, options, HTML, what rendering found) with the warnings, broken links and
    resources it produced, and its HTML output is kept byte for byte; the navigation, listings, search
    index, feed, sitemap and assets are made as a full build makes them, from every page. The output
    is identical to a full build's (tests/unit/render/test_incremental.py compares them byte for byte)."""
    import json
    from pathlib import PurePosixPath

    from smalldocs import browser, layout, listing
    from smalldocs.site import Page, Site

    from diary.core.atomic import write_text_atomic
    from diary.render.buildstate import cache_path, decode, encode, read_sealed, seal

    class IncrementalSite(Site):
        def __init__(self, project: Any, quiet: bool, reusable: set[str]) -> None:
            super().__init__(project, quiet=quiet)
            self.reusable = reusable
            self.reused: set[PurePosixPath] = set()
            self.effects: dict[PurePosixPath, dict[str, list[Any]]] = {}  # per page: warnings, broken, resources
            self.cached: dict[PurePosixPath, dict[str, Any]] = {}

        def copy_assets(self, nav: Any) -> None:
            super().copy_assets(nav)
            for theme in self.theme_files():  # no web fonts from a third party (smalldocs_compat.py)
                path = self.out / "site_libs" / theme.href
                text = path.read_text(encoding="utf-8")
                if without_remote_imports(text) != text:
                    path.write_text(without_remote_imports(text), encoding="utf-8")

        def _mark(self) -> tuple[int, int, set[Any]]:
            return len(self.warnings), len(self.broken), set(self.resources)

        def _record(self, src: PurePosixPath, stage: str, mark: tuple[int, int, set[Any]]) -> None:
            effects = self.effects.setdefault(src, {})
            effects[f"{stage}_warnings"] = self.warnings[mark[0]:]
            effects[f"{stage}_broken"] = [list(item) for item in self.broken[mark[1]:]]
            effects[f"{stage}_resources"] = sorted(str(r) for r in self.resources - mark[2])

        def _replay(self, src: PurePosixPath, stage: str) -> None:
            effects = self.cached[src]["effects"]
            for warning in effects[f"{stage}_warnings"]:
                self.warn(warning)
            self.broken.extend(tuple(item) for item in effects[f"{stage}_broken"])
            self.resources.update(PurePosixPath(r) for r in effects[f"{stage}_resources"])

        def _load(self, src: PurePosixPath) -> dict[str, Any] | None:
            if str(src) not in self.reusable:
                return None
            try:
                data = decode(json.loads(read_sealed(cache_path(self.root, str(src))) or "null"))
                return data if data.get("src") == str(src) and not data["meta"].get("listing") else None
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                return None

        def read(self, src: PurePosixPath) -> Any:
            cached = self._load(src)
            if cached is None:
                mark = self._mark()
                page = super().read(src)
                self._record(src, "read", mark)
                return page
            self.cached[src] = cached
            self.effects[src] = dict(cached["effects"])
            self.reused.add(src)
            page = Page(src=src, out=PurePosixPath(cached["out"]), front=cached["front"], meta=cached["meta"],
                        body="", html=cached["html"], env=cached["env"], mtime=(self.root / src).stat().st_mtime)
            page.env["link"] = lambda href, kind, page=page: self.resolve(href, page)
            self._replay(src, "read")
            return page

        def render_page(self, page: Any) -> None:
            if page.src in self.reused:
                self._replay(page.src, "render")
                return
            mark = self._mark()
            super().render_page(page)
            self._record(page.src, "render", mark)

        def build(self) -> int:
            """Site.build, with the reused pages' outputs kept (the steps in the same order)."""
            if self.llms_on() or self.project.smalldocs.get("api"):
                self.reusable = set()  # a Markdown copy or an API reference needs every page's own build
            self.check_output()
            sources = self.discover()
            self.run_scripts("pre-render", sources)
            sources = self.discover()
            mode = self.draft_mode()
            for src in sources:
                page = self.read(src)
                if self.is_draft(page):
                    if mode == "gone":
                        continue
                    page.draft = True
                self.pages[src] = page
            if not self.pages:
                from smalldocs.config import BuildError

                raise BuildError(f"no pages to render in {self.root}")
            self.load_symbols()
            for page in self.pages.values():
                self.render_page(page)
            notebooks = browser.collect(self)
            if notebooks:
                browser.require_jupyterlite()
            nav = layout.SiteNav(self)
            for page in self.pages.values():
                if page.meta.get("listing"):
                    listing.expand(self, page)
            kept: dict[PurePosixPath, bytes] = {}
            for src in self.reused:
                try:
                    kept[src] = (self.out / self.pages[src].out).read_bytes()
                except (OSError, KeyError):
                    kept.pop(src, None)
            if self.out.exists():
                for child in self.out.iterdir():
                    shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
            self.out.mkdir(parents=True, exist_ok=True)
            for src, page in self.pages.items():
                dest = self.out / page.out
                dest.parent.mkdir(parents=True, exist_ok=True)
                if src in kept:
                    dest.write_bytes(kept[src])
                    self._replay(src, "layout")
                    continue
                mark = self._mark()
                dest.write_text(layout.page(self, nav, page), encoding="utf-8")
                self._record(src, "layout", mark)
                self._store(page)
            self.copy_assets(nav)
            self.copy_resources()
            browser.build(self, nav, notebooks)
            self.write_search()
            self.write_sitemap()
            self.write_llms_txt()
            listing.write_feeds(self)
            self.run_scripts("post-render", sources)
            for src, href in self.broken:
                self.warn(f"{src}: broken link {href}")
            return len(self.pages)

        def write_pages(self, only: set[str]) -> list[str]:
            """Render the pages `only` and write their HTML files alone, every other page reused from
            `.diary-cache/` for the navigation; the rest of `_site/` is left as it is. What `diary
            preview` shows first of an edit, before the full build (listings, feed, search) follows."""
            self.reusable = {str(src) for src in self.discover()} - only
            for src in self.discover():
                page = self.read(src)
                if not (self.is_draft(page) and self.draft_mode() == "gone"):
                    self.pages[src] = page
            self.load_symbols()
            for page in self.pages.values():
                if page.src not in self.reused:
                    self.render_page(page)
            nav = layout.SiteNav(self)
            written = []
            for src, page in self.pages.items():
                if str(src) in only and not page.meta.get("listing"):
                    write_text_atomic(self.out / page.out, layout.page(self, nav, page))
                    written.append(str(src))
            return written

        def _store(self, page: Any) -> None:
            """Keep the rendered page for the next build; a page that JSON cannot hold is not kept."""
            if page.meta.get("listing"):
                return  # a listing is expanded with the other pages: it is always made afresh
            try:
                data = encode({
                    "src": str(page.src), "out": str(page.out), "front": page.front, "meta": page.meta,
                    "html": page.html, "env": {k: v for k, v in page.env.items() if not callable(v)},
                    "effects": self.effects.get(page.src, {}),
                })
            except TypeError:
                cache_path(self.root, str(page.src)).unlink(missing_ok=True)
                return
            write_text_atomic(cache_path(self.root, str(page.src)), seal(json.dumps(data, ensure_ascii=False)))

    return IncrementalSite


# Options _quarto.yml sets for Quarto alone, which smalldocs rightly ignores: not worth a warning on
# every build (`html-math-method: plain` stops Quarto loading MathJax from a CDN; smalldocs never does).
_FOR_QUARTO_ONLY = frozenset({
    "format.html.html-math-method is ignored",
    "format.html.title-block-banner-color is ignored",  # styles.css gives the banner the same text colour
    "format.html.respect-user-color-scheme is ignored",  # smalldocs follows the reader's preference anyway
    # theme.scss, listed after each theme for Quarto: its one setting (no web fonts) smalldocs_compat applies.
    "theme theme.scss: smalldocs compiles no Sass; use css: and the --bs-* variables",
})


def _is_written_later(warning: str, output_dir: Path) -> bool:
    """smalldocs checks links before it writes the feed and the sitemap, so a link to either is
    reported broken on every page; drop the warning when the file is there after the build."""
    match = re.search(r": broken link /?([\w./-]+\.xml)$", warning)
    return match is not None and (output_dir / match.group(1)).is_file()


def write_pages_with_smalldocs(root: Path, pages: set[str], *, env: dict[str, str]) -> list[str]:
    """Render and write the HTML of `pages` alone (IncrementalSite.write_pages); [] when that fails, for
    the full build that follows to report."""
    from smalldocs.config import BuildError, ConfigError, load

    try:
        with added_environment(env), contextlib.redirect_stderr(io.StringIO()), _memoised_yaml(), \
                quarto_code_blocks():
            site = _incremental_site_class()(load(root), quiet=True, reusable=set())
            if site.llms_on() or site.project.smalldocs.get("api"):
                return []  # those need a whole build
            written: list[str] = site.write_pages(pages)
            return written
    except (BuildError, ConfigError, OSError, ValueError, KeyError):
        return []

