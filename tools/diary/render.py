"""Stage "render": turn the Quarto website at the repository root into `_site`.

Two engines: the Quarto CLI when it is installed and recent enough (CI installs it), else smalldocs, a
pure-Python engine that reads the same `_quarto.yml` and runs the same pre-render scripts. Either way the
caller learns which engine, and which version, made the site.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import json
import os
import re
import shutil
import subprocess
import sysconfig
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diary.buildstate import BuildState, Plan, plan_build, record_build
from diary.errors import DiaryError
from diary.safefs import no_links
from diary.smalldocs_compat import quarto_code_blocks

MIN_QUARTO = (1, 10, 0)  # the release line the diary is rendered and tested with (publish.yml pins one)
ENGINES = ("auto", "quarto", "smalldocs")
QUARTO_GET_STARTED = "https://quarto.org/docs/get-started/"
INSTALL_HINT = f"install Quarto from {QUARTO_GET_STARTED} or use --engine smalldocs"
# How many of a failed render's last output lines the error repeats: Quarto's error and its context.
TAIL_LINES = 20
# `quarto --version` starts Deno; the first run after an install can take a while.
VERSION_TIMEOUT_SECONDS = 60
# Time given to an interrupted Quarto to clean up before it is killed.
STOP_TIMEOUT_SECONDS = 5
VERSION_PATTERN = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?", re.MULTILINE)
# Quarto colours its log lines; the colour codes would hide a line's "WARN" prefix.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
QUARTO_WARNING = re.compile(r"^WARN(ING)?\b")

Echo = Callable[[str], None]


@dataclass
class Engine:
    """The engine that renders the site, and what to tell the author about the choice."""

    name: str  # "quarto" or "smalldocs"
    executable: str | None  # the quarto binary; None for the embedded smalldocs
    version: str
    note: str = ""  # shown in brackets after the name: where quarto is, or why smalldocs was chosen

    def label(self) -> str:
        """The engine as the author reads it, e.g. "smalldocs 0.5.4 (embedded engine; quarto not found)"."""
        text = f"{self.name} {self.version}"
        return f"{text} ({self.note})" if self.note else text


@dataclass
class RenderResult:
    """What a render made, with which engine, how long it took and what the engine warned about."""

    engine: str
    version: str
    output_dir: Path
    seconds: float
    warnings: list[str] = field(default_factory=list)


def find_quarto() -> str | None:
    """The quarto binary: QUARTO_PATH when set (as the quarto R package reads it), else `quarto` on PATH."""
    configured = os.environ.get("QUARTO_PATH")
    if configured:
        found = shutil.which(os.path.expanduser(configured))
        if found is None:
            # An explicit setting that points nowhere is a mistake to report, not a cue to use another quarto.
            raise DiaryError(
                f"QUARTO_PATH is {configured!r}, which is not an executable file",
                hint="point QUARTO_PATH at the quarto binary, or unset it to use quarto from PATH",
            )
        return found
    return shutil.which("quarto")


def quarto_version(executable: str) -> tuple[int, ...]:
    """The version `executable --version` reports, e.g. (1, 6, 40); (1, 4) is read as (1, 4, 0)."""
    try:
        completed = subprocess.run(
            [executable, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=VERSION_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DiaryError(f"could not run {executable} --version: {error}", hint=INSTALL_HINT) from error
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip()
        raise DiaryError(
            f"{executable} --version failed with exit code {completed.returncode}: {output[-300:]}",
            hint="`quarto check` diagnoses the installation; or use --engine smalldocs",
        )
    match = VERSION_PATTERN.search(completed.stdout)
    if match is None:
        raise DiaryError(
            f"{executable} --version printed {completed.stdout.strip()[:80]!r}, not a version such as 1.10.18",
            hint=INSTALL_HINT,
        )
    return tuple(int(part or 0) for part in match.groups())


def _format_version(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def _smalldocs_engine(note: str) -> Engine:
    import smalldocs  # the package's __init__ only holds the version; the engine itself is imported when used

    return Engine("smalldocs", None, smalldocs.__version__, note)


def choose_engine(requested: str = "auto") -> Engine:
    """The engine for `requested`: quarto, smalldocs or auto (quarto >= 1.10 when found, else smalldocs)."""
    if requested not in ENGINES:
        raise DiaryError(f"unknown engine {requested!r}", hint="use auto, quarto or smalldocs")
    if requested == "smalldocs":
        return _smalldocs_engine("embedded engine")
    executable = find_quarto()
    if executable is None:
        if requested == "quarto":
            raise DiaryError(
                "quarto was requested but is not installed (not on PATH, QUARTO_PATH unset)",
                hint=INSTALL_HINT,
            )
        return _smalldocs_engine("embedded engine; quarto not found")
    try:
        version = quarto_version(executable)
    except DiaryError as error:
        if requested == "quarto":
            raise
        return _smalldocs_engine(f"embedded engine; {executable} is unusable: {error.message}")
    if version < MIN_QUARTO:
        oldest = _format_version(MIN_QUARTO)
        too_old = f"quarto {_format_version(version)} at {executable} is older than {oldest}"
        if requested == "quarto":
            raise DiaryError(
                f"{too_old}, the oldest that renders this site",
                hint=f"install a newer Quarto from {QUARTO_GET_STARTED} or use --engine smalldocs",
            )
        return _smalldocs_engine(f"embedded engine; {too_old}")
    return Engine("quarto", executable, _format_version(version), executable)


def quarto_command(
    executable: str, action: str, root: Path, *, quiet: bool = False, extra: Sequence[str] = ()
) -> list[str]:
    """The command line that runs `quarto render` or `quarto preview` on the project at `root`."""
    if action not in ("render", "preview"):
        raise ValueError(f"quarto action must be render or preview, not {action!r}")
    command = [executable, action, str(root)]
    if quiet:
        command.append("--quiet")
    command.extend(extra)
    return command


def engine_environment(extra: dict[str, str]) -> dict[str, str]:
    """`extra`, plus a PATH on which the engine's `project.pre-render` (`diary refresh`) finds this
    `diary`: run as `.venv/bin/diary build` without an activated venv, it is not on PATH otherwise."""
    scripts = sysconfig.get_path("scripts")
    path = extra.get("PATH", os.environ.get("PATH", os.defpath))
    if scripts in path.split(os.pathsep):
        return dict(extra)
    return {**extra, "PATH": os.pathsep.join([scripts, path])}


def _check_output_dir(root: Path) -> None:
    """`project: output-dir:` of `_quarto.yml` (the repository's) must be `_site`: engines clean it."""
    from .yamlio import read_yaml

    quarto = root / "_quarto.yml"
    if not quarto.is_file():
        return
    located = read_yaml(quarto)
    project = located.data.get("project") if isinstance(located.data, dict) else None
    output_dir = project.get("output-dir", "_site") if isinstance(project, dict) else "_site"
    if str(output_dir).strip("/") != "_site":
        raise DiaryError(f"project output-dir {str(output_dir)!r} is not _site", file=quarto,
                         line=located.line_of("project"),
                         hint="remove output-dir: the engines write (and delete) everything in it")


def render_site(
    root: Path, engine: Engine, *, quiet: bool = False, env: dict[str, str] | None = None, echo: Echo = print,
    incremental: bool = True, verbose: bool = False,
) -> RenderResult:
    """Render the website at `root` into `_site` with `engine`; `env` is added to the engine's environment.

    With `incremental`, only the pages whose inputs changed since the last build are rendered (see
    buildstate.py); `verbose` lists them. Everything the engine prints goes to `echo`, line by line; a
    failed render raises DiaryError (and leaves the build state as it was, so the next build retries).
    """
    for folder in ("_site", ".quarto", "_freeze"):  # engines write and clean these: never through a link
        no_links(root, Path(root) / folder)
    _check_output_dir(Path(root))
    if not quiet:
        echo(f"rendering with {engine.label()}")
    started = time.perf_counter()
    env = engine_environment(env or {})
    engine_key = f"{engine.name} {engine.version}"
    plan = plan_build(root, engine_key, _variables(root)) if incremental else None
    if plan is not None and verbose:
        if plan.full:
            echo(f"rendering all {len(plan.sources)} pages ({plan.reason}):")
        else:
            echo(f"rendering {len(plan.changed)} of {len(plan.sources)} pages (the others are unchanged):")
        for src in plan.changed:
            echo(f"  {src}")
    elif plan is not None and not quiet and not plan.full:
        echo(f"rendering {len(plan.changed)} of {len(plan.sources)} pages (the others are unchanged)")
    output_dir = root / "_site"  # the output-dir of both engines for this project
    warnings: list[str] = []
    rendered: list[str] | None = None if plan is None or plan.full else plan.changed  # None: every page
    if plan is not None and plan.nothing_to_do:
        # Every page, and the rest of the output folder, is what this build would write.
        warnings = BuildState.load(root).warnings
        for warning in warnings:
            echo(f"warning: {warning}" if engine.name == "smalldocs" else warning)
    elif engine.name == "quarto":
        # No page changed but another file did (a stylesheet, an image): the whole project, whose render
        # copies them; Quarto renders no list of files without a page in it.
        if not rendered:
            rendered = None
        warnings = _render_with_quarto(root, engine, quiet=quiet, env=env, echo=echo, files=rendered)
    else:
        output_dir, warnings = _render_with_smalldocs(root, quiet=quiet, env=env, echo=echo, plan=plan)
    if plan is not None and not plan.nothing_to_do:
        record_build(root, engine_key, plan, rendered, warnings)
    return RenderResult(engine.name, engine.version, output_dir, time.perf_counter() - started, warnings)


def _variables(root: Path) -> Any:
    """`_variables.yml` as the engines read it, for the values the pages use; None when unreadable.
    Kept by content in the user's cache as JSON, which loads several times faster than the YAML."""
    import yaml

    from diary import usercache

    try:
        text = (root / "_variables.yml").read_text(encoding="utf-8-sig")
    except (OSError, ValueError):
        return None
    key = usercache.key_of("variables", yaml.__version__, text)
    cached = usercache.load("variables", key)
    if isinstance(cached, dict) and "value" in cached:
        return cached["value"]
    try:
        value = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (ValueError, yaml.YAMLError):
        return None
    # As JSON whether cached or not, so a hit and a miss give the same digests (dates as text).
    plain = json.loads(json.dumps(value, default=str))
    usercache.store("variables", key, {"value": plain})
    return plain


def _render_with_quarto(
    root: Path, engine: Engine, *, quiet: bool, env: dict[str, str], echo: Echo, files: list[str] | None = None
) -> list[str]:
    """`quarto render` of the whole project, or of `files` only (paths relative to the root): Quarto
    renders a list of files within their project, and updates its search index and listings."""
    assert engine.executable is not None  # a quarto Engine always has one
    if files is None:
        command = quarto_command(engine.executable, "render", root, quiet=quiet)
    else:
        command = [engine.executable, "render", *files, *(["--quiet"] if quiet else [])]
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    warnings = []
    process = _start_quarto(
        command,
        root,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream keeps Quarto's errors next to the step they belong to
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    with process:
        try:
            assert process.stdout is not None  # stdout=PIPE
            for raw_line in process.stdout:
                line = raw_line.rstrip("\r\n")
                tail.append(line)
                if QUARTO_WARNING.match(ANSI_ESCAPE.sub("", line)):
                    warnings.append(line)
                echo(line)
        except BaseException:  # Ctrl-C, or an echo that fails: never leave quarto running behind us
            _stop(process)
            raise
    if process.returncode != 0:
        last_lines = "\n".join(f"  {line}" for line in tail)
        raise DiaryError(
            f"{engine.label()} failed with exit code {process.returncode}; its last lines:\n{last_lines}",
            file=root,
            hint="the lines above come from quarto; `quarto check` diagnoses the installation, "
            "and --engine smalldocs renders without it",
        )
    return warnings


def _start_quarto(command: list[str], root: Path, **options: Any) -> subprocess.Popen[Any]:
    try:
        return subprocess.Popen(command, cwd=root, **options)
    except OSError as error:  # missing, not executable, or not a binary at all
        raise DiaryError(f"could not start {command[0]}: {error.strerror}", hint=INSTALL_HINT) from error


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
def _environment(extra: dict[str, str]) -> Iterator[None]:
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


def _render_with_smalldocs(
    root: Path, *, quiet: bool, env: dict[str, str], echo: Echo, plan: Plan | None = None
) -> tuple[Path, list[str]]:
    # Imported here: smalldocs's engine takes a quarter of a second to import, which commands that do not
    # render should not pay.
    from smalldocs.config import BuildError, ConfigError, load

    progress = _LineEcho(echo)
    try:
        with _environment(env), contextlib.redirect_stderr(progress), _memoised_yaml(), quarto_code_blocks():
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
            hint="fix what the message names, or render with quarto (--engine quarto)",
        ) from error
    except OSError as error:
        raise DiaryError(f"smalldocs could not render the site: {error}", file=root) from error
    finally:
        progress.flush_pending()
    warnings = [w for w in site.warnings if not _is_written_later(w, Path(site.out))]
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
    is identical to a full build's (tests/test_incremental.py compares them byte for byte)."""
    import json
    from pathlib import PurePosixPath

    from smalldocs import browser, layout, listing
    from smalldocs.site import Page, Site

    from diary.atomic import write_text_atomic
    from diary.buildstate import cache_path, decode, encode

    class IncrementalSite(Site):
        def __init__(self, project: Any, quiet: bool, reusable: set[str]) -> None:
            super().__init__(project, quiet=quiet)
            self.reusable = reusable
            self.reused: set[PurePosixPath] = set()
            self.effects: dict[PurePosixPath, dict[str, list[Any]]] = {}  # per page: warnings, broken, resources
            self.cached: dict[PurePosixPath, dict[str, Any]] = {}

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
                data = decode(json.loads(cache_path(self.root, str(src)).read_text(encoding="utf-8")))
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
            write_text_atomic(cache_path(self.root, str(page.src)), json.dumps(data, ensure_ascii=False))

    return IncrementalSite


def _is_written_later(warning: str, output_dir: Path) -> bool:
    """smalldocs checks links before it writes the feed and the sitemap, so a link to either is
    reported broken on every page; drop the warning when the file is there after the build."""
    match = re.search(r": broken link /?([\w./-]+\.xml)$", warning)
    return match is not None and (output_dir / match.group(1)).is_file()


def preview_site(
    root: Path, engine: Engine, *, port: int = 4200, open_browser: bool = False, echo: Echo = print
) -> int:
    """Serve the site at `root`, re-rendered on each change, until Ctrl-C; return the exit code."""
    echo(f"previewing with {engine.label()}")
    env = engine_environment({})
    if engine.name == "smalldocs":
        from smalldocs.serve import preview  # imported here for the same reason as in _render_with_smalldocs

        with _environment(env), quarto_code_blocks():
            return preview(root, port=port, open_browser=open_browser)
    assert engine.executable is not None
    extra = ([] if open_browser else ["--no-browser"]) + ["--port", str(port)]
    command = quarto_command(engine.executable, "preview", root, extra=extra)
    process = _start_quarto(command, root, env={**os.environ, **env})
    try:
        return process.wait()
    except KeyboardInterrupt:  # the normal way to end a preview; quarto got the same Ctrl-C from the terminal
        _stop(process)
        return 0
