"""The judge of one `diary measure`: what ran is what was hashed, and the verdict is decided outside it.

Three guarantees, each against a way an author (or a pull request) could forge a verdict:

- **One copy, at hashing time.** `stage()` reads each file of a snapshot once; those bytes are
  hashed (the record's key), counted, checked against the rules, run and tested. An edit made
  during `diary measure` changes nothing that is judged.
- **Probe runs on fresh seeds.** Beside the configured seed, the program runs `probes` times on
  seeds drawn at measure time (and never stored), with the configured run's other arguments (as
  many steps), each compared with the baseline run on the same seed: printing a remembered output
  cannot pass. The record keeps only the verdict.
- **The judge stands outside the judged.** With a `driver` configured, the behavioural suite is
  split in two (see testsuite.py): the driver runs beside the program and only reports; the tests
  run in a sandbox that holds no code of the snapshot and decide.
"""

from __future__ import annotations

import dataclasses
import hashlib
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
from diary.measure.allowed import beyond_baseline
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

# The run-time guard of the probe runs and the driver (the configured run is the sandbox's alone,
# so its figures are; the probes run the same counted code as many steps on fresh seeds):
# `python -c GUARD CONFIG SCRIPT ARGS...` runs SCRIPT as __main__ under an audit hook (which Python
# code cannot remove). It rests on one invariant, checked where text or bytes become code, on every
# thread, whoever asked: **what runs is what was counted**.
# - Imports: the import machinery (frozen importlib, the direct caller) may read and compile only a
#   counted file of the snapshot, byte for byte as counted (CONFIG["counted"]: path -> sha256), or a
#   file under a trusted prefix (the interpreter's standard library and packages, the suite). A
#   module the program wrote or rewrote (the working folder, /tmp) is refused, whatever its name;
#   an import searches only trusted folders and the snapshot's, which hold no uncounted extension
#   module (those load without a compile).
# - Text made code at run time (compile, exec, eval, marshal, a new code object) is refused, on any
#   thread and by any route (a profiler's runctx, a timer, a thread whose target is exec), except
#   when the direct caller is one of the standard library's class builders, which compile text they
#   generate from identifiers (CONFIG["builders"]: dataclasses, collections.namedtuple; typing's
#   ForwardRef may compile, never evaluate).
# - The repository (the baseline, other snapshots, the records) cannot be read: any open or listing
#   under CONFIG["block"] outside CONFIG["allow"].
# - Other programs are started only by the judge's own main thread (the driver's run question).
GUARD = r"""
import hashlib, json, os, sys, threading
config = json.loads(sys.argv[1])
script = os.path.abspath(sys.argv[2])
code_dirs = tuple(os.path.realpath(d) + os.sep for d in config["code"])
blocked = tuple(os.path.realpath(d) + os.sep for d in config["block"])
allowed = tuple(os.path.realpath(d) + os.sep for d in config["allow"])
# Trusted code: the interpreter's prefixes and the folders its start-up put on sys.path (its
# standard library and installed packages, before the program ran; not the working folder) and the
# suite; builders: where the standard library compiles for a caller.
packages = [p for p in sys.path[1:] if p and os.path.realpath(p) != os.path.realpath(".")]
trusted = tuple(os.path.realpath(d) + os.sep for d in [*config["trusted"], *packages, sys.prefix, sys.base_prefix,
                                                        sys.exec_prefix, sys.base_exec_prefix])
counted = {os.path.realpath(path): digest for path, digest in config["counted"].items()}
stdlib = os.path.dirname(os.path.realpath(os.__file__))
builders = {os.path.join(stdlib, "dataclasses.py"): ("compile", "exec"),
            os.path.join(stdlib, "collections", "__init__.py"): ("compile", "exec"),
            os.path.join(stdlib, "typing.py"): ("compile",)}
SPAWN = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
         "pty.spawn", "ctypes.dlopen", "ctypes.cdata")
LISTING = ("open", "os.listdir", "os.scandir", "os.chdir", "shutil.copyfile", "shutil.copytree")
CODE_EVENTS = ("compile", "exec", "marshal.loads", "marshal.load", "code.__new__")
EXTENSIONS = (".so", ".pyd", ".dylib")
main_thread = threading.main_thread()
guard_frame = sys._getframe()

def refuse(rule, what):
    raise PermissionError(f"diary guard: rule {rule}: {what}")

def importer(frame):
    return frame is not None and frame.f_code.co_filename.startswith(("<frozen importlib", "<frozen zipimport"))

def program_code(frame):
    filename = frame.f_code.co_filename
    return frame is not guard_frame and not filename.startswith("<frozen ") and (
        filename.startswith("<") or os.path.realpath(filename).startswith(code_dirs))

def check_code_file(path, source):
    real = os.path.realpath(path)
    if real in counted:
        if source is not None and hashlib.sha256(source).hexdigest() != counted[real]:
            refuse("hidden-code", f"{os.path.basename(real)} changed after it was counted")
        return
    if real.startswith(trusted):
        return
    refuse("hidden-code", f"code from {os.path.basename(real)}, which is not a counted file of the snapshot")

with open(script, "rb") as file:
    main_source = file.read()
if os.path.realpath(script).startswith(code_dirs):
    check_code_file(script, main_source)
main_code = compile(main_source, script, "exec")
started = []

def check_search_path(path):
    # Extension modules load without a compile: every folder an import searches is trusted, or a
    # folder of the snapshot's that holds no extension module it did not count.
    for entry in path:
        real = os.path.realpath(entry or ".") + os.sep
        if real.startswith(trusted) or not isinstance(entry, str):
            continue
        if real not in code_dirs:
            refuse("hidden-code", f"imports from {real.rstrip(os.sep)}, a folder the program can write")
        for name in os.listdir(real):
            if name.endswith(EXTENSIONS) and os.path.join(real, name) not in counted:
                refuse("hidden-code", f"code from {name}, which is not a counted file of the snapshot")

def hook(event, args):
    if event == "import":
        check_search_path(list(args[2] or ()))
    elif event in CODE_EVENTS:
        caller = sys._getframe(1)
        if event == "exec" and args and args[0] is main_code and not started:
            started.append(True)  # the script itself, compiled above from its counted bytes
        elif importer(caller) and event != "code.__new__":
            if event == "compile" and isinstance(args[1], str):
                source = args[0] if isinstance(args[0], bytes) else None
                check_code_file(args[1], source)
        elif event in builders.get(os.path.realpath(caller.f_code.co_filename), ()):
            pass  # a class builder of the standard library, on text it generated
        else:
            what = os.path.basename(caller.f_code.co_filename)
            refuse("dynamic-code", f"{event} on behalf of {what}, on thread {threading.current_thread().name}")
    elif event in LISTING and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.realpath(os.fsdecode(args[0]))
        if event == "open" and importer(sys._getframe(1)):
            check_code_file(path, None)  # importlib reads a module (or its bytecode) only from counted files
        path += os.sep
        if path.startswith(blocked) and not path.startswith(allowed):
            refuse("outside-import", f"{event} of {path.rstrip(os.sep)}, outside the snapshot")
    elif event.startswith(SPAWN):
        if threading.current_thread() is not main_thread:
            refuse("code-loader", f"{event} from a thread: the program may not start other programs")
        frame = sys._getframe(1)
        while frame is not None:
            if program_code(frame):
                refuse("code-loader", f"{event}: the program may not start other programs")
            frame = frame.f_back

sys.argv = sys.argv[2:]
sys.path[0] = os.path.dirname(script)
sys.addaudithook(hook)
main_globals = {"__name__": "__main__", "__file__": script, "__builtins__": __builtins__, "__doc__": None,
                "__spec__": None, "__loader__": None, "__package__": None}
del file
exec(main_code, main_globals)
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
                  allowed: frozenset[str], baseline_longest_line: int) -> list[Breach]:
    """Every named breach of the diary's rules beyond what the baseline does itself (`allowed`,
    rules.allowances) and the modules `allow:` names, in file and line order (comments last). A line may be as long as
    `max_line_length` when it is set, else as the baseline's longest line."""
    breaches: list[Breach] = beyond_baseline(check_files(staged.files), allowed, settings.allow)
    breaches += check_line_length(staged.code(), settings.max_line_length or baseline_longest_line)
    breaches.sort(key=lambda b: (b.file, b.line, b.rule))
    breaches += check_comments(comments_kept, comments_total, settings.comments_min_percent)
    return breaches


def probe_args(settings: Settings, staged: Staged, seed: int) -> list[str]:
    """The snapshot's arguments for a probe run: the configured run's, on a fresh seed. As long as
    the configured run: a program that prints a remembered output for the published arguments and
    computes only shorter runs cannot tell a probe from the configured run by its length."""
    return fill_placeholders(staged.meta.args, seed, settings.steps, settings.samples)


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
                guarded(settings, work, work, staged.entry, args, staged.files), workdir=work, timeout=settings.timeout,
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


def guarded(settings: Settings, work: Path, code_dir: Path, script: str, args: list[str],
            counted: dict[str, bytes]) -> list[str]:
    """The command that runs `script` under GUARD: the snapshot's code is `counted` (its files by
    name, as staged into `code_dir`); the repository is closed to it, except the behavioural suite
    (public) and the interpreter."""
    suite = [str(settings.tests_dir)] if settings.suite_kind != "none" else []
    allow = [str(work), *suite, sys.prefix, sys.base_prefix, sys.exec_prefix]
    digests = {str(code_dir / name): hashlib.sha256(data).hexdigest() for name, data in counted.items()}
    config = {"code": [str(code_dir)], "block": [str(settings.root)], "allow": allow, "trusted": suite,
              "counted": digests}
    return [settings.interpreter, "-c", GUARD, json.dumps(config), script, *args]
