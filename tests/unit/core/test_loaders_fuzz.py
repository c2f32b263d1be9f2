"""Hypothesis properties of the loaders of the author's files: whatever the text, the only exception is
a DiaryError with a one-line message that names the file (and, for records, the line).

| property                                                   | examples |
| ---------------------------------------------------------- | -------- |
| config (load_settings): any bytes as code/diary.yml        | 500      |
| config: YAML-ish lines of known/unknown keys, raw values   | 500      |
| config: random mappings, or valid ones with one bad value  | 550      |
| snapshot.yml (read_snapshot): any bytes                    | 300      |
| snapshot.yml: YAML-ish lines                               | 350      |
| snapshot.yml: random mappings, or valid but one            | 400      |
| discover_snapshots: one to four snapshots, any parents     | 200      |
| post front matter (project.pages.read_post): any text           | 300      |
| post front matter: YAML-ish lines and mappings             | 400      |
| record (parse_record): any text                            | 350      |
| record (load_record): a real record mutated                | 500      |
| in all                                                     | 4,350    |

What the properties found is pinned by plain tests at the end: dates that do not exist, nesting
that crashed the interpreter, and three crashes of the record checker on keys that are not plain
names, keys written twice and merge keys (now refused with a positional DiaryError).
"""

from __future__ import annotations

import copy
import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from diary.core.errors import DiaryError
from diary.core.yamlio import dump_yaml
from diary.project import config, discover
from diary.project.config import load_settings
from diary.project.discover import discover_snapshots, read_snapshot
from diary.project.pages import read_post
from diary.project.records import load_record, parse_record
from diarykit import REPO, make_diary, run_diary, snapshot_meta, tree_bytes, write

pytestmark = pytest.mark.fuzz

FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]}
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # the C ones where libyaml is there: faster
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
RECORDS = {path.stem: path.read_text(encoding="utf-8") for path in sorted((REPO / "_data/records").glob("*.yml"))}

# --- strategies -------------------------------------------------------------------------------------

# Raw YAML for a value: the troublesome corners of YAML and of the loaders' checks.
RAW_VALUES = [
    "", "~", "null", "true", "no", "0", "-1", "3", "1.5", "1e400", ".nan", "-.inf", "0x1F", "0o17", "0b1",
    "1_000", "99999999999999999999999", "2026-02-16", "2026-02-30", "2026-13-01", "2026-02-16 25:00:00",
    "2026-02-16T10:00:00Z", "'2026-02-16'", "16/02/2026", "!!int abc", "!!int ''", "!!float x", "!!bool maybe",
    "!!timestamp now", "!!binary '%%'", "!!str", "!!set {a}", "!!omap [1]", "!!python/object:os.system x",
    "!custom tag", "&anchor 1", "*anchor", "*undefined", "'quoted'", '"a\\nb"', '"a\\x00b"', '"\\t"', "|\n  block",
    ">-\n  folded", "[a, b]", "[1, [2, [3]]]", "{a: 1}", "{? [a]: 1}", "[", "{", "]", "}", "- x", "? x", ": x",
    "'{steps}'", "'{seed}'", "'{steps.x}'", "'{steps[0]}'", "'{0}'", "'{'", "'{steps!z}'", "'{samples:>3}'",
    "[--steps, '{steps}']", "['{steps.real}', '{seed[1]}']", "prog.py", "../x.py", ".hidden.py", "a/b.py",
    "x.txt", "data/names.txt", "[data/names.txt]", "[../x]", "[/etc/passwd]", "[data/nope.txt]", "tests/program",
    "tests/nowhere", "code/snapshots", "/", ".", "auto", "bwrap", "none", "docker", "ok", "broken", "00-base",
    "01-wrong", "'a b'", "'.x'", "a/b", "[00-base]", "[a, 1]", "[[a]]", "\"\\ud800\"", "é", "\u2028", "\x85",
    "<<", "<<: {a: 1}", "#comment", "'", '"', "@", "`", "%", "---", "...",
]
# Nesting around the loader's limit of 100 levels (far deeper: see test_deep_nesting_*).
NESTED = st.integers(95, 105).map(lambda n: "[" * n + "]" * n)
RAW_VALUE = st.one_of(st.sampled_from(RAW_VALUES), st.text(max_size=12), NESTED)
CONFIG_KEYS = sorted(config.ALLOWED)
META_KEYS = sorted(discover.ALLOWED)
POST_KEYS = ["title", "date", "snapshots", "definitions", "categories", "description", "draft", "format"]
UNKNOWN_KEYS = ["stepz", "Entry", "", "1", "true", "null", "<<", "? x", "x y", "é", "'quoted'", '"a\\nb"', "[a]"]
INDENTS = ["", "", "", " ", "  ", "\t", "- ", "? "]


def yamlish(keys: list[str]) -> st.SearchStrategy[str]:
    """Lines of `key: value` with raw YAML values, known and unknown (and repeated) keys, odd indents."""
    separator = st.sampled_from([": ", ":", " : ", ":  "])
    line = st.tuples(st.sampled_from(INDENTS), st.sampled_from(keys + UNKNOWN_KEYS), separator, RAW_VALUE).map("".join)
    return st.tuples(st.lists(line, max_size=12), st.sampled_from(["\n", "\r\n", "\r"]), st.booleans()).map(
        lambda parts: parts[1].join(parts[0]) + (parts[1] if parts[2] else ""))


LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-5, 5), st.floats(), st.text(max_size=12),
    st.dates(), st.datetimes(),
)
KEYS_OF_ANY = st.one_of(st.text(max_size=6), st.integers(-3, 3), st.booleans(), st.none())
ANY_VALUE = st.recursive(
    LEAVES, lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS_OF_ANY, children, max_size=3),
    max_leaves=6,
)
PLAUSIBLE = st.one_of(
    st.sampled_from(["prog.py", "x.py", "a/b.py", ".py", "prog.txt", "auto", "bwrap", "none", "ok", "broken",
                     "00-base", "01-wrong", "02-short", "tests/program", "code/snapshots", "data/names.txt",
                     "2026-02-16", "2026-02-30", "{steps}", "{steps.x}", "{steps[0]}", "{0}", "{", ""]),
    st.lists(st.sampled_from(["--steps", "{steps}", "{seed}", "{samples}", "{steps.x}", "{seed[0]}", "{0}", "{",
                              "data/names.txt", "../x", "/etc/passwd", "00-base", "add", 1, 2.5, True, None]),
             max_size=4),
    st.integers(-2, 2**33), st.floats(allow_nan=True), st.dates(),
)


def dumped(keys: list[str]) -> st.SearchStrategy[str]:
    """A mapping of known and unknown keys to plausible or random values, dumped as YAML."""
    key = st.one_of(st.sampled_from(keys), st.sampled_from(UNKNOWN_KEYS), KEYS_OF_ANY)
    mapping = st.dictionaries(key, st.one_of(PLAUSIBLE, ANY_VALUE), max_size=len(keys) + 2)
    document = st.one_of(mapping, ANY_VALUE)
    return st.tuples(document, st.booleans(), st.booleans()).map(
        lambda d: yaml.dump(d[0], Dumper=DUMPER, default_flow_style=d[1], allow_unicode=d[2], sort_keys=False))


@st.composite
def valid_but_one(draw: st.DrawFn, keys: dict[str, tuple[st.SearchStrategy[Any], list[Any]]],
                  required: tuple[str, ...] = ()) -> str:
    """A valid document (the required keys and some of the others), then, half of the time, one value
    replaced by an edge case of its key or a random value: each check after the first ones is reached."""
    valid = {key: strategy for key, (strategy, _) in keys.items()}
    data = draw(st.fixed_dictionaries({k: valid[k] for k in required},
                                      optional={k: v for k, v in valid.items() if k not in required}))
    if draw(st.booleans()):
        key = draw(st.sampled_from(sorted(keys)))
        edges = keys[key][1]
        data[key] = draw(st.one_of(st.sampled_from(edges), PLAUSIBLE, ANY_VALUE) if edges else ANY_VALUE)
    return yaml.dump(data, Dumper=DUMPER, sort_keys=False)


ANY_BYTES = st.one_of(st.text().map(str.encode), st.binary(max_size=64),
                      st.text(st.characters(codec="utf-8"), max_size=30).map(lambda t: t.encode("utf-16")))

# --- helpers ----------------------------------------------------------------------------------------


def only_diary_error(call: Callable[[], object], *files: Path, positional: bool = False) -> DiaryError | None:
    """Call; any exception but a DiaryError with a one-line message naming one of `files` fails the test."""
    try:
        call()
    except DiaryError as error:
        assert error.message.strip(), repr(error.message)
        assert "\n" not in str(error) and "\r" not in str(error), str(error)
        assert error.file is not None and Path(error.file) in files, (error.file, files)
        if positional:
            assert error.line is not None and error.line >= 1, str(error)
        return error
    return None


@pytest.fixture(scope="module")
def diary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny diary whose snapshot.yml files and posts the properties overwrite."""
    return make_diary(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def config_diary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny diary whose code/diary.yml the properties overwrite."""
    return make_diary(tmp_path_factory.mktemp("fuzz-config"))


@pytest.fixture(scope="module")
def valid_settings(diary: Path) -> config.Settings:
    return load_settings(diary)


# --- config -------------------------------------------------------------------------------------------

# key: (valid values, edge cases)
CONFIG_VALUES: dict[str, tuple[st.SearchStrategy[Any], list[Any]]] = {
    "schema": (st.just(1), [2, 0, "1", True]),
    "entry": (st.sampled_from(["prog.py", "x.py", "micro_gpt.py"]), ["a/b.py", ".py", "prog.txt", "", ".x.py"]),
    "python": (st.sampled_from(["", "python3"]), [3, ["python"]]),
    "args": (st.lists(st.sampled_from(["--steps", "{steps}", "--seed", "{seed}", "{samples}", "-q", "{{x}}", 3]),
                      max_size=5),
             [["{steps.x}"], ["{seed[0]}"], ["{0}"], ["{}"], ["{"], ["}"], ["{samples!z}"], ["{steps:q}"],
              ["{stepz}"], ["{steps.__class__}"], [None], [[1]], "--steps"]),
    "seed": (st.integers(0, 2**32 - 1), [-1, 2**32, 1.5, True, "1"]),
    "steps": (st.integers(0, 1_000_000), [-1, 1_000_001]),
    "samples": (st.integers(0, 10_000), [-1, 10_001]),
    "timeout": (st.floats(0.1, 86_400), [0, 0.05, 86_401, float("nan"), float("inf"), "1"]),
    "memory_mb": (st.integers(16, 1_048_576), [15, 1_048_577, 256.0]),
    "output_kb": (st.integers(1, 1_048_576), [0, -1]),
    "data_files": (st.sampled_from([["data/names.txt"], []]),
                   [["../x"], ["/etc/passwd"], ["data/nope.txt"], ["data"], [""], [1], ["a\x00b"], "data/names.txt"]),
    "tests": (st.just("tests/program"), ["", "/", "nope", "code/data/names.txt", "a\x00b", "../.."]),
    "test_timeout": (st.floats(1, 86_400), [0.5, float("nan")]),
    "snapshots": (st.just("code/snapshots"), ["", ".", "nope", "code/data/names.txt", "a\x00b"]),
    "sandbox": (st.sampled_from(["auto", "bwrap"]), ["docker", "", "Auto", "none"]),
    "jobs": (st.integers(0, 256), [-1, 257, 1.0]),
    "normalise": (st.sampled_from([[], ["carriage-returns"],
                                   ["line-endings", {"name": "t", "pattern": "\\d+", "replace": "N"}]]),
                  [["tabs"], "carriage-returns", [1], [None], [{1: 2}], [{"name": "t"}],
                   [{"name": "t", "pattern": "("}],
                   [{"name": "t", "pattern": "x*"}], [{"name": "t", "pattern": "a", "replace": "\\1"}],
                   [{"name": "T x", "pattern": "a"}], ["line-endings", "line-endings"], ["line-endings"] * 5,
                   [{"name": "t", "pattern": "(" * 5000}]]),
}


def check_config(root: Path, document: bytes) -> None:
    path = root / config.CONFIG_NAME
    path.write_bytes(document)
    only_diary_error(lambda: load_settings(root), path)


@settings(max_examples=500, **FUZZ)
@given(ANY_BYTES)
def test_config_any_bytes(config_diary: Path, document: bytes) -> None:
    check_config(config_diary, document)


@settings(max_examples=500, **FUZZ)
@given(yamlish(CONFIG_KEYS))
def test_config_yamlish_lines(config_diary: Path, document: str) -> None:
    check_config(config_diary, document.encode())


@settings(max_examples=550, **FUZZ)
@given(st.one_of(dumped(CONFIG_KEYS), valid_but_one(CONFIG_VALUES)))
@example(document='snapshots: "a\\0b"\n')  # found by this test: a path with NUL reached resolve()
def test_config_mappings(config_diary: Path, document: str) -> None:
    check_config(config_diary, document.encode())


# --- snapshot metadata ----------------------------------------------------------------------------------

META_VALUES: dict[str, tuple[st.SearchStrategy[Any], list[Any]]] = {
    "id": (st.sampled_from(["02-short", "x_1", 7]), ["a b", ".x", "", "a/b", "a\nb", "a\x85b", "a\u2028b", 1.5]),
    "title": (st.text(max_size=8), [None, 1, ["t"]]),
    "date": (st.one_of(st.dates(), st.just("2026-02-16")), ["2026-02-30", "x", "16/02/2026", 20260216, None]),
    "parent": (st.sampled_from(["00-base", None]), ["nope", 0, ["a"], "a\nb"]),
    "note": (st.text(max_size=8), [1, {"a": 1}]),
    "expect": (st.sampled_from(["ok", "broken"]), ["maybe", True, "OK\n"]),
    "entry": (st.just("prog.py"), ["x.py", "snapshot.yml", "", "a\nb.py", "../prog.py"]),
}


META_DOCUMENTS = valid_but_one(META_VALUES, required=("title", "date"))


def check_snapshot(diary: Path, settings_: config.Settings, document: bytes) -> None:
    folder = diary / "code/snapshots/02-short"
    (folder / discover.META_NAME).write_bytes(document)
    only_diary_error(lambda: read_snapshot(folder, settings_), folder / discover.META_NAME)


@settings(max_examples=300, **FUZZ)
@given(ANY_BYTES)
def test_snapshot_meta_any_bytes(diary: Path, valid_settings: config.Settings, document: bytes) -> None:
    check_snapshot(diary, valid_settings, document)


@settings(max_examples=350, **FUZZ)
@given(yamlish(META_KEYS))
def test_snapshot_meta_yamlish_lines(diary: Path, valid_settings: config.Settings, document: str) -> None:
    check_snapshot(diary, valid_settings, document.encode())


@settings(max_examples=400, **FUZZ)
@given(st.one_of(dumped(META_KEYS), META_DOCUMENTS))
def test_snapshot_meta_mappings(diary: Path, valid_settings: config.Settings, document: str) -> None:
    check_snapshot(diary, valid_settings, document.encode())


@st.composite
def snapshot_sets(draw: st.DrawFn) -> list[str]:
    """The snapshot.yml of snapshots 00-s, 01-s, ...: mostly well-formed, with parents that may form a tree,
    a cycle, several roots or point nowhere, ids that may clash; now and then a wild one."""
    names = [f"{index:02d}-s" for index in range(draw(st.integers(1, 4)))]
    documents = []
    for name in names:
        if draw(st.integers(0, 7)) == 0:
            documents.append(draw(st.one_of(yamlish(META_KEYS), META_DOCUMENTS)))
            continue
        data: dict[str, Any] = {"title": name, "date": draw(st.dates(dt.date(2026, 1, 1), dt.date(2026, 1, 3)))}
        parent = draw(st.sampled_from([None, *names, "nope"]))
        if parent is not None:
            data["parent"] = parent
        if draw(st.integers(0, 3)) == 0:
            data["id"] = draw(st.sampled_from(names))
        documents.append(yaml.dump(data, Dumper=DUMPER))
    return documents


@settings(max_examples=200, **FUZZ)
@given(snapshot_sets())
def test_discover_snapshots(tmp_path_factory: pytest.TempPathFactory, documents: list[str]) -> None:
    root = tmp_path_factory.getbasetemp() / "fuzz-discover"
    shutil.rmtree(root, ignore_errors=True)
    snapshots = root / "code/snapshots"
    for index, document in enumerate(documents):
        write(snapshots / f"{index:02d}-s" / "prog.py", "print(1)\n")
        (snapshots / f"{index:02d}-s" / discover.META_NAME).write_text(document, encoding="utf-8")
    settings_ = config.Settings(root=root, entry="prog.py")
    files = [snapshots, *(snapshots / f"{i:02d}-s" / discover.META_NAME for i in range(len(documents)))]
    error = only_diary_error(lambda: discover_snapshots(settings_), *files)
    if error is None:  # every snapshot, ordered parent before child, one baseline
        found = discover_snapshots(settings_)
        assert len(found) == len(documents)
        assert found[0].parent is None and all(s.parent is not None for s in found[1:])
        seen = set()
        for snap in found:
            assert snap.parent is None or snap.parent in seen
            seen.add(snap.id)


# --- post front matter ------------------------------------------------------------------------------------

POST_VALUES: dict[str, tuple[st.SearchStrategy[Any], list[Any]]] = {
    "title": (st.text(max_size=8), []), "date": (st.dates(), ["2026-02-30"]),
    "snapshots": (st.one_of(st.lists(st.sampled_from(["00-base", "02-short"]), max_size=3), st.just("00-base")),
                  [1, None, [1], [None], [["x"]], {"a": 1}, "", [""]]),
    "definitions": (st.one_of(st.lists(st.sampled_from(["add", "main"]), max_size=3), st.just("add")),
                    [1, [1], [{"a": 1}], {"add": 1}]),
    "format": (st.just({"html": {"toc": True}}), [[1], "x"]),
}


def check_post(diary: Path, data: bytes) -> None:
    path = diary / "posts/fuzz/index.qmd"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    try:
        page = read_post(path)
    except DiaryError:
        only_diary_error(lambda: read_post(path), path)
        return
    assert page.name == "fuzz"
    assert all(isinstance(item, str) for item in page.snapshots + page.definitions)


def front_matter(front: str, body: str, newline: str) -> bytes:
    return newline.join(["---", front, "---", body]).encode("utf-8", errors="surrogatepass")


@settings(max_examples=300, **FUZZ)
@given(st.one_of(st.text(), st.text().map(lambda t: "---\n" + t), ANY_BYTES.map(lambda b: b"---\n" + b + b"\n---\n")))
def test_post_any_text(diary: Path, text: str | bytes) -> None:
    check_post(diary, text if isinstance(text, bytes) else text.encode())


@settings(max_examples=400, **FUZZ)
@given(st.one_of(yamlish(POST_KEYS), dumped(POST_KEYS), valid_but_one(POST_VALUES)), st.text(max_size=20),
       st.sampled_from(["\n", "\r\n"]))
def test_post_front_matter(diary: Path, front: str, body: str, newline: str) -> None:
    check_post(diary, front_matter(front, body, newline))


# --- records ------------------------------------------------------------------------------------------------

# A key that is not a plain string as written (false, null, 0x1, <<) or a key written twice is refused
# by records._check_keys with a positional DiaryError, like every other problem.


def has_keys_records_cannot_match(text: str | bytes) -> bool:
    """Whether a mapping in `text` has a key that is not a plain string, or the same key twice."""
    try:
        root = yaml.compose(text, Loader=LOADER)
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    nodes, seen = [root], set()
    while nodes:
        node = nodes.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys = [key.value for key, _ in node.value if key.tag == "tag:yaml.org,2002:str"]
            if len(keys) != len(node.value) or len(set(keys)) != len(keys):
                return True
            nodes += [item for pair in node.value for item in pair]
        elif isinstance(node, yaml.SequenceNode):
            nodes += node.value
    return False


def record_error(call: Callable[[], object], text: str | bytes, file: Path) -> DiaryError | None:
    return only_diary_error(call, file, positional=True)


@settings(max_examples=350, **FUZZ)
@given(st.one_of(st.text(), yamlish(["schema", "id", "key", "run", "lines", "verdict"])),
       st.sampled_from(sorted(RECORDS)))
def test_record_any_text(text: str, snap_id: str) -> None:
    file = Path("_data/records") / f"{snap_id}.yml"
    record_error(lambda: parse_record(text, file), text, file)


def places(value: Any, trail: tuple = ()) -> list[tuple]:
    """The path to every value inside a loaded record (keys of mappings, indexes of lists)."""
    found = [trail] if trail else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += places(item, (*trail, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += places(item, (*trail, index))
    return found


RECORD_DATA = {snap_id: yaml.load(text, Loader=LOADER) for snap_id, text in RECORDS.items()}
RECORD_PLACES = {snap_id: places(data) for snap_id, data in RECORD_DATA.items()}


@st.composite
def mutated_records(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real record with one change: a key deleted or renamed, a value replaced, the text cut at a byte,
    a line deleted, repeated or inserted."""
    snap_id = draw(st.sampled_from(sorted(RECORDS)))
    how = draw(st.sampled_from(["delete", "replace", "replace", "rename", "truncate", "delete line", "repeat line",
                                "insert"]))
    if how in ("delete", "replace", "rename"):
        data = copy.deepcopy(RECORD_DATA[snap_id])
        trail = draw(st.sampled_from(RECORD_PLACES[snap_id]))
        parent = data
        for step in trail[:-1]:
            parent = parent[step]
        last = trail[-1]
        if how == "delete":
            del parent[last]
        elif how == "replace":
            parent[last] = draw(st.one_of(ANY_VALUE, PLAUSIBLE, st.sampled_from([None, "", 0, -1, 1.5, True, [], {}])))
        elif isinstance(parent, dict):
            parent[draw(KEYS_OF_ANY)] = parent.pop(last)
        else:
            parent.insert(draw(st.integers(0, len(parent))), parent.pop(last))
        return snap_id, dump_yaml(data).encode()
    raw = RECORDS[snap_id].encode()
    if how == "truncate":
        return snap_id, raw[: draw(st.integers(0, len(raw)))]
    lines = raw.splitlines(keepends=True)
    index = draw(st.integers(0, len(lines) - 1))
    if how == "delete line":
        del lines[index]
    elif how == "repeat line":
        lines.insert(index, lines[index])
    else:
        lines.insert(index, draw(RAW_VALUE).encode() + b"\n")
    return snap_id, b"".join(lines)


@settings(max_examples=500, **FUZZ)
@given(mutated_records())
def test_record_mutated(tmp_path_factory: pytest.TempPathFactory, mutated: tuple[str, bytes]) -> None:
    snap_id, data = mutated
    path = tmp_path_factory.getbasetemp() / "fuzz-records" / f"{snap_id}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    error = record_error(lambda: load_record(path), data, path)
    if error is None:
        assert not has_keys_records_cannot_match(data)
        record = load_record(path)
        assert record.id == snap_id and record.schema == 1


def test_the_real_records_load() -> None:
    # The mutations start from records that load: each failure above is the mutation's doing.
    assert len(RECORDS) >= 2
    for snap_id, text in RECORDS.items():
        assert parse_record(text, Path(f"{snap_id}.yml")).id == snap_id
        assert not has_keys_records_cannot_match(text)


def edited_record(old: str, new: str) -> str:
    snap_id = sorted(RECORDS)[0]
    assert old in RECORDS[snap_id]
    return RECORDS[snap_id].replace(old, new, 1)


def test_record_with_a_key_that_is_not_a_string() -> None:
    text = edited_record("produced_by:\n", "produced_by:\n  false: 1\n")
    assert has_keys_records_cannot_match(text)
    with pytest.raises(DiaryError, match="not a plain name"):
        parse_record(text, Path(f"{sorted(RECORDS)[0]}.yml"))


def test_record_with_a_key_written_twice() -> None:
    lines = RECORDS[sorted(RECORDS)[0]].splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("    ") and line.endswith(".py:\n"))
    block = "".join(lines[start: start + 6])  # a file's counts under lines.files, written twice
    text = edited_record(block, block + block)
    assert has_keys_records_cannot_match(text)
    with pytest.raises(DiaryError, match="twice"):
        parse_record(text, Path(f"{sorted(RECORDS)[0]}.yml"))


def test_record_with_a_merge_key() -> None:
    text = edited_record("schema: 1\n", "<<: {schema: 1}\n")
    assert has_keys_records_cannot_match(text)
    with pytest.raises(DiaryError):
        parse_record(text, Path(f"{sorted(RECORDS)[0]}.yml"))


def test_dates_that_do_not_exist_are_diary_errors(diary: Path, valid_settings: config.Settings) -> None:
    # Found by the properties above: YAML reads 2026-02-30 as a date and the loader raised ValueError.
    folder = diary / "code/snapshots/02-short"
    (folder / discover.META_NAME).write_text(snapshot_meta("02-short", "00-base", date="2026-02-30"))
    error = only_diary_error(lambda: read_snapshot(folder, valid_settings), folder / discover.META_NAME)
    assert error is not None and (error.line, error.column) == (3, 7)
    assert "cannot read '2026-02-30'" in error.message  # our words; the reason after them is Python's


@pytest.mark.parametrize("file", ["code/diary.yml", "code/snapshots/02-short/snapshot.yml",
                                  "_data/records/00-base.yml"])
def test_deep_nesting_is_a_diary_error_not_a_crash(tmp_path: Path, file: str) -> None:
    # Found while writing the properties: libyaml's composer recurses in C, and 300,000 nested [ killed
    # `diary measure` with a segmentation fault (exit -11) instead of an error naming the file.
    root = make_diary(tmp_path)
    write(root / file, "steps: " + "[" * 300_000 + "\n")
    before = tree_bytes(root, "_data")
    proc = run_diary(root, "measure")
    assert proc.returncode == 2, proc.stderr
    message = proc.stderr.strip()
    assert len(message.splitlines()) == 1, message
    # Our contract: the file and its line, then the error. Which limit fires first (ours at 100 levels,
    # or libyaml's own in newer PyYAML releases) and at what column is the YAML library's business.
    assert message.startswith(f"{root / file}:1:") and ": error: " in message, message
    assert tree_bytes(root, "_data") == before, "a refused input must not change the records"


def test_record_error_with_a_line_break_in_a_key_stays_one_line() -> None:
    # Found by the mutated-record property: a key "\n" made a two-line message.
    snap_id = sorted(RECORDS)[0]
    text = RECORDS[snap_id] + "? '\n\n  '\n: 1\n"
    with pytest.raises(DiaryError) as caught:
        parse_record(text, Path(f"{snap_id}.yml"))
    assert "\n" not in str(caught.value) and "unknown key '\\n'" in str(caught.value)
