"""Syntax highlighting of code and diffs into Pandoc's markup (Pygments tokens -> Pandoc classes)."""

from __future__ import annotations

import functools
from typing import Any

from diary.core.contract import physical_lines
from diary.core.escape import escape_html


@functools.lru_cache(maxsize=2)
def _lexer(language: str):
    from pygments.lexers import DiffLexer, PythonLexer

    lexer_class = {"python": PythonLexer, "diff": DiffLexer}[language]
    return lexer_class(stripnl=False, ensurenl=True, tabsize=0)


def _token_class(ttype: Any, value: str, diff: bool) -> str:
    """Pandoc's highlighting class for a Pygments token (`kw`, `fu`, `st`, `co`, ...), or ''."""
    key = (ttype, diff, value if value in _CONTROL_FLOW else "")
    css = _TOKEN_CLASSES.get(key)
    if css is None:  # a token type's class is looked up once: the walk up its parents is slow
        css = _TOKEN_CLASSES[key] = _find_token_class(ttype, value, diff)
    return css


_TOKEN_CLASSES: dict[tuple[Any, bool, str], str] = {}


def _find_token_class(ttype: Any, value: str, diff: bool) -> str:
    from pygments.token import Comment, Error, Generic, Keyword, Name, Number, Operator, String

    if diff:
        return {Generic.Deleted: "gd", Generic.Inserted: "gi", Generic.Subheading: "gu",
                Generic.Heading: "gh"}.get(ttype, "")
    for kind, css in (
        (Keyword.Namespace, "im"), (Keyword.Constant, "cn"), (Keyword.Type, "dt"), (Keyword, "kw"),
        (Name.Builtin.Pseudo, "va"), (Name.Builtin, "bu"), (Name.Function, "fu"), (Name.Class, "dt"),
        (Name.Decorator, "at"), (Name.Exception, "dt"), (Name.Constant, "cn"), (Name.Variable, "va"),
        (String.Escape, "sc"), (String.Interpol, "ss"), (String.Doc, "st"), (String, "st"),
        (Number.Float, "fl"), (Number, "dv"), (Comment, "co"), (Operator.Word, "kw"), (Operator, "op"),
        (Error, "er"),
    ):
        if ttype in kind:
            if css == "kw" and value in _CONTROL_FLOW:
                return "cf"
            return css
    return ""


_CONTROL_FLOW = frozenset({"if", "elif", "else", "for", "while", "return", "break", "continue", "try",
                           "except", "finally", "raise", "with", "yield", "match", "case", "await", "pass"})


@functools.lru_cache(maxsize=256)
def highlight_lines(text: str, language: str) -> tuple[list[str], bool]:
    """The HTML of each physical line of `text` (escaped, spans closed on every line), and whether
    the text ends with a line break. Cached by text: an unchanged file is lexed once per process.

    Pygments rewrites \\r\\n and drops some characters in odd input; when its tokens do not add up to
    the text exactly, the text is shown escaped without colours rather than altered.
    """
    if not text:
        return [], False
    ends_with_newline = text.endswith(("\n", "\r"))
    if language and "\r" not in text:
        tokens = list(_lexer(language).get_tokens(text))
        joined = "".join(value for _, value in tokens)
        if joined == text + "\n" and not ends_with_newline:
            ttype, value = tokens[-1]
            tokens[-1] = (ttype, value[:-1])
            joined = text
        if joined == text:
            return _token_lines(tokens, language == "diff", ends_with_newline), ends_with_newline
    return [escape_html(line.removesuffix("\n")) for line in physical_lines(text)], ends_with_newline


def _token_lines(tokens: list[tuple[Any, str]], diff: bool, ends_with_newline: bool) -> list[str]:
    lines: list[str] = []
    current: list[str] = []
    for ttype, value in tokens:
        css = _token_class(ttype, value.strip(), diff)
        for position, piece in enumerate(value.split("\n")):
            if position:
                lines.append("".join(current))
                current = []
            if piece:
                escaped = escape_html(piece)
                current.append(f'<span class="{css}">{escaped}</span>' if css and piece.strip() else escaped)
    lines.append("".join(current))
    if ends_with_newline:
        lines.pop()  # the empty "line" after the last line break
    return lines


def numbered_code(lines: list[str], block_id: str, first: int, numbered: bool, newline_at_end: bool) -> str:
    """Pandoc's markup for code lines: a span per line with an anchor, so CSS numbers them.

    The text of the result, tags dropped and entities decoded, is exactly the excerpt's text.
    """
    if numbered:
        out = [f'<span id="{block_id}-{n}"><a href="#{block_id}-{n}" aria-hidden="true" tabindex="-1"></a>'
               f"{line}</span>" for n, line in enumerate(lines, start=first)]
    else:
        out = [f'<span id="{block_id}-{n}">{line}</span>' for n, line in enumerate(lines, start=first)]
    return "\n".join(out) + ("\n" if newline_at_end else "")
