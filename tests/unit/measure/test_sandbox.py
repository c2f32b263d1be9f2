"""The sandbox against hostile programs (tests/fixtures/hostile/), with bwrap and without.

Every run must end as a RunResult with the right status and a one-line reason, within its bounds.
Where a protection holds only under bwrap, the "none" case pins down what happens instead, so the
table in diary/sandbox.py stays true.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from diary.core.errors import DiaryError
from diary.measure.sandbox import bwrap, supervise
from diary.measure.sandbox import run as sandbox
from diary.measure.sandbox.run import clean_environment, run_sandboxed, sandbox_mode
from diary.measure.sandbox.supervise import TRUNCATION_MARKER, RunResult
from diarykit import FIXTURES_DIR, REPO

# Real processes under the caps, several waiting out a timeout: end to end, so slow.
pytestmark = pytest.mark.slow

HOSTILE = FIXTURES_DIR / "hostile"
BWRAP = Path("/usr/bin/bwrap")
TIMEOUT_S = 2.0
MEMORY_MB = 256
OUTPUT_BYTES = 64 * 1024
SLACK_S = 3.0  # start-up and teardown a run may add to its timeout


@pytest.fixture(params=["bwrap", "none"])
def mode(request: pytest.FixtureRequest) -> str:
    if request.param == "bwrap" and not BWRAP.exists():
        pytest.skip(f"bubblewrap is not installed at {BWRAP}")
    return request.param


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    # Under /tmp, which bwrap replaces by a tmpfs: the working directory must stay writable anyway.
    work = tmp_path / "work"
    work.mkdir()
    return work


def run(mode: str, workdir: Path, argv: list[str], *, timeout: float = TIMEOUT_S, **options) -> RunResult:
    options = {"memory_mb": MEMORY_MB, "output_bytes": OUTPUT_BYTES, **options}
    started = time.monotonic()
    result = run_sandboxed(argv, workdir=workdir, timeout=timeout, mode=mode, **options)
    assert time.monotonic() - started < timeout + SLACK_S
    assert result.sandbox == mode
    assert "\n" not in result.reason
    assert (result.reason == "") == (result.status == "ok")
    return result


def run_hostile(mode: str, workdir: Path, script: str, *args: str, **options) -> RunResult:
    shutil.copy(HOSTILE / script, workdir / script)
    return run(mode, workdir, [sys.executable, script, *args], **options)


def test_infinite_loop_times_out(mode: str, workdir: Path) -> None:
    result = run_hostile(mode, workdir, "infinite_loop.py")
    assert (result.status, result.reason) == ("timeout", "timed out after 2.0 s")
    assert result.wall_s >= TIMEOUT_S


def test_killed_program_still_reports_its_figures(mode: str, workdir: Path) -> None:
    # Under bwrap the namespace's init must reap the killed program, or its usage is lost.
    burn_then_sleep = "import time\nwhile time.process_time() < 0.2: pass\nheld = b'x' * 2**25\ntime.sleep(9)"
    result = run(mode, workdir, [sys.executable, "-c", burn_then_sleep])
    assert result.status == "timeout"
    assert result.cpu_s >= 0.2 and result.peak_mb >= 32


def test_allocating_50_gb_fails_at_once(mode: str, workdir: Path) -> None:
    result = run_hostile(mode, workdir, "allocate_50gb.py")
    assert (result.status, result.reason) == ("memory", "memory limit 256 MB exceeded")
    assert "MemoryError" in result.stderr_text()
    assert result.wall_s < TIMEOUT_S


def test_growing_past_the_cap_is_a_memory_failure(mode: str, workdir: Path) -> None:
    # Touches 256 MB on the way, which takes a while on a busy machine: a generous timeout.
    result = run_hostile(mode, workdir, "grow_memory.py", timeout=10.0)
    assert (result.status, result.reason) == ("memory", "memory limit 256 MB exceeded")
    assert "MemoryError" in result.stderr_text()


def test_printing_1_gb_is_stopped_at_the_cap(mode: str, workdir: Path) -> None:
    result = run_hostile(mode, workdir, "print_1gb.py")
    assert (result.status, result.reason) == ("output", "stdout exceeded 64 KB; process stopped")
    assert result.stdout == b"x" * OUTPUT_BYTES
    assert result.stdout_truncated and not result.stderr_truncated
    assert result.stdout_text().endswith(TRUNCATION_MARKER)
    assert result.stdout_sha256 == hashlib.sha256(result.stdout).hexdigest()
    assert result.wall_s < 1.5  # stopped after 64 KB, not after 1 GB


def test_endless_stderr_is_stopped_at_the_cap(mode: str, workdir: Path) -> None:
    spew = "import sys\nwhile True: sys.stderr.write('warning ' * 1000)"
    result = run(mode, workdir, [sys.executable, "-c", spew])
    assert (result.status, result.reason) == ("output", "stderr exceeded 64 KB; process stopped")
    assert len(result.stderr) == OUTPUT_BYTES and result.stderr_truncated and not result.stdout_truncated


def test_binary_garbage_on_stdout_is_kept_as_bytes(mode: str, workdir: Path) -> None:
    result = run_hostile(mode, workdir, "binary_garbage.py", "100")
    garbage = bytes(range(256)) * 100
    assert (result.status, result.exit_code) == ("ok", 0)
    assert result.stdout == garbage and not result.stdout_truncated
    assert result.stdout_sha256 == hashlib.sha256(garbage).hexdigest()
    assert "\ufffd" in result.stdout_text() and not result.stdout_text().endswith(TRUNCATION_MARKER)


def test_binary_garbage_beyond_the_cap_is_cut_at_the_cap(mode: str, workdir: Path) -> None:
    result = run_hostile(mode, workdir, "binary_garbage.py", "1000")
    assert result.status == "output"
    assert result.stdout == (bytes(range(256)) * 1000)[:OUTPUT_BYTES]
    assert result.stdout_sha256 == hashlib.sha256(result.stdout).hexdigest()


def test_segfault_is_a_crash(mode: str, workdir: Path) -> None:
    result = run_hostile(mode, workdir, "segfault.py")
    assert (result.status, result.reason, result.signal) == ("crashed", "killed by SIGSEGV", "SIGSEGV")
    assert result.exit_code is None


def test_exit_code_3_is_a_failure(mode: str, workdir: Path) -> None:
    result = run_hostile(mode, workdir, "exit_3.py")
    assert (result.status, result.reason, result.exit_code) == ("failed", "exit code 3", 3)
    assert result.stdout == b"leaving\n" and result.signal is None


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ("syntax_error.py", "SyntaxError"),
        ("not_utf8.py", "SyntaxError: Non-UTF-8 code"),
        ("missing_module.py", "ModuleNotFoundError"),
    ],
)
def test_python_errors_are_failures_that_name_the_error(
    mode: str, workdir: Path, script: str, error: str,
) -> None:
    result = run_hostile(mode, workdir, script)
    assert (result.status, result.exit_code) == ("failed", 1)
    assert result.reason.startswith("exit code 1: ") and error in result.reason
    assert error in result.stderr_text()


def survivors(marker: str) -> list[int]:
    """PIDs of live processes whose command line holds `marker` (after a grace for SIGKILL)."""
    deadline = time.monotonic() + 2.0
    while True:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():  # empty for zombies
                    found.append(int(pid))
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_children_left_behind_do_not_survive_the_call(mode: str, workdir: Path) -> None:
    marker = f"sandbox-survivor-{uuid.uuid4().hex}"
    result = run_hostile(mode, workdir, "spawn_children.py", "50", "leave", marker)  # under PROCESS_LIMIT
    assert (result.status, result.stdout) == ("ok", b"spawned 50\n")
    assert survivors(marker) == []


def test_children_of_a_program_that_times_out_do_not_survive(mode: str, workdir: Path) -> None:
    marker = f"sandbox-survivor-{uuid.uuid4().hex}"
    result = run_hostile(mode, workdir, "spawn_children.py", "50", "stay", marker)
    assert result.status == "timeout"
    assert survivors(marker) == []


def test_child_in_a_session_of_its_own(mode: str, workdir: Path) -> None:
    marker = f"sandbox-survivor-{uuid.uuid4().hex}"
    result = run_hostile(mode, workdir, "escape_session.py", marker)
    escaped = survivors(marker)
    for pid in escaped:
        os.kill(pid, signal.SIGKILL)
    assert result.status == "ok"
    if mode == "bwrap":
        assert escaped == []
    else:  # not prevented without bwrap: it left our process group
        assert len(escaped) == 1


def test_writes_outside_the_working_directory(mode: str, workdir: Path) -> None:
    name = f"diary-escape-{uuid.uuid4().hex}"
    outside = [Path("/tmp") / name, Path("/var/tmp") / name]
    inside, kept = workdir / "inside.txt", workdir / "kept.txt"
    try:
        result = run_hostile(mode, workdir, "write_outside.py", *map(str, [*outside, inside, kept]),
                             outputs=["kept.txt"])
        lines = result.stdout_text().splitlines()
        assert result.status == "ok" and lines[-2:] == [f"{inside} written", f"{kept} written"]
        assert kept.read_text() == "escaped\n"
        if mode == "bwrap":
            # /tmp is a private tmpfs (the write lands there and vanishes); /var is not there at all;
            # the working directory is a copy: only the named output comes back.
            assert lines[1].startswith(f"{outside[1]} FileNotFoundError")
            assert not any(path.exists() for path in outside)
            assert not inside.exists()
        else:  # not prevented without bwrap
            assert all(path.exists() for path in outside)
            assert inside.read_text() == "escaped\n"
    finally:
        for path in outside:
            path.unlink(missing_ok=True)


def test_network(mode: str, workdir: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        result = run_hostile(mode, workdir, "network.py", str(port), timeout=5.0)
    outcomes = dict(line.split(" ", 1) for line in result.stdout_text().splitlines())
    assert result.status == "ok" and set(outcomes) == {"host-loopback", "internet", "dns"}
    if mode == "bwrap":
        assert "connected" not in outcomes.values()
    else:  # not prevented without bwrap; whether the internet answers depends on the machine
        assert outcomes["host-loopback"] == "connected"


def test_secret_in_our_environment_is_not_visible(
    mode: str, workdir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "secret-123")
    result = run_hostile(mode, workdir, "read_token.py")
    assert (result.status, result.stdout) == ("ok", b"None\n")
    assert b"secret-123" not in result.stdout + result.stderr


def test_secret_in_our_process_environ_file(
    mode: str, workdir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # os.environ changes reach /proc/<pid>/environ only for processes started afterwards: a child
    # started with the secret stands in for a parent that had it from the start.
    monkeypatch.setenv("GITHUB_TOKEN", "secret-123")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        result = run_hostile(mode, workdir, "read_parent_environ.py")
    finally:
        holder.kill()
        holder.wait()
    assert result.status == "ok"
    if mode == "bwrap":  # a PID namespace of its own: no other process to read
        assert b"secret-123" not in result.stdout
    else:  # not prevented without bwrap
        assert f"{holder.pid} GITHUB_TOKEN=secret-123" in result.stdout_text()


def test_home_directory_is_hidden(mode: str, workdir: Path) -> None:
    secret = Path.home() / f".diary-test-secret-{uuid.uuid4().hex}"
    secret.write_text("secret-456")
    try:
        result = run_hostile(mode, workdir, "read_file.py", str(secret))
    finally:
        secret.unlink()
    assert result.status == "ok"
    if mode == "bwrap":
        assert result.stdout_text().startswith("FileNotFoundError")
    else:  # not prevented without bwrap
        assert result.stdout_text() == "secret-456\n"


def test_readable_paths_stay_readable_under_bwrap(mode: str, workdir: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"  # under /tmp, hidden by bwrap unless named in `readable`
    shared.mkdir()
    (shared / "data.txt").write_text("shared data")
    read = [sys.executable, "-c", f"print(open({str(shared / 'data.txt')!r}).read())"]
    assert run(mode, workdir, read, readable=[shared]).stdout == b"shared data\n"
    write = [sys.executable, "-c", f"open({str(shared / 'new.txt')!r}, 'w')"]
    assert run(mode, workdir, write, readable=[shared]).status == ("failed" if mode == "bwrap" else "ok")


def test_program_is_not_root_inside_bwrap(workdir: Path) -> None:
    if not BWRAP.exists():
        pytest.skip(f"bubblewrap is not installed at {BWRAP}")
    check = "import os; print(os.getuid(), open('/proc/self/status').read().split('CapEff:')[1].split()[0])"
    result = run("bwrap", workdir, [sys.executable, "-c", check])
    # As root a uid of its own (no user namespace, which would map it to root outside), drawn for
    # this run: two runs, even of two diary processes, do not share one (nor its RLIMIT_NPROC).
    uid, capabilities = result.stdout.decode().split()
    assert capabilities == "0000000000000000"
    if os.geteuid() == 0:
        assert bwrap.RUN_UID_BASE <= int(uid) < bwrap.RUN_UID_BASE + bwrap.RUN_UID_SPAN
        again = run("bwrap", workdir, [sys.executable, "-c", check]).stdout.decode().split()[0]
        assert again != uid
    else:
        assert int(uid) == bwrap.NOBODY_ID


NORMAL_PROGRAM = """
import sys, time
block = bytearray(60 * 2**20)
for page in range(0, len(block), 4096):
    block[page] = 1  # make every page resident
while time.process_time() < 0.3:
    pass
print("hello")
print("to stderr", file=sys.stderr)
"""


def test_normal_program_figures(mode: str, workdir: Path) -> None:
    result = run(mode, workdir, [sys.executable, "-c", NORMAL_PROGRAM])
    assert (result.status, result.reason, result.exit_code, result.signal) == ("ok", "", 0, None)
    assert (result.stdout, result.stderr) == (b"hello\n", b"to stderr\n")
    assert result.stdout_sha256 == hashlib.sha256(b"hello\n").hexdigest()
    assert 0.3 <= result.cpu_s < 1.0
    assert result.wall_s >= result.cpu_s * 0.9
    assert 60 <= result.peak_mb < MEMORY_MB


def test_environment_is_clean(mode: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-789")
    dump = [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"]
    result = run(mode, workdir, dump)
    assert json.loads(result.stdout) == clean_environment(workdir)
    extra = run(mode, workdir, dump, env=clean_environment(workdir, {"DIARY_SNAPSHOT": "s"}))
    assert json.loads(extra.stdout)["DIARY_SNAPSHOT"] == "s"


def test_clean_environment_holds_nothing_of_ours(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "secret-123")
    environment = clean_environment(tmp_path)
    assert "GITHUB_TOKEN" not in environment
    assert environment["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert environment["HOME"] == environment["TMPDIR"] == str(tmp_path)
    assert environment["PYTHONHASHSEED"] == "0" and environment["LC_ALL"] == "C.UTF-8"


def test_parallel_runs_keep_their_own_figures(mode: str, tmp_path: Path) -> None:
    burn = "import sys, time\nwhile time.process_time() < float(sys.argv[1]): pass\nprint('run', sys.argv[2])"
    seconds = [0.1, 0.2, 0.3, 0.4]
    results: dict[int, RunResult] = {}

    def one(index: int) -> None:
        work = tmp_path / f"work{index}"
        work.mkdir()
        argv = [sys.executable, "-c", burn, str(seconds[index]), str(index)]
        results[index] = run_sandboxed(argv, workdir=work, timeout=10, memory_mb=MEMORY_MB,
                                       output_bytes=OUTPUT_BYTES, mode=mode)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(len(seconds))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, burned in enumerate(seconds):
        assert results[index].stdout == f"run {index}\n".encode()
        assert burned <= results[index].cpu_s < burned + 0.3


def test_program_that_cannot_start_is_an_error(mode: str, workdir: Path) -> None:
    missing = run(mode, workdir, ["no-such-program", "x"])
    assert (missing.status, missing.reason) == ("error", "cannot start 'no-such-program': no such program")
    (workdir / "data.txt").write_text("not a program")
    assert run(mode, workdir, ["./data.txt"]).status == "error"
    (workdir / "no-shebang").write_text("echo hi\n")
    (workdir / "no-shebang").chmod(0o755)
    unknown_format = run(mode, workdir, ["./no-shebang"])
    assert unknown_format.status == "error" and unknown_format.reason.endswith("Exec format error")
    assert run(mode, workdir, []).status == "error"


def test_truncation_marker_only_when_truncated() -> None:
    result = RunResult(
        status="output", reason="stderr exceeded 4 bytes; process stopped", exit_code=None,
        signal="SIGKILL", wall_s=0.1, cpu_s=0.1, peak_mb=1.0, stdout=b"ok\xff", stderr=b"abcd",
        stdout_truncated=False, stderr_truncated=True, stdout_sha256="", sandbox="none",
    )
    assert result.stdout_text() == "ok\ufffd"
    assert result.stderr_text() == "abcd" + TRUNCATION_MARKER


def test_sandbox_mode_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sandbox_mode("none") == "none"
    with pytest.raises(DiaryError, match="unknown sandbox mode"):
        sandbox_mode("docker")
    monkeypatch.setattr(sandbox.shutil, "which", lambda name, **_: None)
    sandbox._bwrap_problem.cache_clear()
    try:
        assert sandbox_mode("auto") == "none"
        assert sandbox.sandbox_notice() == (
            "sandbox off: bwrap not found; snapshots run without file-system and network isolation"
        )
        with pytest.raises(sandbox.ToolError, match="bwrap sandbox was requested, but bwrap not found"):
            sandbox_mode("bwrap")  # exit 3: the machine, not the input
    finally:
        sandbox._bwrap_problem.cache_clear()


def test_bwrap_is_used_when_it_works() -> None:
    if not BWRAP.exists():
        pytest.skip(f"bubblewrap is not installed at {BWRAP}")
    assert sandbox_mode("auto") == sandbox_mode("bwrap") == "bwrap"


ROOT = os.geteuid() == 0
CHECKOUT_FILE = REPO / "pyproject.toml"  # this very checkout


def test_process_count_is_capped_as_root(mode: str, workdir: Path) -> None:
    result = run_hostile(mode, workdir, "spawn_children.py", "200", "leave", f"cap-{uuid.uuid4().hex}")
    if mode == "bwrap" and ROOT:  # a uid of its own: RLIMIT_NPROC counts this run only
        assert result.status == "failed" and "BlockingIOError" in result.reason
    else:  # not capped: see note (4) of the table
        assert (result.status, result.stdout) == ("ok", b"spawned 200\n")


FILL = """
import os, sys
for folder in sys.argv[1:]:
    written = 0
    try:
        while written < 400 * 2**20:
            with open(os.path.join(folder, f"fill-{written}"), "wb") as handle:
                handle.write(b"x" * 2**23)
            written += 2**23
    except OSError as error:
        pass
    print(folder, written // 2**20)
    for name in os.listdir(folder):
        if name.startswith("fill-"):
            os.unlink(os.path.join(folder, name))
"""


def test_disk_writes_are_capped(mode: str, workdir: Path) -> None:
    if mode == "none":  # only each file is capped (RLIMIT_FSIZE); writing 1.2 GB to the host proves nothing
        big = f"with open('big', 'wb') as big: big.write(b'x' * ({supervise.FILE_SIZE_LIMIT_BYTES} + 1))"
        result = run(mode, workdir, [sys.executable, "-c", big], memory_mb=1024)
        assert result.status == "failed" and "File too large" in result.reason
        return
    result = run(mode, workdir, [sys.executable, "-c", FILL, "/tmp", "/dev/shm", str(workdir)],
                 timeout=20.0, memory_mb=1024)
    written = dict(line.split() for line in result.stdout_text().splitlines())
    scratch, work = bwrap.SCRATCH_LIMIT_BYTES // 2**20, bwrap.WORKDIR_LIMIT_BYTES // 2**20
    assert int(written["/tmp"]) <= scratch and int(written["/dev/shm"]) <= scratch
    assert int(written[str(workdir)]) <= work
    assert list(workdir.iterdir()) == []  # nothing reached the host


READ_EACH = """
import os, sys
for path in sys.argv[1:]:
    try:
        print(os.listdir(path) if os.path.isdir(path) else open(path).readline().strip())
    except OSError as error:
        print(type(error).__name__)
"""


def test_root_only_files_and_other_checkouts(mode: str, workdir: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    private = shared / "private.txt"
    private.write_text("root only")
    private.chmod(0o600)
    other = tmp_path / "other-checkout/.git/config"  # world-readable, next to the working directory
    other.parent.mkdir(parents=True)
    other.write_text("token = other-secret")
    paths = ["/etc/shadow", str(private), str(CHECKOUT_FILE), "/root", "/home", "/run", "/var", str(other)]
    result = run(mode, workdir, [sys.executable, "-c", READ_EACH, *paths], readable=[shared])
    seen = dict(zip(paths, result.stdout_text().splitlines(), strict=True))
    if mode == "bwrap":
        assert seen["/etc/shadow"].startswith("FileNotFoundError")  # not mounted
        assert seen[str(CHECKOUT_FILE)].startswith("FileNotFoundError")
        assert seen[str(other)].startswith("FileNotFoundError")
        # /root holds at most the folders above a bound interpreter (pyenv): never .ssh or a history.
        assert seen["/root"].startswith(("FileNotFoundError", "[")) and ".ssh" not in seen["/root"]
        for folder in ("/home", "/run", "/var"):
            assert seen[folder].startswith("FileNotFoundError")
        if ROOT or os.geteuid() != private.stat().st_uid:
            assert seen[str(private)].startswith("PermissionError")
    else:  # not prevented without bwrap
        assert seen[str(other)] == "token = other-secret"
    if mode == "none" and ROOT:
        assert seen["/etc/shadow"].startswith("root:")
        assert seen[str(private)] == "root only"


def test_a_failing_sandbox_is_infrastructure_not_a_verdict(
    mode: str, workdir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A program that pretends to be bwrap failing is judged as a program.
    fake = run(mode, workdir, [sys.executable, "-c", "import sys; sys.exit('bwrap: Can\\'t mount proc')"])
    assert fake.status == "failed"
    if mode == "bwrap":  # a real bwrap that cannot set the sandbox up
        monkeypatch.setattr(bwrap, "SCRATCH_LIMIT_BYTES", -1)
    else:  # fault injection: the machine cannot fork (EAGAIN)
        def no_fork(*args: object, **kwargs: object) -> None:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        monkeypatch.setattr(sandbox.subprocess, "Popen", no_fork)
    broken = run(mode, workdir, [sys.executable, "-c", "print('never')"])
    assert broken.status == sandbox.INFRASTRUCTURE and broken.stdout == b""
    with pytest.raises(sandbox.ToolError) as caught:
        sandbox.raise_for_infrastructure(broken, "snapshot 01")
    assert caught.value.exit_code == 3 and "snapshot 01 was not measured" in str(caught.value)


def test_limits_notice_says_what_bounds_a_run() -> None:
    notice = sandbox.sandbox_notice("bwrap")
    assert notice is not None and "no cgroups" in notice
    assert (f"{supervise.PROCESS_LIMIT} processes" in notice) == ROOT


def test_reliability_table_is_the_modules_and_names_a_test_per_line() -> None:
    readme = (REPO / "docs/reliability.md").read_text()
    section = readme[readme.index("## The sandbox"):].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    module_rows = [line for line in sandbox.__doc__.splitlines() if line.startswith("| ") and "---" not in line][1:]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in rows]
    assert [row[:3] for row in cells] == [
        [cell.strip() for cell in line.strip("|").split("|")] for line in module_rows]
    for row in cells:
        names = [name.strip(" `") for name in row[3].split(",")]
        assert names and all(callable(globals().get(name)) for name in names), row


def test_no_sandbox_outlives_the_tool_killed_by_sigkill(tmp_path: Path) -> None:
    """The tool itself dies (SIGKILL, no clean-up runs): bwrap and everything in its namespace die
    with it (PR_SET_PDEATHSIG on bwrap, --die-with-parent below it), nothing sleeps on."""
    if sandbox_mode("auto") != "bwrap":
        pytest.skip("bwrap does not work here")
    marker = f"sandbox-orphan-{uuid.uuid4().hex}"
    tool = (
        "import sys\nfrom pathlib import Path\n"
        "from diary.measure.sandbox.run import clean_environment, run_sandboxed\n"
        "work = Path(sys.argv[1])\n"
        "run_sandboxed([sys.executable, '-c', 'import time; time.sleep(120)', sys.argv[2]], workdir=work,\n"
        "              timeout=300, memory_mb=512, output_bytes=4096, env=clean_environment(work), mode='bwrap')\n"
    )
    started = subprocess.Popen([sys.executable, "-c", tool, str(tmp_path), marker],
                               env={**os.environ, "PYTHONPATH": str(REPO / "tools")})
    try:
        sleeping = f"import time; time.sleep(120)\0{marker}".encode()
        deadline = time.monotonic() + 60
        while not _cmdline_exists(sleeping) and time.monotonic() < deadline:  # the program under the init
            time.sleep(0.1)
        assert _cmdline_exists(sleeping), "the sandbox never started"
        time.sleep(1.0)  # the init waits for the program by now
    finally:
        started.kill()
        started.wait()
    assert survivors(marker) == []


def _cmdline_exists(tail: bytes) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().endswith(tail + b"\0"):
                return True
        except OSError:
            continue
    return False
