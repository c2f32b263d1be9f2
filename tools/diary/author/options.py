"""What `diary init` is asked for (InitOptions: the program, its data, its snapshots) and what it reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

# The timing run of the baseline takes at most this long by default.
TIMING_LIMIT_S = 900.0

@dataclass(frozen=True)
class DataFile:
    """One `--data SRC[:DEST]`: `source` on disk, kept as `code/<stored>`, seen by a run as `to`."""

    source: Path
    stored: str  # relative to code/
    to: str  # relative to the run's working directory

    def setting(self) -> str | dict[str, str]:
        """The `data_files` item: the plain string when the run sees the file where it is kept."""
        return self.stored if self.stored == self.to else {"from": self.stored, "to": self.to}


@dataclass(frozen=True)
class SnapshotSource:
    """A snapshot to write: its files (path -> bytes), and its metadata when init writes it."""

    id: str
    files: dict[str, bytes]
    source: str  # where it came from, for the metadata's comment
    parent: str | None = None
    entry: str | None = None  # only when it differs from the diary's entry
    meta: bytes | None = None  # the snapshot's own snapshot.yml, kept as it is


@dataclass(frozen=True)
class InitOptions:
    target: Path
    program: Path | None = None
    snapshots: Path | None = None
    entry: str | None = None
    args: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    tests: Path | None = None
    title: str | None = None
    normalise: tuple[str, ...] = ()  # built-in normalisations: line-endings, carriage-returns
    filters: tuple[tuple[str, str, str], ...] = ()  # (name, pattern, replacement)
    alternatives: bool = False  # --snapshots: every snapshot a child of the first, not a chain
    date: dt.date | None = None
    timing_limit: float | None = None  # seconds; None: TIMING_LIMIT_S
    sandbox: str = "auto"


@dataclass
class InitReport:
    target: Path
    written: list[str] = field(default_factory=list)
    timing: str = ""
    entry: str = ""
    snapshots: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (the file it is about, what to say)
    # (snapshot.yml, what init measured) of each snapshot that is not what it expects: exit 1
    broken: list[tuple[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Reading what the user gives
