"""Records as typed values: the YAML round trip, positioned errors, the schema and its migrations."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from diary.core.errors import DiaryError
from diary.project import records
from diary.project.records import Record, dump_record, load_record, parse_record
from diarykit import REPO

# This repository's committed records: the round trip below is about them (they are CI's cache).
REAL = sorted((REPO / "_data/records").glob("*.yml"))


@pytest.fixture
def a_record(tiny_site_root: Path) -> Path:
    """A record as `diary measure` wrote it: the tiny diary's baseline (not this diary's content)."""
    return tiny_site_root / "_data/records/00-base.yml"


def test_a_fixture_record_round_trips_byte_for_byte(a_record: Path) -> None:
    record = load_record(a_record)
    assert dump_record(record) == a_record.read_text(encoding="utf-8")
    assert parse_record(dump_record(record), a_record) == record


@pytest.mark.parametrize("path", REAL, ids=[p.stem for p in REAL])
def test_this_repositorys_committed_records_round_trip_byte_for_byte(path: Path) -> None:
    record = load_record(path)
    assert isinstance(record, Record) and record.id == path.stem
    assert dump_record(record) == path.read_text(encoding="utf-8")
    assert parse_record(dump_record(record), path) == record


def test_a_record_is_frozen(a_record: Path) -> None:
    record = load_record(a_record)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.verdict.status = "ok"  # type: ignore[misc]


def test_a_wrong_field_is_reported_at_its_line_and_column(a_record: Path, tmp_path: Path) -> None:
    text = a_record.read_text(encoding="utf-8").replace("  wall_s: ", "  wall_s: fast # ", 1)
    path = tmp_path / a_record.name
    with pytest.raises(DiaryError) as caught:
        parse_record(text, path)
    line = next(number for number, row in enumerate(text.split("\n"), 1) if "wall_s: fast" in row)
    assert (caught.value.line, caught.value.column) == (line, len("  wall_s: ") + 1)
    assert "record field 'run.wall_s' must be" in caught.value.message


def older_record(text: str) -> str:
    """A schema-0 record: what a tool without tests.cpu_s wrote."""
    data = yaml.safe_load(text)
    data["schema"] = 0
    del data["tests"]["cpu_s"]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def test_an_older_schema_without_a_migration_is_refused(a_record: Path, tmp_path: Path) -> None:
    path = tmp_path / a_record.name
    with pytest.raises(DiaryError, match=f"record has schema 0, this tool reads {records.RECORD_SCHEMA}"):
        parse_record(older_record(a_record.read_text(encoding="utf-8")), path)


def test_an_older_schema_is_migrated_when_it_loads(a_record: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def update_to_1(data: dict) -> dict:
        return {**data, "schema": 1, "tests": {**data["tests"], "cpu_s": 0.0}}

    monkeypatch.setitem(records.MIGRATIONS, 0, update_to_1)
    current = load_record(a_record)
    migrated = parse_record(older_record(a_record.read_text(encoding="utf-8")), tmp_path / a_record.name)
    assert migrated.schema == records.RECORD_SCHEMA and migrated.tests.cpu_s == 0.0
    # schema 2 -> 3 added tokens and characters, 0 until the record is measured again
    assert migrated.size.total.tokens == 0 and current.size.total.tokens > 0
    assert dataclasses.replace(migrated, tests=current.tests, size=current.size,
                               definitions=current.definitions) == current


def test_a_migration_that_breaks_the_shape_is_an_error_not_a_crash(a_record: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(records.MIGRATIONS, 0, lambda data: {**data, "schema": 1})  # forgets cpu_s
    with pytest.raises(DiaryError, match="record field 'tests' is missing the key 'cpu_s'"):
        parse_record(older_record(a_record.read_text(encoding="utf-8")), tmp_path / a_record.name)


def test_a_schema_1_record_gets_the_count_of_the_lines_it_kept(a_record: Path, tmp_path: Path) -> None:
    """Schema 1 kept the first 200 lines of stdout and no count: what it kept is what it knew."""
    data = yaml.safe_load(a_record.read_text(encoding="utf-8"))
    data["schema"] = 1
    del data["run"]["stdout_line_count"]
    migrated = parse_record(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), tmp_path / a_record.name)
    assert migrated.schema == records.RECORD_SCHEMA == 3
    assert migrated.run.stdout_line_count == len(migrated.run.stdout_lines) == len(data["run"]["stdout_lines"])


def test_a_schema_2_record_loads_without_sizes_until_measured_again(a_record: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(a_record.read_text(encoding="utf-8"))
    data["schema"] = 2
    del data["size"]
    for definition in data["definitions"]:
        del definition["tokens"], definition["characters"]
    migrated = parse_record(yaml.safe_dump(data, sort_keys=False), tmp_path / a_record.name)
    assert migrated.schema == records.RECORD_SCHEMA
    assert (migrated.size.total.tokens, migrated.size.total.characters) == (0, 0)
    assert set(migrated.size.files) == set(migrated.lines.files)
    assert all(d.tokens == 0 for d in migrated.definitions)
    assert list(migrated.to_data())[:7] == ["schema", "id", "key", "produced_by", "snapshot", "lines", "size"]
