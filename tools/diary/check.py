"""The freshness gate, `diary check` (like `cog --check`): list every problem, change nothing.

Problems, each with file, line and how to fix it:
  - a record is stale against its snapshot, the settings, the baseline, the suite or the tool;
  - a generated file (partial, _variables.yml, chart, snapshot page) differs from what
    `diary generate` would write now;
  - a post names a snapshot, definition, partial or variable that does not exist;
  - a post types a measured figure by hand (a number followed by "lines", "%", ...);
  - a post presents a broken snapshot's savings as progress.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import load_settings
from .discover import discover_snapshots
from .errors import DiaryError
from .escape import for_terminal
from .generate import FRONT_MATTER, GENERATED_DIR, build_outputs, read_pages, stale_files
from .measure import cache_key, suite_hash
from .records import load_records, record_path

# A figure the data holds: a number followed by a unit the diary measures ("25 lines", "a 60-line class").
CLAIM = re.compile(
    r"(?<![\w.{-])[-+−]?\d[\d,]*(?:\.\d+)?(?:\s*|-)"
    r"(?:%|percent\b|per\s?cent\b|(?:code\s+|comment\s+|blank\s+|physical\s+)?lines?\b|loc\b|"
    r"tests?\b|comments?\b|seconds?\b|ms\b|MB\b|steps?\b)",
    re.IGNORECASE,
)
SHORTCODE = re.compile(r"\{\{<.*?>\}\}")
# Inline code: a run of backticks up to the next run of the same length (`x`, ``a ` b``).
INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)")
# Not prose either: link and image targets, attribute blocks ({width=80%}, {#sec-x .class}), HTML tags.
LINK_TARGET = re.compile(r"\]\([^()\s]*(?:\s+\"[^\"]*\")?\)")
ATTRIBUTES = re.compile(r"\{\s*[#.][^{}\n]*\}|\{[^{}\n]*=[^{}\n]*\}")
HTML_TAG = re.compile(r"</?[A-Za-z][^<>\n]*>")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
# A code fence, also inside a list item or a block quote; a closing fence has nothing after it.
FENCE = re.compile(r"^[ \t>]*(`{3,}|~{3,})(.*)$")
# Code and diff excerpts: reused by `diary generate` while their data-input hash matches.
EXCERPT_DIRS = (f"{GENERATED_DIR}/code/", f"{GENERATED_DIR}/diff/")
# Variables that present a snapshot's change as progress (an escaped shortcode, {{{< >}}}, shows as text).
PROGRESS_VAR = re.compile(
    r"(?<![{\\])\{\{<\s*var\s+snap\.([\w.-]+?)\.(code_vs_parent|code_vs_baseline|percent_vs_baseline)\s*>\}\}"
)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message} (fix: {self.fix})"


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


def stale_records(root: Path) -> list[Problem]:
    settings = load_settings(root)
    snapshots = discover_snapshots(settings)
    records = load_records(root)
    baseline_hash = snapshots[0].content_hash()
    suite = suite_hash(settings)
    problems = []
    for snap in snapshots:
        key, produced_by = cache_key(snap, baseline_hash, settings, suite)
        record = records.get(snap.id)
        path = _rel(record_path(root, snap.id), root)
        if record is None:
            problems.append(Problem(path, None, f"snapshot '{snap.id}' has no record",
                                    "run 'diary measure', then 'diary generate', and commit the results"))
        elif record["key"] != key:
            changed = [k for k, v in produced_by.items() if record["produced_by"].get(k) != v]
            problems.append(Problem(
                path, _key_line(record_path(root, snap.id)),
                f"record of '{snap.id}' is stale ({', '.join(changed) or 'key'} changed)",
                "run 'diary measure', then 'diary generate' (or 'diary build' for both), and commit "
                "_data/records/ and the generated files",
            ))
    for orphan in sorted(set(records) - {s.id for s in snapshots}):
        problems.append(Problem(_rel(record_path(root, orphan), root), None,
                                f"record for a snapshot that no longer exists: '{orphan}'", "run 'diary measure'"))
    return problems


def stale_generated(root: Path) -> list[Problem]:
    outputs = build_outputs(root, reuse_excerpts=False)
    problems = []
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


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """The post's lines that readers see as prose: no front matter, code blocks or comments."""
    front = FRONT_MATTER.match(text)
    start = text.count("\n", 0, front.end()) + 1 if front else 0
    body = "\n".join(text.split("\n")[start:])
    body = HTML_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), body)
    out, fence = [], None
    for offset, line in enumerate(body.split("\n")):
        match = FENCE.match(line)
        if match and match.group(1)[0] == "`" and "`" in match.group(2):
            match = None  # ```x``` is inline code, not a fence (CommonMark)
        if fence:
            marks, rest = match.groups() if match else ("", "")
            if marks[:1] == fence[0] and len(marks) >= len(fence) and not rest.strip():
                fence = None
            continue
        if match:
            fence = match.group(1)
            continue
        out.append((start + offset + 1, line))
    return out


def _visible(line: str) -> str:
    """What a reader sees of a prose line as words: no shortcodes, code, link targets, attributes or tags."""
    for pattern in (SHORTCODE, INLINE_CODE, LINK_TARGET, ATTRIBUTES, HTML_TAG):
        line = pattern.sub(" ", line)
    return line


def hand_typed_claims(post: Path, root: Path, text: str | None = None) -> list[Problem]:
    """Numbers with a measured unit in the prose of `post` (`text`: its content, read when not given)."""
    if text is None:
        text = post.read_text(encoding="utf-8-sig")
    problems = []
    for number, line in _prose_lines(text):
        for match in CLAIM.finditer(_visible(line)):
            problems.append(Problem(
                _rel(post, root), number, f"hand-typed figure '{match.group(0).strip()}'",
                "use {{< var ... >}} from _variables.yml (see docs/generated.md) so the figure comes from the data",
            ))
    return problems


def broken_as_progress(post: Path, root: Path, records: dict[str, dict], text: str | None = None) -> list[Problem]:
    if text is None:
        text = post.read_text(encoding="utf-8-sig")
    problems = []
    for number, line in _prose_lines(text):
        for match in PROGRESS_VAR.finditer(line):
            snap_id = match.group(1)
            record = records.get(snap_id)
            if record and record["verdict"]["status"] == "broken":
                problems.append(Problem(
                    _rel(post, root), number,
                    f"presents the change of broken snapshot '{snap_id}' as progress ({match.group(2)})",
                    f"say that it is broken ({{{{< var snap.{snap_id}.status >}}}}) or cite a working snapshot",
                ))
    return problems


def _from_error(exc: DiaryError, root: Path) -> Problem:
    return Problem(_rel(Path(exc.file), root) if exc.file else ".", exc.line, exc.message,
                   exc.hint or "see the message")


def collect_problems(root: Path) -> list[Problem]:
    root = Path(root).resolve()
    problems: list[Problem] = []
    try:
        problems += stale_records(root)
        stale = {problem.file for problem in problems}
        try:
            problems += stale_generated(root)
        except DiaryError as exc:
            # Generating stops at the first stale record; that record is reported above already.
            if _from_error(exc, root).file not in stale:
                raise
    except DiaryError as exc:  # a dangling reference in a post, a broken record, ...
        problems.append(_from_error(exc, root))
    records = load_records(root, force=True)
    try:
        pages = read_pages(root)
    except DiaryError as exc:  # reported above when generating got that far
        pages = []
        if _from_error(exc, root) not in problems:
            problems.append(_from_error(exc, root))
    for page in pages:
        problems += hand_typed_claims(page.path, root, page.text)
        problems += broken_as_progress(page.path, root, records, page.text)
    return problems


def run_check(root: Path) -> int:
    problems = collect_problems(root)
    for problem in problems:
        print(for_terminal(str(problem)), file=sys.stderr)  # names and messages come from the repository
    if problems:
        print(f"diary check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("diary check: everything is fresh and every figure comes from the data")
    return 0
