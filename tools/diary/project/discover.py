"""Stage 1: find the snapshots under `code/snapshots/`, read their metadata, order them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from diary.core.contract import SNAPSHOT_ID_HINT, parse_iso_date, snapshot_id_problem
from diary.core.errors import DiaryError
from diary.core.safefs import HARD_MAX_FILE_BYTES, list_files, read_bytes
from diary.core.yamlio import Fields, read_yaml
from diary.project.config import DataFile, Settings, check_data_files, placeholders_of, read_contract

META_NAME = "snapshot.yml"
ALLOWED = {"id", "title", "date", "parent", "note", "expect", "entry", "args", "data_files", "renames"}
# A definition as `renames:` names it: `Value`, or with its module, `pairs.count_pairs` (a module of a
# package: `pkg.sub.name`).
_DEFINITION_NAME = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*")
SKIP_DIRS = {"__pycache__", ".pytest_cache"}
# Data files' digests in this process, by path and the file's identity (device, inode, size, change
# time): every snapshot's key hashes the data it reads, and 200 snapshots read one names.txt.
_DATA_DIGESTS: dict[tuple[str, int, int, int, int], bytes] = {}


def data_digest(path: Path) -> bytes:
    """sha256 of a data file's bytes (read as safefs reads them: no link, bounded), once per
    version of the file in this process."""
    try:
        info = os.lstat(path)
        identity = (str(path), info.st_dev, info.st_ino, info.st_size, info.st_ctime_ns)
    except OSError:
        identity = None
    if identity is not None and identity in _DATA_DIGESTS:
        return _DATA_DIGESTS[identity]
    digest = hashlib.sha256(read_bytes(path, HARD_MAX_FILE_BYTES)).digest()
    if identity is not None:
        _DATA_DIGESTS[identity] = digest
    return digest


@dataclass(frozen=True)
class SnapshotMeta:
    """One snapshot: where it lives, what its author says about it, and its files."""

    id: str
    title: str
    date: dt.date
    parent: str | None
    note: str
    expect: str  # "ok" or "broken"
    entry: str
    directory: Path
    files: tuple[str, ...]  # source files relative to `directory`, sorted
    meta_path: Path
    # Definitions renamed since the parent, declared by the author: (name in the parent, name here).
    # Checked against the definitions when the site is generated (site/model.py: follow_definitions).
    renames: tuple[tuple[str, str], ...] = ()
    # The program's contract for this snapshot: its own in snapshot.yml, else the diary's.
    args: tuple[str, ...] = ()
    data_files: tuple[DataFile, ...] = ()
    code_dir: Path | None = None  # where data files' sources live (code/)

    @property
    def placeholders(self) -> set[str]:
        """Which of {seed}, {steps}, {samples} this snapshot's arguments use."""
        return placeholders_of(self.args)

    def contract_digest(self) -> bytes:
        """What, beside its files, decides how this snapshot runs: entry, arguments, and the data
        files (where each goes and its bytes). Part of its content hash, hence of its key. What the
        author says of it (title, note, parent, `expect:`) is not: no run depends on it."""
        digest = hashlib.sha256()
        digest.update(f"entry={self.entry}\0args={json.dumps(list(self.args))}".encode())
        for file in self.data_files:
            digest.update(f"\0data={file.source}\0to={file.target}\0".encode())
            if self.code_dir is not None:
                digest.update(data_digest(self.code_dir / file.source))
        return digest.hexdigest().encode()

    @property
    def expected_broken(self) -> bool:
        return self.expect == "broken"

    def read_sources(self) -> dict[str, bytes]:
        return {name: (self.directory / name).read_bytes() for name in self.files}

    def content_hash(self) -> str:
        """sha256 over file names and bytes, plus the contract that changes how it runs (the
        record's key; judge.stage computes the same from the bytes it stages)."""
        digest = files_digest(self.read_sources())
        digest.update(self.contract_digest())
        return digest.hexdigest()


def files_digest(files: dict[str, bytes]) -> hashlib._Hash:
    """sha256 over a snapshot's files, names and bytes, in name order: the one recipe of a
    snapshot's content hash and of what the rules' cache is keyed by."""
    digest = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest


def _skipped(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name in SKIP_DIRS or name.startswith(".") or rel == META_NAME or name.endswith(".pyc")


def _source_files(directory: Path, settings: Settings) -> tuple[str, ...]:
    # Links, devices, FIFOs, huge files, too many files: one DiaryError naming the file (safefs).
    return list_files(directory, settings.root, skip=_skipped, max_files=settings.max_files,
                      max_bytes=settings.max_file_bytes)


def read_snapshot(directory: Path, settings: Settings) -> SnapshotMeta:
    """Read one snapshot's `snapshot.yml`; every problem is a DiaryError naming file and line."""
    meta_path = directory / META_NAME
    located = read_yaml(meta_path)
    f = Fields(located, "the snapshot metadata", ALLOWED)
    snap_id = str(f.get("id", (str, int), directory.name))
    # The one id rule (contract.py): the id names files and pages and is one segment of a var key.
    problem = snapshot_id_problem(snap_id)
    if problem is not None:
        raise f.error("id", problem, hint=SNAPSHOT_ID_HINT)
    title = f.get("title", str, required=True)
    raw_date = f.get("date", (dt.date, str), required=True)
    try:
        raw_date = parse_iso_date(raw_date)
    except ValueError:
        raise f.error("date", f"{raw_date!r} is not an ISO date", hint="write it as YYYY-MM-DD") from None
    parent = f.get("parent", (str, int), None)
    expect = f.get("expect", str, "ok")
    if expect not in ("ok", "broken"):
        raise f.error("expect", f"must be 'ok' or 'broken', not {expect!r}")
    entry, args, data_files = read_contract(f, settings.entry, settings.args, settings.data_files)
    if data_files is not settings.data_files:
        check_data_files(f, settings, data_files)
    files = _source_files(directory, settings)
    for file in data_files:  # a data file never replaces one of the snapshot's own files
        if any(name == file.target or name.startswith(file.target + "/") for name in files):
            raise f.error("data_files", f"'to: {file.target}' is a file of snapshot {snap_id!r}",
                          hint="copy the data file to another name")
    if entry not in files:
        raise DiaryError(
            f"entry file {entry!r} is missing from snapshot {snap_id!r}",
            file=meta_path, line=located.line_of("entry") or 1,
            hint=f"add {str(directory / entry)!r} or set 'entry:' to one of: {', '.join(files) or 'no files'}",
        )
    renames = _renames(f, parent is not None)
    return SnapshotMeta(
        id=snap_id, title=title.strip(), date=raw_date, parent=str(parent) if parent is not None else None,
        note=str(f.get("note", str, "")).strip(), expect=expect, entry=entry, directory=directory,
        files=files, meta_path=meta_path, renames=renames, args=args, data_files=data_files,
        code_dir=settings.code_dir,
    )


def _renames(f: Fields, has_parent: bool) -> tuple[tuple[str, str], ...]:
    """`renames: {OLD: NEW, ...}`: definitions of the parent (OLD) that this snapshot calls NEW."""
    value = f.get("renames", dict, {})
    if value and not has_parent:
        raise f.error("renames", "the baseline has no parent to rename from",
                      hint="declare renames in the snapshot that renames, against its parent")
    pairs: list[tuple[str, str]] = []
    targets: set[str] = set()
    for old, new in value.items():
        for name in (old, new):
            if not isinstance(name, str) or not _DEFINITION_NAME.fullmatch(name):
                raise f.error("renames", f"{name!r} is not a definition's name",
                              hint="map NAME or MODULE.NAME in the parent to NAME or MODULE.NAME here, "
                                   "e.g. {V: Value} or {pairs.count_pairs: tally.count}")
        if new in targets:
            raise f.error("renames", f"two definitions are renamed to {new!r}",
                          hint="each definition of this snapshot continues at most one of the parent's")
        targets.add(new)
        pairs.append((old, new))
    return tuple(pairs)


def discover_snapshots(settings: Settings) -> list[SnapshotMeta]:
    """Every snapshot, parents before children (siblings by date, then id); exactly one baseline."""
    base = settings.snapshots_dir
    dirs = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    snaps: dict[str, SnapshotMeta] = {}
    for directory in dirs:
        if not (directory / META_NAME).exists():
            raise DiaryError(
                f"snapshot directory '{directory.name}' has no {META_NAME}", file=directory / META_NAME,
                hint="add one (diary new snapshot ID --from PARENT writes it) or move the directory away",
            )
        snap = read_snapshot(directory, settings)
        if snap.id in snaps:
            other = snaps[snap.id]
            raise DiaryError(
                f"duplicate snapshot id '{snap.id}' (also used by {other.meta_path})", file=snap.meta_path,
                line=1, hint="give each snapshot its own id",
            )
        snaps[snap.id] = snap
    if not snaps:
        raise DiaryError("no snapshots found", file=base, hint="add code/snapshots/<id>/snapshot.yml")
    for snap in snaps.values():
        if snap.parent is not None and snap.parent not in snaps:
            raise DiaryError(
                f"parent {snap.parent!r} of snapshot {snap.id!r} does not exist", file=snap.meta_path,
                line=_line(snap, "parent"), hint="known ids: " + ", ".join(snaps),
            )
    roots = [s for s in snaps.values() if s.parent is None]
    reach_a_root: set[str] = set()
    for snap in snaps.values():  # a cycle never reaches a root
        seen = {snap.id: None}  # ordered, with set lookups: chains may be thousands long
        current = snap
        while current.parent is not None and current.id not in reach_a_root:
            current = snaps[current.parent]
            if current.id in seen:
                path = list(seen)
                cycle = " -> ".join([*path[path.index(current.id):], current.id])
                raise DiaryError(
                    f"snapshot parents form a cycle: {cycle}", file=snap.meta_path, line=_line(snap, "parent"),
                    hint="one snapshot in the chain must have an earlier parent, or none (the baseline)",
                )
            seen[current.id] = None
        reach_a_root.update(seen)
    if len(roots) != 1:
        names = ", ".join(s.id for s in roots)
        raise DiaryError(
            f"exactly one snapshot (the baseline) must have no parent; found {len(roots)}: {names}",
            file=roots[-1].meta_path if roots else base, hint="give the others a 'parent:'",
        )
    ordered: list[SnapshotMeta] = []
    children: dict[str, list[SnapshotMeta]] = {}
    for snap in sorted(snaps.values(), key=lambda s: (s.date, s.id)):
        if snap.parent is not None:
            children.setdefault(snap.parent, []).append(snap)
    pending = [roots[0]]  # depth first with a stack: a chain of thousands must not recurse
    while pending:
        snap = pending.pop()
        ordered.append(snap)
        pending.extend(reversed(children.get(snap.id, [])))
    return ordered


def alternatives(snapshots: list[SnapshotMeta]) -> dict[str, list[str]]:
    """Each parent with several children, and those children in order: alternatives of one another
    (each another way on from the parent), not steps after each other."""
    children: dict[str, list[str]] = {}
    for snap in snapshots:
        if snap.parent is not None:
            children.setdefault(snap.parent, []).append(snap.id)
    return {parent: ids for parent, ids in children.items() if len(ids) > 1}


def _line(snap: SnapshotMeta, key: str) -> int | None:
    return read_yaml(snap.meta_path).line_of(key)
