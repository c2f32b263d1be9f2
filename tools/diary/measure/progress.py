"""The progress of `diary measure` on the console: a rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading

from diary.measure.pipeline import Progress
from diary.project.records import Record

STILL_RUNNING_S = 10.0


def console_progress() -> Progress:
    """A progress callback: a rich bar on a terminal, plain lines otherwise."""
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("measuring"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                       TextColumn("{task.description}"), TimeElapsedColumn(), transient=True,
                       console=Console(stderr=True))
        task = bar.add_task("", total=None)

        def update(event: str, snapshot_id: str, record: Record | None) -> None:
            if event == "planned":
                bar.update(task, total=int(snapshot_id))
                bar.start()
            elif event == "done":
                bar.update(task, advance=1, description=snapshot_id)
                if bar.finished:
                    bar.stop()

        return update

    from diary.core.escape import for_terminal

    # A snapshot still running after STILL_RUNNING_S is named, so a CI job cut off by its time limit
    # shows which one it was; a quick one, or a bad input found at once, adds no line.
    timers: dict[str, threading.Timer] = {}

    def still_running(snapshot_id: str) -> None:
        print(f"still measuring {for_terminal(snapshot_id)} after {STILL_RUNNING_S:.0f} s ...",
              file=sys.stderr, flush=True)

    def plain(event: str, snapshot_id: str, record: Record | None) -> None:
        if event == "started":
            timers[snapshot_id] = threading.Timer(STILL_RUNNING_S, still_running, (snapshot_id,))
            timers[snapshot_id].daemon = True
            timers[snapshot_id].start()
        elif event == "done" and snapshot_id in timers:
            timers.pop(snapshot_id).cancel()
        if event == "done" and record is not None:
            tests = "no suite" if record.tests.judged == "none" else f"{record.tests.seconds:.2f} s tests"
            print(f"measured {for_terminal(snapshot_id)}: {record.verdict.status} "
                  f"({record.run.cpu_s:.2f} s CPU run, {tests})", file=sys.stderr, flush=True)

    return plain
