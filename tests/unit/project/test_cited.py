"""Cited figures (project/cited.py): quoted from a source, shown only as a citation, bad entries refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from diary.core.errors import DiaryError
from diary.project.cited import CITED_PATH, CitedFigure, citation, load_cited

GOOD = """\
original:
  value: 154
  unit: code lines
  what: the original as published
  source: Ann Author, the original (2026)
  url: https://example.org/a
guess:
  value: ~8-10
  unit: lines saved (estimate)
  what: an estimate in an old entry
  source: Bea Writer, an old entry
"""


def write(root: Path, text: str) -> Path:
    path = root / CITED_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_no_figures(tmp_path: Path) -> None:
    assert load_cited(tmp_path) == []


def test_figures_load_in_order_and_render_only_with_their_source(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    original, guess = load_cited(tmp_path)
    assert original == CitedFigure("original", "154", "code lines", "the original as published",
                                   "Ann Author, the original (2026)", "https://example.org/a")
    assert citation(original) == "154 code lines (cited from [Ann Author, the original (2026)](https://example.org/a))"
    # an estimate keeps its author's form; "~" is escaped so no engine reads it as a subscript mark
    assert citation(guess) == "\\~8-10 lines saved (estimate) (cited from Bea Writer, an old entry)"


@pytest.mark.parametrize(("edit", "message", "line"), [
    (lambda t: t.replace("value: 154", "value: lots"), "value 'lots' is not a number or a range", 1),
    (lambda t: t.replace("  unit: code lines\n", ""), "cited figure 'original' has no 'unit'", 1),
    (lambda t: t.replace("url: https://example.org/a", "url: http://example.org/a"), "url is not one https://", 1),
    (lambda t: t.replace("url: https://example.org/a", "url: 'https://x.org/{{< env A >}}'"), "url is not one", 1),
    (lambda t: t.replace("source: Bea Writer, an old entry", "source: '{{< env GITHUB_TOKEN >}} Bea Writer'"),
     "must be plain text", 7),
    (lambda t: t.replace("what: an estimate", "wat: an estimate"), "has unknown key 'wat'", 7),
    (lambda t: t.replace("guess:", "Guess Me:"), "is not lower-case letters", 7),
    (lambda t: "- 1\n", "must be a mapping", 1),
], ids=["value", "missing", "http", "shortcode-url", "shortcode-text", "unknown-key", "name", "not-mapping"])
def test_a_bad_entry_is_one_error_naming_file_and_line(tmp_path: Path, edit, message: str, line: int) -> None:
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(DiaryError) as caught:
        load_cited(tmp_path)
    assert message in caught.value.message and Path(caught.value.file) == path and caught.value.line == line
