"""Typed YAML documents: the shape of a frozen dataclass, checked node by node with positions.

A record is written as frozen dataclasses (`records.py`); its shape for validation is derived from
them (`shape_of`), so the fields are declared once. `check_shape` walks a loaded value and its YAML
node together and raises at the node whose value has the wrong shape (file, line, column);
`from_data` then builds the dataclasses and `to_data` turns them back into plain data, in field
order, for dumping.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from diary.core.errors import DiaryError

HINT = "restore the file from git, or run 'diary measure --force' to measure it again"


_hints = functools.cache(typing.get_type_hints)  # resolving the annotations is the slow part


@functools.cache
def shape_of(kind: Any) -> Any:
    """The walker's shape of a type: a dataclass is a dict of its fields' shapes, `tuple[X, ...]` is
    `[X]`, `dict[str, X]` is ("map", X), a union is a tuple of shapes, a float also takes an int."""
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        hints = _hints(kind)
        return {f.name: shape_of(hints[f.name]) for f in dataclasses.fields(kind)}
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin is tuple:
        return [shape_of(args[0])]
    if origin is dict:
        return ("map", shape_of(args[1]))
    if origin in (types.UnionType, typing.Union):
        return tuple(shape_of(arg) for arg in args)
    if kind is float:
        return (int, float)
    return kind


def from_data(kind: Any, value: Any) -> Any:
    """The dataclasses of `kind` built from plain data that `check_shape` accepted."""
    return _builder(kind)(value)


def _identity(value: Any) -> Any:
    return value


@functools.cache
def _builder(kind: Any) -> typing.Callable[[Any], Any]:
    """A function that builds `kind` from plain data, made once per type: a long diary loads
    thousands of nested values per record, and asking each one's type again was most of the load."""
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        hints = _hints(kind)
        fields = [(f.name, _builder(hints[f.name])) for f in dataclasses.fields(kind)]
        cls = kind
        return lambda value: cls(**{name: build(value[name]) for name, build in fields})
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin is tuple:
        item = _builder(args[0])
        if item is _identity:
            return tuple
        return lambda value: tuple(item(element) for element in value)
    if origin is dict:
        item = _builder(args[1])
        if item is _identity:
            return dict
        return lambda value: {key: item(element) for key, element in value.items()}
    if origin in (types.UnionType, typing.Union):
        (inner,) = [arg for arg in args if arg is not type(None)]
        build = _builder(inner)
        if build is _identity:
            return _identity
        return lambda value: None if value is None else build(value)
    return _identity


def to_data(value: Any) -> Any:
    """Plain data (dicts in field order, lists, scalars) of dataclasses: what the YAML dumper writes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_data(item) for item in value]
    if isinstance(value, dict):
        return {key: to_data(item) for key, item in value.items()}
    return value


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


def check_shape(value: Any, node: yaml.Node, kind: Any, path: str, file: Path) -> None:
    """Walk value and its YAML node together; raise at the node whose value has the wrong shape."""

    def fail(message: str, at: yaml.Node) -> DiaryError:
        return DiaryError(
            one_line(f"record field '{path}' {message}" if path else f"record {message}"), file=file,
            line=at.start_mark.line + 1, column=at.start_mark.column + 1,
            hint=HINT,
        )

    if isinstance(kind, tuple) and kind and kind[0] == "map":
        if not isinstance(value, dict):
            raise fail(f"must be {_kind_name(kind)}", node)
        for (_key_node, v_node), (key, item) in zip(node.value, value.items(), strict=True):
            check_shape(item, v_node, kind[1], f"{path}.{key}", file)
        return
    if isinstance(kind, tuple) and any(isinstance(k, dict | list) for k in kind):
        for option in kind:
            try:
                check_shape(value, node, option, path, file)
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
            check_shape(value[key], nodes[key][1], sub, f"{path}.{key}" if path else key, file)
        return
    if isinstance(kind, list):
        if not isinstance(value, list):
            raise fail("must be a list", node)
        for index, (item, item_node) in enumerate(zip(value, node.value, strict=True)):
            check_shape(item, item_node, kind[0], f"{path}[{index}]", file)
        return
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise fail(f"must be {_kind_name(kind)}, not {value!r}", node)
    if not isinstance(value, kinds):
        raise fail(f"must be {_kind_name(kind)}, not {value!r}", node)


def one_line(message: str) -> str:
    """Keys and values quoted from a damaged record may hold line breaks; an error stays one line."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def check_keys(node: yaml.Node, file: Path) -> None:
    """Every key a plain string, once per mapping, and no merge keys: what a record writer produces.
    (A merge conflict resolved by hand, or `false:` / `<<:` typed by hand, are refused here.)"""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            check_keys(item, file)
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
                one_line(f"record {problem}"), file=file, line=mark.line + 1, column=mark.column + 1,
                hint=HINT,
            )
        seen.add(key_node.value)
        check_keys(value_node, file)
