"""The console progress of a measure: a long snapshot is named while it runs, a quick one is not."""

from __future__ import annotations

import time

import pytest

from diary.measure import progress


def test_a_snapshot_still_running_is_named_and_a_quick_one_adds_no_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(progress, "STILL_RUNNING_S", 0.2)
    report = progress.console_progress()  # stderr is captured: not a terminal, so plain lines
    report("started", "01-quick", None)
    report("done", "01-quick", None)
    report("started", "02-slow", None)
    err, deadline = "", time.monotonic() + 10
    while not err and time.monotonic() < deadline:
        time.sleep(0.05)
        err = capsys.readouterr().err
    report("done", "02-slow", None)
    time.sleep(0.3)  # the quick one's timer, had it not been cancelled, would have spoken by now
    assert err + capsys.readouterr().err == "still measuring 02-slow after 0 s ...\n"
