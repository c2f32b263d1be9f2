"""Stage "render": engine choice, the Quarto wrapper (against a stand-in quarto) and the smalldocs engine."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import time
from pathlib import Path

import pytest

from diary.core.errors import DiaryError
from diary.render.engine import Engine, choose_engine, engine_environment, preview_site, render_site
from diary.render.quarto_cli import find_quarto, quarto_command, quarto_version, render_page_command
from diarykit import FIXTURES_DIR

FAKE_QUARTO = FIXTURES_DIR / "fake_quarto" / "quarto"
# Read before the autouse fixture clears it, so the real-quarto test can still find a quarto given this way.
REAL_QUARTO_PATH = os.environ.get("QUARTO_PATH")
NO_QUARTO_REASON = (
    "quarto CLI not installed; CI's publish workflow installs it with quarto-dev/quarto-actions/setup"
)

TINY_SITE = {
    "_quarto.yml": "project:\n  type: website\nwebsite:\n  title: Tiny diary\n",
    "_variables.yml": "best_loss: 2.4681\n",
    "index.qmd": "---\ntitle: Home\n---\n\nWelcome to the tiny diary.\n",
    "loss.qmd": "---\ntitle: Loss\n---\n\nThe best loss so far is {{< var best_loss >}}.\n",
}


@pytest.fixture(autouse=True)
def no_quarto_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without QUARTO_PATH and the stand-in's switches, whatever the caller's shell sets."""
    for name in (
        "QUARTO_PATH",
        "FAKE_QUARTO_VERSION",
        "FAKE_QUARTO_EXIT",
        "FAKE_QUARTO_HANDSHAKE",
        "FAKE_QUARTO_PIDFILE",
    ):
        monkeypatch.delenv(name, raising=False)


def install_fake_quarto(directory: Path, name: str = "quarto") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    executable = directory / name
    shutil.copyfile(FAKE_QUARTO, executable)
    executable.chmod(executable.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return executable


@pytest.fixture
def fake_quarto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in quarto, first on PATH (the rest of PATH stays: the stand-in runs mkdir and sleep)."""
    executable = install_fake_quarto(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{executable.parent}{os.pathsep}{os.environ['PATH']}")
    return executable


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH on which no quarto can be found, not even a real one."""
    nothing = tmp_path / "empty-bin"
    nothing.mkdir()
    monkeypatch.setenv("PATH", str(nothing))


def fake_engine(executable: Path) -> Engine:
    return Engine("quarto", str(executable), "1.10.18", str(executable))


def write_tiny_site(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in TINY_SITE.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


# ---------------------------------------------------------------- argument building


def test_quarto_command_render() -> None:
    assert quarto_command("/opt/quarto", "render", Path("/site")) == ["/opt/quarto", "render", "/site"]


def test_quarto_command_render_quiet() -> None:
    command = quarto_command("quarto", "render", Path("/site"), quiet=True)
    assert command == ["quarto", "render", "/site", "--quiet"]


def test_quarto_command_preview_with_extra_arguments() -> None:
    command = quarto_command("quarto", "preview", Path("/site"), extra=["--no-browser", "--port", "4300"])
    assert command == ["quarto", "preview", "/site", "--no-browser", "--port", "4300"]


def test_quarto_command_refuses_other_actions() -> None:
    with pytest.raises(ValueError, match="publish"):
        quarto_command("quarto", "publish", Path("/site"))


# ---------------------------------------------------------------- finding quarto and its version


def test_find_quarto_on_path(fake_quarto: Path) -> None:
    assert find_quarto() == str(fake_quarto)


def test_find_quarto_prefers_quarto_path(
    fake_quarto: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = install_fake_quarto(tmp_path / "opt" / "quarto" / "bin", name="quarto-1.6")
    monkeypatch.setenv("QUARTO_PATH", str(elsewhere))
    assert find_quarto() == str(elsewhere)


def test_find_quarto_finds_nothing(empty_path: None) -> None:
    assert find_quarto() is None


def test_find_quarto_reports_a_dangling_quarto_path(
    fake_quarto: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUARTO_PATH", str(tmp_path / "no-such-quarto"))
    with pytest.raises(DiaryError, match="QUARTO_PATH") as caught:
        find_quarto()
    assert "unset" in caught.value.hint


def test_quarto_version_parses(fake_quarto: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_QUARTO_VERSION", "1.10.18")
    assert quarto_version(str(fake_quarto)) == (1, 10, 18)
    monkeypatch.setenv("FAKE_QUARTO_VERSION", "1.4")
    assert quarto_version(str(fake_quarto)) == (1, 4, 0)


def test_quarto_version_rejects_garbage(fake_quarto: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_QUARTO_VERSION", "not a version")
    with pytest.raises(DiaryError, match="not a version"):
        quarto_version(str(fake_quarto))


def test_quarto_version_reports_a_failing_quarto(fake_quarto: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_QUARTO_EXIT", "3")
    with pytest.raises(DiaryError, match="exit code 3"):
        quarto_version(str(fake_quarto))


# ---------------------------------------------------------------- choosing the engine


def test_auto_picks_a_recent_quarto(fake_quarto: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_QUARTO_VERSION", "1.10.18")
    engine = choose_engine("auto")
    assert (engine.name, engine.executable, engine.version) == ("quarto", str(fake_quarto), "1.10.18")


def test_auto_picks_smalldocs_without_quarto(empty_path: None) -> None:
    engine = choose_engine("auto")
    assert (engine.name, engine.executable) == ("smalldocs", None)
    assert engine.label().endswith("(embedded engine; quarto not found)")


def test_auto_passes_over_an_old_quarto(fake_quarto: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_QUARTO_VERSION", "1.9.30")
    engine = choose_engine("auto")
    assert engine.name == "smalldocs"
    assert "quarto 1.9.30" in engine.note and "older than 1.10.0" in engine.note


def test_requested_quarto_too_old_is_an_error(fake_quarto: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_QUARTO_VERSION", "1.9.30")
    with pytest.raises(DiaryError, match=r"1\.9\.30 .* older than 1\.10\.0") as caught:
        choose_engine("quarto")
    assert "https://quarto.org/docs/get-started/" in caught.value.hint


def test_requested_quarto_with_garbage_version_is_an_error(
    fake_quarto: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_QUARTO_VERSION", "quarto, version unknown")
    with pytest.raises(DiaryError, match="not a version"):
        choose_engine("quarto")


def test_requested_quarto_absent_is_an_error(empty_path: None) -> None:
    with pytest.raises(DiaryError, match="not installed") as caught:
        choose_engine("quarto")
    assert caught.value.exit_code == 2
    assert "https://quarto.org/docs/get-started/" in caught.value.hint
    assert "--engine smalldocs" in caught.value.hint


def test_requested_smalldocs_ignores_quarto(fake_quarto: Path) -> None:
    assert choose_engine("smalldocs").name == "smalldocs"


def test_unknown_engine_is_an_error() -> None:
    with pytest.raises(DiaryError, match="unknown engine 'pandoc'") as caught:
        choose_engine("pandoc")
    assert caught.value.hint == "use auto, quarto or smalldocs"


# ---------------------------------------------------------------- rendering with the stand-in quarto


def test_render_streams_output_in_order(fake_quarto: Path, tmp_path: Path) -> None:
    root = write_tiny_site(tmp_path / "site")
    lines: list[str] = []
    result = render_site(root, fake_engine(fake_quarto), echo=lines.append)
    assert lines == [
        f"rendering with quarto 1.10.18 ({fake_quarto})",
        f"args: render {root}",
        "[1/2] index.qmd",
        "WARN: a warning on stderr",
        "[2/2] page.qmd",
        "Output created: _site/index.html",
    ]
    assert (result.engine, result.version, result.output_dir) == ("quarto", "1.10.18", root / "_site")
    assert result.warnings == ["WARN: a warning on stderr"]
    assert (root / "_site" / "index.html").is_file()


def test_render_quiet_passes_quiet_and_skips_the_banner(fake_quarto: Path, tmp_path: Path) -> None:
    root = write_tiny_site(tmp_path / "site")
    lines: list[str] = []
    render_site(root, fake_engine(fake_quarto), quiet=True, echo=lines.append)
    assert lines[0] == f"args: render {root} --quiet"


@pytest.mark.parametrize(("page", "target"), [
    ("posts/day-1/index.qmd", "posts/day-1/index.qmd"),
    ("-x.qmd", "./-x.qmd"),  # a page named like an option stays the input
    ("my page.qmd", "my page.qmd"),
])
def test_a_page_is_rendered_as_the_one_input_of_quarto_render(page: str, target: str) -> None:
    """Quarto's CLI takes one input and hands further arguments to Pandoc: a page command has one."""
    assert render_page_command("quarto", page) == ["quarto", "render", target]
    assert render_page_command("quarto", page, quiet=True) == ["quarto", "render", target, "--quiet"]


def test_render_hands_lines_on_while_quarto_runs(
    fake_quarto: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tiny_site(tmp_path / "site")
    handshake = tmp_path / "first-line-seen"
    monkeypatch.setenv("FAKE_QUARTO_HANDSHAKE", str(handshake))

    def echo(line: str) -> None:
        if line.startswith("args:"):
            handshake.touch()  # the stand-in waits for this before it goes on

    render_site(root, fake_engine(fake_quarto), echo=echo)
    assert (root / "_site" / "index.html").is_file()


def test_render_passes_env_to_quarto(fake_quarto: Path, tmp_path: Path) -> None:
    root = write_tiny_site(tmp_path / "site")
    with pytest.raises(DiaryError, match="exit code 5"):
        render_site(root, fake_engine(fake_quarto), env={"FAKE_QUARTO_EXIT": "5"}, echo=lambda line: None)


def test_failing_render_names_engine_exit_code_and_tail(
    fake_quarto: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tiny_site(tmp_path / "site")
    monkeypatch.setenv("FAKE_QUARTO_EXIT", "3")
    with pytest.raises(DiaryError) as caught:
        render_site(root, fake_engine(fake_quarto), echo=lambda line: None)
    message = caught.value.message
    assert message.startswith(f"quarto 1.10.18 ({fake_quarto}) failed with exit code 3")
    quoted = [line.strip() for line in message.splitlines()[1:]]
    assert quoted == [f"line {n}" for n in range(12, 31)] + ["ERROR: the fake render broke"]
    assert caught.value.hint


def test_missing_executable_is_a_diary_error(tmp_path: Path) -> None:
    root = write_tiny_site(tmp_path / "site")
    with pytest.raises(DiaryError, match="could not start"):
        render_site(root, fake_engine(tmp_path / "gone" / "quarto"), echo=lambda line: None)


def test_interrupted_render_stops_quarto(
    fake_quarto: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tiny_site(tmp_path / "site")
    pidfile = tmp_path / "quarto.pid"
    monkeypatch.setenv("FAKE_QUARTO_PIDFILE", str(pidfile))

    def echo(line: str) -> None:
        if line == "working":
            raise KeyboardInterrupt  # as Ctrl-C would, while quarto is busy

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        render_site(root, fake_engine(fake_quarto), echo=echo)
    assert time.monotonic() - started < 5
    with pytest.raises(ProcessLookupError):
        os.kill(int(pidfile.read_text()), 0)


def test_quarto_preview_arguments_and_exit_code(
    fake_quarto: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tiny_site(tmp_path / "site")
    assert preview_site(root, fake_engine(fake_quarto), port=4321, echo=lambda line: None) == 0
    assert f"preview args: preview {root} --no-browser --port 4321" in capfd.readouterr().out
    monkeypatch.setenv("FAKE_QUARTO_EXIT", "3")
    assert preview_site(root, fake_engine(fake_quarto), echo=lambda line: None) == 3


# ---------------------------------------------------------------- the real engines


def assert_tiny_site_rendered(root: Path) -> None:
    assert (root / "_site" / "index.html").is_file()
    loss_page = (root / "_site" / "loss.html").read_text(encoding="utf-8")
    assert "2.4681" in loss_page
    assert "{{<" not in loss_page


def test_smalldocs_renders_the_tiny_site(tmp_path: Path, empty_path: None) -> None:
    root = write_tiny_site(tmp_path / "site")
    lines: list[str] = []
    engine = choose_engine("auto")
    result = render_site(root, engine, echo=lines.append)
    assert_tiny_site_rendered(root)
    assert (result.engine, result.version, result.output_dir) == ("smalldocs", engine.version, root / "_site")
    assert lines[0] == f"rendering with smalldocs {engine.version} (embedded engine; quarto not found)"
    assert len(lines) > 1, "the engine's own progress must come through echo"


def test_smalldocs_collects_warnings(tmp_path: Path) -> None:
    root = write_tiny_site(tmp_path / "site")
    (root / "index.qmd").write_text("---\ntitle: Home\nfreeze: auto\n---\n\nHi.\n", encoding="utf-8")
    lines: list[str] = []
    result = render_site(root, choose_engine("smalldocs"), echo=lines.append)
    # An option the engine does not support is a warning, collected and echoed as ours; its wording is the engine's.
    assert result.warnings, "smalldocs ignored an unsupported option silently"
    assert [line for line in lines if line.startswith("warning: ")] == [f"warning: {w}" for w in result.warnings]


def test_options_set_for_quarto_alone_are_not_a_warning_every_build(tmp_path: Path) -> None:
    # _quarto.yml sets html-math-method: plain so that Quarto loads no MathJax; smalldocs has none to load.
    root = write_tiny_site(tmp_path / "site")
    (root / "_quarto.yml").write_text(TINY_SITE["_quarto.yml"] + "format:\n  html:\n    html-math-method: plain\n",
                                      encoding="utf-8")
    lines: list[str] = []
    result = render_site(root, choose_engine("smalldocs"), echo=lines.append)
    assert result.warnings == [] and not [line for line in lines if line.startswith("warning: ")], lines


def test_smalldocs_runs_pre_render_with_env(tmp_path: Path) -> None:
    root = write_tiny_site(tmp_path / "site")
    script = root / "prerender.py"
    script.write_text(
        "import os, pathlib\n"
        "pathlib.Path('_variables.yml').write_text('best_loss: ' + os.environ['DIARY_TEST_LOSS'] + '\\n')\n",
        encoding="utf-8",
    )
    (root / "_quarto.yml").write_text(
        "project:\n  type: website\n  pre-render: prerender.py\nwebsite:\n  title: Tiny diary\n",
        encoding="utf-8",
    )
    render_site(root, choose_engine("smalldocs"), env={"DIARY_TEST_LOSS": "1.2345"}, echo=lambda line: None)
    assert "1.2345" in (root / "_site" / "loss.html").read_text(encoding="utf-8")
    assert "DIARY_TEST_LOSS" not in os.environ


def test_smalldocs_build_error_is_a_diary_error(tmp_path: Path) -> None:
    root = write_tiny_site(tmp_path / "site")
    (root / "_quarto.yml").write_text("project:\n  type: manuscript\n", encoding="utf-8")
    with pytest.raises(DiaryError, match="smalldocs could not render the site: .*manuscript"):
        render_site(root, choose_engine("smalldocs"), echo=lambda line: None)


# smalldocs 0.5.4 leaves its probe socket open when the port is taken; that leak is not ours to fail on.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_smalldocs_preview_reports_a_busy_port(tmp_path: Path) -> None:
    root = write_tiny_site(tmp_path / "site")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert preview_site(root, choose_engine("smalldocs"), port=port, echo=lambda line: None) == 2


@pytest.mark.quarto
def test_real_quarto_renders_the_tiny_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if REAL_QUARTO_PATH:
        monkeypatch.setenv("QUARTO_PATH", REAL_QUARTO_PATH)
    if find_quarto() is None:
        pytest.skip(NO_QUARTO_REASON)
    root = write_tiny_site(tmp_path / "site")
    result = render_site(root, choose_engine("quarto"), echo=lambda line: None)
    assert result.engine == "quarto"
    assert_tiny_site_rendered(root)


def test_engine_finds_this_diary_for_its_pre_render_step(monkeypatch: pytest.MonkeyPatch) -> None:
    # `.venv/bin/diary build` without an activated venv: the engine's `diary refresh` must still start.
    import sysconfig

    scripts = sysconfig.get_path("scripts")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    env = engine_environment({"DIARY_PRERENDER_DONE": "1"})
    assert env["PATH"].split(os.pathsep) == [scripts, "/usr/bin", "/bin"]
    assert env["DIARY_PRERENDER_DONE"] == "1"
    monkeypatch.setenv("PATH", f"/usr/bin{os.pathsep}{scripts}")
    assert "PATH" not in engine_environment({})
