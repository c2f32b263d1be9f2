"""The trust boundary for files: what the repository holds is read, and written over, without links.

A diary is cloned, forked and sent as pull requests, so every file in it is input. A committed
symlink must never carry a file from outside the repository (`/etc/passwd`, `/proc/self/environ`,
`~/.ssh/id_rsa`) into a record, a page or the sandbox, and nothing the tool writes or deletes may
follow one out of it. Devices and FIFOs would hang a read; huge files, too many files and names no
file system or page can hold would make the tool crash or do unbounded work. Each such file is one
DiaryError naming it (exit 2), before any work is done.

Writers go through `check_writable` (atomic.py calls it for every write under the locked root):
every folder between the diary's root and the file must be a real folder, never a link.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from diary.core.errors import DiaryError

# Defaults of `max_file_kb` and `max_files` in code/diary.yml; HARD_MAX_FILE_BYTES bounds the former.
MAX_FILE_BYTES = 4 * 2**20  # one snapshot or data file; the program under test is ~10 KB
MAX_FILES = 500  # files in one snapshot
HARD_MAX_FILE_BYTES = 64 * 2**20
MAX_NAME_CHARS = 120  # one component of a path: room for the prefixes of temporary files (255 bytes)
MAX_PATH_CHARS = 400
# Characters that mean something in HTML, Markdown links, Quarto shortcodes or a shell: a file name
# goes into all of them (`x)<img src=x onerror=...>(.txt`, `y >}}{{< env GITHUB_TOKEN >}}.txt`).
MARKUP_CHARACTERS = frozenset("<>{}[]()\"'`|&;$\\*")

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO never hangs
_KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def shown(path: str | Path) -> str:
    """A path as it may be printed: control characters and undecodable bytes escaped."""
    text = str(path)
    if text.isprintable() and not any(0xDC80 <= ord(c) <= 0xDCFF for c in text):
        return text
    return repr(text)[1:-1]


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def check_name(name: str, where: Path) -> None:
    """A file name the tool can hold in a record, a page and a temporary file's name."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise DiaryError("the file name is not UTF-8", file=shown(where),
                         hint="rename the file (UTF-8 names only)") from None
    for part in name.split("/"):
        if len(part) > MAX_NAME_CHARS:
            raise DiaryError(f"a file name longer than {MAX_NAME_CHARS} characters", file=shown(where),
                             hint="give the file a shorter name")
        if not part.isprintable():
            raise DiaryError("the file name holds control characters", file=shown(where),
                             hint="rename the file")
        markup = sorted(set(part) & MARKUP_CHARACTERS)
        if markup:
            raise DiaryError(f"the file name holds {' '.join(markup)}", file=shown(where),
                             hint="use letters, digits and . _ - + in file names")
    if len(name) > MAX_PATH_CHARS:
        raise DiaryError(f"a path longer than {MAX_PATH_CHARS} characters", file=shown(where),
                         hint="flatten the folders")


def real_directory(root: Path, directory: Path) -> Path:
    """`directory`, after checking that it and every folder between `root` and it is a real folder.

    `root` itself (the diary the user named) may be reached through links; nothing inside it may.
    """
    root, directory = Path(root), Path(directory)
    try:
        relative = directory.relative_to(root)
    except ValueError:
        raise DiaryError("outside the diary's root folder", file=shown(directory),
                         hint=f"keep it under {shown(root)}") from None
    current = root
    for part in relative.parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            raise DiaryError("folder not found", file=shown(current), hint="create it or fix the path") from None
        except OSError as exc:
            raise DiaryError(f"cannot read the folder: {exc.strerror}", file=shown(current)) from None
        if not stat.S_ISDIR(mode):
            raise DiaryError(f"is {_kind(mode)}, not a folder", file=shown(current),
                             hint="replace the link by the folder itself; links are never followed")
    return directory


def list_files(
    directory: Path, root: Path, *, skip: Callable[[str], bool] = lambda rel: False,
    max_files: int = MAX_FILES, max_bytes: int = MAX_FILE_BYTES,
) -> tuple[str, ...]:
    """The regular files under `directory` as sorted paths relative to it, links never followed.

    `skip(relative path)` leaves a file or folder out without looking into it. A link, device, FIFO
    or socket, a file over `max_bytes`, more than `max_files` files, or a name `check_name` refuses
    is a DiaryError naming that file.
    """
    real_directory(root, directory)
    found: list[str] = []
    pending = [""]  # folders relative to `directory`; a stack, so deep trees do not recurse
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(directory / folder if folder else directory))
        except OSError as exc:
            raise DiaryError(f"cannot list the folder: {exc.strerror}", file=shown(directory / folder)) from None
        for entry in entries:
            rel = f"{folder}/{entry.name}" if folder else entry.name
            if skip(rel):
                continue
            path = directory / rel
            check_name(rel, path)
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                pending.append(rel)
            elif not stat.S_ISREG(mode):
                raise DiaryError(f"is {_kind(mode)}", file=shown(path),
                                 hint="commit the file itself; links, devices and FIFOs are never read")
            else:
                size = entry.stat(follow_symlinks=False).st_size
                if size > max_bytes:
                    raise DiaryError(f"the file is {size:,} bytes, over the limit of {max_bytes:,}",
                                     file=shown(path), hint="keep large files out of snapshots")
                found.append(rel)
                if len(found) > max_files:
                    raise DiaryError(f"more than {max_files} files", file=shown(directory),
                                     hint="a snapshot holds the program's sources, not a data set")
    return tuple(sorted(found))


def read_bytes(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's content, opened without following a link; anything else is a DiaryError."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: the last component is a link
            raise DiaryError("is a symbolic link", file=shown(path),
                             hint="commit the file itself; links are never followed") from None
        raise DiaryError(f"cannot read the file: {exc.strerror}", file=shown(path)) from None
    # The kind is asked of the descriptor before it becomes a file object: os.fdopen of a folder
    # raises an error whose file name is the descriptor (an int), not the path.
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else _kind(info.st_mode)
        raise DiaryError(f"is {kind}, not a file", file=shown(path),
                         hint="commit a regular file; folders, devices and FIFOs are never read")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DiaryError(f"the file is over the limit of {max_bytes:,} bytes", file=shown(path),
                         hint="keep large files out of the diary's inputs")
    return data


def check_file(root: Path, path: Path, max_bytes: int = MAX_FILE_BYTES) -> None:
    """A regular file under `root`, reached without links, at most `max_bytes`: else a DiaryError."""
    real_directory(root, Path(path).parent)
    read_bytes(path, max_bytes)


def copy_file(source: Path, target: Path, max_bytes: int = HARD_MAX_FILE_BYTES) -> None:
    """Copy a repository file into a folder of ours (a run's), reading it as `read_bytes` does."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(read_bytes(source, max_bytes))


# The roots the tool writes under, while their build lock is held (set by atomic.build_lock).
_owned_roots: list[Path] = []
_owned_lock = threading.Lock()


def claim_root(root: Path) -> None:
    with _owned_lock:
        _owned_roots.append(Path(root).absolute())


def release_root(root: Path) -> None:
    with _owned_lock:
        _owned_roots.remove(Path(root).absolute())


def check_writable(path: Path) -> None:
    """Refuse a write or delete at `path` when a link stands between an owned root and it.

    A committed `_generated`, `_data/records` or `snapshots/raw` that is a link to a home folder
    would otherwise have the tool write into it, or empty it. Paths outside every owned root (a
    caller's own temporary files) are left alone; missing folders are fine (mkdir makes real ones).
    """
    path = Path(path).absolute()
    with _owned_lock:
        roots = [root for root in _owned_roots if path.is_relative_to(root)]
    for root in roots:
        no_links(root, path.parent)


def no_links(root: Path, path: Path) -> Path:
    """`path`, after checking that no existing folder from `root` down to it (itself included) is a link.

    Missing folders are fine: mkdir makes real ones.
    """
    root, path = Path(root), Path(path)
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            break
        if not stat.S_ISDIR(mode):
            raise DiaryError(f"is {_kind(mode)}, not a folder: nothing is read or written through it",
                             file=shown(current), hint="delete it; the tool makes the folder itself")
    return path


def stat_digest(paths: Iterable[Path], base: Path) -> str:
    """A hash of `paths` by their path under `base`, size and modification time (missing ones left
    out): cheap change detection for caches, never a judgement of content."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue
        digest.update(f"{path.relative_to(base).as_posix()}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()
