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

This module chooses the mode and runs the program; the bwrap command line (mounts, uid, the init) is
bwrap.py's, and the caps, the output capture and the kill of the process tree are supervise.py's.

What holds (README.md's sandbox table names the test of each line, in tests/unit/measure/test_sandbox.py):

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

import argparse
import contextlib
import errno
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from diary.core.errors import DiaryError, ToolError
from diary.measure.sandbox.bwrap import RUN_UIDS, bwrap_command, privileged
from diary.measure.sandbox.launcher import ChildUsage, launcher_command
from diary.measure.sandbox.supervise import (
    PROCESS_LIMIT,
    RunResult,
    SandboxInit,
    collect_output,
    decode_exit,
    last_line,
    one_line,
    resource_limits,
    status_of_run,
    with_limits,
)

MODES = ("auto", "bwrap", "none")
# A status of its own for a failure of the machinery (bwrap, the init's set-up, starting the
# sandbox), never a verdict on the program: measure turns it into a tool error and caches nothing.
INFRASTRUCTURE = "infrastructure"
_PROBE_TIMEOUT_S = 30.0
_MACHINE_ERRNOS = (errno.EAGAIN, errno.ENOMEM, errno.EMFILE, errno.ENFILE)


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
            hint="install bubblewrap (apt-get install bubblewrap), or run with --sandbox none to run "
            "snapshots without isolation (the records say so, and diary check refuses them)",
        )
    return "none"


def add_sandbox_option(commands: argparse._SubParsersAction, names: Sequence[str]) -> None:
    """`--sandbox` of the commands `names` (they run snapshots): the builder's choice, never the
    repository's."""
    for name in names:
        commands.choices[name].add_argument(
            "--sandbox", choices=MODES, default="bwrap",
            help="bwrap (default), auto (bwrap if it works) or none: snapshots run as you; the records say so, "
                 "diary check refuses them")


def chosen_sandbox(builder: str, repository: str, settings_file: Path) -> str:
    """The mode of a command's runs: the builder's `--sandbox`, which the repository's `sandbox:`
    can make stricter (`bwrap`: required), never weaker (the loader refuses `none` there)."""
    if repository == "bwrap" and builder != "bwrap":
        raise DiaryError(f"this repository requires the bwrap sandbox, and --sandbox {builder} was given",
                         file=settings_file, hint="run with --sandbox bwrap")
    return sandbox_mode(builder)


def sandbox_notice(mode: str = "none") -> str | None:
    """The one line the CLI prints after snapshots ran in `mode`: what does not hold, or None."""
    if mode == "bwrap":
        return limits_notice()
    why = _bwrap_problem() or "sandbox mode 'none' chosen"
    return f"sandbox off: {why}; snapshots run without file-system and network isolation"


def limits_notice() -> str:
    """How the memory of a whole run is bounded here, since no cgroup is used (note 3 of the table)."""
    if privileged():
        return (f"sandbox: no cgroups; a run's memory is bounded by {PROCESS_LIMIT} processes "
                f"of memory_mb each (uid of its own, RLIMIT_NPROC) plus its sized tmpfs mounts")
    return ("sandbox: no cgroups and not root; memory_mb caps each process of a run, the "
            "process count is not capped (the timeout ends a fork storm)")


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
    is status INFRASTRUCTURE. Thread-safe: the figures are the program's own, reported by its launcher
    (launcher.py), or wait4's on our own child when there is no report.
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
    with RUN_UIDS.take(sandbox == "bwrap") as uid:
        command = [program, *argv[1:]]
        info_read = info_write = status_read = status_write = -1
        # The program's own figures (launcher.py): under bwrap the init reports them after "ready"
        # on the status pipe; without bwrap a launcher in front of the program, on a pipe of its own.
        report_read = report_write = -1
        if sandbox != "bwrap":
            report_read, report_write = os.pipe()
            command = launcher_command(command, report_write)
        else:
            for name in outputs:
                (workdir / name).write_bytes(b"")
                if uid is not None:
                    os.chown(workdir / name, uid, uid)
            info_read, info_write = os.pipe()
            status_read, status_write = os.pipe()
            bwrap = shutil.which("bwrap") or "bwrap"  # found: sandbox_mode probed it
            command = bwrap_command(bwrap, workdir, readable, command, info_fd=info_write,
                                     status_fd=status_write, uid=uid, outputs=outputs)
        limits = resource_limits(memory_mb, count_processes=uid is not None)
        try:
            process = subprocess.Popen(
                with_limits(command, limits), cwd=workdir, env=environment, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                pass_fds=(info_write, status_write) if sandbox == "bwrap" else (report_write,),
            )
        except (OSError, subprocess.SubprocessError) as error:
            if sandbox != "bwrap":
                os.close(report_read)
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
            if sandbox != "bwrap":
                os.close(report_write)
            if sandbox == "bwrap":
                os.close(info_write)
                os.close(status_write)
        sandbox_init = SandboxInit.from_info(info_read, process.pid) if sandbox == "bwrap" else None
        try:
            stdout, stderr, stop_cause = collect_output(process, sandbox_init, started + timeout, output_bytes)
        finally:
            if sandbox_init is not None:
                sandbox_init.close()
        _, wait_status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(wait_status)  # Popen must not reap it again
        ready = True
        if sandbox != "bwrap":
            report = _read_available(report_read)
        else:
            with os.fdopen(status_read, "rb") as status_pipe:
                status_data = status_pipe.read()
            ready = status_data.startswith(b"ready")
            report = status_data.removeprefix(b"ready")
            for name in outputs:  # made empty above: one the program did not write is not there
                with contextlib.suppress(OSError):
                    if (workdir / name).stat().st_size == 0:
                        (workdir / name).unlink()
    wall_s = time.monotonic() - started
    own = ChildUsage.parse(report, process.returncode)
    if own is not None:  # the program's own figures, not those of the tree that started it
        exit_code, signal_name = decode_exit(own.exit_code, "none")
        cpu_s, peak_mb = own.cpu_s, own.peak_mb
    else:  # the launcher was killed (a timeout, the output cap): the whole tree's, from wait4
        exit_code, signal_name = decode_exit(process.returncode, sandbox)
        cpu_s, peak_mb = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux reports kilobytes
    if ready:
        status, reason = status_of_run(
            stop_cause, exit_code, signal_name, bytes(stderr.data), sandbox,
            timeout=timeout, memory_mb=memory_mb, peak_mb=peak_mb,
        )
    else:
        status, reason = INFRASTRUCTURE, "the sandbox did not start: " + (
            last_line(bytes(stderr.data)) or f"bwrap exit code {process.returncode}")
    return RunResult(
        status=status, reason=reason, exit_code=exit_code, signal=signal_name, wall_s=wall_s,
        cpu_s=cpu_s, peak_mb=peak_mb,
        stdout=bytes(stdout.data), stderr=bytes(stderr.data),
        stdout_truncated=stdout.truncated, stderr_truncated=stderr.truncated,
        stdout_sha256=hashlib.sha256(stdout.data).hexdigest(), sandbox=sandbox,
    )


def _read_available(fd: int) -> bytes:
    """What is in the pipe now, then close it. The launcher wrote before it exited (it is reaped);
    never wait: without bwrap a process that left the group could hold the pipe through /proc."""
    os.set_blocking(fd, False)
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    return b"".join(chunks)


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
        status=status, reason=one_line(reason), exit_code=None, signal=None,
        wall_s=time.monotonic() - started, cpu_s=0.0, peak_mb=0.0, stdout=b"", stderr=b"",
        stdout_truncated=False, stderr_truncated=False, stdout_sha256=hashlib.sha256(b"").hexdigest(),
        sandbox=sandbox,
    )
