"""`diary init`: a working diary of someone else's program in one command.

From a program (a file, or a folder of modules) or from a folder of snapshots (one subfolder each),
`init_diary` writes everything a diary needs: `code/diary.yml` with what it could infer (the entry,
the data files, timeouts from a first timing run of the baseline in the sandbox), the snapshots,
the site's pages (`_quarto.yml`, `index.qmd`, `about.qmd`, `progress.qmd`), a first post, the
workflows, `.gitignore`, and what to install the tool with.

Everything is checked and rendered before anything is written, in a staging folder that is then
moved into place: a refused or failed init leaves the target as it was (all or nothing). A folder
that already holds a diary is refused (exit 2).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from diary.author.scaffold import SKIP_NAMES, PostSnapshot, folder_files, infer_entry, post_folder, post_text
from diary.core.atomic import write_bytes_atomic
from diary.core.contract import (
    CHART_PARTIAL_PATH,
    CODE_DIR,
    POSTS_DIR,
    PROGRESS_TABLE_PATH,
    RECORDS_DIR,
    SETTINGS_PATH,
    SNAPSHOT_ID_HINT,
    include_shortcode,
    snapshot_id_problem,
)
from diary.core.errors import DiaryError
from diary.core.safefs import HARD_MAX_FILE_BYTES, check_name, read_bytes
from diary.measure.sandbox.supervise import RunResult
from diary.project.config import Settings
from diary.project.discover import META_NAME
from diary.project.normalise import BUILT_IN, NAME, regex_problem

# The partial that says exactly which checks the diary runs (generated from code/diary.yml by
# `diary generate`); the About page that init writes includes it, so it never goes stale.
CHECKS_PARTIAL_PATH = "_generated/checks.md"
BASELINE_ID = "00-baseline"
SNAPSHOTS_DIR = f"{CODE_DIR}/snapshots"
DATA_DIR = f"{CODE_DIR}/data"
SUITE_DIR = "tests/program"
# What marks a folder as a diary already: init never writes into one.
DIARY_MARKERS = (SETTINGS_PATH, "_quarto.yml", SNAPSHOTS_DIR, RECORDS_DIR, POSTS_DIR)
# A second run checks that the output repeats, when the first was this quick; it starts at least
# this long after the first did, so that a timestamp to the second shows.
REPEAT_BELOW_S = 30.0
REPEAT_GAP_S = 1.1
# The timing run: at most this long; the timeouts it sets are its time times the headroom, at
# least the floor (a loaded machine runs a snapshot per core, and a run's wall time grows with it).
TIMING_LIMIT_S = 900.0
TIMEOUT_HEADROOM, TIMEOUT_FLOOR_S = 5, 30
TEST_TIMEOUT_HEADROOM, TEST_TIMEOUT_FLOOR_S = 10, 60


@dataclass(frozen=True)
class DataFile:
    """One `--data SRC[:DEST]`: `source` on disk, kept as `code/<stored>`, seen by a run as `to`."""

    source: Path
    stored: str  # relative to code/
    to: str  # relative to the run's working directory

    def setting(self) -> str | dict[str, str]:
        """The `data_files` item: the plain string when the run sees the file where it is kept."""
        return self.stored if self.stored == self.to else {"from": self.stored, "to": self.to}


@dataclass(frozen=True)
class SnapshotSource:
    """A snapshot to write: its files (path -> bytes), and its metadata when init writes it."""

    id: str
    files: dict[str, bytes]
    source: str  # where it came from, for the metadata's comment
    parent: str | None = None
    entry: str | None = None  # only when it differs from the diary's entry
    meta: bytes | None = None  # the snapshot's own snapshot.yml, kept as it is


@dataclass(frozen=True)
class InitOptions:
    target: Path
    program: Path | None = None
    snapshots: Path | None = None
    entry: str | None = None
    args: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    tests: Path | None = None
    title: str | None = None
    normalise: tuple[str, ...] = ()  # built-in normalisations: line-endings, carriage-returns
    filters: tuple[tuple[str, str, str], ...] = ()  # (name, pattern, replacement)
    alternatives: bool = False  # --snapshots: every snapshot a child of the first, not a chain
    date: dt.date | None = None
    timing_limit: float = TIMING_LIMIT_S
    sandbox: str = "auto"


@dataclass
class InitReport:
    target: Path
    written: list[str] = field(default_factory=list)
    timing: str = ""
    entry: str = ""
    snapshots: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (the file it is about, what to say)
    broken: list[str] = field(default_factory=list)  # snapshots init measured broken and marked so


# ---------------------------------------------------------------------------------------------
# Reading what the user gives


def _program_files(path: Path, left_out: list[str]) -> dict[str, bytes]:
    if path.is_symlink() or not path.exists():
        raise DiaryError("the program does not exist (or is a link)", file=path,
                         hint="give --program a .py file or a folder of modules")
    if path.is_dir():
        return folder_files(path, left_out)
    if path.suffix != ".py":
        raise DiaryError("the program must be a .py file or a folder of modules", file=path)
    check_name(path.name, path)
    return {path.name: read_bytes(path, HARD_MAX_FILE_BYTES)}


def parse_data(spec: str) -> DataFile:
    """`SRC[:DEST]`: the file SRC, kept as code/data/<its name>, seen by the program as DEST
    (default: its name, in the run's working directory)."""
    source_text, _, dest = spec.partition(":")
    source = Path(source_text)
    if not source_text or not source.is_file() or source.is_symlink():
        raise DiaryError(f"--data {spec!r}: {source_text!r} is not a file", hint="--data words.txt:input.txt")
    check_name(source.name, source)
    dest = dest or source.name
    check_name(dest, source)
    parts = PurePosixPath(dest).parts
    if dest.startswith("/") or ".." in parts or not parts or dest.endswith("/"):
        raise DiaryError(f"--data {spec!r}: the destination {dest!r} must be a relative file path without '..'",
                         hint="e.g. input.txt or data/words.txt")
    return DataFile(source=source, stored=f"data/{source.name}", to=PurePosixPath(dest).as_posix())


def _normalisations(options: InitOptions) -> list[str | dict[str, str]]:
    """`normalise:` in the agreed syntax: built-in names, then `{name, pattern, replace}` filters."""
    found: list[str | dict[str, str]] = []
    # The rules config.py applies to `normalise:` (normalise.py), so what init writes loads.
    for name in options.normalise:
        if name not in BUILT_IN:
            raise DiaryError(f"--normalise {name!r} is not a normalisation",
                             hint="use " + " or ".join(BUILT_IN) + ", or --filter NAME REGEX TEXT")
        if name not in found:
            found.append(name)
    for name, pattern, replacement in options.filters:
        if not NAME.match(name) or name in BUILT_IN:
            raise DiaryError(f"--filter name {name!r}: use lowercase letters, digits, '-' and '_', not a built-in",
                             hint="e.g. timestamp")
        problem = regex_problem(pattern, replacement)
        if problem:
            raise DiaryError(f"--filter {name}: {pattern!r} is not a regular expression to use: {problem}",
                             hint="fix the regular expression, written in Python's re syntax")
        found.append({"name": name, "pattern": pattern, "replace": replacement})
    return found


def _snapshot_sources(options: InitOptions, left_out: list[str]) -> list[SnapshotSource]:
    """The snapshots to write; `left_out` gets the files a snapshot cannot hold (not a module)."""
    if (options.program is None) == (options.snapshots is None):
        raise DiaryError("give the program (--program PATH) or a folder of snapshots (--snapshots DIR)",
                         hint="diary init my-diary --program wordgen.py")
    if options.program is not None:
        path = options.program.resolve()
        return [SnapshotSource(BASELINE_ID, _program_files(path, left_out), source=path.name)]
    folder = options.snapshots.resolve() if options.snapshots else Path()
    if not folder.is_dir() or folder.is_symlink():
        raise DiaryError("--snapshots must be a folder of snapshot folders", file=folder)
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()
                        and not p.name.startswith(".") and p.name not in SKIP_NAMES)
    if not subfolders:
        raise DiaryError("the snapshots folder holds no subfolder (one per snapshot)", file=folder)
    sources = []
    for position, sub in enumerate(subfolders):
        problem = snapshot_id_problem(sub.name)
        if problem is not None:  # the folder's name is the snapshot's id
            raise DiaryError(problem, file=sub, hint="rename the folder: " + SNAPSHOT_ID_HINT)
        meta = sub / META_NAME
        parent = None if position == 0 else subfolders[0 if options.alternatives else position - 1].name
        skipped: list[str] = []
        files = folder_files(sub, skipped)
        left_out += [f"{sub.name}/{name}" for name in skipped]
        sources.append(SnapshotSource(
            sub.name, files, source=f"{folder.name}/{sub.name}", parent=parent,
            meta=read_bytes(meta) if meta.is_file() and not meta.is_symlink() else None,
        ))
    return sources


def _check_target(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise DiaryError("the diary's folder is not a folder", file=target, hint="give init a new or empty folder")
    for marker in DIARY_MARKERS:
        if (target / marker).exists() or (target / marker).is_symlink():
            raise DiaryError(f"this folder holds a diary already ({marker} exists)", file=target / marker,
                             hint="run init in a new or empty folder; to add a step, use diary new snapshot")


# ---------------------------------------------------------------------------------------------
# The timing run


def timing_run(options: InitOptions, baseline: SnapshotSource, entry: str, data: list[DataFile]) -> RunResult:
    """One run of the baseline in the sandbox, as `diary measure` will run it: its files and the
    data files in a private folder, a clean environment, the default memory and output caps."""
    from diary.measure.sandbox.run import clean_environment, run_sandboxed, sandbox_mode

    mode = sandbox_mode(options.sandbox)
    with tempfile.TemporaryDirectory(prefix="diary-init-timing-") as tmp:
        work = Path(tmp)
        for name, content in baseline.files.items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_bytes(content)
        for item in data:
            (work / item.to).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item.source, work / item.to)
        return run_sandboxed(
            [sys.executable, entry, *options.args], workdir=work, timeout=options.timing_limit,
            memory_mb=Settings.memory_mb, output_bytes=Settings.output_kb * 1024,
            env=clean_environment(work), mode=mode,
        )


def _unrepeatable(first: bytes, second: bytes) -> str:
    """What to say when two runs of the baseline printed different output."""
    from diary.core.contract import physical_lines
    from diary.core.escape import for_terminal

    ours, theirs = (physical_lines(out.decode("utf-8", "replace")) for out in (first, second))
    same = min(len(ours), len(theirs))
    line = next((n for n, (a, b) in enumerate(zip(ours, theirs, strict=False), 1) if a != b), same + 1)
    shown = for_terminal(ours[line - 1].rstrip("\r\n")[:80]) if line <= len(ours) else "(end of output)"
    return (f"two runs of the baseline printed different output, from line {line} on ({shown!r}): every "
            "snapshot would differ from the baseline; declare what varies with --filter NAME REGEX TEXT "
            "(or normalise: in this file)")


def _with_headroom(seconds: float, headroom: int, floor: int) -> int:
    return max(floor, math.ceil(seconds * headroom / 10) * 10)


# ---------------------------------------------------------------------------------------------
# What init writes


def _render(template: str, **context: object) -> str:
    from diary.site.templating import render

    return render(template, **context)


# The tool is not on PyPI: a new diary carries the copy of it that wrote it (its package and the
# project file that installs it), so `pip install -e .` works on any machine, CI's included, and
# the diary keeps measuring with the version its records were made with.
TOOL_PACKAGE = Path(__file__).resolve().parents[1]
TOOL_CHECKOUT = TOOL_PACKAGE.parents[1]  # the repository the tool runs from (its pyproject.toml)
VENDORED_SUFFIXES = (".py", ".j2")


def tool_files() -> dict[str, bytes]:
    """The tool's own files for a new diary: `tools/diary/**` (modules and templates) and the
    project file and constraints that install it, exactly as they are here."""
    files = {f"tools/diary/{path.relative_to(TOOL_PACKAGE).as_posix()}": path.read_bytes()
             for path in sorted(TOOL_PACKAGE.rglob("*"))
             if path.is_file() and path.suffix in VENDORED_SUFFIXES and "__pycache__" not in path.parts}
    for name in ("pyproject.toml", "constraints.txt"):
        source = TOOL_CHECKOUT / name
        if not source.is_file():
            raise DiaryError(f"diary init copies the tool with its {name}, which is not beside it",
                             file=source, hint="run diary init from a checkout of the diary tool")
        files[name] = source.read_bytes()
    return files


def workflow(name: str, tool_repo: bool) -> str:
    """`.github/workflows/<name>.yml` from the one template this repository's own copy is rendered from."""
    return _render(f"init/{name}.yml.j2", tool_repo=tool_repo,
                   install="python -m pip install -c constraints.txt -e .")


def _gitignore(existing: str | None) -> str:
    ours = _render("init/gitignore.j2")
    if existing is None:
        return ours
    have = set(existing.splitlines())
    missing = [line for line in ours.splitlines() if line not in have and not line.startswith("#")]
    if not missing:
        return existing
    return existing + ("" if existing.endswith("\n") or not existing else "\n") + \
        "# Added by `diary init`.\n" + "\n".join(missing) + "\n"


def meta_path(snapshot_id: str) -> str:
    return f"{SNAPSHOTS_DIR}/{snapshot_id}/{META_NAME}"


def snapshot_meta(snap: SnapshotSource, entry: str, day: dt.date, broken: str | None = None) -> bytes:
    """The `snapshot.yml` init writes for `snap`; `broken`: why init's measure found it broken."""
    own_entry = None
    if entry not in snap.files:  # a snapshot laid out otherwise (a split) names its own entry
        own_entry = infer_entry(snap.files, None, Path(snap.source))
    if broken is not None:
        note = f"diary init measured it broken: {broken}"
    else:
        note = f"{snap.source}, as given to diary init." if snap.parent is None else ""
    return _render(
        "init/snapshot.yml.j2", id=snap.id, title="The baseline" if snap.parent is None else snap.id,
        date=day.isoformat(), parent=snap.parent, entry=own_entry, source=snap.source, note=note,
        expect="broken" if broken is not None else "ok",
    ).encode()


def mark_broken(staging: Path, plan: Plan, report: InitReport) -> None:
    """Measure the staged diary (writing nothing) and mark each snapshot init wrote the metadata of
    and found broken `expect: broken`, with its reasons: `diary build` then passes straight after init."""
    from diary.measure.pipeline import measure_all
    from diary.project.project import Project

    fresh = measure_all(Project.load(staging), write=False)
    for snap in plan.sources:
        verdict = fresh.records[snap.id].verdict
        if snap.meta is not None or snap.parent is None or verdict.status != "broken":
            continue
        why = "; ".join(verdict.reasons)[:300] or "its verdict is broken"
        plan.files[meta_path(snap.id)] = snapshot_meta(snap, plan.entry, plan.day, broken=why)
        write_bytes_atomic(staging / meta_path(snap.id), plan.files[meta_path(snap.id)])
        report.broken.append(f"{snap.id}: {why}")


@dataclass
class Plan:
    """What init will write (path relative to the diary's root -> content) and what it was made from."""

    files: dict[str, bytes]
    sources: list[SnapshotSource]
    entry: str
    day: dt.date


def plan_files(options: InitOptions, report: InitReport) -> Plan:
    """Every file init writes; nothing is written yet."""
    target = options.target
    where = options.program or options.snapshots or target
    left_out: list[str] = []
    sources = _snapshot_sources(options, left_out)
    if left_out:
        shown = ", ".join(left_out[:10]) + (" ..." if len(left_out) > 10 else "")
        report.warnings.append((str(where), "left out of the snapshots (a snapshot holds Python modules only; "
                                f"give data files with --data): {shown}"))
    baseline = sources[0]
    entry = infer_entry(baseline.files, options.entry, Path(where))
    data = [parse_data(spec) for spec in options.data]
    stored = [item.stored for item in data]
    if len(set(stored)) != len(stored):
        raise DiaryError("two --data files have the same name", hint="rename one of them")
    if options.tests is not None and not options.tests.is_dir():
        raise DiaryError("--tests must be a folder of pytest tests", file=options.tests)

    normalise = _normalisations(options)
    result = timing_run(options, baseline, entry, data)
    if result.status != "ok":
        raise DiaryError(f"the program does not run: {result.status}: {result.reason}", file=Path(where),
                         hint="fix it, or give what it needs with --args and --data "
                              f"(the timing run had {options.timing_limit:g} s at most)")
    spent = max(result.wall_s, result.cpu_s)
    if spent < REPEAT_BELOW_S and not normalise:
        time.sleep(max(0.0, REPEAT_GAP_S - result.wall_s))
        again = timing_run(options, baseline, entry, data)
        if again.status == "ok" and again.stdout != result.stdout:
            report.warnings.append((str(options.target / SETTINGS_PATH), _unrepeatable(result.stdout, again.stdout)))
    timeout = _with_headroom(spent, TIMEOUT_HEADROOM, TIMEOUT_FLOOR_S)
    test_timeout = _with_headroom(spent, TEST_TIMEOUT_HEADROOM, TEST_TIMEOUT_FLOOR_S)
    report.timing = (f"timing run of {baseline.id} ({result.sandbox} sandbox): {result.wall_s:.2f} s wall, "
                     f"{result.cpu_s:.2f} s CPU, {result.peak_mb:.0f} MB peak; so timeout {timeout} s and "
                     f"test_timeout {test_timeout} s ({TIMEOUT_HEADROOM}x and {TEST_TIMEOUT_HEADROOM}x the "
                     f"longer of the two, at least {TIMEOUT_FLOOR_S} s and {TEST_TIMEOUT_FLOOR_S} s)")
    report.entry = entry
    report.snapshots = [snap.id for snap in sources]

    files: dict[str, bytes] = {}
    files[SETTINGS_PATH] = _render(
        "init/diary.yml.j2", entry=entry, args=list(options.args), data_files=[d.setting() for d in data],
        tests=SUITE_DIR if options.tests is not None else None,
        timing=f"diary init, {dt.date.today().isoformat()}: {report.timing}",
        timeout=timeout, test_timeout=test_timeout, normalise=normalise,
    ).encode()
    for item in data:
        files[f"{CODE_DIR}/{item.stored}"] = read_bytes(item.source, HARD_MAX_FILE_BYTES)
    if options.tests is not None:
        for name, content in folder_files(options.tests.resolve()).items():
            files[f"{SUITE_DIR}/{name}"] = content
    day = options.date or dt.date.today()
    for snap in sources:
        for name, content in snap.files.items():
            files[f"{SNAPSHOTS_DIR}/{snap.id}/{name}"] = content
        files[meta_path(snap.id)] = snap.meta if snap.meta is not None else snapshot_meta(snap, entry, day)

    title = (options.title or f"The {Path(entry).stem} diary").strip()
    if not title or "\n" in title:
        raise DiaryError("the diary needs a title on one line", hint='--title "The wordgen diary"')
    files["_quarto.yml"] = _render(
        "init/quarto.yml.j2", title=title,
        description=f"Making {entry} shorter, one measured snapshot at a time, while it keeps its behaviour.",
    ).encode()
    files["index.qmd"] = _render("init/index.qmd.j2", title=title, entry=entry).encode()
    files["about.qmd"] = _render(
        "init/about.qmd.j2", entry=entry, checks_include=include_shortcode("/" + CHECKS_PARTIAL_PATH)).encode()
    files["progress.qmd"] = _render(
        "init/progress.qmd.j2", chart_include=include_shortcode("/" + CHART_PARTIAL_PATH),
        table_include=include_shortcode("/" + PROGRESS_TABLE_PATH)).encode()
    post_title = "The baseline"
    folder, post_day = post_folder(post_title, day)
    files[f"{POSTS_DIR}/{folder}/index.qmd"] = post_text(
        post_title, post_day, folder, [PostSnapshot(baseline.id, None, entry, broken=False)],
        suite=options.tests is not None, written_by="init").encode()
    existing = target / ".gitignore"
    files[".gitignore"] = _gitignore(
        existing.read_text(encoding="utf-8") if existing.is_file() and not existing.is_symlink() else None).encode()
    for name in ("ci", "publish"):
        files[f".github/workflows/{name}.yml"] = workflow(name, tool_repo=False).encode()
    files.update(tool_files())
    if not (target / "README.md").exists():  # a repository's own README is the user's: left alone
        files["README.md"] = _render("init/README.md.j2", title=title, entry=entry, baseline=baseline.id).encode()
    return Plan(files=files, sources=sources, entry=entry, day=day)


# ---------------------------------------------------------------------------------------------
# Writing it, all or nothing


def _place(staging: Path, target: Path, files: dict[str, bytes]) -> None:
    """Move the staged top-level entries into `target`; undo every move if one fails."""
    tops = sorted({name.split("/", 1)[0] for name in files})
    clashes = [top for top in tops if top != ".gitignore" and ((target / top).exists() or (target / top).is_symlink())]
    if clashes:
        raise DiaryError(f"the folder already holds {', '.join(clashes)}", file=target / clashes[0],
                         hint="run init in a new or empty folder, or move these away")
    placed: list[str] = []
    old_gitignore = (target / ".gitignore").read_bytes() if (target / ".gitignore").is_file() else None
    try:
        for top in tops:
            if top == ".gitignore":
                os.replace(staging / top, target / top)  # merged with the user's own lines above
            else:
                os.rename(staging / top, target / top)
            placed.append(top)
    except BaseException:
        for top in placed:
            if top == ".gitignore" and old_gitignore is not None:
                write_bytes_atomic(target / top, old_gitignore)
            elif (target / top).is_dir():
                shutil.rmtree(target / top, ignore_errors=True)
            else:
                (target / top).unlink(missing_ok=True)
        raise


def init_diary(options: InitOptions) -> InitReport:
    target = options.target.resolve()
    options = replace(options, target=target)
    _check_target(target)
    report = InitReport(target=target)
    plan = plan_files(options, report)
    files = plan.files
    report.written = sorted(files)
    fresh = not target.exists() or not any(target.iterdir())
    parent = target.parent if fresh else target
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.init-", dir=parent))
    try:
        for name, content in files.items():
            write_bytes_atomic(staging / name, content)
        if len(plan.sources) > 1:
            try:
                mark_broken(staging, plan, report)
            except DiaryError as exc:  # about a file init wrote: named where it will be
                if exc.file and Path(exc.file).is_relative_to(staging):
                    exc.file = str(target / Path(exc.file).relative_to(staging))
                raise
        if fresh:
            _check_target(target)  # nothing appeared meanwhile
            os.rename(staging, target)  # onto a missing or empty folder: atomic
        else:
            _place(staging, target, files)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return report
