"""The run-time guard (judge.GUARD) rests on one invariant: what runs is what was counted.

Each case is a program run as a snapshot's run is (in the sandbox, under the guard, its files
counted as staged): the forgeries of issue 23 that ended "ok" must be refused with the rule named,
on any thread and by any route; honest programs (the standard library's class builders, threads,
a package installed beside the tool, a program split into modules) must run unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from diary.measure.judge import guarded
from diary.measure.sandbox.run import clean_environment, run_sandboxed
from diary.project.config import load_settings
from diarykit import make_diary, write

HELPER = "X = 5\n"
PROGRAM = '''\
import sys
import threading

what = sys.argv[1]


def in_thread(work):
    errors = []

    def target():
        try:
            work()
        except PermissionError as error:
            errors.append(error)
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


if what == "exec-in-thread":  # issue 23, forgery 1: exec reached through sys.modules, on a new thread
    run = sys.modules["builtins"].__dict__["ex" + "ec"]
    in_thread(lambda: run("print('forged')"))
elif what == "profiler-in-thread":  # forgery 2: the standard library compiles the string for us
    import cProfile
    in_thread(lambda: cProfile.Profile().runctx("print('forged')", {}, {}))
elif what == "timer":
    import timeit
    timeit.timeit("print('forged')", number=1)
elif what == "rewrite-own-module":  # forgery 3: the real program written over a counted module
    with open("helper.py", "w") as module:
        module.write("X = 99\\n")
    import helper
    print(helper.X)
elif what == "data-file-as-module":  # forgery 4: the real program kept in a data file
    with open("data/names.txt") as data, open("helper.py", "w") as module:
        module.write(data.read())
    import helper
elif what == "new-module":
    with open("fresh.py", "w") as module:
        module.write("X = 99\\n")
    import fresh
elif what == "module-in-tmp":
    with open("/tmp/fresh_in_tmp.py", "w") as module:
        module.write("X = 99\\n")
    sys.path.insert(0, "/tmp")
    import fresh_in_tmp
elif what == "extension-module":  # the .so of a standard module, copied where imports look first
    import importlib.util
    import os.path
    import shutil
    library = importlib.util.find_spec("_sqlite3").origin  # a file in the pyenv and Debian builds alike
    shutil.copy(library, os.path.basename(library))
    import _sqlite3
elif what == "unmarshalled-code":
    import marshal
    marshal.loads(marshal.dumps(compile.__doc__))
elif what == "honest":
    import argparse
    import collections
    import dataclasses
    import enum
    import json
    import os.path
    import typing

    import helper

    @dataclasses.dataclass
    class Point:
        x: int
        label: typing.Optional["Point"] = None

    Pair = collections.namedtuple("Pair", "a b")

    class Count(typing.NamedTuple):
        word: str
        n: int

    class Colour(enum.Enum):
        RED = 1

    parser = argparse.ArgumentParser()
    parser.add_argument("what")
    found = []
    worker = threading.Thread(target=lambda: found.append(Point(helper.X)))
    worker.start()
    worker.join()
    sys.stdout.write(json.dumps([repr(found[0]), Pair(1, 2)._asdict(), Count("a", 1).n, Colour.RED.name,
                                 os.path.join("a", parser.parse_args().what)]) + "\\n")
elif what == "installed-package":
    import yaml
    print(yaml.safe_dump({"ok": True}).strip())
'''


def guarded_run(tmp_path: Path, what: str) -> tuple[str, str, str]:
    root = make_diary(tmp_path / "repo")
    settings = load_settings(root)
    work = tmp_path / "work"
    files = {"prog.py": PROGRAM.encode(), "helper.py": HELPER.encode()}
    for name, data in files.items():
        write(work / name, data.decode())
    write(work / "data/names.txt", "X = 42\n")
    argv = guarded(settings, work, work, "prog.py", [what], files)
    done = run_sandboxed(argv, workdir=work, timeout=60, memory_mb=1024, output_bytes=65536,
                         env=clean_environment(work))
    return done.status, done.stdout_text(), done.stderr_text()


@pytest.mark.parametrize(("what", "refused"), [
    ("exec-in-thread", "rule dynamic-code: compile on behalf of prog.py, on thread Thread-1"),
    ("profiler-in-thread", "rule dynamic-code: compile on behalf of cProfile.py, on thread Thread-1"),
    ("timer", "rule dynamic-code: compile on behalf of timeit.py"),
    ("rewrite-own-module", "rule hidden-code: helper.py changed after it was counted"),
    ("data-file-as-module", "rule hidden-code: helper.py changed after it was counted"),
    ("new-module", "rule hidden-code: code from fresh.py, which is not a counted file of the snapshot"),
    ("module-in-tmp", "rule hidden-code: imports from /tmp, a folder the program can write"),
    ("unmarshalled-code", "rule dynamic-code: marshal.loads on behalf of prog.py"),
    ("extension-module", "rule hidden-code: code from _sqlite3."),
])
def test_code_that_was_not_counted_never_runs(tmp_path: Path, what: str, refused: str) -> None:
    status, stdout, stderr = guarded_run(tmp_path, what)
    assert status == "failed" and "forged" not in stdout and "99" not in stdout, (stdout, stderr)
    assert f"PermissionError: diary guard: {refused}" in stderr, stderr


def test_an_honest_program_runs_unchanged(tmp_path: Path) -> None:
    """dataclasses, namedtuple, NamedTuple, enum, a forward reference, a thread, sys.stdout, json,
    os.path, argparse and its own module: the standard library's class builders keep working."""
    status, stdout, stderr = guarded_run(tmp_path, "honest")
    assert status == "ok", stderr
    assert stdout == '["Point(x=5, label=None)", {"a": 1, "b": 2}, 1, "RED", "a/honest"]\n'


def test_a_package_installed_beside_the_tool_is_importable(tmp_path: Path) -> None:
    status, stdout, stderr = guarded_run(tmp_path, "installed-package")
    assert (status, stdout) == ("ok", "ok: true\n"), stderr


def test_the_judge_itself_may_start_the_program(tmp_path: Path) -> None:
    """The suite's driver (trusted, outside the snapshot) asks for a run of the program on its main
    thread: the guard's own frame under it is not the program's."""
    root = make_diary(tmp_path / "repo")
    driver = write(root / "tests/program/driver.py",
                   "import subprocess\nimport sys\n\n"
                   "done = subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True, text=True)\n"
                   "print(done.stdout.strip())\n")
    work = tmp_path / "work"
    write(work / "snapshot/prog.py", HELPER)
    argv = guarded(load_settings(root), work, work / "snapshot", str(driver), [], {"prog.py": HELPER.encode()})
    done = run_sandboxed(argv, workdir=work, timeout=60, memory_mb=1024, output_bytes=65536,
                         env=clean_environment(work), readable=[root / "tests/program"])
    assert (done.status, done.stdout_text()) == ("ok", "42\n"), done.stderr_text()
