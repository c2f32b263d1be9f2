"""The records of several shards made one: `diary merge FOLDER...`.

Records are one file per snapshot, so a merge is the union of what the shards wrote (`--out`), laid
over the committed records. It is refused, before anything is written, when two shards disagree on a
snapshot (its key, or anything but timings), when a record comes from another tool or measuring
version, when it was measured from other files than this checkout's (another commit), or when a
snapshot that needs a record is left out. With `verify`, nothing is written: the union must hold, for
every snapshot, a record with the committed record's key (what `check --rerun --shard` verified).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from diary import MEASURE_VERSION, __version__
from diary.core.atomic import write_text_atomic
from diary.core.errors import DiaryError
from diary.core.yamlio import read_utf8
from diary.project.freshness import staleness
from diary.project.project import Project
from diary.project.records import Record, dump_record, load_record, without_timings, write_record
from diary.project.shards import Shard, parse_shard

HINT_SHARDS = "merge the records of every shard of one run, all made from this commit"
MANIFEST = "shard.json"


@dataclass
class MergeReport:
    """What a merge took from the shards: (snapshot id, folder) in snapshot order, and what it wrote."""

    taken: list[tuple[str, Path]] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    folders: int = 0

    def summary(self) -> str:
        if self.verified:
            return f"diary merge: every snapshot was verified by a shard ({len(self.verified)})"
        return f"diary merge: {len(self.taken)} record(s) from {self.folders} shard(s), {len(self.written)} changed"


def write_shard_folder(folder: Path, records: Mapping[str, Record], shard: Shard | None) -> None:
    """What one shard measured or verified, one file per snapshot, and `shard.json` naming the shard
    and its share (never an empty folder: a shard with nothing to do is still seen to have run)."""
    folder.mkdir(parents=True, exist_ok=True)
    for record in records.values():
        write_text_atomic(folder / f"{record.id}.yml", dump_record(record))
    manifest = {"shard": str(shard or Shard(1, 1)), "snapshots": list(records)}
    write_text_atomic(folder / MANIFEST, json.dumps(manifest, indent=1) + "\n")


def _check_manifests(folders: Sequence[Path]) -> None:
    """Every shard of one plan is there once, and each folder holds what its manifest names."""
    seen: dict[int, Path] = {}
    counts = set()
    for folder in folders:
        path = folder / MANIFEST
        try:
            manifest = json.loads(read_utf8(path, hint=HINT_SHARDS))
            shard = parse_shard(str(manifest["shard"]))
            named = sorted(str(snap_id) for snap_id in manifest["snapshots"])
        except (ValueError, KeyError, TypeError, DiaryError):
            raise DiaryError(f"not a shard's folder (no readable {MANIFEST})", file=folder,
                             hint="give the folders that 'diary measure --shard K/N --out DIR' wrote") from None
        assert shard is not None
        if named != sorted(p.stem for p in folder.glob("*.yml")):
            raise DiaryError("the folder does not hold the records its manifest names", file=path, hint=HINT_SHARDS)
        if shard.index in seen:
            raise DiaryError(f"shard {shard} is given twice (also {seen[shard.index]})", file=path, hint=HINT_SHARDS)
        seen[shard.index] = folder
        counts.add(shard.count)
    if len(counts) > 1:
        raise DiaryError(f"the folders come from plans of {' and '.join(map(str, sorted(counts)))} shards",
                         file=folders[0], hint=HINT_SHARDS)
    count = counts.pop() if counts else 0
    absent = [f"{index}/{count}" for index in range(1, count + 1) if index not in seen]
    if absent:
        raise DiaryError(f"the records of shard {', '.join(absent)} are missing", file=folders[0], hint=HINT_SHARDS)


def _shard_records(folders: Sequence[Path]) -> dict[str, list[tuple[Path, Record]]]:
    """Every record in the shards' folders, by snapshot id, with the file it came from."""
    found: dict[str, list[tuple[Path, Record]]] = {}
    _check_manifests(folders)
    for folder in folders:
        for path in sorted(folder.glob("*.yml")):
            record = load_record(path)
            produced = record.produced_by
            if (produced.tool, produced.measure) != (__version__, MEASURE_VERSION):
                raise DiaryError(f"measured by diary {produced.tool} (measure {produced.measure}); this is "
                                 f"diary {__version__} (measure {MEASURE_VERSION})", file=path, line=1,
                                 hint="every shard must run the same version of the tool: " + HINT_SHARDS)
            found.setdefault(record.id, []).append((path, record))
    return found


def _agreed(snap_id: str, copies: list[tuple[Path, Record]]) -> tuple[Path, Record]:
    """The one record the shards agree on (a snapshot measured by two shards must read the same)."""
    first_path, first = copies[0]
    for path, record in copies[1:]:
        what = "the key" if record.key != first.key else (
            "what was measured" if without_timings(record) != without_timings(first) else None)
        if what:
            raise DiaryError(f"snapshot '{snap_id}': the shards disagree on {what} ({first_path} says "
                             f"otherwise)", file=path, line=1, hint=HINT_SHARDS)
    return first_path, first


def merge_records(project: Project, folders: Sequence[Path], *, verify: bool = False) -> MergeReport:
    """Check the union of the shards' records against this checkout; write it unless `verify`."""
    found = _shard_records(folders)
    known = {s.id for s in project.snapshots}
    for snap_id, copies in found.items():
        if snap_id not in known:
            raise DiaryError(f"a record of '{snap_id}', which is not a snapshot of this diary", file=copies[0][0],
                             line=1, hint=HINT_SHARDS)
    report = MergeReport(folders=len(folders))
    merged: dict[str, Record] = {}
    for snapshot in project.snapshots:
        if snapshot.id not in found:
            continue
        path, record = _agreed(snapshot.id, found[snapshot.id])
        expected = project.expected_keys[snapshot.id]
        if record.key != expected.key:
            changed = ", ".join(staleness(record, expected) or ["key"])
            raise DiaryError(f"snapshot '{snapshot.id}' was measured from other inputs than this checkout's "
                             f"({changed})", file=path, line=1, hint=HINT_SHARDS)
        merged[snapshot.id] = record
        report.taken.append((snapshot.id, path))
    if verify:
        missing = [s.id for s in project.snapshots if s.id not in merged]
        if missing:
            raise DiaryError(f"no shard verified {', '.join(missing)}", file=folders[0] if folders else None,
                             hint="every snapshot must be in the share of one 'diary check --rerun --shard K/N'")
        report.verified = list(merged)
        return report
    left_out = [s.id for s in project.snapshots if s.id not in merged
                and staleness(project.records.get(s.id), project.expected_keys[s.id]) is not None]
    if left_out:
        raise DiaryError(f"no shard measured {', '.join(left_out)}, and its committed record is stale or missing",
                         file=folders[0] if folders else None,
                         hint="measure it ('diary measure --only ID'), or merge the folders of every shard")
    for snap_id, record in merged.items():
        if write_record(project.root, record):
            report.written.append(snap_id)
    project.records.update(merged)
    return report
