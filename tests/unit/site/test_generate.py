"""`diary generate` on a tiny diary, called as a user calls it: partials, tables, variables, chart,
snapshot pages, stale files, and the errors that stop it before it writes anything."""

from __future__ import annotations

import ast
import difflib
import html
import os
import re
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diary.cli import main
from diary.core import contract
from diary.core.escape import code_fence, metadata_text, quarto_code_block_text, unescaped_code_shortcodes
from diary.project.project import Project
from diary.site import highlight, templating
from diary.site.outputs import GenerateReport, generate
from diarykit import FIXTURES_DIR, REPO, read_record


def generate_site(root: Path) -> GenerateReport:
    return generate(Project.load(root))

TINY = FIXTURES_DIR / "tinydiary"
SNAPSHOTS = ["00-base", "01-broken", "02-fixed"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The tiny diary, measured for real once and generated: shared, never changed by a test."""
    root = tmp_path_factory.mktemp("tiny") / "diary"
    shutil.copytree(TINY, root)
    assert main(["--root", str(root), "measure"]) == 0
    assert main(["--root", str(root), "generate", "--quiet"]) == 0
    return root


@pytest.fixture
def diary(site, tmp_path) -> Path:
    """A private copy of the generated tiny diary, for a test that changes something."""
    root = tmp_path / "diary"
    shutil.copytree(site, root)
    return root


def read(root: Path, path: str) -> str:
    return (root / path).read_text(encoding="utf-8")



FENCED = re.compile(r"^(?P<fence>`{3,})\{(?P<attrs>\.[^{}\n]*)\}\n(?P<code>.*?)\n(?P=fence)$", re.S | re.M)


def code_text(partial: str) -> str:
    """What a reader sees (and copies) of a code excerpt, read without an engine: the text of its
    fenced code block as Quarto shows it (escape.quarto_code_block_text, the rule smalldocs is taught
    too), or the text of the <code> element of its raw HTML (a diff)."""
    fenced = FENCED.search(partial)
    if fenced:
        return quarto_code_block_text(fenced.group("code"))
    body = re.search(r'<code class="sourceCode[^"]*"[^>]*>(.*)</code>', partial, re.S).group(1)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def raw_html_parts(partial: str) -> list[str]:
    """The raw HTML blocks of a partial."""
    return re.findall(r"^```\{=html\}\n(.*?)^```$", partial, re.S | re.M)


def tree(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*"))
            if path.is_file() and path.name != ".diary.lock"}


def table_rows(table: str) -> dict[str, list[str]]:
    """The body rows of a generated pipe table, by snapshot id, as stripped cells."""
    rows = {}
    lines = table.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("|"))  # after the table's box
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        snapshot_id = re.search(r"\[(.*?)\]", cells[0]).group(1).replace("\\", "")
        rows[snapshot_id] = cells
    return rows


# ---------------------------------------------------------------------------------------------
# Live code


def test_whole_file_excerpt_shows_the_source_exactly(site):
    partial = read(site, "_generated/code/00-base/_prog.py.md")
    source = read(site, "code/snapshots/00-base/prog.py")
    assert code_text(partial) == source.removesuffix("\n")  # a code box shows no final line break
    assert partial.startswith("```{=html}\n") and partial.rstrip().endswith("```")
    fenced = FENCED.search(partial)
    # Quarto's own code block: Pandoc highlights and numbers it, from line 1; the box is focusable
    assert fenced.group("attrs").split() == [".python", ".numberLines", "#code-00-base-prog-py",
                                             'code-line-numbers="true"', 'startFrom="1"', 'tabindex="0"']
    # no copy scaffold of our own (Quarto adds one to every code block), and no raw code markup
    assert "code-copy" not in partial and "<pre" not in partial
    assert "prog.py" in partial.split("<code", 2)[1] and "00-base" in partial and "lines 1–" in partial


def test_definition_excerpt_is_the_definition_with_its_decorator(site):
    source = read(site, "code/snapshots/00-base/prog.py")
    node = next(n for n in ast.parse(source).body if getattr(n, "name", "") == "main")
    first = min(d.lineno for d in node.decorator_list)
    expected = "".join(source.splitlines(keepends=True)[first - 1 : node.end_lineno])
    partial = read(site, "_generated/code/00-base/_def-main.md")
    assert code_text(partial) == expected.removesuffix("\n")
    assert expected.startswith("@announce\n")
    assert f'startFrom="{first}"' in partial and f"lines {first}–{node.end_lineno}" in partial
    # A definition partial is generated when a page includes it, and only then: day 2 includes
    # 02-fixed's `total`, no page includes 00-base's or 01-broken's.
    assert (site / "_generated/code/02-fixed/_def-total.md").is_file()
    for snapshot_id in ("00-base", "01-broken"):
        assert not (site / f"_generated/code/{snapshot_id}/_def-total.md").exists()


def test_hostile_snapshot_text_is_escaped_everywhere(site):
    """Every place of a partial has its one rule: raw HTML holds no markup of the text, and the code
    of a fence holds no shortcode Quarto would expand and no line that could end the fence."""
    partials = [*(site / "_generated" / "code").rglob("*.md"), *(site / "_generated" / "diff").rglob("*.md")]
    fences = 0
    for path in partials:
        partial = path.read_text(encoding="utf-8")
        for inside in raw_html_parts(partial):
            assert "{" not in inside and "<script" not in inside and "`" not in inside, path
            assert inside.count("</code></pre>") <= 1, path
            assert not any(line.startswith(("```", "---", ":::")) for line in inside.splitlines()), path
        fenced = FENCED.search(partial)
        if fenced is None:
            continue
        fences += 1
        code = fenced.group("code")
        assert unescaped_code_shortcodes(code) == [], path
        assert len(fenced.group("fence")) > max(map(len, re.findall("`+", code)), default=0), path
        assert fenced.group("fence") == code_fence(code), path
        # the text around the fence: two raw HTML blocks and blank lines, nothing of the snapshot's
        assert FENCED.sub("", partial).count("```{=html}") == 2, path
    # every file and definition of every snapshot is a fenced block (none holds a tab); diffs are raw HTML
    # (a whole-file partial per snapshot, and the definitions some page includes: at least one)
    assert fences == len(list((site / "_generated" / "code").rglob("*.md"))) >= 4
    whole = read(site, "_generated/code/00-base/_prog.py.md")
    assert "{{{< include /etc/passwd >}}}" in whole  # Quarto's own escape, inside the code
    assert "```" in code_text(whole)  # the source's own fence is inside the block, not its end


def test_diffs_against_parent_baseline_and_any_included_pair(site):
    old = read(site, "code/snapshots/00-base/prog.py").splitlines(keepends=True)
    new = read(site, "code/snapshots/01-broken/prog.py").splitlines(keepends=True)
    expected = "".join(difflib.unified_diff(old, new, "a/00-base/prog.py", "b/01-broken/prog.py"))
    assert code_text(read(site, "_generated/diff/_00-base__01-broken.md")) == expected
    assert (site / "_generated/diff/_01-broken__02-fixed.md").is_file()  # parent: the snapshot page shows it
    assert not (site / "_generated/diff/_00-base__02-fixed.md").exists()  # the baseline's: nobody includes it
    reverse = read(site, "_generated/diff/_02-fixed__00-base.md")  # only because day 2 includes it
    assert "--- a/02-fixed/prog.py" in code_text(reverse)


# ---------------------------------------------------------------------------------------------
# Tables and variables


def test_post_table_shows_the_records_numbers(site):
    rows = table_rows(read(site, "_generated/tables/_day-1.md"))
    assert list(rows) == ["00-base", "01-broken"]  # up to the last snapshot the post covers
    for snapshot_id, cells in rows.items():
        total = read_record(site, snapshot_id)["lines"]["total"]
        comment = total["comment"] + total["docstring"]
        assert cells[2:5] == [str(total["code"]), str(comment), str(total["blank"])]
        definition = next(d for d in read_record(site, snapshot_id)["definitions"] if d["name"] == "total")
        assert cells[8] == str(definition["code"])  # the post's `definitions: [total]`
    header = next(line for line in read(site, "_generated/tables/_day-1.md").splitlines() if line.startswith("|"))
    assert "total code" in header


def test_broken_snapshot_is_marked_and_never_counted(site):
    base, broken, fixed = (read_record(site, s)["lines"]["total"]["code"] for s in SNAPSHOTS)
    rows = table_rows(read(site, "_generated/_progress-table.md"))
    assert rows["01-broken"][-1].startswith("**broken**: output differs")
    assert rows["01-broken"][5] == f"~~({broken - base:+d})~~"  # shown, struck, not counted
    assert rows["01-broken"][7] == str(base)  # best so far ignores it
    assert rows["02-fixed"][5] == f"{fixed - base:+d}"  # against the nearest ancestor that works
    assert rows["02-fixed"][7] == str(min(base, fixed))
    assert rows["00-base"][-1] == "ok"


def test_variables_have_the_contract_keys_and_values(site):
    variables = yaml.safe_load(read(site, "_variables.yml"))
    assert list(variables) == ["diary", "snap", "def"]
    assert list(variables["diary"]) == [
        "snapshots", "broken", "baseline", "best", "baseline_code", "best_code", "saved_code",
        "saved_percent", "best_measure", "best_identity", "best_tests_passed", "best_tests_total",
        "baseline_tokens", "best_tokens", "saved_tokens", "saved_tokens_percent",
        "baseline_characters", "best_characters", "saved_characters", "saved_characters_percent",
        "steps", "seed", "samples", "tests_total", "sandbox"]
    assert list(variables["snap"]) == SNAPSHOTS
    base, broken, fixed = (read_record(site, s) for s in SNAPSHOTS)
    code = [r["lines"]["total"]["code"] for r in (base, broken, fixed)]
    summary = variables["diary"]
    counts = [summary[key] for key in ("snapshots", "broken", "baseline", "best")]
    assert counts == [3, 1, "00-base", "02-fixed"]
    assert summary["saved_code"] == code[0] - code[2] > 0
    assert summary["saved_percent"] == round(100 * (code[0] - code[2]) / code[0], 1)
    assert (summary["steps"], summary["seed"], summary["samples"], summary["tests_total"]) == (4, 7, 2, 2)
    snap = variables["snap"]["01-broken"]
    assert list(snap) == [
        "title", "date", "code", "comment", "blank", "physical", "tokens", "characters", "status", "identical",
        "byte_identical",
        "normalised_by", "identity", "tests_passed", "tests_total", "tests_failed", "comments_kept",
        "comments_total", "comments_percent", "run_s",
        "cpu_s", "peak_mb", "code_vs_parent", "code_vs_baseline", "percent_vs_baseline",
        "tokens_vs_baseline", "tokens_percent_vs_baseline", "saved_code", "saved_percent", "snapshots_so_far",
        "broken_so_far", "first_difference_line", "def"]
    assert (snap["saved_code"], snap["snapshots_so_far"], snap["broken_so_far"]) == (code[0] - code[1], 2, 1)
    assert (snap["code"], snap["status"], snap["identical"]) == (code[1], "broken", "✗")
    assert snap["code_vs_parent"] == f"{code[1] - code[0]:+d}" and snap["code_vs_parent"][0] in "+-"
    assert snap["first_difference_line"] == broken["behaviour"]["first_difference"]["line"]
    assert variables["snap"]["02-fixed"]["code_vs_parent"] == f"{code[2] - code[0]:+d}"
    assert "first_difference_line" not in variables["snap"]["02-fixed"]
    assert variables["snap"]["00-base"]["def"]["main"]["code"] == next(
        d["code"] for d in base["definitions"] if d["name"] == "main")
    assert variables["def"]["total"] == {
        "baseline": variables["snap"]["00-base"]["def"]["total"]["code"],
        "best": variables["snap"]["02-fixed"]["def"]["total"]["code"],
        "saved": variables["snap"]["00-base"]["def"]["total"]["code"]
        - variables["snap"]["02-fixed"]["def"]["total"]["code"], "best_name": "total"}


# ---------------------------------------------------------------------------------------------
# Chart, pages, writes


def test_chart_is_valid_svg_and_byte_stable(site, diary):
    original = (site / "images/progress.svg").read_bytes()
    assert ET.fromstring(original).tag.endswith("svg")
    assert "![" in read(site, "_generated/_chart.md") and "fig-alt=" in read(site, "_generated/_chart.md")
    drawn = []
    for _ in range(2):
        (diary / "images/progress.svg").unlink()
        report = generate_site(diary)
        assert report.chart_drawn
        drawn.append((diary / "images/progress.svg").read_bytes())
    assert drawn[0] == drawn[1] == original
    assert not generate_site(diary).chart_drawn  # same data: not drawn again


def test_second_generate_writes_nothing_and_is_fast(diary):
    before = {path: path.stat().st_mtime_ns for path in diary.rglob("*") if path.is_file()}
    started = time.perf_counter()
    assert main(["--root", str(diary), "generate", "--quiet"]) == 0
    elapsed = time.perf_counter() - started
    after = {path: path.stat().st_mtime_ns for path in diary.rglob("*") if path.is_file()}
    # The lock, and generate's own state in .diary-cache/ (gitignored), are the tool's, not the project's.
    def project_files(times: dict[Path, int]) -> dict[Path, int]:
        return {p: t for p, t in times.items() if p.name != ".diary.lock" and ".diary-cache" not in p.parts}

    assert project_files(after) == project_files(before)
    report = generate_site(diary)
    assert report.written == [] and report.removed == [] and not report.chart_drawn
    assert elapsed < 2.0, f"a generate that changes nothing took {elapsed:.2f} s"


def test_snapshot_pages_and_raw_copies(site):
    page = read(site, "snapshots/00-base.qmd")
    front = yaml.safe_load(page.split("---\n")[1])
    # The hostile title is not plain text: the page is titled by its id, the body shows the title once
    assert front["title"] == "00-base" and "description" not in front
    assert "Title: 00\\-base: The base: \\<script\\>" in page
    assert r"\{\{\< env GITHUB\_TOKEN \>\}\}" in page
    assert page.count(r"\{\{\< include /etc/passwd \>\}\}") == 1  # the note, once
    assert front["date"] == "2026-01-01"
    assert page.split("\n")[1] == contract.PAGE_MARKER
    assert "{{< include /_generated/code/00-base/_prog.py.md >}}" in page
    assert "raw/00-base/prog.py" in page
    broken = read(site, "snapshots/01-broken.qmd")
    assert "**Broken** (as expected)" in broken
    assert "{{< include /_generated/diff/_00-base__01-broken.md >}}" in broken
    assert "0 passed, 2 failed" in broken
    for snapshot_id in SNAPSHOTS:
        assert (site / f"snapshots/raw/{snapshot_id}/prog.py").read_bytes() == (
            site / f"code/snapshots/{snapshot_id}/prog.py").read_bytes()
    index = read(site, "snapshots/index.qmd")
    assert [index.index(f"[{s.replace('-', chr(92) + '-')}]({s}.qmd)") for s in SNAPSHOTS] == sorted(
        index.index(f"[{s.replace('-', chr(92) + '-')}]({s}.qmd)") for s in SNAPSHOTS)


def test_front_matter_of_every_generated_page_is_plain_text(site):
    """Front matter is the one place no escape survives (Quarto undoes Markdown escapes, then expands
    shortcodes): every string value of a generated page's front matter is plain text, or the tool's own."""
    for path in sorted((site / "snapshots").glob("*.qmd")):
        front = yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1])
        for key in ("title", "description"):
            if key in front:
                assert metadata_text(front[key]) == front[key], f"{path.name}: {key} {front[key]!r}"
    plain = yaml.safe_load(read(site, "snapshots/02-fixed.qmd").split("---\n")[1])
    meta = yaml.safe_load(read(site, "code/snapshots/02-fixed/snapshot.yml"))
    if metadata_text(f"02-fixed: {meta['title']}"):
        assert plain["title"] == f"02-fixed: {meta['title']}"


def test_stale_generated_files_are_removed(diary):
    stale = ["_generated/code/99-gone/_prog.py.md", "_generated/diff/_a__b.md",
             "snapshots/raw/99-gone/prog.py"]
    for path in stale:
        (diary / path).parent.mkdir(parents=True, exist_ok=True)
        (diary / path).write_text("old\n")
    (diary / "snapshots/99-gone.qmd").write_text("---\n" + contract.PAGE_MARKER + "\ntitle: x\n---\n")
    (diary / "snapshots/notes.qmd").write_text("---\ntitle: written by hand\n---\n")
    report = generate_site(diary)
    assert sorted(report.removed) == sorted([*stale, "snapshots/99-gone.qmd"])
    assert not (diary / "_generated/code/99-gone").exists() and not (diary / "snapshots/raw/99-gone").exists()
    assert (diary / "snapshots/notes.qmd").is_file()  # no marker: not ours


# ---------------------------------------------------------------------------------------------
# Errors: exit 2, one message with file and line, nothing written


def edit(root: Path, path: str, old: str, new: str) -> None:
    text = read(root, path)
    assert old in text
    (root / path).write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(root: Path, path: str, needle: str) -> int:
    return read(root, path).splitlines().index(needle) + 1


def generate_fails(root: Path, capsys) -> str:
    for generated in ("_generated", "snapshots", "images"):
        shutil.rmtree(root / generated, ignore_errors=True)
    (root / "_variables.yml").unlink(missing_ok=True)
    before = tree(root)
    capsys.readouterr()
    assert main(["--root", str(root), "generate"]) == 2
    message = capsys.readouterr().err
    assert tree(root) == before, "a failed generate wrote something"
    assert message.count("\n") == 1 and ": error: " in message
    return message


DAY1 = "posts/day-1/index.qmd"


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("snapshots: [00-base, 01-broken]", "snapshots: [00-base, 99-nope]", "unknown snapshot '99-nope'"),
    ("definitions: [total]", "definitions: [total, nope]", "unknown definition 'nope'"),
    ("snapshots: [00-base, 01-broken]", "snapshots: [00-base, 01-broken]]", "not valid YAML"),
    ("{{< include /_generated/tables/_day-1.md >}}", "{{< include /_generated/tables/_nope.md >}}",
     "the include /_generated/tables/_nope.md is not generated"),
    ("{{< include /_generated/code/00-base/_def-main.md >}}",
     "{{< include /_generated/code/00-base/_def-nope.md >}}",
     "the include /_generated/code/00-base/_def-nope.md is not generated"),
    ("{{< include /_generated/diff/_00-base__01-broken.md >}}",
     "{{< include /_generated/diff/_00-base__zz.md >}}", "unknown snapshot 'zz'"),
    ("{{< var snap.00-base.code >}}", "{{< var snap.00-base.nope >}}",
     "unknown variable 'snap.00-base.nope'"),
])
def test_bad_post_stops_generate_with_file_and_line(diary, capsys, old, new, expected):
    edit(diary, DAY1, old, new)
    needle = next(line for line in read(diary, DAY1).splitlines() if new in line)
    message = generate_fails(diary, capsys)
    assert expected in message
    line = line_of(diary, DAY1, needle)
    assert f"{diary / DAY1}:{line}:" in message


def test_post_with_front_matter_key_line(diary, capsys):
    # The line named is the key's own line, whatever comes before it.
    edit(diary, DAY1, "title: \"Day 1: a broken attempt\"\n", "title: \"Day 1\"\ncategories: [a, b]\n")
    edit(diary, DAY1, "definitions: [total]", "definitions: [gone]")
    message = generate_fails(diary, capsys)
    assert f"{diary / DAY1}:{line_of(diary, DAY1, 'definitions: [gone]')}:" in message


def test_template_error_names_the_template_and_line(diary, capsys, monkeypatch, tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(templating.TEMPLATES_DIR, templates)
    path = templates / "table.md.j2"
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(3, "{% for broken %}\n")
    path.write_text("".join(lines))
    monkeypatch.setattr(templating, "TEMPLATES_DIR", templates)
    message = generate_fails(diary, capsys)
    assert f"{path}:4:" in message and "template error" in message


def test_missing_record_says_to_measure(diary, capsys):
    (diary / "_data/records/02-fixed.yml").unlink()
    message = generate_fails(diary, capsys)
    assert "02-fixed" in message and "diary measure" in message


# ---------------------------------------------------------------------------------------------
# End to end: what smalldocs makes of it


def test_smalldocs_shows_hostile_text_literally(diary, monkeypatch):
    from diary.render.engine import choose_engine, render_site

    secret = "s3cr3t-token-value"
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    render_site(diary, choose_engine("smalldocs"), quiet=True, env={"GITHUB_TOKEN": secret})
    pages = {path: path.read_text(encoding="utf-8") for path in (diary / "_site").rglob("*.html")}
    passwd = Path("/etc/passwd").read_text().splitlines()[0] if Path("/etc/passwd").exists() else "root:x:0:0"
    for path, page in pages.items():
        assert secret not in page, path
        assert passwd not in page, path
        assert '<script>alert("x")</script>' not in page, path
    post = pages[diary / "_site/posts/day-1/index.html"]
    codes = re.findall(r'<code[^>]* class="sourceCode python"[^>]*>(.*?)</code>', post, re.S)
    source = read(diary, "code/snapshots/00-base/prog.py")
    assert html.unescape(re.sub(r"<[^>]+>", "", codes[0])) == source.removesuffix("\n")
    assert "{{{<" not in post  # Quarto's escape in code is undone, as Quarto undoes it
    assert post.count('class="code-copy-button"') == post.count('<div class="diary-excerpt"') - post.count(
        '<code class="sourceCode diff"')  # one copy button per fenced excerpt
    title = pages[diary / "_site/snapshots/00-base.html"]
    assert "{{&lt; env GITHUB_TOKEN &gt;}}" in title
    assert os.environ["GITHUB_TOKEN"] == secret


# ---------------------------------------------------------------------------------------------
# The excerpt markup shows any text exactly


def excerpt_text(text: str, language: str) -> str:
    lines, newline_at_end = highlight.highlight_lines(text, language)
    markup = highlight.numbered_code(lines, "b", 1, True, newline_at_end)
    return code_text(f'<code class="sourceCode">{markup}</code>')


@pytest.mark.parametrize("text", [
    "", "\n", "x", "x\n\n", "def f():\r\n\treturn 1\r\n", "\ufeffimport os\n", "a\x0cb\n", "nul\x00byte\n",
    's = """\n{{< include /etc/passwd >}}\n</code></pre>\n"""\n', "if x:\n  pass", "@dec\ndef f(): ...\n",
])
@pytest.mark.parametrize("language", ["python", "diff", ""])
def test_excerpt_markup_round_trips(text, language):
    assert excerpt_text(text, language) == text


@pytest.mark.fuzz
@given(st.text(st.characters(blacklist_characters="\r", blacklist_categories=("Cs",))))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_excerpt_markup_round_trips_property(text):
    for language in ("python", "diff"):
        assert excerpt_text(text, language) == text


@pytest.mark.parametrize("text", ["def f():\n\treturn 1\n", "a = 1\r\nb = 2\r\n", "nul\x00byte\n"])
def test_a_text_a_fence_would_change_is_a_raw_html_excerpt(text):
    """Pandoc turns tabs into spaces and drops carriage returns: such a text is shown as raw HTML,
    exactly, in a focusable box and without a copy scaffold of its own."""
    from diary.site.excerpts import excerpt

    partial = excerpt("00-base", "prog.py", "<code>prog.py</code>", "code-x", text, 1, "python", "0" * 64)
    assert FENCED.search(partial) is None
    assert code_text(partial) == text
    assert '<div class="sourceCode" id="code-x" tabindex="0">' in partial and "code-copy" not in partial
    assert not any("{" in part or "`" in part for part in raw_html_parts(partial))


def test_a_fenced_excerpt_numbers_from_its_first_line_and_outgrows_the_sources_fences():
    from diary.site.excerpts import excerpt

    text = "x = '{{< env GITHUB_TOKEN >}}'\n```\n`````\n"
    partial = excerpt("00-base", "prog.py", "<code>f</code>", "def-x", text, 83, "python", "0" * 64)
    fenced = FENCED.search(partial)
    assert fenced.group("fence") == "``````"
    assert 'startFrom="83"' in fenced.group("attrs").split()
    assert code_text(partial) == text.removesuffix("\n")
    assert unescaped_code_shortcodes(fenced.group("code")) == []


# Quarto's include directive (core/lib/parse-shortcode.ts): a line of an included file that is nothing
# but a shortcode is replaced by the file it names, in a fence or not.
QUARTO_INCLUDE_LINE = re.compile(r"^\s*{{< (?!/\*)(.+?)(?<!\*/) >}}\s*$", re.M)


def assert_partial_follows_the_rules(path: Path) -> str:
    """One code or diff partial, checked place by place without an engine; returns 'fence' or 'raw'."""
    partial = path.read_text(encoding="utf-8")
    assert "code-copy" not in partial, f"{path}: a copy scaffold of our own (Quarto adds one)"
    for inside in raw_html_parts(partial):
        assert "{" not in inside and "`" not in inside and "<script" not in inside, path
    fenced = FENCED.search(partial)
    if fenced is None:
        assert len(raw_html_parts(partial)) == 1, path
        return "raw"
    code, attrs = fenced.group("code"), fenced.group("attrs").split()
    assert unescaped_code_shortcodes(code) == [] and not QUARTO_INCLUDE_LINE.search(code), path
    assert fenced.group("fence") == code_fence(code), path
    assert ".numberLines" in attrs and 'code-line-numbers="true"' in attrs and 'tabindex="0"' in attrs, path
    assert any(re.fullmatch(r'startFrom="\d+"', a) for a in attrs) and attrs[0] in (".python", ".numberLines"), path
    assert FENCED.sub("", partial).count("```{=html}") == 2, path
    return "fence"


def test_the_diarys_committed_partials_and_pages_follow_the_rules():
    """What the real-Quarto tests rely on, checked on this repository's own generated files: fenced
    excerpts with Pandoc's attributes, no scaffold of ours, nothing Quarto would expand or include,
    and front matter of plain text only."""
    repo = REPO
    kinds = {path: assert_partial_follows_the_rules(path) for folder in ("code", "diff")
             for path in sorted((repo / "_generated" / folder).rglob("*.md"))}
    assert all(kind == "fence" for path, kind in kinds.items() if "/code/" in path.as_posix())
    assert all(kind == "raw" for path, kind in kinds.items() if "/diff/" in path.as_posix())
    # a whole-file excerpt per snapshot, plus the definitions and diffs some page includes
    whole_files = [path for path in kinds if path.name.endswith(".py.md")]
    assert len(whole_files) == len(list((repo / "code/snapshots").iterdir()))
    assert len(kinds) > 16
    for page in sorted((repo / "snapshots").glob("*.qmd")):
        front = yaml.safe_load(page.read_text(encoding="utf-8").split("---\n")[1])
        for key in ("title", "description"):
            if key in front:
                assert metadata_text(front[key]) == front[key], f"{page.name}: {key}"
        assert not QUARTO_INCLUDE_LINE.search(page.read_text(encoding="utf-8").replace(
            "{{< include /_generated/", "")), f"{page.name}: a line Quarto would take for a directive"


def test_a_file_name_with_a_space_is_included_quoted(diary):
    (diary / "code/snapshots/02-fixed/my helper.py").write_text("HELPER = 1\n", encoding="utf-8")
    assert main(["--root", str(diary), "measure", "--only", "02-fixed"]) == 0
    assert main(["--root", str(diary), "generate", "--quiet"]) == 0
    page = read(diary, "snapshots/02-fixed.qmd")
    assert '{{< include "/_generated/code/02-fixed/_my helper.py.md" >}}' in page
    assert "[Download my helper\\.py](raw/02-fixed/my%20helper.py)" in page


def test_a_file_name_no_include_can_hold_is_refused(diary, capsys):
    # The trust boundary (safefs) refuses it as the snapshot is read, before anything is measured;
    # generate would refuse it too (site/pages.py), should a name get past discovery.
    (diary / "code/snapshots/02-fixed/x{{< env GITHUB_TOKEN >}}.py").write_text("X = 1\n", encoding="utf-8")
    assert main(["--root", str(diary), "measure", "--only", "02-fixed"]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and "x{{< env GITHUB_TOKEN >}}.py" in message, message
    assert ": error: " in message


def test_tokens_and_characters_come_from_the_records_beside_every_saving(site):
    variables = yaml.safe_load(read(site, "_variables.yml"))
    base, fixed = read_record(site, "00-base"), read_record(site, "02-fixed")
    summary = variables["diary"]
    assert summary["best_measure"] == "code lines"
    assert (summary["baseline_tokens"], summary["best_tokens"]) == (base["size"]["total"]["tokens"],
                                                                    fixed["size"]["total"]["tokens"])
    assert summary["saved_tokens"] == base["size"]["total"]["tokens"] - fixed["size"]["total"]["tokens"]
    snap = variables["snap"]["02-fixed"]
    assert snap["tokens"] == fixed["size"]["total"]["tokens"] > 0
    assert snap["def"]["total"]["tokens"] == next(d["tokens"] for d in fixed["definitions"] if d["name"] == "total")
    # the progress table and the snapshot page show the tokens saved beside the lines saved
    row = table_rows(read(site, "_generated/_progress-table.md"))["02-fixed"]
    assert row[6] == f"{snap['code_vs_baseline']} lines, {snap['tokens_vs_baseline']} tokens"
    page = read(site, "snapshots/02-fixed.qmd")
    assert re.search(r"\| change in code tokens against the baseline +\| +"
                     + re.escape(snap["tokens_vs_baseline"]) + r" \(", page)


def test_a_posts_chart_is_pinned_and_only_the_progress_chart_moves(diary):
    pinned = ["_generated/charts/_day-1.md", "images/progress/day-1/light.svg", "images/progress/day-1/dark.svg"]
    before = {path: (diary / path).read_bytes() for path in [*pinned, contract.CHART_PATH]}
    assert "each snapshot up to 01\\-broken" in before[pinned[0]].decode()
    shorter = (diary / "code/snapshots/02-fixed/prog.py").read_text(encoding="utf-8").replace(
        "def total(values):\n    return sum(values)\n", "def total(values):\n    return sum(values)  # same\n")
    (diary / "code/snapshots/03-later").mkdir()
    (diary / "code/snapshots/03-later/prog.py").write_text(shorter, encoding="utf-8")
    (diary / "code/snapshots/03-later/snapshot.yml").write_text(
        "id: 03-later\ntitle: Later\ndate: 2026-01-09\nparent: 02-fixed\nnote: Later.\nexpect: ok\n", encoding="utf-8")
    assert main(["--root", str(diary), "measure"]) == 0
    assert main(["--root", str(diary), "generate", "--quiet"]) == 0
    assert {path: (diary / path).read_bytes() for path in pinned} == {path: before[path] for path in pinned}
    assert (diary / contract.CHART_PATH).read_bytes() != before[contract.CHART_PATH]  # the progress page moves


def test_a_post_that_includes_the_whole_diarys_chart_is_refused(diary, capsys):
    post = diary / "posts/day-2/index.qmd"
    post.write_text(post.read_text(encoding="utf-8") + "\n{{< include /_generated/_chart.md >}}\n", encoding="utf-8")
    assert main(["--root", str(diary), "generate", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "posts/day-2/index.qmd:" in err and "the whole diary's chart" in err
    assert "/_generated/charts/_day-2.md" in err


def test_a_snapshot_download_runs_with_its_data_beside_it(site):
    """The raw folder of a snapshot is a run's folder: its files, and each data file at the path the
    program opens; the page links the data file and says what to run there."""
    raw = site / "snapshots/raw/02-fixed"
    assert (raw / "data/names.txt").read_bytes() == (site / "code/data/names.txt").read_bytes()
    assert (raw / "prog.py").read_bytes() == (site / "code/snapshots/02-fixed/prog.py").read_bytes()
    page = read(site, "snapshots/02-fixed.qmd")
    command = read_record(site, "02-fixed")["run"]["command"]
    assert "[data/names\\.txt](raw/02-fixed/data/names.txt) at that path" in page
    assert "and run " + templating.escape_markdown_inline(command) + " there." in page
