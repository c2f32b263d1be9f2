"""Migrations of records: MIGRATIONS[n] turns the plain data of a schema-n record into schema n + 1
(like asv's `update_to_2`). A record of an older schema is migrated step by step when it loads
(records.migrate), then checked against the current dataclasses; one with no path to the current
schema is refused, naming the file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Migration = Callable[[dict[str, Any]], dict[str, Any]]


def _update_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 kept the first lines of stdout only (as many as it kept is what is known of their
    count) and had no `normalise` part of its key."""
    run, produced_by = data.get("run"), data.get("produced_by")
    if isinstance(run, dict) and isinstance(run.get("stdout_lines"), list):
        data["run"] = {"stdout_line_count": len(run["stdout_lines"]), **run}
    if isinstance(produced_by, dict):  # unknown: the key no longer matches, the record is stale
        data["produced_by"] = {"normalise": "unknown", **produced_by}
    return {**data, "schema": 2}




def _add_sizes(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 -> 3: a record gained `size` (tokens and characters per file and in total) and each
    definition its tokens and characters. A schema-2 record was measured by an older tool, so its key
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
    ordered["schema"] = 3
    return ordered


MIGRATIONS: dict[int, Migration] = {1: _update_to_2, 2: _add_sizes}
