"""The freshness gate, `diary check` (like `cog --check`): list every problem, change nothing.

Problems, each with file, line and how to fix it:
  - a record is stale against its snapshot, the settings, the baseline, the suite or the tool;
  - a record says something its snapshot's files do not (counts, definitions, comments, rules,
    behaviour, verdict, metadata): what is committed is re-derived (derive.py), not believed;
  - a snapshot is broken although it is expected to work, or works although expected broken;
  - a generated file (partial, _variables.yml, chart, snapshot page) differs from what
    `diary generate` would write now;
  - a post names a snapshot, definition, partial or variable that does not exist;
  - a post types a measured figure by hand (a number followed by "lines", "%", ...);
  - a post presents a broken snapshot's savings as progress.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from diary.core import shortcodes
from diary.core.contract import GENERATED_DIR
from diary.core.errors import DiaryError
from diary.measure.allowed import allowances
from diary.measure.derive import DERIVED, Derived, counts, derived_parts, measured_parts
from diary.measure.gate import contradicted_timings, judge_changes, judge_identity, unsandboxed
from diary.measure.judge import stage
from diary.measure.rules import longest_line
from diary.project.freshness import metadata_changes, staleness, with_metadata
from diary.project.normalise import Normalisation, label
from diary.project.pages import Page, read_front, read_pages
from diary.project.project import Project
from diary.project.records import Record, load_records, record_path, without_timings
from diary.render.published import unpublishable
from diary.site.outputs import build_outputs, stale_files
from diary.site.posts import missing_descriptions
from diary.site.prose import FIGURE, prose_lines, reader_text

# Code and diff excerpts: reused by `diary generate` while their data-input hash matches.
EXCERPT_DIRS = (f"{GENERATED_DIR}/code/", f"{GENERATED_DIR}/diff/")
# Keys of variables that present a snapshot's change as progress.
PROGRESS_VAR = re.compile(
    r"\Asnap\.([\w.-]+?)\.(code_vs_parent|code_vs_baseline|percent_vs_baseline|saved_code|saved_percent)\Z"
)
STATUS_VAR = re.compile(r"\Asnap\.([\w.-]+?)\.status\Z")
# Variables of the latest state of the diary: they change whenever a snapshot is added, so a post
# (which tells of its own snapshots) must not use them; the home and progress pages may.
FLOATING_VAR = re.compile(
    r"\A(diary\.(?:best|best_code|saved_code|saved_percent|snapshots|broken)|def\.[\w.-]+\.(?:best|best_name|saved))\Z"
)


class Problem(DiaryError):
    """A finding of the gate: the tool's one diagnostic (DiaryError: file, line, message, hint), collected
    rather than raised, and printed as `file:line: message (fix: hint)` (DiaryError.finding)."""

    def __init__(self, file: str, line: int | None, message: str, fix: str) -> None:
        super().__init__(message, file=file, line=line, hint=fix)

    # Findings are values: the same problem found twice (generate's and the posts' reading) is listed once.
    def _fields(self) -> tuple[str | None, int | None, str, str | None]:
        return self.file, self.line, self.message, self.hint

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())


def _rel(path: Path, root: Path) -> str:
    try:
        # Lexically, never through links: a file that is a link is named as itself, not its target.
        return str(Path(os.path.abspath(path)).relative_to(root))
    except ValueError:
        return str(path)


def _key_line(path: Path) -> int | None:
    """The line of a record's top-level `key:` (what a re-measure rewrites)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    except OSError:
        return None
    return next((number for number, line in enumerate(lines, 1) if line.startswith("key:")), None)


def stale_records(project: Project) -> list[Problem]:
    """Records that do not load, are missing, are stale (the same rule as measure's) or are orphans."""
    root = project.root
    problems = [_from_error(error, root) for error in project.record_errors]
    unreadable = {Path(error.file).stem for error in project.record_errors if error.file}
    expected = project.expected_keys
    for snap in project.snapshots:
        if snap.id in unreadable:
            continue
        record = project.records.get(snap.id)
        changed = staleness(record, expected[snap.id])
        path = _rel(record_path(root, snap.id), root)
        if record is None:
            problems.append(Problem(path, None, f"snapshot '{snap.id}' has no record",
                                    "run 'diary measure', then 'diary generate', and commit the results"))
        elif changed is not None:
            problems.append(Problem(
                path, _key_line(record_path(root, snap.id)),
                f"record of '{snap.id}' is stale ({', '.join(changed)} changed)",
                "run 'diary measure', then 'diary generate' (or 'diary build' for both), and commit "
                "_data/records/ and the generated files",
            ))
        elif changes := metadata_changes(record, snap):
            problems.append(Problem(
                path, _key_line(record_path(root, snap.id)),
                f"the record of '{snap.id}' has its old {', '.join(changes)} (snapshot.yml changed since)",
                "run 'diary measure' (it rewrites what snapshot.yml says and runs nothing) and commit "
                "_data/records/",
            ))
    for orphan in sorted(set(project.records) - {s.id for s in project.snapshots}):
        problems.append(Problem(_rel(record_path(root, orphan), root), None,
                                f"record for a snapshot that no longer exists: '{orphan}'", "run 'diary measure'"))
    return problems


def _fresh_records(project: Project) -> dict[str, Record]:
    expected = project.expected_keys
    return {snap.id: record for snap in project.snapshots
            if (record := project.records.get(snap.id)) is not None and staleness(record, expected[snap.id]) is None}


def _disagreement(name: str, committed: Record, derived: Derived) -> str:
    """What a reader of the problem needs to see of one part that differs."""
    if name == "lines":
        return f"lines (the record says {committed.lines.total.code} code lines, the files have " \
               f"{derived.lines.total.code})"
    if name == "verdict":
        return f"verdict (the record says {committed.verdict.status}, its own parts say {derived.verdict.status})"
    return name


def unfaithful_records(project: Project) -> list[Problem]:
    """Fresh records whose derived parts are not what the committed files and the records' own
    measured parts give (a hand edit, or a record copied from elsewhere)."""
    records = _fresh_records(project)
    if not project.snapshots or project.snapshots[0].id not in records:
        return []
    root = project.root
    baseline = project.snapshots[0]
    staged_baseline = stage(baseline)
    baseline_comments = counts(staged_baseline).comments
    baseline_longest = longest_line(staged_baseline.code())
    baseline_run = records[baseline.id].run
    allowed = allowances(staged_baseline.files)
    problems = []
    for snap in project.snapshots:
        record = records.get(snap.id)
        if record is None:
            continue
        record = with_metadata(record, snap)  # an old copy of snapshot.yml: stale_records says so
        staged = staged_baseline if snap is baseline else stage(snap)
        derived = derived_parts(staged, baseline_comments, project.settings, measured_parts(record), baseline_run,
                                baseline.id, allowed, baseline_longest)
        wrong = [_disagreement(name, record, derived) for name in DERIVED
                 if getattr(derived, name) != getattr(record, name)]
        if wrong:
            problems.append(Problem(
                _rel(record_path(root, snap.id), root), _key_line(record_path(root, snap.id)),
                f"record of '{snap.id}' does not match its snapshot: {', '.join(wrong)}",
                f"records are re-derived, never believed: run 'diary measure --force --only {snap.id}' and commit",
            ))
    return problems


def surprising_verdicts(project: Project) -> list[Problem]:
    """Snapshots whose verdict is not the one their snapshot.yml expects: `measure` and `build` exit 1
    on these, so the gate fails too."""
    problems = []
    for snap_id, committed in _fresh_records(project).items():
        meta = next(s for s in project.snapshots if s.id == snap_id)
        record = with_metadata(committed, meta)  # the expectation is snapshot.yml's, as it is now
        if record.verdict.surprise:
            reasons = "; ".join(record.verdict.reasons) or "every check passed"
            problems.append(Problem(
                _rel(meta.directory / "snapshot.yml", project.root), None,
                f"snapshot '{snap_id}' is {record.verdict.status}, but expected {record.verdict.expected}: {reasons}",
                "fix the snapshot, or set 'expect:' to what it is and say so in the posts ('diary measure' "
                "then rewrites the record and runs nothing)",
            ))
    return problems


def _steady(record: Record, normalisations: tuple[Normalisation, ...] = ()) -> dict:
    data = without_timings(record)
    if normalisations:
        # What the declared normalisations absorb (a timestamp) differs between two honest runs: the
        # raw bytes, the lines and whether two runs agreed byte for byte by chance (the same second).
        # The output under all of them must agree; the cheap check still re-derives the behaviour
        # from the record's own hashes.
        every = label(normalisations)
        run = data["run"]
        run["stdout_normalised"] = run["stdout_normalised"].get(every)
        for key in ("stdout_sha256", "stdout_lines"):
            run.pop(key)
        for key in ("byte_identical", "normalised_by"):
            data["behaviour"].pop(key)
    return data


def contradicted_records(project: Project, fresh: dict[str, Record]) -> list[Problem]:
    """Committed records that a fresh measurement of the same files contradicts (`check --rerun`)."""
    problems = []
    for snap_id, record in _fresh_records(project).items():
        again = fresh.get(snap_id)
        if again is None:
            continue
        normalisations = project.settings.normalise
        committed, measured = _steady(record, normalisations), _steady(again, normalisations)
        wrong = [name for name in measured if committed.get(name) != measured[name]]
        if wrong:
            path = record_path(project.root, snap_id)
            problems.append(Problem(
                _rel(path, project.root), _key_line(path),
                f"record of '{snap_id}' is contradicted by a fresh run of the same files: {', '.join(wrong)}",
                f"run 'diary measure --force --only {snap_id}' and commit what it measures",
            ))
    return problems + [_from_error(error, project.root) for error in contradicted_timings(project, fresh)]


def stale_generated(project: Project) -> list[Problem]:
    """Generated files that differ from what generate would write now, and every problem in the pages."""
    root = project.root
    outputs = build_outputs(project, reuse_excerpts=False)
    problems = [_from_error(error, root) for error in outputs.problems]
    if outputs.problems:
        return problems  # generate would refuse to write: comparing its outputs would only add noise
    for rel, content in outputs.files.items():
        path = root / rel
        try:
            current = path.read_bytes()
        except OSError:
            current = None
        if current != content:
            what = "is missing" if current is None else "is stale"
            fix = "run 'diary generate' (or 'diary build') and commit the result"
            if current is not None and rel.startswith(EXCERPT_DIRS):
                # generate keeps an excerpt whose data-input hash matches, so a hand edit would stay
                fix = "delete it, run 'diary generate' (or 'diary build') and commit the result"
            problems.append(Problem(_rel(path, root), None, f"generated file {what}", fix))
    for path in stale_files(root, set(outputs.files)):
        problems.append(Problem(_rel(path, root), None, "generated file is no longer produced",
                                "run 'diary generate' to remove it"))
    return problems


def hand_typed_claims(post: Path, root: Path, text: str | None = None, page: Page | None = None) -> list[Problem]:
    """Numbers with a measured unit in what readers read of `post` (`page`: the post as read, with its
    front matter; `text`: its content, read when neither is given): the front matter shown in the
    listing, the title and the feed, and the prose, a paragraph's lines read together."""
    if page is None:
        page = Page(post, post.read_text(encoding="utf-8-sig") if text is None else text)
        read_front(page)
    problems = []
    for number, line in reader_text(page):
        for match in FIGURE.finditer(line):
            problems.append(Problem(
                _rel(post, root), number, f"hand-typed figure '{' '.join(match.group(0).split())}'",
                "use {{< var ... >}} from _variables.yml (see docs/generated.md) so the figure comes from the data",
            ))
    return problems


def _var_keys(pattern: re.Pattern[str], line: str) -> list[re.Match[str]]:
    """The keys of the `{{< var >}}` shortcodes the engines expand in `line` that `pattern` matches."""
    return [match for found in shortcodes.find(line, "var") if found.live
            and (match := pattern.match(found.argument)) is not None]


def broken_as_progress(post: Path, root: Path, records: dict[str, Record], text: str | None = None) -> list[Problem]:
    if text is None:
        text = post.read_text(encoding="utf-8-sig")
    problems = []
    lines = prose_lines(text)
    # A change shown in a paragraph that also gives the snapshot's status says it is broken.
    paragraph: dict[int, int] = {}  # line -> the first line of its paragraph
    said: set[tuple[int, str]] = set()  # (paragraph, snapshot id) of each status given
    for (before, previous), (number, line) in zip([(0, ""), *lines], lines, strict=False):
        paragraph[number] = paragraph[before] if previous.strip() and before == number - 1 else number
        said.update((paragraph[number], match.group(1)) for match in _var_keys(STATUS_VAR, line))
    for number, line in lines:
        for match in _var_keys(PROGRESS_VAR, line):
            snap_id = match.group(1)
            record = records.get(snap_id)
            if record and record.verdict.status == "broken" and (paragraph[number], snap_id) not in said:
                problems.append(Problem(
                    _rel(post, root), number,
                    f"presents the change of broken snapshot '{snap_id}' as progress ({match.group(2)})",
                    f"say that it is broken in the same paragraph ({{{{< var snap.{snap_id}.status >}}}}) "
                    "or cite a working snapshot",
                ))
    return problems


def floating_figures(page: Page, root: Path) -> list[Problem]:
    """A post's uses of the diary's latest figures: the post would rewrite itself when a later
    snapshot is added (the figures of its own snapshots are `snap.<id>.*`)."""
    if page.name is None:  # the home, about and progress pages show the latest on purpose
        return []
    last = page.snapshots[-1] if page.snapshots else "<its last snapshot>"
    problems = []
    for number, line in prose_lines(page.text):
        for match in _var_keys(FLOATING_VAR, line):
            problems.append(Problem(
                _rel(page.path, root), number,
                f"'{match.group(1)}' is the latest figure of the diary: this post would change when a later "
                "snapshot is added",
                f"pin it to the post's snapshots, e.g. snap.{last}.code, snap.{last}.saved_code, "
                f"snap.{last}.def.<Name>.code (docs/generated.md)",
            ))
    return problems


def _from_error(exc: DiaryError, root: Path) -> Problem:
    return Problem(_rel(Path(exc.file), root) if exc.file else ".", exc.line, exc.message, exc.hint or "")


def collect_problems(project: Project) -> list[Problem]:
    """Every problem of the diary, in the order a fix should go: records, generated files, posts."""
    root = project.root
    problems = stale_records(project)
    stale = {problem.file for problem in problems}
    problems += [_from_error(error, root) for error in [*judge_changes(project), *unsandboxed(project)]]
    problems += unfaithful_records(project)
    problems += surprising_verdicts(project)
    try:
        problems += stale_generated(project)
    except DiaryError as exc:  # a record generate cannot use, or a post that does not read
        # Generating stops at the first stale record; that record is reported above already.
        if _from_error(exc, root).file not in stale:
            problems.append(_from_error(exc, root))
    try:
        pages = project.pages
    except DiaryError as exc:  # reported above when generating got that far
        pages = []
        if _from_error(exc, root) not in problems:
            problems.append(_from_error(exc, root))
    for page in pages:
        problems += hand_typed_claims(page.path, root, page.text, page)
        problems += broken_as_progress(page.path, root, project.records, page.text)
        problems += floating_figures(page, root)
    problems += [_from_error(error, root) for error in missing_descriptions(pages)]
    problems += [_from_error(error, root) for error in unpublishable(root)]
    return problems


def check(root: Path) -> list[Problem]:
    """`diary check`: the problems of the diary at `root` (none: everything is fresh)."""
    root = Path(root).resolve()
    try:
        project = Project.load(root)
    except DiaryError as exc:  # settings or snapshots that do not load: still check the posts' prose
        problems = [_from_error(exc, root)]
        try:
            pages = read_pages(root)
        except DiaryError as page_error:
            return [*problems, _from_error(page_error, root)]
        records = load_records(root, force=True)
        for page in pages:
            problems += hand_typed_claims(page.path, root, page.text, page)
            problems += broken_as_progress(page.path, root, records, page.text)
        return problems + [_from_error(error, root) for error in unpublishable(root)]
    return collect_problems(project)


def passed(root: Path) -> str:
    """What `diary check` prints when nothing is wrong: the judge that passed the records (the
    publish workflow's log names it), then the verdict."""
    verdict = "diary check: everything is fresh and every figure comes from the data"
    return f"{judge_identity(Project.load(root))}\n{verdict}"
