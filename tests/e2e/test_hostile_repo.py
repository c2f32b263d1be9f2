"""A hostile repository, as a pull request would bring it: the build refuses it, hurts nothing, leaks nothing.

Each case starts from a copy of a tiny diary measured once (tests/diarykit.py), plants one attack,
and runs the CLI the way a user does, with secrets in the environment (GITHUB_TOKEN,
AWS_SECRET_ACCESS_KEY, NPM_TOKEN). What holds in every case:

- bad input: exit 2 and one line `file: error: what (what to do)` naming the file, no traceback;
- a machine that cannot write (read-only checkout, full disk): exit 3, one line;
- a sandbox that fails: exit 3, and nothing is recorded or cached as a verdict;
- no secret in any file of the diary (links are never followed when looking), nor in the output;
- nothing outside the repository is read into it, written or deleted (a decoy "home" folder with
  an `.ssh` key stays byte-for-byte the same; a link's target is never truncated).

Attacks (files not built here are in tests/fixtures/hostile_repo/), each with its test:

- snapshot file -> /etc/passwd, /proc/self/environ, a private file, .git/config:
  test_linked_snapshot_file_is_refused
- snapshot folder that is a link, `code/snapshots` that is a link: test_linked_snapshot_folder_is_refused
- data file that is a link: test_linked_data_file_is_refused
- snapshot.yml, a record or code/diary.yml that is a link: test_linked_metadata_config_or_record_is_refused
- FIFO, character device, huge file, too many files: test_special_and_huge_files_are_refused,
  with the limits set in code/diary.yml: test_limits_are_settings_of_diary_yml
- non-UTF-8 name, a 200-character name, control codes, HTML or a shortcode in a name:
  test_unusable_file_names_are_refused
- `<plaintext>`, `{{<` or a quote in a snapshot id: test_markup_in_a_snapshot_id_is_refused
- committed `.diary.lock` link: test_linked_lock_file_is_never_truncated
- committed `_generated`, `snapshots/raw`, `_data/records` link to a home folder:
  test_linked_output_folder_is_never_written_or_emptied; a `_site` link: test_linked_site_folder_is_never_rendered_into
- `output-dir:` in `_quarto.yml` pointing at a home folder: test_output_dir_outside_the_repository_is_refused
- billion-laughs aliases in a record: test_billion_laughs_record
- 1,000-link attribute chain, with an innocent sibling: test_long_attribute_chain_is_counted
- `$` in a snapshot id (matplotlib mathtext): test_dollar_in_snapshot_id
- a chain of 1,100 snapshots: test_long_chain_of_snapshots
- read-only checkout, full disk: test_read_only_checkout, test_full_disk
- `--root /nonexistent`, `--jobs -1`, `preview --port 99999`: test_bad_command_lines
- run from a subfolder: test_run_from_a_subfolder
- terminal control codes in names and messages: test_terminal_control_codes_are_stripped
- the sandbox fails while measuring (bwrap breaks after its probe): test_sandbox_failure_is_not_a_verdict
- a snapshot's `page.html`, `logo.svg`, `app.js`, `notes.md`, `_metadata.yml` published as raw files:
  test_raw_downloads_are_published_as_text
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from diary.core import safefs
from diary.core.escape import for_terminal
from diarykit import FIXTURES_DIR, REPO, make_diary, snapshot_meta, write

# Every attack runs the real CLI against a copy of a diary, in both sandbox modes: end to end, so slow.
pytestmark = pytest.mark.slow

SECRETS = {
    "GITHUB_TOKEN": "ghp_diarysecret0123456789",
    "AWS_SECRET_ACCESS_KEY": "aws-diary-secret-abcdef",
    "NPM_TOKEN": "npm_diary_secret_42",
}
BWRAP = Path("/usr/bin/bwrap")
ROOT = os.geteuid() == 0


SANDBOXED_COMMANDS = ("measure", "refresh", "build", "preview", "check")


def requires_bwrap(root: Path) -> bool:
    """The diaries of the bwrap mode require it in code/diary.yml; the others are run with --sandbox none."""
    config = root / "code/diary.yml"
    return config.is_file() and "sandbox: bwrap" in config.read_text()


def diary(root: Path | str, *args: str, cwd: Path | None = None, extra_env: dict | None = None,
          use_root: bool = True, prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    """The CLI in a fresh interpreter, secrets planted in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}
    env.update(SECRETS, PYTHONPATH=str(REPO / "tools"), **(extra_env or {}))
    if args and args[0] in SANDBOXED_COMMANDS and not requires_bwrap(Path(root)):
        args = (args[0], "--sandbox", "none", *args[1:])  # the builder's choice: the repository cannot make it
    command = [*(prefix or []), sys.executable, "-m", "diary", *(["--root", str(root)] if use_root else []), *args]
    folder = Path(root)
    planted = secret_files(folder) if folder.is_dir() else set()  # a test may plant one (.git/config)
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=cwd)
    # Every command of every test: no secret in anything it printed or wrote.
    if folder.is_dir():
        assert secret_files(folder) <= planted, f"a secret leaked into {secret_files(folder) - planted}"
    for secret in SECRETS.values():
        assert secret not in done.stdout + done.stderr
    return done


def secret_files(root: Path) -> set[str]:
    return {name for name, data in files_without_links(root).items()
            if any(secret.encode() in data for secret in SECRETS.values())}


def files_without_links(root: Path) -> dict[str, bytes]:
    """Every regular file under `root` but the lock (it names its holder), reached without following a link."""
    found = {}
    for folder, _, files in os.walk(root):  # os.walk never descends into linked folders
        for name in files:
            path = Path(folder) / name
            if name != ".diary.lock" and stat.S_ISREG(os.lstat(path).st_mode):
                found[str(path.relative_to(root))] = path.read_bytes()
    return found


def assert_no_secret(root: Path, done: subprocess.CompletedProcess) -> None:
    for name, data in files_without_links(root).items():
        for secret in SECRETS.values():
            assert secret.encode() not in data, f"{secret} leaked into {name}"
    for secret in SECRETS.values():
        assert secret not in done.stdout + done.stderr


def assert_check_finds(done: subprocess.CompletedProcess, names: str) -> None:
    """`diary check` lists problems (exit 1), one line each, and a count; never a traceback."""
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert names in done.stderr + done.stdout and "problem(s)" in done.stderr + done.stdout


def assert_refused(done: subprocess.CompletedProcess, names: str, code: int = 2) -> str:
    """Exit `code` with one error line that names `names`; returns that line."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    assert len(lines) == 1 and ": error: " in lines[0] and names in lines[0], done.stderr
    assert "\x1b" not in done.stderr
    return lines[0]


@pytest.fixture(scope="module", params=["bwrap", "none"])
def measured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny diary measured and generated once per sandbox mode: the starting point of each attack."""
    if request.param == "bwrap" and not BWRAP.exists():
        pytest.skip(f"bubblewrap is not installed at {BWRAP}")
    root = make_diary(tmp_path_factory.mktemp(f"base-{request.param}") / "diary")
    config = root / "code/diary.yml"
    if request.param == "bwrap":
        config.write_text(config.read_text() + "sandbox: bwrap\n")
    for command in ("measure", "generate"):
        done = diary(root, command)
        assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def repo(measured: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "diary"
    shutil.copytree(measured, copy, symlinks=True)
    return copy


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A decoy home folder outside the repository, with a key."""
    folder = tmp_path / "home"
    write(folder / ".ssh/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY----- decoy\n")
    write(folder / "notes.md", "my notes\n")
    write(folder / ".x.tmp", "looks like a leftover temporary file\n")
    return folder


def snapshot(root: Path, snap_id: str, parent: str = "00-base", expect: str = "ok") -> Path:
    folder = root / "code/snapshots" / snap_id
    write(folder / "snapshot.yml", snapshot_meta(snap_id, parent, expect))
    shutil.copy(root / "code/snapshots/00-base/prog.py", folder / "prog.py")
    return folder


@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/environ", "private", ".git/config"])
def test_linked_snapshot_file_is_refused(repo: Path, home: Path, target: str) -> None:
    if target == "private":
        target = str(home / ".ssh/id_ed25519")
    elif target == ".git/config":
        write(repo / ".git/config", f"[remote]\n  token = {SECRETS['GITHUB_TOKEN']}\n")
        target = str(repo / ".git/config")
    folder = snapshot(repo, "03-link")
    (folder / "extra.txt").symlink_to(target)
    before = files_without_links(repo)
    for command in ("measure", "generate", "check"):
        done = diary(repo, command)
        if command == "check":
            assert_check_finds(done, "code/snapshots/03-link/extra.txt: is a symbolic link")
        else:
            assert_refused(done, "code/snapshots/03-link/extra.txt: error: is a symbolic link")
        if target.endswith(".git/config"):  # planted by the attacker: only check the rest
            assert files_without_links(repo) == before
        else:
            assert_no_secret(repo, done)
            assert files_without_links(repo) == before  # nothing written


def test_linked_snapshot_folder_is_refused(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(repo / "code/snapshots/02-short", elsewhere)
    (repo / "code/snapshots/03-linked").symlink_to(elsewhere)
    done = diary(repo, "measure")
    assert_refused(done, "code/snapshots/03-linked: error: is a symbolic link, not a folder")
    shutil.rmtree(repo / "code/snapshots/03-linked", ignore_errors=True)
    (repo / "code/snapshots/03-linked").unlink()
    real = repo / "code/snapshots"
    moved = tmp_path / "snapshots-elsewhere"
    real.rename(moved)
    real.symlink_to(moved)
    assert_refused(diary(repo, "generate"), "code/snapshots: error: is a symbolic link, not a folder")


def test_linked_data_file_is_refused(repo: Path) -> None:
    data = repo / "code/data/names.txt"
    data.unlink()
    data.symlink_to("/proc/self/environ")
    done = diary(repo, "measure", "--force")
    assert_refused(done, "code/data/names.txt: error: is a symbolic link")
    assert_no_secret(repo, done)


@pytest.mark.parametrize("kind", ["fifo", "device", "huge", "many"])
def test_special_and_huge_files_are_refused(repo: Path, kind: str) -> None:
    folder = snapshot(repo, "03-special")
    if kind == "fifo":
        os.mkfifo(folder / "pipe")
        expected = "03-special/pipe: error: is a FIFO"
    elif kind == "device":
        if not ROOT:
            pytest.skip("only root can make a device node")
        os.mknod(folder / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        expected = "03-special/null: error: is a character device"
    elif kind == "huge":
        with open(folder / "big.bin", "wb") as handle:  # sparse: no disk used
            handle.truncate(safefs.MAX_FILE_BYTES + 1)
        expected = f"03-special/big.bin: error: the file is {safefs.MAX_FILE_BYTES + 1:,} bytes"
    else:
        for index in range(safefs.MAX_FILES + 1):
            (folder / f"f{index}.txt").write_text("x")
        expected = f"03-special: error: more than {safefs.MAX_FILES} files"
    for command in ("measure", "generate"):
        assert_refused(diary(repo, command, "--quiet") if command == "generate" else diary(repo, command),
                       expected)


@pytest.mark.parametrize("name", [
    b"caf\xe9.py", b"x" * 200 + b".py", b"bell\x07\x1b[2J.txt",
    b"x)<img src=x onerror=alert(document.domain)>(.txt", b"y >}}{{< env GITHUB_TOKEN >}}.txt",
])
def test_unusable_file_names_are_refused(repo: Path, name: bytes) -> None:
    folder = snapshot(repo, "03-names")
    with open(os.path.join(os.fsencode(folder), name), "wb") as handle:
        handle.write(b"print(1)\n")
    for command in ("measure", "generate"):
        line = assert_refused(diary(repo, command), "code/snapshots/03-names/")
        assert any(why in line for why in ("not UTF-8", "longer than", "control characters", "name holds "))
    assert not (repo / "snapshots/raw/03-names").exists()


@pytest.mark.parametrize("snap_id", ["<plaintext>", "a{{<b", "x\"onload=y"])
def test_markup_in_a_snapshot_id_is_refused(repo: Path, snap_id: str) -> None:
    folder = snapshot(repo, "03-id")
    (folder / "snapshot.yml").write_text(snapshot_meta(snap_id, "00-base").replace(f"id: {snap_id}",
                                                                                  f"id: '{snap_id}'"))
    assert_refused(diary(repo, "generate"), "is not a usable snapshot id")


def test_linked_lock_file_is_never_truncated(repo: Path, home: Path) -> None:
    victim = home / "notes.md"
    (repo / ".diary.lock").unlink(missing_ok=True)
    (repo / ".diary.lock").symlink_to(victim)
    for command in ("measure", "generate"):
        assert_refused(diary(repo, command), ".diary.lock: error: the lock file is a symbolic link")
    assert victim.read_text() == "my notes\n"


@pytest.mark.parametrize("folder", ["_generated", "snapshots/raw", "_data/records"])
def test_linked_output_folder_is_never_written_or_emptied(repo: Path, home: Path, folder: str) -> None:
    before = files_without_links(home)
    shutil.rmtree(repo / folder)
    (repo / folder).symlink_to(home)
    assert_refused(diary(repo, "generate"), f"{folder}: error: is a symbolic link, not a folder")
    measure = diary(repo, "measure")  # writes records only
    if folder == "_data/records":
        assert_refused(measure, f"{folder}: error: is a symbolic link, not a folder")
    else:
        assert measure.returncode == 0, measure.stderr
    check = diary(repo, "check")
    assert check.returncode in (1, 2) and "Traceback" not in check.stderr
    assert files_without_links(home) == before


FIXTURES = FIXTURES_DIR / "hostile_repo"


def test_billion_laughs_record(repo: Path) -> None:
    shutil.copy(FIXTURES / "billion_laughs.yml", repo / "_data/records/02-short.yml")
    for command in ("check", "generate", "measure"):
        done = diary(repo, command)  # a hang here would end in the 300 s timeout
        if command == "check":
            assert_check_finds(done, "_data/records/02-short.yml:")
        else:
            assert_refused(done, "_data/records/02-short.yml:")
        assert "aliases" in done.stderr
    assert diary(repo, "measure", "--force").returncode == 0  # --force overwrites the bad record


def test_long_attribute_chain_is_counted(repo: Path) -> None:
    folder = snapshot(repo, "03-chain")
    source = (folder / "prog.py").read_text()
    (folder / "prog.py").write_text(source + "\nclass A:\n    pass\n\n\na = A()\n" + "a" + ".b" * 1000 + " = 1\n")
    snapshot(repo, "04-sibling")
    done = diary(repo, "measure")
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    for snap_id in ("03-chain", "04-sibling"):
        assert (repo / f"_data/records/{snap_id}.yml").is_file()
    # What does not hold is announced once: no cgroups under bwrap, no isolation without it.
    announced = "sandbox: no cgroups" if "sandbox: bwrap" in (repo / "code/diary.yml").read_text() else "sandbox off"
    assert done.stderr.count(announced) == 1, done.stderr


def test_dollar_in_snapshot_id(repo: Path) -> None:
    # A `$` once crashed the chart (matplotlib read the id as mathtext). The id rule (contract.py)
    # now refuses it up front, and the chart still draws its labels as text (parse_math=False).
    folder = snapshot(repo, "03-cost")
    (folder / "snapshot.yml").write_text(snapshot_meta("03-$x$-$", "00-base"))
    assert_refused(diary(repo, "measure"), "is not a usable snapshot id")


def test_chart_labels_are_text_not_mathtext() -> None:
    from diary.site.chart import render_chart_svg

    points = [{"id": "03-$x$-$", "code": 3, "comment": 1, "broken": False, "best": 3}]
    assert b"03-$x$-$" in render_chart_svg(points, "0" * 64)


def test_long_chain_of_snapshots(tmp_path: Path) -> None:
    from diary.project.config import load_settings
    from diary.project.discover import discover_snapshots

    snapshots = {"s0000": ("print(1)\n", None, "ok")}
    snapshots.update({f"s{n:04d}": ("print(1)\n", f"s{n - 1:04d}", "ok") for n in range(1, 1100)})
    root = make_diary(tmp_path / "chain", snapshots)
    ordered = discover_snapshots(load_settings(root))
    assert [s.id for s in ordered] == sorted(snapshots)


def test_read_only_checkout(repo: Path) -> None:
    if not BWRAP.exists():
        pytest.skip("a read-only bind mount needs bwrap")
    read_only = ["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(repo), str(repo), "--"]
    nothing_to_do = diary(repo, "measure", prefix=read_only)
    assert nothing_to_do.returncode == 0, nothing_to_do.stderr  # everything cached: no write needed
    (repo / "_generated/_chart.md").unlink()  # stale now: generate must write
    assert_refused(diary(repo, "generate", prefix=read_only), "error: cannot write: the file system is read-only",
                   code=3)


def test_full_disk(repo: Path, tmp_path: Path) -> None:
    if not BWRAP.exists():
        pytest.skip("a small file system needs bwrap's tmpfs")
    script = (f"cp -a {repo} /mnt/full/diary && rm /mnt/full/diary/_generated/_chart.md"
              " && (cat /dev/zero > /mnt/full/filler 2>/dev/null; true) && exec \"$@\"")
    prefix = ["bwrap", "--dev-bind", "/", "/", "--size", str(8 * 2**20), "--tmpfs", "/mnt/full", "--",
              "sh", "-c", script, "sh"]
    done = diary("/mnt/full/diary", "generate", prefix=prefix)
    assert_refused(done, "error: cannot write: the disk is full", code=3)


def test_bad_command_lines(repo: Path) -> None:
    assert_refused(diary("/nonexistent", "measure"), "/nonexistent: error: not a diary")
    for args in (["measure", "--jobs", "-1"], ["preview", "--port", "99999", "--no-browser"]):
        done = diary(repo, *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines()[-1].endswith(("-1 is not between 1 and 256",
                                                              "99999 is not between 1 and 65535"))


def test_run_from_a_subfolder(repo: Path) -> None:
    done = diary(repo, "check", cwd=repo / "code/snapshots/00-base", use_root=False)
    # Records measured with --sandbox none are refused by the gate, from any folder.
    assert done.returncode == (0 if requires_bwrap(repo) else 1) and "Traceback" not in done.stderr, done.stderr


def test_terminal_control_codes_are_stripped(repo: Path) -> None:
    (repo / "code/snapshots/\x1b]52;c;aGk=\x07x\x1b[2J").mkdir()  # a folder with no snapshot.yml
    line = assert_refused(diary(repo, "measure"), "has no snapshot.yml")
    assert not any(ch in line for ch in "\x1b\x07")
    # A program that dies with escape codes as its last words: they reach the summary's reasons.
    folder = snapshot(repo, "03-escape")
    (repo / "code/snapshots/\x1b]52;c;aGk=\x07x\x1b[2J").rmdir()
    source = (folder / "prog.py").read_text()
    (folder / "prog.py").write_text(source + "    import sys\n    sys.exit('\\x1b]52;c;aGk=\\x07\\x1b[2Jboom')\n")
    done = diary(repo, "measure")
    assert done.returncode == 1 and "boom" in done.stdout, done.stdout + done.stderr
    assert not any(ch in done.stdout + done.stderr for ch in "\x1b\x07")
    sample = "a\x1b[31mred\x1b[0m \x1b]52;c;SGk=\x07 b\rc\x9b2J \u202eevil\tz\n"
    assert for_terminal(sample) == "a?red? ? b?c?2J ?evil\tz\n"


def test_sandbox_failure_is_not_a_verdict(repo: Path, tmp_path: Path) -> None:
    """bwrap works for the probe, then fails (as when /dev/null vanished on the builder)."""
    if not BWRAP.exists():
        pytest.skip(f"bubblewrap is not installed at {BWRAP}")
    config = repo / "code/diary.yml"
    if not requires_bwrap(repo):
        config.write_text(config.read_text() + "sandbox: bwrap\n")
    fake = tmp_path / "bin/bwrap"
    write(fake, f"#!/bin/sh\nif [ ! -e {tmp_path}/probed ]; then touch {tmp_path}/probed; exec {BWRAP} \"$@\"; fi\n"
                "echo \"bwrap: Can't create file at /dev/null: No such file or directory\" >&2\nexit 1\n")
    fake.chmod(0o755)
    snapshot(repo, "03-new")
    before = files_without_links(repo / "_data")
    path = f"{fake.parent}:{os.environ['PATH']}"
    done = diary(repo, "measure", extra_env={"PATH": path})
    line = assert_refused(done, "was not measured", code=3)
    assert "the sandbox did not start" in line
    assert files_without_links(repo / "_data") == before  # nothing recorded, nothing cached
    again = diary(repo, "measure")  # the machine is fixed: the snapshot is measured, not cached
    assert again.returncode == 0, again.stderr
    row = next(line for line in again.stdout.splitlines() if line.startswith("03-new "))
    assert row.split(None, 8)[8].startswith("measured")  # the note column: measured, not cached


ACTIVE_FILES = ["page.html", "logo.svg", "app.js", "notes.md", "_metadata.yml"]


def test_raw_downloads_are_published_as_text(repo: Path) -> None:
    folder = snapshot(repo, "03-raw", expect="broken")  # files that are not Python are hidden code (rules.py)
    for name in ACTIVE_FILES:
        (folder / name).write_text("<script>alert(document.domain)</script>{{< env GITHUB_TOKEN >}}\n")
    for command in ("measure", "generate"):
        done = diary(repo, command)
        assert done.returncode == 0, done.stderr
    raw = repo / "snapshots/raw/03-raw"
    # Beside the downloads, the diary's data files, so that a downloaded snapshot runs.
    assert sorted(path.name for path in raw.iterdir()) == sorted([*(f"{name}.txt" for name in ACTIVE_FILES), "prog.py",
                                                                  "data"])
    page = (repo / "snapshots/03-raw.qmd").read_text()
    for name in ACTIVE_FILES:
        assert f"raw/03-raw/{name}.txt)" in page and f"raw/03-raw/{name})" not in page


def test_limits_are_settings_of_diary_yml(repo: Path) -> None:
    config = repo / "code/diary.yml"
    config.write_text(config.read_text() + "max_file_kb: 1\nmax_files: 2\n")
    folder = snapshot(repo, "03-limits")
    (folder / "two.py").write_text("x = 1\n")
    (folder / "three.py").write_text("x = 1\n")
    assert_refused(diary(repo, "measure"), "03-limits: error: more than 2 files")
    (folder / "three.py").unlink()
    (folder / "two.py").write_text("# " + "x" * 2000 + "\n")
    assert_refused(diary(repo, "measure"), "03-limits/two.py: error: the file is 2,003 bytes, over the limit of 1,024")
    config.write_text(config.read_text().replace("max_files: 2", "max_files: -1"))
    assert_refused(diary(repo, "measure"), "'max_files': must be between 1 and 100000")


def test_linked_site_folder_is_never_rendered_into(repo: Path, home: Path) -> None:
    before = files_without_links(home)
    write(repo / "_quarto.yml", "project:\n  type: website\n")
    (repo / "_site").symlink_to(home)
    done = diary(repo, "build", "--engine", "smalldocs", "--quiet")
    assert_refused(done, "_site: error: is a symbolic link, not a folder")
    assert files_without_links(home) == before


def test_output_dir_outside_the_repository_is_refused(repo: Path, home: Path) -> None:
    before = files_without_links(home)
    write(repo / "_quarto.yml", f"project:\n  type: website\n  output-dir: {home}\n")
    done = diary(repo, "build", "--engine", "smalldocs", "--quiet")
    assert_refused(done, "_quarto.yml:1: error: project output-dir")
    assert files_without_links(home) == before


@pytest.mark.parametrize("linked", ["code/snapshots/02-short/snapshot.yml", "_data/records/02-short.yml",
                                    "code/diary.yml"])
def test_linked_metadata_config_or_record_is_refused(repo: Path, tmp_path: Path, linked: str) -> None:
    original = repo / linked
    elsewhere = tmp_path / "elsewhere.yml"
    elsewhere.write_bytes(original.read_bytes())  # even a valid file is not read through a link
    original.unlink()
    original.symlink_to(elsewhere)
    for command in ("measure", "generate"):
        assert_refused(diary(repo, command), f"{linked}: error: is a symbolic link")
