"""The timing runs of `diary init`: the baseline run twice at once in the sandbox, as `diary
measure` will run it, to set the timeouts and to find output that does not repeat before anything
is measured, whatever the program's length (a slow program is expected, not an error)."""

from __future__ import annotations

import math
import re
import shlex
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from diary.author.options import TIMING_LIMIT_S, DataFile, InitOptions, SnapshotSource
from diary.measure.sandbox.supervise import RunResult
from diary.project.config import Settings
from diary.project.normalise import Normalisation, label, normalised_hashes, regex_problem

# The second run checks that the output repeats; it starts this long after the first, so that a
# timestamp to the second shows, and runs beside it, so a slow program costs one run's wall time.
REPEAT_GAP_S = 2.1  # more than a second beyond the two runs' start-up times, however they vary
PROPOSED_FILTER = "varies"
MAX_LINE = 500  # a longer line that differs gets no proposal: it is said where it differs
# The timeouts the timing run sets are its time times the headroom, at least the floor (a loaded
# machine runs a snapshot per core, and a run's wall time grows with it).
TIMEOUT_HEADROOM, TIMEOUT_FLOOR_S = 5, 30
TEST_TIMEOUT_HEADROOM, TEST_TIMEOUT_FLOOR_S = 10, 60


def timing_run(options: InitOptions, baseline: SnapshotSource, entry: str, data: list[DataFile]) -> RunResult:
    """One run of the baseline in the sandbox, as `diary measure` will run it: its files and the
    data files in a private folder, a clean environment, the default memory and output caps."""
    from diary.measure.sandbox.run import clean_environment, run_sandboxed, sandbox_mode

    mode = sandbox_mode(options.sandbox)
    with tempfile.TemporaryDirectory(prefix="diary-init-timing-") as tmp:
        work = Path(tmp)
        for name, content in baseline.files.items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_bytes(content)
        for item in data:
            (work / item.to).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item.source, work / item.to)
        return run_sandboxed(
            [sys.executable, entry, *options.args], workdir=work, timeout=timing_limit(options),
            memory_mb=Settings.memory_mb, output_bytes=Settings.output_kb * 1024,
            env=clean_environment(work), mode=mode,
        )


def timing_limit(options: InitOptions) -> float:
    return float(options.timing_limit or TIMING_LIMIT_S)


def timing_runs(options: InitOptions, baseline: SnapshotSource, entry: str,
                data: list[DataFile]) -> tuple[RunResult, RunResult]:
    """Two runs of the baseline, the second started REPEAT_GAP_S after the first, side by side."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="diary-timing") as pool:
        first = pool.submit(timing_run, options, baseline, entry, data)
        time.sleep(REPEAT_GAP_S)
        second = pool.submit(timing_run, options, baseline, entry, data)
        return first.result(), second.result()


def unrepeatable(first: bytes, second: bytes, declared: tuple[Normalisation, ...] = ()) -> str | None:
    """None when two runs of the baseline printed the same output (under every declared
    normalisation); else what to say: the first line that differs and a filter that makes the two
    runs agree, when one is found (checked on both outputs before it is proposed)."""
    from diary.core.contract import physical_lines
    from diary.core.escape import for_terminal

    if first == second or _agree(first, second, declared):
        return None
    ours, theirs = (physical_lines(out.decode("utf-8", "replace")) for out in (first, second))
    same = min(len(ours), len(theirs))
    line = next((n for n, (a, b) in enumerate(zip(ours, theirs, strict=False), 1) if a != b), same + 1)
    shown = [for_terminal(lines[line - 1].rstrip("\r\n")[:80]) if line <= len(lines) else "(end of output)"
             for lines in (ours, theirs)]
    said = (f"two runs of the baseline printed different output at line {line} ({shown[0]!r}, then "
            f"{shown[1]!r}): every snapshot would differ from the baseline, and 'diary check --rerun' from "
            "every record")
    proposal = _proposed_filter(ours[line - 1], theirs[line - 1]) if line <= same else None
    if proposal is not None and _agree(first, second, (*declared, proposal)):
        return (f"{said}; declare what varies, e.g. --filter {PROPOSED_FILTER} {shlex.quote(proposal.pattern)} "
                f"{shlex.quote(proposal.replace)} (with it the two runs agree)")
    return f"{said}; declare what varies with --filter NAME REGEX TEXT"


def _agree(first: bytes, second: bytes, normalisations: tuple[Normalisation, ...]) -> bool:
    if not normalisations:
        return False
    every = label(normalisations)
    return normalised_hashes(normalisations, first)[every] == normalised_hashes(normalisations, second)[every]


def _proposed_filter(ours: str, theirs: str) -> Normalisation | None:
    """A filter for the part of one line that differs between two runs: the line with what the
    two share on either side kept, and the middle (a time, a count, a path) replaced."""
    ours, theirs = ours.rstrip("\r\n")[:MAX_LINE], theirs.rstrip("\r\n")[:MAX_LINE]
    start = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs)))
    end = 0
    while end < min(len(ours), len(theirs)) - start and ours[-1 - end] == theirs[-1 - end]:
        end += 1
    # What is shared by chance at either edge of the middle belongs to it: the rest of its word (12.3
    # and 12.7), and the words with digits next to it (the date before a time: tomorrow's differs).
    # Scanned by hand, not by a regular expression: the line is the program's, and nested
    # repetitions over it could backtrack for ever.
    prefix = _drop_numbered_words(_drop_word_end(ours[:start]))
    suffix = _drop_numbered_words(_drop_word_end((ours[len(ours) - end:] if end else "")[::-1]))[::-1]
    if not prefix and not suffix:
        return None
    pattern = "^" + _escape(prefix) + ".*" + _escape(suffix) + "$"
    replacement = (prefix + "<varies>" + suffix).replace("\\", "\\\\")
    return None if regex_problem(pattern, replacement) else Normalisation(PROPOSED_FILTER, pattern, replacement)


def _word_char(char: str) -> bool:
    return char.isalnum() or char in "_.:/+-"


def _drop_word_end(text: str) -> str:
    """`text` without the word characters it ends with (the rest of a number cut by the difference)."""
    end = len(text)
    while end and _word_char(text[end - 1]):
        end -= 1
    return text[:end]


def _drop_numbered_words(text: str) -> str:
    """`text` without the words holding a digit it ends with, each followed by whitespace."""
    while text and text[-1].isspace():
        word_end = len(text.rstrip())
        start = word_end
        while start and not text[start - 1].isspace():
            start -= 1
        if start == word_end or not any(char.isdigit() for char in text[start:word_end]):
            return text
        text = text[:start]
    return text


def _escape(text: str) -> str:
    return re.escape(text).replace("\\ ", " ")  # a space is no special character: legible on a command line


def with_headroom(seconds: float, headroom: int, floor: int) -> int:
    return max(floor, math.ceil(seconds * headroom / 10) * 10)
