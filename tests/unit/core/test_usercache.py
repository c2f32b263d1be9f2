"""The user's cache (usercache.py) gives the answers the code computes, and a damaged entry is a miss."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from diary.core import usercache
from diary.project.records import load_record, parse_record
from diary.site import highlight, hlcache
from diarykit import REPO


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "diary"


def entries(cache: Path, kind: str) -> list[Path]:
    return sorted((cache / kind).rglob("*.json"))


def test_a_cached_record_is_the_parsed_record_and_a_damaged_entry_is_a_miss(
        private_cache: Path, tiny_site_root: Path, tmp_path: Path) -> None:
    path = tmp_path / "02-fixed.yml"
    shutil.copyfile(tiny_site_root / "_data" / "records" / "02-fixed.yml", path)
    parsed = parse_record(path.read_text(encoding="utf-8"), path)
    assert load_record(path) == parsed  # a miss: parsed, checked and stored
    [entry] = entries(private_cache, "records")
    assert load_record(path) == parsed  # a hit
    entry.write_text('{"schema": "damaged"', encoding="utf-8")
    assert load_record(path) == parsed


def test_an_edited_record_is_parsed_again(private_cache: Path, tiny_site_root: Path, tmp_path: Path) -> None:
    path = tmp_path / "02-fixed.yml"
    shutil.copyfile(tiny_site_root / "_data" / "records" / "02-fixed.yml", path)
    load_record(path)
    text = path.read_text(encoding="utf-8")
    assert "\nid: 02-fixed\n" in text
    path.write_text(text.replace("\nid: 02-fixed\n", "\nid: 02-other\n"), encoding="utf-8")
    with pytest.raises(Exception, match="does not match its file name"):
        load_record(path)  # the cache answers only for the text it was made from


def test_cached_highlighting_is_pygments_highlighting(private_cache: Path) -> None:
    # A long module that is not this diary's content (the behavioural suite's driver).
    text = (REPO / "tests" / "program" / "driver.py").read_text(encoding="utf-8")
    assert len(text) >= hlcache.SHORT_TEXT
    fresh = highlight.highlight_lines(text, "python")
    assert hlcache.highlight_lines(text, "python") == fresh
    [entry] = entries(private_cache, "highlight")
    assert hlcache.highlight_lines(text, "python") == fresh
    entry.write_text('{"lines": [1, 2], "newline_at_end": true}', encoding="utf-8")
    assert hlcache.highlight_lines(text, "python") == fresh
    assert hlcache.highlight_lines(text + "# one more\n", "python") == highlight.highlight_lines(
        text + "# one more\n", "python")


def test_an_unwritable_cache_is_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    usercache.store("records", "ab" * 32, {"x": 1})
    assert usercache.load("records", "ab" * 32) is None
