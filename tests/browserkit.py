"""What the browser tests measure on a page: layout that fits its column, axe-core, console errors.

Shared by tests/e2e/test_browser.py and by `python tests/browserkit.py <site> [<site> ...]`, which prints
the same figures for a person (axe violations per page, the widest element per page) without pytest.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
# axe-core comes from the npm registry (package.json; `npm ci` in .ci/run and in ci.yml); it is never
# committed. DIARY_AXE=<path to axe.min.js> points elsewhere.
AXE_JS = Path(os.environ.get("DIARY_AXE") or REPO / "node_modules" / "axe-core" / "axe.min.js")
AXE_MISSING = (f"axe-core not installed ({AXE_JS} is missing): run `npm ci` at the repository root "
               "(package.json pins it; .ci/run and ci.yml do this)")
CHROMIUM = os.environ.get("DIARY_CHROMIUM") or next(
    (path for path in ("/usr/bin/chromium", "/usr/bin/google-chrome", "/usr/bin/chromium-browser")
     if os.path.exists(path)), "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The widths a reader has: a laptop and a phone (an iPhone 12-15 is 390 CSS px wide).
WIDTHS = (1280, 390)
THEMES = ("light", "dark")
# The WCAG 2.x A and AA rules plus axe's best practices (landmarks, headings, region).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

# Every element that sticks out of its column (the <main> element, or the viewport outside it) and
# is not inside a box that scrolls on its own; plus every box that cuts its content off (overflow
# hidden or an ellipsis) without letting it scroll. Screen-reader-only text (1 px boxes) is left out.
LAYOUT_JS = r"""() => {
  const viewport = document.documentElement.clientWidth;
  const name = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    const cls = [...el.classList].slice(0, 3);
    if (cls.length) s += '.' + cls.join('.');
    const text = (el.innerText || el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
    return text ? `${s} "${text}"` : s;
  };
  const scrolls = (el) => {
    const ox = getComputedStyle(el).overflowX;
    return ox === 'auto' || ox === 'scroll';
  };
  const hidden = (el) => {
    const st = getComputedStyle(el);
    return st.display === 'none' || st.visibility === 'hidden';
  };
  const tiny = (r) => r.width <= 2 || r.height <= 2;
  const inScrollBox = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (scrolls(p)) return true;
    }
    return false;
  };
  const columnOf = (el) => {
    const main = el.closest('main');
    // Outside the text column, and full-width by design (the title banner): the viewport.
    if (!main || el.closest('.quarto-title-banner, [class*="column-screen"], [class*="column-page"]'))
      return {left: 0, right: viewport};
    const r = main.getBoundingClientRect();
    const st = getComputedStyle(main);
    return {left: Math.max(0, r.left + parseFloat(st.paddingLeft) - 1),
            right: Math.min(viewport, r.right - parseFloat(st.paddingRight) + 1)};
  };
  // Hidden until asked for (menus, the collapsed navbar, search) or for screen readers only.
  const SKIP = '[aria-hidden="true"], .visually-hidden, .sr-only, .quarto-search, .modal, '
             + '.dropdown-menu:not(.show), .collapse:not(.show)';
  const sticking = [], clipped = [];
  let widest = {name: '', width: 0, column: 0, scrolls: false};
  for (const el of document.body.querySelectorAll('*')) {
    if (hidden(el) || el.closest(SKIP)) continue;
    const r = el.getBoundingClientRect();
    if (tiny(r)) continue;
    const column = columnOf(el);
    const inside = inScrollBox(el);
    // The widest thing in the text column: a scroll box counts with the width of what it holds.
    const own = scrolls(el) ? Math.max(el.scrollWidth, r.width) : r.width;
    if (!inside && own > widest.width && el.closest('main') && el.tagName !== 'MAIN'
        && !el.closest('.quarto-title-banner')) {
      widest = {name: name(el), width: Math.round(own), column: Math.round(column.right - column.left),
                scrolls: scrolls(el) && el.scrollWidth > el.clientWidth + 1};
    }
    if (!inside && (r.right > column.right + 1 || r.left < column.left - 1)) {
      sticking.push(`${name(el)}: ${Math.round(r.left)}..${Math.round(r.right)} px in a column `
                    + `${Math.round(column.left)}..${Math.round(column.right)} px`);
    }
    const st = getComputedStyle(el);
    // Text that runs out of its box (a long unbreakable word) moves no element: the box's own
    // scrollWidth shows it. Only the innermost such box is reported.
    // (The title banner is full-width by design: it reaches past <main> into the page's margins.)
    const overflows = (e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible';
    if (!inside && overflows(el) && el.clientWidth > 0 && st.display !== 'inline'
        && !el.querySelector(':scope > .quarto-title-banner') && ![...el.children].some(overflows)) {
      sticking.push(`${name(el)}: its content is ${el.scrollWidth} px wide in ${el.clientWidth} px`);
    }
    const cuts = (st.overflowX === 'hidden' || st.overflowX === 'clip' || st.textOverflow === 'ellipsis');
    if (cuts && !inside && el.scrollWidth > el.clientWidth + 2 && el.clientWidth > 0
        && (el.innerText || '').trim()) {
      clipped.push(`${name(el)}: shows ${el.clientWidth} of ${el.scrollWidth} px`);
    }
  }
  return {viewport, documentWidth: document.documentElement.scrollWidth, sticking, clipped, widest};
}"""

AXE_RUN_JS = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  const why = (n) => n.failureSummary ? ' | ' + n.failureSummary.split('\\n').slice(1).join(' ') : '';
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => n.target.join(' ') + why(n))}));
}"""

IS_DARK_JS = """() => document.documentElement.classList.contains('quarto-dark')
                 || document.body.classList.contains('quarto-dark')"""


@dataclass
class Audit:
    """What one page at one width and theme showed."""

    url: str
    width: int
    theme: str
    dark: bool = False
    layout: dict = field(default_factory=dict)
    violations: list[dict] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    offsite: list[str] = field(default_factory=list)  # hosts other than the site's that the page asked

    @property
    def where(self) -> str:
        return f"{self.url} at {self.width} px, {self.theme}"

    def axe_summary(self) -> str:
        return "; ".join(f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes: {v['help']}; "
                         f"e.g. {v['nodes'][0]})" for v in self.violations)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serve `site` on 127.0.0.1 (a free port) from a thread, as a static host would."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def site_pages(site: Path) -> list[str]:
    """Every HTML page of a built site, relative to it (the engine's own libraries left out)."""
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if "site_libs" not in p.parts)


def audit(browser, url: str, width: int, theme: str, shot: Path | None = None, axe: bool = True) -> Audit:
    """Open `url` in a fresh context at `width` in `theme`, and measure it."""
    result = Audit(url=url, width=width, theme=theme)
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=theme,
                                  device_scale_factor=1)
    context.set_default_timeout(30_000)
    host = urlparse(url).netloc

    def route(r) -> None:
        # The site works offline: a request to another host is noted and answered with nothing here
        # (an aborted request would log an error of the test's own making).
        if urlparse(r.request.url).netloc in (host, "") or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            result.offsite.append(urlparse(r.request.url).netloc)
            r.fulfill(status=204, body="")

    context.route("**/*", route)
    try:
        pg = context.new_page()
        pg.on("console", lambda m: result.console_errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: result.console_errors.append(f"uncaught: {e}"))
        pg.on("response", lambda r: result.console_errors.append(f"HTTP {r.status}: {r.url}")
              if r.status >= 400 else None)
        pg.goto(url, wait_until="load")
        pg.wait_for_timeout(150)  # the colour scheme and the listing settle after load
        result.dark = bool(pg.evaluate(IS_DARK_JS))
        result.layout = pg.evaluate(LAYOUT_JS)
        if shot is not None:
            shot.parent.mkdir(parents=True, exist_ok=True)
            pg.screenshot(path=str(shot), full_page=True)
        if axe:
            pg.add_script_tag(path=str(AXE_JS))
            result.violations = pg.evaluate(AXE_RUN_JS, AXE_TAGS)
    finally:
        context.close()
    return result


def main(sites: list[str]) -> int:
    """Print, per page of each site: axe violations (rules/nodes) and the widest element, per width/theme."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for site in map(Path, sites):
            with serve(site) as base:
                total_rules = total_nodes = 0
                for rel in site_pages(site):
                    for width in WIDTHS:
                        for theme in THEMES:
                            a = audit(browser, base + rel, width, theme, axe=AXE_JS.is_file())
                            nodes = sum(len(v["nodes"]) for v in a.violations)
                            total_rules += len(a.violations)
                            total_nodes += nodes
                            w = a.layout["widest"]
                            print(json.dumps({
                                "site": site.name if site.name != "_site" else site.parent.name,
                                "page": rel, "width": width, "theme": theme, "dark": a.dark,
                                "axe": {v["id"]: len(v["nodes"]) for v in a.violations},
                                "widest": f"{w['width']}/{w['column']} {w['name']}",
                                "document": a.layout["documentWidth"],
                                "sticking": len(a.layout["sticking"]), "clipped": a.layout["clipped"][:3],
                                "console": a.console_errors[:3], "offsite": sorted(set(a.offsite))}))
                print(f"# {site}: {total_rules} violations, {total_nodes} nodes")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
