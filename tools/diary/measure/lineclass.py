"""The line classifier of stage "measure: count" (count.py, whose docstring states the rules): the class
of every physical line of one Python file (blank, comment, docstring, code) and its comments.

Text that parses is read with `ast` (for the docstrings) and one regular expression for its comments
and string literals; text that does not parse goes to a line scanner that knows comments, quotes and
triple-quoted strings. No function here raises on a str.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from diary.core.contract import line_texts

BLANK = "blank"
COMMENT = "comment"
DOCSTRING = "docstring"
CODE = "code"

WHITESPACE = " \t\x0b\x0c"
_DEFINITIONS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
# What ast.parse raises on text that is not Python: SyntaxError, but also ValueError for a lone
# surrogate and MemoryError or RecursionError for very deep nesting.
PARSE_ERRORS = (SyntaxError, ValueError, MemoryError, RecursionError)
# A comment or a string literal (with its prefix) of Python that parses, where every quote outside a
# comment opens a string that closes. Unrolled loops: no backtracking.
LEXEME = re.compile(
    r"""
    (?P<comment>\#[^\n]*)
  | [rRbBuUfF]{0,2}
    (?: '''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''
      | \"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*\"\"\"
      | '[^'\\\n]*(?:\\.[^'\\\n]*)*'
      | "[^"\\\n]*(?:\\.[^"\\\n]*)*"
    )
    """,
    re.VERBOSE | re.DOTALL,
)

# The line scanner of the fallback: triple quotes, a whole (or unterminated) one-line string, or "#".
_SCAN_TOKEN = re.compile(r'"""|\'\'\'|"(?:[^"\\]|\\.)*"?|\'(?:[^\'\\]|\\.)*\'?|#')
_BARE_TRIPLE_QUOTE = re.compile(r"[ \t\x0b\x0c]*[rRuUbBfF]{0,2}(\"\"\"|''')")


@dataclass(frozen=True)
class Analysis:
    """One text's physical lines, the class of each, its comments and its syntax tree."""

    lines: list[str]
    kinds: list[str]  # the class of each physical line
    comments: list[tuple[int, str]]  # (line, text from "#" on) of every comment
    tree: ast.Module | None  # None when the text does not parse


def _is_blank(line: str) -> bool:
    return not line.strip(WHITESPACE)


def analyse(text: str) -> Analysis:
    lines = line_texts(text)
    source = "".join(line + "\n" for line in lines)
    try:
        tree = ast.parse(source)
    except PARSE_ERRORS:
        kinds, comments = scan_lines(lines)
        tree = None
    else:
        kinds, comments = classify_lexemes(lines, source, _docstring_lines(tree) if tree is not None else set())
    shebang_line = find_shebang_line(lines)
    if shebang_line:
        kinds[shebang_line - 1] = CODE
    return Analysis(lines, kinds, comments, tree)


def _docstring_lines(tree: ast.Module) -> set[int]:
    # Only statements can hold docstrings: visiting them alone, not every expression node as ast.walk
    # does, is 30 times faster.
    lines: set[int] = set()
    pending: list[tuple[list[ast.stmt], bool]] = [(tree.body, True)]  # (body, of a module/class/function?)
    while pending:
        body, is_definition_body = pending.pop()
        first = body[0] if body else None  # only a module's body can be empty
        if (
            is_definition_body
            and isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            lines.update(range(first.value.lineno, (first.value.end_lineno or first.value.lineno) + 1))
        for statement in body:
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(statement, field, None)
                if inner:
                    pending.append((inner, field == "body" and isinstance(statement, _DEFINITIONS)))
            for clause in getattr(statement, "handlers", None) or getattr(statement, "cases", None) or ():
                pending.append((clause.body, False))
    return lines


def classify_lexemes(
    lines: list[str], source: str, docstring_lines: set[int]
) -> tuple[list[str], list[tuple[int, str]]]:
    # A string on a docstring's line is the docstring (or part of it): any other string on that line
    # needs code (";" or a "def" header) to be there, and code wins over docstring anyway.
    has_code = [False] * (len(lines) + 2)
    has_docstring = [False] * (len(lines) + 2)
    comments = []
    line, position = 1, 0
    for lexeme in [*LEXEME.finditer(source), None]:
        between = source[position : lexeme.start() if lexeme else len(source)]
        for offset, piece in enumerate(between.split("\n")):
            if piece.strip(WHITESPACE):  # anything outside strings and comments is code, even a lone "\"
                has_code[line + offset] = True
        line += between.count("\n")
        if lexeme is None:
            break
        if lexeme.lastgroup == "comment":
            comments.append((line, lexeme.group()))
        else:
            flags = has_docstring if line in docstring_lines else has_code
            last = line + lexeme.group().count("\n")
            for covered in range(line, last + 1):
                flags[covered] = True
            line = last
        position = lexeme.end()
    kinds = []
    for number, text in enumerate(lines, start=1):
        if _is_blank(text):
            kinds.append(BLANK)
        elif has_code[number]:
            kinds.append(CODE)
        elif has_docstring[number]:
            kinds.append(DOCSTRING)
        else:  # neither code nor string, and not blank: a comment
            kinds.append(COMMENT)
    return kinds, comments


def scan_lines(lines: list[str]) -> tuple[list[str], list[tuple[int, str]]]:
    """The fallback classifier: one pass over the lines, tracking triple-quoted strings."""
    kinds = []
    comments = []
    open_quote = ""  # the delimiter of a triple-quoted string still open at the end of the line
    open_kind = CODE
    for number, line in enumerate(lines, start=1):
        if _is_blank(line):
            kinds.append(BLANK)
            continue
        found: set[str] = set()
        position = 0
        if open_quote:
            close = line.find(open_quote)
            found.add(open_kind)
            if close < 0:
                kinds.append(open_kind)
                continue
            position = close + 3
            open_quote = ""
        else:
            bare = _BARE_TRIPLE_QUOTE.match(line)
            if bare is not None:
                close = line.find(bare.group(1), bare.end())
                found.add(DOCSTRING)
                if close < 0:
                    open_quote, open_kind = bare.group(1), DOCSTRING
                    kinds.append(DOCSTRING)
                    continue
                position = close + 3
        while True:
            match = _SCAN_TOKEN.search(line, position)
            if line[position : match.start() if match else len(line)].strip(WHITESPACE):
                found.add(CODE)
            if match is None:
                break
            if match.group() == "#":
                comments.append((number, line[match.start() :]))
                found.add(COMMENT)
                break
            found.add(CODE)
            position = match.end()
            if match.group() in ('"""', "'''"):
                close = line.find(match.group(), position)
                if close < 0:
                    open_quote, open_kind = match.group(), CODE
                    break
                position = close + 3
        kinds.append(next((kind for kind in (CODE, DOCSTRING, COMMENT) if kind in found), CODE))
    return kinds, comments


def find_shebang_line(lines: list[str]) -> int:
    """The first non-blank line if it starts with "#!", else 0.

    cloc counts that line as code, and so do we: a shebang is an instruction to the system, not a note.
    """
    for number, line in enumerate(lines, start=1):
        if not _is_blank(line):
            return number if line.startswith("#!") else 0
    return 0
