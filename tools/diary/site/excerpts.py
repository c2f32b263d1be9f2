"""Code excerpts: every file and top-level definition of a snapshot, and the diffs, as partials.

An excerpt carries the hash of its input (`data-input`); one on disk made from the same input is kept
as it is, since highlighting is the slow part.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
from collections.abc import Container
from pathlib import Path
from typing import Any

from diary.core.contract import code_partial_path, definition_partial_path, diff_partial_path, physical_lines
from diary.core.escape import code_block_text, code_fence, escape_html, fence_can_show
from diary.site.highlight import numbered_code
from diary.site.hlcache import highlight_lines  # the same lines, kept between commands by content
from diary.site.lineage import FileSource, pair_files
from diary.site.model import Snapshot
from diary.site.templating import TEMPLATES_DIR, plural, render

# Bump when the markup of code excerpts changes in code, escape.py's code-block rules included (a change
# to excerpt.md.j2 is noticed alone).
EXCERPT_VERSION = "3"
EXCERPT_DIGEST = re.compile(rb'data-input="([0-9a-f]{64})"')
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]+")


def block_id(*parts: str) -> str:
    """An HTML id from snapshot ids and file names: only letters, digits, '-' and '_'."""
    return "-".join(_UNSAFE_ID.sub("-", part).strip("-") or "x" for part in parts)


def language_of(file: str) -> str:
    return "python" if file.endswith((".py", ".pyw")) else ""


def input_digest(*parts: Any) -> str:
    """A hash of everything an excerpt is made from: its text, its place, the markup's version."""
    digest = hashlib.sha256(_excerpt_salt(TEMPLATES_DIR).encode())
    digest.update(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()


@functools.lru_cache(maxsize=4)
def _excerpt_salt(templates: Path) -> str:
    import pygments

    try:
        template = (templates / "excerpt.md.j2").read_text(encoding="utf-8")
    except OSError:
        template = ""
    return f"{EXCERPT_VERSION}|{pygments.__version__}|{template}"


def reuse(root: Path | None, path: str, digest: str) -> str | None:
    """The partial on disk under `root` when it was made from the same input: highlighting is the
    slow part. None when there is no such partial, or `root` is None (make every excerpt afresh)."""
    if root is None:
        return None
    try:
        data = (root / path).read_bytes()
    except OSError:
        return None
    found = EXCERPT_DIGEST.search(data, 0, 1000)
    if found and found.group(1).decode() == digest:
        return data.decode("utf-8")
    return None


def excerpt(snapshot_id: str, file: str, caption_html: str, ident: str, text: str, first: int,
            language: str, digest: str, numbered: bool = True, empty_text: str = "",
            highlighted: tuple[list[str], bool] | None = None) -> str:
    """An excerpt of `text` (the lines shown, from line `first`): a fenced code block when a fence can
    show it exactly (escape.fence_can_show), else raw HTML from `highlighted` (highlight_lines' lines
    of the text, and whether it ends with a line break) or, when that is None, the text escaped."""
    code = fence = code_html = None
    if text and numbered and fence_can_show(text):
        code = code_block_text(text.removesuffix("\n"))
        fence = code_fence(code)
    elif text:
        lines, newline_at_end = highlighted or highlight_lines(text, language)
        code_html = numbered_code(lines, ident, first, numbered, newline_at_end)
    classes = ["sourceCode", *(["numberSource"] if numbered else []), *([language] if language else []),
               *(["number-lines"] if numbered else [])]
    return render("excerpt.md.j2", snapshot_id=snapshot_id, file=file, caption_html=caption_html,
                  block_id=ident, pre_classes=" ".join(classes), language=language, first_line=first,
                  code=code, fence=fence, code_html=code_html, empty_text=empty_text, digest=digest)


def line_range(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}–{last}"


def code_partials(reuse_from: Path | None, snap: Snapshot, wanted: Container[str] | None = None) -> dict[str, str]:
    """Every file of a snapshot whole, and each top-level class and function, as partials; only
    those whose path is in `wanted` when it is given (what some page includes)."""
    partials = {}

    @functools.cache
    def file_lines(file: str) -> list[str]:
        # Once per file: a file's definitions are slices of its lines.
        return physical_lines(snap.texts[file])

    for file, text in snap.texts.items():
        language = language_of(file)
        count = len(physical_lines(text))
        path = code_partial_path(snap.id, file)
        if wanted is not None and path not in wanted:
            continue
        digest = input_digest("file", snap.id, file, language, snap.text_hashes[file])
        existing = reuse(reuse_from, path, digest)
        if existing is not None:
            partials[path] = existing
            continue
        caption = (f"<code>{escape_html(file)}</code> · snapshot {escape_html(snap.id)}"
                   + (f" · {line_range(1, count)}" if count else " · empty"))
        partials[path] = excerpt(snap.id, file, caption, block_id("code", snap.id, file), text, 1, language,
                                 digest, empty_text="(the file is empty)")
    by_name = [*snap.definitions.items(),
               *((name, snap.definitions[key]) for name, key in snap.bare_names.items())]
    for name, definition in by_name:
        file, first, last = definition.file, definition.start, definition.end
        language = language_of(file)
        path = definition_partial_path(snap.id, name)
        if wanted is not None and path not in wanted:
            continue
        digest = input_digest("definition", snap.id, file, language, name, first, last,
                              snap.text_hashes[file])
        existing = reuse(reuse_from, path, digest)
        if existing is not None:
            partials[path] = existing
            continue
        caption = (f"<code>{escape_html(name)}</code> in <code>{escape_html(file)}</code> · snapshot "
                   f"{escape_html(snap.id)} · {line_range(first, last)}")
        shown = "".join(file_lines(file)[first - 1 : last])
        partials[path] = excerpt(snap.id, file, caption, block_id("def", snap.id, name), shown, first,
                                 language, digest)
    return partials


def file_pairs(older: Snapshot, newer: Snapshot) -> dict[str, FileSource]:
    """Which of `older`'s files each of `newer`'s is compared with: by name, else by similarity (the
    parent's pairing when `older` is the parent, lineage.pair_files)."""
    if newer.meta.parent == older.id and newer.file_sources:
        return newer.file_sources
    return pair_files(older.texts, newer.texts)


def unified_diff(older: Snapshot, newer: Snapshot) -> str:
    """`diff -u` of every file of two snapshots, labelled a/<older id>/<file> and b/<newer id>/<file>.

    A file is compared with the older file of its name, else with the one it came from (a renamed file,
    or each piece of a split: `b/<newer>/pairs.py` against `a/<older>/wordgen.py`); an older file that
    no newer file came from is shown removed, a newer file from none added."""
    sources = file_pairs(older, newer)
    used = {source.parent_file for source in sources.values() if source.parent_file is not None}
    pairs: list[tuple[str | None, str | None]] = [(source.parent_file, file) for file, source in sources.items()]
    pairs += [(file, None) for file in older.texts if file not in used]
    chunks = []
    for before_file, after_file in sorted(pairs, key=lambda pair: (pair[1] or pair[0] or "", pair[0] or "")):
        before = physical_lines(older.texts[before_file]) if before_file is not None else []
        after = physical_lines(newer.texts[after_file]) if after_file is not None else []
        label_a = f"a/{older.id}/{before_file}" if before_file is not None else "/dev/null"
        label_b = f"b/{newer.id}/{after_file}" if after_file is not None else "/dev/null"
        lines = list(difflib.unified_diff(before, after, label_a, label_b))
        if not lines and before_file is not None and after_file is not None and before_file != after_file:
            lines = [f"--- {label_a}\n", f"+++ {label_b}\n"]  # renamed, unchanged: the rename is the change
        for line in lines:
            chunks.append(line)
            if not line.endswith(("\n", "\r")):  # as git writes a last line without a line break
                chunks.append("\n\\ No newline at end of file\n")
    return "".join(chunks)


def diff_partial(reuse_from: Path | None, older: Snapshot, newer: Snapshot) -> str:
    path = diff_partial_path(older.id, newer.id)
    sources = file_pairs(older, newer)
    digest = input_digest("diff", older.id, newer.id, older.text_hashes, newer.text_hashes,
                          {file: [source.parent_file, source.how] for file, source in sources.items()})
    existing = reuse(reuse_from, path, digest)
    if existing is not None:
        return existing
    text = unified_diff(older, newer)
    added = sum(1 for line in text.split("\n") if line.startswith("+") and not line.startswith("+++"))
    deleted = sum(1 for line in text.split("\n") if line.startswith("-") and not line.startswith("---"))
    caption = (f"diff {escape_html(older.id)} → {escape_html(newer.id)} · "
               f"{plural(added, 'line')} added, {deleted} removed")
    moved = [f"<code>{escape_html(file)}</code> {escape_html(source.describe())}"
             for file, source in sources.items() if source.how == "similar"]
    if moved:
        caption += " · " + "; ".join(moved)
    return excerpt(newer.id, "", caption, block_id("diff", older.id, newer.id), text, 1, "diff", digest,
                   numbered=False, empty_text="(no differences)")
