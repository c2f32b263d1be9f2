"""The loaded project: settings, snapshots, records and pages, read once per command.

Every stage takes a `Project` instead of re-deriving its inputs from the root, so `diary check` reads
each record once and `diary build` hands the records it measured straight to generate. The one lock
of a command is taken by the CLI (`command_lock`), never by a stage.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import build_lock
from .config import Settings, load_settings
from .contract import LOCK_PATH
from .discover import SnapshotMeta, discover_snapshots
from .errors import DiaryError, LockedError
from .records import Record, load_records_collecting
from .site.posts import Page, read_pages


@dataclass
class Project:
    """One diary, as loaded at the start of a command.

    `records` holds every record that loads; `record_errors` the ones that do not (a strict stage
    raises the first, `diary measure --force` overwrites them, `diary check` reports them all)."""

    root: Path
    settings: Settings
    snapshots: list[SnapshotMeta]
    records: dict[str, Record]
    record_errors: list[DiaryError] = field(default_factory=list)

    @classmethod
    def load(cls, root: Path) -> Project:
        settings = load_settings(root)
        snapshots = discover_snapshots(settings)
        records, errors = load_records_collecting(settings.root)
        return cls(settings.root, settings, snapshots, records, errors)

    @functools.cached_property
    def pages(self) -> list[Page]:
        """The posts and top-level pages (read on first use: `diary measure` never needs them)."""
        return read_pages(self.root)

    def strict_records(self) -> dict[str, Record]:
        """The records, when every one of them loads; else the first problem, raised."""
        if self.record_errors:
            raise self.record_errors[0]
        return self.records


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
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    # The command name (field 2) is in parentheses and may hold spaces: the parent is after the last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0


__all__ = ["LockedError", "Project", "command_lock", "lock_held_by_ancestor"]
