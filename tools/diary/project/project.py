"""The loaded project: settings, snapshots, records and pages, read once per command.

Every stage takes a `Project` instead of re-deriving its inputs from the root, so `diary check` reads
each record once and `diary build` hands the records it measured straight to generate. The one lock
of a command is taken by the CLI (`lock.command_lock`), never by a stage.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from diary.core.errors import DiaryError
from diary.project.config import Settings, load_settings
from diary.project.discover import SnapshotMeta, discover_snapshots
from diary.project.freshness import ExpectedKey, expected_keys
from diary.project.pages import Page, read_pages
from diary.project.records import Record, load_records_collecting


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

    @functools.cached_property
    def expected_keys(self) -> dict[str, ExpectedKey]:
        """The key a fresh record of each snapshot carries (freshness.expected_keys), computed once."""
        return expected_keys(self.settings, self.snapshots)

    def strict_records(self) -> dict[str, Record]:
        """The records, when every one of them loads; else the first problem, raised."""
        if self.record_errors:
            raise self.record_errors[0]
        return self.records
