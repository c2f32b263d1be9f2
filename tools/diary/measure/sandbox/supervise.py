"""Supervision of one run's process (sandbox.py): its caps, its output and its end.

The resource limits set between fork and exec (address space, file size, open files, and the process
count under a uid of its own), both pipes read into capped buffers until the program ends, times out
or overflows, the kill of the whole process tree (through a pidfd of the sandbox's init under bwrap),
and the status and reason a run that started ends with. The figures are the launcher's report
(launcher.py), read in sandbox.py.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TRUNCATION_MARKER = "\n[... output truncated ...]"
FILE_SIZE_LIMIT_BYTES = 64 * 2**20
OPEN_FILES_LIMIT = 512
PROCESS_LIMIT = 64  # processes of one run (as root, under its own uid)
_READ_CHUNK_BYTES = 65536
# How long killed processes get to let go of the pipes; only a process that escaped the kill
# (possible without bwrap) makes the call wait this long.
_KILL_GRACE_S = 2.0
_CRASH_NEAR_CAP = 0.9  # a crash with peak memory above this share of the cap counts as "memory"
_MEMORY_ERROR_MARKERS = (b"MemoryError", b"Cannot allocate memory", b"out of memory")
_REASON_MAX_CHARS = 200


@dataclass(frozen=True)
class RunResult:
    """How one run ended and what it printed."""

    status: str  # ok | failed | crashed | timeout | memory | output | error | infrastructure
    reason: str  # one line for a reader; "" when ok
    exit_code: int | None
    signal: str | None  # e.g. "SIGSEGV"
    wall_s: float
    cpu_s: float  # user + sys of the program and the descendants it waited for (launcher.py)
    peak_mb: float  # largest resident set of the program or of one of those descendants
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


def resource_limits(memory_mb: int, count_processes: bool) -> list[tuple[int, tuple[int, int]]]:
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


# Sets the limits, then becomes the command: limits are inherited through exec and fork, so the whole
# tree of the run has them. A process of its own rather than `preexec_fn`, which the standard library
# calls unsafe in a threaded program (measure starts runs from a thread pool). It also asks for
# SIGKILL as soon as the tool (argv[2], its parent) dies, even by SIGKILL (PR_SET_PDEATHSIG, kept
# across the exec of bwrap, which is not set-uid): no sandbox outlives the tool (bwrap.py's init
# sees to what runs under bwrap).
_LIMITED_EXEC = """\
import ctypes, os, resource, signal, sys
for item in sys.argv[1].split(","):
    kind, soft, hard = (int(number) for number in item.split(":"))
    resource.setrlimit(kind, (soft, hard))
ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[2]):  # the tool died before the signal was armed
    sys.exit(1)
try:
    os.execv(sys.argv[3], sys.argv[3:])
except OSError as error:
    sys.stderr.write(f"diary-sandbox: cannot start {sys.argv[3]!r}: {error.strerror}\\n")
    sys.exit(127)
"""


def with_limits(command: list[str], limits: list[tuple[int, tuple[int, int]]]) -> list[str]:
    """`command` started under `limits` (resource, (soft, hard)), set before it runs."""
    spec = ",".join(f"{kind}:{soft}:{hard}" for kind, (soft, hard) in limits)
    return [sys.executable, "-I", "-S", "-c", _LIMITED_EXEC, spec, str(os.getpid()), *command]


@dataclass(frozen=True)
class SandboxInit:
    """The init of a run's PID namespace (see bwrap.py's _SANDBOX_INIT), as its PID and a pidfd."""

    pid: int
    pidfd: int

    @classmethod
    def from_info(cls, info_read: int, bwrap_pid: int) -> SandboxInit | None:
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
        return _kill_children(self.pid)

    def kill(self) -> None:
        _kill_quietly(signal.pidfd_send_signal, self.pidfd)

    def close(self) -> None:
        os.close(self.pidfd)


def _kill_children(pid: int) -> bool:
    """SIGKILL the direct children of `pid`; True when there was any."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return False
    for child in children:
        _kill_quietly(os.kill, int(child))
    return bool(children)


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


def collect_output(
    process: subprocess.Popen, sandbox_init: SandboxInit | None, deadline: float, output_bytes: int,
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


def _kill_tree(pid: int, exit_pidfd: int, sandbox_init: SandboxInit | None) -> None:
    """SIGKILL everything the run started; the main process stays unreaped for wait4."""
    if sandbox_init is not None:
        # The init is spared at first: it reaps the program, so wait4 on bwrap covers the program's
        # usage, and its exit kills every process left in the namespace; bwrap then exits too.
        if sandbox_init.kill_children():
            _wait_readable(exit_pidfd, _KILL_GRACE_S)
        sandbox_init.kill()
    elif _kill_children(pid):
        # Without bwrap the launcher (launcher.py) is spared at first too: it reaps the program and
        # reports the program's own figures; then the whole process group goes.
        _wait_readable(exit_pidfd, _KILL_GRACE_S)
    _kill_quietly(os.killpg, pid)


def _wait_readable(fd: int, seconds: float) -> None:
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        selector.select(seconds)


def decode_exit(returncode: int, sandbox: str) -> tuple[int | None, str | None]:
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


def status_of_run(
    stop_cause: str | _Capture | None, exit_code: int | None, signal_name: str | None, stderr: bytes,
    sandbox: str, *, timeout: float, memory_mb: int, peak_mb: float,
) -> tuple[str, str]:
    """(status, reason) of a run that started."""
    if exit_code == 127 and stderr.startswith(b"diary-sandbox: cannot start "):  # the launcher's word
        return "error", one_line(stderr.decode("utf-8", errors="replace").removeprefix("diary-sandbox: "))
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
    last = last_line(stderr)
    # Shortened as a whole: the prefix must not push a long last line past the limit.
    return "failed", one_line(f"exit code {exit_code}" + (f": {last}" if last else ""))


def last_line(data: bytes) -> str:
    lines = data.decode("utf-8", errors="replace").strip().splitlines()
    return one_line(lines[-1]) if lines else ""


def one_line(text: str) -> str:
    """The first line of `text`, printable and short."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    printable = "".join(c if c.isprintable() else "?" for c in first)
    return printable if len(printable) <= _REASON_MAX_CHARS else printable[: _REASON_MAX_CHARS - 3] + "..."


def _size(count: int) -> str:
    for unit, factor in (("MB", 2**20), ("KB", 2**10)):
        if count >= factor and count % factor == 0:
            return f"{count // factor} {unit}"
    return f"{count} bytes"
