"""Migrations of records: MIGRATIONS[n] turns the plain data of a schema-n record into schema n + 1
(records.migrate applies them step by step when a record loads)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Migration = Callable[[dict[str, Any]], dict[str, Any]]


def _add_sizes(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 -> 2: a record gained `size` (tokens and characters per file and in total) and each
    definition its tokens and characters. A schema-1 record was measured by an older tool, so its key
    is stale and it is measured again; until then it says 0 of each."""
    lines = data.get("lines")
    files = lines.get("files") if isinstance(lines, dict) else None
    zero = {"tokens": 0, "characters": 0}
    size = {"total": dict(zero), "files": {name: dict(zero) for name in files} if isinstance(files, dict) else {}}
    ordered: dict[str, Any] = {}
    for key, value in data.items():  # the record's own order: size right after lines
        if key != "size":
            ordered[key] = value
        if key == "lines":
            ordered["size"] = size
    definitions = ordered.get("definitions")
    if isinstance(definitions, list):
        ordered["definitions"] = [{**d, **zero} if isinstance(d, dict) else d for d in definitions]
    ordered["schema"] = 2
    return ordered


MIGRATIONS: dict[int, Migration] = {1: _add_sizes}
