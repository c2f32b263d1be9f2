"""The judge of one `diary measure`: what ran is what was hashed, and the verdict is decided outside it.

Three guarantees, each against a way an author (or a pull request) could forge a verdict:

- **One copy, at hashing time.** `stage()` reads each file of a snapshot once; those bytes are
  hashed (the record's key), counted, checked against the rules, run and tested. An edit made
  during `diary measure` changes nothing that is judged.
- **Probe runs on fresh seeds.** Beside the configured seed, the program runs `probes` times on
  seeds drawn at measure time (and never stored), each compared with the baseline run on the same
  seed: printing a remembered output cannot pass. The record keeps only the verdict.
- **The judge stands outside the judged.** With a `driver` configured, the behavioural suite is
  split in two (see testsuite.py): the driver runs beside the program and only reports; the tests
  run in a sandbox that holds no code of the snapshot and decide.
"""

from __future__ import annotations

import hashlib
import secrets
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .config import Settings
from .discover import SnapshotMeta
from .errors import DiaryError
from .rules import Breach, check_comments, check_files, code_files
from .sandbox import RunResult, clean_environment, run_sandboxed

PROBE_SEED_LIMIT = 2**31


@dataclass(frozen=True)
class Staged:
    """A snapshot's files as read once, at hashing time: everything after works on these bytes."""

    meta: SnapshotMeta
    files: dict[str, bytes]
    content_hash: str

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def entry(self) -> str:
        return self.meta.entry

    def code(self) -> dict[str, str]:
        """Every file the program can load as code (rules.code_files), as text."""
        return code_files(self.files)

    def write(self, target: Path) -> None:
        """Write the staged copy into `target` (a run's or a test's private directory)."""
        for name, data in self.files.items():
            dest = target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)


def stage(snapshot: SnapshotMeta) -> Staged:
    """Read the snapshot's files once and hash those very bytes (the same hash as content_hash())."""
    files: dict[str, bytes] = {}
    digest = hashlib.sha256()
    for name in snapshot.files:
        try:
            data = (snapshot.directory / name).read_bytes()
        except OSError as error:
            raise DiaryError(f"cannot read {name} of snapshot {snapshot.id!r} ({error.strerror})",
                             file=snapshot.directory / name,
                             hint="a file changed while diary measure ran; run it again") from None
        files[name] = data
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    digest.update(f"entry={snapshot.entry}\0expect={snapshot.expect}".encode())
    return Staged(meta=snapshot, files=files, content_hash=digest.hexdigest())


def rule_breaches(staged: Staged, comments_kept: int, comments_total: int, settings: Settings) -> list[dict]:
    """Every named breach of the diary's rules, in file and line order (comments last)."""
    breaches: list[Breach] = check_files(staged.files)
    breaches.sort(key=lambda b: (b.file, b.line, b.rule))
    breaches += check_comments(comments_kept, comments_total, settings.comments_min_percent)
    return [b.as_dict() for b in breaches]


def probe_args(settings: Settings, seed: int) -> list[str]:
    """The program's arguments for a probe run: a fresh seed, at most `probe_steps` steps."""
    steps = min(settings.steps, settings.probe_steps)
    values = {"seed": seed, "steps": steps, "samples": settings.samples}
    return [arg.format(**values) for arg in settings.args]


@dataclass
class Judge:
    """What one `diary measure` shares between its snapshots: the probe seeds and the baseline's
    answers on them, computed once (lazily, under a lock: snapshots are judged in parallel)."""

    settings: Settings
    mode: str
    baseline: Staged
    seeds: list[int] = field(default_factory=list)
    # Two locks: a snapshot waiting for the baseline's answers need not wait for its probe runs.
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _answers_lock: threading.Lock = field(default_factory=threading.Lock)
    _baseline_probes: list[RunResult] | None = None
    _baseline_answers: tuple[bytes | None, RunResult] | None = None

    @classmethod
    def for_measure(cls, settings: Settings, mode: str, baseline: Staged) -> Judge:
        seeds: list[int] = []
        while len(seeds) < settings.probes:
            seed = secrets.randbelow(PROBE_SEED_LIMIT)
            if seed != settings.seed and seed not in seeds:
                seeds.append(seed)
        return cls(settings=settings, mode=mode, baseline=baseline, seeds=seeds)

    # Probe runs ---------------------------------------------------------------------------------

    def run(self, staged: Staged, args: list[str]) -> RunResult:
        """One run of the program in a private directory holding its staged files and the data."""
        settings = self.settings
        with tempfile.TemporaryDirectory(prefix=f"diary-probe-{staged.id}-") as tmp:
            work = Path(tmp)
            staged.write(work)
            copy_data(settings, work)
            return run_sandboxed(
                [settings.interpreter, staged.entry, *args], workdir=work, timeout=settings.timeout,
                memory_mb=settings.memory_mb, output_bytes=settings.output_kb * 1024,
                env=clean_environment(work), mode=self.mode,
            )

    def baseline_probes(self) -> list[RunResult]:
        with self._lock:
            if self._baseline_probes is None:
                self._baseline_probes = [self.run(self.baseline, probe_args(self.settings, s)) for s in self.seeds]
            return self._baseline_probes

    def probes(self, staged: Staged) -> dict:
        """The probe verdict: identical when every probe run printed what the baseline printed."""
        if not self.seeds:
            return {"runs": 0, "identical": True, "reason": "", "cpu_s": 0.0}
        expected = self.baseline_probes()
        if staged.id == self.baseline.id:
            ours = expected
        else:
            ours = [self.run(staged, probe_args(self.settings, seed)) for seed in self.seeds]
        verdict = self._compare(expected, ours)
        return {**verdict, "cpu_s": round(sum(run.cpu_s for run in ours), 2)}

    @staticmethod
    def _compare(expected: list[RunResult], ours: list[RunResult]) -> dict:
        for number, (want, got) in enumerate(zip(expected, ours, strict=True), start=1):
            if want.status != "ok":
                return {"runs": len(ours), "identical": False,
                        "reason": f"the baseline's probe run {number} {want.status}: {want.reason}"}
            if got.status != "ok":
                return {"runs": len(ours), "identical": False,
                        "reason": f"probe run {number} on a fresh seed {got.status}: {got.reason}"}
            if got.stdout_sha256 != want.stdout_sha256:
                return {"runs": len(ours), "identical": False,
                        "reason": f"probe run {number} on a fresh seed prints other output than the baseline"}
        return {"runs": len(ours), "identical": True, "reason": ""}

    # The driver's answers (see testsuite.py) ----------------------------------------------------

    def baseline_answers(
        self, drive: Callable[[Staged], tuple[bytes | None, RunResult]],
    ) -> tuple[bytes | None, RunResult]:
        """The baseline's answers on this measure's probe seed (and the driver's run), computed
        once by `drive(staged)`."""
        with self._answers_lock:
            if self._baseline_answers is None:
                self._baseline_answers = drive(self.baseline)
            return self._baseline_answers

    @property
    def driver_seed(self) -> int:
        """The seed of the driver's probe questions: fresh when probes are on, else the configured one."""
        return self.seeds[0] if self.seeds else self.settings.seed


def copy_data(settings: Settings, target: Path) -> None:
    """Copy the configured data files at their paths relative to `code/` (e.g. data/names.txt)."""
    for name in settings.data_files:
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((settings.code_dir / name).read_bytes())

