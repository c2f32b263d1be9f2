"""The bwrap side of the sandbox (sandbox.py): the command line that runs a program under bubblewrap.

What the sandbox mounts (the system's /usr, a few files of /etc, the interpreter's prefixes, the
caller's `readable` paths, sized tmpfs mounts for the working directory, /tmp and /dev/shm), the uid a
run gets (one of its own per concurrent run as root, `nobody` in a user namespace otherwise) and the
init that is PID 1 of the sandbox. Starting and supervising the process is supervise.py's part.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from diary.measure.sandbox.launcher import SPAWN_AND_REPORT

NOBODY_ID = 65534
WORKDIR_LIMIT_BYTES = 256 * 2**20  # the working directory's tmpfs, inputs included
SCRATCH_LIMIT_BYTES = 64 * 2**20  # each of /tmp and /dev/shm
# Run uids as root: one per run, far above any uid a system hands out (and above the subordinate
# ranges of user namespaces), so they own nothing on the machine. Drawn at random from a wide span,
# not counted from the base: several diary processes run at once (parallel tests, two measures),
# and a uid shared with another process's run, or with a fork storm of an earlier run still being
# reaped, would share its RLIMIT_NPROC count (a run refused its first fork: EAGAIN).
RUN_UID_BASE = 1_900_000_000
RUN_UID_SPAN = 200_000_000  # below 2**31: every uid stays a positive 32-bit number
# What the sandbox sees of the host: the system's programs and libraries, and the few files of /etc
# the dynamic loader and time functions read. No /home, /root, /run, /tmp, /var, /work, /etc/shadow.
SYSTEM_DIRECTORIES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
             "/etc/alternatives")
INPUT_MOUNT = "/.diary-input"  # the caller's working directory, read-only, copied in by the init

# PID 1 of the sandbox. With bwrap's own init, bwrap exits before that init is reaped, so wait4 on
# bwrap misses the program's CPU time and peak memory; a program that is PID 1 itself would ignore
# its own abort() and kill(). This init copies the caller's files into the working directory (a
# tmpfs), gives them and itself the run's uid (as root: it starts with only CAP_CHOWN, CAP_SETUID
# and CAP_SETGID and drops them with the uid), says "ready" on the status pipe, then runs the
# program as an ordinary child (with the signal dispositions Python's startup changed set back),
# waits for it, writes the program's own figures after "ready" (launcher.py) and exits as bwrap
# does: 128 + N when the program died of signal N. Without "ready", the sandbox itself failed.
# Killing it kills every process in the namespace.
_SANDBOX_INIT = SPAWN_AND_REPORT + """\
import json, os, select, shutil, signal, sys, threading
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
except OSError as error:
    sys.exit(f"diary-sandbox: set-up failed: {error}")


def end_with_the_tool(fd):
    # The tool alone reads the status pipe: when nobody does, it is gone (even killed by SIGKILL),
    # and this init exits, which ends every process of the namespace. bwrap's --die-with-parent
    # cannot see to it: the change of uid above clears the parent-death signal, and PID 1 of a
    # namespace ignores SIGTERM from outside.
    poller = select.poll()
    poller.register(fd, select.POLLERR)
    poller.poll()
    os._exit(137)


threading.Thread(target=end_with_the_tool, args=(setup["status_fd"],), daemon=True).start()
spawn_and_report(sys.argv[2:], setup["status_fd"])  # the program's own figures follow "ready"
"""


def privileged() -> bool:
    """True when we run as root (CI, a container): each run then gets a uid of its own."""
    return os.geteuid() == 0


class _RunUids:
    """A uid of its own for each run as root, so RLIMIT_NPROC counts that run's processes only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken: set[int] = set()

    @contextlib.contextmanager
    def take(self, wanted: bool) -> Iterator[int | None]:
        if not (wanted and privileged()):
            yield None  # bwrap maps `nobody` inside to our own uid; without bwrap nothing changes
            return
        with self._lock:
            slot = secrets.randbelow(RUN_UID_SPAN)
            while slot in self._taken:
                slot = secrets.randbelow(RUN_UID_SPAN)
            self._taken.add(slot)
        try:
            yield RUN_UID_BASE + slot
        finally:
            with self._lock:
                self._taken.discard(slot)


RUN_UIDS = _RunUids()


def bwrap_command(
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

