"""Escaping: whatever a snapshot, its output or its tests hold, the reader sees exactly that text."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from diary.escape import escape_html, escape_markdown_inline, neutralise_shortcodes

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
