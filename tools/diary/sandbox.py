"""Stage "measure: run": one run of a program in a sandboxed subprocess, with every outcome recorded.

A snapshot is untrusted code whose output is published, so a run must end, within its bounds, as a
`RunResult` whatever the program does. Two modes:

- "bwrap": bubblewrap with nothing of the host mounted but the system's /usr, a few files of /etc,
  the interpreter's prefixes and the paths named in `readable`, all read-only; the working
  directory is a tmpfs of its own with a size (the caller's files copied in, only the files named
  in `outputs` written back), /tmp and /dev/shm are sized tmpfs mounts; fresh PID, network, IPC and
  UTS namespaces. The program runs without capabilities as an unprivileged user: as root (CI, a
  container), a uid of its own per concurrent run, inside and outside (so files of root and of
  other users stay closed, and RLIMIT_NPROC counts only that run); as an ordinary user, `nobody`
  in a user namespace that maps to that user. Nothing outlives the PID namespace.
- "none": a plain subprocess in its own session with the same environment and limits; used when
  bwrap is missing or unusable (`sandbox_notice()` says so once).

What holds (README.md's sandbox table names the test of each line, in tests/test_sandbox.py):

| protection                                                  | bwrap       | none           |
| ----------------------------------------------------------- | ----------- | -------------- |
| wall-clock timeout; the whole process tree is killed        | yes         | yes (1)        |
| memory cap per process (RLIMIT_AS) -> status "memory"       | yes         | yes            |
| memory of the whole process tree bounded                    | as root (3) | NO             |
| output cap; the program is stopped at once                  | yes         | yes            |
| no process the program started survives the call            | yes         | yes (1)        |
| secrets in our environment (GITHUB_TOKEN) invisible         | yes         | os.environ (2) |
| an unprivileged uid without capabilities, inside and out    | yes         | our uid        |
| writes outside the working directory fail                   | yes         | NO             |
| disk writes capped (working directory, /tmp, /dev/shm)      | yes         | per file only  |
| root-only files (/etc/shadow), home directories, /tmp, /run | unreadable  | NO             |
| other checkouts on the machine                              | invisible   | NO             |
| no network, not even the host's loopback                    | yes         | NO             |
| process count capped (RLIMIT_NPROC)                         | as root (4) | NO             |
| a failure of the sandbox itself is status "infrastructure"  | yes         | yes            |

(1) a process that leaves our process group (setsid) escapes the kill.
(2) the environment is clean, but /proc/<our pid>/environ stays readable.
(3) without cgroups (none are used): at most PROCESS_LIMIT processes of `memory_mb` each when
    run as root, plus the sized tmpfs mounts; `limits_notice()` says so once.
(4) as an ordinary user the limit would count every process of that user on the machine, so it
    is not set; the timeout and the kill of the whole tree end a fork storm instead.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import itertools
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import DiaryError, ToolError

MODES = ("auto", "bwrap", "none")
TRUNCATION_MARKER = "\n[... output truncated ...]"
FILE_SIZE_LIMIT_BYTES = 64 * 2**20
OPEN_FILES_LIMIT = 512
NOBODY_ID = 65534
PROCESS_LIMIT = 64  # processes of one run (as root, under its own uid)
WORKDIR_LIMIT_BYTES = 256 * 2**20  # the working directory's tmpfs, inputs included
SCRATCH_LIMIT_BYTES = 64 * 2**20  # each of /tmp and /dev/shm
# Run uids as root: one per concurrent run, far above any uid a system hands out (and above the
# subordinate ranges of user namespaces), so they own nothing on the machine.
RUN_UID_BASE = 1_900_000_000
# What the sandbox sees of the host: the system's programs and libraries, and the few files of /etc
# the dynamic loader and time functions read. No /home, /root, /run, /tmp, /var, /work, /etc/shadow.
SYSTEM_DIRECTORIES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
             "/etc/alternatives")
INPUT_MOUNT = "/.diary-input"  # the caller's working directory, read-only, copied in by the init
# A status of its own for a failure of the machinery (bwrap, the init's set-up, starting the
# sandbox), never a verdict on the program: measure turns it into a tool error and caches nothing.
INFRASTRUCTURE = "infrastructure"

# PID 1 of the sandbox. With bwrap's own init, bwrap exits before that init is reaped, so wait4 on
# bwrap misses the program's CPU time and peak memory; a program that is PID 1 itself would ignore
# its own abort() and kill(). This init copies the caller's files into the working directory (a
# tmpfs), gives them and itself the run's uid (as root: it starts with only CAP_CHOWN, CAP_SETUID
# and CAP_SETGID and drops them with the uid), says "ready" on the status pipe, then runs the
# program as an ordinary child (with the signal dispositions Python's startup changed set back),
# waits for it and exits as bwrap does: 128 + N when the program died of signal N. Without
# "ready", the sandbox itself failed. Killing it kills every process in the namespace.
_SANDBOX_INIT = """\
import json, os, shutil, signal, sys
setup = json.loads(sys.argv[1])
try:
    for name in sorted(os.listdir(setup["input"])):
        if name in setup["outputs"]:
            continue
        source = os.path.join(setup["input"], name)
        if os.path.isdir(source) and not os.path.islink(source):
            shutil.copytree(source, name, symlinks=True)
        else:
            shutil.copy2(source, name, follow_symlinks=False)
    uid = setup["uid"]
    if uid is not None:
        for folder, dirs, files in os.walk("."):
            for name in dirs + files:
                os.lchown(os.path.join(folder, name), uid, uid)
        os.chown(".", uid, uid)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    os.write(setup["status_fd"], b"ready")
    os.close(setup["status_fd"])
except OSError as error:
    sys.exit(f"diary-sandbox: set-up failed: {error}")
try:
    pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ, setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
except OSError as error:
    sys.stderr.write(f"diary-sandbox: cannot start {sys.argv[2]!r}: {error.strerror}\\n")
    sys.exit(127)
code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
sys.exit(code if code >= 0 else 128 - code)
"""
_READ_CHUNK_BYTES = 65536
# How long killed processes get to let go of the pipes; only a process that escaped the kill
# (possible without bwrap) makes the call wait this long.
_KILL_GRACE_S = 2.0
_PROBE_TIMEOUT_S = 30.0
_CRASH_NEAR_CAP = 0.9  # a crash with peak memory above this share of the cap counts as "memory"
_MEMORY_ERROR_MARKERS = (b"MemoryError", b"Cannot allocate memory", b"out of memory")
_REASON_MAX_CHARS = 200
_MACHINE_ERRNOS = (errno.EAGAIN, errno.ENOMEM, errno.EMFILE, errno.ENFILE)


@dataclass(frozen=True)
class RunResult:
    """How one run ended and what it printed."""

    status: str  # ok | failed | crashed | timeout | memory | output | error | infrastructure
    reason: str  # one line for a reader; "" when ok
    exit_code: int | None
    signal: str | None  # e.g. "SIGSEGV"
    wall_s: float
    cpu_s: float  # user + sys of the program and the descendants it waited for
    peak_mb: float  # largest resident set of any process in that tree
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    stdout_sha256: str
    sandbox: str  # bwrap | none

    def stdout_text(self) -> str:
        return _as_text(self.stdout, self.stdout_truncated)

    def stderr_text(self) -> str:
        return _as_text(self.stderr, self.stderr_truncated)


def _as_text(data: bytes, truncated: bool) -> str:
    return data.decode("utf-8", errors="replace") + (TRUNCATION_MARKER if truncated else "")


def clean_environment(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a run: fixed values and `extra`, nothing inherited from ours."""
    # The interpreter running diary comes first, so that "python" inside means the same one.
    search_path = [os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]
    environment = {
        "PATH": os.pathsep.join(dict.fromkeys(search_path)),
        "HOME": str(workdir),
        "PWD": str(workdir),  # bwrap sets it for --chdir; set here too, so both modes agree
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
    }
    environment.update(extra or {})
    return environment


def sandbox_mode(requested: str = "auto") -> str:
    """"bwrap" when requested ("auto" or "bwrap") and bwrap works here, else "none"."""
    if requested not in MODES:
        raise DiaryError(f"unknown sandbox mode {requested!r}", hint="use auto, bwrap or none")
    if requested == "none":
        return "none"
    problem = _bwrap_problem()
    if problem is None:
        return "bwrap"
    if requested == "bwrap":  # the machine's failure, not the input's: exit 3, nothing measured
        raise ToolError(
            f"the bwrap sandbox was requested, but {problem}",
            hint="install bubblewrap (apt-get install bubblewrap), or set sandbox: auto or none "
            "to run snapshots without isolation",
        )
    return "none"


def sandbox_notice(mode: str = "none") -> str | None:
    """The one line the CLI prints after snapshots ran in `mode`: what does not hold, or None."""
    if mode == "bwrap":
        return limits_notice()
    why = _bwrap_problem() or "sandbox mode 'none' chosen"
    return f"sandbox off: {why}; snapshots run without file-system and network isolation"


def limits_notice() -> str:
    """How the memory of a whole run is bounded here, since no cgroup is used (note 3 of the table)."""
    if _privileged():
        return (f"sandbox: no cgroups; a run's memory is bounded by {PROCESS_LIMIT} processes "
                f"of memory_mb each (uid of its own, RLIMIT_NPROC) plus its sized tmpfs mounts")
    return ("sandbox: no cgroups and not root; memory_mb caps each process of a run, the "
            "process count is not capped (the timeout ends a fork storm)")


def _privileged() -> bool:
    return os.geteuid() == 0


class _RunUids:
    """One uid per concurrent run as root, so RLIMIT_NPROC counts that run's processes only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken: set[int] = set()

    @contextlib.contextmanager
    def take(self, wanted: bool) -> Iterator[int | None]:
        if not (wanted and _privileged()):
            yield None  # bwrap maps `nobody` inside to our own uid; without bwrap nothing changes
            return
        with self._lock:
            slot = next(n for n in itertools.count() if n not in self._taken)
            self._taken.add(slot)
        try:
            yield RUN_UID_BASE + slot
        finally:
            with self._lock:
                self._taken.discard(slot)


_RUN_UIDS = _RunUids()


@functools.cache
def _bwrap_problem() -> str | None:
    """Why bwrap cannot be used here, or None when it can; probed once per process."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bwrap not found"
    with tempfile.TemporaryDirectory(prefix="diary-bwrap-probe-") as probe_dir:
        # The probe is a real run of our interpreter, with the very options and set-up of one,
        # so that "works" means a snapshot can start.
        try:
            probe = run_sandboxed([sys.executable, "-c", "pass"], workdir=Path(probe_dir), timeout=_PROBE_TIMEOUT_S,
                                  memory_mb=1024, output_bytes=65536, mode="bwrap-unprobed")
        except OSError as error:
            return f"bwrap could not be started ({error})"
    if probe.status != "ok":
        return f"bwrap does not work here ({probe.reason})"
    return None


def _bwrap_command(
    bwrap: str, workdir: Path, readable: Sequence[Path], argv: list[str], *,
    info_fd: int, status_fd: int, uid: int | None, outputs: Sequence[str],
) -> list[str]:
    """The command that runs `argv` in the sandbox, under our init (see _SANDBOX_INIT)."""
    command = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--as-pid-1",
               "--info-fd", str(info_fd)]
    if uid is None:
        command += ["--unshare-user", "--uid", str(NOBODY_ID), "--gid", str(NOBODY_ID)]
    else:  # as root no user namespace: it would map the program to root outside
        command += ["--cap-add", "CAP_CHOWN", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    mounted: list[str] = []
    for top in SYSTEM_DIRECTORIES:
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
            mounted.append(top)
    etc_files = [path for path in ETC_FILES if os.path.lexists(path)]
    for folder in _parents(etc_files, mounted):
        command += ["--perms", "0755", "--dir", folder]
    for path in etc_files:
        command += ["--ro-bind", path, path]
    command += [
        "--dev", "/dev", "--proc", "/proc",
        "--size", str(SCRATCH_LIMIT_BYTES), "--perms", "1777", "--tmpfs", "/dev/shm",
        "--size", str(SCRATCH_LIMIT_BYTES), "--perms", "1777", "--tmpfs", "/tmp",
    ]
    interpreter = _interpreter_paths(argv[0], str(workdir))
    work = str(workdir)
    binds = _needed_directories([*interpreter, *map(str, readable)], mounted)
    # bwrap would make the folders above a mount point 0700 (root's): the run's uid could not pass.
    for folder in _parents([*binds, work], [*mounted, "/dev", "/proc"]):
        command += ["--perms", "0755", "--dir", folder]
    for path in binds:
        command += ["--ro-bind", path, path]
    command += ["--ro-bind", work, INPUT_MOUNT,
                "--size", str(WORKDIR_LIMIT_BYTES), "--perms", "0755", "--tmpfs", work]
    for name in outputs:
        command += ["--bind", os.path.join(work, name), os.path.join(work, name)]
    command += ["--chdir", work]
    setup = json.dumps({"input": INPUT_MOUNT, "outputs": list(outputs), "uid": uid, "status_fd": status_fd})
    return [*command, "--", sys.executable, "-I", "-S", "-c", _SANDBOX_INIT, setup, *argv]


def _interpreter_paths(program: str, work: str) -> list[str]:
    """Where our interpreter, its packages and the program's own prefix live (a venv over pyenv)."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))]
    # Package folders a .pth file adds from elsewhere (a venv that borrows another's packages): the
    # child interpreter reads the same .pth files. Only package folders, never an arbitrary sys.path
    # entry, which could be a checkout.
    paths += [entry for entry in sys.path if os.path.basename(entry) in ("site-packages", "dist-packages")]
    real_program = os.path.realpath(program)
    if not _inside(real_program, [os.path.realpath(work)]):  # a program in the working directory is copied in
        paths.append(os.path.dirname(os.path.dirname(real_program)))
    return paths


def _needed_directories(candidates: list[str], mounted: list[str]) -> list[str]:
    """The existing directories among `candidates` that nothing mounted already covers, outermost first."""
    needed: list[str] = []
    for directory in sorted({os.path.realpath(c) for c in candidates if c}, key=len):
        if len(Path(directory).parts) < 2 or not os.path.exists(directory):
            continue  # never "/" itself: that would mount the whole machine
        if not _inside(directory, mounted) and not _inside(directory, needed):
            needed.append(directory)
    return needed


def _parents(paths: list[str], mounted: list[str]) -> list[str]:
    """The folders above `paths` (outermost first) that are not "/" and not in a mounted tree."""
    parents: list[str] = []
    for path in paths:
        for parent in reversed(Path(path).parents[:-1]):
            folder = str(parent)
            if folder not in parents and folder != "/tmp" and not _inside(folder, mounted):
                parents.append(folder)
    return parents


def _inside(path: str, directories: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in directories)


def run_sandboxed(
    argv: list[str],
    *,
    workdir: Path,
    timeout: float,
    memory_mb: int,
    output_bytes: int,
    env: dict[str, str] | None = None,
    mode: str = "auto",
    readable: Sequence[Path] = (),
    outputs: Sequence[str] = (),
) -> RunResult:
    """Run `argv` with cwd=`workdir` (prepared by the caller) under the caps; never raises for the program.

    `memory_mb` caps the address space (RLIMIT_AS) of each process, not its resident memory.
    `readable` names extra paths the program may read under bwrap (nothing else of the host is
    there). Under bwrap the program works on a copy of `workdir`: only the files named in
    `outputs` (plain names, created empty here) reach `workdir`. A failure of the sandbox itself
    is status INFRASTRUCTURE. Thread-safe: figures come from wait4 on our own child.
    Raises DiaryError only for a bad `mode` (see `sandbox_mode`).
    """
    sandbox = "bwrap" if mode == "bwrap-unprobed" else sandbox_mode(mode)
    environment = clean_environment(workdir) if env is None else env
    started = time.monotonic()
    program = _find_program(argv[0], workdir, environment.get("PATH", os.defpath)) if argv else None
    if program is None:
        what = f"{argv[0]!r}: no such program" if argv else "an empty command"
        return _not_started("error", f"cannot start {what}", sandbox, started)
    for name in outputs:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"an output is a plain file name, not {name!r}")
    with _RUN_UIDS.take(sandbox == "bwrap") as uid:
        command = [program, *argv[1:]]
        info_read = info_write = status_read = status_write = -1
        if sandbox == "bwrap":
            for name in outputs:
                (workdir / name).write_bytes(b"")
                if uid is not None:
                    os.chown(workdir / name, uid, uid)
            info_read, info_write = os.pipe()
            status_read, status_write = os.pipe()
            bwrap = shutil.which("bwrap") or "bwrap"  # found: sandbox_mode probed it
            command = _bwrap_command(bwrap, workdir, readable, command, info_fd=info_write,
                                     status_fd=status_write, uid=uid, outputs=outputs)
        limits = _resource_limits(memory_mb, count_processes=uid is not None)
        try:
            process = subprocess.Popen(
                command, cwd=workdir, env=environment, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                preexec_fn=functools.partial(_apply_limits, limits),
                pass_fds=(info_write, status_write) if sandbox == "bwrap" else (),
            )
        except (OSError, subprocess.SubprocessError) as error:
            if sandbox == "bwrap":
                os.close(info_read)
                os.close(status_read)
            why = error.strerror if isinstance(error, OSError) and error.strerror else error
            # Starting bwrap, or the machine's fork, failing says nothing about the program.
            machine = sandbox == "bwrap" or getattr(error, "errno", None) in _MACHINE_ERRNOS
            return _not_started(INFRASTRUCTURE if machine else "error",
                                f"cannot start {'bwrap' if sandbox == 'bwrap' else repr(argv[0])}: {why}",
                                sandbox, started)
        finally:
            if sandbox == "bwrap":
                os.close(info_write)
                os.close(status_write)
        sandbox_init = _SandboxInit.from_info(info_read, process.pid) if sandbox == "bwrap" else None
        try:
            stdout, stderr, stop_cause = _collect(process, sandbox_init, started + timeout, output_bytes)
        finally:
            if sandbox_init is not None:
                sandbox_init.close()
        _, wait_status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(wait_status)  # Popen must not reap it again
        ready = True
        if sandbox == "bwrap":
            with os.fdopen(status_read, "rb") as status_pipe:
                ready = status_pipe.read() == b"ready"  # every writer is gone: no wait
            for name in outputs:  # made empty above: one the program did not write is not there
                with contextlib.suppress(OSError):
                    if (workdir / name).stat().st_size == 0:
                        (workdir / name).unlink()
    wall_s = time.monotonic() - started
    exit_code, signal_name = _decode_exit(process.returncode, sandbox)
    peak_mb = usage.ru_maxrss / 1024  # Linux reports kilobytes
    if ready:
        status, reason = _judge(
            stop_cause, exit_code, signal_name, bytes(stderr.data), sandbox,
            timeout=timeout, memory_mb=memory_mb, peak_mb=peak_mb,
        )
    else:
        status, reason = INFRASTRUCTURE, "the sandbox did not start: " + (
            _last_line(bytes(stderr.data)) or f"bwrap exit code {process.returncode}")
    return RunResult(
        status=status, reason=reason, exit_code=exit_code, signal=signal_name, wall_s=wall_s,
        cpu_s=usage.ru_utime + usage.ru_stime, peak_mb=peak_mb,
        stdout=bytes(stdout.data), stderr=bytes(stderr.data),
        stdout_truncated=stdout.truncated, stderr_truncated=stderr.truncated,
        stdout_sha256=hashlib.sha256(stdout.data).hexdigest(), sandbox=sandbox,
    )


def raise_for_infrastructure(result: RunResult, what: str) -> None:
    """A ToolError when `result` is a failure of the sandbox, not a verdict on the program."""
    if result.status == INFRASTRUCTURE:
        raise ToolError(f"{what} was not measured: {result.reason}",
                        hint="fix the machine or the sandbox (or set sandbox: none); nothing was cached")


def _find_program(name: str, workdir: Path, search_path: str) -> str | None:
    """The file `name` would execute as, resolved as exec would: by PATH, or against `workdir`."""
    if os.sep in name:
        candidate = workdir / name
        return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    return shutil.which(name, path=search_path)


def _not_started(status: str, reason: str, sandbox: str, started: float) -> RunResult:
    return RunResult(
        status=status, reason=_one_line(reason), exit_code=None, signal=None,
        wall_s=time.monotonic() - started, cpu_s=0.0, peak_mb=0.0, stdout=b"", stderr=b"",
        stdout_truncated=False, stderr_truncated=False, stdout_sha256=hashlib.sha256(b"").hexdigest(),
        sandbox=sandbox,
    )


def _resource_limits(memory_mb: int, count_processes: bool) -> list[tuple[int, tuple[int, int]]]:
    """(resource, (soft, hard)) for the child, never above our own hard limits (we may not raise them).

    RLIMIT_NPROC only for a run under a uid of its own (see note (4) of the table at the top).
    """
    wanted = [*([(resource.RLIMIT_NPROC, PROCESS_LIMIT)] if count_processes else []),
        (resource.RLIMIT_AS, memory_mb * 2**20),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT_BYTES),
        (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT),
    ]
    limits = []
    for kind, value in wanted:
        _, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        limits.append((kind, (value, value)))
    return limits


def _apply_limits(limits: list[tuple[int, tuple[int, int]]]) -> None:
    # Runs in the child between fork and exec: only system calls on values prepared beforehand.
    for kind, values in limits:
        resource.setrlimit(kind, values)


@dataclass(frozen=True)
class _SandboxInit:
    """The init of a run's PID namespace (see _SANDBOX_INIT), as its PID and a pidfd."""

    pid: int
    pidfd: int

    @classmethod
    def from_info(cls, info_read: int, bwrap_pid: int) -> _SandboxInit | None:
        """Read bwrap's --info-fd; None when bwrap failed or the init is already gone."""
        with os.fdopen(info_read, "rb") as info:
            data = info.read()  # one JSON object, written right after the namespace exists
        try:
            init_pid = int(json.loads(data)["child-pid"])
            pidfd = os.pidfd_open(init_pid)
        except (ValueError, KeyError, TypeError, ProcessLookupError):
            return None
        # Signals through the pidfd reach this very process; if bwrap is not its parent, the PID
        # had been reused before we opened it.
        if _parent_pid(init_pid) != bwrap_pid:
            os.close(pidfd)
            return None
        return cls(init_pid, pidfd)

    def kill_children(self) -> bool:
        """SIGKILL the program and whatever was orphaned to the init; True when there was any."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            return False
        for child in children:
            _kill_quietly(os.kill, int(child))
        return bool(children)

    def kill(self) -> None:
        _kill_quietly(signal.pidfd_send_signal, self.pidfd)

    def close(self) -> None:
        os.close(self.pidfd)


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[1])  # the command name before ")" may hold spaces
    except (OSError, ValueError, IndexError):
        return None


def _kill_quietly(send: Callable[[int, int], None], target: int) -> None:
    try:
        send(target, signal.SIGKILL)
    except ProcessLookupError:
        pass


class _Capture:
    """At most `cap` bytes of one stream; what comes after is read and dropped."""

    def __init__(self, name: str, cap: int) -> None:
        self.name = name
        self.cap = cap
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> bool:
        """Keep what fits; True when this chunk is the first to overflow the cap."""
        room = self.cap - len(self.data)
        if len(chunk) <= room:
            self.data += chunk
            return False
        self.data += chunk[: max(room, 0)]
        first_overflow = not self.truncated
        self.truncated = True
        return first_overflow


def _collect(
    process: subprocess.Popen, sandbox_init: _SandboxInit | None, deadline: float, output_bytes: int,
) -> tuple[_Capture, _Capture, str | _Capture | None]:
    """Read both pipes until the program ends, times out or overflows; always kill what is left.

    Returns the captures and what stopped the run: "timeout", the overflowing capture, or None.
    The main process is left unreaped (a zombie), so its PID and process group cannot be reused
    before the kill.
    """
    stdout, stderr = _Capture("stdout", output_bytes), _Capture("stderr", output_bytes)
    exit_pidfd = os.pidfd_open(process.pid)
    selector = selectors.DefaultSelector()
    assert process.stdout is not None and process.stderr is not None  # started with PIPE for both
    selector.register(process.stdout, selectors.EVENT_READ, stdout)
    selector.register(process.stderr, selectors.EVENT_READ, stderr)
    selector.register(exit_pidfd, selectors.EVENT_READ, None)
    stop_cause: str | _Capture | None = None
    exited = False
    killed_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            if killed_at is None and (exited or stop_cause is not None or now >= deadline):
                if not exited and stop_cause is None:
                    stop_cause = "timeout"
                # Even after a clean exit: children it left behind must not outlive the call.
                _kill_tree(process.pid, exit_pidfd, sandbox_init)
                killed_at = now
            if killed_at is not None and (not selector.get_map() or now >= killed_at + _KILL_GRACE_S):
                break
            until = deadline if killed_at is None else killed_at + _KILL_GRACE_S
            for key, _ in selector.select(max(until - now, 0.0)):
                if key.data is None:
                    exited = True
                    selector.unregister(key.fileobj)
                    continue
                chunk = os.read(key.fd, _READ_CHUNK_BYTES)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.data.add(chunk) and stop_cause is None:
                    stop_cause = key.data
    finally:
        selector.close()
        os.close(exit_pidfd)
        process.stdout.close()
        process.stderr.close()
    return stdout, stderr, stop_cause


def _kill_tree(pid: int, exit_pidfd: int, sandbox_init: _SandboxInit | None) -> None:
    """SIGKILL everything the run started; the main process stays unreaped for wait4."""
    if sandbox_init is not None:
        # The init is spared at first: it reaps the program, so wait4 on bwrap covers the program's
        # usage, and its exit kills every process left in the namespace; bwrap then exits too.
        if sandbox_init.kill_children():
            _wait_readable(exit_pidfd, _KILL_GRACE_S)
        sandbox_init.kill()
    _kill_quietly(os.killpg, pid)


def _wait_readable(fd: int, seconds: float) -> None:
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        selector.select(seconds)


def _decode_exit(returncode: int, sandbox: str) -> tuple[int | None, str | None]:
    """(exit code, signal name); bwrap reports a program killed by signal N as exit code 128 + N."""
    number = -returncode if returncode < 0 else None
    if sandbox == "bwrap" and returncode > 128:
        number = returncode - 128
    if number is None:
        return returncode, None
    try:
        return None, signal.Signals(number).name
    except ValueError:
        return returncode, None


def _judge(
    stop_cause: str | _Capture | None, exit_code: int | None, signal_name: str | None, stderr: bytes,
    sandbox: str, *, timeout: float, memory_mb: int, peak_mb: float,
) -> tuple[str, str]:
    """(status, reason) of a run that started."""
    if sandbox == "bwrap" and exit_code == 127 and stderr.startswith(b"diary-sandbox: cannot start "):
        return "error", _one_line(stderr.decode("utf-8", errors="replace").removeprefix("diary-sandbox: "))
    if isinstance(stop_cause, _Capture):
        return "output", f"{stop_cause.name} exceeded {_size(stop_cause.cap)}; process stopped"
    if stop_cause == "timeout":
        return "timeout", f"timed out after {timeout:.1f} s"
    if exit_code == 0:
        return "ok", ""
    tail = stderr[-4096:]
    if any(marker in tail for marker in _MEMORY_ERROR_MARKERS) or (
        signal_name is not None and peak_mb >= _CRASH_NEAR_CAP * memory_mb
    ):
        return "memory", f"memory limit {memory_mb} MB exceeded"
    if signal_name is not None:
        return "crashed", f"killed by {signal_name}"
    last_line = _last_line(stderr)
    # Shortened as a whole: the prefix must not push a long last line past the limit.
    return "failed", _one_line(f"exit code {exit_code}" + (f": {last_line}" if last_line else ""))


def _last_line(data: bytes) -> str:
    lines = data.decode("utf-8", errors="replace").strip().splitlines()
    return _one_line(lines[-1]) if lines else ""


def _one_line(text: str) -> str:
    """The first line of `text`, printable and short."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    printable = "".join(c if c.isprintable() else "?" for c in first)
    return printable if len(printable) <= _REASON_MAX_CHARS else printable[: _REASON_MAX_CHARS - 3] + "..."


def _size(count: int) -> str:
    for unit, factor in (("MB", 2**20), ("KB", 2**10)):
        if count >= factor and count % factor == 0:
            return f"{count // factor} {unit}"
    return f"{count} bytes"
