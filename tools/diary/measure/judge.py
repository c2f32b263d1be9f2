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

import dataclasses
import json
import os
import secrets
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from diary.core.errors import DiaryError
from diary.core.safefs import copy_file
from diary.measure.rules import check_comments, check_files, check_line_length, code_files
from diary.measure.sandbox.run import clean_environment, raise_for_infrastructure, run_sandboxed
from diary.measure.sandbox.supervise import RunResult
from diary.project.config import Settings, fill_placeholders
from diary.project.discover import SnapshotMeta, files_digest
from diary.project.normalise import label, normalised_hashes, scrub_paths
from diary.project.records import Breach

# Probe seeds are drawn below this: far too many to precompute and paste (a million runs of the
# program), small enough that a program whose work grows with its seed stays within its timeout.
PROBE_SEED_LIMIT = 1_000_000

# The run-time guard of probe runs and of the driver: `python -c GUARD CONFIG SCRIPT ARGS...` runs
# SCRIPT as __main__ under an audit hook (which Python code cannot remove) that stops, with a
# PermissionError naming the rule, what the static rules (rules.py) look for in the source:
# - code made at run time: compile/exec/eval asked for by the snapshot's code (or by code compiled
#   from a string), directly or through the standard library (typing.ForwardRef evaluates strings);
#   importing a module, the snapshot's own included, stays allowed;
# - reading the repository (the baseline, other snapshots, the records): any open or directory
#   listing under CONFIG["block"] outside CONFIG["allow"];
# - starting other programs while any of the snapshot's code is on the stack.
# It is a second floor, not a proof: a call made for the program from another thread (a thread
# whose target is exec) is not seen; the probes' comparison with the baseline still is.
GUARD = r"""
import json, os, runpy, sys
config = json.loads(sys.argv[1])
script = os.path.abspath(sys.argv[2])
code_dirs = tuple(os.path.realpath(d) + os.sep for d in config["code"])
blocked = tuple(os.path.realpath(d) + os.sep for d in config["block"])
allowed = tuple(os.path.realpath(d) + os.sep for d in config["allow"])
SPAWN = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
         "pty.spawn", "ctypes.dlopen", "ctypes.cdata")
LISTING = ("open", "os.listdir", "os.scandir", "os.chdir", "shutil.copyfile", "shutil.copytree")

guard_frame = sys._getframe()

def program_code(frame):
    filename = frame.f_code.co_filename
    if frame is guard_frame or filename.startswith("<frozen "):
        return False
    return filename.startswith("<") or os.path.realpath(filename).startswith(code_dirs)

def refuse(rule, what):
    raise PermissionError(f"diary guard: rule {rule}: {what}")

def hook(event, args):
    if event in ("compile", "exec"):
        # Refused when the program asked for it, directly or through the standard library; allowed
        # when an import stands between (a module's own body, e.g. a namedtuple made by shutil).
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename.startswith("<frozen importlib"):
                break
            if program_code(frame):
                refuse("dynamic-code", f"{event} on behalf of {os.path.basename(frame.f_code.co_filename)}")
            frame = frame.f_back
    elif event in LISTING and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.realpath(os.fsdecode(args[0])) + os.sep
        if path.startswith(blocked) and not path.startswith(allowed):
            refuse("outside-import", f"{event} of {path.rstrip(os.sep)}, outside the snapshot")
    elif event.startswith(SPAWN):
        frame = sys._getframe(1)
        while frame is not None:
            if program_code(frame):
                refuse("code-loader", f"{event}: the program may not start other programs")
            frame = frame.f_back

sys.argv = sys.argv[2:]
sys.path[0] = os.path.dirname(script)
sys.addaudithook(hook)
runpy.run_path(script, run_name="__main__")
"""


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
    for name in snapshot.files:
        try:
            files[name] = (snapshot.directory / name).read_bytes()
        except OSError as error:
            raise DiaryError(f"cannot read {name} of snapshot {snapshot.id!r} ({error.strerror})",
                             file=snapshot.directory / name,
                             hint="a file changed while diary measure ran; run it again") from None
    digest = files_digest(files)
    digest.update(snapshot.contract_digest())
    return Staged(meta=snapshot, files=files, content_hash=digest.hexdigest())


def rule_breaches(staged: Staged, comments_kept: int, comments_total: int, settings: Settings,
                  baseline_longest_line: int) -> list[Breach]:
    """Every named breach of the diary's rules, in file and line order (comments last). A line may be as
    long as `max_line_length` when it is set, else as the baseline's longest line."""
    breaches: list[Breach] = check_files(staged.files)
    breaches += check_line_length(staged.code(), settings.max_line_length or baseline_longest_line)
    breaches.sort(key=lambda b: (b.file, b.line, b.rule))
    breaches += check_comments(comments_kept, comments_total, settings.comments_min_percent)
    return breaches


def probe_args(settings: Settings, staged: Staged, seed: int) -> list[str]:
    """The snapshot's arguments for a probe run: a fresh seed, at most `probe_steps` steps."""
    return fill_placeholders(staged.meta.args, seed, min(settings.steps, settings.probe_steps), settings.samples)


def probes_not_run(settings: Settings, baseline: Staged) -> str:
    """Why no probe run can be made in this diary, or "" when they can."""
    if settings.probes == 0:
        return "'probes' is 0 in code/diary.yml"
    if "seed" not in baseline.meta.placeholders:
        return ("the baseline's arguments have no {seed} placeholder, so the program cannot be "
                "run on fresh seeds")
    return ""


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
    # The baseline's probe outputs under the normalisations, by raw hash: computed once, not per snapshot.
    _normalised_by_sha: dict[str, dict[str, str]] = field(default_factory=dict)
    _baseline_answers: tuple[bytes | None, RunResult] | None = None

    @classmethod
    def for_measure(cls, settings: Settings, mode: str, baseline: Staged) -> Judge:
        seeds: list[int] = []
        while len(seeds) < settings.probes and not probes_not_run(settings, baseline):
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
            copy_data(settings, staged, work)
            result = run_sandboxed(
                guarded(settings, work, work, staged.entry, args), workdir=work, timeout=settings.timeout,
                memory_mb=settings.memory_mb, output_bytes=settings.output_kb * 1024,
                env=clean_environment(work), mode=self.mode,
            )
            raise_for_infrastructure(result, f"a probe run of snapshot {staged.id!r}")  # no verdict on the program
            return with_setting_hint(result, "timeout")

    def baseline_probes(self) -> list[RunResult]:
        with self._lock:
            if self._baseline_probes is None:
                self._baseline_probes = [self.run(self.baseline, probe_args(self.settings, self.baseline, s))
                                         for s in self.seeds]
            return self._baseline_probes

    def probes(self, staged: Staged) -> dict:
        """The probe verdict: identical when every probe run printed what the baseline printed."""
        why_not = probes_not_run(self.settings, self.baseline)
        if why_not:  # no probe ran, and the record says so: never "passed"
            return {"runs": 0, "identical": True, "reason": why_not, "cpu_s": 0.0, "status": "not run"}
        if "seed" not in staged.meta.placeholders:
            # The baseline can be probed and this snapshot cannot: dropping {seed} must not be a way
            # around the probes (a remembered output would pass).
            return {"runs": 0, "identical": False, "cpu_s": 0.0, "status": "failed",
                    "reason": "its arguments have no {seed} placeholder, so it cannot be run on the fresh "
                              "seeds the baseline is run on"}
        if staged.id == self.baseline.id:
            ours = expected = self.baseline_probes()
        else:
            # Our runs first, then the baseline's (usually done by then: no core waits for them).
            ours = [self.run(staged, probe_args(self.settings, staged, seed)) for seed in self.seeds]
            expected = self.baseline_probes()
        verdict = self._compare(expected, ours)
        return {**verdict, "cpu_s": round(sum(run.cpu_s for run in ours), 2),
                "status": "passed" if verdict["identical"] else "failed"}

    def _compare(self, expected: list[RunResult], ours: list[RunResult]) -> dict:
        """Each probe run against the baseline's on the same seed, after every declared normalisation
        (normalise.py): what the main run may differ by, a probe may too, and no more."""
        normalisations = self.settings.normalise
        root = self.settings.root
        for number, (want, got) in enumerate(zip(expected, ours, strict=True), start=1):
            if want.status != "ok":
                return {"runs": len(ours), "identical": False,
                        "reason": scrub_paths(f"the baseline's probe run {number} {want.status}: {want.reason}", root)}
            if got.status != "ok":
                return {"runs": len(ours), "identical": False,
                        "reason": scrub_paths(f"probe run {number} on a fresh seed {got.status}: {got.reason}", root)}
            if got.stdout_sha256 == want.stdout_sha256:
                continue
            every = label(normalisations)
            if not normalisations or normalised_hashes(normalisations, got.stdout).get(every) != \
                    self._normalised(want).get(every):
                return {"runs": len(ours), "identical": False,
                        "reason": f"probe run {number} on a fresh seed prints other output than the baseline"
                        + (" (after normalising " + ", ".join(n.name for n in normalisations) + ")"
                           if normalisations else "")}
        return {"runs": len(ours), "identical": True, "reason": ""}

    def _normalised(self, run: RunResult) -> dict[str, str]:
        known = self._normalised_by_sha.get(run.stdout_sha256)
        if known is None:
            known = self._normalised_by_sha[run.stdout_sha256] = normalised_hashes(self.settings.normalise, run.stdout)
        return known

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


def copy_data(settings: Settings, staged: Staged, target: Path) -> None:
    """Copy the snapshot's data files into a run's folder: each `from` under code/ to its `to`."""
    for file in staged.meta.data_files:
        dest = target / file.target
        if os.path.lexists(dest):  # discover refuses this; a second floor under what is run
            raise DiaryError(f"data file {file.target!r} would replace a file of the run", file=staged.meta.meta_path,
                             hint="copy the data file to another name")
        copy_file(settings.code_dir / file.source, dest)


def with_setting_hint(result: RunResult, setting: str) -> RunResult:
    """A timed-out run's reason names the setting of code/diary.yml that gives it more time."""
    if result.status == "timeout" and setting not in result.reason:
        return dataclasses.replace(result, reason=f"{result.reason} (raise '{setting}' in code/diary.yml)")
    return result


def guarded(settings: Settings, work: Path, code_dir: Path, script: str, args: list[str]) -> list[str]:
    """The command that runs `script` under GUARD: the snapshot's code is what lies in `code_dir`;
    the repository is closed to it, except the behavioural suite (public) and the interpreter."""
    suite = [str(settings.tests_dir)] if settings.suite_kind != "none" else []
    allow = [str(work), *suite, sys.prefix, sys.base_prefix, sys.exec_prefix]
    config = {"code": [str(code_dir)], "block": [str(settings.root)], "allow": allow}
    return [settings.interpreter, "-c", GUARD, json.dumps(config), script, *args]
