"""A split's diff follows its definitions' moves: a file whose definitions came from one parent
file is compared with that file, whatever the names say."""

from __future__ import annotations

from pathlib import Path

from diary.project.records import Definition
from diary.site.lineage import FileSource, follow_definitions, follow_moves, pair_files


def definition(name: str, file: str, start: int, end: int) -> Definition:
    code = end - start + 1
    return Definition(name, "function", file, start, end, code, 0, 0, 0, code, 0, 0)


PARENT = {"microgpt.py": "def value(x):\n    return x * 2\n\n\ndef train(n):\n    return [value(i) for i in range(n)]\n"
                         "\n\ndef main():\n    print(train(3))\n"}
# The split keeps the old name for a dispatcher; the model moved to model.py, written anew
# (so its lines match nothing by similarity), and train.py holds the training.
CHILD = {
    "microgpt.py": "import sys\n\nimport train\n\nif __name__ == '__main__':\n    sys.exit(train.run(sys.argv))\n",
    "model.py": "def value(number):\n    doubled = number + number\n    return doubled\n",
    "train.py": "from model import value\n\n\ndef train(n):\n    out = []\n    for i in range(n):\n"
                "        out.append(value(i))\n    return out\n",
}


def test_a_split_file_is_compared_with_the_file_its_definitions_came_from() -> None:
    parent_definitions = {"value": definition("value", "microgpt.py", 1, 2),
                          "train": definition("train", "microgpt.py", 5, 6),
                          "main": definition("main", "microgpt.py", 9, 10)}
    definitions = {"model.value": definition("value", "model.py", 1, 3),
                   "train.train": definition("train", "train.py", 4, 8)}
    by_name = pair_files(PARENT, CHILD)
    assert by_name["model.py"] == FileSource(None, "new")  # what the page said: "new"
    origins = follow_definitions(parent_definitions, PARENT, definitions, CHILD, (), Path("snapshot.yml"))
    assert origins["model.value"].parent_key == "value" and origins["model.value"].how == "moved"
    paired = follow_moves(by_name, origins, parent_definitions, definitions)
    assert paired["model.py"] == FileSource("microgpt.py", "definitions", 100)
    assert paired["train.py"].parent_file == "microgpt.py"
    assert paired["microgpt.py"] == FileSource("microgpt.py", "same")  # the dispatcher defines nothing moved
    assert paired["model.py"].describe() == "from microgpt.py (where 100% of its definitions' code was)"
