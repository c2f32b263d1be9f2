"""The generate stage's orchestrator: every output in memory, checked, then written where it changed.

docs/generated.md is the contract: which files, at which paths, holding what. Numbers come from the
records (`_data/records/<id>.yml`); code comes live from the snapshot files. Everything is built in
memory and checked first (posts' front matter, every `/_generated/` include and `{{< var >}}` of a
page, the templates); only then is anything written, atomically and only where it changed, and the
generated files that are no longer produced are removed. A run that changes nothing writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from diary.core import safefs, usercache
from diary.core.atomic import write_bytes_atomic, write_text_atomic
from diary.core.contract import (
    CHART_DARK_PATH,
    CHART_PARTIAL_PATH,
    CHART_PATH,
    CHECKS_PARTIAL_PATH,
    GENERATE_STATE_PATH,
    GENERATED_DIR,
    PAGE_MARKER,
    PAGES_DIR,
    POST_CHARTS_DIR,
    RAW_DIR,
    SETTINGS_PATH,
    SNAPSHOT_INDEX_PATH,
    VARIABLES_HEADER,
    VARIABLES_PATH,
    diff_partial_path,
    raw_file_path,
    snapshot_page_path,
)
from diary.core.errors import DiaryError
from diary.core.yamlio import dump_yaml
from diary.project.cited import CITED_PATH
from diary.project.pages import page_sources, read_front, read_text
from diary.project.project import Project
from diary.project.records import record_path
from diary.site import templating
from diary.site.chart import chart_files, chart_partial, post_charts
from diary.site.checks import checks_partial
from diary.site.excerpts import code_partials, diff_partial
from diary.site.model import Diary, load_snapshots
from diary.site.pages import snapshot_index, snapshot_page
from diary.site.posts import (
    Page,
    check_front_matter,
    check_includes,
    check_pages,
    include_targets,
    metadata_files,
    metadata_problems,
    wanted_diff_pairs,
)
from diary.site.prose import markup_problems
from diary.site.tables import progress_tables
from diary.site.variables import build_variables


@dataclass
class GenerateReport:
    """What one `diary generate` did, by path relative to the root."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chart_drawn: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        chart = ", chart redrawn" if self.chart_drawn else ""
        return (f"generate: {len(self.written)} written, {len(self.unchanged)} unchanged, "
                f"{len(self.removed)} removed{chart} ({self.seconds:.2f} s)")


def generate(project: Project) -> GenerateReport:
    """Generate every file of docs/generated.md; raise the first problem, before writing, on bad input.

    When every input is what the last run generated from, and every generated file is as that run
    left it, nothing is built (GENERATE_STATE). The caller holds the command's lock."""
    started = time.perf_counter()
    inputs = input_digest(project)
    produced = unchanged_since_last_run(project.root, inputs)
    if produced is not None:
        return GenerateReport(unchanged=produced, seconds=time.perf_counter() - started)
    outputs = build_outputs(project)
    if outputs.problems:
        raise outputs.problems[0]
    report = write_outputs(project.root, outputs)
    report.chart_drawn = outputs.chart_drawn
    report.seconds = time.perf_counter() - started
    save_generate_state(project.root, inputs, sorted(outputs.files))
    return report


# What the last `diary generate` was made from and what it left: a cache in the gitignored
# `.diary-cache/`, never trusted for `diary check` (which builds everything afresh) and never an error.
GENERATE_STATE = GENERATE_STATE_PATH
_CODE_DIR = Path(__file__).resolve().parents[1]  # tools/diary: the generator's code and templates


def input_digest(project: Project) -> str:
    """Everything generate reads: the settings, each snapshot's metadata and record (whose expected key
    holds the content hash of its files, the baseline's, the suite's and the tool's version), the
    pages, the generator's code and templates, and the versions of the libraries that shape the output."""
    from importlib.metadata import version  # not `import matplotlib`: a no-op run never draws

    libraries = "|".join(version(name) for name in ("jinja2", "matplotlib", "pygments", "pyyaml"))
    digest = hashlib.sha256(libraries.encode())
    for folder in (_CODE_DIR, Path(templating.TEMPLATES_DIR)):
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".py", ".j2") and path.is_file():
                digest.update(f"\0{path}\0".encode() + path.read_bytes())
    digest.update(_read_or_empty(project.root / SETTINGS_PATH))
    digest.update(_read_or_empty(project.root / CITED_PATH))
    expected = project.expected_keys
    for meta in project.snapshots:
        digest.update(f"\0{meta.id}\0{expected[meta.id].key}\0".encode())
        digest.update(_read_or_empty(meta.meta_path))
        digest.update(_read_or_empty(record_path(project.root, meta.id)))
    for page in project.pages:
        digest.update(f"\0{page.path}\0{page.text}".encode("utf-8", "surrogatepass"))
    read = {page.path for page in project.pages}
    sources = _rendered_pages(project.root)
    for src in sources:  # every other page the engines render is checked too, and the metadata files
        if project.root / src not in read:
            digest.update(f"\0{src}\0".encode() + _read_or_empty(project.root / src))
    for name in metadata_files(project.root, sources):
        digest.update(f"\0{name}\0".encode() + _read_or_empty(project.root / name))
    return digest.hexdigest()


def _read_or_empty(path: Path) -> bytes:
    """An input's bytes for the digest, read as every input is (safefs): a link is refused, never
    followed, even into a hash, so a committed link is an error here as in a full build."""
    if not os.path.lexists(path):
        return b"<missing>"
    return safefs.read_bytes(path, safefs.HARD_MAX_FILE_BYTES)


def generated_tree_digest(root: Path) -> str:
    """Every file in the generated places, by path, size and modification time."""
    candidates = [root / VARIABLES_PATH, root / CHART_PATH, root / CHART_DARK_PATH]
    for folder in (root / GENERATED_DIR, root / PAGES_DIR, root / POST_CHARTS_DIR):
        if folder.is_dir():
            candidates.extend(path for path in folder.rglob("*") if path.is_file())
    return safefs.stat_digest(sorted(candidates), root)


def unchanged_since_last_run(root: Path, inputs: str) -> list[str] | None:
    """The paths the last run produced, when its inputs were `inputs` and its files are untouched."""
    try:
        # Sealed with the user's key: a committed state would skip the checks of a changed page.
        state = json.loads(usercache.read_sealed(root / GENERATE_STATE) or "null")
        if state["inputs"] != inputs or state["tree"] != generated_tree_digest(root):
            return None
        produced = state["produced"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return [str(path) for path in produced] if isinstance(produced, list) else None


def save_generate_state(root: Path, inputs: str, produced: list[str]) -> None:
    state = {"inputs": inputs, "tree": generated_tree_digest(root), "produced": produced}
    try:
        write_text_atomic(root / GENERATE_STATE, usercache.seal(json.dumps(state)))
    except OSError:
        pass  # a cache that cannot be written is no cache


@dataclass
class Outputs:
    """Every generated file as bytes, by path relative to the root, ready to be written; and every
    problem found in the pages on the way (nothing is written while there is one)."""

    files: dict[str, bytes]
    chart_drawn: bool = False
    problems: list[DiaryError] = field(default_factory=list)


def build_outputs(project: Project, reuse_excerpts: bool = True) -> Outputs:
    """Read and check every input, then render every output in memory (nothing is written here).

    With `reuse_excerpts`, a code or diff partial or the chart on disk made from the same input is kept
    as it is; `diary check` turns it off, so that a hand edit that left the input hash alone is found.
    Bad records and unreadable posts raise; problems in what posts reference are collected."""
    root = project.root
    reuse_from = root if reuse_excerpts else None
    expected = project.expected_keys
    diary = Diary(project.settings, load_snapshots(root, project.snapshots, project.strict_records(), expected))
    pages = project.pages
    problems = check_front_matter(diary, pages) + check_includes(root, pages)
    allow_raw_html = project.settings.raw_html == "allow"
    for page in pages:
        problems += markup_problems(page, allow_raw_html)
    diff_pairs, diff_problems = wanted_diff_pairs(root, diary, pages)
    problems += diff_problems

    files: dict[str, str | bytes] = {}
    for snap in diary.snapshots:
        files[snapshot_page_path(snap.id)] = snapshot_page(diary, snap)
    files[SNAPSHOT_INDEX_PATH] = snapshot_index(diary)
    files.update(progress_tables(diary, pages))
    variables = build_variables(diary)
    files[VARIABLES_PATH] = VARIABLES_HEADER + dump_yaml(variables)
    files[CHART_PARTIAL_PATH] = chart_partial(diary)
    files[CHECKS_PARTIAL_PATH] = checks_partial(diary)
    # Only the excerpts some page includes (a post, a top-level page or a generated snapshot page) are
    # written: a partial per definition and a diff against the baseline for every snapshot, included
    # by nobody, made most of the generated output and grew it faster than the diary.
    wanted = included_partials(root, pages, files)
    for snap in diary.snapshots:
        files.update(code_partials(reuse_from, snap, wanted))
        for name, data in snap.raw.items():
            files[raw_file_path(snap.id, name)] = data
        for data_file in snap.meta.data_files:  # beside the files, where a run finds it (pages.py)
            files[raw_file_path(snap.id, data_file.target)] = safefs.read_bytes(
                project.settings.code_dir / data_file.source, project.settings.max_file_bytes)
    for older, newer in diff_pairs:
        if diff_partial_path(older.id, newer.id) in wanted:
            files[diff_partial_path(older.id, newer.id)] = diff_partial(reuse_from, older, newer)

    pinned, pinned_drawn = post_charts(reuse_from, diary, pages, wanted)
    files.update(pinned)
    problems += check_pages(root, pages, files, variables)
    problems += _other_page_problems(root, pages, files, allow_raw_html)
    problems += metadata_problems(root, _rendered_pages(root), allow_raw_html)
    charts, drawn = chart_files(reuse_from, diary)
    files.update(charts)
    drawn = drawn or pinned_drawn
    encoded = {path: data.encode("utf-8") if isinstance(data, str) else data for path, data in files.items()}
    return Outputs(encoded, chart_drawn=drawn, problems=problems)


def _rendered_pages(root: Path) -> list[str]:
    """The pages the engines render: none without a site configuration (a diary without a site)."""
    if not any((root / name).is_file() for name in ("_quarto.yml", "_smalldocs.yml")):
        return []
    return page_sources(root)


def _other_page_problems(root: Path, pages: list[Page], generated: Mapping[str, object],
                         allow_raw_html: bool) -> list[DiaryError]:
    """The includes and markup of every other page the engines render (a `.qmd` in a folder of its
    own, when `_quarto.yml` renders every page): they reach the site as the posts do."""
    read = {page.path for page in pages}
    problems: list[DiaryError] = []
    for src in _rendered_pages(root):
        path = root / src
        if path in read or src in generated:
            continue
        try:
            page = Page(path, read_text(path))
            read_front(page)
        except DiaryError as error:
            problems.append(error)
            continue
        problems += check_includes(root, [page]) + markup_problems(page, allow_raw_html)
    return problems


def included_partials(root: Path, pages: list[Page], generated: Mapping[str, str | bytes]) -> set[str]:
    """Every `_generated/` path that a page includes: the posts and top-level pages, and the pages
    generated so far (snapshot pages include their files and the diff against their parent)."""
    wanted = {rel for page in pages for rel, _line in include_targets(root, page)}
    for path, data in generated.items():
        if path.endswith(".qmd") and isinstance(data, str):
            wanted.update(rel for rel, _line in include_targets(root, Page(root / path, data)))
    return wanted


def write_outputs(root: Path, outputs: Outputs) -> GenerateReport:
    """Write what changed, then remove generated files that are no longer produced."""
    report = GenerateReport()
    for path, data in outputs.files.items():
        if write_bytes_atomic(root / path, data):
            report.written.append(path)
        else:
            report.unchanged.append(path)
    report.removed = remove_stale(root, set(outputs.files))
    return report


def stale_files(root: Path, produced: set[str]) -> list[Path]:
    """What an earlier run generated and this one does not: only in the generated places."""
    candidates: list[Path] = []
    for folder in (root / GENERATED_DIR, root / RAW_DIR, root / POST_CHARTS_DIR):
        if folder.is_dir():
            candidates.extend(path for path in folder.rglob("*") if path.is_file())
    pages = root / PAGES_DIR
    if pages.is_dir():
        for page in pages.glob("*.qmd"):
            try:
                head = page.read_bytes()[:300].decode("utf-8", errors="replace").split("\n", 2)
            except OSError:
                continue
            if len(head) > 1 and head[1] == PAGE_MARKER:  # a page the author wrote by hand is never touched
                candidates.append(page)
    return [path for path in sorted(candidates) if path.relative_to(root).as_posix() not in produced]


def remove_stale(root: Path, produced: set[str]) -> list[str]:
    """Delete the stale generated files and the folders they leave empty."""
    removed = []
    for path in stale_files(root, produced):
        path.unlink()
        removed.append(path.relative_to(root).as_posix())
    for folder in (root / GENERATED_DIR, root / RAW_DIR, root / POST_CHARTS_DIR):
        if folder.is_dir():
            for directory in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if directory.is_dir() and not any(directory.iterdir()):
                    directory.rmdir()
    return removed
