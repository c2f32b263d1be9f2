"""The docs are checked against reality: README commands, CI script, `diary --help`."""

from __future__ import annotations

import ast
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


def documented_modules() -> list[str]:
    """The module table of docs/architecture.md, in order, as dotted names under `diary`."""
    architecture = (REPO / "docs/architecture.md").read_text()
    return [name.replace("/", ".") for name in re.findall(r"^\| `([\w/]+)\.py` \|", architecture, re.M)]


def test_documented_modules_exist() -> None:
    package = REPO / "tools/diary"
    actual = {p.relative_to(package).with_suffix("").as_posix().replace("/", ".") for p in package.rglob("*.py")}
    actual -= {"__init__", "__main__", "site.__init__"}
    assert sorted(documented_modules()) == sorted(actual)


def relative_imports(module: str) -> set[str]:
    """The modules of the `diary` package that `module` imports (anywhere in it, lazily or not)."""
    path = REPO / "tools/diary" / (module.replace(".", "/") + ".py")
    package = module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            target = [*base, *(node.module.split(".") if node.module else [])]
            if node.module is None:  # `from . import x`: x is a module, or a name of the package
                for alias in node.names:
                    name = ".".join([*target, alias.name])
                    found.add(name if (REPO / "tools/diary" / (name.replace(".", "/") + ".py")).exists()
                              else ".".join(target))
            else:
                found.add(".".join(target))
    return {name for name in found if name}


def test_modules_import_only_modules_above_them_in_the_table() -> None:
    order = documented_modules()
    for position, module in enumerate(order):
        for imported in relative_imports(module):
            if imported in ("", "site"):  # the packages' __init__: versions and a docstring
                continue
            assert imported in order[:position], f"{module} imports {imported}, which is not above it"


def test_check_imports_nothing_from_measure() -> None:
    # One freshness rule, in records.py: the gate must not grow its own copy of measure's internals.
    assert "measure" not in relative_imports("check")
    assert "measure" not in relative_imports("site.outputs")


def test_generated_md_lists_exactly_the_variables_generate_writes() -> None:
    import yaml

    variables = yaml.safe_load((REPO / "_variables.yml").read_text(encoding="utf-8"))
    section = (REPO / "docs/generated.md").read_text(encoding="utf-8").split("## Variables", 1)[1]
    section = section.split("\n## ", 1)[0]
    named = set(re.findall(r"`([\w.<>]+)`", section))
    snapshot_keys = set()
    for entry in variables["snap"].values():
        snapshot_keys |= {key for key in entry if key != "def"}
    documented_snapshot = {key for key in named if key.isidentifier()} - {"diary", "def"}
    # Every key of a snapshot's entry is documented (first_difference_line only appears when the
    # output differs, so it may be absent from this diary's data).
    assert snapshot_keys <= documented_snapshot, snapshot_keys - documented_snapshot
    assert documented_snapshot - snapshot_keys <= {"first_difference_line"}
    assert {f"diary.{key}" for key in variables["diary"]} == {key for key in named if key.startswith("diary.")}
    definition = next(iter(variables["def"].values()))
    assert {f"def.<Name>.{key}" for key in definition} == {key for key in named if key.startswith("def.<Name>.")}
    some = next(iter(variables["snap"].values()))
    per_definition = next(iter(some["def"].values()))
    assert set(per_definition) == {"code", "physical"} and "snap.<id>.def.<Name>.code" in named


def test_generated_md_names_the_paths_the_contract_formats() -> None:
    from diary import contract

    text = (REPO / "docs/generated.md").read_text(encoding="utf-8")
    for path in (contract.code_partial_path("<id>", "<file>"), contract.definition_partial_path("<id>", "<Name>"),
                 contract.diff_partial_path("<from>", "<to>"), contract.table_partial_path("<post>"),
                 contract.PROGRESS_TABLE_PATH, contract.CHART_PARTIAL_PATH, contract.CHECKS_PARTIAL_PATH):
        assert "{{< include /" + path + " >}}" in text, path
    for path in (contract.snapshot_page_path("<id>"), contract.raw_file_path("<id>", "<file>.py"),
                 contract.raw_file_path("<id>", "<file>.html"),
                 contract.SNAPSHOT_INDEX_PATH, contract.CHART_PATH, contract.VARIABLES_PATH):
        assert f"`{path}`" in text, path
    for reserved in contract.RESERVED_IDS:
        assert f"`{reserved}`" in text


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


def test_engines_md_lists_what_differs_between_the_engines() -> None:
    """docs/engines.md names each difference a reader can see (issue 11): keep it when an engine changes."""
    text = (REPO / "docs" / "engines.md").read_text(encoding="utf-8").lower()
    for topic in ("banner", "listing", "feed", "search", "line numbers", "copy button", "highlight",
                  "annotation", "file://", "front matter", "link targets", "raw html"):
        assert topic in text, f"docs/engines.md says nothing about {topic}"
