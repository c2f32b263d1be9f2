"""What a snapshot continues of its parent: each file's source file, each definition's origin.

Files are paired by name, else with the parent's file that holds most of their lines (a split
`wordgen.py` -> `main.py` + `pairs.py` + `words.py` compares each piece with `wordgen.py`; a renamed
file with the file it was). Definitions are followed across renames: a mapping the author declared
in `snapshot.yml` (`renames: {V: Value}`), the same key, the same name in another module (moved), or
else a body similar enough (the site says which, and how similar).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from diary.core.errors import DiaryError
from diary.core.yamlio import read_yaml
from diary.measure.count import module_name
from diary.project.records import Definition

# A file holding at least this share of its lines from one of the parent's files came from it.
FILE_MATCH_PERCENT = 50
# A definition whose body (its own name set aside) is at least this similar to one the parent lost
# is that one renamed.
DEFINITION_MATCH_PERCENT = 60
_TOKEN = re.compile(r"\w+|\S")
# Bounded work on a snapshot from anywhere: at most this many body comparisons per snapshot (a
# thousand renamed definitions are not matched by similarity; they are shown as new).
MAX_COMPARISONS = 2_000


@dataclass(frozen=True)
class FileSource:
    """The parent's file a file is compared with: same name, matched by similarity, or none (new)."""

    parent_file: str | None
    how: str  # "same" | "similar" | "definitions" | "new"
    # "similar": the share of this file's lines found in parent_file; "definitions": the share of its
    # definitions' code lines that continue definitions of parent_file
    percent: int | None = None

    def describe(self) -> str:
        if self.how == "similar":
            return f"from {self.parent_file} (matched by similarity, {self.percent}% of its lines)"
        if self.how == "definitions":
            return f"from {self.parent_file} (where {self.percent}% of its definitions' code was)"
        return "new" if self.how == "new" else "same name"


@dataclass(frozen=True)
class Origin:
    """The parent's definition a definition continues, and how that was decided."""

    parent_key: str | None
    how: str  # "same" | "declared" | "moved" | "similar" | "new"
    percent: int | None = None  # for "similar"
    parent_file: str | None = None  # for "moved": the file it was in

    def describe(self) -> str:
        """What the site says, e.g. "renamed (matched by similarity, 87%) from V"."""
        if self.how == "declared":
            return f"renamed (declared) from {self.parent_key}"
        if self.how == "similar":
            return f"renamed (matched by similarity, {self.percent}%) from {self.parent_key}"
        if self.how == "moved":
            return f"moved from {self.parent_file} (was {self.parent_key})"
        return "same" if self.how == "same" else "new"


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _contained(older: Counter[str], newer: Counter[str]) -> int:
    total = sum(newer.values())
    return round(100 * sum((older & newer).values()) / total) if total else 0


def pair_files(parent_texts: Mapping[str, str], texts: Mapping[str, str]) -> dict[str, FileSource]:
    """Each file of a snapshot and the parent's file it is compared with (its diff, its definitions)."""
    sources: dict[str, FileSource] = {}
    parent_lines: dict[str, Counter[str]] = {}
    for name in sorted(texts):
        if name in parent_texts:
            sources[name] = FileSource(name, "same")
            continue
        if not parent_lines:
            parent_lines = {old: Counter(_lines(text)) for old, text in sorted(parent_texts.items())}
        lines = Counter(_lines(texts[name]))
        scored = [(_contained(counter, lines), old) for old, counter in parent_lines.items()]
        best = max(scored, key=lambda item: item[0], default=(0, ""))  # the first of a tie, by name
        sources[name] = (FileSource(best[1], "similar", best[0]) if best[0] >= FILE_MATCH_PERCENT
                         else FileSource(None, "new"))
    return sources


def follow_moves(sources: Mapping[str, FileSource], origins: Mapping[str, Origin],
                 parent_definitions: Mapping[str, Definition], definitions: Mapping[str, Definition],
                 ) -> dict[str, FileSource]:
    """The pairing of files corrected by where the definitions came from: a file most of whose
    definitions' code continues one parent file is compared with that file, whatever the names say
    (a split that keeps the old name for its dispatcher puts the model in `model.py`: that is the
    diff a reader wants, the one the definitions table describes)."""
    weights: dict[str, Counter[str]] = {}
    for key, origin in origins.items():
        previous = parent_definitions.get(origin.parent_key or "")
        if previous is not None:
            weights.setdefault(definitions[key].file, Counter())[previous.file] += max(1, definitions[key].code)
    paired = dict(sources)
    for name, counter in weights.items():
        total = sum(d.code for d in definitions.values() if d.file == name) or 1
        (parent_file, code), = counter.most_common(1)
        percent = round(100 * code / total)
        if parent_file != sources[name].parent_file and percent > FILE_MATCH_PERCENT:
            paired[name] = FileSource(parent_file, "definitions", min(percent, 100))
    return paired


def definition_text(texts: Mapping[str, str], definition: Definition) -> str:
    lines = texts.get(definition.file, "").splitlines()
    return "\n".join(lines[definition.start - 1 : definition.end])


def similarity_percent(older: str, older_name: str, newer: str, newer_name: str) -> int:
    """How alike two bodies are, by tokens, each definition's own name set aside (a renamed class
    names itself throughout)."""
    def tokens(text: str, name: str) -> list[str]:
        return ["\0self" if token == name else token for token in _TOKEN.findall(text)]

    a, b = tokens(older, older_name), tokens(newer, newer_name)
    if not a and not b:
        return 100
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for bound in (matcher.real_quick_ratio, matcher.quick_ratio):  # cheap upper bounds first
        if bound() * 100 < DEFINITION_MATCH_PERCENT:
            return round(100 * bound())
    return round(100 * matcher.ratio())


def resolve_name(name: str, definitions: Mapping[str, Definition]) -> list[str]:
    """The keys `name` may mean: the key itself, MODULE.NAME, or a bare name (several when ambiguous)."""
    if name in definitions:
        return [name]
    return [key for key, d in definitions.items()
            if f"{module_name(d.file)}.{d.name}" == name or d.name == name]


def follow_definitions(parent_definitions: Mapping[str, Definition], parent_texts: Mapping[str, str],
                       definitions: Mapping[str, Definition], texts: Mapping[str, str],
                       renames: tuple[tuple[str, str], ...], meta_path: Path) -> dict[str, Origin]:
    """The origin of each definition of a snapshot among its parent's: declared renames first, then the
    same key, the same name in another module, and last a similar body. A declared name that is not
    a definition (or could be several) is an error naming `snapshot.yml`'s line."""
    origins: dict[str, Origin] = {}
    claimed: set[str] = set()
    for old, new in renames:
        old_key = _resolve_declared(old, parent_definitions, "the parent", meta_path)
        new_key = _resolve_declared(new, definitions, "this snapshot", meta_path)
        if old_key in claimed:
            raise _renames_error(meta_path, f"{old!r} is renamed twice", "rename each definition once")
        origins[new_key] = Origin(old_key, "declared")
        claimed.add(old_key)
    for key in definitions:
        if key not in origins and key in parent_definitions and key not in claimed:
            origins[key] = Origin(key, "same")
            claimed.add(key)

    def match(candidates: list[tuple[int, str, str]], how: str) -> None:
        for percent, key, old_key in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
            if key not in origins and old_key not in claimed:
                old = parent_definitions[old_key]
                origins[key] = Origin(old_key, how, percent if how == "similar" else None,
                                      old.file if how == "moved" else None)
                claimed.add(old_key)

    def score(key: str, old_key: str) -> int:
        new, old = definitions[key], parent_definitions[old_key]
        return similarity_percent(definition_text(parent_texts, old), old.name, definition_text(texts, new), new.name)

    open_keys = [key for key in definitions if key not in origins]
    by_name: dict[tuple[str, str], list[str]] = {}
    for old_key, previous in parent_definitions.items():
        if old_key not in claimed:
            by_name.setdefault((previous.name, previous.kind), []).append(old_key)
    same_name = [(key, old_key) for key in open_keys
                 for old_key in by_name.get((definitions[key].name, definitions[key].kind), [])]
    # Several candidates of one name (three modules define `main`): the most alike wins; one alone
    # needs no score.
    scored = len(same_name) <= MAX_COMPARISONS
    match([(score(key, old_key) if scored else 0, key, old_key) for key, old_key in same_name], "moved")
    open_keys = [key for key in definitions if key not in origins]
    unclaimed = [old_key for old_key in parent_definitions if old_key not in claimed]
    if len(open_keys) * len(unclaimed) <= MAX_COMPARISONS:
        similar = [(percent, key, old_key) for key in open_keys for old_key in unclaimed
                   if parent_definitions[old_key].kind == definitions[key].kind
                   and (percent := score(key, old_key)) >= DEFINITION_MATCH_PERCENT]
        match(similar, "similar")
    return {key: origins.get(key, Origin(None, "new")) for key in definitions}


def _renames_error(meta_path: Path, message: str, hint: str) -> DiaryError:
    line = read_yaml(meta_path).line_of("renames") or 1
    return DiaryError(f"'renames': {message}", file=meta_path, line=line, hint=hint)


def _resolve_declared(name: str, definitions: Mapping[str, Definition], where: str, meta_path: Path) -> str:
    keys = resolve_name(name, definitions)
    if len(keys) == 1:
        return keys[0]
    if not keys:
        known = ", ".join(definitions) or "none"
        raise _renames_error(meta_path, f"{name!r} is not a definition of {where}",
                             f"the top-level classes and functions of {where}: {known}")
    raise _renames_error(meta_path, f"{name!r} could be any of {', '.join(keys)} in {where}",
                         "write the module and the name, e.g. " + keys[0])
