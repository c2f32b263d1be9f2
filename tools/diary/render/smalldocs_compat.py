"""What smalldocs is taught, for the length of a render, so a fenced code block reads as under Quarto.

The code excerpts are fenced code blocks (`templates/excerpt.md.j2`): Quarto highlights them itself,
numbers their lines, spaces them and adds one copy button. smalldocs renders the same fences, and
does most of that too; three things it does differently are made equal here, on its output only:

- Quarto's escape of a shortcode inside code: Quarto shows `{{{< x >}}}` in a code block as
  `{{< x >}}`; smalldocs never looks for shortcodes in code and would show the three braces.
  `escape.quarto_code_block_text` is Quarto's rule, applied to the block's text before smalldocs
  highlights it.
- `startFrom="83"`: Pandoc numbers such a block from 83; smalldocs from 1. The code element gets the
  counter's start (as Pandoc writes it) and the line anchors their real numbers.
- the search index: smalldocs indexes a code block's text as written in the page; it indexes the
  text Quarto shows instead (the same unescaping).
- `tabindex="0"`: Pandoc writes it on the block's `div.sourceCode` (the box that scrolls,
  styles.css); smalldocs drops attributes it does not know. The line-number links get Pandoc's
  `aria-hidden="true" tabindex="-1"`, so they are neither empty links to a screen reader nor Tab stops.

And one thing both engines did alike, undone here as `_quarto.yml`'s theme files undo it for Quarto
(`$web-font-path: false`): the Bootswatch themes load their fonts from Google Fonts with an `@import`
on every page; the copy smalldocs writes into `site_libs/themes/` has no import of another origin, so
the site contacts no third party (the system fonts of the theme's font stack are used).
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator
from typing import Any

from diary.core.escape import quarto_code_block_text

# An `@import` of a stylesheet from another origin (a theme's web fonts): `url(https://...)` or a quoted URL.
_REMOTE_IMPORT = re.compile(
    r"""@import\s+(?:url\(\s*["']?(?:https?:)?//[^)]*\)|(["'])(?:https?:)?//.*?\1)[^;]*;?""", re.I)


def without_remote_imports(css: str) -> str:
    """`css` without the `@import`s that fetch a stylesheet from another origin."""
    return _REMOTE_IMPORT.sub("", css)


_LINE_ANCHOR = re.compile(r'<span id="([^"]*)-(\d+)"><a href="#\1-\2"></a>')


def _with_quarto_attributes(block_html: str, attrs: Any) -> str:
    """smalldocs' HTML of one code block, with Pandoc's numbering start, tabindex and anchor attributes."""
    start_text = str(attrs.kv.get("startFrom", "1"))
    start = int(start_text) if start_text.isdigit() else 1

    def anchor(found: re.Match[str]) -> str:
        prefix, number = found.group(1), int(found.group(2)) + start - 1
        return (f'<span id="{prefix}-{number}"><a href="#{prefix}-{number}" aria-hidden="true" '
                f'tabindex="-1"></a>')

    block_html = _LINE_ANCHOR.sub(anchor, block_html)
    if start > 1:
        block_html = block_html.replace('<code class="sourceCode', f'<code style="counter-reset: source-line '
                                        f'{start - 1};" class="sourceCode', 1)
    tabindex = attrs.kv.get("tabindex")
    if tabindex is not None:
        block_html = block_html.replace('<div class="sourceCode', f'<div tabindex="{html.escape(str(tabindex))}" '
                                        'class="sourceCode', 1)
    return block_html


@contextlib.contextmanager
def quarto_code_blocks() -> Iterator[None]:
    """During a smalldocs render, code blocks follow Quarto's rules above; restored afterwards."""
    from smalldocs import markdown

    original = markdown.code_block_html
    original_search_text = markdown.Rules.search_text

    def code_block_html(body: str, lang: str, a: Any, env: dict, extra: str = "") -> str:
        return _with_quarto_attributes(original(quarto_code_block_text(body), lang, a, env, extra), a)

    def search_text(self: Any, state: Any) -> None:
        # The index gets the text the reader sees; the tokens keep theirs for the renderer.
        code = [t for t in state.tokens if t.type in ("fence", "code_block") and not t.info.strip().startswith("{=")]
        kept = [t.content for t in code]
        for token in code:
            token.content = quarto_code_block_text(token.content)
        try:
            original_search_text(self, state)
        finally:
            for token, content in zip(code, kept, strict=True):
                token.content = content

    markdown.code_block_html = code_block_html
    markdown.Rules.search_text = search_text  # make_parser binds it afresh for every page
    try:
        yield
    finally:
        markdown.code_block_html = original
        markdown.Rules.search_text = original_search_text
