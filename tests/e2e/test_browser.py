"""End to end in a real browser: the built site opens, its posts show their tables and code, the
dark-mode toggle works, and no script smuggled in through a snapshot (source, stdout, test messages)
ever runs.

Needs Playwright from PyPI and Debian's chromium (never `playwright install`); CI installs both, so a
missing browser is a failure, not a skip. Screenshots go to tests/artifacts/ (gitignored).

The site comes from the `built_site` fixture (tests/conftest.py: the tiny diary fixture, with its
hostile snapshots, built once per session). Its payload (`<script>window.__pwned=1;alert(1)</script>`
in sources, stdout, stderr and test messages) must then be visible as text and never run. Where no
conftest provides `built_site`, this file builds the real repository's site into a temporary copy with
`python -m diary build --engine smalldocs`; DIARY_EXPECT_HOSTILE=1 then asks for the payload too.

The reader's view is measured too (the last tests): every page of the tiny diary and of this repository's
own site, at 1280 and 390 px, in the light and the dark scheme, must fit its column (anything wider
scrolls in its own box), pass axe-core with no violation, and log no error; screenshots of every page
go to tests/artifacts/audit/<site>/ and the figures (axe violations, widest element per page) to
tests/artifacts/audit/<site>-<width>-<scheme>.json. axe-core comes from npm (`npm ci`, package.json);
where it is missing the axe test skips and says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

# browserkit finds the browser (Debian's chromium here and in .ci/run; Google Chrome on GitHub's Ubuntu
# runners, whose chromium package is only a snap wrapper) and measures the pages.
from browserkit import (
    AXE_JS,
    AXE_MISSING,
    THEMES,
    WIDTHS,
    Audit,
    audit,
    serve,
    site_pages,
)
from diarykit import REPO

pytestmark = pytest.mark.browser

ARTIFACTS = REPO / "tests" / "artifacts"
# What a copy of the repository leaves out: version control, build output and local clutter.
COPY_IGNORE_ANYWHERE = shutil.ignore_patterns(
    ".git", ".quarto", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache",
    ".hypothesis", ".diary.lock", "*.egg-info",
)
COPY_IGNORE_AT_ROOT = {"_site", "build", "tests/artifacts"}
# Where the copy is built: inside the checkout's gitignored build/ folder rather than /tmp, because the
# sandbox hides /tmp (and home directories) from the runs and the tests it starts, and a copy of the
# repository is only as visible to it as the repository itself.
BUILD_PARENT = REPO / "build"
BUILD_TIMEOUT_S = 1800  # a cold build measures every snapshot; CI's cache (the records) makes it fast
NAV_TIMEOUT_MS = 30_000
# Whether the site under test holds the hostile payload as text (set by `site_dir`).
HOSTILE_SITE = pytest.StashKey[bool]()
# A shortcode a page's own source uses; one left in the text a reader sees was not expanded. (Code
# blocks are left out: the hostile snapshots show `{{< include /etc/passwd >}}` there, as written.)
UNEXPANDED_SHORTCODE = re.compile(r"\{\{<\s*(include|var)\b")
MAIN_TEXT_WITHOUT_CODE = """() => {
    const main = document.querySelector('main').cloneNode(true);
    main.querySelectorAll('pre').forEach(pre => pre.remove());
    document.body.appendChild(main);   // innerText needs a rendered element
    const text = main.innerText;
    main.remove();
    return text;
}"""


# ------------------------------------------------------------------ the site and its server


def _copy_ignore(directory: str, names: list[str]) -> set[str]:
    ignored = set(COPY_IGNORE_ANYWHERE(directory, names))
    rel = Path(directory).resolve().relative_to(REPO)
    return ignored | {name for name in names if (rel / name).as_posix() in COPY_IGNORE_AT_ROOT}


def _build_repo_site(work: Path) -> Path:
    """Copy the repository to `work` and build it there with smalldocs; return the `_site` folder."""
    copy = work / "repo"
    shutil.copytree(REPO, copy, ignore=_copy_ignore, symlinks=True)
    # `project.pre-render` runs `diary refresh`; `diary build` tells it that it has nothing left to do,
    # but the command must exist. A shim on PATH runs this checkout's package.
    bin_dir = work / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "diary"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m diary "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(copy / "tools"), os.environ.get("PYTHONPATH")])),
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
    }
    env.pop("DIARY_LOCK_HELD", None)
    env.pop("DIARY_PRERENDER_DONE", None)
    done = subprocess.run(
        [sys.executable, "-m", "diary", "build", "--engine", "smalldocs", "--quiet"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )
    # exit 1 means a snapshot broke unexpectedly: the site is still built, and it must show it as broken
    if done.returncode not in (0, 1) or not (copy / "_site" / "index.html").is_file():
        pytest.fail(f"building the site failed (exit {done.returncode}):\n"
                    f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return copy / "_site"


@pytest.fixture(scope="session")
def site_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The conftest's `built_site` when there is one, else the real site built into a temporary copy.

    DIARY_BROWSER_SITE=<a built _site folder> skips the build (for looking at a site by hand).
    """
    prebuilt = os.environ.get("DIARY_BROWSER_SITE")
    request.config.stash[HOSTILE_SITE] = os.environ.get("DIARY_EXPECT_HOSTILE") == "1"
    if prebuilt:
        site = Path(prebuilt)
        assert (site / "index.html").is_file(), f"DIARY_BROWSER_SITE={prebuilt} holds no index.html"
        yield site
        return
    try:
        site = Path(request.getfixturevalue("built_site"))
    except pytest.FixtureLookupError:
        BUILD_PARENT.mkdir(exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="browser-site-", dir=BUILD_PARENT))
        try:
            site = _build_repo_site(work)
            assert (site / "index.html").is_file(), f"{site} holds no index.html"
            yield site
        finally:
            shutil.rmtree(work, ignore_errors=True)
            with contextlib.suppress(OSError):  # only when nothing else lives there
                BUILD_PARENT.rmdir()
        return
    assert (site / "index.html").is_file(), f"{site} holds no index.html"
    request.config.stash[HOSTILE_SITE] = True  # the tiny diary: hostile on purpose
    yield site


@pytest.fixture(scope="session")
def base_url(site_dir: Path) -> Iterator[str]:
    """Serve the site on 127.0.0.1 (a free port) from a thread, as a static host would."""
    with serve(site_dir) as url:
        yield url


# ------------------------------------------------------------------ the browser


class Watch:
    """Everything a page did that it must not: dialogs, uncaught errors, requests off this host."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.blocked: list[str] = []

    def check(self, where: str) -> None:
        assert not self.dialogs, f"{where}: a script opened dialogs: {self.dialogs}"
        assert not self.errors, f"{where}: uncaught script errors: {self.errors}"


@pytest.fixture
def page(browser, base_url: str) -> Iterator[tuple[object, Watch]]:
    """A fresh page (own storage, so no colour scheme carries over) that records what it must not do."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    context.set_default_timeout(NAV_TIMEOUT_MS)
    watch = Watch()
    host = urlparse(base_url).netloc

    def route(r) -> None:  # the site must work offline; fonts or trackers from elsewhere are cut off
        if urlparse(r.request.url).netloc in (host, "") or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            watch.blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    pg = context.new_page()

    def on_dialog(dialog) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    pg.on("pageerror", lambda error: watch.errors.append(str(error)))
    try:
        yield pg, watch
    finally:
        context.close()


def shot(pg, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0, f"an empty screenshot {path}"


def pwned(pg) -> bool:
    return pg.evaluate("() => typeof window.__pwned !== 'undefined' || typeof window.pwned !== 'undefined'")


def open_page(pg, watch: Watch, url: str) -> None:
    response = pg.goto(url, wait_until="load")
    status = response.status if response else "no response"
    assert response is not None and response.ok, f"{url}: HTTP {status}"
    watch.check(url)
    assert not pwned(pg), f"{url}: an injected script ran (window.__pwned is set)"


def post_links(pg, base_url: str) -> list[str]:
    """The absolute addresses of the posts the home page's listing links to, in listing order."""
    hrefs = pg.eval_on_selector_all(".quarto-post a[href]", "els => els.map(e => e.getAttribute('href'))")
    links = []
    for href in hrefs:
        url = urljoin(base_url, href)
        if re.search(r"/posts/[^/]+(/index\.html|/|\.html)$", url) and url not in links:
            links.append(url)
    return links


LISTING_DATES = """() => [...document.querySelectorAll('.quarto-post')].map(post => {
    const quarto = post.getAttribute('data-listing-date-sort');        // Quarto: milliseconds
    if (quarto) return Number(quarto);
    try {                                                               // smalldocs: JSON sort keys
        const date = JSON.parse(post.getAttribute('data-sort') || '{}').date;
        return date ? Date.parse(date) : null;
    } catch (e) { return null; }
})"""


# ------------------------------------------------------------------ the tests


def test_home_page_lists_the_posts_newest_first(page, base_url: str) -> None:
    pg, watch = page
    open_page(pg, watch, base_url)
    shot(pg, "home")
    assert pg.title(), "the home page has no title"
    links = post_links(pg, base_url)
    assert links, "the home page's listing shows no posts"
    assert pg.locator(".quarto-post").first.is_visible()
    dates = [d for d in pg.evaluate(LISTING_DATES) if d is not None]
    assert dates == sorted(dates, reverse=True), f"the listing is not newest first: {dates}"
    for url in links:
        assert pg.request.get(url).ok, f"the listing links to {url}, which does not load"


def test_a_post_shows_its_progress_table_and_code(page, base_url: str) -> None:
    pg, watch = page
    open_page(pg, watch, base_url)
    links = post_links(pg, base_url)
    assert links, "no posts to open"
    shown = []
    for url in links:
        open_page(pg, watch, url)
        main = pg.locator("main").first
        left = UNEXPANDED_SHORTCODE.search(pg.evaluate(MAIN_TEXT_WITHOUT_CODE))
        assert left is None, f"{url}: a shortcode was left unexpanded: {left and left.group(0)}"
        table, code = main.locator("table").first, main.locator("pre").first
        if table.count() and code.count() and table.is_visible() and code.is_visible():
            shown.append(url)
            if len(shown) == 1:
                shot(pg, "post")
                assert table.locator("tr").count() >= 2, f"{url}: the progress table has no rows"
                assert code.inner_text().strip(), f"{url}: an empty code excerpt"
                code.scroll_into_view_if_needed()
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                pg.screenshot(path=str(ARTIFACTS / "post-code.png"))  # the viewport, at the code
    assert shown, f"no post shows both a progress table and a code excerpt (opened {len(links)} posts)"


def test_dark_mode_toggle(page, base_url: str) -> None:
    pg, watch = page
    open_page(pg, watch, base_url)
    toggle = pg.locator(".quarto-color-scheme-toggle").first
    assert toggle.count() == 1, "no .quarto-color-scheme-toggle: the theme needs a light and a dark scheme"
    state = """() => ({
        dark: document.documentElement.classList.contains('quarto-dark')
              || document.body.classList.contains('quarto-dark'),
        background: getComputedStyle(document.body).backgroundColor,
    })"""
    before = pg.evaluate(state)
    assert not before["dark"], f"a light context opened a dark page: {before}"
    shot(pg, "light")
    toggle.click()
    # The stylesheet switches first and the page marks itself dark a moment later (smalldocs reads the
    # new background after 50 ms): wait for both, then look.
    try:
        pg.wait_for_function(
            f"(before) => {{ const now = ({state})(); return now.dark && now.background !== before.background; }}",
            arg=before, timeout=10_000,
        )
    except Exception as error:  # playwright's TimeoutError: say what the page looks like instead
        pytest.fail(f"after the toggle the page is not dark: {pg.evaluate(state)} (before: {before}): {error}")
    after = pg.evaluate(state)
    shot(pg, "dark")
    assert after["dark"] and after["background"] != before["background"]
    # and back again
    toggle.click()
    pg.wait_for_function(
        f"(before) => {{ const now = ({state})(); return !now.dark && now.background === before.background; }}",
        arg=before, timeout=10_000,
    )
    watch.check("after toggling the colour scheme")


def test_no_injected_script_runs_anywhere(page, base_url: str, site_dir: Path, request) -> None:
    """Every built page opens without a dialog, an uncaught error or `window.__pwned` being set."""
    pg, watch = page
    pages = sorted(p.relative_to(site_dir).as_posix() for p in site_dir.rglob("*.html")
                   if "site_libs" not in p.parts)
    assert pages
    hostile_text_seen = False
    for rel in pages:
        url = urljoin(base_url, rel)
        open_page(pg, watch, url)
        text = pg.locator("body").inner_text()
        if "__pwned" in text:  # the hostile snapshot's payload, shown as text: escaped, as it must be
            hostile_text_seen = True
            shot(pg, "hostile-" + re.sub(r"[^a-z0-9]+", "-", rel.lower()).strip("-"))
        # an injected element would be a real <script> or an event handler in the DOM
        injected = pg.evaluate(
            """() => [...document.querySelectorAll('script')]
                       .filter(s => s.textContent.includes('__pwned')).length
                   + [...document.querySelectorAll('*')]
                       .filter(e => [...e.attributes]
                           .some(a => a.name.startsWith('on') && a.value.includes('pwned')))
                       .length"""
        )
        assert injected == 0, f"{rel}: an injected script or handler is part of the page"
    watch.check("after visiting every page")
    if request.config.stash.get(HOSTILE_SITE, False):
        assert hostile_text_seen, "the hostile snapshot's payload should be visible as text somewhere"


# ------------------------------------------------------------------ the reader's view: every page, measured

AUDIT_DIR = ARTIFACTS / "audit"
_AUDITS: dict[tuple[str, int, str], list[Audit]] = {}


@pytest.fixture(scope="session")
def repo_site() -> Iterator[Path]:
    """This repository's own site, built with smalldocs into a temporary copy (DIARY_REPO_SITE skips it)."""
    prebuilt = os.environ.get("DIARY_REPO_SITE")
    if prebuilt:
        yield Path(prebuilt)
        return
    BUILD_PARENT.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="audit-site-", dir=BUILD_PARENT))
    try:
        yield _build_repo_site(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            BUILD_PARENT.rmdir()


def _site(request: pytest.FixtureRequest, which: str) -> Path:
    return Path(request.getfixturevalue("built_site" if which == "tiny" else "repo_site"))


def audits(request: pytest.FixtureRequest, browser, which: str, width: int, theme: str) -> list[Audit]:
    """Every page of one site at one width and scheme, measured once per session, with screenshots."""
    key = (which, width, theme)
    if key not in _AUDITS:
        site = _site(request, which)
        results = []
        with serve(site) as base:
            for rel in site_pages(site):
                name = re.sub(r"[^a-z0-9]+", "-", rel.lower().removesuffix(".html")).strip("-")
                results.append(audit(browser, base + rel, width, theme,
                                     shot=AUDIT_DIR / which / f"{name}-{width}-{theme}.png",
                                     axe=AXE_JS.is_file()))
        assert results, f"{site} has no pages"
        AUDIT_DIR.mkdir(parents=True, exist_ok=True)
        (AUDIT_DIR / f"{which}-{width}-{theme}.json").write_text(json.dumps([{
            "page": urlparse(a.url).path.lstrip("/"), "dark": a.dark,
            "axe": {v["id"]: len(v["nodes"]) for v in a.violations},
            "widest": a.layout["widest"], "offsite": sorted(set(a.offsite)),
        } for a in results], indent=1), encoding="utf-8")
        _AUDITS[key] = results
    return _AUDITS[key]


READER_VIEWS = [pytest.param(which, width, theme, id=f"{which}-{width}px-{theme}")
                for which in ("tiny", "repo") for width in WIDTHS for theme in THEMES]


@pytest.mark.parametrize(("which", "width", "theme"), READER_VIEWS)
def test_every_page_fits_its_column(request, browser, which: str, width: int, theme: str) -> None:
    """Nothing is wider than its column unless it scrolls in its own box; nothing is cut off; no errors."""
    problems = []
    for a in audits(request, browser, which, width, theme):
        if a.dark != (theme == "dark"):
            problems.append(f"{a.where}: the page is {'dark' if a.dark else 'light'}")
        layout = a.layout
        if layout["documentWidth"] > layout["viewport"]:
            problems.append(f"{a.where}: the page scrolls sideways ({layout['documentWidth']} px in "
                            f"{layout['viewport']} px)")
        problems += [f"{a.where}: sticks out: {item}" for item in layout["sticking"]]
        problems += [f"{a.where}: cut off: {item}" for item in layout["clipped"]]
        problems += [f"{a.where}: console: {message}" for message in a.console_errors]
        # No other host at all: not even the themes' web fonts (theme.scss, smalldocs_compat.py).
        problems += [f"{a.where}: asked another host: {host}" for host in sorted(set(a.offsite))]
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])


@pytest.mark.parametrize(("which", "width", "theme"), READER_VIEWS)
def test_every_page_passes_axe(request, browser, which: str, width: int, theme: str) -> None:
    """axe-core (WCAG 2.2 A and AA, and best practices) finds no violation on any page."""
    if not AXE_JS.is_file():
        pytest.skip(AXE_MISSING)
    failing = [f"{a.where}: {a.axe_summary()}" for a in audits(request, browser, which, width, theme)
               if a.violations]
    assert not failing, f"{len(failing)} pages with axe violations:\n" + "\n".join(failing[:20])


VISIBLE_HEADERS = """(table) => [...table.querySelectorAll('th')]
    .filter(th => getComputedStyle(th).display !== 'none').map(th => th.innerText.trim())"""


def test_progress_table_shows_key_columns_and_the_rest_on_request(page, base_url: str) -> None:
    """Key columns first (snapshot, code, change, status); the checkbox shows every column."""
    pg, watch = page
    open_page(pg, watch, urljoin(base_url, "progress.html"))
    box = pg.locator(".diary-progress").first
    table = box.locator("table").first
    every = table.locator("th").all_inner_texts()
    shown = table.evaluate(VISIBLE_HEADERS)
    assert shown[0] == "snapshot" and shown[-1] == "status" and {"code", "vs parent"} <= set(shown), shown
    assert len(shown) < len(every), f"every column is shown at once: {shown}"
    checkbox = box.get_by_label(re.compile(r"Show all \d+ columns"))
    checkbox.check()
    assert table.evaluate(VISIBLE_HEADERS) == [text.strip() for text in every]
    shot(pg, "progress-all-columns")
    # the wide table scrolls inside its own box, and the keyboard can reach that box
    assert box.evaluate("b => b.scrollWidth > b.clientWidth"), "the full table should scroll in its box"
    assert box.get_attribute("tabindex") == "0"
    checkbox.uncheck()
    assert table.evaluate(VISIBLE_HEADERS) == shown


CODE_BOXES = "main pre, main div.sourceCode"
SCROLLS = ("e => e.scrollWidth > e.clientWidth "
           "&& ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)")
# The index, among the code boxes, of the focused one when it scrolls; else -1.
FOCUSED_CODE_BOX = (f"() => {{ const e = document.activeElement; const boxes = [...document.querySelectorAll("
                    f"'{CODE_BOXES}')]; return e && boxes.includes(e) && ({SCROLLS})(e) ? boxes.indexOf(e) : -1; }}")


# Per code line of an excerpt: whether it is longer than its box would show on one line, and whether it
# is cut off (wider than the box it sits in, which does not scroll it into view as a whole).
CODE_LINES = ("() => [...document.querySelectorAll('main div.sourceCode[tabindex] > pre > code > span')].map(s => "
              "{ const box = s.closest('div.sourceCode'); const line = parseFloat(getComputedStyle(s).lineHeight); "
              "return [s.getBoundingClientRect().height > 1.5 * line, "
              "box.scrollWidth > box.clientWidth]; })")


def test_long_code_lines_wrap_on_a_wide_screen(page, base_url: str) -> None:
    """At 1280 px a code line longer than the column wraps inside its own line of the box: no excerpt
    hides the end of a line beyond the column."""
    pg, watch = page
    open_page(pg, watch, base_url)
    wrapped = False
    for url in post_links(pg, base_url):
        open_page(pg, watch, url)
        lines = pg.evaluate(CODE_LINES)
        assert not any(cut for _, cut in lines), f"{url}: a code box scrolls sideways at 1280 px"
        wrapped = wrapped or any(many for many, _ in lines)
    assert wrapped, "no post has a code line longer than the column (nothing wraps)"


def test_code_boxes_are_reachable_by_keyboard(page, base_url: str) -> None:
    """Tab reaches every code box that scrolls, so arrow keys can scroll it. On a phone's width a long
    line scrolls in its box (on a wide screen it wraps: the next test)."""
    pg, watch = page
    pg.set_viewport_size({"width": 390, "height": 844})
    open_page(pg, watch, base_url)
    # The box that scrolls: an excerpt's div.sourceCode (the element its fenced block's tabindex lands
    # on), or the <pre> of a program's output; an element whose overflow is visible scrolls nothing.
    count = f"() => [...document.querySelectorAll('{CODE_BOXES}')].filter({SCROLLS}).length"
    for url in post_links(pg, base_url):  # the first post with a code box wider than the column
        open_page(pg, watch, url)
        scrolling = pg.evaluate(count)
        if scrolling:
            break
    assert scrolling, "no post has a code box wider than the column (nothing to scroll)"
    reached = set()
    for _ in range(200):
        pg.keyboard.press("Tab")
        focused = pg.evaluate(FOCUSED_CODE_BOX)
        if focused >= 0:
            reached.add(focused)
        if len(reached) == scrolling:
            break
    assert len(reached) == scrolling, f"{url}: Tab reached {len(reached)} of {scrolling} scrolling code boxes"
    before = pg.evaluate("() => document.activeElement.scrollLeft")
    pg.keyboard.press("ArrowRight")
    pg.wait_for_timeout(100)
    assert pg.evaluate("() => document.activeElement.scrollLeft") > before, "ArrowRight did not scroll the box"
