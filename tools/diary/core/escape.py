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


# --- Front matter (YAML metadata) ------------------------------------------------------------------
# Quarto reads a metadata string as Markdown, undoes its escapes (backslashes, entities) and only then
# expands shortcodes: `\{\{\< env GITHUB_TOKEN \>\}\}` in a title put the token in <title>, and an
# escaped include in a description crashed the render. No escaping survives that, so front matter
# never holds markup at all: only text made of characters that start nothing in Markdown, in a
# shortcode, in YAML or in either engine's typography.
_METADATA_PUNCTUATION = frozenset(" -,.:;()!?/+=%")
# Runs the engines turn into other characters (`--` a dash, `...` an ellipsis) or markup (`==`, `++`);
# a colon followed by a non-space (a URL, `:emoji:`, a time) is left out too, to be safe.
_METADATA_RUNS = re.compile(r"--|\.\.|==|\+\+|:(?=\S)")
# A first word followed by `.` or `)` and a space would start a list (`1. `, `a) `, `iv. `).
_METADATA_LIST_START = re.compile(r"\A\w+[.)](?:\s|\Z)")


def metadata_text(text: str) -> str | None:
    """Place: YAML front matter (title, description). `text` when it is plain, else None.

    Plain means: one line, no space at either end, a letter or digit first, and only letters, marks,
    digits, spaces and ``-,.:;()!?/+=%`` (an underscore only between two letters or digits, as in an
    id like `06_gpt`), with none of the runs either engine would turn into something else. Such a
    text reads the same whether an engine takes it as Markdown or as plain text, and holds no brace,
    angle bracket, backslash, backtick, `@`, `&`, quote or emphasis mark, so no shortcode, entity,
    tag or citation can come out of it after any unescaping. The caller falls back to a text the
    tool controls and puts the full text in the body, where `escape_markdown_inline` is the rule.
    """
    if not text or text != text.strip() or not text[0].isalnum():
        return None
    for position, char in enumerate(text):
        if char == "_":
            before, after = text[position - 1], text[position + 1 : position + 2]
            if not (before.isalnum() and after.isalnum()):
                return None
        elif char not in _METADATA_PUNCTUATION and not _is_word_character(char):
            return None
    if "  " in text or _METADATA_RUNS.search(text) or _METADATA_LIST_START.match(text):
        return None
    return text


def _is_word_character(char: str) -> bool:
    import unicodedata

    return unicodedata.category(char)[0] in "LMN"


# --- Link targets -----------------------------------------------------------------------------------


def link_target(path: str) -> str | None:
    """Place: the target of a Markdown link, `[text](target)`. A relative path, percent-encoded, or
    None when no target can hold it safely.

    Everything but letters, digits, `-._~` and `/` is percent-encoded (UTF-8), so a space, a
    parenthesis or a backslash in a file name can neither end the link nor start anything. Quarto
    url-decodes a target before it looks for shortcodes in it, so an encoded brace would come back:
    a path with a brace or an angle bracket gets no link at all (None), and the caller shows its
    name as text.
    """
    from urllib.parse import quote

    if any(char in path for char in "{}<>"):
        return None
    return quote(path, safe="/")


# --- The inside of a fenced code block --------------------------------------------------------------
# Quarto expands shortcodes even inside code blocks. Its rule for a code block's text (the gsub in
# quarto-pre/shortcodes.lua, `(%{%{%{*<)(.-)(>%}%}%}*)`): from the leftmost `{{<` (two braces or more)
# to the first `>}}` after it (two braces or more); when either end has three braces or more, one
# brace goes from each end and the rest is shown as text (`{{{< x >}}}` shows `{{< x >}}`, as Quarto's
# docs give it); otherwise the shortcode is expanded. The same pattern, scanned the same way:
_CODE_SHORTCODE = re.compile(r"(\{\{\{*<)(.*?)(>\}\}\}*)", re.S)


def code_block_text(text: str) -> str:
    """Place: the inside of a fenced code block. `text` with Quarto's escape on every shortcode.

    Every span Quarto would take for a shortcode gets one more brace at each end, so Quarto shows it
    as written and expands nothing (`quarto_code_block_text(code_block_text(t)) == t` for every t); a
    `{{<` with no `>}}` after it is no shortcode to Quarto and stays as it is. smalldocs never
    expands anything in a code block; the render stage teaches it Quarto's rule for the escape, so
    both engines show the original text.
    """
    return _CODE_SHORTCODE.sub(lambda found: "{" + found.group(0) + "}", text)


def quarto_code_block_text(text: str) -> str:
    """What Quarto shows of a code block's `text`, for escaped shortcodes: one brace less at each end.

    A shortcode that is not escaped is left as it is here (Quarto would expand it; `code_block_text`
    never writes one). The render stage applies this to smalldocs' code blocks, the tests to model Quarto.
    """

    def unescape(found: re.Match[str]) -> str:
        opening, inside, closing = found.groups()
        if len(opening) > 3 or len(closing) > 3:
            return opening[1:] + inside + closing[:-1]
        return found.group(0)

    return _CODE_SHORTCODE.sub(unescape, text)


def unescaped_code_shortcodes(text: str) -> list[str]:
    """The spans of a code block's `text` that Quarto would expand as shortcodes (none after
    `code_block_text`)."""
    return [found.group(0) for found in _CODE_SHORTCODE.finditer(text)
            if len(found.group(1)) <= 3 and len(found.group(3)) <= 3]


_BACKTICK_RUN = re.compile(r"`+")


def code_fence(text: str) -> str:
    """The backtick fence for a code block holding `text`: longer than any run of backticks in it
    (at least three), so no line of the text, ```` ``` ```` included, can end the block."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)
    return "`" * max(3, longest + 1)


_FENCE_UNSAFE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
# Quarto's include directive (core/handlers/include.ts) reads every line of an included file, fenced
# or not, and includes the file of any line that is nothing but a shortcode (isBlockShortcode in
# core/lib/parse-shortcode.ts):
_QUARTO_BLOCK_SHORTCODE_LINE = re.compile(r"^\s*\{\{< (?!/\*)(.+?)(?<!\*/) >\}\}\s*$", re.M)
# Quarto reads a line of a code block that ends in `<N>` after a comment mark (`# <1>`) as a code
# annotation and takes the marker out of the code; any line ending in `<N>` is kept out of fences.
_QUARTO_ANNOTATION_LINE = re.compile(r"<\d+>[ \t]*$", re.M)
# The shortcodes the escape is documented and checked for: `{{< … >}}` on one line, two braces at each
# end, nothing inside that could open or close another.
_SIMPLE_SHORTCODE_INSIDE = re.compile(r"[^{}<>\n]*")


def fence_can_show(text: str) -> bool:
    """Whether a fenced code block shows `text` exactly in both engines, with nothing expanded.

    Pandoc turns tabs into spaces and drops carriage returns before it parses, and a NUL becomes
    U+FFFD, so a text holding any control character but the line feed is refused. So is a text whose
    shortcode-like spans are not all simple (`{{< … >}}` on one line, with no brace or angle bracket
    inside, and no `{{<` or `>}}` left over): Quarto's documented escape, `{{{< … >}}}`, is only
    relied on where it is known to hold, and its include directive reads each line of an included
    file whether it is in a fence or not. A line ending in `<N>` is refused too: Quarto would take it
    for a code annotation and drop the marker. A refused text is shown as raw HTML (escape_html),
    where no brace is left at all.
    """
    if _FENCE_UNSAFE.search(text) or _QUARTO_ANNOTATION_LINE.search(text):
        return False
    leftover = []
    position = 0
    for found in _CODE_SHORTCODE.finditer(text):
        opening, inside, closing = found.groups()
        if len(opening) != 3 or len(closing) != 3 or not _SIMPLE_SHORTCODE_INSIDE.fullmatch(inside):
            return False
        leftover.append(text[position:found.start()])
        position = found.end()
    leftover.append(text[position:])
    if any("{{<" in part or ">}}" in part for part in leftover):
        return False
    return not _QUARTO_BLOCK_SHORTCODE_LINE.search(code_block_text(text))


# --- The argument of a shortcode (an include's path) -----------------------------------------------
_ARGUMENT_UNSAFE = re.compile(r"[\"'{}<>\\`]|[^\S ]")


def shortcode_argument(text: str) -> str | None:
    """Place: one argument of a shortcode written by the tool (the path of `{{< include … >}}`).

    The text as it is, or in double quotes when it holds a space (Quarto splits arguments at spaces
    unless quoted; smalldocs takes the quotes off). None when no spelling is safe: a quote, a brace,
    an angle bracket, a backslash, a backtick or a line break would end the argument or the
    shortcode, or start another; the caller reports the name as bad input.
    """
    if not text or _ARGUMENT_UNSAFE.search(text):
        return None
    return f'"{text}"' if " " in text else text
