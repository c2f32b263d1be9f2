"""Stage "render": turn the Quarto website at the repository root into `_site`.

Two engines: the Quarto CLI when it is installed and recent enough (CI installs it), else smalldocs, a
pure-Python engine that reads the same `_quarto.yml` and runs the same pre-render scripts. Either way the
caller learns which engine, and which version, made the site.

This module chooses the engine and plans the build (only the changed pages, see buildstate.py); the
Quarto CLI wrapper is quarto_cli.py, the smalldocs path (with the reuse of unchanged pages)
smalldocs_render.py.
"""

from __future__ import annotations

import json
import os
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diary.core.contract import (
    GENERATED_DIR,
    LOCK_PATH,
    PAGES_DIR,
    RECORDS_DIR,
    SITE_CONFIG_PATH,
    SITE_DIR,
    STATE_DIR,
    VARIABLES_PATH,
)
from diary.core.errors import DiaryError
from diary.core.lock import command_lock
from diary.core.safefs import no_links
from diary.render.buildstate import ENGINE_CACHE_DIR, BuildState, plan_build, record_build
from diary.render.published import refuse_unpublishable
from diary.render.quarto_cli import (
    INSTALL_HINT,
    MIN_QUARTO,
    QUARTO_GET_STARTED,
    Echo,
    find_quarto,
    format_version,
    preview_with_quarto,
    quarto_version,
)
from diary.render.quarto_pages import render_changed_with_quarto
from diary.render.smalldocs_render import render_with_smalldocs

ENGINES = ("auto", "quarto", "smalldocs")


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
        oldest = format_version(MIN_QUARTO)
        too_old = f"quarto {format_version(version)} at {executable} is older than {oldest}"
        if requested == "quarto":
            raise DiaryError(
                f"{too_old}, the oldest that renders this site",
                hint=f"install a newer Quarto from {QUARTO_GET_STARTED} or use --engine smalldocs",
            )
        return _smalldocs_engine(f"embedded engine; {too_old}")
    return Engine("quarto", executable, format_version(version), executable)


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
    from diary.core.yamlio import read_yaml

    quarto = root / SITE_CONFIG_PATH
    if not quarto.is_file():
        return
    located = read_yaml(quarto)
    project = located.data.get("project") if isinstance(located.data, dict) else None
    output_dir = project.get("output-dir", SITE_DIR) if isinstance(project, dict) else SITE_DIR
    if str(output_dir).strip("/") != SITE_DIR:
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
    # The engines write and clean these, and the build state is kept in the last: never through a link.
    for folder in (SITE_DIR, ENGINE_CACHE_DIR, "_freeze", STATE_DIR):
        no_links(root, Path(root) / folder)
    _check_output_dir(Path(root))
    refuse_unpublishable(Path(root))  # a link, a device or an unpublishable name never reaches _site
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
    output_dir = root / SITE_DIR  # the output-dir of both engines for this project
    if plan is None or plan.full:
        # A committed or forged _site/ or .quarto/ is not kept by a full build.
        _empty(output_dir)
        _empty(root / ENGINE_CACHE_DIR)
    warnings: list[str] = []
    rendered: list[str] | None = None if plan is None or plan.full else plan.changed  # None: every page
    if plan is not None and plan.nothing_to_do:
        # Every page, and the rest of the output folder, is what this build would write.
        warnings = BuildState.load(root).warnings
        for warning in warnings:
            echo(f"warning: {warning}" if engine.name == "smalldocs" else warning)
    elif engine.name == "quarto":
        assert engine.executable is not None  # a quarto Engine always has one
        rendered, warnings = render_changed_with_quarto(root, engine.executable, engine.label(), plan,
                                                        quiet=quiet, env=env, echo=echo)
    else:
        output_dir, warnings = render_with_smalldocs(root, quiet=quiet, env=env, echo=echo, plan=plan)
    if plan is not None and not plan.nothing_to_do:
        record_build(root, engine_key, plan, rendered, warnings)
    return RenderResult(engine.name, engine.version, output_dir, time.perf_counter() - started, warnings)


def failure_notice(title: str, lines: list[str]) -> bytes:
    """The box `diary preview` shows at the top of every page it serves while the last build failed."""
    from jinja2 import Template

    template = (Path(__file__).resolve().parents[1] / "templates" / "preview_failed.html.j2").read_text(
        encoding="utf-8")
    return Template(template, autoescape=True).render(title=title, lines=lines).encode("utf-8")


def _empty(folder: Path) -> None:
    """Remove everything in `folder` (checked to be a real folder, never a link, by render_site)."""
    import shutil

    if folder.is_dir():
        for child in folder.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def _variables(root: Path) -> Any:
    """`_variables.yml` as the engines read it, for the values the pages use; None when unreadable.
    Kept by content in the user's cache as JSON, which loads several times faster than the YAML."""
    import yaml

    from diary.core import usercache

    try:
        text = (root / "_variables.yml").read_text(encoding="utf-8-sig")
    except (OSError, ValueError):
        return None
    def parse() -> Any:
        try:
            value = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except (ValueError, yaml.YAMLError):
            return None
        # As JSON whether cached or not, so a hit and a miss give the same digests (dates as text).
        return json.loads(json.dumps(value, default=str))

    key = usercache.key_of("variables", yaml.__version__, text)
    return usercache.remembered("variables", key, parse, encode=lambda value: {"value": value},
                                decode=lambda data: data["value"])


# What a preview's build does before it renders: measure and generate (the CLI's stages; this package
# sits below them), returning what went wrong though the site still builds (a snapshot that broke).
Refresh = Callable[[], list[str]]


def preview_site(
    root: Path, engine: Engine, *, port: int = 4200, open_browser: bool = False, echo: Echo = print,
    refresh: Refresh = lambda: [],
) -> int:
    """Serve the site at `root`, re-rendered on each change, until Ctrl-C; return the exit code."""
    echo(f"previewing with {engine.label()}")
    env = engine_environment({})
    if engine.name == "smalldocs":
        return _preview_with_smalldocs(root, engine, env=env, port=port, open_browser=open_browser, echo=echo,
                                       refresh=refresh)
    assert engine.executable is not None
    with command_lock(root):
        for problem in refresh():
            echo(problem)
    return preview_with_quarto(engine.executable, root, env=env, port=port, open_browser=open_browser)


# What measure and generate write (folders, the charts by their common prefix, the variables): the
# preview's own builds change these, the author does not.
_BUILD_OUTPUTS = (f"{GENERATED_DIR}/", f"{RECORDS_DIR}/", f"{PAGES_DIR}/", f"{STATE_DIR}/", ".quarto/",
                  "images/progress", VARIABLES_PATH, LOCK_PATH)


def _written_by_build(root: Path, path: str) -> bool:
    return Path(path).relative_to(root).as_posix().startswith(_BUILD_OUTPUTS)


def _preview_with_smalldocs(
    root: Path, engine: Engine, *, env: dict[str, str], port: int, open_browser: bool, echo: Echo,
    refresh: Refresh,
) -> int:
    """The embedded engine's preview: the incremental build of `diary build`, served on localhost with a
    reload script added to each page as it is served. On a change, the edited pages are written first
    and the browser told to reload; then the full incremental build (listings, feed, search index)
    follows and the browser reloads again."""
    import functools
    import http.server
    import io
    import socket
    import threading
    import webbrowser

    from smalldocs.serve import Handler, snapshot

    from diary.render.buildstate import is_listing
    from diary.render.smalldocs_render import write_pages_with_smalldocs

    notice: list[bytes] = [b""]  # what every served page shows above its content: the last build's problems

    def build() -> bool:
        """Measure, generate and render under the command's lock (the pre-render hook finds it held by
        its ancestor and returns at once); say what failed, on the console and on every page."""
        problems: list[str] = []
        try:
            with command_lock(root):
                problems = refresh()
                render_site(root, engine, env=env, echo=echo, quiet=True)
        except DiaryError as error:
            echo(f"the build failed: {error}")
            notice[0] = failure_notice("The last build failed; the pages are those of the build before it.",
                                       [str(error)])
            return False
        for problem in problems:  # built, showing it: a snapshot that broke is a result, not a failure
            echo(problem)
        notice[0] = failure_notice("The last build found a problem.", problems) if problems else b""
        return True

    if not build():
        return 2
    # Before anything is served: an edit made as soon as the first page can be read is a change.
    seen = snapshot(root, root / SITE_DIR)
    reload_script = (Path(__file__).resolve().parents[1] / "templates" / "preview_reload.html.j2").read_bytes()

    own_hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}

    class PreviewHandler(Handler):
        def do_GET(self) -> None:
            if self._own_host():
                super().do_GET()

        def do_HEAD(self) -> None:
            if self._own_host():
                super().do_HEAD()

        def _own_host(self) -> bool:
            """Only a request addressed to the preview itself: a page elsewhere that rebinds its own
            name to 127.0.0.1 (DNS rebinding) sends its own Host, and is refused."""
            if (self.headers.get("Host") or "").strip().lower() in own_hosts:
                return True
            self.send_error(421, "Misdirected Request", "the preview answers 127.0.0.1 and localhost only")
            return False

        def send_head(self) -> Any:
            path = Path(self.translate_path(self.path))
            if path.is_dir():
                path = path / "index.html"
            if path.suffix != ".html" or not path.is_file():
                return super().send_head()
            try:
                body = path.read_bytes()
            except OSError:
                return super().send_head()
            cut = body.rfind(b"</body>")
            added = notice[0] + reload_script.replace(b"{{ version }}", str(Handler.version).encode())
            body = body[:cut] + added + body[cut:] if cut >= 0 else body + added
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)

    try:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    except OSError:
        echo(f"port {port} is in use; give another with --port")
        return 2
    out = root / SITE_DIR
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(PreviewHandler, directory=str(out)))
    url = f"http://127.0.0.1:{port}/"
    echo(f"serving {out} at {url} (Ctrl-C to stop)")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if open_browser:
        webbrowser.open(url)
    engine_key = f"{engine.name} {engine.version}"
    try:
        while True:
            time.sleep(0.3)
            now = snapshot(root, out)
            if now == seen:
                continue
            plan = plan_build(root, engine_key, _variables(root))
            first = {src for src in plan.changed if not is_listing(root, src)}
            if first and len(first) < len(plan.changed) and not plan.full:
                written = write_pages_with_smalldocs(root, first, env=env)
                if written:
                    Handler.version += 1
                    echo(f"reloaded {', '.join(written)}; now the rest")
            if build():
                echo("rebuilt")
            Handler.version += 1  # reload: the rebuilt pages, or the notice that the build failed
            # What the build wrote is not a change; an author's edit made while it ran is (it keeps
            # the time seen before the build, so the next look finds it and builds again).
            after = snapshot(root, out)
            seen = {path: stamp if _written_by_build(root, path) else now.get(path, -1.0)
                    for path, stamp in after.items()}
    except KeyboardInterrupt:
        server.shutdown()
    return 0
