"""Cited figures: numbers the diary quotes from outside (another program's size, another author's
estimate), kept as data with their source in `_data/cited.yml`, never as a measurement.

A post that typed such a number by hand would be refused by the gate, and rightly: nothing says where
it came from. Written here, each figure has a name, a value, a unit, what it is and its source (a URL
when there is one); `_variables.yml` gives it to posts only as a citation (`{{< var cited.<name> >}}`
reads "154 code lines (cited: Andrej Karpathy, microgpt)" with the source linked), never as a bare
number, so a quoted figure cannot pass for one the diary measured.

    microgpt-code-lines:
      value: 154
      unit: code lines
      what: microgpt.py as published, counted with cloc
      source: Andrej Karpathy, microgpt (GitHub gist, February 2026)
      url: https://gist.github.com/karpathy/8627fe009c40f57531cb18360106ce95
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from diary.core.errors import DiaryError
from diary.core.escape import metadata_text
from diary.core.yamlio import read_yaml

CITED_PATH = "_data/cited.yml"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # one part of a `{{< var >}}` key
# A quoted figure: a number, or a range or estimate as its author wrote it ("~8-10", "35-40").
_VALUE = re.compile(r"[~≈]?\d+(?:[.,]\d+)?(?:\s*[-–]\s*\d+(?:[.,]\d+)?)?")
_URL = re.compile(r"https://[^\s()<>\[\]{}\"'`\\]{1,300}")
_KEYS = {"value", "unit", "what", "source", "url"}
_REQUIRED = ("value", "unit", "what", "source")
_TEXT_MAX = 200
HINT = "see docs/generated.md, 'Cited figures', for the form of an entry"


@dataclass(frozen=True)
class CitedFigure:
    """One quoted figure and where it comes from."""

    name: str
    value: str  # as its source gives it: "154", "~8-10"
    unit: str
    what: str
    source: str
    url: str  # "" when the source has no address


def load_cited(root: Path) -> list[CitedFigure]:
    """The cited figures of `_data/cited.yml`, in file order; [] when the file does not exist.
    Any problem is a DiaryError naming the file and line."""
    path = Path(root) / CITED_PATH
    if not os.path.lexists(path):
        return []
    located = read_yaml(path)
    data = located.data if located.data is not None else {}
    if not isinstance(data, dict):
        raise DiaryError("cited figures must be a mapping of names to entries", file=path, line=1, hint=HINT)
    figures = []
    for name, entry in data.items():
        line = located.line_of(str(name))
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise DiaryError(f"cited figure name {str(name)[:40]!r} is not lower-case letters, digits, '-' and '_'",
                             file=path, line=line, hint=HINT)
        if not isinstance(entry, dict):
            raise DiaryError(f"cited figure '{name}' must be a mapping with {', '.join(_REQUIRED)}",
                             file=path, line=line, hint=HINT)
        unknown = sorted(str(key) for key in entry if key not in _KEYS)
        missing = [key for key in _REQUIRED if key not in entry]
        if unknown or missing:
            problem = f"unknown key '{unknown[0]}'" if unknown else f"no '{missing[0]}'"
            raise DiaryError(f"cited figure '{name}' has {problem}", file=path, line=line, hint=HINT)
        fields = {key: _text(entry.get(key, ""), key, name, path, line) for key in _KEYS}
        if not _VALUE.fullmatch(fields["value"]):
            raise DiaryError(f"cited figure '{name}': value {fields['value'][:40]!r} is not a number or a range",
                             file=path, line=line, hint="write the figure alone (154, ~8-10) and its unit in 'unit'")
        if fields["url"] and not _URL.fullmatch(fields["url"]):
            raise DiaryError(f"cited figure '{name}': url is not one https:// address", file=path, line=line,
                             hint=HINT)
        figures.append(CitedFigure(name, fields["value"], fields["unit"], fields["what"], fields["source"],
                                   fields["url"]))
    return figures


def _text(value: object, key: str, name: str, path: Path, line: int | None) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DiaryError(f"cited figure '{name}': '{key}' must be text", file=path, line=line, hint=HINT)
    text = str(value).strip()
    if len(text) > _TEXT_MAX or any(ch in text for ch in "\r\n\x00"):
        raise DiaryError(f"cited figure '{name}': '{key}' must be one line of at most {_TEXT_MAX} characters",
                         file=path, line=line, hint=HINT)
    # Shown through `{{< var >}}`, which an engine reads as Markdown after undoing escapes: only plain
    # text is safe there (escape.metadata_text), so anything else is refused rather than altered.
    if key in ("unit", "what", "source") and text and metadata_text(text) is None:
        raise DiaryError(f"cited figure '{name}': '{key}' must be plain text (letters, digits, spaces and "
                         "-,.:;()!?/+=%)", file=path, line=line, hint=HINT)
    return text


def citation(figure: CitedFigure) -> str:
    """The figure as posts show it: value, unit and its source, linked when it has an address
    (Markdown that `{{< var >}}` renders; every part was checked plain when it loaded)."""
    source = f"[{figure.source}]({figure.url})" if figure.url else figure.source
    return f"{figure.value.replace('~', chr(92) + '~')} {figure.unit} (cited from {source})"
