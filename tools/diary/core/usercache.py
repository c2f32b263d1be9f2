"""Results of pure functions kept between commands, by a hash of their whole input, in the user's cache
folder (`$XDG_CACHE_HOME/diary/`, else `~/.cache/diary/`).

Outside the repository: a checkout cannot bring its own answers, and a fresh machine (CI) computes
everything. Every key includes a hash of the source of the code that computes the value, so a change
to that code is a miss, never a stale answer. An entry that does not load is a miss; a cache folder
that cannot be written is no cache. Values are plain JSON.

The state the tool keeps inside a checkout (`.diary-cache/`: the build and generate states, the
rendered pages) is sealed (`seal`, `unseal`, `read_sealed`) with a random key of the user's, kept
here: a commit can hold such files, and none it brings is believed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from diary import __version__
from diary.core import safefs
from diary.core.errors import DiaryError

T = TypeVar("T")


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
    """Write the entry through a temporary file and a rename, without fsync: a cache entry lost to a
    crash is a miss, and an fsync per entry made a first `diary check` of a long diary seconds slower."""
    path = _path(kind, key)
    try:
        text = json.dumps(value, ensure_ascii=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except (OSError, TypeError, ValueError):
        pass


def _same(value: Any) -> Any:
    return value


def remembered(kind: str, key: str, compute: Callable[[], T], *, encode: Callable[[T], Any] = _same,
               decode: Callable[[Any], T] = _same) -> T:
    """`compute()`, or the value an earlier command stored under `key`: the one lookup-and-store of
    every user of the cache. `decode` turns the stored JSON back into the value and raises on an
    entry of another shape (damaged, or written by other code): that is a miss, computed again."""
    data = load(kind, key)
    if data is not None:
        try:
            return decode(data)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            pass
    value = compute()
    store(kind, key, encode(value))
    return value


def secret() -> bytes | None:
    """A random key of this user on this machine, made once in the cache folder (never in a
    repository): it seals the state the tool keeps inside a checkout (render/buildstate.py), so a
    commit cannot bring a state of its own. None when the folder cannot hold one."""
    path = cache_dir() / "state.key"
    for _ in range(2):
        try:
            key = bytes.fromhex(path.read_text(encoding="ascii").strip())
            return key if len(key) == 32 else None
        except FileNotFoundError:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue  # another process made it first: read theirs
            except OSError:
                return None
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(os.urandom(32).hex())
        except (OSError, ValueError):
            return None
    return None


def _mac(text: str) -> str | None:
    key = secret()
    return None if key is None else hmac.new(key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def seal(text: str) -> str:
    """`text` as kept in `.diary-cache/`: its MAC on the first line (empty when there is no key)."""
    return f"{_mac(text) or ''}\n{text}"


def unseal(sealed: str) -> str | None:
    """The text `seal` kept, or None when its MAC is not this user's (a committed or forged file)."""
    mac, _, text = sealed.partition("\n")
    expected = _mac(text)
    return text if expected is not None and hmac.compare_digest(mac, expected) else None


def read_sealed(path: Path) -> str | None:
    """A sealed file in a repository (`.diary-cache/`) that this user's tool wrote, read without
    links (a FIFO or a link there is no state, never a hang), or None."""
    try:
        return unseal(safefs.read_bytes(path, safefs.HARD_MAX_FILE_BYTES).decode("utf-8"))
    except (DiaryError, UnicodeDecodeError):
        return None
