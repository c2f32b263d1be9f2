"""The program's settings, from `code/diary.yml`: every key checked, every mistake named."""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from diary.core.contract import CODE_DIR, SETTINGS_PATH
from diary.core.errors import DiaryError
from diary.core.safefs import HARD_MAX_FILE_BYTES, MAX_FILE_BYTES, MAX_FILES, check_file, real_directory
from diary.core.yamlio import Fields, read_yaml
from diary.project.normalise import BUILT_IN, MAX_NORMALISATIONS, NAME, Normalisation, regex_problem

CONFIG_SCHEMA = 1
PLACEHOLDER = re.compile(r"\{(?:seed|steps|samples)\}")
CONFIG_NAME = SETTINGS_PATH
NO_SUITE = "none"  # `tests: none`: no behavioural suite; the verdict rests on the run, the output and the rules
# A data file is data: never a file Python could import (hidden code, not counted) and never inside the
# folders a test run keeps the snapshot and the baseline in (testsuite.py).
IMPORTABLE_SUFFIXES = tuple(importlib.machinery.all_suffixes()) + (".pth", ".zip", ".egg", ".whl")
RESERVED_TARGETS = ("snapshot", "baseline")
CONTRACT_HINT = "write a list such as [data/words.txt] or [{from: data/words.txt, to: input.txt}]"


@dataclass(frozen=True)
class DataFile:
    """A data file of the program: `source` under `code/`, copied to `target` in the run's folder."""

    source: str
    target: str

    def describe(self) -> str:
        return self.source if self.source == self.target else f"{self.source} as {self.target}"


def fill_placeholders(args: tuple[str, ...] | list[str], seed: int, steps: int, samples: int) -> list[str]:
    """The arguments with {seed}, {steps} and {samples} filled in ({{ and }} stand for braces)."""
    return [arg.format(seed=seed, steps=steps, samples=samples) for arg in args]


def placeholders_of(args: tuple[str, ...] | list[str]) -> set[str]:
    """Which of {seed}, {steps}, {samples} the arguments use."""
    found: set[str] = set()
    for arg in args:
        found.update(match.group(0)[1:-1] for match in PLACEHOLDER.finditer(arg.replace("{{", "").replace("}}", "")))
    return found


@dataclass(frozen=True)
class Settings:
    """Everything that decides how a snapshot is run and tested (part of every cache key)."""

    root: Path
    entry: str = "microgpt.py"  # the file run as `python <entry> <args>`; a snapshot.yml may name its own
    python: str = ""  # empty: the interpreter running diary (it has pytest); kept out of cache keys
    # The program's arguments; {seed}, {steps} and {samples} are replaced by the settings of those names.
    args: tuple[str, ...] = ("--steps", "{steps}", "--samples", "{samples}", "--seed", "{seed}")
    seed: int = 42  # the configured run's seed (probe runs draw their own)
    steps: int = 20  # filled into {steps}
    samples: int = 8  # filled into {samples}
    timeout: float = 60.0  # seconds of wall-clock time a run may take
    memory_mb: int = 1024  # the address-space cap of each process of a run (RLIMIT_AS)
    output_kb: int = 256  # stdout and stderr kept of a run; the program is stopped beyond it
    # Files under code/ copied into each run's folder: `data/names.txt`, or {from: data/words.txt, to: input.txt}.
    data_files: tuple[DataFile, ...] = (DataFile("data/names.txt", "data/names.txt"),)
    tests: str = "tests/program"  # the folder of the behavioural suite, or `none`
    test_timeout: float = 300.0  # seconds the suite may take against one snapshot
    snapshots: str = "code/snapshots"  # the folder of the snapshots, one subfolder each
    sandbox: str = "auto"  # auto (the builder chooses, --sandbox) | bwrap (required): never none
    jobs: int = 0  # 0: one per core
    shards: int = 1  # CI runners that share a measure or a check --rerun (diary plan)
    driver: str = ""  # the suite's driver script (testsuite.py); empty: pytest imports the snapshot
    probes: int = 2  # runs on seeds drawn at measure time, compared with the baseline (judge.py)
    allow: tuple[str, ...] = ()  # modules every snapshot may import beyond the baseline's (allowed.py)
    allowed_skips: tuple[str, ...] = ()  # test ids (fnmatch) that may skip or xfail; any other is a failure
    comments_min_percent: float = 0.0  # share of the baseline's comments a snapshot must keep (rules.py)
    max_line_length: int = 0  # the longest line a snapshot may have; 0: the baseline's longest (rules.py)
    # Bounded work, checked before any (safefs).
    max_file_kb: int = MAX_FILE_BYTES // 1024  # the size of a snapshot's or data file, at most
    max_files: int = MAX_FILES  # files a snapshot may hold
    # Applied to stdout before it is compared with the baseline's (normalise.py); empty: byte for byte.
    normalise: tuple[Normalisation, ...] = ()
    raw_html: str = "refuse"  # raw HTML in posts and pages: `refuse` (the gate), or `allow` (the About page says so)

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
    def suite_kind(self) -> str:
        """Which judge runs the tests: none (`tests: none`), driver (the suite answers through its
        driver, judged outside the snapshot's sandbox) or pytest (the user's suite, in-process)."""
        if self.tests == NO_SUITE:
            return "none"
        return "driver" if self.driver else "pytest"

    @property
    def interpreter(self) -> str:
        return self.python or sys.executable

    def command_args(self, args: tuple[str, ...] | None = None) -> list[str]:
        """The program's arguments (`args`: a snapshot's own, else the diary's) with {seed}, {steps}
        and {samples} filled in."""
        return fill_placeholders(self.args if args is None else args, self.seed, self.steps, self.samples)

    def run_fingerprint(self) -> str:
        """A hash of the settings that change what a run prints (not where files live)."""
        keep = asdict(self)
        for key in ("root", "jobs", "shards", "snapshots", "max_file_kb", "max_files", "raw_html"):
            keep.pop(key, None)
        keep.pop("normalise")  # its own part of the key: a filter added re-runs nothing it does not change
        if not keep["max_line_length"]:
            keep.pop("max_line_length")  # not set: the same fingerprint as before the key existed
        return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def normalise_fingerprint(self) -> str:
        """A hash of the declared normalisations (`normalise:`), or "none"."""
        declared = [n.as_dict() for n in self.normalise]
        return hashlib.sha256(json.dumps(declared).encode()).hexdigest()[:16] if declared else "none"


MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
# Keys that once were settings and would now weaken the judge: refused with their reason, not as unknown.
RETIRED = {"probe_steps"}
ALLOWED = {
    "schema", "entry", "python", "args", "seed", "steps", "samples", "timeout", "memory_mb", "output_kb",
    "data_files", "tests", "test_timeout", "snapshots", "sandbox", "jobs", "shards",
    "driver", "probes", "allow", "allowed_skips", "comments_min_percent", "max_file_kb", "max_files",
    "normalise", "raw_html", "max_line_length",
}


def load_settings(root: Path) -> Settings:
    """Load and validate `code/diary.yml` under `root`; defaults (the fields of `Settings`, written
    once) apply when the file or a key is absent."""
    root = Path(root).resolve()
    path = root / CONFIG_NAME
    if not path.exists():
        return Settings(root=root)
    located = read_yaml(path)
    f = Fields(located, "the program settings", ALLOWED | RETIRED)
    schema = f.get("schema", int, CONFIG_SCHEMA)
    if schema != CONFIG_SCHEMA:
        raise f.error("schema", f"this diary reads schema {CONFIG_SCHEMA}, the file says {schema}",
                      hint="upgrade the diary tool or fix the number")
    entry, args, data_files = read_contract(f, Settings.entry, Settings.args, Settings.data_files)
    if "tests" in f.data and (f.data["tests"] is None or f.data["tests"] == ""):
        raise f.error("tests", "is empty", hint="write 'tests: none' for no suite, or name the folder of the suite")
    settings = Settings(
        root=root,
        entry=entry,
        python=f.get("python", str, Settings.python),
        args=args,
        seed=f.number("seed", Settings.seed, 0, 2**32 - 1, integer=True),
        steps=f.number("steps", Settings.steps, 0, 1_000_000, integer=True),
        samples=f.number("samples", Settings.samples, 0, 10_000, integer=True),
        timeout=float(f.number("timeout", Settings.timeout, 0.1, 86_400)),
        memory_mb=f.number("memory_mb", Settings.memory_mb, 16, 1_048_576, integer=True),
        output_kb=f.number("output_kb", Settings.output_kb, 1, 1_048_576, integer=True),
        data_files=data_files,
        tests=f.get("tests", str, Settings.tests),
        test_timeout=float(f.number("test_timeout", Settings.test_timeout, 1, 86_400)),
        snapshots=f.get("snapshots", str, Settings.snapshots),
        sandbox=f.get("sandbox", str, Settings.sandbox),
        jobs=f.number("jobs", Settings.jobs, 0, 256, integer=True),
        shards=f.number("shards", Settings.shards, 1, 256, integer=True),
        driver=f.get("driver", str, Settings.driver),
        probes=f.number("probes", Settings.probes, 0, 16, integer=True),
        allow=tuple(f.string_list("allow", list(Settings.allow))),
        allowed_skips=tuple(f.string_list("allowed_skips", list(Settings.allowed_skips))),
        comments_min_percent=float(f.number("comments_min_percent", Settings.comments_min_percent, 0, 100)),
        max_line_length=f.number("max_line_length", Settings.max_line_length, 0, 100_000, integer=True),
        max_file_kb=f.number("max_file_kb", Settings.max_file_kb, 1, HARD_MAX_FILE_BYTES // 1024, integer=True),
        max_files=f.number("max_files", Settings.max_files, 1, 100_000, integer=True),
        normalise=_normalisations(f, path),
        raw_html=f.get("raw_html", str, Settings.raw_html),
    )
    if settings.raw_html not in ("refuse", "allow"):
        raise f.error("raw_html", f"must be refuse or allow, not {settings.raw_html!r}")
    for module in settings.allow:
        if not MODULE_NAME.fullmatch(module):
            raise f.error("allow", f"{module!r} is not a module name", hint="name modules, e.g. allow: [numpy, os]")
    if "probe_steps" in f.data:
        raise f.error("probe_steps", "probe runs are as long as the configured run (a shorter probe lets a "
                      "program tell it from the configured run)", hint="remove the key; 'probes: 0' turns them off")
    if settings.sandbox == "none":
        raise f.error("sandbox", "a repository cannot turn the sandbox off: whoever runs the tool chooses",
                      hint="remove the key, and run 'diary measure --sandbox none' where bwrap cannot work")
    if settings.sandbox not in ("auto", "bwrap"):
        raise f.error("sandbox", f"must be auto or bwrap, not {settings.sandbox!r}")
    # Before the data files: they may not lie inside the snapshots' folder, which must be one.
    if not settings.snapshots_dir.is_dir():
        raise f.error("snapshots", f"snapshot directory {settings.snapshots!r} does not exist")
    check_data_files(f, settings, settings.data_files)
    if settings.driver and (settings.driver.startswith("/") or ".." in Path(settings.driver).parts):
        raise f.error("driver", f"{settings.driver!r} must be a path inside the repository")
    if settings.driver and not (root / settings.driver).is_file():
        raise f.error("driver", f"driver script {settings.driver!r} does not exist",
                      hint="name a file under the repository, e.g. tests/program/driver.py, or remove the key")
    if settings.suite_kind == "none":
        if settings.driver:
            raise f.error("driver", "a driver needs a suite, and 'tests' is none",
                          hint="remove 'driver:' or name the suite's folder in 'tests:'")
    else:
        check_suite_folder(f, settings)
    return settings



def read_contract(f: Fields, entry: str, args: tuple[str, ...], data_files: tuple[DataFile, ...],
                  ) -> tuple[str, tuple[str, ...], tuple[DataFile, ...]]:
    """`entry`, `args` and `data_files` of code/diary.yml or of a snapshot.yml (which overrides the
    diary's for that snapshot), each checked; the given values are the defaults."""
    entry = f.get("entry", str, entry)
    if not entry.endswith(".py") or "/" in entry or entry.startswith("."):
        raise f.error("entry", f"must be a .py file name inside the snapshot, not {entry!r}")
    listed = tuple(f.string_list("args", list(args)))
    for arg in listed:
        # Only the three plain placeholders: a format spec such as {steps:9999999999} would build a
        # huge string, and {steps.x} or {0} would fail later, inside a run.
        rest = PLACEHOLDER.sub("", arg.replace("{{", "").replace("}}", ""))
        if "{" in rest or "}" in rest:
            raise f.error("args", f"unknown placeholder in {arg!r} (use {{seed}}, {{steps}}, {{samples}}; "
                          "{{ and }} for a brace)")
    files = data_files
    if "data_files" in f.data and f.data["data_files"] is not None:
        raw = f.get("data_files", list, [])
        files = tuple(_data_file(f, item) for item in raw)
        targets = [file.target for file in files]
        for target in targets:
            if targets.count(target) > 1:
                raise f.error("data_files", f"two data files are copied to {target!r}",
                              hint="give each its own 'to:'")
    return entry, listed, files


def _inside(path: str) -> bool:
    return bool(path) and not path.startswith("/") and ".." not in Path(path).parts and "\0" not in path


def _data_file(f: Fields, item: object) -> DataFile:
    if isinstance(item, str):
        source = target = item
    elif isinstance(item, dict) and set(item) == {"from", "to"} and all(isinstance(v, str) for v in item.values()):
        source, target = item["from"], item["to"]
    else:
        raise f.error("data_files", f"every item must be a path or a mapping with 'from' and 'to', not {item!r}",
                      hint=CONTRACT_HINT)
    if not _inside(source):
        raise f.error("data_files", f"{source!r} must be a path inside code/")
    if not _inside(target) or Path(target).as_posix() in (".", ""):
        raise f.error("data_files", f"'to: {target}' must be a file path inside the run's folder")
    if target.lower().endswith(IMPORTABLE_SUFFIXES) or Path(target).parts[0] in RESERVED_TARGETS:
        raise f.error("data_files", f"'to: {target}' would be code or overwrite the run's own folders: a data "
                      "file is data", hint="copy it to a name such as input.txt")
    return DataFile(Path(source).as_posix(), Path(target).as_posix())


def check_data_files(f: Fields, settings: Settings, files: tuple[DataFile, ...]) -> None:
    """Every data file exists under code/, as a plain file of bounded size (safefs)."""
    snapshots = settings.snapshots_dir.resolve()
    for file in files:
        data = settings.code_dir / file.source
        if (settings.code_dir / file.source).resolve().is_relative_to(snapshots):
            raise f.error("data_files", f"{file.source!r} is inside the snapshots' folder: a snapshot's run may "
                          "not read another snapshot", hint="keep data files under code/data/")
        if not data.is_file():
            raise f.error("data_files", f"data file {file.source!r} does not exist (looked for {str(data)!r})",
                          hint="add the file under code/ or remove it from the list")
        check_file(settings.root, data, settings.max_file_bytes)  # no link, device or huge file goes in


def check_suite_folder(f: Fields, settings: Settings) -> None:
    """The suite's folder exists inside the repository and holds Python files for pytest to collect
    (an empty folder would make every snapshot broken, for a fault of the suite)."""
    name = settings.tests
    if name.startswith("/") or ".." in Path(name).parts or Path(name).as_posix() in (".", ""):
        raise f.error("tests", f"{name!r} must be a folder inside the repository, not the repository itself",
                      hint="name the suite's folder, e.g. tests/program, or write 'tests: none'")
    if not settings.tests_dir.is_dir():
        raise f.error("tests", f"test directory {name!r} does not exist",
                      hint="create it, name another folder, or write 'tests: none' for no suite")
    real_directory(settings.root, settings.tests_dir)
    suite, code = settings.tests_dir.resolve(), settings.code_dir.resolve()
    if suite.is_relative_to(code) or code.is_relative_to(suite):
        raise f.error("tests", f"{name!r} holds the program under study (code/), or lies inside it",
                      hint="keep the suite in a folder of its own, e.g. tests/program")
    if not any(path.is_file() for path in settings.tests_dir.rglob("*.py")):
        raise f.error("tests", f"test directory {name!r} holds no Python file, so pytest would collect no tests",
                      hint="add test_*.py files, or write 'tests: none' for no suite")


def _normalisations(f: Fields, path: Path) -> tuple[Normalisation, ...]:
    """`normalise:` as a list of built-in names and `{name, pattern, replace}` filters; every mistake
    named with the line of the item."""
    value = f.get("normalise", list, [])
    result: list[Normalisation] = []
    hint = ("write a list of line-endings, carriage-returns or {name: NAME, pattern: REGEX, replace: TEXT}, "
            "e.g. normalise: [carriage-returns]")

    def error(index: int, message: str, item_hint: str = hint) -> DiaryError:
        return DiaryError(f"'normalise' item {index + 1}: {message}", file=path,
                          line=f.located.line_of_item("normalise", index), hint=item_hint)

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
