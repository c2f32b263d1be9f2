"""The program's settings, from `code/diary.yml`: every key checked, every mistake named."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .contract import CODE_DIR, SETTINGS_PATH
from .errors import DiaryError
from .normalise import BUILT_IN, MAX_NORMALISATIONS, NAME, Normalisation, regex_problem
from .safefs import HARD_MAX_FILE_BYTES, MAX_FILE_BYTES, MAX_FILES, check_file, real_directory
from .yamlio import Fields, read_yaml

CONFIG_SCHEMA = 1
PLACEHOLDER = re.compile(r"\{(?:seed|steps|samples)\}")
CONFIG_NAME = SETTINGS_PATH


@dataclass(frozen=True)
class Settings:
    """Everything that decides how a snapshot is run and tested (part of every cache key)."""

    root: Path
    entry: str = "microgpt.py"
    python: str = ""  # empty: the interpreter running diary (it has pytest); kept out of cache keys
    args: tuple[str, ...] = ("--steps", "{steps}", "--samples", "{samples}", "--seed", "{seed}")
    seed: int = 42
    steps: int = 20
    samples: int = 8
    timeout: float = 60.0
    memory_mb: int = 1024
    output_kb: int = 256
    data_files: tuple[str, ...] = ("data/names.txt",)
    tests: str = "tests/program"
    test_timeout: float = 300.0
    snapshots: str = "code/snapshots"
    sandbox: str = "auto"  # auto | bwrap | none
    jobs: int = 0  # 0: one per core
    driver: str = ""  # the suite's driver script (testsuite.py); empty: pytest imports the snapshot
    probes: int = 2  # runs on seeds drawn at measure time, compared with the baseline (judge.py)
    probe_steps: int = 5  # steps of a probe run (at most `steps`)
    allowed_skips: tuple[str, ...] = ()  # test ids (fnmatch) that may skip or xfail; any other is a failure
    comments_min_percent: float = 0.0  # share of the baseline's comments a snapshot must keep (rules.py)
    # Bounded work, checked before any (safefs): a snapshot's or data file's size, files per snapshot.
    max_file_kb: int = MAX_FILE_BYTES // 1024
    max_files: int = MAX_FILES
    # Applied to stdout before it is compared with the baseline's (normalise.py); empty: byte for byte.
    normalise: tuple[Normalisation, ...] = ()

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_kb * 1024

    @property
    def code_dir(self) -> Path:
        return self.root / CODE_DIR

    @property
    def snapshots_dir(self) -> Path:
        return self.root / self.snapshots

    @property
    def tests_dir(self) -> Path:
        return self.root / self.tests

    @property
    def interpreter(self) -> str:
        return self.python or sys.executable

    def command_args(self) -> list[str]:
        """The program's arguments with {seed}, {steps} and {samples} filled in."""
        values = {"seed": self.seed, "steps": self.steps, "samples": self.samples}
        return [arg.format(**values) for arg in self.args]

    def run_fingerprint(self) -> str:
        """A hash of the settings that change what a run prints (not where files live)."""
        keep = asdict(self)
        for key in ("root", "jobs", "snapshots", "max_file_kb", "max_files"):
            keep.pop(key, None)
        if not keep["normalise"]:
            keep.pop("normalise")  # none declared: the same fingerprint as before the key existed
        return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


ALLOWED = {
    "schema", "entry", "python", "args", "seed", "steps", "samples", "timeout", "memory_mb", "output_kb",
    "data_files", "tests", "test_timeout", "snapshots", "sandbox", "jobs",
    "driver", "probes", "probe_steps", "allowed_skips", "comments_min_percent", "max_file_kb", "max_files",
    "normalise",
}


def load_settings(root: Path) -> Settings:
    """Load and validate `code/diary.yml` under `root`; defaults (the fields of `Settings`, written
    once) apply when the file or a key is absent."""
    root = Path(root).resolve()
    path = root / CONFIG_NAME
    if not path.exists():
        return Settings(root=root)
    located = read_yaml(path)
    f = Fields(located, "the program settings", ALLOWED)
    schema = f.get("schema", int, CONFIG_SCHEMA)
    if schema != CONFIG_SCHEMA:
        raise f.error("schema", f"this diary reads schema {CONFIG_SCHEMA}, the file says {schema}",
                      hint="upgrade the diary tool or fix the number")
    entry = f.get("entry", str, Settings.entry)
    if not entry.endswith(".py") or "/" in entry or entry.startswith("."):
        raise f.error("entry", f"must be a .py file name inside the snapshot, not {entry!r}")
    args = f.string_list("args", list(Settings.args))
    settings = Settings(
        root=root,
        entry=entry,
        python=f.get("python", str, Settings.python),
        args=tuple(args),
        seed=f.number("seed", Settings.seed, 0, 2**32 - 1, integer=True),
        steps=f.number("steps", Settings.steps, 0, 1_000_000, integer=True),
        samples=f.number("samples", Settings.samples, 0, 10_000, integer=True),
        timeout=float(f.number("timeout", Settings.timeout, 0.1, 86_400)),
        memory_mb=f.number("memory_mb", Settings.memory_mb, 16, 1_048_576, integer=True),
        output_kb=f.number("output_kb", Settings.output_kb, 1, 1_048_576, integer=True),
        data_files=tuple(f.string_list("data_files", list(Settings.data_files))),
        tests=f.get("tests", str, Settings.tests),
        test_timeout=float(f.number("test_timeout", Settings.test_timeout, 1, 86_400)),
        snapshots=f.get("snapshots", str, Settings.snapshots),
        sandbox=f.get("sandbox", str, Settings.sandbox),
        jobs=f.number("jobs", Settings.jobs, 0, 256, integer=True),
        driver=f.get("driver", str, Settings.driver),
        probes=f.number("probes", Settings.probes, 0, 16, integer=True),
        probe_steps=f.number("probe_steps", Settings.probe_steps, 0, 1_000_000, integer=True),
        allowed_skips=tuple(f.string_list("allowed_skips", list(Settings.allowed_skips))),
        comments_min_percent=float(f.number("comments_min_percent", Settings.comments_min_percent, 0, 100)),
        max_file_kb=f.number("max_file_kb", Settings.max_file_kb, 1, HARD_MAX_FILE_BYTES // 1024, integer=True),
        max_files=f.number("max_files", Settings.max_files, 1, 100_000, integer=True),
        normalise=_normalisations(f, path),
    )
    for arg in settings.args:
        # Only the three plain placeholders: a format spec such as {steps:9999999999} would build a
        # huge string, and {steps.x} or {0} would fail later, inside a run.
        rest = PLACEHOLDER.sub("", arg.replace("{{", "").replace("}}", ""))
        if "{" in rest or "}" in rest:
            raise f.error("args", f"unknown placeholder in {arg!r} (use {{seed}}, {{steps}}, {{samples}})")
    if settings.sandbox not in ("auto", "bwrap", "none"):
        raise f.error("sandbox", f"must be auto, bwrap or none, not {settings.sandbox!r}")
    for name in settings.data_files:
        data = settings.code_dir / name
        if name.startswith("/") or ".." in Path(name).parts:
            raise f.error("data_files", f"{name!r} must be a path inside code/")
        if not data.is_file():
            raise f.error("data_files", f"data file {name!r} does not exist (looked for {str(data)!r})",
                          hint="add the file under code/ or remove it from the list")
        check_file(settings.root, data, settings.max_file_bytes)  # no link, device or huge file goes in
    if settings.driver and (settings.driver.startswith("/") or ".." in Path(settings.driver).parts):
        raise f.error("driver", f"{settings.driver!r} must be a path inside the repository")
    if settings.driver and not (root / settings.driver).is_file():
        raise f.error("driver", f"driver script {settings.driver!r} does not exist",
                      hint="name a file under the repository, e.g. tests/program/driver.py, or remove the key")
    if not settings.tests_dir.is_dir():
        raise f.error("tests", f"test directory {settings.tests!r} does not exist")
    real_directory(settings.root, settings.tests_dir)
    if not settings.snapshots_dir.is_dir():
        raise f.error("snapshots", f"snapshot directory {settings.snapshots!r} does not exist")
    return settings



def _normalisations(f: Fields, path: Path) -> tuple[Normalisation, ...]:
    """`normalise:` as a list of built-in names and `{name, pattern, replace}` filters; every mistake
    named with the line of the item."""
    value = f.get("normalise", list, [])
    item_lines = _item_lines(path, "normalise")
    result: list[Normalisation] = []
    hint = ("write a list of line-endings, carriage-returns or {name: NAME, pattern: REGEX, replace: TEXT}, "
            "e.g. normalise: [carriage-returns]")

    def error(index: int, message: str, item_hint: str = hint) -> DiaryError:
        line = item_lines[index] if index < len(item_lines) else f.located.line_of("normalise")
        return DiaryError(f"'normalise' item {index + 1}: {message}", file=path, line=line, hint=item_hint)

    if len(value) > MAX_NORMALISATIONS:
        raise f.error("normalise", f"at most {MAX_NORMALISATIONS} normalisations, not {len(value)} "
                      "(each run keeps a hash per combination of them)", hint="merge filters into one pattern")
    for index, item in enumerate(value):
        if isinstance(item, str):
            if item not in BUILT_IN:
                raise error(index, f"unknown normalisation {item!r}")
            normalisation = Normalisation(item)
        elif isinstance(item, dict):
            unknown = sorted(str(k) for k in item if k not in ("name", "pattern", "replace"))
            if unknown:
                raise error(index, f"unknown key {unknown[0]!r}", "a filter has name, pattern and replace")
            name, pattern, replace = item.get("name"), item.get("pattern"), item.get("replace", "")
            for key, text in (("name", name), ("pattern", pattern), ("replace", replace)):
                if not isinstance(text, str) or (key != "replace" and not text):
                    raise error(index, f"'{key}' must be a non-empty string" if key != "replace"
                                else "'replace' must be a string", "a filter has name, pattern and replace")
            assert isinstance(name, str) and isinstance(pattern, str) and isinstance(replace, str)
            if not NAME.match(name) or name in BUILT_IN:
                raise error(index, f"filter name {name!r} is not usable",
                            "a lowercase name (letters, digits, '-', '_') other than the built-ins, e.g. timestamp")
            problem = regex_problem(pattern, replace)
            if problem:
                raise error(index, f"filter {name!r} has a bad pattern or replacement: {problem}",
                            "fix the regular expression, written in Python's re syntax")
            normalisation = Normalisation(name, pattern, replace)
        else:
            raise error(index, f"must be a name or a mapping, not {item!r}")
        if any(n.name == normalisation.name for n in result):
            raise error(index, f"{normalisation.name!r} is listed twice", "list each normalisation once")
        result.append(normalisation)
    return tuple(result)


def _item_lines(path: Path, key: str) -> list[int]:
    """The line (1-based) of each item of the top-level list `key`; [] when it cannot be told."""
    import yaml

    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    for key_node, value_node in node.value:
        if getattr(key_node, "value", None) == key and isinstance(value_node, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value_node.value]
    return []
