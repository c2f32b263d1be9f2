"""core/shortcodes.py: the one grammar of `{{< var >}}` and `{{< include >}}`, and where an include may land."""

from __future__ import annotations

import pytest

from diary.core import shortcodes


def test_find_reads_every_spelling_and_says_how_it_is_escaped() -> None:
    text = "a {{< var x.y >}} b {{{< var q >}}} c \\{{< include /etc/passwd >}} d {{<include '/_generated/a b.md'>}}"
    found = shortcodes.find(text)
    assert [(f.name, f.argument, f.live, f.quarto_escaped, f.backslash) for f in found] == [
        ("var", "x.y", True, False, False), ("var", "q", False, True, False),
        ("include", "/etc/passwd", False, False, True), ("include", "/_generated/a b.md", True, False, False)]
    assert [f.argument for f in shortcodes.find(text, "include")] == ["/etc/passwd", "/_generated/a b.md"]
    assert text[found[0].start:found[0].end] == "{{< var x.y >}}"


def test_built_shortcodes_are_found_again() -> None:
    for path in ("_generated/code/00-base/_prog.py.md", "_generated/x y.md"):
        [found] = shortcodes.find(shortcodes.include(path), "include")
        assert found.live and found.argument == "/" + path
    [found] = shortcodes.find(shortcodes.var("snap.00-base.code"))
    assert (found.name, found.argument) == ("var", "snap.00-base.code")


def test_escape_makes_every_shortcode_text() -> None:
    escaped = shortcodes.escape("Day {{< env GITHUB_TOKEN >}} and {{< include /etc/passwd >}}")
    assert [f.live for f in shortcodes.find(escaped)] == [False, False]


@pytest.mark.parametrize(("page", "argument", "target"), [
    ("posts/a/index.qmd", "/_generated/x.md", "_generated/x.md"),
    ("posts/a/index.qmd", "../../_generated/x.md", "_generated/x.md"),
    ("posts/a/index.qmd", "/_generated/../.git/config", ".git/config"),
    ("posts/a/index.qmd", "../../../../etc/passwd", None),
    ("index.qmd", "//_generated//./x.md", "_generated/x.md"),
    ("index.qmd", "/", None),
])
def test_include_targets_are_normalised_lexically(page: str, argument: str, target: str | None) -> None:
    assert shortcodes.include_target(page, argument) == target


@pytest.mark.parametrize("argument", ["/etc/passwd", "/proc/self/environ", "/_generated/../.git/config",
                                      "../../../../etc/passwd", "/_generated", "/_generated_x/a.md", "notes.md"])
def test_only_the_generated_partials_may_be_included(argument: str) -> None:
    assert shortcodes.include_problem("posts/a/index.qmd", argument) is not None
    assert shortcodes.include_problem("posts/a/index.qmd", "/_generated/diff/_a__b.md") is None
