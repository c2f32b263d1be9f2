"""Snapshots that misbehave, measured the way a user measures them: `diary measure`, all at once.

A tiny diary (tests/diarykit.py) is measured once with its well-behaved snapshots; then thirteen
hostile snapshots (children of the baseline, `expect: broken`) are added and one `diary measure`
runs them all in parallel, once with `--sandbox bwrap` and once with `--sandbox none` (caps: timeout
3 s, memory 256 MB, output 64 KB, test timeout 20 s). Each hostile program also prints a line the
baseline never prints, so a run that "succeeds" is still broken by its behaviour. The hostile code
sits at module level, so the behavioural suite (which imports the snapshot) meets it too.

What the run of each kind ends as (`run.status`: `run.reason`), and what holds:

| kind                         | with bwrap                                   | with --sandbox none                 |
| ---------------------------- | -------------------------------------------- | ----------------------------------- |
| infinite loop                | timeout: timed out after 3.0 s (raise 'timeout' in …) | same                     |
| allocates 50 GB              | memory: memory limit 256 MB exceeded         | same                                |
| prints 1 GB                  | output: stdout exceeded 64 KB; process stopped | same                              |
| binary garbage on stdout     | ok; kept as text, the record loads again     | same                                |
| segfault (ctypes)            | crashed: killed by SIGSEGV                   | same                                |
| os._exit(3)                  | failed: exit code 3                          | same                                |
| syntax error                 | failed: exit code 1: SyntaxError: ...        | same                                |
| source not UTF-8             | failed: exit code 1: SyntaxError: Non-UTF-8 code ... | same                        |
| imports a missing module     | failed: exit code 1: ModuleNotFoundError: ... | same                               |
| leaves 100 children behind   | ok; none survives (as root: failed (3))      | ok; none survives (1)               |
| writes outside its directory | ok; /var/tmp and the checkout not mounted    | ok; BOTH FILES WRITTEN on the host  |
| connects to a host port      | ok; refused (a loopback of its own)          | ok; CONNECTED (run and suite: 2)    |
| prints $GITHUB_TOKEN         | ok; None: the secret is in no record         | same (2)                            |

Without bwrap the timeout, memory and output caps, the kill of every process the program started and
the clean environment hold; file-system and network isolation do not. (1) not for a process that
leaves our process group with setsid; (2) /proc/<pid>/environ of our processes stays readable (both
pinned down in tests/unit/measure/test_sandbox.py); (3) as root a run has a uid of its own and at most
supervise.PROCESS_LIMIT processes: the 65th fork fails with BlockingIOError. Every hostile record is
`broken` as expected (exit code 0), the well-behaved records stay byte-for-byte the same, the
measure stays within its time bound, and no process of a hostile snapshot is left running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from diarykit import make_diary, read_record, run_diary, snapshot_meta, tree_bytes, write

# Each mode measures thirteen hostile programs at once (about 25 s a mode on 2 cores).
pytestmark = pytest.mark.slow

BWRAP = Path("/usr/bin/bwrap")
MARKER = f"diary-hostile-{uuid.uuid4().hex[:12]}"  # in the command line of every hostile process
SECRET = "diary-secret-123"
TIMEOUT_S = 3
TEST_TIMEOUT_S = 20
NORMAL = ("00-base", "01-wrong", "02-short")

CONFIG = f"""\
schema: 1
entry: prog.py
steps: 3
samples: 1
seed: 1
timeout: {TIMEOUT_S}
memory_mb: 256
output_kb: 64
data_files: [data/names.txt]
tests: tests/program
test_timeout: {TEST_TIMEOUT_S}
"""

# Run as a script, the program re-executes itself with MARKER as an extra argument, so that `ps`
# finds it and every process it forks; imported by the behavioural suite it does not (the suite's
# pytest names its junit file in a directory whose name holds MARKER, see TMPDIR below).
PRELUDE = f"""\
import os
import sys

if __name__ == "__main__" and {MARKER!r} not in sys.argv:
    os.execv(sys.executable, [sys.executable, *sys.argv, {MARKER!r}])
print("hostile snapshot", flush=True)
"""

HOSTILE: dict[str, str] = {
    "10-loop": PRELUDE + "while True:\n    pass\n",
    "11-alloc": PRELUDE + "data = bytearray(50 * 2**30)\nprint(len(data))\n",
    "12-flood": PRELUDE + "block = b'x' * 2**20\nfor _ in range(1024):\n    sys.stdout.buffer.write(block)\n",
    "13-garbage": PRELUDE + "sys.stdout.buffer.write(bytes(range(256)) * 4 + b'\\xff\\xfe\\x00\\x1b[31m\\n')\n",
    "14-segfault": PRELUDE + "import ctypes\n\nctypes.string_at(0)\n",
    "15-exit3": PRELUDE + "os._exit(3)\n",
    "16-syntax": "def broken(:\n    return 1\n",
    "17-latin1": "",  # written as Latin-1 bytes, see NOT_UTF8
    "18-nomodule": PRELUDE + "import module_that_does_not_exist_anywhere  # noqa: F401\n",
    "19-fork": PRELUDE + """\
import time

for _ in range(100):  # each child holds MARKER in the command line it inherits
    if os.fork() == 0:
        time.sleep(600)
        os._exit(0)
print("spawned 100", flush=True)
""",
    "20-write": PRELUDE + """\
for label, path in [("var-tmp", {var_tmp!r}), ("checkout", {checkout!r}), ("inside", "inside.txt")]:
    try:
        with open(path, "w") as handle:
            handle.write("escaped\\n")
        print(label, "written")
    except OSError as error:
        print(label, type(error).__name__)
""",
    "21-network": PRELUDE + """\
import socket

try:
    socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
    print("network connected")
except OSError as error:
    print("network", type(error).__name__)
""",
    "22-token": PRELUDE + "print('token', os.environ.get('GITHUB_TOKEN'))\n",
}
NOT_UTF8 = "# this file is Latin-1 but declares nothing\nprint('caf\xe9 cr\xe8me')\n".encode("latin-1")

# (status, the start of the reason), the same in both modes; "" for ok means exactly "".
EXPECTED_RUN: dict[str, tuple[str, str]] = {
    "10-loop": ("timeout", f"timed out after {TIMEOUT_S:.1f} s (raise 'timeout' in code/diary.yml)"),
    "11-alloc": ("memory", "memory limit 256 MB exceeded"),
    "12-flood": ("output", "stdout exceeded 64 KB; process stopped"),
    "13-garbage": ("ok", ""),
    "14-segfault": ("crashed", "killed by SIGSEGV"),
    "15-exit3": ("failed", "exit code 3"),
    "16-syntax": ("failed", "exit code 1: SyntaxError: "),
    "17-latin1": ("failed", "exit code 1: SyntaxError: Non-UTF-8 code"),
    "18-nomodule": ("failed", "exit code 1: ModuleNotFoundError: No module named 'module_that_does_not_exist"),
    "19-fork": ("ok", ""),
    "20-write": ("ok", ""),
    "21-network": ("ok", ""),
    "22-token": ("ok", ""),
}
EXACT_REASON = {"10-loop", "11-alloc", "12-flood", "14-segfault", "15-exit3"}
# Under bwrap as root a run has a uid of its own and at most supervise.PROCESS_LIMIT processes.
FORK_CAPPED = ("failed", "exit code 1: BlockingIOError: [Errno 11] Resource temporarily unavailable")


def fork_capped(mode: str) -> bool:
    return mode == "bwrap" and os.geteuid() == 0


@dataclass
class Measured:
    mode: str
    root: Path
    before: dict[str, bytes]
    after: dict[str, bytes]
    proc: subprocess.CompletedProcess
    wall_s: float
    survivors: list[str]
    outside: list[Path]
    connections: int

    def record(self, snap_id: str) -> dict:
        return read_record(self.root, snap_id)


def marked_processes(grace_s: float = 3.0) -> list[str]:
    """`ps` lines of live processes whose command line holds MARKER, after a grace for SIGKILL."""
    deadline = time.monotonic() + grace_s
    while True:
        # -ww: off a terminal ps may cut each line at 80 columns, before MARKER.
        listing = subprocess.run(["ps", "-ww", "-eo", "pid=,stat=,args="], capture_output=True, text=True, check=True)
        found = [line.strip() for line in listing.stdout.splitlines()
                 if MARKER in line and line.split()[1][:1] != "Z"]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def pending_connections(listener: socket.socket) -> int:
    listener.setblocking(False)
    count = 0
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


@pytest.fixture(scope="module", params=["bwrap", "none"])
def measured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Measured:
    mode: str = request.param
    if mode == "bwrap" and not BWRAP.exists():
        pytest.skip(f"bubblewrap is not installed at {BWRAP}")
    root = make_diary(tmp_path_factory.mktemp(f"hostile-{mode}"))
    write(root / "code/diary.yml", CONFIG.format(mode=mode))
    # The runs' working directories live under TMPDIR: a name holding MARKER puts it into the
    # command line of every sandboxed process (bwrap's arguments, pytest's --junitxml).
    tmpdir = tmp_path_factory.mktemp(f"tmp-{MARKER}")
    outside = [Path("/var/tmp") / f"{MARKER}-{mode}.txt", root / f"escaped-{MARKER}.txt"]
    with socket.create_server(("127.0.0.1", 0)) as listener, pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_TOKEN", SECRET)
        patch.setenv("TMPDIR", str(tmpdir))
        first = run_diary(root, "measure", "--sandbox", mode)
        assert first.returncode == 0, first.stderr + first.stdout
        before = tree_bytes(root)
        values = {"var_tmp": str(outside[0]), "checkout": str(outside[1]), "port": listener.getsockname()[1]}
        for snap_id, source in HOSTILE.items():
            folder = root / "code/snapshots" / snap_id
            write(folder / "snapshot.yml", snapshot_meta(snap_id, "00-base", "broken"))
            write(folder / "prog.py", source.format(**values) if snap_id in ("20-write", "21-network") else source)
        (root / "code/snapshots/17-latin1/prog.py").write_bytes(NOT_UTF8)
        started = time.monotonic()
        proc = run_diary(root, "measure", "--sandbox", mode)
        wall_s = time.monotonic() - started
        survivors = marked_processes()
        connections = pending_connections(listener)
    for line in survivors:  # leave nothing behind for the other tests, whatever the assertions say
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass
    measured = Measured(mode, root, before, tree_bytes(root), proc, wall_s, survivors,
                        [path for path in outside if path.exists()], connections)
    yield measured
    for path in outside:
        path.unlink(missing_ok=True)


def test_every_hostile_snapshot_is_measured_as_expected_broken(measured: Measured) -> None:
    assert measured.proc.returncode == 0, measured.proc.stderr + measured.proc.stdout
    assert set(HOSTILE) | set(NORMAL) == {Path(name).stem for name in measured.after}
    for snap_id in HOSTILE:
        record = measured.record(snap_id)
        assert record["run"]["sandbox"] == measured.mode
        assert record["verdict"]["status"] == "broken", snap_id
        assert (record["verdict"]["expected"], record["verdict"]["surprise"]) == ("broken", False), snap_id
        assert record["tests"]["status"] != "ok", snap_id  # the suite does not find add()


@pytest.mark.parametrize("snap_id", list(EXPECTED_RUN))
def test_run_status_and_reason(measured: Measured, snap_id: str) -> None:
    run = measured.record(snap_id)["run"]
    status, reason = EXPECTED_RUN[snap_id]
    if snap_id == "19-fork" and fork_capped(measured.mode):
        status, reason = FORK_CAPPED
    assert run["status"] == status, run
    assert "\n" not in run["reason"] and len(run["reason"]) <= 200
    if snap_id in EXACT_REASON or status == "ok":
        assert run["reason"] == reason
    else:
        assert run["reason"].startswith(reason), run["reason"]
    if status == "ok":  # a run that "succeeds" is broken by what it prints
        verdict = measured.record(snap_id)["verdict"]
        assert verdict["reasons"][0] == "output differs from 00-base at line 1"


def test_run_details(measured: Measured) -> None:
    crashed = measured.record("14-segfault")["run"]
    assert (crashed["signal"], crashed["exit_code"]) == ("SIGSEGV", None)
    exit3 = measured.record("15-exit3")["run"]
    assert (exit3["exit_code"], exit3["stdout_lines"]) == (3, ["hostile snapshot"])
    flood = measured.record("12-flood")["run"]
    assert flood["stdout_truncated"] and flood["wall_s"] < TIMEOUT_S
    assert measured.record("11-alloc")["run"]["wall_s"] < TIMEOUT_S  # fails at once, not at the timeout
    assert measured.record("10-loop")["run"]["wall_s"] >= TIMEOUT_S
    forked = ["hostile snapshot"] if fork_capped(measured.mode) else ["hostile snapshot", "spawned 100"]
    assert measured.record("19-fork")["run"]["stdout_lines"] == forked


def test_binary_garbage_is_recorded_and_reloads(measured: Measured) -> None:
    run = measured.record("13-garbage")["run"]
    lines = run["stdout_lines"]
    assert lines[0] == "hostile snapshot" and "\x1b[31m" in lines[-1] and "\ufffd" in lines[-1]
    assert not run["stdout_truncated"]
    diff = measured.record("13-garbage")["behaviour"]["first_difference"]
    assert diff == {"line": 1, "expected": "step 0: 1 ada", "actual": "hostile snapshot"}


def test_normal_records_are_byte_for_byte_unchanged(measured: Measured) -> None:
    normal = {name: data for name, data in measured.after.items() if Path(name).stem in NORMAL}
    assert normal == measured.before
    assert measured.record("02-short")["verdict"]["status"] == "ok"


def test_the_measure_stays_within_its_time_bound(measured: Measured) -> None:
    # Every run may take its timeout; the suite of the infinite loop (run at import) takes the
    # test timeout; the rest is start-up (bwrap, pytest), shared among the cores.
    cores = os.cpu_count() or 1
    assert measured.wall_s < len(HOSTILE) * TIMEOUT_S / cores + TEST_TIMEOUT_S + 30


def test_no_process_of_a_hostile_snapshot_survives(measured: Measured) -> None:
    assert measured.survivors == []


def test_the_process_check_sees_a_marked_process() -> None:
    # The check above is not vacuous: a process holding MARKER in its command line is found.
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", MARKER])
    try:
        found = marked_processes(grace_s=0)
    finally:
        holder.kill()
        holder.wait()
    assert [int(line.split()[0]) for line in found] == [holder.pid]


def test_the_secret_in_our_environment_is_never_recorded(measured: Measured) -> None:
    assert measured.record("22-token")["run"]["stdout_lines"] == ["hostile snapshot", "token None"]
    leaks = [name for name, data in measured.after.items() if SECRET.encode() in data]
    assert leaks == []


def test_writes_outside_the_working_directory(measured: Measured) -> None:
    lines = measured.record("20-write")["run"]["stdout_lines"]
    assert lines[-1] == "inside written"  # its own working directory stays writable
    if measured.mode == "bwrap":
        # Neither /var nor the checkout is mounted; /tmp is a tmpfs of its own.
        assert lines[1:3] == ["var-tmp FileNotFoundError", "checkout FileNotFoundError"]
        assert measured.outside == []
    else:  # not prevented without bwrap: the run and the suite both wrote
        assert lines[1:3] == ["var-tmp written", "checkout written"]
        assert len(measured.outside) == 2


def test_network_connection(measured: Measured) -> None:
    line = measured.record("21-network")["run"]["stdout_lines"][1]
    if measured.mode == "bwrap":  # a network namespace of its own: not even the host's loopback
        assert line.startswith("network ") and line != "network connected"
        assert measured.connections == 0
    else:  # not prevented without bwrap: the run and the suite (which imports it) both connect
        assert line == "network connected"
        assert measured.connections == 2
