"""Tests of diary.measure.count: hand-checked fixtures, definitions, comments, tabs, speed and cloc parity."""

from __future__ import annotations

import ast
import io
import json
import shutil
import subprocess
import tokenize
from pathlib import Path

import pytest
import yaml

from clockit import cloc_differences, cloc_view, docstring_lines, physical_lines_of
from diary.measure.count import (
    Counts,
    DefinitionCount,
    comment_retention,
    count_definitions,
    count_lines,
    extract_comments,
    tab_indented_lines,
)
from diary.measure.lineclass import analyse  # the class of each line, to compare line by line with tokenize and cloc
from diarykit import REPO

FIXTURES = REPO / "tests" / "fixtures" / "count"
SNAPSHOTS = REPO / "code" / "snapshots"
EXPECTED = yaml.safe_load((FIXTURES / "expected.yml").read_text(encoding="utf-8"))


def read_source(path: Path) -> str:
    """The file's text with its line endings as they are on disk ("\\r\\n" stays)."""
    return path.read_bytes().decode("utf-8")


def python_files() -> list[Path]:
    """Every fixture and every snapshot's .py file, for the tests against tokenize and cloc."""
    # The snapshots are written while this suite runs: glob them now, and pass when there are none.
    return sorted(FIXTURES.rglob("*.py")) + sorted(SNAPSHOTS.glob("*/**/*.py"))


def path_id(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def counts(physical: int, blank: int, comment: int, docstring: int, code: int) -> Counts:
    return Counts(physical=physical, blank=blank, comment=comment, docstring=docstring, code=code)


# --- fixtures with hand-checked counts --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED["counts"]))
def test_fixture_counts(name: str) -> None:
    assert count_lines(read_source(FIXTURES / name)).as_dict() == EXPECTED["counts"][name]


def test_every_fixture_has_expected_counts() -> None:
    on_disk = {path.relative_to(FIXTURES).as_posix() for path in FIXTURES.rglob("*.py")}
    assert on_disk == set(EXPECTED["counts"])


def test_snapshot_directory_per_file_and_summed() -> None:
    files = sorted((FIXTURES / "snapshot").glob("*.py"))
    per_file = {path.name: count_lines(read_source(path)) for path in files}
    assert {name: found.as_dict() for name, found in per_file.items()} == {
        "helpers.py": EXPECTED["counts"]["snapshot/helpers.py"],
        "microgpt.py": EXPECTED["counts"]["snapshot/microgpt.py"],
    }
    total = sum(per_file.values(), start=counts(0, 0, 0, 0, 0))
    assert total.as_dict() == EXPECTED["snapshot_total"]


# --- physical lines and the line classes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "physical"),
    [
        ("", 0),
        ("\n", 1),
        ("x = 1", 1),
        ("x = 1\n", 1),
        ("x = 1\n\n", 2),
        ("a = 1\r\nb = 2\r\n", 2),
        ("a = 1\r\n\r\nb = 2", 3),
        ("a = 1\rb = 2\r", 2),
        ("\ufeffx = 1\n", 1),
    ],
)
def test_physical_lines_follow_universal_newlines_like_splitlines(text: str, physical: int) -> None:
    assert count_lines(text).physical == physical == len(text.splitlines())


@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_only_cr_and_lf_end_a_line_unlike_splitlines(separator: str) -> None:
    text = f"x = 1  # a{separator}b\n"
    assert len(text.splitlines()) == 2
    assert count_lines(text) == counts(1, 0, 0, 0, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('def f(): """doc"""\n', counts(1, 0, 0, 0, 1), id="docstring-on-def-line-is-code"),
        pytest.param('x = 1\n"""not first"""\n', counts(2, 0, 0, 0, 2), id="later-string-statement-is-code"),
        pytest.param('"""a\n# hash\n\n"""\n', counts(4, 1, 0, 3, 0), id="hash-and-blank-inside-docstring"),
        pytest.param('"""doc"""  # note\n', counts(1, 0, 0, 1, 0), id="docstring-with-trailing-comment"),
        pytest.param('("""doc"""\n)\n', counts(2, 0, 0, 0, 2), id="parenthesised-docstring-lines-hold-code"),
        pytest.param(
            'class A:\n    "doc"\n    async def f(self):\n        """doc\n        more"""\n',
            counts(5, 0, 0, 3, 2),
            id="class-and-async-docstrings",
        ),
        pytest.param('x = ("a"\n     "b")  # c\n', counts(2, 0, 0, 0, 2), id="strings-in-code"),
        pytest.param("x = 1 + \\\n    \\\n    2\n", counts(3, 0, 0, 0, 3), id="lone-backslash-line"),
        pytest.param("#!/usr/bin/env python3\n# c\n", counts(2, 0, 1, 0, 1), id="shebang-is-code"),
        pytest.param("\n \n#!x\n", counts(3, 2, 0, 0, 1), id="shebang-after-blank-lines-like-cloc"),
        pytest.param("x = 1\n#!x\n", counts(2, 0, 1, 0, 1), id="later-hash-bang-is-a-comment"),
        pytest.param("x = 1\n  \t\x0c\x0b\n", counts(2, 1, 0, 0, 1), id="whitespace-only-is-blank"),
    ],
)
def test_line_classes(text: str, expected: Counts) -> None:
    assert count_lines(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('"""never closed\nx = 1\n', counts(2, 0, 0, 2, 0), id="unterminated-docstring"),
        pytest.param("x = '''never closed\n# inside\n", counts(2, 0, 0, 0, 2), id="unterminated-string"),
        pytest.param("x = 1\x00\n# c\n", counts(2, 0, 1, 0, 1), id="nul-byte"),
        pytest.param("if x:\n\ty = 1\n        z = 2\n", counts(3, 0, 0, 0, 3), id="tabs-and-spaces"),
        pytest.param("# \ud800\nx = 1\n", counts(2, 0, 1, 0, 1), id="lone-surrogate"),
        pytest.param("-" * 100_000 + "1\n", counts(1, 0, 0, 0, 1), id="too-deep-for-the-parser"),
        pytest.param("$$ ((\n'''x''' # y\n\n", counts(3, 1, 0, 1, 1), id="garbage"),
        pytest.param('def f(:\n    """doc"""  # c\n    "x" # "y"\n', counts(3, 0, 0, 1, 2), id="syntax-error"),
    ],
)
def test_text_that_does_not_parse_falls_back_to_the_line_scanner(text: str, expected: Counts) -> None:
    assert count_lines(text) == expected


def test_line_counts_as_dict_add_and_invariant() -> None:
    first, second = counts(4, 1, 1, 1, 1), counts(3, 0, 0, 1, 2)
    assert list(first.as_dict()) == ["physical", "blank", "comment", "docstring", "code"]
    assert first + second == counts(7, 1, 1, 2, 3)
    with pytest.raises(TypeError):
        first + 1  # noqa: B018
    with pytest.raises(ValueError, match="not to the"):
        counts(5, 1, 1, 1, 1)
    with pytest.raises(ValueError):
        counts(0, 1, -1, 0, 0)


def test_count_lines_of_a_dense_200_line_file() -> None:
    # Its speed is a budget printed by benchmarks/measure.py, not asserted here: timed tests flake.
    block = [
        "# Helper number {n}: dense lines, like microgpt's.",
        "def softmax_{n}(xs, weights, bias=0.0):",
        '    """Return the probabilities; the docstring',
        '    takes two lines."""',
        "    logits = [sum(w * x for w, x in zip(row, xs)) + bias for row in weights]  # matmul",
        "    peak = max(logits)",
        "    exps = [math.exp(logit - peak) for logit in logits]",
        "",
        "    return [e / sum(exps) for e in exps]",
        "",
    ]
    text = "".join(line.format(n=n) + "\n" for n in range(20) for line in block)
    assert count_lines(text) == counts(200, 40, 20, 40, 100)


# --- definitions --------------------------------------------------------------------------------------


def test_definitions_of_a_small_program() -> None:
    found = count_definitions(read_source(FIXTURES / "program.py"))
    assert found == [
        DefinitionCount("statements@2", "statements", 2, 2, counts(1, 0, 0, 1, 0)),
        DefinitionCount("imports", "imports", 3, 6, counts(4, 1, 0, 0, 3)),
        DefinitionCount("SCALE", "assignment", 8, 9, counts(2, 0, 1, 0, 1)),
        DefinitionCount("state_dict", "assignment", 10, 10, counts(1, 0, 0, 0, 1)),
        DefinitionCount("Model", "class", 13, 19, counts(7, 1, 2, 1, 3)),
        DefinitionCount("fib", "function", 24, 27, counts(4, 0, 1, 0, 3)),
        DefinitionCount("statements@30", "statements", 30, 31, counts(2, 0, 0, 0, 2)),
        DefinitionCount("matrix", "assignment", 32, 32, counts(1, 0, 0, 0, 1)),
        DefinitionCount("state_dict", "assignment", 33, 33, counts(1, 0, 0, 0, 1)),
        DefinitionCount("__main__", "main", 36, 38, counts(3, 0, 1, 0, 2)),
    ]


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("async def run():\n    pass\n", [("run", "function")]),
        ("x: int = 1\ny += 2\n", [("x", "assignment"), ("y", "assignment")]),
        ("*rest, last = [1, 2]\n", [("rest", "assignment")]),
        ("a.b.c, d = 1, 2\n", [("a", "assignment")]),
        ("f().attribute = 1\n", [("f()", "assignment")]),
        ("if '__main__' == __name__:\n    pass\n", [("__main__", "main")]),
        ("if __name__ != '__main__':\n    pass\n", [("statements@1", "statements")]),
        (
            "import os\nx = 1\nimport sys\n",
            [("imports", "imports"), ("x", "assignment"), ("imports", "imports")],
        ),
    ],
)
def test_definition_names_and_kinds(source: str, names: list[tuple[str, str]]) -> None:
    assert [(found.name, found.kind) for found in count_definitions(source)] == names


@pytest.mark.parametrize("text", ["", "# only a comment\n", "def broken(:\n    pass\n", "x = 1\x00\n"])
def test_no_definitions_without_statements_or_when_the_text_does_not_parse(text: str) -> None:
    assert count_definitions(text) == []


# --- comments -----------------------------------------------------------------------------------------


def test_extract_comments_normalises_and_drops_empty_ones_and_pragmas() -> None:
    assert extract_comments(read_source(FIXTURES / "trailing_comments.py")) == [
        "leading comment of the file.",
        "trailing comment: this line is code",
        "an indented comment line is still a comment line",
        "one",
        "a comment line inside brackets",
        "!not a shebang: only the first non-blank line can be one",
        "-*- coding: utf-8 -*- is no declaration after line 2",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n# kept\n", ["kept"]),
        ("#!/usr/bin/python\n# vim: set fileencoding=utf-8 :\n", []),
        ("x = 1\n\n# coding: utf-8\n", ["coding: utf-8"]),
        ("#   Mixed   CASE\tand  tabs  \n##  Double hash\n", ["mixed case and tabs", "double hash"]),
        ("# same\nx = 1  # same\n# same\n", ["same", "same", "same"]),
        (
            "x = 1  # noqa\ny = 2  # type: ignore[assignment]\n# pragma: no cover\n# fmt: off\n"
            "z = 3  # keep this  # noqa: E501\n# pylint: disable=all\n",
            ["keep this"],
        ),
        ('x = "# not a comment"\ns = """\n# nor this\n"""\n', []),
        ("#\n#   \n", []),
    ],
)
def test_extract_comments(text: str, expected: list[str]) -> None:
    assert extract_comments(text) == expected


def test_extract_comments_of_a_file_that_does_not_parse() -> None:
    assert extract_comments(read_source(FIXTURES / "syntax_error.py")) == ["a real comment", "trailing"]


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        ([], [], (0, 0, [])),
        ([], ["new"], (0, 0, [])),
        (["a", "b"], ["b", "a"], (2, 2, [])),
        (["a", "b", "a", "c"], ["c", "a", "d"], (2, 4, ["b", "a"])),
        (["x", "x"], [], (0, 2, ["x", "x"])),
    ],
)
def test_comment_retention_matches_multisets(
    baseline: list[str], current: list[str], expected: tuple[int, int, list[str]]
) -> None:
    assert comment_retention(baseline, current) == expected


# --- tabs ---------------------------------------------------------------------------------------------


def test_tab_indented_lines() -> None:
    assert tab_indented_lines(read_source(FIXTURES / "tabs.py")) == [2, 3, 4, 5, 7, 8, 9]
    assert tab_indented_lines("") == []
    assert tab_indented_lines("\x0c\tx = 1\r\n  y = '\t'\r\n \t\n") == [1, 3]


# --- agreement with tokenize on real files --------------------------------------------------------------


def tokenize_line_kinds(text: str) -> list[str]:
    """The line classes from tokenize's tokens and ast.get_docstring, the slow and sure way."""
    source = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    docstrings = docstring_lines(source)
    code: set[int] = set()
    in_docstring: set[int] = set()
    commented: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        rows = range(token.start[0], token.end[0] + 1)
        if token.type == tokenize.COMMENT:
            commented.add(token.start[0])
        elif token.type == tokenize.STRING and token.start[0] in docstrings:
            in_docstring.update(rows)
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code.update(rows)
    lines = source.split("\n")
    if lines[-1] == "":
        lines.pop()
    first_non_blank = next((number for number, line in enumerate(lines, 1) if line.strip(" \t\x0b\x0c")), 0)
    kinds = []
    for number, line in enumerate(lines, start=1):
        if not line.strip(" \t\x0b\x0c"):
            kinds.append("blank")
        elif number in code or (number == first_non_blank and line.startswith("#!")):
            kinds.append("code")
        elif number in in_docstring:
            kinds.append("docstring")
        elif number in commented:
            kinds.append("comment")
        else:
            kinds.append("code")
    return kinds


@pytest.mark.parametrize("path", python_files(), ids=path_id)
def test_line_classes_agree_with_tokenize(path: Path) -> None:
    text = read_source(path)
    analysis = analyse(text)
    if analysis.tree is None:  # not Python: the line scanner counted it
        with pytest.raises(SyntaxError):
            ast.parse(text)
    else:
        assert analysis.kinds == tokenize_line_kinds(text)


# --- parity with cloc ---------------------------------------------------------------------------------

# The port of cloc's counter is in tests/clockit.py.


@pytest.fixture(scope="module")
def cloc_report() -> dict[str, dict]:
    cloc = shutil.which("cloc")
    if cloc is None:
        pytest.fail("cloc is a required test dependency (Debian package cloc); it is not on PATH")
    files = [str(path) for path in python_files()]
    # --skip-uniqueness: cloc would count only one of several identical files.
    result = subprocess.run(
        [cloc, "--json", "--by-file", "--skip-uniqueness", "--quiet", *files],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout or "{}")


@pytest.mark.parametrize("path", python_files(), ids=path_id)
def test_cloc_parity(path: Path, cloc_report: dict[str, dict]) -> None:
    text = read_source(path)
    reported = cloc_report.get(str(path), {"blank": 0, "comment": 0, "code": 0})  # cloc skips empty files
    cloc_counts = {key: reported[key] for key in ("blank", "comment", "code")}
    cloc = cloc_view(text)
    assert {key: cloc.kinds.count(key) for key in cloc_counts} == cloc_counts, (
        "the port of cloc in this test no longer agrees with cloc: fix the port first"
    )
    our_kinds = analyse(text).kinds
    assert len(our_kinds) == len(cloc.kinds), 'cloc ends lines on "\\n" only: does the file hold a lone "\\r"?'
    unexplained = [
        f"line {number}: ours {ours}, cloc {theirs}: {physical_lines_of(text)[number - 1]!r}"
        for number, ours, theirs, reason in cloc_differences(text, our_kinds, cloc)
        if reason is None
    ]
    assert not unexplained, "cloc disagrees beyond what count.py documents:\n" + "\n".join(unexplained)

    ours = count_lines(text)
    relative = path.relative_to(FIXTURES).as_posix() if path.is_relative_to(FIXTURES) else None
    if relative in EXPECTED["cloc_differs"]:
        assert cloc_counts == EXPECTED["cloc_differs"][relative]
    elif relative is not None:  # an ordinary fixture: exact parity
        ours_as_cloc = {"blank": ours.blank, "comment": ours.comment + ours.docstring, "code": ours.code}
        assert ours_as_cloc == cloc_counts


# --- counted once per content (the user's cache) --------------------------------------------------------


def test_a_snapshot_that_changes_one_file_of_twenty_counts_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from diary.measure import count

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    files = [f'"""Module {n}."""\n\n\ndef f{n}(x):  # helper {n}\n    return x + {n}\n' for n in range(20)]
    analysed: list[str] = []
    real_analyse = count.analyse
    monkeypatch.setattr(count, "analyse", lambda text: analysed.append(text) or real_analyse(text))
    first = [count.measure_file(text) for text in files]
    assert len(analysed) == 20
    analysed.clear()
    edited = [*files[:7], files[7].replace("helper 7", "helper seven"), *files[8:]]
    second = [count.measure_file(text) for text in edited]
    assert analysed == [edited[7]]  # one file counted; nineteen answered from the cache
    assert second[:7] + second[8:] == first[:7] + first[8:]
    assert second[7].comments == ["helper seven"]


def test_measure_file_gives_what_the_counting_functions_give_and_survives_a_damaged_entry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from diary.core import usercache
    from diary.measure import count

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for path in python_files():
        text = read_source(path)
        for measures in (count.measure_file(text), count.measure_file(text)):  # computed, then cached
            assert measures.counts == count_lines(text)
            assert measures.definitions == count_definitions(text)
            assert measures.comments == extract_comments(text)
            assert measures.tabs == tab_indented_lines(text)
    # A damaged entry (wrong sums, wrong types) is a miss, never a wrong count.
    text = read_source(SNAPSHOTS / "07-final" / "microgpt.py")
    for entry in (tmp_path / "cache" / "diary" / "counts").rglob("*.json"):
        data = json.loads(entry.read_text())
        data["counts"]["code"] = 42
        data["comments"] = [1, 2]
        entry.write_text(json.dumps(data))
    assert count.measure_file(text).counts == count_lines(text)
    assert usercache.cache_dir() == tmp_path / "cache" / "diary"


def test_count_lines_takes_the_fast_path_on_the_snapshots() -> None:
    # The fast tally must answer for ordinary code, or count_lines is only as fast as parsing.
    from diary.measure.fasttally import fast_tally

    for path in sorted(SNAPSHOTS.glob("*/**/*.py")):
        text = read_source(path)
        assert fast_tally(text) is not None, path
        assert Counts(*fast_tally(text)) == count_lines(text)  # type: ignore[misc]
