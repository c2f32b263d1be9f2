"""The one lock of a command, taken by the CLI, and how the pre-render hook knows it runs under it.

Kept apart from `project` on purpose: the hook under `diary build` checks the lock before importing
anything heavy, so it returns in the time Python takes to start.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from diary.core.atomic import build_lock
from diary.core.contract import LOCK_PATH


@contextmanager
def command_lock(root: Path) -> Iterator[None]:
    """The one lock of a command that writes (measure, generate, refresh, build)."""
    with build_lock(root):
        yield


def lock_held_by_ancestor(root: Path) -> bool:
    """Whether the process holding `<root>/.diary.lock` is one this process runs under.

    That is the project's pre-render hook (`diary refresh`) started by the engine of a `diary build`,
    which measured and generated before it started the engine: the hook then has nothing to do."""
    try:
        holder = (Path(root) / LOCK_PATH).read_text(encoding="utf-8").split()
        holder_pid = int(holder[1]) if len(holder) == 2 and holder[0] == "pid" else None
    except (OSError, ValueError):
        return False
    if holder_pid is None:
        return False
    pid = os.getppid()
    for _ in range(64):  # a process tree is never this deep; the bound keeps a /proc oddity finite
        if pid == holder_pid:
            return True
        if pid <= 1:
            return False
        pid = _parent_of(pid)
    return False


def _parent_of(pid: int) -> int:
    """The parent of process `pid` (0 when unknown): from /proc on Linux, else from `ps`."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        try:
            out = subprocess.run(["ps", "-o", "ppid=", "-p", str(pid)], capture_output=True, text=True,
                                 timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return 0
        return int(out) if out.isdigit() else 0
    # The command name (field 2) is in parentheses and may hold spaces: the parent is after the last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
