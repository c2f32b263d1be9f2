"""The line counter against cloc on a large corpus of real Python, side by side (a script, not a test).

    python benchmarks/count_vs_cloc.py [--repeat 3] [--explain 300] [DIR ...]

The corpus is every `*.py` file under the DIRs, by default the site-packages of the interpreter
running this script and the system's `/usr/lib/python3*` (what is installed here: nothing is
downloaded); files that are not UTF-8 are left out, for both counters. Both count the same list of
files, one process each, the best of `--repeat` rounds taken in turn (the machine may be shared):

  - ours, cold: read and decode each file, `count_lines` (no cache: it is what a first `diary measure`
    or `diary check` does per file, and what `diary check` does in CI);
  - `cloc --by-file --quiet --skip-uniqueness --json --list-file=...` (cloc 1.96 by default would
    count only one of several identical files);
  - ours before the fast tally (every file parsed with `ast`: `analyse`), once;
  - ours, per file as a record needs it: `measure_file` (counts, definitions, comments, tabs), cold
    and then from the user's cache (a temporary one here), as when a later snapshot shares the file.

Then the agreement, per class, file by file: our blank and code against cloc's, our comment +
docstring against cloc's comment (cloc counts docstrings as comments). Where they differ, up to
`--explain` files are read line by line with the port of cloc's Python counter in
tests/unit/measure/test_count.py, which names cloc's reason for each line (the cases count.py documents).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests"))

CLASSES = ("blank", "comment", "code")


def corpus(roots: list[Path]) -> tuple[list[Path], list[str], int]:
    """The files, their texts, and how many files were left out (not UTF-8)."""
    paths, texts, skipped = [], [], 0
    seen: set[Path] = set()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            real = path.resolve()
            if real in seen or not path.is_file():
                continue
            seen.add(real)
            try:
                texts.append(path.read_bytes().decode("utf-8"))
            except (OSError, UnicodeDecodeError):
                skipped += 1
                continue
            paths.append(path)
    return paths, texts, skipped


def time_ours(paths: list[Path]) -> tuple[float, float, list]:
    from diary.measure.count import count_lines

    started, cpu = time.perf_counter(), time.process_time()
    counts = [count_lines(path.read_bytes().decode("utf-8")) for path in paths]
    return time.perf_counter() - started, time.process_time() - cpu, counts


def time_parsing_path(texts: list[str]) -> tuple[float, float, list[list[str]]]:
    """The counter as it was before the fast tally: every file parsed with `ast` (lineclass.analyse)."""
    from diary.measure.lineclass import analyse

    started, cpu = time.perf_counter(), time.process_time()
    kinds = [analyse(text).kinds for text in texts]
    return time.perf_counter() - started, time.process_time() - cpu, kinds


def time_measure_file(texts: list[str]) -> tuple[float, float]:
    from diary.measure.count import measure_file

    started, cpu = time.perf_counter(), time.process_time()
    for text in texts:
        measure_file(text)
    return time.perf_counter() - started, time.process_time() - cpu


def time_cloc(cloc: str, list_file: Path) -> tuple[float, float, dict]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([cloc, "--by-file", "--quiet", "--skip-uniqueness", "--json", f"--list-file={list_file}"],
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, json.loads(proc.stdout or "{}")


def row(name: str, lines: int, files: int, wall: float, cpu: float) -> str:
    return (f"| {name} | {lines:,} | {files:,} | {wall:.2f} | {cpu:.2f} | {lines / wall:,.0f} | {lines / cpu:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--explain", type=int, default=300, help="files that differ to explain line by line")
    args = parser.parse_args()
    cloc = shutil.which("cloc")
    if cloc is None:
        sys.exit("cloc is not installed (Debian package cloc)")
    roots = args.roots or [Path(sysconfig.get_paths()["purelib"]), *sorted(Path("/usr/lib").glob("python3*"))]
    paths, texts, skipped = corpus(roots)
    from diary.measure.count import count_lines

    lines = sum(count_lines(text).physical for text in texts)  # also loads the code before the clock runs
    print(f"corpus: {', '.join(map(str, roots))}: {len(paths):,} files, {lines:,} lines"
          f" ({skipped} not UTF-8, left out); load average {os.getloadavg()[0]:.1f}")

    with tempfile.TemporaryDirectory(prefix="count-vs-cloc-") as scratch:
        list_file = Path(scratch) / "files.txt"
        list_file.write_text("".join(f"{path}\n" for path in paths), encoding="utf-8")
        os.environ["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")  # measure_file's cache: empty at first
        ours_runs, cloc_runs = [], []
        for _ in range(args.repeat):
            wall, cpu, counts = time_ours(paths)
            ours_runs.append((wall, cpu))
            wall, cpu, report = time_cloc(cloc, list_file)
            cloc_runs.append((wall, cpu))
        *parsing, parsed_kinds = time_parsing_path(texts)
        cold = time_measure_file(texts)
        warm = time_measure_file(texts)

    print("\n| counter | lines | files | wall s | CPU s | lines/s (wall) | lines/s (CPU) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    best_ours, best_cloc = min(ours_runs), min(cloc_runs)
    print(row("ours: `count_lines`, cold (no cache)", lines, len(paths), *best_ours))
    print(row("`cloc --by-file --quiet`", lines, len(paths), *best_cloc))
    print(row("ours before the fast tally: every file parsed (`analyse`), once", lines, len(paths), *parsing))
    print(row("ours: `measure_file` (counts, definitions, comments), cold", lines, len(paths), *cold))
    print(row("ours: `measure_file`, from the cache", lines, len(paths), *warm))
    print(f"\nours / cloc, lines per second: {best_cloc[0] / best_ours[0]:.2f}x (wall),"
          f" {best_cloc[1] / best_ours[1]:.2f}x (CPU); every round (wall s, ours vs cloc): "
          + ", ".join(f"{o[0]:.2f} vs {c[0]:.2f}" for o, c in zip(ours_runs, cloc_runs, strict=True)))

    from diary.measure.lineclass import BLANK, CODE, COMMENT, DOCSTRING

    same_as_parsing = sum(
        (ours.blank, ours.comment, ours.docstring, ours.code)
        == tuple(map(kinds.count, (BLANK, COMMENT, DOCSTRING, CODE)))
        for ours, kinds in zip(counts, parsed_kinds, strict=True)
    )
    print(f"the same classes as the parsing path: {same_as_parsing:,} of {len(paths):,} files")

    agree = collections.Counter()
    differing: list[int] = []
    for index, (path, ours) in enumerate(zip(paths, counts, strict=True)):
        theirs = report.get(str(path), {"blank": 0, "comment": 0, "code": 0})  # cloc leaves out empty files
        mine = {"blank": ours.blank, "comment": ours.comment + ours.docstring, "code": ours.code}
        same = {name: mine[name] == theirs[name] for name in CLASSES}
        agree.update(name for name, equal in same.items() if equal)
        agree["all"] += all(same.values())
        if not all(same.values()):
            differing.append(index)
    print(f"\nagreement with cloc, files with the same count (docstrings as comments), of {len(paths):,}:")
    for name in (*CLASSES, "all"):
        print(f"  {name:8} {agree[name]:,} ({100 * agree[name] / len(paths):.1f} %)")

    from clockit import cloc_differences, cloc_view
    from diary.measure.lineclass import analyse

    reasons: collections.Counter[str] = collections.Counter()
    for index in differing[: args.explain]:
        text = texts[index]
        kinds = analyse(text).kinds
        view = cloc_view(text)
        if len(kinds) != len(view.kinds):
            reasons['a lone "\\r" ends a line for Python, not for cloc'] += 1
            continue
        for _line, ours_kind, theirs_kind, reason in cloc_differences(text, kinds, view):
            reason = reason.split(" from line ")[0] if reason else None  # one entry per reason, not per line
            reasons[reason or f"not explained by the port ({ours_kind} here, {theirs_kind} to cloc)"] += 1
    explained = min(len(differing), args.explain)
    print(f"\nwhy they differ: the lines of {explained} of the {len(differing)} files that differ, by reason:")
    for reason, count in reasons.most_common():
        print(f"  {count:7,}  {reason}")


if __name__ == "__main__":
    main()
