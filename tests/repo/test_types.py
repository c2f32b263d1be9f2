"""The type checker runs on tools/ and finds nothing (its settings are in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

from diarykit import REPO


def test_mypy_is_clean_on_tools() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", "/dev/null"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout
