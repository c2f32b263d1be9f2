"""Highlighted lines kept between commands, by content: Pygments is most of the time `diary check` takes.

`diary check` makes every excerpt afresh to compare it with the file on disk, and on a diary of a
hundred snapshots that was seconds of lexing text it had lexed before. `highlight.highlight_lines` is a
pure function of the text, the language, Pygments' version and our own highlighting code, so its
result is kept under a hash of all four in the user's cache folder (usercache.py): outside the
repository, so a checkout cannot bring its own answers, and a fresh machine (CI) lexes everything.
"""

from __future__ import annotations

import pygments

from diary.core import escape, usercache
from diary.site import highlight

SHORT_TEXT = 2000  # characters: lexing a shorter text costs less than reading an entry


def highlight_lines(text: str, language: str) -> tuple[list[str], bool]:
    """`highlight.highlight_lines`, answered from the cache when it holds this text."""
    if len(text) < SHORT_TEXT:
        return highlight.highlight_lines(text, language)
    key = usercache.key_of(usercache.code_salt(highlight, escape), pygments.__version__, language, text)
    return usercache.remembered(
        "highlight", key, lambda: highlight.highlight_lines(text, language),
        encode=lambda value: {"lines": value[0], "newline_at_end": value[1]}, decode=_highlighted,
    )


def _highlighted(data: dict) -> tuple[list[str], bool]:
    lines, newline_at_end = data["lines"], data["newline_at_end"]
    if not (isinstance(lines, list) and all(isinstance(line, str) for line in lines)
            and isinstance(newline_at_end, bool)):
        raise TypeError("an entry of another shape")
    return lines, newline_at_end
