"""The one grammar of the shortcodes the diary reads and writes: `{{< var key >}}` and `{{< include path >}}`.

Found (`find`), built (`include`, `var`) and escaped (`escape`) here only, so the gate, the build
state, the validators of posts and the templates agree on what is a shortcode. Quarto's own escape
is three braces, `{{{< var x >}}}`, shown as `{{< var x >}}`; a backslash before `{{<` is treated as
an escape by the validators of keys (`live`), but not where a wrong guess would publish a file: an
include in any spelling but Quarto's escape must land in the allowed folders (`include_problem`).

An include resolves inside the generated partials only (`INCLUDE_DIRS`), after the path is
normalised lexically (`..`, `.`, doubled slashes): `/_generated/../.git/config` is `.git/config`,
refused, whatever a link or an engine would make of it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from diary.core.contract import GENERATED_DIR
from diary.core.escape import shortcode_argument

# `{{<` up to the first `>}}`, with the braces around them (Quarto's escape has three at each end).
_SHORTCODE = re.compile(r"(\\?)(\{*)\{\{<(.*?)>\}\}(\}*)", re.S)
_NAME_AND_ARGUMENT = re.compile(r"\s*([\w-]+)\s*(.*?)\s*\Z", re.S)
# Folders an include may land in, relative to the diary's root.
INCLUDE_DIRS = (GENERATED_DIR,)


@dataclass(frozen=True)
class Shortcode:
    """One `{{< name argument >}}` in a text: where it starts and ends, and how it is escaped."""

    name: str
    argument: str  # quotes taken off
    start: int
    end: int
    quarto_escaped: bool  # `{{{< … >}}}`: every engine shows it as text
    backslash: bool  # `\\{{< … >}}`

    @property
    def live(self) -> bool:
        """Expanded by the engines, as the validators of keys and includes read it."""
        return not self.quarto_escaped and not self.backslash


def find(text: str, name: str | None = None) -> list[Shortcode]:
    """Every shortcode of `text` (of `name` only, when given), escaped or not, in order."""
    found = []
    for match in _SHORTCODE.finditer(text):
        backslash, before, inside, after = match.groups()
        parts = _NAME_AND_ARGUMENT.match(inside)
        if parts is None:
            continue
        argument = parts.group(2)
        if len(argument) >= 2 and argument[0] == argument[-1] and argument[0] in "'\"":
            argument = argument[1:-1]
        if name is not None and parts.group(1) != name:
            continue
        found.append(Shortcode(parts.group(1), argument.strip(), match.start() + len(backslash) + len(before),
                               match.end() - len(after), bool(before) and bool(after), bool(backslash)))
    return found


def strip(text: str) -> str:
    """`text` with every shortcode (escaped or not) replaced by a space: what is left is prose."""
    return _SHORTCODE.sub(" ", text)


def include(path: str) -> str:
    """`{{< include /<path> >}}` for a path relative to the root; a path no spelling can hold is a bug."""
    argument = shortcode_argument("/" + path.lstrip("/"))
    if argument is None:
        raise ValueError(f"no include shortcode can hold the path {path!r}")
    return "{{< include " + argument + " >}}"


def var(key: str) -> str:
    return "{{< var " + key + " >}}"


def escape(text: str) -> str:
    """`text` with Quarto's escape on every shortcode opening and closing: shown, never expanded."""
    return text.replace("{{<", "{{{<").replace(">}}", ">}}}")


def include_target(page: str, argument: str) -> str | None:
    """The path an include of page `page` (relative to the root) names, relative to the root and
    normalised lexically; None when it leaves the root."""
    base = "" if argument.startswith("/") else posixpath.dirname(page)
    rel = posixpath.normpath(posixpath.join(base, argument.lstrip("/")))
    if rel in (".", "..") or rel.startswith("../"):
        return None
    return rel


def include_problem(page: str, argument: str) -> str | None:
    """Why the include `argument` of page `page` may not be published, or None when it lands in an
    allowed folder."""
    rel = include_target(page, argument)
    if rel is None or not any(rel.startswith(folder + "/") for folder in INCLUDE_DIRS):
        allowed = ", ".join(f"/{folder}/" for folder in INCLUDE_DIRS)
        return f"the include {argument!r} lands outside {allowed}"
    return None
