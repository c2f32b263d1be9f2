"""The Quarto CLI wrapper of the render stage (render.py): finding quarto, its version, and running
`quarto render` (of the whole project or of one page) and `quarto preview` as subprocesses,
with their output handed on line by line and their warnings collected.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from diary.core.errors import DiaryError

MIN_QUARTO = (1, 10, 0)  # the release line the diary is rendered and tested with (publish.yml pins one)
QUARTO_GET_STARTED = "https://quarto.org/docs/get-started/"
INSTALL_HINT = f"install Quarto from {QUARTO_GET_STARTED} or use --engine smalldocs"
# How many of a failed render's last output lines the error repeats: Quarto's error and its context.
TAIL_LINES = 20
# `quarto --version` starts Deno; the first run after an install can take a while.
VERSION_TIMEOUT_SECONDS = 60
# Time given to an interrupted Quarto to clean up before it is killed.
STOP_TIMEOUT_SECONDS = 5
VERSION_PATTERN = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?", re.MULTILINE)
# Quarto colours its log lines; the colour codes would hide a line's "WARN" prefix.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
QUARTO_WARNING = re.compile(r"^WARN(ING)?\b")

Echo = Callable[[str], None]


def find_quarto() -> str | None:
    """The quarto binary: QUARTO_PATH when set (as the quarto R package reads it), else `quarto` on PATH."""
    configured = os.environ.get("QUARTO_PATH")
    if configured:
        found = shutil.which(os.path.expanduser(configured))
        if found is None:
            # An explicit setting that points nowhere is a mistake to report, not a cue to use another quarto.
            raise DiaryError(
                f"QUARTO_PATH is {configured!r}, which is not an executable file",
                hint="point QUARTO_PATH at the quarto binary, or unset it to use quarto from PATH",
            )
        return found
    return shutil.which("quarto")


def quarto_version(executable: str) -> tuple[int, ...]:
    """The version `executable --version` reports, e.g. (1, 6, 40); (1, 4) is read as (1, 4, 0)."""
    try:
        completed = subprocess.run(
            [executable, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=VERSION_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DiaryError(f"could not run {executable} --version: {error}", hint=INSTALL_HINT) from error
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip()
        raise DiaryError(
            f"{executable} --version failed with exit code {completed.returncode}: {output[-300:]}",
            hint="`quarto check` diagnoses the installation; or use --engine smalldocs",
        )
    match = VERSION_PATTERN.search(completed.stdout)
    if match is None:
        raise DiaryError(
            f"{executable} --version printed {completed.stdout.strip()[:80]!r}, not a version such as 1.10.18",
            hint=INSTALL_HINT,
        )
    return tuple(int(part or 0) for part in match.groups())


def format_version(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def quarto_command(
    executable: str, action: str, root: Path, *, quiet: bool = False, extra: Sequence[str] = ()
) -> list[str]:
    """The command line that runs `quarto render` or `quarto preview` on the project at `root`."""
    if action not in ("render", "preview"):
        raise ValueError(f"quarto action must be render or preview, not {action!r}")
    command = [executable, action, str(root)]
    if quiet:
        command.append("--quiet")
    command.extend(extra)
    return command


def render_page_command(executable: str, page: str, *, quiet: bool = False) -> list[str]:
    """`quarto render PAGE`, run in the project's folder: one input and only Quarto's own options (a
    page named like an option is given as ./-name, so it stays the input)."""
    target = f"./{page}" if page.startswith("-") else page
    return [executable, "render", target, *(["--quiet"] if quiet else [])]


def render_with_quarto(
    root: Path, executable: str, label: str, *, quiet: bool, env: dict[str, str], echo: Echo,
    page: str | None = None,
) -> list[str]:
    """`quarto render` of the whole project, or of the one `page` (a path relative to the root).

    Quarto's CLI takes ONE input, a file or a folder (`quarto render [input] [args...]`), and hands
    every further argument to Pandoc, which reads a second file as more text of the first page: so a
    page is always rendered alone (render/quarto_pages.py says which pages a build renders). Rendered
    alone, a page brings the listings that list it, and the search index, sitemap and feeds are updated,
    not rebuilt."""
    command = quarto_command(executable, "render", root, quiet=quiet) if page is None \
        else render_page_command(executable, page, quiet=quiet)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    warnings = []
    process = start_quarto(
        command,
        root,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream keeps Quarto's errors next to the step they belong to
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    with process:
        try:
            assert process.stdout is not None  # stdout=PIPE
            for raw_line in process.stdout:
                line = raw_line.rstrip("\r\n")
                tail.append(line)
                if QUARTO_WARNING.match(ANSI_ESCAPE.sub("", line)):
                    warnings.append(line)
                echo(line)
        except BaseException:  # Ctrl-C, or an echo that fails: never leave quarto running behind us
            stop_quarto(process)
            raise
    if process.returncode != 0:
        last_lines = "\n".join(f"  {line}" for line in tail)
        raise DiaryError(
            f"{label} failed with exit code {process.returncode}; its last lines:\n{last_lines}",
            file=root,
            hint="the lines above come from quarto; `quarto check` diagnoses the installation, "
            "and --engine smalldocs renders without it",
        )
    return warnings


def start_quarto(command: list[str], root: Path, **options: Any) -> subprocess.Popen[Any]:
    try:
        return subprocess.Popen(command, cwd=root, **options)
    except OSError as error:  # missing, not executable, or not a binary at all
        raise DiaryError(f"could not start {command[0]}: {error.strerror}", hint=INSTALL_HINT) from error


def stop_quarto(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def preview_with_quarto(
    executable: str, root: Path, *, env: dict[str, str], port: int, open_browser: bool
) -> int:
    """`quarto preview` of the project at `root` until Ctrl-C; return its exit code."""
    extra = ([] if open_browser else ["--no-browser"]) + ["--port", str(port)]
    command = quarto_command(executable, "preview", root, extra=extra)
    process = start_quarto(command, root, env={**os.environ, **env})
    try:
        return process.wait()
    except KeyboardInterrupt:  # the normal way to end a preview; quarto got the same Ctrl-C from the terminal
        stop_quarto(process)
        return 0
