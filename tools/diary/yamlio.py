"""YAML in and out: strict loading with file/line/column errors, stable diff-friendly dumping."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import DiaryError

try:  # the C loader and dumper are several times faster; fall back where libyaml is missing
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


@dataclass
class Located:
    """A loaded YAML document plus the line (1-based) of every top-level key, for error messages."""

    data: Any
    path: Path
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> int | None:
        return self.lines.get(key)


def parse_yaml(text: str, path: Path, line_offset: int = 0) -> Located:
    """Parse YAML text, turning every parser error into a DiaryError with file, line and column."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 + line_offset if mark else None
        column = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise DiaryError(
            f"not valid YAML: {problem}", file=path, line=line, column=column,
            hint="fix the YAML syntax at that position",
        ) from None
    except yaml.YAMLError as exc:
        raise DiaryError(f"not valid YAML: {exc}", file=path, hint="fix the YAML syntax") from None
    if node is None:
        return Located(None, path)
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:  # composes but does not construct (e.g. a bad tag)
        raise DiaryError(f"not valid YAML: {exc}", file=path, hint="fix the YAML syntax") from None
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, _value in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1 + line_offset
            if key in seen:
                raise DiaryError(
                    f"key '{key}' appears twice (first on line {seen[key]})", file=path, line=line,
                    hint="keep one of the two",
                )
            seen[key] = line
        lines = seen
    return Located(data, path, lines)


def read_yaml(path: Path) -> Located:
    """Read and parse a YAML file; a missing or undecodable file is a DiaryError."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DiaryError("file not found", file=path, hint="create it or fix the path") from None
    except OSError as exc:
        raise DiaryError(f"cannot read the file: {exc.strerror}", file=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DiaryError("not UTF-8 text", file=path, line=line, hint="save the file as UTF-8") from None
    return parse_yaml(text, Path(path))


def dump_yaml(data: Any) -> str:
    """Dump with keys in the given order, block style, unicode kept: stable and diff-friendly."""
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100,
    )


class Fields:
    """Typed access to a mapping's keys that raises DiaryError naming the file, line and key."""

    def __init__(self, located: Located, what: str, allowed: set[str]) -> None:
        self.located = located
        self.what = what
        data = located.data
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise DiaryError(
                f"{what} must be a mapping of keys to values, not {type(data).__name__}",
                file=located.path, line=1, hint="write it as 'key: value' lines",
            )
        self.data = data
        for key in data:
            if str(key) not in allowed:
                raise DiaryError(
                    f"unknown key '{key}' in {what}", file=located.path, line=located.line_of(str(key)),
                    hint="allowed keys: " + ", ".join(sorted(allowed)),
                )

    def error(self, key: str, message: str, hint: str | None = None) -> DiaryError:
        return DiaryError(
            f"'{key}': {message}", file=self.located.path, line=self.located.line_of(key), hint=hint,
        )

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                raise DiaryError(
                    f"missing required key '{key}' in {self.what}", file=self.located.path, line=1,
                    hint=f"add a line '{key}: ...'",
                )
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        else:
            ok = isinstance(value, kinds)
        if not ok:
            names = " or ".join(k.__name__ for k in kinds)
            raise self.error(key, f"must be {names}, not {type(value).__name__} ({value!r})")
        return value

    def number(self, key: str, default: float, minimum: float, maximum: float, integer: bool = False) -> Any:
        value = self.get(key, (int,) if integer else (int, float), default)
        if not (minimum <= value <= maximum):
            raise self.error(key, f"must be between {minimum} and {maximum}, not {value}")
        return value

    def string_list(self, key: str, default: list[str]) -> list[str]:
        value = self.get(key, list, default)
        for item in value:
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise self.error(key, f"every item must be a string, not {item!r}")
        return [str(item) for item in value]
