"""What may reach `_site/`: the one allowlist of the published tree, asked by `diary check` and `diary build`.

The engines copy a project's files into the site (Quarto the resources a page names or `resources:`
lists, smalldocs every file beside the pages) and read includes, `_variables.yml` and metadata files
while rendering. A committed link would carry its target (`/proc/self/environ`, `/etc/passwd`) into
the site as a regular file, and a file or folder name with a quote would leave the `href` the search
index writes it into. So every file of the project the engines may read is held to the rules the
snapshots are (core/safefs.py): a regular file, reached without links, no device or FIFO, a size
cap, a name that can be published (no markup characters, control codes or non-UTF-8 bytes). The
walk leaves out what no engine reads: dot folders (`.git`, `.venv`, `.diary-cache`, `.quarto`), the
output folder and `_freeze`, and the folders of environments (buildstate.SKIP_DIRS).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from diary.core.errors import DiaryError
from diary.core.safefs import HARD_MAX_FILE_BYTES, check_name, shown
from diary.project.pages import SKIP_DIRS
from diary.render.buildstate import OUTPUT_DIR

MAX_SITE_FILE_BYTES = HARD_MAX_FILE_BYTES  # an image or a download; the engines copy it whole
_LEFT_OUT = {OUTPUT_DIR, "_freeze"}
_KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def unpublishable(root: Path) -> list[DiaryError]:
    """Every file of the project at `root` that may not reach the site, each a DiaryError naming it."""
    root = Path(root)
    problems: list[DiaryError] = []
    pending = [""]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(root / folder if folder else root), key=lambda entry: entry.name)
        except OSError as exc:
            problems.append(DiaryError(f"cannot list the folder: {exc.strerror}", file=shown(root / folder)))
            continue
        for entry in entries:
            if entry.name.startswith(".") or (not folder and entry.name in _LEFT_OUT) or entry.name in SKIP_DIRS:
                continue
            rel = f"{folder}/{entry.name}" if folder else entry.name
            path = root / rel
            try:
                check_name(rel, path)
                info = entry.stat(follow_symlinks=False)
            except DiaryError as error:
                problems.append(error)
                continue
            except OSError as exc:
                problems.append(DiaryError(f"cannot read it: {exc.strerror}", file=shown(path)))
                continue
            if stat.S_ISDIR(info.st_mode):
                pending.append(rel)
            elif not stat.S_ISREG(info.st_mode):
                kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
                problems.append(DiaryError(f"is {kind}: the engines would publish what it points at",
                                           file=shown(path),
                                           hint="commit the file itself: no link, device or FIFO reaches the site"))
            elif info.st_size > MAX_SITE_FILE_BYTES:
                problems.append(DiaryError(f"the file is {info.st_size:,} bytes, over the limit of "
                                           f"{MAX_SITE_FILE_BYTES:,} for a file of the site", file=shown(path),
                                           hint="keep large files out of the repository"))
    return problems


def refuse_unpublishable(root: Path) -> None:
    """Raise the first problem of `unpublishable`: the build renders nothing then."""
    problems = unpublishable(root)
    if problems:
        raise problems[0]
