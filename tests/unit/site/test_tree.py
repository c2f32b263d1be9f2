"""Trees of snapshots, definitions by module and name, renames, and diffs of renamed and split files,
on a diary built from the third-party fixture (tests/fixtures/thirdparty: wordgen, two alternatives of
its baseline, a three-module split)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from diary.cli import main
from diarykit import FIXTURES_DIR, snapshot_meta, write

THIRDPARTY = FIXTURES_DIR / "thirdparty"

CONFIG = """\
schema: 1
entry: wordgen.py
args: [run]
timeout: 30
memory_mb: 512
output_kb: 256
data_files: [input.txt]
tests: tests/program
test_timeout: 60
# wordgen prints its start time: compared without it, so the variants that keep the output work
normalise:
  - name: timestamp
    pattern: 'started \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d'
    replace: 'started <time>'
"""

# The program's own small suite: the entry module reads a word list (every variant has read_words
# there; the split's main.py imports it).
SUITE = '''\
import importlib.util
import os
import sys
from pathlib import Path

import pytest

if not os.environ.get("DIARY_SNAPSHOT"):
    pytest.skip("run by diary measure", allow_module_level=True)


def test_read_words(tmp_path):
    folder = Path(os.environ["DIARY_SNAPSHOT"])
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("entry", folder / os.environ["DIARY_ENTRY"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "w.txt").write_text(" Ada\\n\\nbob\\n")
    assert module.read_words(str(tmp_path / "w.txt")) == ["ada", "bob"]
'''

BASELINE = (THIRDPARTY / "program/wordgen.py").read_text(encoding="utf-8")
# The compact alternative with two definitions renamed: invent -> make_word (declared in snapshot.yml),
# count_pairs -> tally (not declared: found by the similarity of its body); one line shorter, the
# same pairs of letters, so it is the best.
LETTERS = "        letters = [START, *word, END]\n        for first, second in zip(letters, letters[1:]):\n"
RENAMED = ((THIRDPARTY / "alt-compact/wordgen.py").read_text(encoding="utf-8")
           .replace("invent", "make_word").replace("count_pairs", "tally")
           .replace(LETTERS, "        for first, second in zip([START, *word], [*word, END]):\n"))
assert LETTERS not in RENAMED


def add_snapshot(root: Path, snap_id: str, parent: str | None, files: dict[str, str], extra: str = "",
                 date: str = "2026-02-16") -> None:
    for name, text in files.items():
        write(root / "code/snapshots" / snap_id / name, text)
    write(root / "code/snapshots" / snap_id / "snapshot.yml", snapshot_meta(snap_id, parent, date=date) + extra)


def folder(name: str) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted((THIRDPARTY / name).glob("*.py"))}


def build(root: Path) -> Path:
    write(root / "code/diary.yml", CONFIG)
    shutil.copy(THIRDPARTY / "words.txt", root / "code/input.txt")
    write(root / "tests/program/test_wordgen.py", SUITE)
    add_snapshot(root, "00-base", None, folder("program"))
    add_snapshot(root, "01-compact", "00-base", folder("alt-compact"), date="2026-02-17")
    add_snapshot(root, "02-newline", "00-base", folder("alt-newline"), date="2026-02-18")
    add_snapshot(root, "03-split", "00-base", folder("split"), "entry: main.py\n", date="2026-02-19")
    add_snapshot(root, "04-renamed", "01-compact", {"wordgen.py": RENAMED}, "renames: {invent: make_word}\n",
                 date="2026-02-20")
    tally = folder("split")
    tally["tally.py"] = tally.pop("pairs.py")
    tally["main.py"] = tally["main.py"].replace("from pairs import", "from tally import")
    add_snapshot(root, "05-tally", "03-split", tally, "entry: main.py\n", date="2026-02-21")
    return root


@pytest.fixture(scope="module")
def tree_site(tmp_path_factory) -> Path:
    root = build(tmp_path_factory.mktemp("tree") / "diary")
    main(["--root", str(root), "measure"])  # exit 1: 02-newline ends its progress lines otherwise, broken
    records = {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in (root / "_data/records").glob("*.yml")}
    assert records["00-base"]["run"]["status"] == "ok", records["00-base"]["run"]["reason"]
    assert records["03-split"]["run"]["status"] == "ok" and records["03-split"]["tests"]["status"] == "ok"
    for snap_id in ("01-compact", "03-split", "04-renamed", "05-tally"):
        assert records[snap_id]["verdict"]["status"] == "ok", records[snap_id]["verdict"]["reasons"]
    assert records["02-newline"]["verdict"]["status"] == "broken"
    assert main(["--root", str(root), "generate", "--quiet"]) == 0
    return root


def read(root: Path, path: str) -> str:
    return (root / path).read_text(encoding="utf-8")


def variables(root: Path) -> dict:
    return yaml.safe_load(read(root, "_variables.yml"))


def table_rows(text: str, heading: str) -> list[list[str]]:
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    # Markdown escapes dropped: the cells as a reader sees them
    return [[cell.strip().replace("\\", "") for cell in row.strip("|").split(" | ")] for row in rows]


def code_of(root: Path, snap_id: str) -> int:
    return yaml.safe_load(read(root, f"_data/records/{snap_id}.yml"))["lines"]["total"]["code"]


def test_best_is_the_shortest_working_snapshot_not_the_last(tree_site):
    summary = variables(tree_site)["diary"]
    working = {s: code_of(tree_site, s) for s in ("00-base", "01-compact", "03-split", "04-renamed", "05-tally")}
    best = min(working, key=lambda s: (working[s], s))
    assert summary["best"] == best == "04-renamed" != "05-tally"  # not the last snapshot in order
    assert summary["best_code"] == working[best]
    assert summary["saved_code"] == working["00-base"] - working[best]
    assert "final" not in summary and "final_code" not in summary
    assert f"The best is {best}, the shortest snapshot that works ({working[best]} code lines)" in read(
        tree_site, "_generated/_progress-table.md").replace("\\", "")
    assert "the shortest one that works" in read(tree_site, f"snapshots/{best}.qmd")


def test_alternatives_are_compared_with_their_parent_and_each_other(tree_site):
    page = read(tree_site, "snapshots/00-base.qmd")
    rows = table_rows(page, "Alternatives")
    base = code_of(tree_site, "00-base")
    by_id = {re.search(r"\[(.*?)\]", row[0]).group(1).replace("\\", ""): row for row in rows}
    assert list(by_id) == ["01-compact", "02-newline", "03-split"]
    shortest = min(("01-compact", "03-split"), key=lambda s: code_of(tree_site, s))
    for snap_id, row in by_id.items():
        code = code_of(tree_site, snap_id)
        assert row[2] == str(code)
        change = f"{code - base:+d}"
        assert row[3] == (f"~~({change})~~" if snap_id == "02-newline" else change)
    assert by_id[shortest][4] == "0"
    assert by_id["02-newline"][-1].startswith("**broken**")
    assert f"The shortest that works is {shortest}" in page.replace("\\", "")
    assert "alternatives: [01\\-compact]" in page  # the navigation says alternatives, not "next"
    child = read(tree_site, "snapshots/01-compact.qmd")
    assert "alternatives beside it: [02\\-newline](02-newline.qmd), [03\\-split](03-split.qmd)" in child


def test_every_definition_of_a_split_is_keyed_by_module(tree_site):
    values = variables(tree_site)["snap"]
    split = values["03-split"]["def"]
    keys = {"main.main", "pairs.count_pairs", "pairs.invent", "pairs.main", "words.read_words", "words.main"}
    assert set(split) == {"main", "pairs", "words", "count_pairs", "invent", "read_words"}
    # a name only one module defines is also there bare; `main` (three modules) only with its module
    for name, module in (("count_pairs", "pairs"), ("invent", "pairs"), ("read_words", "words")):
        assert split[name] == split[module][name]
    assert set(split["main"]) == {"main"}
    record = yaml.safe_load(read(tree_site, "_data/records/03-split.yml"))
    for definition in record["definitions"]:
        if definition["kind"] == "function":
            module = definition["file"].removesuffix(".py")
            assert split[module][definition["name"]]["code"] == definition["code"]
    assert set(values["00-base"]["def"]) == {"read_words", "count_pairs", "invent", "main"}  # one module: bare
    rows = {row[0].replace("\\", ""): row for row in table_rows(read(tree_site, "snapshots/03-split.qmd"),
                                                                 "Definitions")}
    assert set(rows) == keys
    assert rows["main.main"][-1] == "moved from wordgen.py (was main)"
    assert rows["pairs.count_pairs"][-1] == "moved from wordgen.py (was count_pairs)"
    assert rows["pairs.main"][-1] == rows["words.main"][-1] == "new"


def test_renames_declared_and_matched_by_similarity(tree_site):
    rows = {row[0].replace("\\", ""): row for row in table_rows(read(tree_site, "snapshots/04-renamed.qmd"),
                                                                 "Definitions")}
    assert rows["make_word"][-1] == "renamed (declared) from invent"
    found = re.fullmatch(r"renamed \(matched by similarity, (\d+)%\) from count_pairs", rows["tally"][-1])
    assert found and 60 <= int(found.group(1)) <= 100
    assert rows["read_words"][-1] == "same"
    # the diary's figures per definition follow the renames to the best snapshot
    values = variables(tree_site)
    best = values["diary"]["best"]
    assert values["def"]["count_pairs"]["baseline"] == values["snap"]["00-base"]["def"]["count_pairs"]["code"]
    assert best == "04-renamed"
    assert values["def"]["count_pairs"]["best_name"] == "tally"
    assert values["def"]["count_pairs"]["best"] == values["snap"][best]["def"]["tally"]["code"]
    assert values["def"]["invent"]["best_name"] == "make_word"
    assert values["def"]["read_words"]["best_name"] == "read_words"


def test_a_moved_module_is_followed_and_its_file_diffed_against_the_one_it_was(tree_site):
    page = read(tree_site, "snapshots/05-tally.qmd")
    rows = {row[0].replace("\\", ""): row for row in table_rows(page, "Definitions")}
    assert rows["tally.count_pairs"][-1] == "moved from pairs.py (was pairs.count_pairs)"
    assert "tally.py: from pairs.py (matched by similarity" in page.replace("\\", "")
    diff = read(tree_site, "_generated/diff/_03-split__05-tally.md")
    assert "a/03-split/pairs.py" in diff and "b/05-tally/tally.py" in diff
    assert "/dev/null" not in diff  # a rename, not a deletion and an addition


def test_a_split_is_diffed_file_by_file_against_the_file_it_came_from(tree_site):
    diff = read(tree_site, "_generated/diff/_00-base__03-split.md")
    for piece in ("main.py", "pairs.py", "words.py"):
        assert "a/00-base/wordgen.py</span></span>\n<span id" in diff
        assert f"b/03-split/{piece}" in diff
        assert re.search(rf"<code>{piece}</code> from wordgen.py \(matched by similarity, \d+% of its lines\)", diff)
    assert "/dev/null" not in diff  # wordgen.py went into the pieces: it is not shown removed
    page = read(tree_site, "snapshots/03-split.qmd").replace("\\", "")
    assert "- pairs.py: from wordgen.py (matched by similarity" in page


def test_a_post_names_a_definition_by_an_earlier_name_across_renames(tree_site, tmp_path):
    root = tmp_path / "diary"
    shutil.copytree(tree_site, root)
    write(root / "posts/renamed/index.qmd",
          "---\ntitle: Renamed\ndate: 2026-02-20\nsnapshots: [04-renamed]\ndefinitions: [count_pairs]\n---\n\n"
          "{{< include /_generated/tables/_renamed.md >}}\n\n{{< var snap.03-split.def.pairs.count_pairs.code >}}\n"
          "{{< include /_generated/code/03-split/_def-pairs.main.md >}}\n"
          "{{< include /_generated/code/03-split/_def-words.main.md >}}\n"
          "{{< include /_generated/code/03-split/_def-count_pairs.md >}}\n")
    assert main(["--root", str(root), "generate", "--quiet"]) == 0
    # each `main` has its own partial, with its own module's lines; a name one module defines, bare too
    pairs_main = read(root, "_generated/code/03-split/_def-pairs.main.md")
    words_main = read(root, "_generated/code/03-split/_def-words.main.md")
    assert "run alone, the module prints its table" in pairs_main and "<code>pairs.py</code>" in pairs_main
    assert "run alone, the module lists what it read" in words_main and "<code>words.py</code>" in words_main
    assert "def count_pairs(words):" in read(root, "_generated/code/03-split/_def-count_pairs.md")
    table = read(root, "_generated/tables/_renamed.md")
    row = next(line for line in table.splitlines() if "04\\-renamed" in line)
    tally = variables(root)["snap"]["04-renamed"]["def"]["tally"]["code"]
    assert f" {tally} |" in row  # the column of count_pairs shows its renamed self


@pytest.mark.parametrize("renames, message", [
    ("renames: {nothing: make_word}", "'renames': 'nothing' is not a definition of the parent"),
    ("renames: {invent: nowhere}", "'renames': 'nowhere' is not a definition of this snapshot"),
    ("renames: [invent]", "'renames': must be dict"),
    ("renames: {invent: 'make word'}", "'renames': 'make word' is not a definition's name"),
])
def test_a_bad_rename_names_the_file_and_line(tree_site, tmp_path, capsys, renames, message):
    root = tmp_path / "diary"
    shutil.copytree(tree_site, root)
    meta = root / "code/snapshots/04-renamed/snapshot.yml"
    text = meta.read_text(encoding="utf-8").replace("renames: {invent: make_word}", renames)
    meta.write_text(text, encoding="utf-8")
    before = read(root, "_variables.yml")
    assert main(["--root", str(root), "generate"]) == 2
    err = capsys.readouterr().err
    line = text.splitlines().index(renames) + 1
    assert f"code/snapshots/04-renamed/snapshot.yml:{line}" in err and message in err, err
    assert read(root, "_variables.yml") == before


def test_an_ambiguous_bare_name_asks_for_the_module(tree_site, tmp_path, capsys):
    root = tmp_path / "diary"
    shutil.copytree(tree_site, root)
    meta = root / "code/snapshots/05-tally/snapshot.yml"
    meta.write_text(meta.read_text(encoding="utf-8") + "renames: {main: main.main}\n", encoding="utf-8")
    assert main(["--root", str(root), "generate"]) == 2
    err = capsys.readouterr().err
    assert "'main' could be any of main.main, pairs.main, words.main in the parent" in err, err


def test_measure_names_the_best_and_the_alternatives(tree_site, tmp_path, capsys):
    root = tmp_path / "diary"
    shutil.copytree(tree_site, root)
    capsys.readouterr()
    main(["--root", str(root), "measure"])  # every record cached; exit 1 for 02-newline, broken unexpectedly
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line[:2].isdigit()}
    assert "alternative of 00-base" in rows["01-compact"] and "alternative of 00-base" in rows["03-split"]
    assert "alternative" not in rows["04-renamed"] and "alternative" not in rows["05-tally"]
    assert rows["04-renamed"].rstrip().endswith(", best")
    code = code_of(root, "04-renamed")
    tokens = yaml.safe_load((root / "_data/records/04-renamed.yml").read_text())["size"]["total"]["tokens"]
    assert f"best: 04-renamed, {code} code lines, {tokens} code tokens (the working snapshot with the fewest code " \
           "lines)" in out


def test_a_module_is_named_as_python_imports_it():
    from diary.measure.count import module_name

    assert [module_name(f) for f in ("pairs.py", "pkg/sub.py", "pkg/__init__.py", "tool.pyw", "helper.txt")] == [
        "pairs", "pkg.sub", "pkg", "tool", "helper.txt"]


def test_the_baseline_cannot_declare_renames(tree_site, tmp_path, capsys):
    root = tmp_path / "diary"
    shutil.copytree(tree_site, root)
    meta = root / "code/snapshots/00-base/snapshot.yml"
    meta.write_text(meta.read_text(encoding="utf-8") + "renames: {main: run}\n", encoding="utf-8")
    assert main(["--root", str(root), "generate"]) == 2
    err = capsys.readouterr().err
    line = len(meta.read_text(encoding="utf-8").splitlines())
    assert f"code/snapshots/00-base/snapshot.yml:{line}: error: 'renames': the baseline has no parent" in err, err


# ---------------------------------------------------------------------------------------------
# lineage on its own: renames by similarity, thresholds, files paired


def keyed(texts: dict[str, str]) -> dict:
    from diary.measure.count import count_definitions, module_name
    from diary.project.records import Definition

    one = len(texts) == 1
    found = {}
    for file, text in texts.items():
        for d in count_definitions(text):
            if d.kind in ("class", "function"):
                key = d.name if one else f"{module_name(file)}.{d.name}"
                found[key] = Definition(d.name, d.kind, file, d.start, d.end, **d.counts.as_dict(),
                                        tokens=0, characters=0)
    return found


VALUE = '''\
class Value:
    """A scalar and its gradient."""

    def __init__(self, data):
        self.data = data
        self.grad = 0.0

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data)


def helper(x):
    return [x, x * 2, x * 3, x * 4]
'''


def follow(old: dict[str, str], new: dict[str, str], renames=()) -> dict:
    from diary.site.lineage import follow_definitions

    return follow_definitions(keyed(old), old, keyed(new), new, tuple(renames), Path("snapshot.yml"))


def test_a_renamed_class_that_names_itself_is_matched_by_similarity():
    renamed = VALUE.replace("Value", "V")
    origins = follow({"m.py": VALUE}, {"m.py": renamed})
    assert origins["V"].how == "similar" and origins["V"].parent_key == "Value"
    assert origins["V"].percent == 100  # its own name set aside, the body is the same
    assert origins["V"].describe() == "renamed (matched by similarity, 100%) from Value"
    assert origins["helper"].how == "same"


def test_a_new_body_is_not_taken_for_a_rename():
    other = VALUE.split("\n\n\ndef")[0].replace("Value", "Other") + "\n\n\ndef table(rows):\n" \
        "    # a table of rows, one per line\n    for row in sorted(rows):\n        print(*row, sep='\\t')\n"
    origins = follow({"m.py": VALUE}, {"m.py": other})
    assert origins["Other"].how == "similar" and origins["Other"].parent_key == "Value"
    assert origins["table"].how == "new" and origins["table"].parent_key is None  # not `helper`
    assert origins["table"].describe() == "new"


def test_a_declared_rename_wins_over_similarity_and_over_the_same_name():
    new = VALUE + "\n\ndef helper2(x):\n    return [x, x * 2, x * 3, x * 4]\n"
    origins = follow({"m.py": VALUE}, {"m.py": new}, [("helper", "helper2")])
    assert origins["helper2"].describe() == "renamed (declared) from helper"
    assert origins["helper"].how == "new"  # the parent's helper is taken by the declaration


def test_files_are_paired_by_name_then_by_the_lines_they_hold():
    from diary.site.lineage import pair_files

    sources = pair_files({"a.py": VALUE, "b.py": "x = 1\n"},
                         {"a.py": VALUE, "value.py": VALUE.split("\n\n\ndef")[0] + "\n", "c.py": "y = 2\n"})
    assert (sources["a.py"].how, sources["a.py"].parent_file) == ("same", "a.py")
    assert (sources["value.py"].how, sources["value.py"].parent_file, sources["value.py"].percent) == (
        "similar", "a.py", 100)
    assert sources["c.py"].how == "new" and sources["c.py"].describe() == "new"


def test_the_progress_table_says_which_rows_are_alternatives(tree_site):
    table = read(tree_site, "_generated/_progress-table.md").replace("\\", "")
    rows = {re.search(r"\[(.*?)\]", line).group(1): line for line in table.splitlines() if line.startswith("| [")}
    for snap_id in ("01-compact", "02-newline", "03-split"):
        assert f"/snapshots/{snap_id}.qmd) (alternative of 00-base)" in rows[snap_id]
    for snap_id in ("00-base", "04-renamed", "05-tally"):
        assert "alternative" not in rows[snap_id]
    assert "Several children of one parent are alternatives, not steps" in table


def test_similarity_work_is_bounded_on_a_snapshot_of_thousands_of_renames():
    from diary.site.lineage import MAX_COMPARISONS

    count = int(MAX_COMPARISONS ** 0.5) + 5  # count * count comparisons would exceed the bound
    old = "\n\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(count))
    new = old.replace("def f", "def g")
    origins = follow({"m.py": old}, {"m.py": new})
    assert {origin.how for origin in origins.values()} == {"new"}  # shown as new, not compared pairwise
    few = follow({"m.py": "\n\n".join(old.split("\n\n")[:3])}, {"m.py": "\n\n".join(new.split("\n\n")[:3])})
    assert {origin.how for origin in few.values()} == {"similar"}
