"""The timing run of `diary init`: the baseline run once (twice when quick) in the sandbox, as
`diary measure` will run it, to set the timeouts and to find output that does not repeat."""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
from pathlib import Path

from diary.author.options import DataFile, InitOptions, SnapshotSource
from diary.measure.sandbox.supervise import RunResult
from diary.project.config import Settings

# A second run checks that the output repeats, when the first was this quick; it starts at least
# this long after the first did, so that a timestamp to the second shows.
REPEAT_BELOW_S = 30.0
REPEAT_GAP_S = 1.1
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
            [sys.executable, entry, *options.args], workdir=work, timeout=options.timing_limit,
            memory_mb=Settings.memory_mb, output_bytes=Settings.output_kb * 1024,
            env=clean_environment(work), mode=mode,
        )


def unrepeatable(first: bytes, second: bytes) -> str:
    """What to say when two runs of the baseline printed different output."""
    from diary.core.contract import physical_lines
    from diary.core.escape import for_terminal

    ours, theirs = (physical_lines(out.decode("utf-8", "replace")) for out in (first, second))
    same = min(len(ours), len(theirs))
    line = next((n for n, (a, b) in enumerate(zip(ours, theirs, strict=False), 1) if a != b), same + 1)
    shown = for_terminal(ours[line - 1].rstrip("\r\n")[:80]) if line <= len(ours) else "(end of output)"
    return (f"two runs of the baseline printed different output, from line {line} on ({shown!r}): every "
            "snapshot would differ from the baseline; declare what varies with --filter NAME REGEX TEXT "
            "(or normalise: in this file)")


def with_headroom(seconds: float, headroom: int, floor: int) -> int:
    return max(floor, math.ceil(seconds * headroom / 10) * 10)
