"""What a run printed, made comparable and readable: declared normalisations, terminal lines, private paths.

Three things, each a pure function of text:

- **Normalisations** (`normalise:` in `code/diary.yml`): `line-endings` (CRLF -> LF),
  `carriage-returns` (a CR counts as a line end; a CR next to a line end adds none) and named
  regular-expression filters (`{name: timestamp, pattern: ..., replace: ...}`). Applied, in the
  declared order, to stdout before it is compared with the baseline's. Every run keeps one hash per
  combination of them (`normalised_hashes`), so the record can say which ones were needed for
  identity (`needed_normalisations`) even when the baseline's record is cached: "identical after
  normalising the timestamp" is never shown as byte identity. None declared: byte for byte.
- **Terminal lines** (`terminal_lines`): stdout as a terminal shows it; a carriage return moves back
  to the start of the line and what follows overwrites ("abc\\rX" shows "Xbc"), so a progress bar
  redrawn 1,000 times is the one line a reader saw, not 31,000 characters.
- **Private paths** (`scrub_paths`): the interpreter's prefixes, the repository root, temporary
  folders and the home folder become placeholders in everything published.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diary.core.errors import DiaryError, ToolError

LINE_ENDINGS = "line-endings"
CARRIAGE_RETURNS = "carriage-returns"
BUILT_IN = (LINE_ENDINGS, CARRIAGE_RETURNS)
# Every run keeps a hash per combination of the declared normalisations (2^n - 1 of them).
MAX_NORMALISATIONS = 4
NAME = re.compile(r"\A[a-z][a-z0-9_-]*\Z")
FILTER_TIMEOUT_S = 30.0  # for all the regex filters on one run's output (milliseconds when honest)
SETTINGS_FILE = Path("code/diary.yml")  # named in the error of a filter that takes too long
STORED_LINE_MAX_CHARS = 1000  # a stored line longer than this is cut (the hash covers all of it)


@dataclass(frozen=True)
class Normalisation:
    """One declared normalisation: a built-in (`pattern` empty) or a named regex filter."""

    name: str
    pattern: str = ""
    replace: str = ""

    def apply(self, text: str) -> str:
        if self.name == LINE_ENDINGS and not self.pattern:
            return text.replace("\r\n", "\n")
        if self.name == CARRIAGE_RETURNS and not self.pattern:
            # A CR beside a line end (before or after a LF) adds no line; any other CR is one.
            return re.sub(r"\r+\n|\n\r+", "\n", text).replace("\r", "\n")
        return re.sub(self.pattern, self.replace, text, flags=re.MULTILINE)

    def describe(self) -> str:
        """What it does, in a sentence a reader of the site understands."""
        if self.name == LINE_ENDINGS and not self.pattern:
            return "a CRLF line end counts as LF"
        if self.name == CARRIAGE_RETURNS and not self.pattern:
            return "a carriage return counts as a line end (one beside a line end adds none)"
        return f"text matching the regular expression “{self.pattern}” is replaced by “{self.replace}”"

    def as_dict(self) -> dict[str, str] | str:
        return {"name": self.name, "pattern": self.pattern, "replace": self.replace} if self.pattern else self.name


def regex_problem(pattern: str, replace: str) -> str | None:
    """Why `pattern` / `replace` cannot be used as a filter, or None."""
    try:
        compiled = re.compile(pattern, flags=re.MULTILINE)
        compiled.sub(replace, "")  # a bad group reference in `replace` fails here, not in a run
    except (re.error, IndexError, OverflowError, RecursionError, ValueError) as error:
        return str(error) or type(error).__name__
    if compiled.match(""):
        return "the pattern matches the empty text (it would insert `replace` between every character)"
    return None


def apply_all(normalisations: Sequence[Normalisation], text: str) -> str:
    for normalisation in normalisations:
        text = normalisation.apply(text)
    return text


def combinations(normalisations: Sequence[Normalisation]) -> list[tuple[Normalisation, ...]]:
    """Every non-empty combination, smallest first, in declared order within a size."""
    return [combo for size in range(1, len(normalisations) + 1)
            for combo in itertools.combinations(normalisations, size)]


def label(combo: Iterable[Normalisation]) -> str:
    return "+".join(n.name for n in combo)


def normalised_hashes(normalisations: Sequence[Normalisation], stdout: bytes) -> dict[str, str]:
    """The sha256 (16 hex digits) of stdout under each combination, by label ("carriage-returns+timestamp")."""
    if not normalisations:
        return {}
    if not any(n.pattern for n in normalisations):
        return _hashes(normalisations, stdout)
    result: dict[str, str] = _in_worker("hashes", normalisations, base64.b64encode(stdout).decode())
    return result


def filter_lines(normalisations: Sequence[Normalisation], lines: Sequence[str]) -> list[str]:
    """The regex filters applied to stored (terminal) lines, for showing where two outputs differ."""
    if not any(n.pattern for n in normalisations):
        return list(lines)
    result: list[str] = _in_worker("lines", normalisations, list(lines))
    return result


def _in_worker(kind: str, normalisations: Sequence[Normalisation], payload: object) -> Any:
    """Run the regex filters in a worker process with a time limit (FILTER_TIMEOUT_S).

    A filter comes from the repository (untrusted) and meets the program's output: a pattern such
    as `(a+)+$` can take exponential time, which must not stop the measuring process. The built-ins
    take linear time and run here."""
    request = json.dumps({"kind": kind, "normalisations": [[n.name, n.pattern, n.replace] for n in normalisations],
                          "payload": payload})
    package_parent = str(Path(__file__).resolve().parents[2])
    try:
        done = subprocess.run(
            [sys.executable, "-S", "-c", "from diary.project.normalise import worker_main; worker_main()"],
            input=request.encode(), capture_output=True, timeout=FILTER_TIMEOUT_S, check=False,
            env={"PYTHONPATH": package_parent, "PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8"},
        )
    except subprocess.TimeoutExpired:
        names = ", ".join(n.name for n in normalisations if n.pattern)
        raise DiaryError(f"the 'normalise' filters ({names}) took more than {FILTER_TIMEOUT_S:.0f} s on one "
                         "run's output", file=SETTINGS_FILE,
                         hint="simplify the pattern: nested repetition such as (a+)+ can take exponential time"
                         ) from None
    if done.returncode != 0:
        raise ToolError(f"the normalisation worker failed: {done.stderr.decode(errors='replace')[-300:]}")
    return json.loads(done.stdout)


def worker_main() -> None:
    """The worker process of `_in_worker`: a request on stdin, its answer on stdout."""
    request = json.loads(sys.stdin.buffer.read())
    normalisations = [Normalisation(*item) for item in request["normalisations"]]
    if request["kind"] == "hashes":
        answer: object = _hashes(normalisations, base64.b64decode(request["payload"]))
    else:
        filters = [n for n in normalisations if n.pattern]
        answer = [apply_all(filters, line) for line in request["payload"]]
    sys.stdout.write(json.dumps(answer))


def _hashes(normalisations: Sequence[Normalisation], stdout: bytes) -> dict[str, str]:
    text = stdout.decode("utf-8", errors="replace")
    return {label(combo): hashlib.sha256(apply_all(combo, text).encode()).hexdigest()[:16]
            for combo in combinations(normalisations)}


def needed_normalisations(normalisations: Sequence[Normalisation], ours: dict[str, str],
                          theirs: dict[str, str]) -> list[str] | None:
    """The smallest combination under which both outputs agree (names, declared order), or None."""
    for combo in combinations(normalisations):
        key = label(combo)
        if key in ours and ours.get(key) == theirs.get(key):
            return [n.name for n in combo]
    return None


# --- Terminal lines -----------------------------------------------------------------------------


def terminal_line(raw: str) -> str:
    """One line as a terminal shows it: a CR returns to the start, a backspace steps back one
    column, and what follows overwrites what was there."""
    if "\r" not in raw and "\b" not in raw:
        return raw
    cells: list[str] = []
    column = 0
    for char in raw:
        if char == "\r":
            column = 0
        elif char == "\b":
            column = max(column - 1, 0)
        else:
            if column < len(cells):
                cells[column] = char
            else:
                cells.append(char)
            column += 1
    return "".join(cells)


def terminal_lines(text: str) -> list[str]:
    """stdout as a terminal shows it, one entry per line (no trailing empty line), each at most
    STORED_LINE_MAX_CHARS long."""
    lines = [terminal_line(line) for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    return [line if len(line) <= STORED_LINE_MAX_CHARS
            else line[:STORED_LINE_MAX_CHARS] + f" [… {len(line) - STORED_LINE_MAX_CHARS} more characters]"
            for line in lines]


# --- Private paths ------------------------------------------------------------------------------


def host_paths(root: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """(path, placeholder) pairs, longest path first: what a published text must not show."""
    pairs: list[tuple[str, str]] = []
    if root is not None:
        pairs.append((os.path.realpath(root), "<repository>"))
        pairs.append((os.path.abspath(root), "<repository>"))
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        pairs.append((prefix, "<python>"))
        pairs.append((os.path.realpath(prefix), "<python>"))
    temp = tempfile.gettempdir()
    pairs += [(temp, "<tmp>"), (os.path.realpath(temp), "<tmp>")]
    home = os.path.expanduser("~")
    if home not in ("/", "~", ""):
        pairs.append((home, "<home>"))
    seen: dict[str, str] = {}
    for path, placeholder in pairs:
        path = path.rstrip("/")
        if len(path) > 1 and path not in seen:
            seen[path] = placeholder
    return sorted(seen.items(), key=lambda pair: -len(pair[0]))


def scrub_paths(text: str, root: str | os.PathLike[str] | None = None) -> str:
    """`text` with the host's paths (see host_paths) replaced by placeholders; `/` after a path only,
    so /usr/lib is not cut out of /usr/lib64."""
    for path, placeholder in host_paths(root):
        text = re.sub(re.escape(path) + r"(?=/|\b|$)", placeholder, text)
    return text


STDOUT_HEAD, STDOUT_TAIL = 150, 50  # the lines a record keeps of a longer output


def kept_lines(lines: list[str]) -> list[str]:
    """What a record keeps of an output's lines (Run.stdout_lines): all, or its head and tail."""
    return lines if len(lines) <= STDOUT_HEAD + STDOUT_TAIL else [*lines[:STDOUT_HEAD], *lines[-STDOUT_TAIL:]]


def leading_lines(lines: Sequence[str], count: int) -> list[str]:
    """Of the kept lines of an output of `count` lines, those that follow each other from the first."""
    return list(lines) if len(lines) >= count else list(lines[:STDOUT_HEAD])
