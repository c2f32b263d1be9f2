"""Results of pure functions kept between commands, by a hash of their whole input, in the user's cache
folder (`$XDG_CACHE_HOME/diary/`, else `~/.cache/diary/`).

Outside the repository: a checkout cannot bring its own answers, and a fresh machine (CI) computes
everything. Every key includes a hash of the source of the code that computes the value, so a change
to that code is a miss, never a stale answer. An entry that does not load is a miss; a cache folder
that cannot be written is no cache. Values are plain JSON.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from . import __version__
from .atomic import write_text_atomic


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "diary"


@functools.cache
def code_salt(*modules: ModuleType) -> str:
    """A hash of the tool's version and of the source of `modules`: what computes the cached values."""
    digest = hashlib.sha256(__version__.encode())
    for module in modules:
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()


def key_of(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _path(kind: str, key: str) -> Path:
    return cache_dir() / kind / key[:2] / f"{key}.json"


def load(kind: str, key: str) -> Any:
    """The value stored under `key`, or None."""
    try:
        return json.loads(_path(kind, key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def store(kind: str, key: str, value: Any) -> None:
    try:
        write_text_atomic(_path(kind, key), json.dumps(value, ensure_ascii=False))
    except (OSError, TypeError, ValueError):
        pass
