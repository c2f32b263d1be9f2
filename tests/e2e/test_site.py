"""The built site of the tiny diary, read the way a reader (or a crawler) reads it: the HTML in `_site/`.

One build per session (`tiny_site_root` / `built_site` in tests/conftest.py: `diary build --engine
smalldocs` on a copy of tests/fixtures/tinydiary, with GITHUB_TOKEN set). The pages are parsed with
the standard library's html.parser into a small tree; text is compared after entity decoding, so an
assertion holds for whatever markup an engine chooses, as long as the reader sees the right text.

The tiny diary is hostile on purpose: its sources, stdout, stderr, test failure messages, a title
and a note hold a script, `</code></pre>`, shortcodes, table pipes, a backtick fence and a `---`
line. They must all show as written, and none may act.
"""

from __future__ import annotations

import difflib
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from diarykit import FIXTURES_DIR, read_record, run_diary

SNAPSHOTS = ["00-base", "01-broken", "02-fixed"]  # parents before children, as discover orders them
# Listed newest first: day-2, day-1, plan (neither the folders' order nor its reverse).
POSTS = ["day-1", "day-2", "plan"]
HOSTILE = [
    "<script>window.__pwned=1;alert(1)</script>",
    "</code></pre>",
    "{{< include /etc/passwd >}}",
    "{{< env GITHUB_TOKEN >}}",
    "{{< var diary.best_code >}}",
    "| a | b |",
    "```",
]
YAML_LINE = "---"  # hostile too, but only alone on its line
TINY_DIARY = FIXTURES_DIR / "tinydiary"
GOLDEN = FIXTURES_DIR / "golden"


# ---------------------------------------------------------------------------------------------
# A small DOM from html.parser


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
RAW_TEXT = {"script", "style"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self, tag: str | None = None, cls: str | None = None) -> Iterator[Element]:
        """This element and its descendants, in document order, filtered by tag and class."""
        if (tag is None or self.tag == tag) and (cls is None or cls in self.classes):
            yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter(tag, cls)

    def find(self, tag: str | None = None, cls: str | None = None) -> Element | None:
        return next(self.iter(tag, cls), None)

    def text(self, skip: frozenset[str] = frozenset(RAW_TEXT)) -> str:
        """The text a reader sees (entities decoded, tags dropped), leaving out scripts and styles."""
        parts = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag not in skip:
                parts.append(child.text(skip))
        return "".join(parts)

    def raw_text(self) -> str:
        """Every character of text below this element, scripts included."""
        return self.text(frozenset())


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        parent = self.stack[-1]
        if parent.tag == "pre" and not parent.children and data.startswith("\n"):
            data = data[1:]  # HTML drops a newline right after <pre>
        parent.children.append(data)


def parse_html(path: Path) -> Element:
    builder = _TreeBuilder()
    builder.feed(path.read_text(encoding="utf-8"))
    builder.close()
    return builder.root


def pages(site: Path) -> dict[str, Element]:
    """Every HTML page of the site (not the engine's own assets), by path relative to the site."""
    return {path.relative_to(site).as_posix(): parse_html(path) for path in sorted(site.rglob("*.html"))
            if "site_libs" not in path.relative_to(site).parts}


def resolve(site: Path, page: str, href: str) -> Path:
    """The file in the site that a link on `page` points to."""
    parts = urlsplit(href)
    assert not parts.scheme and not parts.netloc, f"{page}: {href} leaves the site"
    target = PurePosixPath(unquote(parts.path))
    joined = target.relative_to("/") if target.is_absolute() else PurePosixPath(page).parent / target
    path = Path(os.path.normpath(site / joined))
    return path / "index.html" if path.is_dir() else path


def code_blocks(page: Element) -> list[str]:
    """The text of every <pre><code> on a page, as the reader sees (and copies) it."""
    return [code.raw_text() for pre in page.iter("pre") for code in pre.iter("code")]


@dataclass
class Excerpt:
    snapshot: str
    file: str | None
    definition: str | None  # None for a whole file
    text: str


def excerpts(page: Element) -> list[Excerpt]:
    """The generated code excerpts of a page (div.diary-excerpt), with what they claim to show."""
    found = []
    for div in page.iter("div", "diary-excerpt"):
        code = next(c for pre in div.iter("pre") for c in pre.iter("code"))
        caption = div.find("p", "diary-caption")
        assert caption is not None, "an excerpt without a caption"
        names = [c.text() for c in caption.iter("code")]
        definition = names[0] if len(names) == 2 else None
        found.append(Excerpt(div.attrs["data-snapshot"], div.attrs.get("data-file"), definition, code.raw_text()))
    return found


@dataclass
class Table:
    header: list[str]
    rows: list[dict[str, Element]]

    def by_snapshot(self) -> dict[str, dict[str, Element]]:
        return {row["snapshot"].text().strip(): row for row in self.rows}


def tables(page: Element) -> list[Table]:
    found = []
    for table in page.iter("table"):
        header = [th.text().strip() for th in table.iter("th")]
        rows = []
        for tr in table.iter("tr"):
            cells = list(tr.iter("td"))
            if cells:
                assert len(cells) == len(header), f"a row of {len(cells)} cells under {len(header)} headings"
                rows.append(dict(zip(header, cells, strict=True)))
        found.append(Table(header, rows))
    return found


def progress_table(page: Element) -> Table:
    matching = [t for t in tables(page) if t.header[:2] == ["snapshot", "title"]]
    assert len(matching) == 1, f"expected one progress table, found {len(matching)}"
    return matching[0]


def cell(row: dict[str, Element], column: str) -> str:
    return " ".join(row[column].text().split()).replace("\u2212", "-")  # a typographic minus reads as -


def missing_hostile(text: str) -> list[str]:
    """The hostile strings that `text` does not show as written."""
    missing = [s for s in HOSTILE if s not in text]
    return missing + ([YAML_LINE] if YAML_LINE not in text.splitlines() else [])


# ---------------------------------------------------------------------------------------------
# The tiny diary's inputs and records



def source(root: Path, snapshot_id: str, name: str = "prog.py") -> str:
    return (root / "code" / "snapshots" / snapshot_id / name).read_text(encoding="utf-8")


def front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text.split("---\n", 2)[1])


def post_meta(root: Path, post: str) -> dict:
    return front_matter(root / "posts" / post / "index.qmd")


def definition(root: Path, snapshot_id: str, name: str) -> str:
    """The lines of a definition as its record places them (decorators and comments above included)."""
    found = next(d for d in read_record(root, snapshot_id)["definitions"] if d["name"] == name)
    lines = source(root, snapshot_id, found["file"]).splitlines(keepends=True)
    return "".join(lines[found["start"] - 1 : found["end"]])


def change_vs_parent(root: Path, snapshot_id: str) -> int | None:
    """Code lines against the nearest ancestor that is not broken; None for the baseline."""
    parent = read_record(root, snapshot_id)["snapshot"]["parent"]
    while parent is not None and read_record(root, parent)["verdict"]["status"] == "broken":
        parent = read_record(root, parent)["snapshot"]["parent"]
    if parent is None:
        return None
    code = {snap: read_record(root, snap)["lines"]["total"]["code"] for snap in (snapshot_id, parent)}
    return code[snapshot_id] - code[parent]


def variables(root: Path) -> dict:
    return yaml.safe_load((root / "_variables.yml").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# The listing, the tables, the code


def test_listing_holds_every_post_newest_first_with_its_categories(built_site, tiny_site_root):
    metas = {post: post_meta(tiny_site_root, post) for post in POSTS}
    expected = sorted(POSTS, key=lambda post: str(metas[post]["date"]), reverse=True)
    listing = list(parse_html(built_site / "index.html").iter("div", "quarto-post"))
    shown = []
    for item in listing:
        links = {resolve(built_site, "index.html", a.attrs["href"]) for a in item.iter("a") if "href" in a.attrs}
        assert len(links) == 1, f"a listing item links to {sorted(map(str, links))}"
        shown.append(links.pop().relative_to(built_site).as_posix())
        title = item.find(cls="listing-title")
        categories = [c.text().strip() for c in item.iter(cls="listing-category")]
        post = shown[-1].split("/")[1]
        assert title is not None and title.text().strip() == metas[post]["title"]
        assert categories == metas[post].get("categories", []), f"{post} shows categories {categories}"
    assert shown == [f"posts/{post}/index.html" for post in expected]
    assert expected == ["day-2", "day-1", "plan"]  # the fixture's dates: the newest post comes first


@pytest.mark.parametrize("post", POSTS)
def test_post_progress_table_shows_the_records_numbers(built_site, tiny_site_root, post):
    meta = post_meta(tiny_site_root, post)
    table = progress_table(parse_html(built_site / "posts" / post / "index.html"))
    rows = table.by_snapshot()
    # A bounded window: the baseline, the post's snapshots and their parents, in the diary's order.
    parents = {yaml.safe_load((tiny_site_root / "code/snapshots" / s / "snapshot.yml").read_text())["parent"]
               for s in meta["snapshots"]}
    assert list(rows) == [s for s in SNAPSHOTS if s == SNAPSHOTS[0] or s in meta["snapshots"] or s in parents]
    for name in meta["definitions"]:
        assert f"{name} code" in table.header
    for snapshot_id, row in rows.items():
        rec = read_record(tiny_site_root, snapshot_id)
        total = rec["lines"]["total"]
        tests = rec["tests"]
        where = f"{post}, row {snapshot_id}"
        assert cell(row, "code") == str(total["code"]), where
        assert cell(row, "comment") == str(total["comment"] + total["docstring"]), where
        assert cell(row, "blank") == str(total["blank"]), where
        assert cell(row, "identical") == ("✓" if rec["behaviour"]["identical"] else "✗"), where
        counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed)", cell(row, "tests"))}
        assert (counts.get("passed", 0), counts.get("failed", 0)) == (tests["passed"], tests["failed"]), where
        for name in meta["definitions"]:
            code = next(d["code"] for d in rec["definitions"] if d["name"] == name)
            assert cell(row, f"{name} code") == str(code), where
        assert (row["snapshot"].find("strong") is not None) == (snapshot_id in meta["snapshots"]), (
            f"{where}: bold exactly when the post covers the snapshot")
        assert row["snapshot"].find("a") is not None, f"{where}: the snapshot is not linked"
        broken = rec["verdict"]["status"] == "broken"
        assert cell(row, "status").startswith("broken") if broken else cell(row, "status") == "ok", where
        change, struck = change_vs_parent(tiny_site_root, snapshot_id), row["vs parent"].find("s")
        if change is None:
            assert cell(row, "vs parent") == "—", where
        elif broken:  # shown, struck through and in brackets: never counted as progress
            assert struck is not None and struck.text() == f"({change:+d})", where
        else:
            assert struck is None and cell(row, "vs parent") == f"{change:+d}", where
        working_so_far = [read_record(tiny_site_root, s) for s in SNAPSHOTS[: SNAPSHOTS.index(snapshot_id) + 1]]
        best = min(r["lines"]["total"]["code"] for r in working_so_far if r["verdict"]["status"] != "broken")
        assert cell(row, "best so far") == str(best), f"{where}: over the whole diary, ignoring broken snapshots"


def test_broken_snapshot_is_marked_and_its_change_not_counted(built_site, tiny_site_root):
    base, broken, fixed = (read_record(tiny_site_root, s)["lines"]["total"]["code"] for s in SNAPSHOTS)
    verdict = read_record(tiny_site_root, "01-broken")["verdict"]
    assert (verdict["status"], verdict["expected"], verdict["surprise"]) == ("broken", "broken", False)
    rows = progress_table(parse_html(built_site / "progress.html")).by_snapshot()
    assert list(rows) == SNAPSHOTS
    row = rows["01-broken"]
    assert cell(row, "status").startswith("broken: output differs from 00-base")
    assert row["status"].find("strong") is not None
    tokens = [read_record(tiny_site_root, s)["size"]["total"]["tokens"] for s in SNAPSHOTS[:2]]
    expected = {"vs parent": f"({broken - base:+d})",
                "vs baseline": f"({broken - base:+d} lines, {tokens[1] - tokens[0]:+d} tokens)"}
    for column in ("vs parent", "vs baseline"):  # shown, struck through and in brackets: not counted
        struck = row[column].find("s") or row[column].find("del")
        assert struck is not None and struck.text() == expected[column], column
    assert cell(row, "best so far") == str(base)  # ignores the broken snapshot
    assert cell(rows["02-fixed"], "vs parent") == f"{fixed - base:+d}"  # against the nearest working ancestor
    assert rows["02-fixed"]["vs parent"].find("s") is None
    assert cell(rows["02-fixed"], "best so far") == str(min(base, fixed))
    assert cell(rows["00-base"], "status") == cell(rows["02-fixed"], "status") == "ok"
    page = parse_html(built_site / "snapshots" / "01-broken.html").text()
    assert "Broken (as expected), so it is not counted as progress" in " ".join(page.split())


def test_code_excerpts_show_the_snapshot_source_exactly(built_site, tiny_site_root):
    wanted = {  # page -> the excerpts it must hold: (snapshot, definition or None for the whole file)
        "posts/day-1/index.html": {("00-base", None), ("00-base", "main")},
        "posts/day-2/index.html": {("02-fixed", "total")},
        **{f"snapshots/{s}.html": {(s, None)} for s in SNAPSHOTS},
    }
    for page, expected in wanted.items():
        shown = [e for e in excerpts(parse_html(built_site / page)) if e.file is not None]  # diffs have none
        assert {(e.snapshot, e.definition) for e in shown} >= expected, page
        for excerpt in shown:
            where = f"{page}: {excerpt.definition or excerpt.file} of {excerpt.snapshot}"
            # a code box shows the text without its final line break (both engines drop it)
            if excerpt.definition is None:
                assert excerpt.text == source(tiny_site_root, excerpt.snapshot, excerpt.file).removesuffix("\n"), where
            else:
                expected = definition(tiny_site_root, excerpt.snapshot, excerpt.definition).removesuffix("\n")
                assert excerpt.text == expected, where
    whole = next(e for e in excerpts(parse_html(built_site / "posts/day-1/index.html")) if e.definition is None)
    assert missing_hostile(whole.text) == []
    main = next(e for e in excerpts(parse_html(built_site / "posts/day-1/index.html")) if e.definition == "main")
    assert main.text.startswith("@announce\ndef main():\n    # Prints its docstring")


def test_diff_excerpt_is_the_unified_diff(built_site, tiny_site_root):
    old = source(tiny_site_root, "00-base").splitlines(keepends=True)
    new = source(tiny_site_root, "01-broken").splitlines(keepends=True)
    expected = "".join(difflib.unified_diff(old, new, "a/00-base/prog.py", "b/01-broken/prog.py"))
    diffs = [e.text for e in excerpts(parse_html(built_site / "posts/day-1/index.html")) if e.file is None]
    assert diffs == [expected]


def test_variables_show_their_figures_in_the_prose(built_site, tiny_site_root):
    values = variables(tiny_site_root)
    snap, summary = values["snap"], values["diary"]
    day1 = " ".join(parse_html(built_site / "posts/day-1/index.html").find("main").text().split())
    assert (f"The base has {snap['00-base']['code']} code lines; the attempt is {snap['01-broken']['status']}: "
            f"its output differs from the base’s from line {snap['01-broken']['first_difference_line']} on.") in day1
    assert snap["01-broken"]["first_difference_line"] == (
        read_record(tiny_site_root, "01-broken")["behaviour"]["first_difference"]["line"])
    assert snap["00-base"]["code"] == read_record(tiny_site_root, "00-base")["lines"]["total"]["code"]
    # a title read through {{< var >}} is YAML read as Markdown, like front matter: a hostile one is
    # given as the snapshot's id (escape.metadata_text), and nothing in it acts
    assert "as its snapshot gives it: 00-base." in day1
    day2 = " ".join(parse_html(built_site / "posts/day-2/index.html").find("main").text().split())
    assert (f"From {summary['baseline_code']} to {summary['best_code']} code lines "
            f"({summary['saved_percent']}% fewer).") in day2
    plan = " ".join(parse_html(built_site / "posts/plan/index.html").find("main").text().split())
    assert (f"The base has {snap['00-base']['code']} code lines and passes {snap['00-base']['tests_passed']} of "
            f"{summary['tests_total']} behavioural tests.") in plan
    for page in (day1, day2, plan):
        assert not re.search(r"\{\{<\s*var\s+(snap|diary)\.(00|01|baseline_code|saved)", page), "a var left as is"


def test_check_passes_on_the_built_diary(tiny_site_root):
    """What CI runs after a build: nothing stale, no hand-typed figure, no broken snapshot as progress."""
    done = run_diary(tiny_site_root, "check")
    assert done.returncode == 0, f"diary check exited {done.returncode}:\n{done.stdout}\n{done.stderr}"


# ---------------------------------------------------------------------------------------------
# Chart, feed, snapshot pages and downloads


def test_chart_is_valid_svg_and_shown_on_the_progress_page(built_site):
    light, dark = built_site / "images" / "progress.svg", built_site / "images" / "progress-dark.svg"
    for chart in (light, dark):
        assert ET.parse(chart).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    images = list(parse_html(built_site / "progress.html").iter("img"))
    assert [resolve(built_site, "progress.html", img.attrs["src"]) for img in images] == [light, dark]
    assert all(img.attrs.get("alt", "").startswith("Bar chart of code and comment lines") for img in images)


def test_the_chart_follows_the_colour_scheme(built_site):
    # One drawing per scheme: light ink on the page's own background for dark, dark ink on white for light.
    light = (built_site / "images" / "progress.svg").read_text(encoding="utf-8")
    dark = (built_site / "images" / "progress-dark.svg").read_text(encoding="utf-8")
    assert "#222222" in light and "#e6e6e6" not in light
    assert "#e6e6e6" in dark and "#222222" not in dark and "fill: #ffffff" not in dark
    page = (built_site / "progress.html").read_text(encoding="utf-8")
    light_at, dark_at = page.index("progress.svg"), page.index("progress-dark.svg")
    assert page.rfind("light-content", 0, light_at) > page.rfind("dark-content", 0, light_at)
    assert page.rfind("dark-content", 0, dark_at) > page.rfind("light-content", 0, dark_at)


def test_feed_is_rss_with_one_item_per_post(built_site, tiny_site_root):
    rss = ET.parse(built_site / "index.xml").getroot()
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    items = rss.findall("./channel/item")
    titles = {post_meta(tiny_site_root, post)["title"]: post for post in POSTS}
    assert sorted(item.findtext("title") for item in items) == sorted(titles)
    for item in items:
        post = titles[item.findtext("title")]
        assert (item.findtext("link") or "").endswith(f"/posts/{post}/index.html")


@pytest.mark.parametrize("snapshot_id", SNAPSHOTS)
def test_snapshot_page_links_a_byte_identical_download(built_site, tiny_site_root, snapshot_id):
    page = f"snapshots/{snapshot_id}.html"
    links = [a for a in parse_html(built_site / page).iter("a") if a.text().strip() == "Download prog.py"]
    assert len(links) == 1, f"{page}: {len(links)} download links"
    raw = resolve(built_site, page, links[0].attrs["href"])
    assert raw == built_site / "snapshots" / "raw" / snapshot_id / "prog.py"
    assert raw.read_bytes() == (tiny_site_root / "code" / "snapshots" / snapshot_id / "prog.py").read_bytes()
    index = parse_html(built_site / "snapshots" / "index.html")
    linked = {resolve(built_site, "snapshots/index.html", a.attrs["href"])
              for a in index.iter("a") if "href" in a.attrs}
    assert built_site / page in linked, "the snapshot index does not link the page"


# ---------------------------------------------------------------------------------------------
# Injection: hostile text shows as written and never acts


def test_the_fixture_is_hostile_where_it_must_be(tiny_site_root):
    """Guards the fixture: every hostile string is in a source, stdout, stderr and a test message."""
    for snapshot_id in SNAPSHOTS:
        run = read_record(tiny_site_root, snapshot_id)["run"]
        assert missing_hostile(source(tiny_site_root, snapshot_id)) == [], snapshot_id
        assert missing_hostile("\n".join(run["stdout_lines"])) == [], snapshot_id
        assert missing_hostile(run["stderr_excerpt"]) == [], snapshot_id
    failures = read_record(tiny_site_root, "01-broken")["tests"]["failures"]
    assert len(failures) == 2 and all(missing_hostile(f["message"]) == [] for f in failures)
    meta = yaml.safe_load((tiny_site_root / "code/snapshots/00-base/snapshot.yml").read_text())
    for text in (meta["title"], meta["note"]):
        assert "|" in text and "{{<" in text


@pytest.mark.parametrize("snapshot_id", SNAPSHOTS)
def test_output_and_test_messages_show_as_written(built_site, tiny_site_root, snapshot_id):
    rec = read_record(tiny_site_root, snapshot_id)
    blocks = code_blocks(parse_html(built_site / "snapshots" / f"{snapshot_id}.html"))
    stdout = "\n".join(rec["run"]["stdout_lines"])
    stderr = rec["run"]["stderr_excerpt"].strip("\n")
    assert stdout in blocks, "the stdout block is not the recorded stdout"
    assert stderr in blocks, "the stderr block is not the recorded stderr"
    for failure in rec["tests"]["failures"]:
        assert failure["message"] in blocks, f"the message of {failure['test']} is not shown as written"
    for text in (stdout, stderr, *(f["message"] for f in rec["tests"]["failures"])):
        assert missing_hostile(text) == []
    assert len(rec["tests"]["failures"]) == (2 if snapshot_id == "01-broken" else 0)


def test_hostile_title_and_note_show_as_written(built_site, tiny_site_root):
    """A title or note that is not plain text never reaches the front matter: the page is titled by
    its id, and the body shows the title and the note once each, as written."""
    assert_titles_and_notes_show_once(built_site, tiny_site_root)
    rows = progress_table(parse_html(built_site / "progress.html")).by_snapshot()
    meta = yaml.safe_load((tiny_site_root / "code/snapshots/00-base/snapshot.yml").read_text())
    assert cell(rows["00-base"], "title") == meta["title"]


def assert_titles_and_notes_show_once(site: Path, root: Path) -> None:
    """Every snapshot page shows its title and its note, each once, as written (either engine)."""
    for snapshot_id in SNAPSHOTS:
        meta = yaml.safe_load((root / f"code/snapshots/{snapshot_id}/snapshot.yml").read_text())
        page = parse_html(site / f"snapshots/{snapshot_id}.html")
        title, note = f"{snapshot_id}: {meta['title']}", " ".join(meta["note"].split())
        main_text = " ".join(page.find("main").text().split())
        if snapshot_id == "00-base":  # hostile: titled by its id, the full title in the body
            assert page.find("h1").text().strip() == "00-base"
            assert page.find("title").text().startswith("00-base")
            assert f"Title: {title}" in main_text
        else:
            assert page.find("h1").text().strip() == title
            assert page.find("title").text().startswith(title)
        whole = " ".join(page.find("body").text().split())
        assert whole.count(note) == 1, f"{snapshot_id}: the note is shown {whole.count(note)} times"


def assert_excerpts_are_the_engines_code_blocks(site: Path) -> None:
    """Each code excerpt is the engine's own numbered code block: one copy button, a focusable box."""
    for page_path in ("posts/day-1/index.html", *(f"snapshots/{s}.html" for s in SNAPSHOTS)):
        for div in parse_html(site / page_path).iter("div", "diary-excerpt"):
            where = f"{page_path}: excerpt of {div.attrs.get('data-file') or 'a diff'}"
            buttons = list(div.iter("button", "code-copy-button"))
            pre = next(p for p in div.iter("pre") if p.find("code") is not None)
            box = next(d for d in div.iter("div", "sourceCode"))
            assert "0" in (box.attrs.get("tabindex"), pre.attrs.get("tabindex")), f"{where}: not focusable"
            if "data-file" in div.attrs:
                assert len(buttons) == 1, f"{where}: {len(buttons)} copy buttons"
                assert "numberSource" in pre.classes, f"{where}: no line numbers"
            else:
                assert len(buttons) <= 1, f"{where}: {len(buttons)} copy buttons"


def definition_numbering(site: Path) -> tuple[int, Element]:
    """The first line a definition excerpt's caption names, and the excerpt's <pre>."""
    day1 = parse_html(site / "posts/day-1/index.html")
    main_excerpt = next(div for div in day1.iter("div", "diary-excerpt")
                        if "main" in [c.text() for c in div.find("p", "diary-caption").iter("code")])
    first = int(re.search(r"lines (\d+)–", main_excerpt.find("p", "diary-caption").text()).group(1))
    pre = next(p for p in main_excerpt.iter("pre") if p.find("code") is not None)
    return first, pre


def numbered_from(pre: Element, first: int) -> bool:
    """Whether a numbered block counts from `first`: Pandoc's counter start on the code element
    (`counter-reset: source-line first-1`), or its startFrom attribute."""
    code = pre.find("code")
    styles = " ".join(el.attrs.get("style", "") for el in (pre, code) if el is not None)
    return f"counter-reset: source-line {first - 1}" in styles or pre.attrs.get("startfrom") == str(first)


def test_excerpts_are_the_engines_code_blocks(built_site):
    assert_excerpts_are_the_engines_code_blocks(built_site)
    # smalldocs numbers a definition from its first line, as Pandoc does with startFrom
    first, pre = definition_numbering(built_site)
    line_ids = [span.attrs["id"] for span in pre.find("code").children
                if isinstance(span, Element) and "id" in span.attrs]
    assert first > 1 and line_ids[0].endswith(f"-{first}") and numbered_from(pre, first)


def assert_nothing_injected(site: Path, secret: str) -> None:
    """The checks every engine's output must pass: hostile text is shown, and never acts."""
    passwd = Path("/etc/passwd")
    leaks = [secret.encode(), b"root:x:0:0"]
    if passwd.is_file() and passwd.read_text().strip():
        leaks.append(passwd.read_text().splitlines()[0].encode())
    for path in site.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for leak in leaks:
                assert leak not in data, f"{path.relative_to(site)} holds {leak!r}"
    # the docstring's line `<script>…</script> {{< var diary.best_code >}}`, as written and as expanded
    literal = f"{HOSTILE[0]} {HOSTILE[4]}"
    expanded = f"{HOSTILE[0]} {variables(site.parent)['diary']['best_code']}"
    site_text = []
    for rel, page in pages(site).items():
        for script in page.iter("script"):
            code = script.raw_text()
            assert not any(s in code for s in ("__pwned", "alert(1)", 'alert("x")')), (
                f"{rel}: an injected <script> is part of the page")
        for element in page.iter():  # the engine's own handlers (the colour-scheme toggle) are fine
            handlers = [f"{k}={v}" for k, v in element.attrs.items() if k.startswith("on") and "pwned" in v]
            assert not handlers, f"{rel}: <{element.tag}> has injected event handlers {handlers}"
        text = page.text()
        assert expanded not in text, f"{rel}: {HOSTILE[4]} from a snapshot's text was expanded"
        site_text.append(text)
    everything = "\n".join(site_text)
    assert missing_hostile(everything) == [], "some hostile text does not show as written anywhere"
    assert literal in everything, f"the snapshot's line {literal!r} is shown nowhere as written"


def test_nothing_injected_into_the_smalldocs_site(built_site, tiny_secret):
    assert_nothing_injected(built_site, tiny_secret)


@pytest.mark.quarto
def test_nothing_injected_into_the_quarto_site(quarto_site_root, tiny_secret):
    """The same checks on the site real Quarto renders (skipped where quarto is not installed)."""
    quarto_site = quarto_site_root / "_site"
    assert_nothing_injected(quarto_site, tiny_secret)
    root = quarto_site_root
    for snapshot_id in SNAPSHOTS:
        shown = {(e.snapshot, e.definition): e.text
                 for e in excerpts(parse_html(quarto_site / "snapshots" / f"{snapshot_id}.html")) if e.file}
        assert shown[(snapshot_id, None)] == source(root, snapshot_id).removesuffix("\n")
    assert_titles_and_notes_show_once(quarto_site, root)
    # The plan post's title holds Quarto's escape of a shortcode: shown as text, never expanded.
    plan = parse_html(quarto_site / "posts/plan/index.html")
    assert "The plan, not {{< env GITHUB_TOKEN >}}" in plan.find("title").text()
    assert_excerpts_are_the_engines_code_blocks(quarto_site)
    first, pre = definition_numbering(quarto_site)
    assert first > 1 and numbered_from(pre, first), "Pandoc does not number the definition from its first line"


# ---------------------------------------------------------------------------------------------
# Golden files: generated partials byte for byte, with what varies between runs masked


def mask_variables(text: str) -> str:
    """_variables.yml without timings and memory (they vary) or the sandbox (it depends on the host)."""
    return re.sub(r"^(\s*(?:run_s|cpu_s|peak_mb|sandbox):) .*$", r"\1 <masked>", text, flags=re.M)


def mask_table(text: str) -> str:
    """A table partial without its run times; padding and rule widths are collapsed (a masked cell's width varies)."""
    text = re.sub(r"\b\d+\.\d+ s\b", "<masked>", text)
    return "\n".join(re.sub(r" {2,}", " ", re.sub(r"-{3,}", "---", line)) if line.startswith("|") else line
                     for line in text.split("\n"))


@pytest.mark.parametrize(("generated", "golden", "mask"), [
    ("_variables.yml", "tinydiary-variables.yml", mask_variables),
    ("_generated/tables/_day-1.md", "tinydiary-table-day-1.md", mask_table),
])
def test_generated_file_matches_its_golden_file(tiny_site_root, generated, golden, mask):
    """DIARY_UPDATE_GOLDEN=1 rewrites the golden files from this build (then review the diff)."""
    actual = mask((tiny_site_root / generated).read_text(encoding="utf-8"))
    path = GOLDEN / golden
    if os.environ.get("DIARY_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"no golden file {path}: run with DIARY_UPDATE_GOLDEN=1 to write it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, "".join(difflib.unified_diff(
        expected.splitlines(keepends=True), actual.splitlines(keepends=True), str(path), generated))
