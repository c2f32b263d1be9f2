"""One lock per command, and the pre-render hook under `diary build`, without environment variables."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from diary.core.lock import command_lock
from diarykit import REPO, run_diary


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".diary.lock"}


def a_built_diary(tiny_site_root: Path, tmp_path: Path) -> Path:
    """A copy of the tiny diary as built (records, generated files), without its rendered site."""
    return Path(shutil.copytree(tiny_site_root, tmp_path / "diary", symlinks=True,
                                ignore=shutil.ignore_patterns("_site", ".diary-cache", ".diary.lock")))


def test_the_hook_under_the_process_holding_the_lock_returns_at_once(tiny_site_root: Path, tmp_path: Path) -> None:
    # What the engine of `diary build` does: it runs `diary refresh` while the build holds the lock.
    # The build measured and generated already, so the hook succeeds and changes nothing.
    root = a_built_diary(tiny_site_root, tmp_path)
    (root / "_variables.yml").write_text("stale: true\n")  # would be rewritten by a real refresh
    before = tree(root)
    with command_lock(root):
        proc = run_diary(root, "refresh", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert tree(root) == before


def test_the_hook_with_no_lock_held_measures_and_generates(tiny_site_root: Path, tmp_path: Path) -> None:
    # A plain `quarto render` runs the hook with nothing held: it does the work.
    root = a_built_diary(tiny_site_root, tmp_path)
    expected = (root / "_variables.yml").read_bytes()
    (root / "_variables.yml").write_text("stale: true\n")
    proc = run_diary(root, "refresh", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert (root / "_variables.yml").read_bytes() == expected


def test_a_command_run_beside_another_is_refused(tiny_site_root: Path, tmp_path: Path) -> None:
    # Held by a process that is not an ancestor (another terminal's command): refused, exit 2.
    root = a_built_diary(tiny_site_root, tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {str(REPO / "tools")!r})
            from diary.core.lock import command_lock
            with command_lock({str(root)!r}):
                print("held", flush=True)
                time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        for command in ("refresh", "generate"):
            proc = run_diary(root, command, "--quiet")
            assert proc.returncode == 2, proc.stderr
            assert "another diary command is running here" in proc.stderr
    finally:
        holder.kill()
        holder.wait()
