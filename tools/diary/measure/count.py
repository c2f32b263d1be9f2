r"""Stage "measure: count": line classes, top-level definitions and comments of one Python file.

Physical lines
    The text is split on "\r\n", "\r" and "\n" (universal newlines: how the interpreter and
    `Path.read_text` read a source file); a last line without a newline counts, "" has 0 lines and a
    leading byte order mark is dropped. Unlike `str.splitlines()`, "\x0b", "\x0c", "\x1c" to "\x1e",
    "\x85", "\u2028" and "\u2029" do not end a line: neither Python's tokenizer nor cloc end a line
    there. So `physical == len(text.splitlines())` unless the text holds one of those characters.

Line classes (every physical line is exactly one, so they always sum to `physical`)
    blank      only " ", "\t", "\x0b", "\x0c"; also inside a string, as cloc counts it.
    docstring  a line of a docstring: the string statement that is the first statement of the
               module, a class or a function; a docstring line that also holds code is code.
    comment    a line whose only tokens are comments.
    code       everything else: code with a trailing comment, the lines of every other string
               (`x = '''...'''`, a string statement that is not first), a lone "\" line, and the
               shebang (a first non-blank line starting with "#!", which cloc counts as code too).

The text is parsed with `ast`, which finds the docstrings. Its comments and string literals are then
found with one regular expression instead of `tokenize`: on Python that parses, it finds the same
COMMENT and STRING tokens (checked on the 14,510 files of a Python 3.11 installation, on every fixture
and snapshot, and by the fuzz tests) ten times faster; `tokenize` alone takes 3 ms on 200 lines of
microgpt. (From Python 3.12 an f-string that nests its own quotes reads as several strings; its line
is code all the same.)
When the text does not parse (syntax error, bad indentation, unterminated string, NUL bytes, lone
surrogates, garbage) a line scanner takes over: it knows comments, quotes and triple-quoted strings
but not statements, so it counts every string statement that starts a line with triple quotes as a
docstring. No function here raises on a str. The classifier of the lines is lineclass.py; this module
counts and names what it finds. `count_lines` gives the same counts without parsing when they cannot
depend on whether the text parses (fasttally.py, three times faster); `measure_file` gives
everything a record says of a file from one analysis, kept by content in the user's cache.

Parity with cloc 1.96 (which counts docstrings as comments): `code == cloc.code`,
`blank == cloc.blank` and `comment + docstring == cloc.comment` on ordinary Python. cloc works with
regular expressions on lines, not with tokens, and disagrees in these cases, where this module follows
Python and not cloc:

- cloc reads every triple-quoted string as a comment: the lines of `x = '''...'''` or of a string
  statement in the middle of a body that hold nothing but the string are comment to cloc, code here.
- cloc only knows unprefixed (or u-prefixed) triple-quoted strings: a docstring written `"doc"` or
  `r'''doc'''` is code to cloc and docstring here.
- cloc leaves trailing comments in place: `'''doc'''  # note` is code to cloc and docstring here.
- cloc drops every line holding "/*" or "*/" as a comment, even in code or a string.
- cloc pairs triple quotes by text: one in a comment or in another string, or on a line it dropped,
  throws its pairing off for the rest of the file.
- cloc does not count a blank line right after a line ending in a backslash as blank.
- cloc ends lines on "\n" only, so a lone "\r" does not end a line for it.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from typing import Any

from diary.core import usercache
from diary.core.contract import line_texts
from diary.measure import lineclass, size
from diary.measure.fasttally import fast_tally
from diary.measure.lineclass import (
    BLANK,
    CODE,
    COMMENT,
    DOCSTRING,
    WHITESPACE,
    Analysis,
    analyse,
    find_shebang_line,
)
from diary.project.linecounts import Counts

_NAME_MAX_CHARS = 80  # a definition's name goes into tables and one-line messages
# PEP 263: an encoding declaration is a comment on line 1 or 2 matching this.
_ENCODING_DECLARATION = re.compile(r"^[ \t\x0c]*#.*?coding[:=][ \t]*[-\w.]+")
# Tool pragmas say nothing to a reader; a comment is cut where the first one starts.
_PRAGMA = re.compile(
    r"#\s*(?:noqa\b|type:\s*ignore\b|pragma:|pylint:|flake8:|fmt:|isort:|mypy:|pyright:|ruff:|nosec\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DefinitionCount:
    """One top-level definition (or group of statements) and the counts of its lines.

    `start` and `end` are 1-based inclusive physical lines; `start` takes in the decorators and the
    comment lines directly above (no blank line between).
    """

    name: str
    kind: str
    start: int
    end: int
    counts: Counts


@dataclass
class _Group:
    """Top-level statements on their way to one DefinitionCount; `last` grows as statements join."""

    name: str
    kind: str
    first: int
    last: int


def count_lines(text: str) -> Counts:
    """Count the physical lines of `text` by class (see the module docstring for the rules)."""
    fast = fast_tally(text)  # the same counts without parsing, when they cannot depend on parsing
    return Counts(*fast) if fast is not None else _tally(analyse(text).kinds)


def count_definitions(text: str) -> list[DefinitionCount]:
    """The top-level statements of `text` in order, as definitions; [] when it does not parse.

    class, function (also async), assignment (also annotated and augmented; named after the first
    target, or the variable it subscripts or takes an attribute of), `if __name__ == "__main__":`
    ("__main__", kind "main") each make one entry. Consecutive imports make one entry "imports";
    consecutive other statements (the module docstring among them) make one entry
    "statements@<line of the first statement>". A statement that shares a line with the one before it
    (after ";") joins that one's entry. Nested definitions belong to their parent.
    """
    return _definitions(analyse(text))


def _definitions(analysis: Analysis) -> list[DefinitionCount]:
    if analysis.tree is None:
        return []
    groups: list[_Group] = []
    for statement in analysis.tree.body:
        name, kind = _describe(statement)
        decorators = getattr(statement, "decorator_list", [])
        first = min([statement.lineno] + [decorator.lineno for decorator in decorators])
        last = statement.end_lineno or statement.lineno
        previous = groups[-1] if groups else None
        if previous is not None and (
            first <= previous.last or (kind in ("imports", "statements") and kind == previous.kind)
        ):
            previous.last = max(previous.last, last)
        else:
            groups.append(_Group(name, kind, first, last))

    definitions = []
    previous_last = 0
    for group in groups:
        start = group.first
        while start - 1 > previous_last and analysis.kinds[start - 2] == COMMENT:
            start -= 1
        counts = _tally(analysis.kinds[start - 1 : group.last])
        definitions.append(DefinitionCount(group.name, group.kind, start, group.last, counts))
        previous_last = group.last
    return definitions


def extract_comments(text: str) -> list[str]:
    """Every comment of `text`, in order and with duplicates, normalised for comparison.

    Normalised: the leading "#"s and the surrounding whitespace stripped, inner whitespace collapsed to
    one space, lower-cased. Dropped: the shebang, PEP 263 encoding declarations, tool pragmas (`# noqa`,
    `# type: ignore`, `# pragma: no cover`, `# fmt: off`, ...; a comment is cut where one starts) and
    comments that end up empty.
    """
    return _comments(analyse(text))


def _comments(analysis: Analysis) -> list[str]:
    shebang_line = find_shebang_line(analysis.lines)
    normalised = []
    for line, comment in analysis.comments:
        if line == shebang_line or (line <= 2 and _ENCODING_DECLARATION.match(analysis.lines[line - 1])):
            continue
        pragma = _PRAGMA.search(comment)
        if pragma is not None:
            comment = comment[: pragma.start()]
        words = comment.lstrip("#").split()
        if words:
            normalised.append(" ".join(words).lower())
    return normalised


@dataclass(frozen=True)
class FileMeasures:
    """Everything a record says of one file: its counts, definitions, comments, tab-indented lines and
    the tokens and characters of each line that holds code (size.py)."""

    counts: Counts
    definitions: list[DefinitionCount]
    comments: list[str]
    tabs: list[int]
    sizes: list[size.LineSize]


def measure_file(text: str) -> FileMeasures:
    """count_lines, count_definitions, extract_comments and tab_indented_lines of `text`, from one
    analysis, kept in the user's cache by the text and the counter's code (usercache.py).

    Consecutive snapshots share most of their files, so a file is counted once whatever the number of
    snapshots holding it; `diary check` still re-derives every record from the files (the key is the
    file's content, never what a record says of it)."""
    # The interpreter is part of the key: what parses (and so how lines count) changes between versions.
    key = usercache.key_of(usercache.code_salt(sys.modules[__name__], lineclass, size), sys.version, text)
    return usercache.remembered("counts", key, lambda: _measure(text), encode=_measures_as_data,
                                decode=_measures_from_data)


def _measure(text: str) -> FileMeasures:
    analysis = analyse(text)
    code_lines = [number for number, kind in enumerate(analysis.kinds, start=1) if kind == CODE]
    return FileMeasures(_tally(analysis.kinds), _definitions(analysis), _comments(analysis), tab_indented_lines(text),
                        size.line_sizes(analysis.lines, analysis.tree, code_lines))


def _measures_as_data(measures: FileMeasures) -> dict[str, Any]:
    return {
        "counts": measures.counts.as_dict(),
        "definitions": [[d.name, d.kind, d.start, d.end, d.counts.as_dict()] for d in measures.definitions],
        "comments": measures.comments,
        "tabs": measures.tabs,
        "sizes": measures.sizes,
    }


def _measures_from_data(data: Any) -> FileMeasures:
    definitions = [DefinitionCount(str(name), str(kind), int(start), int(end), Counts(**counts))
                   for name, kind, start, end, counts in data["definitions"]]
    comments = data["comments"]
    tabs = data["tabs"]
    sizes = [(int(line), int(tokens), int(characters)) for line, tokens, characters in data["sizes"]]
    if not (all(isinstance(c, str) for c in comments) and all(isinstance(t, int) for t in tabs)):
        raise TypeError("not a cache entry of measure_file")
    return FileMeasures(Counts(**data["counts"]), definitions, list(comments), list(tabs), sizes)


def comment_retention(baseline: list[str], current: list[str]) -> tuple[int, int, list[str]]:
    """How many of the baseline's comments `current` still has: (kept, total, dropped).

    The comments are matched as multisets: a comment that occurs twice in the baseline is kept twice
    only if `current` has it twice. `dropped` lists the unmatched ones in baseline order (a repeated
    comment is matched from its first occurrence on).
    """
    unmatched: dict[str, int] = {}
    for comment in current:
        unmatched[comment] = unmatched.get(comment, 0) + 1
    dropped = []
    for comment in baseline:
        if unmatched.get(comment, 0) > 0:
            unmatched[comment] -= 1
        else:
            dropped.append(comment)
    return len(baseline) - len(dropped), len(baseline), dropped


def tab_indented_lines(text: str) -> list[int]:
    """The 1-based physical lines whose leading whitespace holds a tab (blank lines included)."""
    return [
        number
        for number, line in enumerate(line_texts(text), start=1)
        if "\t" in line[: len(line) - len(line.lstrip(WHITESPACE))]
    ]


def module_name(file: str) -> str:
    """The module a file of a snapshot is imported as: `pairs.py` -> `pairs`, `pkg/sub.py` -> `pkg.sub`,
    `pkg/__init__.py` -> `pkg`. Definitions are keyed by module and name (`pairs.main`), since two
    modules of one program may define the same name. A code file with another extension keeps it
    (`helper.txt` -> `helper.txt`): it is still one module of the program."""
    parts = file.split("/")
    last = parts[-1]
    if last.endswith((".py", ".pyw")):
        parts[-1] = last.rsplit(".", 1)[0]
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
    return ".".join(parts)


def _tally(kinds: list[str]) -> Counts:
    return Counts(
        physical=len(kinds),
        blank=kinds.count(BLANK),
        comment=kinds.count(COMMENT),
        docstring=kinds.count(DOCSTRING),
        code=kinds.count(CODE),
    )


def _describe(statement: ast.stmt) -> tuple[str, str]:
    if isinstance(statement, ast.ClassDef):
        return statement.name, "class"
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
        return statement.name, "function"
    if isinstance(statement, ast.Assign):
        return _target_name(statement.targets[0]), "assignment"
    if isinstance(statement, ast.AnnAssign | ast.AugAssign):
        return _target_name(statement.target), "assignment"
    if isinstance(statement, ast.Import | ast.ImportFrom):
        return "imports", "imports"
    if isinstance(statement, ast.If) and _is_main_guard(statement.test):
        return "__main__", "main"
    return f"statements@{statement.lineno}", "statements"


def _target_name(target: ast.expr) -> str:
    # A loop, not recursion: `a.b.b.b... = 1` may be a thousand links long.
    while True:
        if isinstance(target, ast.Attribute | ast.Subscript | ast.Starred):
            target = target.value
        elif isinstance(target, ast.Tuple | ast.List) and target.elts:
            target = target.elts[0]
        elif isinstance(target, ast.Name):
            return target.id
        else:
            break
    try:
        text = ast.unparse(target)
    except RecursionError:  # a deeply nested expression as the target's base
        return f"assignment@{target.lineno}"
    return text if len(text) <= _NAME_MAX_CHARS else text[: _NAME_MAX_CHARS - 3] + "..."


def _is_main_guard(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = (test.left, test.comparators[0])
    return any(isinstance(side, ast.Name) and side.id == "__name__" for side in sides) and any(
        isinstance(side, ast.Constant) and side.value == "__main__" for side in sides
    )
