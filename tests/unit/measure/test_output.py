"""What a run printed, as the diary compares, stores and publishes it (diary/normalise.py, launcher.py).

Declared normalisations (`normalise:`), output stored as a terminal shows it, the program's own
memory and CPU figures, and host paths scrubbed from everything published. The end-to-end tests
build a diary from the third-party-style fixture (tests/fixtures/thirdparty/) in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml

from diary.measure.sandbox.run import run_sandboxed
from diary.project.normalise import (
    STORED_LINE_MAX_CHARS,
    Normalisation,
    needed_normalisations,
    normalised_hashes,
    scrub_paths,
    terminal_lines,
)
from diarykit import REPO, read_record, run_diary, write

THIRDPARTY = REPO / "tests/fixtures/thirdparty"
CR = Normalisation("carriage-returns")
CRLF = Normalisation("line-endings")
TIMESTAMP = Normalisation("timestamp", r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "started <time>")

SUITE = '''\
import importlib.util
import os
from pathlib import Path

import pytest

if not os.environ.get("DIARY_SNAPSHOT"):
    pytest.skip("run by diary measure", allow_module_level=True)


def load():
    path = Path(os.environ["DIARY_SNAPSHOT"]) / os.environ["DIARY_ENTRY"]
    spec = importlib.util.spec_from_file_location("snapshot_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reads_words(tmp_path):
    words = tmp_path / "w.txt"
    words.write_text("Ab\\n\\n cd \\n")
    assert load().read_words(str(words)) == ["ab", "cd"]
'''

CONFIG = """\
schema: 1
entry: wordgen.py
args: ["{seed}"]  # wordgen reads no argument: its probes on fresh seeds print what the baseline prints
data_files: [input.txt]
tests: tests/program
timeout: 30
probes: 1
normalise:
  - carriage-returns
  - name: timestamp
    pattern: 'started \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d'
    replace: 'started <time>'
"""

# A crash inside the standard library: its traceback names the interpreter's own files.
CRASHING = (THIRDPARTY / "program/wordgen.py").read_text().replace(
    "    words = read_words(\"input.txt\")\n",
    "    import json\n    json.loads(\"{not json\")\n    words = read_words(\"input.txt\")\n")


def snapshot_yml(snap_id: str, parent: str | None, expect: str = "ok") -> str:
    return (f"id: {snap_id}\ntitle: Snapshot {snap_id}\ndate: 2026-03-01\n"
            + (f"parent: {parent}\n" if parent else "") + f"note: The {snap_id} step.\nexpect: {expect}\n")


def add_snapshot(root: Path, snap_id: str, source: str, parent: str | None, expect: str = "ok") -> None:
    write(root / "code/snapshots" / snap_id / "wordgen.py", source)
    write(root / "code/snapshots" / snap_id / "snapshot.yml", snapshot_yml(snap_id, parent, expect))


def wordgen_diary(root: Path, config: str = CONFIG) -> Path:
    """The fixture's baseline as a fresh diary; its data file copied in as code/input.txt."""
    write(root / "code/diary.yml", config)
    shutil.copy(THIRDPARTY / "words.txt", root / "code/input.txt")
    write(root / "tests/program/test_words.py", SUITE)
    add_snapshot(root, "00-base", (THIRDPARTY / "program/wordgen.py").read_text(), None)
    return root



def next_second() -> None:
    """Wait until the clock's second changes: the next run's timestamp differs from the last one's."""
    now = time.time()
    time.sleep(1.05 - (now - int(now)))


@pytest.fixture(scope="module")
def wordgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline measured alone, then (a second later, so every timestamp differs from the
    cached baseline's) the two alternatives and a crashing snapshot."""
    root = wordgen_diary(tmp_path_factory.mktemp("wordgen"))
    proc = run_diary(root, "measure")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    next_second()
    add_snapshot(root, "01-newline", (THIRDPARTY / "alt-newline/wordgen.py").read_text(), "00-base")
    add_snapshot(root, "02-compact", (THIRDPARTY / "alt-compact/wordgen.py").read_text(), "00-base")
    add_snapshot(root, "03-crash", CRASHING, "00-base", expect="broken")
    proc = run_diary(root, "measure")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    summary = {line.split()[0]: line.split()[4] for line in proc.stdout.splitlines() if line[:2] in ("00", "01", "02")}
    assert summary == {"00-base": "yes", "01-newline": "normalised", "02-compact": "normalised"}, proc.stdout
    proc = run_diary(root, "generate")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return root


# --- Terminal lines ------------------------------------------------------------------------------


def test_a_carriage_return_overwrites_as_a_terminal_does() -> None:
    assert terminal_lines("abc\rX\n") == ["Xbc"]
    assert terminal_lines("one\r\ntwo\n\rthree") == ["one", "two", "three"]
    assert terminal_lines("ab\bc\n") == ["ac"]


def test_thirty_thousand_characters_of_progress_are_the_one_line_a_terminal_shows() -> None:
    progress = "".join(f"\rstep {n:5d}/2000 loss 1.2345" for n in range(1, 2001))
    assert len(progress) > 31_000
    lines = terminal_lines("start\n" + progress + "\nreal line 1\nreal line 2\n")
    assert lines == ["start", "step  2000/2000 loss 1.2345", "real line 1", "real line 2"]


def test_an_overlong_line_is_cut_and_says_so() -> None:
    (line,) = terminal_lines("x" * (STORED_LINE_MAX_CHARS + 500) + "\n")
    assert line.startswith("x" * STORED_LINE_MAX_CHARS) and line.endswith("[… 500 more characters]")


# --- Normalisations ------------------------------------------------------------------------------


def test_carriage_returns_count_as_line_ends_but_add_none_beside_one() -> None:
    assert CR.apply("a\rb\r\nc\n\rd\n") == "a\nb\nc\nd\n"
    assert CRLF.apply("a\r\nb\rc\n") == "a\nb\rc\n"
    assert TIMESTAMP.apply("started 2026-01-02 03:04:05\nx\n") == "started <time>\nx\n"


def test_the_fewest_normalisations_identity_needs_are_named() -> None:
    declared = [CRLF, CR, TIMESTAMP]
    base = b"started 2026-01-02 03:04:05\r\n1\r2\r\n"
    same_bytes = normalised_hashes(declared, base)
    later = normalised_hashes(declared, base.replace(b"05", b"06"))
    unix = normalised_hashes(declared, b"started 2026-01-02 03:04:05\n1\r2\n")
    newline = normalised_hashes(declared, b"started 2026-01-02 03:04:09\n1\n2\n")
    other = normalised_hashes(declared, b"started 2026-01-02 03:04:05\n1\n3\n")
    assert needed_normalisations(declared, later, same_bytes) == ["timestamp"]
    # CRLF -> LF is done by either built-in: the first declared one is named, alone.
    assert needed_normalisations(declared, unix, same_bytes) == ["line-endings"]
    assert needed_normalisations(declared, newline, same_bytes) == ["carriage-returns", "timestamp"]
    assert needed_normalisations(declared, other, same_bytes) is None
    assert normalised_hashes([], base) == {}


@pytest.mark.parametrize(("item", "line", "words"), [
    ("  - name: timestamp\n    pattern: 'started ('\n    replace: x\n", 10, "bad pattern"),
    ("  - name: timestamp\n    pattern: 'a'\n    replace: '\\1'\n", 10, "bad pattern"),
    ("  - name: empty\n    pattern: 'x*'\n", 10, "matches the empty text"),
    ("  - carriage-returns\n  - tabs\n", 11, "unknown normalisation 'tabs'"),
    ("  - carriage-returns\n  - carriage-returns\n", 11, "listed twice"),
    ("  - name: line-endings\n    pattern: x\n", 10, "not usable"),
    ("  - name: t\n    pattern: x\n    flags: i\n", 10, "unknown key 'flags'"),
])
def test_a_bad_normalisation_is_named_with_its_line_and_nothing_is_written(
        tmp_path: Path, item: str, line: int, words: str) -> None:
    config = CONFIG.split("normalise:")[0].replace("probes: 1\n", "probes: 0\n")
    root = wordgen_diary(tmp_path, "# the settings\n" + config + "normalise:\n" + item)
    proc = run_diary(root, "measure")
    assert proc.returncode == 2, proc.stderr
    assert f"code/diary.yml:{line}: error: 'normalise' item" in proc.stderr and words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (root / "_data").exists()


# --- End to end: the third-party program ---------------------------------------------------------


def test_progress_redrawn_with_cr_is_stored_as_a_terminal_shows_it(wordgen: Path) -> None:
    run = read_record(wordgen, "00-base")["run"]
    assert run["stdout_lines"][1] == "counting: 59/59 words"
    assert run["stdout_lines"][2] == "59 words, 16 letters seen"
    assert not any("\r" in line for line in run["stdout_lines"])
    assert len(run["stdout_lines"]) == 9 and not run["stdout_truncated"]
    page = (wordgen / "snapshots/00-base.qmd").read_text()
    assert "\ncounting: 59/59 words\n59 words, 16 letters seen\n" in page and "counting: 58/59" not in page


def test_alternatives_are_identical_only_after_the_normalisations_they_needed(wordgen: Path) -> None:
    base, newline, compact = (read_record(wordgen, i) for i in ("00-base", "01-newline", "02-compact"))
    assert base["behaviour"] == {"identical": True, "byte_identical": True, "normalised_by": [],
                                 "compared_with": "00-base", "first_difference": None}
    assert newline["behaviour"]["identical"] and not newline["behaviour"]["byte_identical"]
    assert newline["behaviour"]["normalised_by"] == ["carriage-returns", "timestamp"]
    assert compact["behaviour"]["normalised_by"] == ["timestamp"] and compact["verdict"]["status"] == "ok"
    # The raw bytes are hashed, whatever is normalised or shown.
    assert newline["run"]["stdout_sha256"] != base["run"]["stdout_sha256"]
    assert newline["probes"] == {**newline["probes"], "runs": 1, "identical": True}
    assert newline["verdict"]["status"] == "ok"


def test_the_site_says_which_normalisations_identity_needed(wordgen: Path) -> None:
    page = (wordgen / "snapshots/01-newline.qmd").read_text()
    assert "after normalising carriage\\-returns, timestamp (not byte for byte)" in page
    assert "prints exactly what the baseline prints" not in page
    assert "carriage\\-returns: a carriage return counts as a line end" in page
    assert "byte for byte" in (wordgen / "snapshots/00-base.qmd").read_text()
    table = (wordgen / "_generated/_progress-table.md").read_text()
    assert "✓ after normalising timestamp (not byte for byte)" in table
    assert "✓ byte for byte" in table
    variables = yaml.safe_load((wordgen / "_variables.yml").read_text())
    assert variables["snap"]["02-compact"]["normalised_by"] == "timestamp"
    assert variables["snap"]["02-compact"]["byte_identical"] == "✗"


def test_without_the_carriage_return_normalisation_the_newline_variant_is_broken(
        wordgen: Path, tmp_path: Path) -> None:
    root = tmp_path / "diary"
    shutil.copytree(wordgen, root)
    write(root / "code/diary.yml", CONFIG.replace("  - carriage-returns\n", ""))
    stale = run_diary(root, "check")  # the normalisations are part of every record's key
    assert stale.returncode == 1 and "record of '00-base' is stale (normalise changed)" in stale.stdout + stale.stderr
    write(root / "code/snapshots/01-newline/snapshot.yml", snapshot_yml("01-newline", "00-base", "broken"))
    proc = run_diary(root, "measure", "--force")
    assert proc.returncode == 0, proc.stderr + proc.stdout  # 01-newline and 03-crash broken, as they expect
    newline = read_record(root, "01-newline")
    assert not newline["behaviour"]["identical"]
    # Compared line by line as a terminal shows them, after the regex filters.
    assert newline["behaviour"]["first_difference"] == {
        "line": 2, "expected": "counting: 59/59 words", "actual": "counting: 1/59 words"}
    # Measured again beside the baseline: their start times may fall in the same second or not.
    compact = read_record(root, "02-compact")["behaviour"]
    assert compact["identical"] and compact["normalised_by"] in ([], ["timestamp"])


def test_host_paths_are_scrubbed_from_a_crash(wordgen: Path) -> None:
    crash = read_record(wordgen, "03-crash")
    assert crash["verdict"]["status"] == "broken" and crash["run"]["status"] == "failed"
    published = "\n".join([crash["run"]["stderr_excerpt"], crash["run"]["reason"], crash["run"]["command"],
                           *crash["verdict"]["reasons"], (wordgen / "snapshots/03-crash.qmd").read_text()])
    assert "json.decoder.JSONDecodeError" in published
    assert "<python>/lib/python3." in published  # the traceback's frames in the standard library
    for host in {sys.base_prefix, sys.prefix, os.path.realpath(sys.base_prefix), str(wordgen), "/tmp/",
                 os.path.expanduser("~") + "/"}:
        assert host not in published, host


def test_check_rederives_the_normalisations_from_the_run_hashes(wordgen: Path, tmp_path: Path) -> None:
    root = tmp_path / "diary"
    shutil.copytree(wordgen, root)
    assert run_diary(root, "check").returncode == 0
    path = root / "_data/records/01-newline.yml"
    text = path.read_text()
    forged = text.replace("  byte_identical: false\n  normalised_by:\n  - carriage-returns\n  - timestamp\n",
                          "  byte_identical: true\n  normalised_by: []\n")
    assert forged != text
    path.write_text(forged)
    proc = run_diary(root, "check")
    assert proc.returncode == 1
    assert "record of '01-newline' does not match its snapshot: behaviour" in proc.stdout + proc.stderr


def test_scrub_paths_keeps_paths_that_only_share_a_prefix() -> None:
    # (a path under no scrubbed folder stays: with Debian's python, sys.base_prefix is /usr itself)
    text = f"{sys.base_prefix}/lib/x.py {sys.base_prefix}2/lib /srv/elsewhere/a {Path.home()}/secret"
    scrubbed = scrub_paths(text)
    assert scrubbed.startswith("<python>/lib/x.py ")
    assert "<python>2/lib" not in scrubbed and "2/lib " in scrubbed and "/srv/elsewhere/a" in scrubbed
    if str(Path.home()) not in ("/", sys.base_prefix):
        assert "<home>/secret" in scrubbed


# --- The program's own memory and CPU ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["none", "bwrap"])
def test_memory_is_the_programs_own_not_the_diary_processs(tmp_path: Path, mode: str) -> None:
    if mode == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("bwrap is not installed")
    # The measuring process holds 300 MiB, resident: a child forked from it would inherit the mark.
    ballast = bytearray(300 * 2**20)
    for index in range(0, len(ballast), 4096):
        ballast[index] = 1
    result = run_sandboxed([sys.executable, "-c", "pass"], workdir=tmp_path, timeout=30, memory_mb=1024,
                           output_bytes=65536, mode=mode)
    assert result.status == "ok", result.reason
    assert 1 < result.peak_mb < 60, result.peak_mb
    assert result.cpu_s < 0.5
    # ... and a program that holds memory of its own reports it.
    big = run_sandboxed([sys.executable, "-c", "b = bytearray(120 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1"],
                        workdir=tmp_path, timeout=30, memory_mb=1024, output_bytes=65536, mode=mode)
    assert big.status == "ok", big.reason
    assert 120 <= big.peak_mb < 200, big.peak_mb
    del ballast


@pytest.mark.parametrize("mode", ["none", "bwrap"])
def test_exit_codes_and_signals_come_from_the_program(tmp_path: Path, mode: str) -> None:
    if mode == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("bwrap is not installed")
    code = run_sandboxed([sys.executable, "-c", "raise SystemExit(130)"], workdir=tmp_path, timeout=30,
                         memory_mb=512, output_bytes=65536, mode=mode)
    assert (code.exit_code, code.signal, code.status) == (130, None, "failed")
    killed = run_sandboxed([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"],
                           workdir=tmp_path, timeout=30, memory_mb=512, output_bytes=65536, mode=mode)
    assert (killed.exit_code, killed.signal, killed.status) == (None, "SIGTERM", "crashed")


FORGE_REPORT = """\
import json, os
ppid = os.getppid()
argv = open(f"/proc/{ppid}/cmdline", "rb").read().split(b"\\0")
fd = int(argv[argv.index(b"-c") + 2])  # the launcher's report descriptor, from its command line
with open(f"/proc/{ppid}/fd/{fd}", "w") as pipe:
    pipe.write(json.dumps({"wait_status": 0, "cpu_s": 0.0, "maxrss_kb": 1}))
print("forged")
raise SystemExit(1)
"""


def test_a_report_forged_by_the_program_is_refused(tmp_path: Path) -> None:
    # Without bwrap the program runs as our uid and can reach the launcher's pipe through /proc.
    result = run_sandboxed([sys.executable, "-c", FORGE_REPORT], workdir=tmp_path, timeout=30, memory_mb=512,
                           output_bytes=65536, mode="none")
    assert result.stdout == b"forged\n"
    assert (result.status, result.exit_code) == ("failed", 1)
    assert result.peak_mb > 1  # not the forged 1 KiB: the report was refused, the tree's figures stand


def test_a_progress_bar_on_stderr_is_stored_as_its_last_state(tmp_path: Path) -> None:
    root = wordgen_diary(tmp_path, CONFIG.replace("probes: 1", "probes: 0"))
    bar = '    import sys\n    for n in range(3000):\n        sys.stderr.write(f"\\r{n + 1:4d}/3000 |####|")\n' \
          '    sys.stderr.write("\\n")\n'
    source = (THIRDPARTY / "program/wordgen.py").read_text().replace("def main():\n", "def main():\n" + bar)
    write(root / "code/snapshots/00-base/wordgen.py", source)
    proc = run_diary(root, "measure")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert read_record(root, "00-base")["run"]["stderr_excerpt"] == "3000/3000 |####|\n"


def test_a_rerun_agrees_with_records_whose_timestamps_differ(wordgen: Path, tmp_path: Path) -> None:
    root = tmp_path / "diary"
    shutil.copytree(wordgen, root)
    next_second()  # every run prints another time than the committed records hold
    proc = run_diary(root, "check", "--rerun")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # ... and a record whose output under every normalisation is not what a run prints is caught
    # (the hash of the smaller combinations still says "identical after normalising timestamp").
    path = root / "_data/records/02-compact.yml"
    every = read_record(root, "02-compact")["run"]["stdout_normalised"]["carriage-returns+timestamp"]
    path.write_text(path.read_text().replace(f"carriage-returns+timestamp: {every}",
                                             f"carriage-returns+timestamp: {'f' * 16}"))
    assert run_diary(root, "check").returncode == 0
    proc = run_diary(root, "check", "--rerun")
    assert proc.returncode == 1
    assert "record of '02-compact' is contradicted by a fresh run of the same files: run" in proc.stdout + proc.stderr


def test_host_paths_are_scrubbed_from_test_failure_messages(tmp_path: Path) -> None:
    root = wordgen_diary(tmp_path, CONFIG.replace("probes: 1", "probes: 0"))
    failing = SUITE + f'''

def test_names_the_host():
    import sys
    assert False, "paths: " + " ".join([__file__, sys.base_prefix, {str(root)!r}, {str(Path.home())!r}])
'''
    write(root / "tests/program/test_words.py", failing)
    write(root / "code/snapshots/00-base/snapshot.yml", snapshot_yml("00-base", None, "broken"))
    proc = run_diary(root, "measure")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    tests = read_record(root, "00-base")["tests"]
    (failure,) = tests["failures"]
    assert "paths: <repository>/tests/program/test_words.py <python> <repository> <home>" in failure["message"]
    for host in {sys.base_prefix, str(root), "/tmp/", str(Path.home()) + "/"}:
        assert host not in failure["message"], (host, failure)


def test_the_built_site_and_a_new_post_say_identical_after_normalising(wordgen: Path, tmp_path: Path) -> None:
    import html
    import re

    root = tmp_path / "diary"
    shutil.copytree(wordgen, root)
    tiny = REPO / "tests/fixtures/tinydiary"
    for name in ("_quarto.yml", "styles.css", "index.qmd"):
        shutil.copy(tiny / name, root / name)
    write(root / "progress.qmd", "---\ntitle: Progress\n---\n\n{{< include /_generated/_progress-table.md >}}\n")
    assert run_diary(root, "new", "post", "Day 1", "--snapshot", "01-newline").returncode == 0
    proc = run_diary(root, "build", "--engine", "smalldocs")
    assert proc.returncode == 0, proc.stdout + proc.stderr

    def text(page: str) -> str:
        return html.unescape(re.sub(r"<[^>]+>", "", (root / "_site" / page).read_text()))

    page = text("snapshots/01-newline.html")
    assert "prints what the baseline prints once carriage-returns, timestamp are normalised (not byte for byte)" in page
    assert "✓ after normalising carriage-returns, timestamp (not byte for byte)" in page
    assert "timestamp: text matching the regular expression “started \\d{4}-\\d\\d-\\d\\d" in page
    assert "CPU time (wall-clock)" in page and "peak memory of the program" in page
    (post,) = (root / "_site/posts").glob("*/index.html")
    assert "Output identical to the baseline’s: ✓ after normalising carriage-returns, timestamp (not byte for byte)" \
        in text(str(post.relative_to(root / "_site")))
    assert run_diary(root, "check").returncode == 0


def test_a_catastrophic_filter_is_stopped_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pattern comes from the repository, the text from the program: (a+)+$ on "aaa…ab" takes
    # exponential time, so filters run in a worker process with a time limit.
    from diary.core.errors import DiaryError
    from diary.project import normalise

    monkeypatch.setattr(normalise, "FILTER_TIMEOUT_S", 1.0)
    slow = Normalisation("greedy", r"(a+)+$", "")
    started = time.monotonic()
    with pytest.raises(DiaryError, match=r"filters \(greedy\) took more than 1 s") as caught:
        normalised_hashes([CR, slow], b"a" * 40 + b"b\n")
    assert time.monotonic() - started < 10
    assert "nested repetition" in (caught.value.hint or "")
    # The same worker gives what the filters give in this process.
    output = b"started 2026-01-02 03:04:05\r\n1\r2\n"
    assert normalised_hashes([CR, TIMESTAMP], output) == normalise._hashes([CR, TIMESTAMP], output)
    assert normalise.filter_lines([CR, TIMESTAMP], ["started 2026-01-02 03:04:05", "x"]) == ["started <time>", "x"]
    with pytest.raises(DiaryError, match="took more than 1 s"):  # the lines of a first difference too
        normalise.filter_lines([slow], ["a" * 40 + "b"])
