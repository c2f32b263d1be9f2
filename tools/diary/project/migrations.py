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


MIGRATIONS: dict[int, Migration] = {1: _update_to_2}
