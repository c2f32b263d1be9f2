"""The fast tally of stage "measure: count": how many lines of each class a Python text has, without
parsing it with `ast` where the answer cannot depend on it (lineclass.py classifies line by line)."""

from __future__ import annotations

import bisect
import re

from diary.core.contract import line_texts
from diary.measure.lineclass import (
    LEXEME,
    PARSE_ERRORS,
)

# How the fast tally works.
#
# `count_lines` needs only how many lines of each class a text has, and parsing with `ast` costs more
# than cloc's whole count. So `fast_tally` finds the docstrings from the layout of the lexemes:
#
#   - on text that parses, the answer is `classify_lexemes` with the docstrings of `ast`: a string
#     alone in a statement at the start of a logical line, first in the module or right after a `def`
#     or `class` header. The fast tally finds those from the layout, and gives up (None) on every
#     layout it does not decide for sure: a parenthesised string statement, a string after a header's
#     colon on the same line, a string statement after a backslash, implicit concatenation, ";".
#   - on text that does not parse, the answer is `scan_lines`, which on "clean" text (no quote outside
#     a string or a comment, no one-quote string over two lines, no escaped closing delimiter) is the
#     same classification with other docstrings: the triple-quoted strings that start a line.
#
# It tallies with both sets of docstrings (once when they are the same). When the tallies differ, the
# answer depends on whether the text parses: `compile` says so (faster than `ast.parse`, which builds
# the tree in Python objects); the compiler also refuses a few texts that parse (`return` outside a
# function), and those, like every undecided layout, go to `analyse`. The tallies come from a copy of
# the text of the same length where each comment is _COMMENT_MARK then spaces, each string a start
# mark (one per kind: one line, one line triple-quoted, several lines) then _STRING_MARK with its
# blank lines kept blank, and each docstring _DOC_MARK: regular expressions over the whole copy find
# the layouts and count the classes, and Python code runs only for the strings that may be docstrings.

_DOC_MARK, _COMMENT_MARK, _STRING_MARK = "\x01", "\x02", "\x04"
_ONE_LINE, _ONE_LINE_TRIPLE, _LINES = "\x05", "\x06", "\x07"  # the first character of a string
_MARKS = re.compile("[\x01-\x07]")
_STRING_FILL = re.compile(r"[^ \t\x0b\x0c\n]")
_TO_DOC = str.maketrans(dict.fromkeys("\x04\x05\x06\x07", _DOC_MARK))
_NOT_CODE = " \t\x0b\x0c\x01\x02"
# A line without a character of code (blank, comment or docstring), after a newline: a regular
# expression that starts with a character is a fast search, so the first line is looked at alone.
_NOT_CODE_LINE = re.compile(rf"\n([{_NOT_CODE}]*)(?=\n)")
# LEXEME without string prefixes: every alternative starts with "#" or a quote, so the regular
# expression engine skips to the next of those characters at once. The prefix (at most two letters
# right before the quote, as LEXEME takes them) is marked afterwards, where _PREFIXED finds one.
_QUOTED_LEXEME = re.compile(
    r"""
    \#[^\n]*
  | '''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''
  | \"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*\"\"\"
  | '[^'\\\n]*(?:\\.[^'\\\n]*)*'
  | "[^"\\\n]*(?:\\.[^"\\\n]*)*"
    """,
    re.VERBOSE | re.DOTALL,
)
_PREFIXED = re.compile("[\x05-\x07](?<=[rRbBuUfF][\x05-\x07])")
_PREFIX_LETTERS = "rRbBuUfF"
# A string at the start of a line (maybe after "(") with nothing but layout since a colon: maybe the
# first statement of a body. A string after a colon on the same line that matters: one over several
# lines, or one with another string after it on the line.
_AFTER_COLON_LINE = re.compile(r":(?:[ \t\x0b\x0c]*(?:\x02 *|\\)?\n)+[ \t\x0b\x0c]*(\([ \t\x0b\x0c(]*)?[\x05-\x07]")
_AFTER_COLON_SAME_LINE = re.compile(r":[ \t\x0b\x0c(]*(?:\x07|[\x05\x06][^\n\x05-\x07]*[\x05-\x07])")
_TRIPLE_AT_LINE_START = re.compile(r"\n[ \t\x0b\x0c]*[\x06\x07]")
_FIRST_SIGNIFICANT = re.compile(r"[^ \t\n\x0b\x0c\x02]")
_LAYOUT_AND_PARENS = re.compile(r"[ \t\n\x0b\x0c\x02(]*")
_DEFINITION_KEYWORD = re.compile(r"\n[ \t\x0c]*(?:async[ \t\x0c]+)?(?:def|class)\b")
_STATEMENT_END = re.compile(r"[ \t\x0c]*(?:\x02[^\n]*)?(?:\n|$)")  # what may follow a string statement's string
_FOLLOWER = re.compile(r"[ \t\x0c]*(.?)")
_SHEBANG = re.compile(r"(?:[ \t\x0b\x0c]*\n)*#!")
_TRIPLE_QUOTES = ('"""', "'''")
_FILLS = {
    mark: [mark + _STRING_MARK * (length - 1) for length in range(1, 200)] for mark in (_ONE_LINE, _ONE_LINE_TRIPLE)
}
_COMMENT_FILLS = [_COMMENT_MARK + " " * (length - 1) for length in range(1, 200)]


class _Unsure(Exception):
    """A layout the fast tally does not decide: the caller parses instead."""


def _net_depth(code: str) -> int:
    return code.count("(") + code.count("[") + code.count("{") - code.count(")") - code.count("]") - code.count("}")


def _mark_lexeme(match: re.Match[str]) -> str:
    """What a lexeme becomes in the marked copy: the same length, its blank lines kept blank."""
    text = match.group()
    length = len(text)
    if text[0] == "#":
        return _COMMENT_FILLS[length - 1] if length < 200 else _COMMENT_MARK + " " * (length - 1)
    if length == 2 and match.string[match.end() : match.end() + 1] == text[0]:
        raise _Unsure  # an empty string and a quote: the line scanner reads a triple quote there
    triple = length >= 6 and text.endswith(_TRIPLE_QUOTES) and text.startswith(_TRIPLE_QUOTES)
    if triple and text.find(text[-3:], 3) != length - 3:
        raise _Unsure  # an escaped closing delimiter: the line scanner ends the string earlier
    if "\n" in text:
        if not triple:
            raise _Unsure  # a one-quote string continued with a backslash: the line scanner ends it
        return _LINES + _STRING_FILL.sub(_STRING_MARK, text[1:])
    mark = _ONE_LINE_TRIPLE if triple else _ONE_LINE
    return _FILLS[mark][length - 1] if length < 200 else mark + _STRING_MARK * (length - 1)


def _mark(source: str) -> str:
    marked = _QUOTED_LEXEME.sub(_mark_lexeme, source)
    prefixed = [m.start() for m in _PREFIXED.finditer(marked)]
    if not prefixed:
        return marked
    parts = []
    position = 0
    for quote in prefixed:
        start = quote - 1
        if start > 0 and source[start - 1] in _PREFIX_LETTERS and start - 1 >= position:
            start -= 1
        parts += [marked[position:start], marked[quote], _STRING_MARK * (quote - start)]
        position = quote + 1
    parts.append(marked[position:])
    return "".join(parts)


def _tally_marked(marked: str, physical: int) -> tuple[int, int, int, int]:
    """(blank, comment, docstring, code) of a marked copy (see above)."""
    if not marked:
        return 0, 0, 0, 0
    first = marked[: marked.index("\n")]  # the copy ends with a newline
    not_code = _NOT_CODE_LINE.findall(marked) + ([first] if first.strip(_NOT_CODE) == "" else [])
    docstring = comment = 0
    for line in not_code:
        if _DOC_MARK in line:
            docstring += 1
        elif _COMMENT_MARK in line:
            comment += 1
    return len(not_code) - docstring - comment, comment, docstring, physical - len(not_code)


def _tally_with(marked: str, source: str, docstrings: set[int], physical: int) -> tuple[int, int, int, int]:
    parts = []
    position = 0
    for start in sorted(docstrings):
        end = start + len(LEXEME.match(source, start).group())  # type: ignore[union-attr]  # a string starts there
        parts += [marked[position:start], marked[start:end].translate(_TO_DOC)]
        position = end
    parts.append(marked[position:])
    return _tally_marked("".join(parts), physical)


def fast_tally(text: str) -> tuple[int, int, int, int, int] | None:
    """(physical, blank, comment, docstring, code) of `text` without parsing it, or None when the
    answer could depend on whether it parses (then `analyse` decides)."""
    if _MARKS.search(text):
        return None
    source = text.removeprefix("\ufeff")
    if "\r" in source:
        lines = line_texts(text)
        source = "\n".join(lines) + "\n" if lines else ""
    elif source and not source.endswith("\n"):
        source += "\n"
    physical = source.count("\n")
    try:
        marked = _mark(source)
        if '"' in marked or "'" in marked:
            return None  # a quote that opens no string: the line scanner reads the rest of its line otherwise
        docstrings, scanner_docstrings = _find_docstrings(source, marked)
    except _Unsure:
        return None
    tally = _tally_with(marked, source, docstrings, physical)
    if docstrings != scanner_docstrings and tally != _tally_with(marked, source, scanner_docstrings, physical):
        try:
            compile(source, "<count>", "exec", dont_inherit=True)
        except PARSE_ERRORS:
            return None
    blank, comment, docstring, code = tally
    if _SHEBANG.match(source):  # a shebang is a whole comment line: code, as in `analyse`
        comment, code = comment - 1, code + 1
    return physical, blank, comment, docstring, code


def _find_docstrings(source: str, marked: str) -> tuple[set[int], set[int]]:
    """The docstrings as `ast` would find them if `source` parses, and as the line scanner finds them
    (by where they start). Raises _Unsure."""
    docstrings: set[int] = set()
    scanner_docstrings = {m.end() - 1 for m in _TRIPLE_AT_LINE_START.finditer(marked)}
    first = _FIRST_SIGNIFICANT.search(marked)
    if first and marked[first.start()] in "\x06\x07":
        line_start = marked.rfind("\n", 0, first.start()) + 1
        if not marked[line_start : first.start()].strip(" \t\x0b\x0c"):
            scanner_docstrings.add(first.start())  # the first line's string, which _TRIPLE_AT_LINE_START skips
    keywords: list[int] = []
    depth, depth_at = 0, 0

    def depth_before(position: int) -> int:  # mostly called with positions in order
        nonlocal depth, depth_at
        if position >= depth_at:
            depth += _net_depth(marked[depth_at:position])
        else:
            depth -= _net_depth(marked[position:depth_at])
        depth_at = position
        return depth

    def definition_header(colon: int) -> bool:
        """Whether the colon at `colon` ends a `def` or `class` header: no logical line ends between."""
        if not keywords:
            head = _DEFINITION_KEYWORD.match("\n" + marked[:64])
            keywords.extend([head.end() - 1] if head else [])
            keywords.extend(m.end() for m in _DEFINITION_KEYWORD.finditer(marked))
            keywords.append(len(marked) + 1)  # never empty again
        index = bisect.bisect_left(keywords, colon) - 1
        if index < 0:
            return False
        level = 0  # a def or class keyword starts its line at depth 0 in text that parses
        position = keywords[index]
        while (newline := marked.find("\n", position, colon)) >= 0:
            level += _net_depth(marked[position:newline])
            if level <= 0 and marked[newline - 1] != "\\":
                return False
            position = newline + 1
        return True

    # (where the string starts, where "(" before it starts or -1, the colon before it or -1, same line?)
    candidates = [(m.end() - 1, m.start(1), m.start(), False) for m in _AFTER_COLON_LINE.finditer(marked)]
    candidates += [(m.end() - 1, -1, m.start(), True) for m in _AFTER_COLON_SAME_LINE.finditer(marked)]
    if first and marked[first.start()] == "\\":
        raise _Unsure  # a backslash before the module's first statement
    if first and marked[first.start()] in "(\x05\x06\x07":  # the module's first statement
        string = _LAYOUT_AND_PARENS.match(marked, first.start()).end()  # type: ignore[union-attr]  # it always matches
        if marked[string : string + 1] in ("\x05", "\x06", "\x07"):
            candidates.append((string, first.start() if string > first.start() else -1, -1, False))
    for start, opening, colon, same_line in sorted(candidates):
        if same_line:
            if depth_before(colon) == 0 and definition_header(colon):
                raise _Unsure  # maybe a docstring on its header's line
            continue
        if depth_before(opening if opening >= 0 else start) != 0 or (colon >= 0 and not definition_header(colon)):
            continue  # inside brackets, or not after a def or class header
        if opening >= 0:
            raise _Unsure  # a parenthesised string statement
        if colon >= 0 and "\\" in marked[colon:start]:
            raise _Unsure  # a string statement after a backslash: maybe a header's body
        head = source[start : start + 2]
        prefix = head[: len(head) - len(head.lstrip(_PREFIX_LETTERS))]
        if set(prefix) & set("bBfF"):
            continue  # bytes and f-strings are no docstrings
        end = start + len(LEXEME.match(source, start).group())  # type: ignore[union-attr]  # a string starts there
        if _STATEMENT_END.match(marked, end) is None:
            follower = _FOLLOWER.match(marked, end).group(1)  # type: ignore[union-attr]  # it always matches
            if follower in (";", "\\", "\x05", "\x06", "\x07"):
                raise _Unsure  # more statements on the line, a continued line, implicit concatenation
            continue  # an expression that starts with a string
        docstrings.add(start)
    return docstrings, scanner_docstrings
