"""Highlighted lines kept between commands, by content: Pygments is most of the time `diary check` takes.

`diary check` makes every excerpt afresh to compare it with the file on disk, and on a diary of a
hundred snapshots that was seconds of lexing text it had lexed before. The result of
`highlight.highlight_lines(text, language)` is a pure function of the text, the language, Pygments'
version and our own highlighting code, so it is kept under that hash, in the user's cache folder
(`$XDG_CACHE_HOME/diary/highlight`, else `~/.cache/diary/highlight`): outside the repository, so a
checkout cannot bring its own answers, and a fresh machine (CI) lexes everything. An entry that does
not load is lexed again; a cache that cannot be written is no cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from ..atomic import write_text_atomic
from . import highlight


@functools.cache
def _salt() -> str:
    import pygments

    from .. import escape

    code = b"".join(Path(module.__file__ or "").read_bytes() for module in (highlight, escape))
    return f"{pygments.__version__}|{hashlib.sha256(code).hexdigest()}"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "diary" / "highlight"


def highlight_lines(text: str, language: str) -> tuple[list[str], bool]:
    """`highlight.highlight_lines`, answered from the cache when it holds this text."""
    if len(text) < 2000:  # lexing a short text costs less than reading an entry
        return highlight.highlight_lines(text, language)
    key = hashlib.sha256(f"{_salt()}\0{language}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()
    path = cache_dir() / key[:2] / f"{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        lines, newline_at_end = data["lines"], data["newline_at_end"]
        if (isinstance(lines, list) and all(isinstance(line, str) for line in lines)
                and isinstance(newline_at_end, bool)):
            return lines, newline_at_end
    except (OSError, ValueError, KeyError, TypeError):
        pass
    lines, newline_at_end = highlight.highlight_lines(text, language)
    try:
        write_text_atomic(path, json.dumps({"lines": lines, "newline_at_end": newline_at_end}, ensure_ascii=False))
    except OSError:
        pass
    return lines, newline_at_end
