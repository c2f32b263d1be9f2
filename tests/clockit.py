"""cloc 1.96's counter for Python, ported: which lines cloc disagrees with us on, and why.

Shared by tests/unit/measure/test_count.py (checked against the real cloc on every file) and
benchmarks/count_vs_cloc.py (which reads the disagreements of many files)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass

# cloc's counter (call_counter, rm_blanks, rm_comments and the filters cloc lists for
# Python), ported to say which lines cloc disagrees on and why; the port is checked against the real
# cloc on every file. Perl's \s on bytes is ASCII whitespace.
_PERL_BLANK = re.compile(r"\s*$", re.ASCII)
_PERL_COMMENT_LINE = re.compile(r"\s*#", re.ASCII)
_TRIPLE_QUOTES = re.compile("\"\"\"|'''")
_OPENING_TRIPLE_QUOTES = re.compile("[uU]?(?:\"\"\"|''')")
# What cloc can leave of a docstring: string prefixes, plain-quoted strings, a comment after it.
_LEFT_OF_A_DOCSTRING = re.compile(r"""(?:[rRuUbBfF]++|"(?:[^"\\]|\\.)*+"|'(?:[^'\\]|\\.)*+'|\s++)*+(?:#.*)?""")
# Regexp::Common's C comment, without its nested quantifier that backtracks forever in Python.
_C_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


@dataclass
class ClocView:
    """What cloc makes of a file, line by line (only "\\n" ends a line for cloc)."""

    kinds: list[str]  # "blank", "comment" or "code"
    triple_quotes: dict[int, int]  # how many triple quotes cloc pairs up on each line
    kept: dict[int, str]  # what is left of each line cloc counts as code ...
    through: dict[int, int]  # ... and the last line whose rest cloc glued onto it


def _drop_blank_lines(entries: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """cloc's clean-up after each filter: a blank line goes unless the line before ends in "\\"."""
    return [
        (origin, content)
        for index, (origin, content) in enumerate(entries)
        if not (_PERL_BLANK.match(content) and (index == 0 or not entries[index - 1][1].endswith("\\")))
    ]


def cloc_view(text: str) -> ClocView:
    lines = text.removeprefix("\ufeff").split("\n")
    if lines[-1] == "":
        lines.pop()
    lines = [line.removesuffix("\r") for line in lines]
    kinds = ["comment"] * len(lines)
    remaining = []
    for origin, line in enumerate(lines):
        if _PERL_BLANK.match(line) and (origin == 0 or not lines[origin - 1].endswith("\\")):
            kinds[origin] = "blank"
        else:
            remaining.append((origin, line))
    first = remaining[0] if remaining else None
    remaining = _drop_blank_lines([entry for entry in remaining if "/*" not in entry[1]])
    remaining = _drop_blank_lines([entry for entry in remaining if "*/" not in entry[1]])
    remaining = _drop_blank_lines([entry for entry in remaining if not _PERL_COMMENT_LINE.match(entry[1])])
    in_docstring = False
    triple_quotes = {}
    converted = []
    for origin, content in remaining:
        triple_quotes[origin + 1] = len(_TRIPLE_QUOTES.findall(content))
        while _TRIPLE_QUOTES.search(content):
            if in_docstring:
                content = _TRIPLE_QUOTES.sub("*/", content, count=1)
            else:
                content = _OPENING_TRIPLE_QUOTES.sub("/*", content, count=1)
            in_docstring = not in_docstring
        converted.append((origin, content))
    # cloc removes the /* ... */ spans from the joined lines and splits again: the rest of the line a
    # comment ends on is glued to the line it starts on.
    joined = "".join(content + "\n" for _, content in converted)
    origins = [origin for origin, _ in converted] + [len(lines)]
    glued: list[tuple[int, str]] = []
    through = {}
    index, buffer, position, start = 0, "", 0, origins[0]
    for match in [*_C_COMMENT.finditer(joined), None]:
        parts = joined[position : match.start() if match else len(joined)].split("\n")
        buffer += parts[0]
        for part in parts[1:]:
            glued.append((start, buffer))
            through[start + 1] = origins[index] + 1
            index += 1
            start, buffer = origins[index], part
        if match:
            index += match.group().count("\n")
            position = match.end()
    while glued and glued[-1][1] == "":  # Perl's split drops trailing empty fields
        glued.pop()
    remaining = _drop_blank_lines(glued)
    # cloc's exception for scripting languages: a first line starting with "#!" is code.
    if first is not None and first[1].startswith("#!") and (not remaining or remaining[0][1] != first[1]):
        remaining.insert(0, first)
    for origin, _ in remaining:
        kinds[origin] = "code"
    kept = {origin + 1: content for origin, content in remaining}
    return ClocView(kinds, triple_quotes, kept, through)


def physical_lines_of(text: str) -> list[str]:
    return text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")


def _python_triple_quotes(text: str) -> tuple[set[int], dict[int, int]]:
    """The lines triple-quoted strings cover, and how many of their quotes each line holds."""
    covered: set[int] = set()
    quotes: dict[int, int] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.STRING and re.match("[a-zA-Z]*(\"\"\"|''')", token.string):
                covered.update(range(token.start[0], token.end[0] + 1))
                for line in (token.start[0], token.end[0]):
                    quotes[line] = quotes.get(line, 0) + 1
    except (tokenize.TokenError, SyntaxError):
        return set(), {}  # no tokens, no allowance: every disagreement on such a file fails the test
    return covered, quotes


def docstring_lines(text: str) -> set[int]:
    """The lines of docstrings as ast.get_docstring finds them (none if the text does not parse)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    return {
        line
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and ast.get_docstring(node, clean=False) is not None
        for line in range(node.body[0].lineno, node.body[0].end_lineno + 1)
    }


def cloc_differences(text: str, our_kinds: list[str], cloc: ClocView) -> list[tuple[int, str, str, str | None]]:
    """The lines cloc classes otherwise, as (line, ours, cloc's, the documented reason or None)."""
    lines = physical_lines_of(text)
    covered, quotes = _python_triple_quotes(text)
    docstrings = docstring_lines(text)
    # From the first line where cloc sees other triple quotes than Python (one in a comment or in
    # another string, or one on a line cloc dropped), cloc pairs them up otherwise.
    lost_track = min(
        (number for number in range(1, len(lines) + 1) if cloc.triple_quotes.get(number, 0) != quotes.get(number, 0)),
        default=len(lines) + 1,
    )
    differences = []
    for number, (ours, theirs) in enumerate(zip(our_kinds, cloc.kinds, strict=True), start=1):
        if {"docstring": "comment"}.get(ours, ours) == theirs:
            continue
        line = lines[number - 1]
        reason = None
        if max(number, cloc.through.get(number, number)) >= lost_track:
            reason = f"cloc pairs triple quotes otherwise than Python from line {lost_track} on"
        elif theirs == "comment" and ("/*" in line or "*/" in line):
            reason = 'cloc drops every line holding "/*" or "*/"'
        elif ours == "blank" and number > 1 and lines[number - 2].endswith("\\"):
            reason = "cloc does not count a blank line after a backslash as blank"
        elif ours == "docstring" and theirs == "code":
            if _LEFT_OF_A_DOCSTRING.fullmatch(cloc.kept[number]):
                reason = "cloc misses a prefixed or single-quoted docstring, or keeps a comment after it"
        elif ours == "code" and theirs == "comment" and number in covered and number not in docstrings:
            reason = "cloc reads every triple-quoted string as a comment"
        differences.append((number, ours, theirs, reason))
    return differences
