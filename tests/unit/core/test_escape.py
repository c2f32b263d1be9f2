"""Escaping: whatever a snapshot, its output or its tests hold, the reader sees exactly that text."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from diary.core.escape import escape_html, escape_markdown_inline, neutralise_shortcodes

HOSTILE = [
    "{{< include /etc/passwd >}}",
    "{{< env GITHUB_TOKEN >}}",
    "{{< var diary.seed >}}",
    "{{{< var x >}}}",
    "</code></pre><script>alert(1)</script>",
    "```{=html}\n<b>fence</b>\n```",
    "---\ntitle: injected\n---",
    "a | b || c",
    "&amp; &lt; &#123; &",
    "tab\there\r\nwindows",
    "*emphasis* _under_ [link](http://x) ![img](y) `code` # heading",
    "-- --- ... 'single' \"double\"",
    "",
]

# Text a reader could meet: letters, digits, punctuation, spaces and symbols of every script.
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("{}<>|`&;#*_-.'\"\\\n\t"))


def visible_text(rendered_html: str) -> str:
    """What a reader sees of rendered HTML: tags dropped, entities decoded, white space collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", rendered_html)).split())


def render_markdown(markdown: str) -> str:
    """The page body smalldocs makes of `markdown` (the engine used when Quarto is missing)."""
    from smalldocs.markdown import render

    return render(markdown, {})


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_html_round_trips_and_leaves_no_markup(text):
    escaped = escape_html(text)
    assert html.unescape(escaped) == text
    for dangerous in ("<", ">", "{", "}", "`", "|", "\t", "\r"):
        assert dangerous not in escaped


@pytest.mark.fuzz
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())  # any text at all; hypothesis favours ASCII, where the markup characters are
@example("{{< include /etc/passwd >}}")
@example("</code></pre>\t|`\r\n")
def test_escape_html_property(text):
    escaped = escape_html(text)
    assert html.unescape(escaped) == text
    assert "{{<" not in escaped
    assert "<" not in escaped


def test_escape_html_of_a_shortcode_is_entities():
    assert escape_html("{{< var x >}}") == "&#123;&#123;&lt; var x &gt;&#125;&#125;"


@pytest.mark.parametrize("text", [t for t in HOSTILE if t])
def test_markdown_inline_reads_as_written(text):
    escaped = escape_markdown_inline(text)
    assert "\n" not in escaped
    assert "{{" not in escaped
    assert visible_text(render_markdown(escaped)) == " ".join(text.split())


@pytest.mark.fuzz
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_markdown_inline_property(text):
    escaped = escape_markdown_inline(text)
    assert "{{<" not in escaped
    assert visible_text(render_markdown(escaped)) == " ".join(text.split())


def test_markdown_inline_keeps_a_pipe_inside_its_table_cell():
    cell = escape_markdown_inline("a | b")
    rendered = render_markdown(f"| x | y |\n|---|---|\n| {cell} | z |\n")
    assert re.findall(r"<td>(.*?)</td>", rendered) == ["a | b", "z"]


def test_markdown_inline_is_not_expanded_as_a_shortcode(tmp_path):
    from smalldocs.shortcodes import expand

    (tmp_path / "_variables.yml").write_text("x: EXPANDED\n")
    text = escape_markdown_inline("{{< var x >}} and {{< include /etc/passwd >}}")
    warnings: list[str] = []
    expanded = expand(text, tmp_path / "page.qmd", tmp_path, {}, warnings)
    assert expanded == text
    assert visible_text(render_markdown(expanded)) == "{{< var x >}} and {{< include /etc/passwd >}}"


@pytest.mark.parametrize("text", ["{{< var x >}}", "{{{< var x >}}}", "a {{ b }} c", "no braces"])
def test_neutralise_shortcodes_breaks_every_opening(text, tmp_path):
    from smalldocs.shortcodes import expand

    neutral = neutralise_shortcodes(text)
    assert "{{" not in neutral
    (tmp_path / "_variables.yml").write_text("x: EXPANDED\n")
    expanded = expand(neutral, tmp_path / "page.qmd", tmp_path, {}, [])
    assert "EXPANDED" not in expanded
    assert visible_text(render_markdown(expanded)) == text


# ---------------------------------------------------------------------------------------------
# One rule per place, proved for both engines. Quarto cannot run here; its rules, as the issue
# records them from Quarto 1.10.18 and as its filters write them, are modelled below.

from urllib.parse import unquote  # noqa: E402

from diary.core.escape import (  # noqa: E402
    code_block_text,
    code_fence,
    fence_can_show,
    link_target,
    metadata_text,
    quarto_code_block_text,
    unescaped_code_shortcodes,
)
from diary.render.smalldocs_compat import quarto_code_blocks  # noqa: E402
from diary.site.templating import front_matter  # noqa: E402

# What Quarto does to a metadata string before it expands shortcodes: it reads it as Markdown, so a
# backslash escape and an entity are undone (`\{\{\<` and `&#123;&#123;<` both leaked the token).
_BACKSLASH_ESCAPE = re.compile(r"\\(.)", re.S)


def quarto_metadata_unescaped(text: str) -> str:
    """The text Quarto's shortcode pass sees of a metadata string: Markdown escapes and entities undone."""
    return html.unescape(_BACKSLASH_ESCAPE.sub(r"\1", text))


def smalldocs_title(text: str, tmp_path) -> str:
    """The <title> and the title block smalldocs makes of a page titled `text` (front matter dumped as
    diary generate dumps it), as visible text."""
    from smalldocs.shortcodes import expand

    expanded = expand(text, tmp_path / "page.qmd", tmp_path, {}, [])
    return visible_text(render_markdown(expanded))


METADATA_HOSTILE = [
    *HOSTILE,
    r"\{\{\< env GITHUB\_TOKEN \>\}\}",
    "&#123;&#123;< env GITHUB_TOKEN >&#125;&#125;",
    "00-base: The base: <script>x</script>",
    "1. a list", "a) a list", "- a list", "# a heading", "a -- b", "wait...", "12:30", "http://x",
    "snake_case_", "_lead", "a  b", " lead", "trail ", "line\nbreak", "@cite", "a & b", "don't", '"q"',
    "*em*", "a ~ b", "x^2", "[link]", "a|b", "`code`", "$x$", "a == b",
]


@pytest.mark.parametrize("text", METADATA_HOSTILE)
def test_metadata_text_refuses_anything_but_plain_text(text):
    assert metadata_text(text) is None


@pytest.mark.parametrize("text", ["00-base: The base", "06_gpt-stdlib: gpt() from the standard library",
                                  "Generating the operators, naively", "Value (scalar autograd) 2/3, 50% shorter!"])
def test_metadata_text_keeps_plain_titles(text):
    assert metadata_text(text) == text


def _check_plain_metadata(text: str, tmp_path) -> None:
    plain = metadata_text(text)
    if plain is None:
        return
    assert plain == text
    # Quarto: whatever it unescapes, no shortcode, tag or entity can come out of it
    seen = quarto_metadata_unescaped(plain)
    assert seen == plain
    assert not set(seen) & set("{}<>\\`@&*_~^[]|$#\"'") - ({"_"} if "_" in plain else set())
    # the YAML front matter holds it as itself
    assert yaml_load(front_matter(title=plain))["title"] == plain
    # smalldocs shows it as written, in the title block (Markdown) and in <title> (text)
    assert smalldocs_title(plain, tmp_path) == plain


def yaml_load(text: str) -> dict:
    import yaml

    return yaml.safe_load(text)


@pytest.mark.fuzz
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(blacklist_categories=("Cs",)) | st.sampled_from("{}<>\\`@&-._ :()1a"), max_size=40))
@example(text="00-base: The base")
@example(text="{{< env GITHUB_TOKEN >}}")
def test_metadata_text_property(text, tmp_path):
    _check_plain_metadata(text, tmp_path)


def test_hostile_title_falls_back_and_shows_in_the_body(tmp_path):
    """The page of a hostile title: front matter holds the id, the body the full title, escaped."""
    title = "00-base: {{< env GITHUB_TOKEN >}} <b>x</b>"
    assert metadata_text(title) is None and metadata_text("00-base") == "00-base"
    body = escape_markdown_inline(title)
    assert quarto_metadata_unescaped(body) == title  # what Quarto shows in the body: the text itself
    assert visible_text(render_markdown(body)) == title  # what smalldocs shows


# --- The inside of a fenced code block


def render_fenced(text: str) -> str:
    """smalldocs' HTML of `text` as a generated excerpt writes it, with what smalldocs_compat.py teaches smalldocs."""
    code = code_block_text(text)
    fence = code_fence(code)
    attributes = '.python .numberLines #b code-line-numbers="true" startFrom="7" tabindex="0"'
    markdown = f"{fence}{{{attributes}}}\n{code}\n{fence}\n"
    with quarto_code_blocks():
        return render_markdown(markdown)


def shown_code(rendered: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", body))
            for body in re.findall(r"<code[^>]*>(.*?)</code>", rendered, re.S)]


# Quarto's include directive, as core/lib/parse-shortcode.ts writes it: a line of an included file
# that is nothing but a shortcode is replaced by the file it names, in a fence or not.
QUARTO_INCLUDE_LINE = re.compile(r"^\s*{{< (?!/\*)(.+?)(?<!\*/) >}}\s*$", re.M)

CODE_IN_A_FENCE = [
    "{{< include /etc/passwd >}}", "  {{< env GITHUB_TOKEN >}}  ", "{{< x >}} {{< y >}}", "{{ jinja }} {< x >}",
    "```", "````\n```", "``` a\nb\n```", "</code></pre><script>alert(1)</script>", "~~~\n---\n:::",
    "# {{< include /etc/passwd >}} {{< env GITHUB_TOKEN >}} {{< var diary.best_code >}} | a | b | ```",
]
# What the escape is not relied on for: shown as raw HTML instead (no brace left at all).
CODE_AS_RAW_HTML = [
    "{{{< var x >}}}", "{{<< x >>}}", "a {{< b", "b >}} a", ">}} {{<", "{{{{< x >}}}}", "{{< x >}}}",
    "{{{< x >}}", "{{< a > b >}}", "x {{< y\n{{< include /etc/passwd >}} z >}}", "a\tb",
    "x = 1  # <1>\ny = 2", "print(x) // <12>  ",
]


@pytest.mark.parametrize("text", CODE_IN_A_FENCE)
def test_code_block_text_reads_as_written_in_both_engines(text):
    assert fence_can_show(text)
    escaped = code_block_text(text)
    assert unescaped_code_shortcodes(escaped) == []  # Quarto's filter expands nothing
    assert not QUARTO_INCLUDE_LINE.search(escaped)  # Quarto's include directive finds no line
    assert quarto_code_block_text(escaped) == text  # Quarto shows the text as written
    rendered = render_fenced(text)
    assert shown_code(rendered) == [text.rstrip("\n")]  # smalldocs: one block, the text as written
    assert "<script" not in rendered


@pytest.mark.parametrize("text", CODE_AS_RAW_HTML)
def test_code_the_escape_is_not_relied_on_for_is_raw_html(text):
    assert not fence_can_show(text)
    assert "{" not in escape_html(text) and html.unescape(escape_html(text)) == text


@pytest.mark.fuzz
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.sampled_from("{}<>`~ \nax/") , max_size=40))
@example("{{< env GITHUB_TOKEN >}}")
@example("x {{< y\n{{< include /etc/passwd >}} z >}}")
def test_code_block_text_property(text):
    escaped = code_block_text(text)
    assert quarto_code_block_text(escaped) == text
    if not fence_can_show(text):
        return  # shown as raw HTML: test_escape_html_property
    assert unescaped_code_shortcodes(escaped) == []
    assert not QUARTO_INCLUDE_LINE.search(escaped)
    fence = code_fence(escaped)
    assert not any(line.lstrip(" ").startswith(fence) for line in escaped.split("\n"))
    if text.strip("\n") == text and text.strip():  # a code box shows no leading or final blank line
        assert shown_code(render_fenced(text)) == [text]


def test_smalldocs_numbers_from_start_and_lets_the_keyboard_in():
    rendered = render_fenced("a = 1\nb = 2")
    assert 'style="counter-reset: source-line 6;"' in rendered
    assert re.findall(r'<span id="b-(\d+)"><a href="#b-\1" aria-hidden="true" tabindex="-1"></a>', rendered) == [
        "7", "8"]
    assert re.search(r'<div tabindex="0" class="sourceCode" id="b">', rendered)
    assert rendered.count('class="code-copy-button"') == 1


def test_code_fence_outgrows_every_backtick_run():
    assert code_fence("no ticks") == "```"
    assert code_fence("```python\nx\n```") == "````"
    assert code_fence("a `````` b") == "```````"


@pytest.mark.parametrize("text", ["a\tb", "a\r\nb", "nul\x00", "bell\x07"])
def test_fence_is_not_used_where_pandoc_would_change_the_text(text):
    assert not fence_can_show(text)
    assert fence_can_show("plain\n  indented {{< x >}} ``` \x85 \u2028")


# --- Link targets


@pytest.mark.parametrize("path", ["raw/00-base/prog.py", "raw/a/with space.py", "raw/a/p(a)r).py",
                                  "raw/a/back\\slash.py", "raw/a/ünï.py", "raw/a/100%.py", "raw/a/#hash?.py"])
def test_link_target_decodes_to_the_path_and_cannot_end_the_link(path):
    target = link_target(path)
    assert target is not None and unquote(target) == path
    assert re.fullmatch(r"[A-Za-z0-9/%._~-]+", target)
    rendered = render_markdown(f"[Download]({target})")
    assert unquote(re.search(r'href="([^"]*)"', rendered).group(1)) == path


@pytest.mark.parametrize("path", ["raw/a/{{< env X >}}.py", "raw/a/<b>.py", "raw/a/{x}.py"])
def test_link_target_refuses_what_quarto_would_decode_into_a_shortcode(path):
    assert link_target(path) is None


@pytest.mark.fuzz
@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30))
def test_link_target_property(path):
    target = link_target(path)
    if target is None:
        assert set(path) & set("{}<>")
    else:
        assert unquote(target) == path
        assert re.fullmatch(r"[A-Za-z0-9/%._~-]*", target)


def test_smalldocs_indexes_code_as_the_reader_sees_it():
    from smalldocs.markdown import render

    env: dict = {}
    code = code_block_text("x = '{{< env GITHUB_TOKEN >}}'")
    with quarto_code_blocks():
        render(f"## Code\n\n```{{.python}}\n{code}\n```\n", env)
    text = " ".join(part["text"] for part in env["search"])
    assert "x = '{{< env GITHUB_TOKEN >}}'" in text and "{{{<" not in text


# --- The argument of a shortcode

from diary.core.escape import shortcode_argument  # noqa: E402

# Quarto's reading of a shortcode's arguments (core/lib/parse-shortcode.ts): a bare word, or a
# double- or single-quoted value.
QUARTO_ARGUMENT = re.compile(r"""(?:([^"'\s]+))|(?:"([^"]*)")|(?:'([^']*)')""")


def quarto_first_argument(shortcode_line: str) -> str:
    inside = QUARTO_INCLUDE_LINE.match(shortcode_line).group(1)
    rest = inside[len("include"):].strip()
    found = QUARTO_ARGUMENT.match(rest)
    return next(group for group in found.groups() if group is not None)


@pytest.mark.parametrize("path", ["/_generated/code/00-base/_prog.py.md", "/_generated/code/a/_my file.py.md",
                                  "/_generated/code/a/_ünï (2).py.md"])
def test_shortcode_argument_is_read_back_by_both_engines(path, tmp_path):
    from smalldocs.shortcodes import expand

    line = "{{< include " + shortcode_argument(path) + " >}}"
    assert quarto_first_argument(line) == path
    target = tmp_path / path.lstrip("/")
    target.parent.mkdir(parents=True)
    target.write_text("INCLUDED\n")
    assert expand(line, tmp_path / "page.qmd", tmp_path, {}, []).strip() == "INCLUDED"


@pytest.mark.parametrize("path", ['/a/"q".md', "/a/{{< env X >}}.md", "/a/<b>.md", "/a/b\\c.md", "/a/b\nc.md",
                                  "/a/b\tc.md", "/a/'q'.md", "/a/`b`.md", ""])
def test_shortcode_argument_refuses_what_would_end_it(path):
    assert shortcode_argument(path) is None


@pytest.mark.fuzz
@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30))
def test_shortcode_argument_property(path):
    path = "/_generated/" + path + ".md"  # the tool's include paths: under _generated/, ending in .md
    argument = shortcode_argument(path)
    if argument is not None:
        assert quarto_first_argument("{{< include " + argument + " >}}") == path
