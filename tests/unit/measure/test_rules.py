"""The diary's rules (tools/diary/measure/rules.py): each one caught where it is broken, silent where it is kept."""

from __future__ import annotations

import pytest

from diary.measure.allowed import beyond_baseline
from diary.measure.rules import check_comments, check_files, check_line_length, code_files, longest_line
from diarykit import REPO, dedent

CLEAN = dedent('''
    """A module."""
    import math

    LIMIT = 3  # a constant


    class Point:
        """A point."""

        def __init__(self, x):
            self.x = x

        def norm(self):
            return math.fabs(self.x)


    def helper(values):
        """Sum them."""
        def twice(v):
            return 2 * v

        total = 0
        for v in values:
            total += twice(v)
        return total


    if __name__ == "__main__":
        print(helper([1, 2]))
''')


def rules_of(text: str, name: str = "prog.py", **extra: bytes) -> list[tuple[str, int]]:
    files = {name: text.encode(), **extra}
    return sorted((b.rule, b.line) for b in check_files(files))


def test_clean_code_breaks_no_rule() -> None:
    assert rules_of(CLEAN) == []


@pytest.mark.parametrize("snapshot", sorted(p.name for p in (REPO / "code/snapshots").iterdir() if p.is_dir()))
def test_this_repositorys_honest_snapshots_break_no_rule(snapshot: str) -> None:
    """This repository's own snapshots (the subject is the committed diary): the rules' cases on
    fixtures are below."""
    folder = REPO / "code/snapshots" / snapshot
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "snapshot.yml"}
    found = [(b.rule, b.line) for b in check_files(files)]
    # 01-value-naive looks its operators up with getattr(operator, name): a computed name on a module
    assert found == ([("dynamic-code", 99)] if snapshot == "01-value-naive" else [])


@pytest.mark.parametrize(("edit", "expected"), [
    (("LIMIT = 3  # a constant\n", "LIMIT = 3; OTHER = 4\n"), [("joined-statements", 4)]),
    (("    for v in values:\n        total += twice(v)\n", "    for v in values: total += twice(v)\n"),
     [("joined-statements", 23)]),
    (("\n\n\nclass Point:", "\n\nclass Point:"), [("blank-lines", 6)]),
    (("\n\n\ndef helper(", "\n\n\n\ndef helper("), [("blank-lines", 15), ("blank-lines", 18)]),
    (("        self.x = x\n\n    def norm", "        self.x = x\n    def norm"), [("blank-lines", 12)]),
    (("        return 2 * v\n\n    total", "        return 2 * v\n\n\n    total"), [("blank-lines", 21)]),
    (("\n\n\nif __name__", "\n\nif __name__"), [("blank-lines", 27)]),
    (("        return math.fabs(self.x)\n", "          return math.fabs(self.x)\n"), [("indentation", 14)]),
    (("import math\n", "import math\nimport importlib\n"), [("code-loader", 3)]),
    (("import math\n", "import math\nfrom base64 import b64decode\n"), [("code-loader", 3)]),
    (("import math\n", "import math\nimport numpy\n"), [("outside-import", 3)]),
    (("import math\n", "import math\nimport sys\nsys.path.append('/elsewhere')\n"), [("outside-import", 4)]),
    (("print(helper([1, 2]))", "exec('print(1)')"), [("dynamic-code", 29)]),
    (("print(helper([1, 2]))", "f = eval"), [("dynamic-code", 29)]),
    (("print(helper([1, 2]))", "print(().__class__.__base__.__subclasses__())"), [("dynamic-code", 29)] * 3),
    (("print(helper([1, 2]))", "getattr(math, 'fa' + 'bs')(1)"), [("dynamic-code", 29)]),
    (("print(helper([1, 2]))", "math._private"), [("dynamic-code", 29)]),
    (("print(helper([1, 2]))", "getattr(getattr(print, '__self__'), 'ex' 'ec')('1')"), [("dynamic-code", 29)] * 2),
])
def test_each_rule_is_named_with_its_line(edit: tuple[str, str], expected: list[tuple[str, int]]) -> None:
    assert edit[0] in CLEAN
    assert rules_of(CLEAN.replace(edit[0], edit[1], 1)) == expected


def test_a_file_of_another_kind_is_hidden_code_and_counted_when_it_is_python() -> None:
    files = {"prog.py": CLEAN.encode(), "impl.txt": b"x = 1\nprint(x)\n", "notes.md": b"ada\nbob cy\n"}
    breaches = check_files(files)
    assert [(b.rule, b.file) for b in breaches] == [("hidden-code", "impl.txt"), ("hidden-code", "notes.md")]
    assert "holds Python code, counted as code" in breaches[0].what and "holds data" in breaches[1].what
    assert set(code_files(files)) == {"prog.py", "impl.txt"}


def test_an_own_module_is_not_an_outside_import() -> None:
    files = {"prog.py": CLEAN.replace("import math\n", "import math\nimport helpers\n").encode(),
             "helpers.py": b"VALUE = 1\n"}
    assert check_files(files) == []


def test_strings_and_comments_are_not_statements() -> None:
    text = CLEAN.replace("LIMIT = 3  # a constant", "LIMIT = 3  # a; b\nTEXT = 'a; b'")
    assert rules_of(text) == []


def test_many_breaches_are_named_twenty_times_then_counted() -> None:
    text = "".join(f"a{i} = 1; b{i} = 2\n" for i in range(25))
    breaches = beyond_baseline(check_files({"prog.py": text.encode()}), frozenset())
    assert len(breaches) == 21 and breaches[-1].what == "5 more of the same in prog.py"


def test_comment_threshold() -> None:
    assert check_comments(30, 49, 60) == []
    [breach] = check_comments(29, 49, 60)
    assert breach.what == "29 of the baseline's 49 comments kept (59.2 %), below comments_min_percent 60 %"
    assert check_comments(0, 49, 0) == []  # no threshold configured


def test_a_file_that_does_not_parse_breaks_no_rule_its_run_fails() -> None:
    assert rules_of("def broken(:\n") == []


def test_the_breaches_are_the_same_from_the_cache_and_a_damaged_entry_is_a_miss(tmp_path, monkeypatch) -> None:
    # diary check re-derives every snapshot's breaches; they are kept by the files' bytes, so a second
    # check of an unchanged snapshot reads them back, and anything wrong in the cache is computed again.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    files = {"prog.py": b"import os; x = eval('1')\n", "notes.txt": b"print('hidden')\n"}
    cold = check_files(files)
    assert {b.rule for b in cold} >= {"hidden-code", "dynamic-code", "joined-statements"}
    entries = list((tmp_path / "cache/diary/rules").rglob("*.json"))
    assert len(entries) == 1
    assert check_files(files) == cold
    entries[0].write_text('[{"rule": "forged"}]', encoding="utf-8")
    assert check_files(files) == cold
    entries[0].write_text("not json", encoding="utf-8")
    assert check_files(files) == cold
    assert check_files({**files, "prog.py": b"x = 1\n"}) != cold  # other bytes, another entry


# The cram of issue 22: three statements of the final's training loop packed into one tuple assignment.
PACKED = ("        n, keys, values = min(block_size, len(tokens) - 1), [[] for _ in range(n_layer)], "
          "[[] for _ in range(n_layer)]\n")


def crammed_final() -> tuple[str, str, str]:
    """(baseline, final, a crammed copy of the final) of this diary's program."""
    baseline = (REPO / "code/snapshots/00-baseline/microgpt.py").read_text(encoding="utf-8")
    final = (REPO / "code/snapshots/07-final/microgpt.py").read_text(encoding="utf-8")
    crammed = final.replace("        n = min(block_size, len(tokens) - 1)\n", "", 1).replace(
        "        keys, values = [[] for _ in range(n_layer)], [[] for _ in range(n_layer)]\n        loss",
        PACKED + "        loss", 1)
    assert crammed.count("\n") == final.count("\n") - 1
    return baseline, final, crammed


def test_a_crammed_copy_of_the_final_breaks_the_line_length_rule_at_its_line() -> None:
    baseline, final, crammed = crammed_final()
    limit = longest_line({"microgpt.py": baseline})
    assert check_line_length({"microgpt.py": final}, limit) == []  # the honest final keeps the baseline's style
    breaches = check_line_length({"microgpt.py": crammed}, limit)
    line = crammed.split("\n").index(PACKED.rstrip("\n")) + 1
    assert [(b.rule, b.file, b.line) for b in breaches] == [("line-length", "microgpt.py", line)]
    assert f"{len(PACKED) - 1} characters" in breaches[0].what and f"the {limit} allowed" in breaches[0].what


def test_cramming_saves_a_line_and_no_token() -> None:
    from diary.measure.count import measure_file
    from diary.measure.size import total

    _, final, crammed = crammed_final()
    honest, packed = measure_file(final), measure_file(crammed)
    assert packed.counts.code == honest.counts.code - 1
    (honest_tokens, honest_characters), (packed_tokens, packed_characters) = total(honest.sizes), total(packed.sizes)
    assert packed_tokens == honest_tokens + 1 and packed_characters == honest_characters + 1  # two "," for a "="


def test_a_configured_limit_is_the_rule_whatever_the_baseline() -> None:
    code = {"a.py": "x = 1\n" + "y = " + "1 + " * 30 + "1\n"}
    assert [b.line for b in check_line_length(code, 79)] == [2]
    assert check_line_length(code, 200) == []
    assert longest_line({"a.py": "ab\r\nabcd\n", "b.py": "abc"}) == 4  # physical lines, without their ends


def test_many_long_lines_are_named_twenty_times_then_counted() -> None:
    code = {"a.py": "x = 1\n" * 3 + ("y = " + "1 + " * 30 + "1\n") * 25}
    breaches = check_line_length(code, 79)
    assert [b.line for b in breaches[:20]] == list(range(4, 24)) and len(breaches) == 21
    assert breaches[-1].line == 0 and breaches[-1].what.startswith("5 more lines over 79")
    assert len(check_line_length({"a.py": code["a.py"].replace("1 + " * 30, "", 5)}, 79)) == 20
