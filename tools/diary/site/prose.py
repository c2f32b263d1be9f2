"""What readers read of a page, and the markup a page may not publish.

`prose_lines` and `visible` give the text of a page as a reader sees it (no code, no shortcodes, no
link targets, entities decoded, emphasis and table pipes gone), and `FIGURE` is a measured figure
typed by hand in it: the figure gate (check.py) and `diary new post` (a title) ask them.
`markup_problems` is the decision on raw HTML in posts and pages: a tag, a raw block or inline
(`{=html}`), a `javascript:` link, or a shortcode or tag in the front matter (Quarto reads a title or
description as Markdown, undoes its backslashes and entities, then expands shortcodes) runs or
leaks on the site's origin, so each is refused unless `raw_html: allow` in `code/diary.yml` says the
author wants it (the About page's checks say which).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

from diary.core import shortcodes
from diary.core.errors import DiaryError
from diary.project.pages import FRONT_MATTER, Page

# A figure the data holds: a number followed by a unit the diary measures ("25 lines", "a 60-line class",
# "34 passing tests", "5.5 s"), found in `visible` text (entities decoded, emphasis and table pipes gone).
FIGURE = re.compile(
    r"(?<![\w.{-])[-+−]?\d[\d,]*(?:\.\d+)?(?:\s*|-)"
    r"(?:(?:passing|failing|skipped|code|comment|blank|physical)\s+)?"
    r"(?:%|percent\b|per\s?cent\b|lines?\b|loc\b|tests?\b|comments?\b|seconds?\b|s\b|ms\b|MB\b|KB\b|"
    r"steps?\b|tokens?\b|characters?\b)",
    re.IGNORECASE,
)
# Inline code: a run of backticks up to the next run of the same length (`x`, ``a ` b``).
INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)")
# Not prose either: link and image targets, attribute blocks ({width=80%}, {#sec-x .class}), HTML tags.
LINK_TARGET = re.compile(r"\]\(([^()\s]*)(?:\s+\"[^\"]*\")?\)")
ATTRIBUTES = re.compile(r"\{\s*[#.][^{}\n]*\}|\{[^{}\n]*=[^{}\n]*\}")
HTML_TAG = re.compile(r"</?[A-Za-z][^<>\n]*>")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
# A code fence, also inside a list item or a block quote; a closing fence has nothing after it.
FENCE = re.compile(r"^[ \t>]*(`{3,}|~{3,})(.*)$")
# Emphasis marks and table pipes, which a reader never sees between a number and its unit.
_EMPHASIS = re.compile(r"[*_|]+")
# Markdown's autolinks, <https://…> and <name@host>: links, not tags.
_AUTOLINK = re.compile(r"<(?:[A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*|[^<>\s@]+@[^<>\s@]+)>")
_AUTOLINK_SCHEME = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}):[^<>\s]*>")
# What an engine passes through as raw HTML: a tag, a declaration or processing instruction, a raw
# block or raw inline of any format (```{=html}, `x`{=html}).
_RAW_MARKUP = re.compile(r"<[A-Za-z/!?]|\{=\s*[A-Za-z]")
_SAFE_SCHEMES = ("http", "https", "mailto")
# The scheme of a link's target: inline `[x](scheme:…)`, or a reference definition `[x]: scheme:…`.
_LINK_SCHEME = re.compile(r"\]\(\s*<?\s*([A-Za-z][A-Za-z0-9+.-]*):"
                          r"|^\s{0,3}\[[^\]]+\]:\s*<?\s*([A-Za-z][A-Za-z0-9+.-]*):")
# A category is written into an HTML attribute (data-category) and a URL by the listing.
_CATEGORY_UNSAFE = frozenset("\"'<>&`{}\\")
RAW_HTML_HINT = ("write it in Markdown, or set 'raw_html: allow' in code/diary.yml if you mean the page to run "
                 "its own HTML (the About page says so)")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The page's lines that readers see as prose: no front matter, code blocks or comments."""
    front = FRONT_MATTER.match(text)
    start = text.count("\n", 0, front.end()) + 1 if front else 0
    body = "\n".join(text.split("\n")[start:])
    body = HTML_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), body)
    out, fence = [], None
    for offset, line in enumerate(body.split("\n")):
        match = FENCE.match(line)
        if match and match.group(1)[0] == "`" and "`" in match.group(2):
            match = None  # ```x``` is inline code, not a fence (CommonMark)
        if fence:
            marks, rest = match.groups() if match else ("", "")
            if marks[:1] == fence[0] and len(marks) >= len(fence) and not rest.strip():
                fence = None
            continue
        if match:
            fence = match.group(1)
            continue
        out.append((start + offset + 1, line))
    return out


def decoded(text: str) -> str:
    """`text` with its entities and backslash escapes undone, as an engine shows it (`66&nbsp;lines`,
    `99&#37;`, `\\{\\{<`): entities twice, since Quarto unescapes metadata before Pandoc reads it."""
    text = html.unescape(html.unescape(text))
    return re.sub(r"\\(.)", r"\1", text).replace("\u00a0", " ")


def visible(line: str) -> str:
    """What a reader sees of a prose line as words: no shortcodes, code, link targets, attributes or
    tags; entities decoded, emphasis and table pipes gone."""
    line = shortcodes.strip(line)
    for pattern in (INLINE_CODE, LINK_TARGET, ATTRIBUTES, HTML_TAG):
        line = pattern.sub(" ", line)
    return _EMPHASIS.sub(" ", decoded(line))


def reader_text(page: Page) -> list[tuple[int, str]]:
    """(line, text) of everything a reader of `page` reads as words: the front matter's strings
    (title, subtitle, description, categories: the listing, the page title and the feed show them)
    and the prose, a paragraph's lines joined so that a figure and its unit on two lines are one."""
    out = [(page.line_of(key), visible(value)) for key, value in front_strings(page.front)]
    paragraph: list[tuple[int, str]] = []
    for number, line in [*prose_lines(page.text), (0, "")]:
        if line.strip() and (not paragraph or number == paragraph[-1][0] + 1):
            paragraph.append((number, visible(line)))
            continue
        if paragraph:
            out.append((paragraph[0][0], " ".join(text for _, text in paragraph)))
        paragraph = [(number, visible(line))] if line.strip() else []
    return out


def front_strings(front: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(top-level key, string) for every string of the front matter, however deep."""
    if isinstance(front, dict):
        for name, value in front.items():
            yield from front_strings(value, key or str(name))
    elif isinstance(front, list):
        for item in front:
            yield from front_strings(item, key)
    elif isinstance(front, str):
        yield key, front


# Front matter keys whose value is HTML by design: only `<link>` tags with these attributes may be
# there (the feed's autodiscovery link), and no `javascript:` address.
HEAD_KEYS = ("include-in-header", "include-before-body", "include-after-body", "header-includes")
_HEAD_LINK = re.compile(r'<link(?:\s+(?:rel|type|title|href|hreflang|sizes)="[^"<>]*")*\s*/?>')


def front_shortcode_problem(value: str) -> str | None:
    """Why a front matter string would have Quarto expand a shortcode, or None."""
    # Quarto's own escape, `{{{< … >}}}` with nothing that could open or close another inside,
    # shows the shortcode as text; any other `{{<` or `>}}` is expanded after the unescaping.
    left = re.sub(r"\{\{\{<[^{}<>\n]*>\}\}\}", " ", decoded(value))
    if "{{<" in left or ">}}" in left:
        return "a shortcode in the front matter is expanded by Quarto, escaped or not"
    return None


def front_markup_problem(key: str, value: str) -> str | None:
    """Why the front matter string `value` of `key` would be published as markup, or None."""
    text = decoded(value)
    if key == "categories" and set(text) & _CATEGORY_UNSAFE:
        return "a category with quotes, angle brackets, braces or & leaves its HTML attribute"
    if key in HEAD_KEYS:
        text = _HEAD_LINK.sub(lambda m: " " if "javascript:" not in m.group(0).lower() else m.group(0), text)
    if _RAW_MARKUP.search(_AUTOLINK.sub(" ", text)) or _unsafe_schemes(text):
        return "markup in the front matter is published as HTML"
    return None


def front_matter_problem(key: str, value: str) -> str | None:
    """Why `value` may not stand in the front matter under `key` (a title `diary new post` or
    `diary init` would write), or None."""
    return front_shortcode_problem(value) or front_markup_problem(key, value)


def _unsafe_schemes(text: str) -> list[str]:
    """The schemes of the links and autolinks of `text` that are not http(s) or mailto."""
    schemes = [found.group(1) or found.group(2) for found in _LINK_SCHEME.finditer(text)]
    schemes += [found.group(1) for found in _AUTOLINK_SCHEME.finditer(text)]
    return [scheme for scheme in schemes if scheme.lower() not in _SAFE_SCHEMES]


def markup_problems(page: Page, allow_raw_html: bool = False) -> list[DiaryError]:
    """Shortcodes and markup in `page`'s front matter, and (unless `allow_raw_html`) raw HTML, raw
    blocks and `javascript:` links in its body."""
    problems = []
    for key, value in front_strings(page.front):
        why = front_shortcode_problem(value) or (None if allow_raw_html else front_markup_problem(key, value))
        if why is not None:
            problems.append(DiaryError(f"{why}: {key!r}", file=page.path, line=page.line_of(key),
                                       hint="write plain text there (no braces, angle brackets or entities); "
                                            "show a shortcode as {{{< … >}}}"))
    if allow_raw_html:
        return problems
    for number, line in prose_lines(page.text):
        code_free = INLINE_CODE.sub(" ", shortcodes.strip(line))
        for scheme in _unsafe_schemes(decoded(code_free)):
            problems.append(DiaryError(f"a {scheme}: link runs on the site's origin", file=page.path,
                                       line=number, hint="link to an http(s) address or a page of the site"))
        raw = _RAW_MARKUP.search(_AUTOLINK.sub(" ", code_free))
        if raw is None:
            raw = re.search(r"\{=\s*[A-Za-z]", line)  # a raw inline follows its code span
        if raw is not None:
            problems.append(DiaryError("raw HTML in a page runs on the site's origin", file=page.path, line=number,
                                       hint=RAW_HTML_HINT))
    for number in _raw_fences(page.text):
        problems.append(DiaryError("a raw block is published as it is", file=page.path, line=number,
                                   hint=RAW_HTML_HINT))
    return problems


def _raw_fences(text: str) -> Iterator[int]:
    """The line of every fence of `text` whose info string makes it a raw block (```{=html}); one
    inside another code block is counted too, which costs at most a false alarm."""
    for number, line in enumerate(text.split("\n"), 1):
        match = FENCE.match(line)
        if match and match.group(2).strip().startswith(("{=", "=")):
            yield number
