"""Writes that never leave a half-written file, and the lock that keeps two builds apart.

Under the lock, no write and no removal goes through a link out of the repository (see
safefs.check_writable), and a machine that cannot write (a read-only checkout, a full disk) is a
ToolError (exit 3), never a traceback or a broken snapshot.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from diary.core.errors import DiaryError, LockedError, ToolError
from diary.core.safefs import check_writable, claim_root, release_root, shown

# Write failures of the machine, not of the input.
_MACHINE_ERRNOS = {errno.EROFS: "the file system is read-only", errno.ENOSPC: "the disk is full",
                   errno.EDQUOT: "the disk quota is exhausted", errno.EACCES: "permission denied",
                   errno.EPERM: "permission denied", errno.EIO: "input/output error"}


def machine_error(error: OSError, path: Path) -> DiaryError:
    """The one-line error for a write that failed: a ToolError when the machine is at fault."""
    why = _MACHINE_ERRNOS.get(error.errno or 0)
    if why is not None:
        return ToolError(f"cannot write: {why}", file=shown(path),
                         hint="free space, or make the checkout writable, then run the command again")
    return DiaryError(f"cannot write: {error.strerror}", file=shown(path))


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()  # read once at import: os.umask is process-wide and not thread-safe


def write_bytes_atomic(path: Path, data: bytes) -> bool:
    """Write `data` to `path` through a temporary file and a rename; return False when unchanged.

    Skipping identical content keeps file times still, so watchers and engines see no change. A
    committed link at `path` is replaced by the file (its target is never read or written).
    """
    path = Path(path)
    check_writable(path)
    try:
        if stat.S_ISREG(os.lstat(path).st_mode) and path.read_bytes() == data:
            return False
    except OSError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:100]}.", suffix=".tmp")
    except OSError as error:
        raise machine_error(error, path) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; published files must be world-readable
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise machine_error(error, path) from None
        raise
    return True


def write_text_atomic(path: Path, text: str) -> bool:
    """Write UTF-8 text atomically; return False when the file already held exactly this text."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def remove_stale_temporaries(folder: Path) -> None:
    """Delete temporary files left behind by a process that was killed mid-write."""
    check_writable(Path(folder) / ".tmp")  # the folder itself must not be a link out
    if folder.is_dir():
        for leftover in folder.glob(".*.tmp"):
            try:
                leftover.unlink()
            except OSError:
                pass


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on `<root>/.diary.lock` for the duration; fail at once if taken.

    The kernel drops an flock when its holder dies, so a killed build never leaves a stale lock.
    While it is held, writes under `root` are checked for links (safefs.check_writable). A
    committed `.diary.lock` that is a link is refused, never truncated; on a read-only checkout
    no other process can write either, so the command goes on without the lock (and fails with a
    ToolError only if it has to write).
    """
    claim_root(root)
    try:
        path = Path(root) / ".diary.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise DiaryError("the lock file is a symbolic link", file=shown(path),
                                 hint="delete it (git rm it); the tool makes its own") from None
            if error.errno == errno.EROFS:
                yield
                return
            raise machine_error(error, path) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise DiaryError("the lock file is not a regular file", file=shown(path), hint="delete it")
        with os.fdopen(fd, "r+") as handle:
            yield from _locked(handle, path, root)
    finally:
        release_root(root)


def _locked(handle, path: Path, root: Path) -> Iterator[None]:  # noqa: ANN001 - a text file object
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read(200).strip() or "another process"
        raise LockedError(
            f"another diary command is running here ({shown(holder)})",
            file=path,
            hint="wait for it to finish, then run the command again",
        ) from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
    except OSError as error:
        raise machine_error(error, path) from None
    yield
