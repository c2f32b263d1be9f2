"""Stage "record": one YAML file per snapshot under `_data/records/`, keyed by what produced it.

Like asv's results, a record carries a schema version and the key of what produced it (content hash
of the snapshot + settings + measuring code), so an unchanged snapshot is never measured again. A
record that does not load is never silently replaced: the error names file, line and column, and
only `--force` overwrites it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from diary.core import usercache
from diary.core.atomic import write_text_atomic
from diary.core.contract import RECORDS_DIR
from diary.core.errors import DiaryError
from diary.core.safefs import no_links
from diary.core.shape import check_keys, check_shape, from_data, shape_of, to_data
from diary.core.yamlio import compose_and_load, dump_yaml, read_utf8
from diary.project.linecounts import Counts, Lines, RecordInvariantError, Sizes, check_classes
from diary.project.migrations import MIGRATIONS

RECORD_SCHEMA = 3
HINT = "restore the file from git, or run 'diary measure --force' to measure it again"

# The parts of a record, in the order they are written. A field typed `float` also holds an int (a
# record keeps the number as it was written); `tuple[X, ...]` is a YAML list.


@dataclass(frozen=True)
class Breach:
    """One broken rule of the diary at one place: its name, where, and what was found."""

    rule: str
    file: str
    line: int
    what: str

    def as_dict(self) -> dict:
        return {"rule": self.rule, "file": self.file, "line": self.line, "what": self.what}


@dataclass(frozen=True)
class ProducedBy:
    """What a record was measured from; its hash is the record's key (see freshness.expected_key)."""

    tool: str
    measure: str
    settings: str
    normalise: str  # the declared normalisations: a change re-derives the record from kept output
    content: str
    baseline: str
    suite: str


@dataclass(frozen=True)
class SnapshotInfo:
    title: str
    date: str
    parent: str | None
    note: str
    expect: str
    entry: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class Definition:
    """A top-level class or function: where it is and its line counts."""

    name: str
    kind: str
    file: str
    start: int
    end: int
    physical: int
    blank: int
    comment: int
    docstring: int
    code: int
    tokens: int
    characters: int

    def __post_init__(self) -> None:
        check_classes(self.physical, self.blank, self.comment, self.docstring, self.code)
        if not 1 <= self.start <= self.end:
            raise RecordInvariantError(f"definition '{self.name}' spans lines {self.start} to {self.end}")

    @property
    def counts(self) -> Counts:
        return Counts(self.physical, self.blank, self.comment, self.docstring, self.code)


@dataclass(frozen=True)
class Comments:
    """How many of the baseline's comments a snapshot kept; `percent` follows from the two counts."""

    total: int
    kept: int
    percent: float
    dropped: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.kept <= self.total:
            raise RecordInvariantError(f"{self.kept} of {self.total} comments kept")
        if self.percent != retention_percent(self.kept, self.total):
            raise RecordInvariantError(f"{self.kept} of {self.total} comments is not {self.percent} %")

    @classmethod
    def of(cls, kept: int, total: int, dropped: tuple[str, ...]) -> Comments:
        return cls(total, kept, retention_percent(kept, total), dropped)


def retention_percent(kept: int, total: int) -> float:
    return round(100.0 * kept / total, 1) if total else 100.0


@dataclass(frozen=True)
class Tab:
    file: str
    line: int


@dataclass(frozen=True)
class Run:
    status: str
    reason: str
    exit_code: int | None
    signal: str | None
    wall_s: float
    cpu_s: float
    peak_mb: float
    sandbox: str
    command: str
    stdout_sha256: str  # of the raw bytes, whatever is normalised or shown
    stdout_normalised: dict[str, str]  # sha256[:16] of stdout under each combination of `normalise:`
    stdout_truncated: bool
    # The lines as a terminal shows them: all, or the head and the tail of `stdout_line_count`
    # (normalise.kept_lines: what a program prints last, its result, stays visible).
    stdout_lines: tuple[str, ...]
    stdout_line_count: int
    stderr_excerpt: str


@dataclass(frozen=True)
class Difference:
    line: int
    expected: str
    actual: str


@dataclass(frozen=True)
class Behaviour:
    identical: bool  # after the normalisations in `normalised_by`
    byte_identical: bool  # the raw stdout hashes agree
    normalised_by: tuple[str, ...]  # the fewest declared normalisations identity needed; () when byte identical
    compared_with: str
    first_difference: None | Difference


@dataclass(frozen=True)
class Failure:
    test: str
    message: str


@dataclass(frozen=True)
class Tests:
    status: str
    passed: int
    failed: int
    errors: int
    skipped: int
    seconds: float
    cpu_s: float
    reason: str
    failures: tuple[Failure, ...]
    judged: str  # driver (the judge outside the judged), in-process (forgeable: the record says so) or none
    ran: tuple[str, ...]  # the tests that ran (passed, failed or in error), as pytest names them


@dataclass(frozen=True)
class Probes:
    """Runs on seeds drawn at measure time, compared with the baseline's (the seeds are not kept)."""

    runs: int
    identical: bool
    reason: str
    cpu_s: float
    status: str  # passed | failed | not run (the reason says why: never counted as passed)


# The probes of a snapshot whose suite asked for none (no suite, or a suite without a driver).
NO_PROBES = Probes(runs=0, identical=True, reason="no probe was asked for", cpu_s=0.0, status="not run")


@dataclass(frozen=True)
class Verdict:
    status: str
    expected: str
    surprise: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Record:
    """One snapshot's measurement, as written to `_data/records/<id>.yml`."""

    schema: int
    id: str
    key: str
    produced_by: ProducedBy
    snapshot: SnapshotInfo
    lines: Lines
    size: Sizes  # code tokens and characters beside the lines (measure/size.py)
    definitions: tuple[Definition, ...]
    comments: Comments
    tabs: tuple[Tab, ...]
    run: Run
    behaviour: Behaviour
    tests: Tests
    probes: Probes
    breaches: tuple[Breach, ...]
    verdict: Verdict

    @property
    def broken(self) -> bool:
        return self.verdict.status != "ok"

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Record:
        """A record from plain data of the right shape (what `measure` assembles, or a validated file)."""
        record: Record = from_data(cls, data)
        return record

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = to_data(self)
        return data


def migrate(data: dict[str, Any], file: Path) -> dict[str, Any]:
    schema = data.get("schema")
    while isinstance(schema, int) and not isinstance(schema, bool) and schema in MIGRATIONS \
            and schema < RECORD_SCHEMA:
        data = MIGRATIONS[schema](dict(data))
        if data.get("schema") != schema + 1:
            raise DiaryError(f"the migration of a schema-{schema} record did not produce schema {schema + 1}",
                             file=file, line=1, hint=HINT)
        schema = data["schema"]
    return data


RECORD_SHAPE = shape_of(Record)


BEST_MEASURES = {"code": "code lines", "tokens": "code tokens"}  # what "shortest" means, and its name


def best_snapshot(records: dict[str, Record], order: list[str], measure: str = "code") -> str | None:
    """The best snapshot: the shortest that works (fewest code lines, or code tokens with
    `measure="tokens"`; the earlier in `order` on a tie), or None when none does. Children of one
    parent are alternatives, so the last snapshot is not "the result": the best is what the diary
    achieved (in a chain that only shortens, the last working one)."""
    size = {"code": lambda r: r.lines.total.code, "tokens": lambda r: r.size.total.tokens}[measure]
    working = [snap_id for snap_id in order if snap_id in records and records[snap_id].verdict.status == "ok"]
    return min(working, key=lambda snap_id: size(records[snap_id]), default=None)


# What differs between two honest measurements of the same files: timings and memory.
VOLATILE = {"run": ("wall_s", "cpu_s", "peak_mb"), "tests": ("seconds", "cpu_s"), "probes": ("cpu_s",)}


def without_timings(record: Record) -> dict[str, Any]:
    """What two honest runs of the same files share: the data without VOLATILE, and failing tests by name
    (the suite's questions are drawn afresh at every measure: "1032 of 1328 gradients differ" is 1040 next)."""
    data = record.to_data()
    for part, fields in VOLATILE.items():
        data[part] = {key: value for key, value in data[part].items() if key not in fields}
    data["tests"]["failures"] = [failure["test"] for failure in data["tests"]["failures"]]
    return data


def records_dir(root: Path) -> Path:
    return no_links(root, Path(root) / RECORDS_DIR)  # a committed link out is refused (safefs)


def record_path(root: Path, snapshot_id: str) -> Path:
    return records_dir(root) / f"{snapshot_id}.yml"


def parse_record(text: str, file: Path) -> Record:
    """Parse and validate one record; any problem is a DiaryError naming file, line and column."""
    hint = HINT
    if not text.strip():
        raise DiaryError("record file is empty (was a write interrupted?)", file=file, line=1, hint=hint)
    node, value = compose_and_load(text, file, what="record is ", hint=hint,
                                   check=lambda node: check_keys(node, file))
    if not isinstance(value, dict) or not isinstance(node, yaml.MappingNode):
        raise DiaryError("record must be a YAML mapping", file=file, line=1, column=1, hint=hint)
    schema = value.get("schema")
    if isinstance(schema, int) and not isinstance(schema, bool) and schema > RECORD_SCHEMA:
        raise DiaryError(
            f"record has schema {schema}, newer than this tool's {RECORD_SCHEMA}", file=file, line=1,
            hint="upgrade the diary tool (pip install -U -e .) or run 'diary measure --force'",
        )
    migrated = migrate(value, file)
    if migrated.get("schema") != RECORD_SCHEMA:
        raise DiaryError(f"record has schema {schema!r}, this tool reads {RECORD_SCHEMA}", file=file, line=1,
                         hint=hint)
    if migrated is value:
        check_shape(value, node, RECORD_SHAPE, "", file)
    else:  # the nodes are the old schema's: check the migrated data against nodes of its own
        migrated_node = yaml.compose(dump_yaml(migrated))
        assert migrated_node is not None  # the dump of a mapping
        check_shape(migrated, migrated_node, RECORD_SHAPE, "", file)
    if migrated["id"] != file.stem:
        raise DiaryError(f"record id '{migrated['id']}' does not match its file name", file=file, line=2,
                         hint=hint)
    try:
        return Record.from_data(migrated)
    except RecordInvariantError as error:
        raise DiaryError(f"record does not add up: {error}", file=file, line=_line_of_part(node, str(error)),
                         hint=hint) from None


def _line_of_part(node: yaml.MappingNode, message: str) -> int:
    """The line of the part whose numbers do not add up (`definitions`, `comments` or `lines`)."""
    part = "definitions" if message.startswith("definition") else "comments" if "comments" in message else "lines"
    for key, _ in node.value:
        if key.value == part:
            return int(key.start_mark.line) + 1
    return 1


def load_record(path: Path) -> Record:
    """One validated record; any problem is a DiaryError naming file, line and column.

    A text that validated before (same file name, same bytes, same tool code) is not parsed again:
    its data comes from the user's cache (usercache.py); parsing was most of a no-op command's time."""
    text = read_utf8(path, hint="restore the file from git, or run 'diary measure --force'")
    key = usercache.key_of(_record_code_salt(), path.name, text)
    return usercache.remembered("records", key, lambda: parse_record(text, path), encode=Record.to_data,
                                decode=_record_from_cache)


def _record_from_cache(data: Any) -> Record:
    if not isinstance(data, dict):
        raise TypeError("a record is a mapping")
    try:
        return Record.from_data(data)
    except Exception as error:  # a damaged entry is a miss: the text is parsed and checked again
        raise ValueError("a damaged entry") from error


def _record_code_salt() -> str:
    import sys

    from diary.core import shape, yamlio

    return usercache.code_salt(sys.modules[__name__], shape, yamlio) + yaml.__version__


def load_records_collecting(root: Path) -> tuple[dict[str, Record], list[DiaryError]]:
    """Every record under `_data/records/` that loads, by id, and the problem of each one that does not."""
    folder = records_dir(root)
    records: dict[str, Record] = {}
    errors: list[DiaryError] = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.yml")):
            try:
                records[path.stem] = load_record(path)
            except DiaryError as exc:
                errors.append(exc)
    return records, errors


def load_records(root: Path, *, force: bool = False) -> dict[str, Record]:
    """Every record under `_data/records/`, by id. With `force`, unreadable records are skipped."""
    records, errors = load_records_collecting(root)
    if errors and not force:
        raise errors[0]
    return records


def dump_record(record: Record) -> str:
    return dump_yaml(record.to_data())


def write_record(root: Path, record: Record) -> bool:
    """Write one record atomically; return whether the file changed."""
    return write_text_atomic(record_path(root, record.id), dump_record(record))


def remove_record(root: Path, snapshot_id: str) -> None:
    record_path(root, snapshot_id).unlink(missing_ok=True)
