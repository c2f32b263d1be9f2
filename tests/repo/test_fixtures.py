"""The tiny diary's committed records are fresh: the session's tiny build starts from them, measuring nothing."""

from __future__ import annotations

from diary.project.freshness import staleness
from diary.project.project import Project
from diarykit import FIXTURES_DIR

TINY = FIXTURES_DIR / "tinydiary"


def test_the_tiny_diarys_committed_records_are_fresh() -> None:
    project = Project.load(TINY)
    assert project.record_errors == []
    stale = {snap.id: staleness(project.records.get(snap.id), project.expected_keys[snap.id])
             for snap in project.snapshots}
    assert {snap_id: why for snap_id, why in stale.items() if why is not None} == {}, (
        "the tiny diary's records are stale (what changed is listed): run python tests/fixtures/remeasure.py "
        "and commit tests/fixtures/tinydiary/_data/records")

