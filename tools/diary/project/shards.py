"""Shares of the snapshots for CI runners: `--shard K/N` and `diary plan`.

A CI's job matrix (GitHub's `strategy.matrix`, GitLab's `parallel:`) runs N copies of one job; each
asks for its share here and measures or verifies only that. The plan is a pure function of the
checkout (the snapshots and their committed records), so every runner of one commit computes the
same plan without talking to the others: snapshots sorted by the CPU their records last reported,
longest first, each given to the shard with the least CPU so far (the longest-processing-time rule;
ties go to the lowest shard, then by id). A snapshot with no record is estimated from its nearest
ancestor that has one, else from the median of the known ones.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from diary.core.errors import DiaryError
from diary.project.discover import SnapshotMeta
from diary.project.freshness import staleness
from diary.project.project import Project
from diary.project.records import Record

MAX_SHARDS = 256  # GitHub's limit of jobs in one matrix
JOB_LIMIT_MINUTES = 360  # GitHub's limit of one job on its hosted runners
SETUP_MINUTES = 15  # a job's checkout, packages, install and the cold gate before its share runs
CPU_MARGIN = 2.0  # a shard's expected CPU times this: a slower or busier runner than the last one
UNKNOWN_CPU_S = 1.0  # the estimate when no snapshot has a record yet: only the order of shards matters
SPEC = re.compile(r"(\d{1,3})/(\d{1,3})")
# GitLab's `parallel: N` sets these (the index counts from 1); GitHub has no such variables: its
# workflow passes `--shard ${{ matrix.shard }}` from the plan.
CI_VARIABLES = ("CI_NODE_INDEX", "CI_NODE_TOTAL")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (from 1) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str | None, environ: Mapping[str, str] | None = None) -> Shard | None:
    """`K/N` (1 <= K <= N <= 256), or `ci`: the CI's own variables (GitLab's CI_NODE_INDEX/TOTAL);
    None for None (no --shard: everything)."""
    if text is None:
        return None
    if text == "ci":
        env = os.environ if environ is None else environ
        given = [env.get(name, "") for name in CI_VARIABLES]
        if not all(given):
            raise DiaryError(f"--shard ci: {' and '.join(CI_VARIABLES)} are not set",
                             hint="give the share as --shard K/N, or run in a job with 'parallel: N' (GitLab)")
        text = "/".join(given)
    match = SPEC.fullmatch(text.strip())
    if not match:
        raise DiaryError(f"--shard {text!r} is not K/N", hint="for example --shard 2/4: the second of four shares")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= count <= MAX_SHARDS or not 1 <= index <= count:
        raise DiaryError(f"--shard {text}: K must be from 1 to N and N from 1 to {MAX_SHARDS}",
                         hint="for example --shard 2/4")
    return Shard(index, count)


def record_cpu_s(record: Record) -> float:
    """What one snapshot cost the last time it was measured: its run, its suite and its probes."""
    return max(0.0, record.run.cpu_s) + max(0.0, record.tests.cpu_s) + max(0.0, record.probes.cpu_s)


def estimated_cpu_s(snapshots: Sequence[SnapshotMeta], records: Mapping[str, Record]) -> dict[str, float]:
    """Each snapshot's expected CPU: its record's, else its nearest measured ancestor's, else the median."""
    known = {s.id: record_cpu_s(records[s.id]) for s in snapshots if s.id in records}
    fallback = statistics.median(known.values()) if known else UNKNOWN_CPU_S
    parents = {s.id: s.parent for s in snapshots}
    estimates = {}
    for snapshot in snapshots:
        current: str | None = snapshot.id
        seen: set[str] = set()
        while current is not None and current not in known and current not in seen:
            seen.add(current)
            current = parents.get(current)
        estimates[snapshot.id] = known[current] if current in known else fallback
    return estimates


@dataclass(frozen=True)
class Plan:
    """Which snapshot goes to which shard (`shares[i]` is shard i + 1's), and the CPU each expects."""

    count: int
    shares: tuple[tuple[str, ...], ...]
    cpu_s: tuple[float, ...]
    timeout_minutes: int = JOB_LIMIT_MINUTES  # for one shard's CI job (job_timeout_minutes)

    def share(self, shard: Shard) -> tuple[str, ...]:
        if shard.count != self.count:
            raise ValueError(f"a plan of {self.count} shards asked for shard {shard}")
        return self.shares[shard.index - 1]

    @property
    def ideal_cpu_s(self) -> float:
        return sum(self.cpu_s) / self.count

    @property
    def balance(self) -> float:
        """The largest shard's CPU over the ideal share (1.0: perfectly even)."""
        return max(self.cpu_s) / self.ideal_cpu_s if self.ideal_cpu_s else 1.0

    def as_text(self) -> str:
        lines = [f"shard {index}/{self.count}: {cpu:.1f} s CPU expected: {', '.join(share) or '-'}"
                 for index, (share, cpu) in enumerate(zip(self.shares, self.cpu_s, strict=True), start=1)]
        lines.append(f"ideal share {self.ideal_cpu_s:.1f} s CPU; the largest shard is {self.balance:.2f}x of it; "
                     f"a shard's job may take {self.timeout_minutes} minutes")
        if self.timeout_minutes >= JOB_LIMIT_MINUTES:
            lines.append(f"warning: the largest shard may not finish within a CI job's {JOB_LIMIT_MINUTES} minutes: "
                         "raise 'shards:' in code/diary.yml")
        return "\n".join(lines)

    def shown(self, as_json: bool) -> str:
        """What `diary plan` prints (snapshot ids are letters, digits, '-' and '_': safe on a terminal)."""
        return self.as_json() if as_json else self.as_text()

    def as_json(self) -> str:
        return json.dumps(self.to_json_data(), separators=(",", ":"))

    def to_json_data(self) -> dict:
        """What a workflow reads with fromJSON: `matrix` is the list of `--shard` values."""
        return {
            "count": self.count,
            "matrix": [f"{index}/{self.count}" for index in range(1, self.count + 1)],
            "shards": [{"shard": f"{index}/{self.count}", "snapshots": list(share), "cpu_s": round(cpu, 3)}
                       for index, (share, cpu) in enumerate(zip(self.shares, self.cpu_s, strict=True), start=1)],
            "ideal_cpu_s": round(self.ideal_cpu_s, 3),
            "timeout_minutes": self.timeout_minutes,
            "balance": round(self.balance, 3),
        }


def plan_shards(cpu_s: Mapping[str, float], count: int) -> Plan:
    """Longest first, each to the least loaded shard; every share keeps the snapshots' given order."""
    if not 1 <= count <= MAX_SHARDS:
        raise DiaryError(f"{count} shards: the count must be from 1 to {MAX_SHARDS}")
    order = {snap_id: position for position, snap_id in enumerate(cpu_s)}
    loads = [0.0] * count
    members: list[list[str]] = [[] for _ in range(count)]
    for snap_id in sorted(cpu_s, key=lambda s: (-cpu_s[s], order[s])):
        target = min(range(count), key=lambda index: (loads[index], index))
        loads[target] += cpu_s[snap_id]
        members[target].append(snap_id)
    shares = tuple(tuple(sorted(share, key=order.__getitem__)) for share in members)
    return Plan(count, shares, tuple(loads))


def plan_for(snapshots: Sequence[SnapshotMeta], records: Mapping[str, Record], count: int,
             only: Sequence[str] | None = None) -> Plan:
    """The plan of `snapshots` (or of those in `only`, in snapshot order) over `count` shards."""
    estimates = estimated_cpu_s(snapshots, records)
    wanted = set(only) if only is not None else None
    return plan_shards({s.id: estimates[s.id] for s in snapshots if wanted is None or s.id in wanted}, count)


def job_timeout_minutes(largest_cpu_s: float, run_timeout_s: float, test_timeout_s: float) -> int:
    """A shard's CI job limit: its expected CPU with a margin, and room for one snapshot to reach its
    own `timeout:` and `test_timeout:` (a hung run is then a recorded result, not a killed job)."""
    seconds = CPU_MARGIN * largest_cpu_s + run_timeout_s + test_timeout_s
    return min(JOB_LIMIT_MINUTES, SETUP_MINUTES + math.ceil(seconds / 60))


def plan_of_project(project: Project, count: int | None, *, stale_only: bool = False) -> Plan:
    """`diary plan`: every snapshot (what `check --rerun` runs), or the stale ones (what `measure` runs);
    never more shards than snapshots to run (a shard with nothing to do is a runner for nothing)."""
    keys = project.expected_keys
    stale = [s.id for s in project.snapshots if staleness(project.records.get(s.id), keys[s.id]) is not None]
    wanted = stale if stale_only else [s.id for s in project.snapshots]
    shards = max(1, min(count or project.settings.shards, len(wanted)))
    plan = plan_for(project.snapshots, project.records, shards, wanted)
    settings = project.settings
    return dataclasses.replace(plan, timeout_minutes=job_timeout_minutes(max(plan.cpu_s), settings.timeout,
                                                                         settings.test_timeout))
