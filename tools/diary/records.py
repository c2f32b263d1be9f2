"""Stage "record": one YAML file per snapshot under `_data/records/`, keyed by what produced it.

Like asv's results, a record carries a schema version and the key of what produced it (content hash
of the snapshot + settings + measuring code), so an unchanged snapshot is never measured again. A
record that does not load is never silently replaced: the error names file, line and column, and
only `--force` overwrites it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .atomic import write_text_atomic
from .errors import DiaryError
from .safefs import no_links
from .yamlio import compose_and_load, dump_yaml, read_utf8

RECORD_SCHEMA = 1
RECORDS_DIR = "_data/records"

_COUNTS = {"physical": int, "blank": int, "comment": int, "docstring": int, "code": int}
_NUM = (int, float)
_OPT_STR = (str, type(None))
_OPT_INT = (int, type(None))

# The shape of a record: a dict is a mapping with exactly these keys (extra keys are an error, so a
# typo in a hand edit is caught), a list of one schema is a list of such items, `dict[str, X]` is
# written as ("map", X), and a type or tuple of types is a leaf.
RECORD_SHAPE: dict[str, Any] = {
    "schema": int,
    "id": str,
    "key": str,
    "produced_by": {"tool": str, "measure": str, "settings": str, "content": str, "baseline": str, "suite": str},
    "snapshot": {
        "title": str, "date": str, "parent": _OPT_STR, "note": str, "expect": str, "entry": str, "files": [str],
    },
    "lines": {"total": _COUNTS, "files": ("map", _COUNTS)},
    "definitions": [{"name": str, "kind": str, "file": str, "start": int, "end": int, **_COUNTS}],
    "comments": {"total": int, "kept": int, "percent": _NUM, "dropped": [str]},
    "tabs": [{"file": str, "line": int}],
    "run": {
        "status": str, "reason": str, "exit_code": _OPT_INT, "signal": _OPT_STR, "wall_s": _NUM, "cpu_s": _NUM,
        "peak_mb": _NUM, "sandbox": str, "command": str, "stdout_sha256": str, "stdout_truncated": bool,
        "stdout_lines": [str], "stderr_excerpt": str,
    },
    "behaviour": {
        "identical": bool, "compared_with": str,
        "first_difference": (type(None), {"line": int, "expected": str, "actual": str}),
    },
    "tests": {
        "status": str, "passed": int, "failed": int, "errors": int, "skipped": int, "seconds": _NUM,
        "cpu_s": _NUM, "reason": str, "failures": [{"test": str, "message": str}],
    },
    "verdict": {"status": str, "expected": str, "surprise": bool, "reasons": [str]},
}


def records_dir(root: Path) -> Path:
    return no_links(root, Path(root) / RECORDS_DIR)  # a committed link out is refused (safefs)


def record_path(root: Path, snapshot_id: str) -> Path:
    return records_dir(root) / f"{snapshot_id}.yml"


def _kind_name(kind: Any) -> str:
    if isinstance(kind, tuple) and kind and kind[0] == "map":
        return "a mapping"
    if isinstance(kind, tuple):
        return " or ".join(_kind_name(k) for k in kind)
    if isinstance(kind, dict):
        return "a mapping"
    if isinstance(kind, list):
        return "a list"
    return {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
            "NoneType": "null"}.get(kind.__name__, kind.__name__)


def _check(value: Any, node: yaml.Node, kind: Any, path: str, file: Path) -> None:
    """Walk value and its YAML node together; raise at the node whose value has the wrong shape."""

    def fail(message: str, at: yaml.Node) -> DiaryError:
        return DiaryError(
            _one_line(f"record field '{path}' {message}" if path else f"record {message}"), file=file,
            line=at.start_mark.line + 1, column=at.start_mark.column + 1,
            hint="restore the file from git, or run 'diary measure --force' to measure it again",
        )

    if isinstance(kind, tuple) and kind and kind[0] == "map":
        if not isinstance(value, dict):
            raise fail(f"must be {_kind_name(kind)}", node)
        for (_key_node, v_node), (key, item) in zip(node.value, value.items(), strict=True):
            _check(item, v_node, kind[1], f"{path}.{key}", file)
        return
    if isinstance(kind, tuple) and any(isinstance(k, dict | list) for k in kind):
        for option in kind:
            try:
                _check(value, node, option, path, file)
                return
            except DiaryError:
                continue
        raise fail(f"must be {_kind_name(kind)}", node)
    if isinstance(kind, dict):
        if not isinstance(value, dict) or not isinstance(node, yaml.MappingNode):
            raise fail("must be a mapping", node)
        nodes = {str(k.value): (k, v) for k, v in node.value}
        for key in value:
            if key not in kind:
                raise fail(f"has an unknown key '{key}'", nodes[str(key)][0])
        for key, sub in kind.items():
            if key not in value:
                raise fail(f"is missing the key '{key}'", node)
            _check(value[key], nodes[key][1], sub, f"{path}.{key}" if path else key, file)
        return
    if isinstance(kind, list):
        if not isinstance(value, list):
            raise fail("must be a list", node)
        for index, (item, item_node) in enumerate(zip(value, node.value, strict=True)):
            _check(item, item_node, kind[0], f"{path}[{index}]", file)
        return
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise fail(f"must be {_kind_name(kind)}, not {value!r}", node)
    if not isinstance(value, kinds):
        raise fail(f"must be {_kind_name(kind)}, not {value!r}", node)


def _one_line(message: str) -> str:
    """Keys and values quoted from a damaged record may hold line breaks; an error stays one line."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def _check_keys(node: yaml.Node, file: Path) -> None:
    """Every key a plain string, once per mapping, and no merge keys: what a record writer produces.
    (A merge conflict resolved by hand, or `false:` / `<<:` typed by hand, are refused here.)"""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_keys(item, file)
        return
    if not isinstance(node, yaml.MappingNode):
        return
    seen: set[str] = set()
    for key_node, value_node in node.value:
        mark = key_node.start_mark
        problem = None
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
            problem = f"has a key that is not a plain name: {str(getattr(key_node, 'value', ''))[:40]!r}"
        elif key_node.value in seen:
            problem = f"has the key '{key_node.value}' twice"
        if problem:
            raise DiaryError(
                _one_line(f"record {problem}"), file=file, line=mark.line + 1, column=mark.column + 1,
                hint="restore the file from git, or run 'diary measure --force' to measure it again",
            )
        seen.add(key_node.value)
        _check_keys(value_node, file)


def parse_record(text: str, file: Path) -> dict:
    """Parse and validate one record; any problem is a DiaryError naming file, line and column."""
    hint = "restore the file from git, or run 'diary measure --force' to measure it again"
    if not text.strip():
        raise DiaryError("record file is empty (was a write interrupted?)", file=file, line=1, hint=hint)
    node, value = compose_and_load(text, file, what="record is ", hint=hint,
                                   check=lambda node: _check_keys(node, file))
    if not isinstance(value, dict) or not isinstance(node, yaml.MappingNode):
        raise DiaryError("record must be a YAML mapping", file=file, line=1, column=1, hint=hint)
    schema = value.get("schema")
    if isinstance(schema, int) and not isinstance(schema, bool) and schema > RECORD_SCHEMA:
        raise DiaryError(
            f"record has schema {schema}, newer than this tool's {RECORD_SCHEMA}", file=file, line=1,
            hint="upgrade the diary tool (pip install -U -e .) or run 'diary measure --force'",
        )
    if schema != RECORD_SCHEMA:
        raise DiaryError(f"record has schema {schema!r}, this tool reads {RECORD_SCHEMA}", file=file, line=1,
                         hint=hint)
    _check(value, node, RECORD_SHAPE, "", file)
    if value["id"] != file.stem:
        raise DiaryError(f"record id '{value['id']}' does not match its file name", file=file, line=2, hint=hint)
    return value


_LOADED: dict[tuple[str, int, int], dict] = {}


def load_record(path: Path) -> dict:
    """A validated record; read-only (it is shared): `diary refresh` loads each record twice."""
    try:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = None
    if key in _LOADED:
        return _LOADED[key]
    text = read_utf8(path, hint="restore the file from git, or run 'diary measure --force'")
    record = parse_record(text, path)
    if key is not None:
        _LOADED[key] = record
    return record


def load_records(root: Path, *, force: bool = False) -> dict[str, dict]:
    """Every record under `_data/records/`, by id. With `force`, unreadable records are skipped."""
    folder = records_dir(root)
    records: dict[str, dict] = {}
    if not folder.is_dir():
        return records
    for path in sorted(folder.glob("*.yml")):
        try:
            records[path.stem] = load_record(path)
        except DiaryError:
            if not force:
                raise
    return records


def dump_record(record: dict) -> str:
    return dump_yaml(record)


def write_record(root: Path, record: dict) -> bool:
    """Write one record atomically; return whether the file changed."""
    return write_text_atomic(record_path(root, record["id"]), dump_record(record))


def remove_record(root: Path, snapshot_id: str) -> None:
    record_path(root, snapshot_id).unlink(missing_ok=True)
