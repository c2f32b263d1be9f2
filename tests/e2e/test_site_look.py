"""How the site looks, not only what it says: a diary made by `diary init` opened in the browser, and
the stylesheet's answers to Quarto 1.10's markup (checked without Quarto, on that markup and the
theme's Bootstrap CSS).

A diary straight from `diary init`, with one more snapshot and a post about it, built with smalldocs:
every page fits its column, passes axe-core, asks no other host (no web fonts), at 1280 and 390 px,
light and dark; its progress table's "Show all columns" box shows the other columns; its code keeps
its own box. Then, with scripts off as from disk: Quarto's collapsed table of contents is shown, and
the title banner's text is legible in both schemes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import smalldocs

from browserkit import AXE_JS, THEMES, WIDTHS, audit, serve, site_pages
from diarykit import FIXTURES_DIR, REPO, run_diary

pytestmark = pytest.mark.browser

THIRDPARTY = FIXTURES_DIR / "thirdparty"
BOOTSWATCH = Path(smalldocs.__file__).parent / "assets" / "vendor" / "bootswatch"  # the themes' Bootstrap


@pytest.fixture(scope="module")
def init_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("init-site")
    program = work / "mine"
    program.mkdir()
    shutil.copyfile(THIRDPARTY / "program" / "wordgen.py", program / "wordgen.py")
    shutil.copyfile(THIRDPARTY / "words.txt", program / "words.txt")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}
    done = subprocess.run([sys.executable, "-m", "diary", "init", "d", "--program", "mine/wordgen.py",
                           "--data", "mine/words.txt:input.txt",  # wordgen prints its start time:
                           "--filter", "timestamp", "^started .*$", "started <time>"],
                          capture_output=True, text=True, timeout=300,
                          cwd=work, env={**env, "PYTHONPATH": str(REPO / "tools")})
    assert done.returncode == 0, done.stderr
    root = work / "d"
    for args in (("new", "snapshot", "01-again", "--from", "00-baseline"),
                 ("new", "post", "Day 1: once more", "--snapshot", "01-again", "--date", "2026-03-02")):
        step = run_diary(root, *args)
        assert step.returncode == 0, step.stderr
    build = run_diary(root, "build", "--engine", "smalldocs", "--quiet")
    assert build.returncode == 0, build.stdout + build.stderr
    yield root / "_site"


@pytest.mark.parametrize(("width", "theme"), [(w, t) for w in WIDTHS for t in THEMES])
def test_an_init_made_diary_fits_passes_axe_and_asks_no_other_host(
    browser, init_site: Path, width: int, theme: str
) -> None:
    problems = []
    with serve(init_site) as base:
        for rel in site_pages(init_site):
            a = audit(browser, base + rel, width, theme, axe=AXE_JS.is_file())
            if a.dark != (theme == "dark"):
                problems.append(f"{a.where}: the page is {'dark' if a.dark else 'light'}")
            if a.layout["documentWidth"] > a.layout["viewport"]:
                problems.append(f"{a.where}: the page scrolls sideways")
            problems += [f"{a.where}: sticks out: {item}" for item in a.layout["sticking"]]
            problems += [f"{a.where}: cut off: {item}" for item in a.layout["clipped"]]
            problems += [f"{a.where}: asked another host: {host}" for host in sorted(set(a.offsite))]
            problems += [f"{a.where}: axe: {a.axe_summary()}" for _ in a.violations[:1]]
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:30])


VISIBLE_COLUMNS = """() => [...document.querySelectorAll('main .diary-progress th')]
    .filter(th => getComputedStyle(th).display !== 'none').length"""
BOX_FITS = """() => {
  const main = document.querySelector('main').getBoundingClientRect();
  return [...document.querySelectorAll('main .diary-table, main div.sourceCode')].map(box => {
    const r = box.getBoundingClientRect();
    return {fits: r.right <= main.right + 1, scrolls: ['auto', 'scroll'].includes(getComputedStyle(box).overflowX)};
  });
}"""
# The top of each line of the first code excerpt: a blank line keeps its height, no two lines overlap.
LINE_TOPS = """() => [...document.querySelectorAll('main div.sourceCode pre > code > span')]
    .map(line => line.getBoundingClientRect().top)"""


def test_an_init_made_diary_has_this_diarys_look(browser, init_site: Path) -> None:
    """What diary init's pages rely on styles.css for: the column toggle works, every table and code box
    stays in the column and scrolls in itself, and code keeps its blank lines."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        with serve(init_site) as base:
            pg = context.new_page()
            post = next(init_site.glob("posts/*-the-baseline/index.html")).relative_to(init_site).as_posix()
            pg.goto(base + post, wait_until="load")
            shown = pg.evaluate(VISIBLE_COLUMNS)
            pg.check("main .diary-all-columns input")
            assert pg.evaluate(VISIBLE_COLUMNS) > shown > 0, "the toggle shows no more columns"
            boxes = pg.evaluate(BOX_FITS)
            assert boxes and all(box["fits"] and box["scrolls"] for box in boxes), boxes
            tops = pg.evaluate(LINE_TOPS)
            steps = [later - earlier for earlier, later in zip(tops, tops[1:], strict=False)]
            assert len(tops) > 10 and min(steps) >= 10, tops
            # The listing's summaries are the posts' descriptions, never the table's toggle.
            pg.goto(base, wait_until="load")
            summaries = pg.inner_text("main")
            assert "The program as it starts" in summaries and "Show all" not in summaries
    finally:
        context.close()


def quarto_page(theme: str, body: str) -> str:
    """A page with the markup Quarto 1.10 writes, the theme's Bootstrap and this diary's styles.css."""
    bootswatch = (BOOTSWATCH / ("cosmo" if theme == "light" else "darkly")).with_suffix(".min.css")
    return (f"<!doctype html><html lang='en'><head><style>{bootswatch.read_text(encoding='utf-8')}</style>"
            f"<style>{(REPO / 'styles.css').read_text(encoding='utf-8')}</style></head>"
            f"<body class='{'quarto-dark' if theme == 'dark' else 'quarto-light'}'>{body}</body></html>")


QUARTO_TOC = """<div id="quarto-margin-sidebar"><nav id="TOC" role="doc-toc" class="toc-active">
<h2 id="toc-title">On this page</h2><ul class="collapse"><li><a href="#one" class="nav-link active">One</a></li>
<li><a href="#two" class="nav-link">Two</a></li></ul></nav></div>
<main><h2 id="one">One</h2><h2 id="two">Two</h2></main>"""
QUARTO_BANNER = """<header id="title-block-header" class="quarto-title-block default page-columns page-full">
<div class="quarto-title-banner page-columns page-full"><div class="quarto-title column-body">
<h1 class="title">Day 1: once more</h1></div><div><div class="description"><p>The same program.</p></div></div>
</div></header><main></main>"""
COLOURS = """() => {
  const rgb = (s) => s.match(/\\d+/g).slice(0, 3).map(Number);
  const banner = document.querySelector('.quarto-title-banner');
  return {bg: rgb(getComputedStyle(banner).backgroundColor),
          texts: [...banner.querySelectorAll('h1, .description p')].map(e => rgb(getComputedStyle(e).color))};
}"""


def _contrast(a: list[int], b: list[int]) -> float:
    def lum(rgb: list[int]) -> float:
        c = [v / 255 for v in rgb]
        c = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    high, low = sorted((lum(a), lum(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("theme", THEMES)
def test_quartos_collapsed_table_of_contents_is_shown_without_scripts(browser, theme: str) -> None:
    context = browser.new_context(java_script_enabled=False, color_scheme=theme)
    try:
        pg = context.new_page()
        pg.set_content(quarto_page(theme, QUARTO_TOC))
        assert pg.is_visible("#TOC a[href='#one']") and pg.is_visible("#TOC a[href='#two']")
    finally:
        context.close()


@pytest.mark.parametrize("theme", THEMES)
def test_the_title_banner_text_is_legible_on_quartos_markup(browser, theme: str) -> None:
    context = browser.new_context(java_script_enabled=False, color_scheme=theme)
    try:
        pg = context.new_page()
        pg.set_content(quarto_page(theme, QUARTO_BANNER))
        colours = pg.evaluate(COLOURS)
        assert colours["texts"] and all(_contrast(text, colours["bg"]) >= 4.5 for text in colours["texts"]), colours
    finally:
        context.close()
