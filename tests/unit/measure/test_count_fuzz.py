"""Hypothesis properties of diary.measure.count: totals always add up, nothing raises, and on valid Python the
line classes agree with what Python's own tokenize says, and the fast tally with the parsing path
(9,000 examples in all)."""

from __future__ import annotations

import ast
import io
import re
import tokenize

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diary.measure.count import (
    Counts,
    comment_retention,
    count_definitions,
    count_lines,
    extract_comments,
    tab_indented_lines,
)
from diary.measure.lineclass import BLANK as BLANK_KIND
from diary.measure.lineclass import CODE, COMMENT, DOCSTRING, analyse

# Random text holds invalid escapes ("\d"): ast.parse warns about them, which is beside the point here.
pytestmark = [
    pytest.mark.fuzz,
    pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::SyntaxWarning"),
]

BLANK = " \t\x0b\x0c"  # what count.py calls blank
LAYOUT = {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}

# Every character, lone surrogates included, and text made of the pieces that trouble a tokenizer.
ANY_CHARACTER = st.characters(exclude_categories=())
FRAGMENTS = st.sampled_from(
    ['"""', "'''", '"', "'", "#", "#!", "\\", "\n", "\r", "\r\n", "\x0c", "\x0b", "\t", "    ", "\x00"]
    + ["\ud800", "\u2028", "\x85", "\ufeff", 'r"""', "def f():", "class A:", "x = 1", "pass", "(", "]", ":"]
    + ["if __name__ == '__main__':", "@decorator", "import os", "# noqa", "# coding: utf-8", "é"]
)
ANY_TEXT = st.one_of(st.text(ANY_CHARACTER), st.lists(FRAGMENTS, max_size=40).map("".join))


def _lines_of(text: str) -> int:
    """The physical line count as count.py's docstring defines it."""
    return len(re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text.removeprefix("\ufeff")))


@settings(max_examples=1500, deadline=None)
@given(ANY_TEXT)
def test_classes_sum_to_physical_on_any_text(text: str) -> None:
    counts = count_lines(text)
    assert counts.blank + counts.comment + counts.docstring + counts.code == counts.physical
    assert counts.physical == _lines_of(text)
    if not re.search("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", text.removeprefix("\ufeff")):
        assert counts.physical == len(text.removeprefix("\ufeff").splitlines())


@settings(max_examples=1000, deadline=None)
@given(ANY_TEXT)
def test_nothing_raises_on_any_text(text: str) -> None:
    physical = count_lines(text).physical
    previous_end = 0
    for definition in count_definitions(text):
        assert previous_end < definition.start <= definition.end <= physical
        assert definition.counts.physical == definition.end - definition.start + 1
        previous_end = definition.end
    for comment in extract_comments(text):
        assert comment and comment == " ".join(comment.lower().split())
    assert all(1 <= line <= physical for line in tab_indented_lines(text))


# --- the fast tally against the parsing path ----------------------------------------------------------

# Pieces of the layouts that decide docstrings: headers, string statements of every kind, what may
# follow a string (a call, ";", a backslash, another string), brackets, comments, stray quotes.
LAYOUT_FRAGMENTS = st.sampled_from(
    ["def f():\n", "class A:\n", "async def g(x,\n        y):\n", "if x:\n", "@dec\n", "def h(): ", "class B: "]
    + ["    ", "        ", "\t", "\n", "\n\n", "\\\n", "(", ")", "[", "]", "{", "}", ":", ";", ",", " + 1", ".strip()"]
    + ['"""doc"""', "'''doc'''", '"doc"', "'doc'", 'r"""raw"""', 'u"u"', 'b"""bytes"""', 'f"""{x}"""', 'rb"x"']
    + ['"""two\nlines"""', '"""\n\n  gap\n"""', "'''a\\'''b'''", '"a\\\nb"', '"""a\\""""', '"', "'", '"""']
    + ["# c\n", "#!/usr/bin/env python\n", "x = ", "return ", "pass\n", "lambda: ", "x: ", "\ufeff", "\r\n", "\x0c"]
)
LAYOUT_TEXT = st.lists(LAYOUT_FRAGMENTS, max_size=30).map("".join)


def _counted_by_parsing(text: str) -> Counts:
    """The counts of the parsing path (ast and the lexemes, or the line scanner), line by line."""
    kinds = analyse(text).kinds
    return Counts(len(kinds), *(kinds.count(kind) for kind in (BLANK_KIND, COMMENT, DOCSTRING, CODE)))


@settings(max_examples=3000, deadline=None)
@given(st.one_of(LAYOUT_TEXT, ANY_TEXT))
def test_the_fast_tally_counts_as_parsing_does(text: str) -> None:
    # count_lines answers without parsing when it can (lineclass.fast_tally): every answer it gives
    # must be the parsing path's.
    assert count_lines(text) == _counted_by_parsing(text)


# --- valid programs from a small grammar ----------------------------------------------------------

COMMENT_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n\x00"), max_size=12)
STRING_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n\x00\\\"'"), max_size=12)
BLANK_LINE = st.sampled_from(["", " ", "    ", "\t", "\x0c", " \t "])


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, set[int]]:
    """A valid module of comments, blank lines, docstrings and statements, and its docstring lines."""
    lines: list[str] = []
    docstring_lines: set[int] = set()

    def add(*new: str, docstring: bool = False) -> None:
        for line in new:
            lines.append(line)
            if docstring:
                docstring_lines.add(len(lines))

    def trailing_comment() -> str:
        return draw(st.sampled_from(["#", "  #", "  # "])) + draw(COMMENT_TEXT) if draw(st.booleans()) else ""

    def blank_and_comment_lines(indent: str) -> None:
        for _ in range(draw(st.integers(0, 2))):
            if draw(st.booleans()):
                add(draw(BLANK_LINE))
            else:
                add(indent + draw(st.sampled_from(["", " ", "\t"])) + "#" + draw(COMMENT_TEXT))

    def string_lines(indent: str, head: str, quote: str, text: st.SearchStrategy[str] = STRING_TEXT) -> list[str]:
        inner = draw(st.lists(st.one_of(text, BLANK_LINE), max_size=3))
        last = draw(text) + quote + trailing_comment()
        return [f"{indent}{head}{quote}{draw(text)}", *inner, last]

    def docstring(indent: str) -> None:
        prefix = draw(st.sampled_from(["", "r", "u", "R", "b", "f"]))
        is_docstring = prefix not in ("b", "f")  # a first statement of bytes or an f-string is none
        text = STRING_TEXT if is_docstring else st.just("not a docstring")
        quote = draw(st.sampled_from(['"""', "'''", '"', "'"]))
        if len(quote) == 1 or draw(st.booleans()):
            add(f"{indent}{prefix}{quote}{draw(text)}{quote}{trailing_comment()}", docstring=is_docstring)
        else:
            add(*string_lines(indent, prefix, quote, text), docstring=is_docstring)

    def block(indent: str, depth: int, of_definition: bool) -> None:
        blank_and_comment_lines(indent)
        has_docstring = of_definition and draw(st.booleans())
        if has_docstring:
            docstring(indent)
        for number in range(draw(st.integers(0 if has_docstring else 1, 4))):
            statement(indent, depth, first=number == 0 and not has_docstring)

    def statement(indent: str, depth: int, first: bool) -> None:
        blank_and_comment_lines(indent)
        kinds = ["assignment", "string", "brackets", "continuation", "one-line def"]
        kinds += ["def", "class", "if"] if depth < 2 else []
        kinds += [] if first else ["string statement"]
        kind = draw(st.sampled_from(kinds))
        if kind == "assignment":
            add(f"{indent}x = 1{trailing_comment()}")
        elif kind == "string":
            add(*string_lines(indent, "s = ", draw(st.sampled_from(['"""', "'''"]))))
        elif kind == "string statement":  # not first in its body: no docstring
            add(*string_lines(indent, "", '"""'))
        elif kind == "brackets":
            add(f"{indent}v = [{trailing_comment()}", f"{indent}    1,{trailing_comment()}")
            blank_and_comment_lines(indent + "    ")
            add(f"{indent}]")
        elif kind == "continuation":
            add(f"{indent}y = 1 + \\", f"{indent}    2{trailing_comment()}")
        elif kind == "one-line def":
            add(f'{indent}def g(): """A docstring on a code line."""{trailing_comment()}')
        else:
            header = {"def": "def f(a, b=2):", "class": "class C(object):", "if": "if x:"}[kind]
            add(f"{indent}{header}{trailing_comment()}")
            block(indent + draw(st.sampled_from(["    ", "  ", "\t"])), depth + 1, of_definition=kind != "if")

    block("", 0, of_definition=True)  # the module
    return "".join(line + "\n" for line in lines), docstring_lines


def _expected_from_tokenize(source: str, docstring_lines: set[int]) -> Counts:
    """The counts from tokenize's tokens: blank without tokens, comment with COMMENT and NL only."""
    token_types: dict[int, set[int]] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        for line in range(token.start[0], token.end[0] + 1):
            token_types.setdefault(line, set()).add(token.type)
    lines = source.split("\n")[:-1]
    first_non_blank = next((number for number, line in enumerate(lines, 1) if line.strip(BLANK)), 0)
    kinds = []
    for number, line in enumerate(lines, start=1):
        if not line.strip(BLANK):
            kinds.append("blank")
        elif number in docstring_lines:
            kinds.append("docstring")
        elif token_types.get(number, set()) - LAYOUT == {tokenize.COMMENT} and not (
            number == first_non_blank and line.startswith("#!")  # the shebang is code
        ):
            kinds.append("comment")
        else:
            kinds.append("code")
    return Counts(len(lines), *(kinds.count(kind) for kind in ("blank", "comment", "docstring", "code")))


@settings(max_examples=1000, deadline=None)
@given(programs())
def test_count_lines_agrees_with_tokenize_on_valid_programs(program: tuple[str, set[int]]) -> None:
    source, docstring_lines = program
    ast.parse(source)  # the grammar makes valid Python only
    assert count_lines(source) == _expected_from_tokenize(source, docstring_lines)
    assert count_lines(source) == _counted_by_parsing(source)
    # A file read without newline translation counts the same.
    assert count_lines(source.replace("\n", "\r\n")) == count_lines(source)


@settings(max_examples=300, deadline=None)
@given(programs())
def test_definitions_lie_in_order_inside_the_file(program: tuple[str, set[int]]) -> None:
    source, _ = program
    whole = count_lines(source)
    definitions = count_definitions(source)
    assert [definition.start for definition in definitions] == sorted(d.start for d in definitions)
    covered = sum((definition.counts for definition in definitions), start=Counts(0, 0, 0, 0, 0))
    for name in ("physical", "blank", "comment", "docstring", "code"):
        assert getattr(covered, name) <= getattr(whole, name)
    # Every code line but the shebang belongs to a definition.
    assert whole.code - covered.code <= 1


@settings(max_examples=1000, deadline=None)
@given(ANY_TEXT)
def test_extract_comments_never_raises_and_normalises(text: str) -> None:
    comments = extract_comments(text)
    assert all(comment and comment == " ".join(comment.lower().split()) for comment in comments)
    assert len(comments) <= text.count("#")


@settings(max_examples=1200, deadline=None)
@given(st.lists(st.sampled_from("abcde")), st.lists(st.sampled_from("abcde")))
def test_comment_retention_is_a_multiset_match(baseline: list[str], current: list[str]) -> None:
    kept, total, dropped = comment_retention(baseline, current)
    assert total == len(baseline) == kept + len(dropped)
    assert kept == sum(min(baseline.count(c), current.count(c)) for c in set(baseline))
    assert comment_retention(baseline, baseline) == (len(baseline), len(baseline), [])
