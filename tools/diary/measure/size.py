"""Stage "measure: count": the size of code that cramming cannot fake, in tokens and characters.

Lines alone reward cramming: two statements packed into one tuple assignment, or a comprehension
folded onto a 118-character line, save a line and nothing else. So a record also counts, per line of
every code file:

tokens      the code tokens as Python's `tokenize` reads them, without comments, docstrings and the
            layout tokens (NEWLINE, NL, INDENT, DEDENT, ENCODING, ENDMARKER). An f-string is one token,
            as it is up to Python 3.11 (3.12 splits it into parts): the count does not move with the
            interpreter.
characters  the characters of those tokens: code without comments, docstrings or whitespace, so
            neither indentation nor spaces around operators count for or against a snapshot.

A token counts on the line where it starts. Text that `tokenize` cannot read (a snapshot that does
not parse) is counted by a plain scanner on its code lines: words, numbers and single other characters.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable

_LAYOUT = frozenset({tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                     tokenize.ENCODING, tokenize.ENDMARKER})
# Python 3.12's f-string parts; absent before (getattr keeps this module importable on 3.11).
_FSTRING_START = getattr(tokenize, "FSTRING_START", -1)
_FSTRING_END = getattr(tokenize, "FSTRING_END", -1)
_DEFINITIONS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_FALLBACK_TOKEN = re.compile(r"\w+|\S")

LineSize = tuple[int, int, int]  # (line, tokens, characters) of one physical line that holds code tokens


def line_sizes(lines: list[str], tree: ast.Module | None, code_lines: Iterable[int]) -> list[LineSize]:
    """The tokens and characters of every physical line (1-based) that holds code, in line order.

    `lines` are the file's physical lines, `tree` its syntax tree (None when it does not parse) and
    `code_lines` the lines classified as code, which the fallback scanner reads."""
    if tree is not None:
        try:
            return _from_tokens("".join(line + "\n" for line in lines), _docstring_starts(tree))
        except (tokenize.TokenError, SyntaxError, ValueError, RecursionError, MemoryError):
            pass  # what ast accepts, tokenize reads; a disagreement falls back to the scanner
    sizes = []
    for number in sorted(code_lines):
        words = _FALLBACK_TOKEN.findall(lines[number - 1].split("#", 1)[0])
        if words:
            sizes.append((number, len(words), sum(len(word) for word in words)))
    return sizes


def total(sizes: Iterable[LineSize], start: int = 1, end: int | None = None) -> tuple[int, int]:
    """(tokens, characters) of the lines `start` to `end` (inclusive; None: to the end)."""
    tokens = characters = 0
    for line, line_tokens, line_characters in sizes:
        if line >= start and (end is None or line <= end):
            tokens += line_tokens
            characters += line_characters
    return tokens, characters


def _docstring_starts(tree: ast.Module) -> set[tuple[int, int]]:
    starts = set()
    for node in ast.walk(tree):
        if isinstance(node, _DEFINITIONS) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                starts.add((first.lineno, first.col_offset))
    return starts


def _from_tokens(source: str, docstrings: set[tuple[int, int]]) -> list[LineSize]:
    per_line: dict[int, list[int]] = {}
    fstring_depth = 0
    fstring_line = 0
    fstring_characters = 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in _LAYOUT or (token.type == tokenize.STRING and token.start in docstrings):
            continue
        if token.type == _FSTRING_START:
            if fstring_depth == 0:
                fstring_line, fstring_characters = token.start[0], 0
            fstring_depth += 1
        if fstring_depth:  # the parts of one f-string add up to one token
            fstring_characters += len(token.string)
            if token.type == _FSTRING_END:
                fstring_depth -= 1
                if fstring_depth == 0:
                    _add(per_line, fstring_line, fstring_characters)
            continue
        _add(per_line, token.start[0], len(token.string))
    return [(line, counts[0], counts[1]) for line, counts in sorted(per_line.items())]


def _add(per_line: dict[int, list[int]], line: int, characters: int) -> None:
    counts = per_line.setdefault(line, [0, 0])
    counts[0] += 1
    counts[1] += characters
