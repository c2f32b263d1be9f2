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
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from diary.author.options import DataFile, InitOptions, InitReport, SnapshotSource
from diary.author.scaffold import (
    SKIP_NAMES,
    PostSnapshot,
    describe_snapshot,
    folder_files,
    infer_entry,
    post_folder,
    post_text,
)
from diary.author.timing import (
    TEST_TIMEOUT_FLOOR_S,
    TEST_TIMEOUT_HEADROOM,
    TIMEOUT_FLOOR_S,
    TIMEOUT_HEADROOM,
    timing_limit,
    timing_runs,
    unrepeatable,
    with_headroom,
)
from diary.author.vendor import gitignore, render_template, site_assets, tool_files, workflow
from diary.core import shortcodes
from diary.core.atomic import write_bytes_atomic
from diary.core.contract import (
    CHART_PARTIAL_PATH,
    CHECKS_PARTIAL_PATH,
    CODE_DIR,
    POSTS_DIR,
    PROGRESS_TABLE_PATH,
    RECORDS_DIR,
    SETTINGS_PATH,
    SITE_CONFIG_PATH,
    SNAPSHOT_ID_HINT,
    snapshot_id_problem,
)
from diary.core.errors import DiaryError
from diary.core.safefs import HARD_MAX_FILE_BYTES, check_name, read_bytes
from diary.project.discover import META_NAME
from diary.project.normalise import BUILT_IN, NAME, Normalisation, regex_problem
from diary.site.prose import front_matter_problem

BASELINE_ID = "00-baseline"
SNAPSHOTS_DIR = f"{CODE_DIR}/snapshots"
SUITE_DIR = "tests/program"
# What marks a folder as a diary already: init never writes into one.
DIARY_MARKERS = (SETTINGS_PATH, SITE_CONFIG_PATH, SNAPSHOTS_DIR, RECORDS_DIR, POSTS_DIR)


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


def _check_target(target: Path, filters: bool = False) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise DiaryError("the diary's folder is not a folder", file=target, hint="give init a new or empty folder")
    for marker in DIARY_MARKERS:
        if (target / marker).exists() or (target / marker).is_symlink():
            raise DiaryError(f"this folder holds a diary already ({marker} exists)", file=target / marker,
                             hint=f"add the filter under 'normalise:' in {SETTINGS_PATH} instead" if filters else
                             "run init in a new or empty folder; to add a step, use diary new snapshot")


# ---------------------------------------------------------------------------------------------
# What init writes


def meta_path(snapshot_id: str) -> str:
    return f"{SNAPSHOTS_DIR}/{snapshot_id}/{META_NAME}"


def snapshot_meta(snap: SnapshotSource, entry: str, day: dt.date, parent_files: dict[str, bytes] | None) -> bytes:
    """The `snapshot.yml` init writes for `snap`: a title and a whole note from its files (the
    docstring, else the folder's name), `expect: ok` (what init measures broken, it says)."""
    own_entry = variant_entry(snap, entry)
    title, note = describe_snapshot(snap.id, snap.files, own_entry or entry, parent_files)
    if snap.parent is None:
        title = title if title != describe_snapshot(snap.id, {}, entry)[0] else "The baseline"
        note = note or f"{snap.source}, as given to diary init."
    return render_template(
        "init/snapshot.yml.j2", id=snap.id, title=title, date=day.isoformat(), parent=snap.parent,
        entry=own_entry, source=snap.source, note=note, expect="ok",
    ).encode()


def variant_entry(snap: SnapshotSource, entry: str) -> str | None:
    """A snapshot's own entry when it is not the diary's `entry`, by the rule of `new snapshot
    --files` (scaffold.infer_entry): never a silent choice among several modules that run."""
    if snap.parent is None:  # the baseline's entry is the diary's
        return None
    own = infer_entry(snap.files, None, Path(snap.source), inherited=entry,
                      hint=f"give that folder a {META_NAME} (id, title, date, parent and entry: FILE.py)")
    return None if own == entry else own


def measure_staged(staging: Path, plan: Plan, report: InitReport) -> None:
    """Measure the staged diary and keep its records (the first build measures nothing again). A
    snapshot that is not what its snapshot.yml expects is reported, never hidden in `expect:`: the
    author decides (setting `expect: broken` then costs no run, freshness.with_metadata)."""
    from diary.measure.pipeline import measure_all
    from diary.project.project import Project

    fresh = measure_all(Project.load(staging))
    for snap_id in fresh.records:  # placed with the rest (_place moves what plan.files names)
        name = f"{RECORDS_DIR}/{snap_id}.yml"
        plan.files[name] = (staging / name).read_bytes()
        report.written.append(name)
    for snap in plan.sources:
        verdict = fresh.records[snap.id].verdict
        if verdict.surprise:
            report.broken.append((meta_path(snap.id), f"{snap.id} is {verdict.status}, expected {verdict.expected}: "
                                  + ("; ".join(verdict.reasons) or "every check passed") + " (fix it, or if you meant "
                                  "it set 'expect: broken' there and say so in a post: 'diary measure' then runs "
                                  "nothing)"))


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
    for snap in sources:  # before the timing run: a refusal costs no run
        if snap.meta is None:
            variant_entry(snap, entry)
    data = [parse_data(spec) for spec in options.data]
    stored = [item.stored for item in data]
    if len(set(stored)) != len(stored):
        raise DiaryError("two --data files have the same name", hint="rename one of them")
    if options.tests is not None and not options.tests.is_dir():
        raise DiaryError("--tests must be a folder of pytest tests", file=options.tests)

    title = (options.title or f"The {Path(entry).stem} diary").strip()
    if not title or "\n" in title:
        raise DiaryError("the diary needs a title on one line", hint='--title "The wordgen diary"')
    # The title goes into the home page's front matter and its title block, which no engine escapes.
    problem = front_matter_problem("title", title)
    if problem is not None:
        raise DiaryError(f"cannot use the title {title!r}: {problem}",
                         hint='write it as plain text, e.g. --title "The wordgen diary"')

    normalise = _normalisations(options)
    result, again = timing_runs(options, baseline, entry, data)
    if result.status == "timeout":
        raise DiaryError(f"the timing run of the baseline was stopped after {timing_limit(options):g} s "
                         f"(--timing-limit), before the program finished ({result.cpu_s:.0f} s of CPU so far)",
                         file=Path(where), hint="a slow program is fine: give its runs more time with "
                                                "--timing-limit SECONDS; the timeouts init sets follow")
    if result.status != "ok":
        raise DiaryError(f"the program does not run: {result.status}: {result.reason}", file=Path(where),
                         hint="fix it, or give what it needs with --args and --data")
    spent = max(result.wall_s, result.cpu_s)
    declared = tuple(Normalisation(n, "", "") if isinstance(n, str) else Normalisation(**n) for n in normalise)
    varies = unrepeatable(result.stdout, again.stdout, declared) if again.status == "ok" else None
    if varies is not None:  # found before anything is measured: no record would ever hold
        raise DiaryError(varies, file=Path(where), hint="give init the filter, or make the output repeat")
    timeout = with_headroom(spent, TIMEOUT_HEADROOM, TIMEOUT_FLOOR_S)
    test_timeout = with_headroom(spent, TEST_TIMEOUT_HEADROOM, TEST_TIMEOUT_FLOOR_S)
    report.timing = (f"timing run of {baseline.id} ({result.sandbox} sandbox): {result.wall_s:.2f} s wall, "
                     f"{result.cpu_s:.2f} s CPU, {result.peak_mb:.0f} MB peak; so timeout {timeout} s and "
                     f"test_timeout {test_timeout} s ({TIMEOUT_HEADROOM}x and {TEST_TIMEOUT_HEADROOM}x the "
                     f"longer of the two, at least {TIMEOUT_FLOOR_S} s and {TEST_TIMEOUT_FLOOR_S} s)")
    report.entry = entry
    report.snapshots = [snap.id for snap in sources]

    files: dict[str, bytes] = {}
    files[SETTINGS_PATH] = render_template(
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
        parent_files = next((s.files for s in sources if s.id == snap.parent), None)
        files[meta_path(snap.id)] = snap.meta if snap.meta is not None else snapshot_meta(
            snap, entry, day, parent_files)

    files[SITE_CONFIG_PATH] = render_template(
        "init/quarto.yml.j2", title=title,
        description=f"Making {entry} shorter, one measured snapshot at a time, while it keeps its behaviour.",
    ).encode()
    files["index.qmd"] = render_template("init/index.qmd.j2", title=title, entry=entry).encode()
    files["about.qmd"] = render_template(
        "init/about.qmd.j2", entry=entry, checks_include=shortcodes.include(CHECKS_PARTIAL_PATH)).encode()
    files["progress.qmd"] = render_template(
        "init/progress.qmd.j2", chart_include=shortcodes.include(CHART_PARTIAL_PATH),
        table_include=shortcodes.include(PROGRESS_TABLE_PATH)).encode()
    post_title = "The baseline"
    folder, post_day = post_folder(post_title, day)
    files[f"{POSTS_DIR}/{folder}/index.qmd"] = post_text(
        post_title, post_day, folder, [PostSnapshot(baseline.id, None, entry, broken=False)],
        suite=options.tests is not None, written_by="init").encode()
    existing = target / ".gitignore"
    files[".gitignore"] = gitignore(
        existing.read_text(encoding="utf-8") if existing.is_file() and not existing.is_symlink() else None).encode()
    for name in ("ci", "publish", "measure"):
        files[f".github/workflows/{name}.yml"] = workflow(name, tool_repo=False).encode()
    files.update(tool_files())
    files.update(site_assets())
    if not (target / "README.md").exists():  # a repository's own README is the user's: left alone
        files["README.md"] = render_template("init/README.md.j2", title=title, entry=entry,
                                             baseline=baseline.id).encode()
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
    _check_target(target, bool(options.filters))
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
                measure_staged(staging, plan, report)
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
