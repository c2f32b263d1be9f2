"""The docs are checked against reality: README commands, CI script, `diary --help`."""

from __future__ import annotations

import re
from pathlib import Path

from diary.cli import build_parser
from diarykit import REPO, run_diary

README = (REPO / "README.md").read_text(encoding="utf-8")


def quick_start() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block, "README must start with a bash block of two commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_starts_with_build_and_test_commands() -> None:
    assert README.index("```bash") < 200, "the quick start must come first"
    build, test = quick_start()
    assert build.endswith("# build the site into _site/") and "diary build" in build
    assert test.endswith("# run the tests") and "pytest" in test
    for command in (build, test):
        assert command.startswith("python3 -m venv .venv"), "each command must work on a fresh machine"


def test_ci_runs_the_readme_test_command() -> None:
    script = (REPO / ".ci/run").read_text()
    readme_command = quick_start()[1].split("  #")[0].strip()
    assert readme_command in script.splitlines()
    for package in ("cloc", "bubblewrap", "chromium"):
        assert package in script


def test_help_tells_the_whole_story() -> None:
    proc = run_diary(REPO, "--help")
    assert proc.returncode == 0
    for word in ("measure", "generate", "build", "check", "preview", "new", "_data/records", "_variables.yml",
                 "exit codes"):
        assert word in proc.stdout, word


def test_every_command_is_documented_in_the_readme_or_help() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in commands:
        assert f"diary {name}" in README or name in ("refresh", "generate", "preview"), name
        assert run_diary(REPO, name, "--help").returncode == 0


def test_documented_modules_exist() -> None:
    architecture = (REPO / "docs/architecture.md").read_text()
    documented = set(re.findall(r"\| `(\w+)\.py` \|", architecture))
    actual = {p.stem for p in (REPO / "tools/diary").glob("*.py")} - {"__init__", "__main__"}
    assert documented == actual


def test_site_url_placeholder_is_documented() -> None:
    quarto = (REPO / "_quarto.yml").read_text()
    url = re.search(r"site-url: (\S+)", quarto).group(1)
    assert url in README and "site-url" in README


def test_readme_names_real_paths() -> None:
    for path in re.findall(r"`((?:code|tools|tests|docs|benchmarks|posts|_data)/[\w./<>-]*)`", README):
        if "<" in path:
            continue
        assert (REPO / path.rstrip("/")).exists(), path


def test_version_flag() -> None:
    from diary import __version__

    assert Path(REPO / "pyproject.toml").read_text().count(f'version = "{__version__}"') == 1
