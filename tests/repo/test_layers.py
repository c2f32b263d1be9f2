"""The folder tree is the architecture: each module imports only its own package and lower layers."""

from __future__ import annotations

import ast
from pathlib import Path

import diary
from diarykit import REPO

PACKAGE = REPO / "tools" / "diary"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every `diary` module `path` imports, at the top or lazily inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: a relative import; write `from diary.<package> ...`"
            if node.module and node.module.split(".")[0] == "diary":
                found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "diary"}
    return found


def stage_of(module: str) -> str | None:
    """The stage (first-level package or top-level module) of a module; None for `diary` itself."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    return "cli" if parts[1] == "__main__" else parts[1]  # `python -m diary` is the command line


def layer_violations(imports: dict[str, set[str]]) -> list[str]:
    layer = {stage: depth for depth, stages in enumerate(diary.LAYERS) for stage in stages}
    problems = []
    for module, targets in sorted(imports.items()):
        own = stage_of(module)
        for target in sorted(targets):
            theirs = stage_of(target)
            if theirs is None or theirs == own or theirs not in layer:
                continue  # the versions in diary/__init__, the own package, or a name of `diary` itself
            if own not in layer:
                problems.append(f"{module}: its stage '{own}' is in no layer of diary.LAYERS")
            elif layer[theirs] <= layer[own]:
                problems.append(f"{module} imports {target}: '{theirs}' is not below '{own}' ({diary.layer_rule()})")
    return problems


def package_imports() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def test_every_module_imports_only_lower_layers() -> None:
    assert layer_violations(package_imports()) == []


def test_an_upward_import_is_a_violation() -> None:
    imports = package_imports()
    imports["diary.core.errors"] = imports["diary.core.errors"] | {"diary.site.model"}
    imports["diary.site.chart"] = imports["diary.site.chart"] | {"diary.render.engine"}  # a peer, not below
    problems = layer_violations(imports)
    assert len(problems) == 2
    assert problems[0].startswith("diary.core.errors imports diary.site.model")
    assert problems[1].startswith("diary.site.chart imports diary.render.engine")


def test_every_stage_is_in_a_layer() -> None:
    stages = {stage_of(module_name(path)) for path in PACKAGE.rglob("*.py")} - {None, "__main__"}
    assert stages == {stage for layer in diary.LAYERS for stage in layer}


def test_the_stage_folders_hold_the_modules() -> None:
    loose = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "check.py", "cli.py"], loose


def test_no_module_is_over_400_lines() -> None:
    sizes = {module_name(path): len(path.read_text(encoding="utf-8").splitlines()) for path in PACKAGE.rglob("*.py")}
    assert {module: lines for module, lines in sizes.items() if lines > 400} == {}


def test_the_rule_is_the_same_in_the_docstring_the_readme_and_the_architecture_page() -> None:
    rule = diary.layer_rule()
    for text, where in ((diary.__doc__ or "", "tools/diary/__init__.py"),
                        ((REPO / "README.md").read_text(encoding="utf-8"), "README.md"),
                        ((REPO / "docs/architecture.md").read_text(encoding="utf-8"), "docs/architecture.md")):
        assert rule in text, f"{where} does not state the layer rule '{rule}'"


def test_the_architecture_page_lists_every_module_under_its_package() -> None:
    text = (REPO / "docs/architecture.md").read_text(encoding="utf-8")
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if path.name in ("__init__.py", "__main__.py"):
            continue
        assert f"`{relative}`" in text, f"docs/architecture.md does not describe {relative}"


def test_the_gate_has_no_copy_of_the_measuring_pipeline() -> None:
    # One freshness rule (project/freshness.py): check and generate judge records with it, and
    # never grow their own copy of how measure decides what to run.
    imports = package_imports()
    for module in ("diary.check", "diary.site.outputs"):
        assert not {name for name in imports[module] if name.startswith("diary.measure.pipeline")}, module
