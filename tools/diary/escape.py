"""Escaping for the two places generated text lands: raw HTML blocks and Markdown prose or table cells.

Snapshot sources, program output, test messages and titles are data, never markup: whatever they
hold (`{{< include /etc/passwd >}}`, `</code></pre>`, `<script>`, backtick fences, `---` lines), the
reader must see exactly that text, in Quarto and in smalldocs alike. Quarto expands shortcodes at
the text level, even inside code and raw blocks, so a `{` is never written as itself.
"""

from __future__ import annotations

import re
import string

# html.escape's five, plus what Quarto or Pandoc would still act on inside a raw HTML block:
# braces (shortcodes), `|` and backticks (tables and fences when a block is read as Markdown),
# tabs (Pandoc turns them into spaces) and carriage returns (Pandoc drops them).
_HTML_ENTITIES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#x27;",
    "{": "&#123;",
    "}": "&#125;",
    "|": "&#124;",
    "`": "&#96;",
    "\t": "&#9;",
    "\r": "&#13;",
}
_HTML_TABLE = str.maketrans(_HTML_ENTITIES)

# Every ASCII punctuation character may be backslash-escaped in CommonMark and in Pandoc's Markdown,
# and an escaped one is always literal: no emphasis, link, code, HTML, list, table cell, shortcode,
# smart quote or dash. These few start nothing in one line of inline text, so they stay readable.
_MARKDOWN_LITERAL = set(",;:?%/=()!")
_MARKDOWN_TABLE = str.maketrans({c: "\\" + c for c in string.punctuation if c not in _MARKDOWN_LITERAL})
# smalldocs turns `--`, `---` and `...` into dashes and an ellipsis even when escaped; an empty
# span between the characters of such a run keeps them apart in both engines and shows nothing.
_TYPOGRAPHIC_RUN = re.compile(r"(?<=\\-)(?=\\-)|(?<=\\\.)(?=\\\.)")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x85\u2028\u2029]")
_SHORTCODE_OPENING = re.compile(r"\{(?=\{)")


def escape_html(text: str) -> str:
    """Text for raw HTML: every markup character, brace, pipe, backtick and tab as an entity.

    `html.unescape(escape_html(text)) == text` for every text, and the result holds no `<`, no
    `{` and no backtick, so no engine can find a tag, a shortcode or a fence in it.
    """
    return text.translate(_HTML_TABLE)


def escape_markdown_inline(text: str) -> str:
    """Text for one line of Markdown (a table cell, a title, a sentence) that reads exactly as given.

    Every ASCII punctuation character is backslash-escaped (so `|` cannot end a table cell and
    `{{<` cannot start a shortcode); line breaks become spaces, since a cell holds one line, and the
    spaces and tabs at either end go, since leading ones would start a code block (and HTML shows
    neither).
    """
    one_line = _LINE_BREAKS.sub(" ", text).strip(" \t")
    return _TYPOGRAPHIC_RUN.sub("<span></span>", one_line.translate(_MARKDOWN_TABLE))


def neutralise_shortcodes(text: str) -> str:
    """Markdown with every `{{` broken as `{\\{`, so no shortcode is expanded; the reader sees `{{`.

    For Markdown that must otherwise stay as written (a note that may hold emphasis or links):
    the backslash-escaped brace is shown as a plain `{` by both engines.
    """
    return _SHORTCODE_OPENING.sub("{\\\\", text)


# C0 controls but tab and line feed, DEL and the C1 controls (CSI, OSC, ...), and the escape
# sequences that start with ESC; Unicode's bidirectional overrides, which reorder what is shown.
_TERMINAL_SEQUENCE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|.)?", re.DOTALL)
_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def for_terminal(text: str) -> str:
    """Text safe to print: no escape sequence or control character a terminal would act on.

    Snapshot output, test messages and file names reach `diary measure`'s summary and every error
    line; a `\\x1b]52;...` could set the clipboard, a `\\x1b[2J` clear the screen, `\\r` hide a line.
    Each removed character shows as `?`, so the reader sees that something was there.
    """
    return _TERMINAL_CONTROL.sub("?", _TERMINAL_SEQUENCE.sub("?", text))
