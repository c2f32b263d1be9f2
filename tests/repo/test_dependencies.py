"""The dependency policy: pyproject.toml's ranges are the tested ones, constraints.txt pins them all.

A fresh machine installs from constraints.txt (the README's commands, .ci/run, the workflows), so
what it gets is what the suite last passed with; these tests make sure that file cannot drift from
the ranges, or miss a package that the ranges pull in.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from diarykit import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s#;]+)\s*$")


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for number, line in enumerate((REPO / "constraints.txt").read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"constraints.txt:{number}: not a `name==version` pin: {line!r}"
        name = canonicalize_name(match.group(1))
        assert name not in found, f"constraints.txt:{number}: {name} is pinned twice"
        found[name] = match.group(2)
    return found


def our_requirements() -> list[Requirement]:
    return [Requirement(text) for text in [*PYPROJECT["dependencies"], *PYPROJECT["optional-dependencies"]["test"]]]


def test_every_requirement_is_pinned_inside_its_range() -> None:
    pinned = pins()
    for requirement in our_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not pinned in constraints.txt: run .ci/lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside pyproject.toml's {requirement}: run .ci/lock")


def test_what_the_requirements_pull_in_is_pinned_too() -> None:
    """The closure of our requirements in this environment: every package in it has a pin."""
    pinned = pins()
    seen: set[str] = set()
    todo = [(requirement, frozenset()) for requirement in our_requirements()]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = distribution(requirement.name)
        except PackageNotFoundError:
            pytest.fail(f"{requirement.name} is required but not installed: "
                        "pip install -c constraints.txt -e '.[test]'")
        for text in dist.requires or []:
            child = Requirement(text)
            wanted = requirement.extras | extras
            if child.marker and not any(child.marker.evaluate({"extra": extra}) for extra in wanted | {""}):
                continue
            todo.append((child, frozenset(child.extras)))
    missing = sorted(seen - set(pinned))
    assert not missing, f"installed for our requirements but not pinned in constraints.txt: {missing}: run .ci/lock"


def test_every_install_command_uses_the_constraints() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    installs = [line for line in commands.splitlines() if "pip install" in line]
    assert len(installs) == 2 and all("-c constraints.txt" in line for line in installs), installs
    ci_run = [line for line in (REPO / ".ci/run").read_text(encoding="utf-8").splitlines() if "pip install" in line]
    assert ci_run and all("-c constraints.txt" in line for line in ci_run), ci_run
