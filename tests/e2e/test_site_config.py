"""The site's own options in `_quarto.yml`: what gets published, and what every page carries.

A resource pattern that is not anchored at the project root (`images/**`) matches a folder of that name
at any depth under Quarto, so it published matplotlib's `mpl-data/images` from the README's `.venv`
(found with Quarto 1.10.18; `/images/**` fixes it). Quarto cannot run here, so the first test reads the
patterns themselves. The embedded engine already reads `images/**` from the root (and never walks
`.venv`), so the build test cannot tell the two spellings apart: it proves that the anchored patterns
still publish what the site needs, and that deeper `images/` folders stay out with this engine too.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import urljoin

import pytest
import yaml

from diarykit import REPO, copy_repo_diary, run_diary

QUARTO = yaml.safe_load((REPO / "_quarto.yml").read_text(encoding="utf-8"))


def test_every_resource_pattern_is_anchored_at_the_root() -> None:
    patterns = QUARTO["project"]["resources"]
    assert patterns, "_quarto.yml lists no resources"
    for pattern in patterns:
        assert pattern.startswith("/"), (
            f"_quarto.yml: resources: {pattern!r} matches at any depth (a .venv's images/ folder too): "
            f"write /{pattern}")
    assert set(patterns) == {"/images/**", "/snapshots/raw/**"}


def test_favicon_and_feed_are_configured() -> None:
    website = QUARTO["website"]
    favicon = website["favicon"]
    assert (REPO / favicon).is_file(), f"_quarto.yml: favicon {favicon} does not exist"
    assert (REPO / favicon).read_text(encoding="utf-8").lstrip().startswith("<svg")
    right = website["navbar"]["right"]
    rss = next(item for item in right if item["href"] == "index.xml")
    assert rss["text"] and rss["aria-label"], "the RSS link needs visible text and a name"
    assert "tools" not in website["navbar"], "icon-only navbar tools have an unnamed role=img icon"


@pytest.fixture(scope="module")
def planted_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's diary (the subject: its _quarto.yml's resources), copied with two `images/`
    folders that are not the root's, built with smalldocs."""
    root = copy_repo_diary(tmp_path_factory.mktemp("resources"))
    (root / "docs" / "images").mkdir(parents=True)
    (root / "docs" / "images" / "planted.png").write_bytes(b"not published")
    deep = root / "lib" / "python3" / "site-packages" / "matplotlib" / "mpl-data" / "images"
    deep.mkdir(parents=True)
    (deep / "home.png").write_bytes(b"not published")
    done = run_diary(root, "build", "--engine", "smalldocs", "--quiet", timeout=600)
    assert done.returncode == 0, f"diary build failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return root / "_site"


def test_only_the_roots_images_and_raw_files_are_published(planted_site: Path) -> None:
    published = {p.relative_to(planted_site).as_posix() for p in planted_site.rglob("*") if p.is_file()}
    assert "images/favicon.svg" in published and "images/progress.svg" in published
    assert any(p.startswith("snapshots/raw/") and p.endswith(".py") for p in published)
    strays = sorted(p for p in published if "/images/" in f"/{p}" and not p.startswith("images/"))
    assert not strays, f"files from images/ folders below the root were published: {strays}"


def test_build_warns_while_site_url_is_the_placeholder(tiny_site_root: Path, tmp_path: Path) -> None:
    """The repository ships the placeholder (README, Publishing), and so does `diary init`: `diary
    build` names its line (the tiny diary, with the placeholder put in)."""
    root = Path(shutil.copytree(tiny_site_root, tmp_path / "diary", symlinks=True,
                                ignore=shutil.ignore_patterns("_site", ".diary-cache", ".diary.lock")))
    quarto = root / "_quarto.yml"
    quarto.write_text(re.sub(r"site-url: \S+", "site-url: https://YOUR-USER.github.io/YOUR-REPO/", quarto.read_text()))
    assert "site-url: https://YOUR-USER.github.io/YOUR-REPO/" in (REPO / "_quarto.yml").read_text()
    line = next(n for n, text in enumerate((root / "_quarto.yml").read_text().splitlines(), 1)
                if text.strip().startswith("site-url:"))
    done = run_diary(root, "build", "--engine", "smalldocs", "--quiet", timeout=600)
    assert done.returncode == 0, done.stderr
    warnings = [w for w in done.stderr.splitlines() if "site-url" in w]
    assert warnings == [w for w in warnings if w.startswith(f"_quarto.yml:{line}: warning: ")], done.stderr
    assert len(warnings) == 1 and "YOUR-USER" in warnings[0], done.stderr

    quarto = root / "_quarto.yml"
    quarto.write_text(quarto.read_text().replace("https://YOUR-USER.github.io/YOUR-REPO/",
                                                 "https://diary.example.org/"))
    done = run_diary(root, "build", "--engine", "smalldocs", "--quiet", timeout=600)
    assert done.returncode == 0, done.stderr
    assert "site-url" not in done.stderr, done.stderr


def test_search_finds_posts_but_not_the_sections_of_snapshot_pages(built_site: Path) -> None:
    """A snapshot page has six sections; indexed, one snapshot filled the results (issue 13)."""
    entries = json.loads((built_site / "search.json").read_text(encoding="utf-8"))
    pages = {entry["href"].split("#")[0] for entry in entries}
    assert any(page.startswith("posts/") for page in pages), pages
    assert "snapshots/index.html" in pages, "the snapshot index is how search finds a snapshot"
    assert not [page for page in pages if page.startswith("snapshots/") and page != "snapshots/index.html"]


def test_every_page_links_its_feed_and_icon(planted_site: Path) -> None:
    """Feed autodiscovery and the favicon, on every page, with relative links that resolve."""
    pages = [p for p in planted_site.rglob("*.html") if "site_libs" not in p.parts]
    assert pages
    for page in pages:
        rel = page.relative_to(planted_site).as_posix()
        head = page.read_text(encoding="utf-8").split("</head>", 1)[0]
        for what, pattern in (("feed", r'<link rel="alternate" type="application/rss\+xml"[^>]* href="([^"]+)"'),
                              ("icon", r'<link rel="icon" href="([^"]+)"')):
            found = re.search(pattern, head)
            assert found, f"{rel}: no {what} link in the head"
            target = planted_site / urljoin(rel, found.group(1))
            assert target.resolve().is_file(), f"{rel}: the {what} link {found.group(1)} leads nowhere"
            if what == "feed":
                assert "<rss" in target.read_text(encoding="utf-8")[:500], f"{rel}: {target} is not RSS"


def test_table_of_contents_is_complete_without_javascript(planted_site: Path) -> None:
    """Opened from disk, Quarto 1.10's module scripts do not run, and Quarto hides a collapsed table of
    contents until they do (issue 11, item 6): `toc-expand: true` writes every entry expanded into the
    HTML. Checked here on smalldocs' output, which follows the same option: every section is listed."""
    html_options = QUARTO["format"]["html"]
    assert html_options["toc"] is True and html_options["toc-expand"] is True
    page = (planted_site / "snapshots" / "01-value-naive.html").read_text(encoding="utf-8")
    toc = re.search(r'<nav id="TOC".*?</nav>', page, re.S)
    assert toc is not None, "the snapshot page has no table of contents"
    sections = set(re.findall(r'<section id="([^"]+)" class="level2"', page))  # Pandoc's and smalldocs' sections
    listed = set(re.findall(r'href="#([^"]+)"', toc.group(0)))
    assert sections and sections <= listed, f"sections missing from the table of contents: {sections - listed}"


def test_no_page_loads_a_script_from_a_cdn(planted_site: Path) -> None:
    # No page has math: MathJax (which Quarto's listing page would fetch from a CDN) is turned off,
    # and nothing else is fetched from another host (the fonts are the themes' stylesheets).
    assert QUARTO["format"]["html"]["html-math-method"] == "plain"
    for page in planted_site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        scripts = re.findall(r"<script[^>]*\bsrc=\"(https?:[^\"]+)\"", html)
        assert not scripts, (page.relative_to(planted_site), scripts)
