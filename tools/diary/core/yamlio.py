"""YAML in and out: strict loading with file/line/column errors, stable diff-friendly dumping."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from diary.core.errors import DiaryError
from diary.core.safefs import HARD_MAX_FILE_BYTES, read_bytes

try:  # the C loader and dumper are several times faster; fall back where libyaml is missing
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _SafeLoader

    _OFFSETS_IN_BYTES = True  # libyaml reports where the reader stopped in bytes of UTF-8
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

    _OFFSETS_IN_BYTES = False

MAX_DEPTH = 100  # nesting of collections; far deeper than any diary file, far below a stack overflow
MAX_NODES = 250_000  # values in one file, aliases expanded; a record holds a few thousand


class _Loader(_SafeLoader):
    """The safe loader, made total: every bad input is a yaml.MarkedYAMLError that names its position.

    The safe loader alone lets other exceptions out of values it cannot build (`date: 2026-02-30`,
    `!!int abc`: ValueError, KeyError, AttributeError, IndexError), reports a bad character without a
    line, in two lines, and composes nested collections by C recursion: a few hundred thousand `[`
    crash the interpreter with a segmentation fault.
    """

    def __init__(self, stream: str) -> None:
        self._text = stream
        super().__init__(stream)

    def get_single_node(self) -> yaml.Node | None:
        try:
            _check_depth(self._text)
        except yaml.reader.ReaderError as exc:
            raise _reader_error(exc, self._text) from None
        return super().get_single_node()


@functools.lru_cache(maxsize=16)  # a text is often composed, then loaded: scan it once
def _check_depth(text: str) -> None:
    """Count the nesting, and the nodes as aliases expand them, on the event stream (the parser
    produces it without recursion).

    Aliases share one object when loaded, but whatever walks the data (checks, generation, dumping)
    visits every expansion: nine lines of "billion laughs" (`&a [*b, *b, ...]`) would hang it.
    """
    try:
        _scan_events(text, _SafeLoader)
    except yaml.YAMLError as exc:
        # libyaml's scanner reads far ahead in flow collections and stops at its own depth of 1000
        # before the events reach ours; the pure-Python scanner reads lazily and finds the 101st.
        if "maximum nesting depth" in str(exc) and _SafeLoader is not yaml.SafeLoader:
            _scan_events(text, yaml.SafeLoader)
        raise


def _scan_events(text: str, loader: type) -> None:
    depth = 0
    nodes = 0
    open_anchors: list[tuple[str | None, int]] = []  # (anchor, node count at its start)
    sizes: dict[str, int] = {}  # what an alias to each anchor adds
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            nodes += sizes.get(str(event.anchor), 1)
        elif isinstance(event, yaml.ScalarEvent):
            nodes += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            nodes += 1
            open_anchors.append((event.anchor, nodes))
            if depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"collections nested deeper than {MAX_DEPTH} levels", cast(Any, event.start_mark),
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, started = open_anchors.pop()
            if anchor is not None:
                sizes[anchor] = nodes - started + 1
        if nodes > MAX_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"more than {MAX_NODES:,} values once aliases (*name) are expanded",
                cast(Any, event.start_mark),
            )


def _reader_error(exc: yaml.reader.ReaderError, text: str | bytes) -> yaml.MarkedYAMLError:
    """A bad character as an error with a line and column (the reader's own has an offset only)."""
    if isinstance(text, str) and _OFFSETS_IN_BYTES:
        text = text.encode("utf-8", errors="surrogatepass")
    before = text[: exc.position]
    if isinstance(before, bytes):
        before = before.decode("utf-8", errors="replace")
    line = before.count("\n")
    column = len(before) - (before.rfind("\n") + 1)
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    mark = yaml.error.Mark(str(exc.name), exc.position, line, column, cast(Any, None), cast(Any, None))  # no snippet
    return yaml.scanner.ScannerError(None, None, f"unacceptable character #x{code:04x}: {exc.reason}", mark)


def _total(constructor: Callable[[Any, yaml.Node], Any]) -> Callable[[Any, yaml.Node], Any]:
    """`constructor`, raising a ConstructorError at the node for whatever it cannot build."""

    def construct(loader: Any, node: yaml.Node) -> Any:
        try:
            return constructor(loader, node)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever a constructor raises, the text is at fault
            what = repr(node.value[:40]) if isinstance(node, yaml.ScalarNode) else "this value"
            why = f" ({exc})" if isinstance(exc, ValueError) else ""
            problem = f"cannot read {what} as {str(node.tag).rsplit(':', 1)[-1]}{why}"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None

    return construct


for _name in ("null", "bool", "int", "float", "binary", "timestamp"):  # the scalars that can fail to build
    _tag = f"tag:yaml.org,2002:{_name}"
    _Loader.add_constructor(_tag, _total(_SafeLoader.yaml_constructors[_tag]))


@dataclass
class Located:
    """A loaded YAML document plus the line (1-based) of every top-level key, for error messages."""

    data: Any
    path: Path
    lines: dict[str, int] = field(default_factory=dict)
    # The line of each item of a top-level list, by its key: an error can name the item, not the list.
    item_lines: dict[str, list[int]] = field(default_factory=dict)

    def line_of(self, key: str) -> int | None:
        return self.lines.get(key)

    def line_of_item(self, key: str, index: int) -> int | None:
        """The line of item `index` of the top-level list `key`, else the key's own line."""
        items = self.item_lines.get(key, [])
        return items[index] if index < len(items) else self.line_of(key)


def compose_and_load(
    text: str, path: Path, *, line_offset: int = 0, what: str = "",
    hint: str = "fix the YAML syntax at that position", check: Callable[[yaml.Node], None] | None = None,
) -> tuple[yaml.Node | None, Any]:
    """The node tree (for positions) and the value, from one parse; every YAML problem becomes a
    DiaryError "<what>not valid YAML: ..." with file, line and column.

    `check` sees the nodes before construction, which flattens merge keys (`<<`) in place."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if check is not None and node is not None:
            check(node)
        # composes but may not construct (a bad tag, `2026-02-30`)
        return node, loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise DiaryError(
            f"{what}not valid YAML: {problem}", file=path,
            line=mark.line + 1 + line_offset if mark else None, column=mark.column + 1 if mark else None,
            hint=hint,
        ) from None
    except yaml.YAMLError as exc:
        raise DiaryError(f"{what}not valid YAML: {exc}", file=path, hint=hint) from None
    finally:
        loader.dispose()


def parse_yaml(text: str, path: Path, line_offset: int = 0) -> Located:
    """Parse YAML text, turning every parser error into a DiaryError with file, line and column."""
    node, data = compose_and_load(text, path, line_offset=line_offset)
    if node is None:
        return Located(None, path)
    lines: dict[str, int] = {}
    item_lines: dict[str, list[int]] = {}
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1 + line_offset
            if key in seen:
                raise DiaryError(
                    f"key {key!r} appears twice (first on line {seen[key]})", file=path, line=line,
                    hint="keep one of the two",
                )
            seen[key] = line
            if isinstance(value_node, yaml.SequenceNode):
                item_lines[key] = [item.start_mark.line + 1 + line_offset for item in value_node.value]
        lines = seen
    return Located(data, path, lines, item_lines)


def read_utf8(path: Path, hint: str = "save the file as UTF-8", encoding: str = "utf-8") -> str:
    """A text file's content; a missing, unreadable or undecodable file is a DiaryError naming the line.

    Never through a link, from a FIFO or device, nor more than safefs.HARD_MAX_FILE_BYTES: the
    repository's YAML, records and posts are input like its snapshots.
    """
    if not os.path.lexists(path):
        raise DiaryError("file not found", file=path, hint="create it or fix the path")
    raw = read_bytes(Path(path), HARD_MAX_FILE_BYTES)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DiaryError("not UTF-8 text", file=path, line=line, hint=hint) from None


def read_yaml(path: Path) -> Located:
    """Read and parse a YAML file; a missing or undecodable file is a DiaryError."""
    return parse_yaml(read_utf8(path), Path(path))


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
                    f"unknown key {str(key)!r} in {what}", file=located.path, line=located.line_of(str(key)),
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
