"""Shared fixtures: the tiny diary, built once per test session (like sphinx-gallery's tinybuild).

`tests/fixtures/tinydiary` is a three-snapshot diary (one of them expected broken) whose sources,
output, standard error, test failure messages and metadata are hostile to a site generator. It is
copied to a session temporary folder and built there once, the way a user builds a diary:
`diary build --engine smalldocs` in a fresh interpreter. Its records are committed
(`tests/fixtures/remeasure.py` writes them; tests/repo/test_fixtures.py says when they are stale), so
the build measures nothing, generates the partials and renders `_site/`; the measuring tests measure
diaries of their own. Tests read the result and never change it; a test that changes something
copies it first.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from diarykit import run_diary

# The same examples on every run, so CI cannot fail on a case no developer saw; explore new ground
# with `pytest -m fuzz --hypothesis-profile=explore`, and pin what it finds as a plain test.
settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


def pytest_configure(config: pytest.Config) -> None:
    """The tool's content cache (usercache.py) lives in a folder of this session, never in the
    user's ~/.cache: every run starts cold, as CI does, and leaves nothing behind."""
    import tempfile

    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="diary-test-cache-")

TINY_DIARY = Path(__file__).parent / "fixtures" / "tinydiary"
# Set in the environment of the build: `{{< env GITHUB_TOKEN >}}` in a snapshot must never show it.
TINY_SECRET = "diary-secret-123"
BUILD_TIMEOUT_S = 600
QUARTO_MISSING = "quarto CLI not installed; the publish workflow installs it with quarto-dev/quarto-actions/setup"


def build_tiny_diary(root: Path, engine: str) -> Path:
    """Copy the tiny diary to `root` and build it with `engine`; fail with the build's output if it fails.

    Exit 0 is the only success: every snapshot of the tiny diary has the verdict it expects (exit 1
    would mean one broke unexpectedly, or the expected-broken one passed).
    """
    shutil.copytree(TINY_DIARY, root)
    started = time.perf_counter()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GITHUB_TOKEN", TINY_SECRET)
        done = run_diary(root, "build", "--engine", engine, timeout=BUILD_TIMEOUT_S)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, (
        f"diary build --engine {engine} of the tiny diary exited {done.returncode} after {seconds:.1f} s:\n"
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    assert (root / "_site" / "index.html").is_file(), f"the build wrote no {root / '_site' / 'index.html'}"
    return root


@pytest.fixture(scope="session")
def tiny_site_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root of a built copy of the tiny diary (records, generated files and `_site/`): read only."""
    return build_tiny_diary(tmp_path_factory.mktemp("tinybuild") / "diary", "smalldocs")


@pytest.fixture(scope="session")
def built_site(tiny_site_root: Path) -> Path:
    """The tiny diary's `_site/` folder, as smalldocs rendered it."""
    return tiny_site_root / "_site"


@pytest.fixture(scope="session")
def tiny_secret() -> str:
    """The value of GITHUB_TOKEN while the tiny diary is built: no page may ever show it."""
    return TINY_SECRET


@pytest.fixture(scope="session")
def quarto_site_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny diary built with the real Quarto CLI; skips where it is not installed."""
    if shutil.which(os.environ.get("QUARTO_PATH") or "quarto") is None:
        pytest.skip(QUARTO_MISSING)
    return build_tiny_diary(tmp_path_factory.mktemp("tinybuild-quarto") / "diary", "quarto")


# ---------------------------------------------------------------------------------------------
# Long tests say what they are doing: the fast tier (`pytest -m "not slow"`) leaves them out, the
# full run (CI, and the README's test command) announces each one before it starts, so minutes of
# silence always have a name.


def _terminal_line(config: pytest.Config, text: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(text)
    else:
        reporter.write_line(text)


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Announce a slow test, or a module of them once, before it starts (the hook has no item:
    `_ANNOUNCE` is filled at collection)."""
    announced = _ANNOUNCE.get(nodeid)
    if announced is not None:
        config, text = announced
        _terminal_line(config, f"\n[slow] {text}")


_ANNOUNCE: dict[str, tuple[pytest.Config, str]] = {}


def _first_line(obj: object) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return f": {doc.splitlines()[0]}" if doc else ""


@pytest.hookimpl(tryfirst=True)  # before `-m "not slow"` deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("browser"):  # a real Chromium, page after page: end to end, so slow
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(trylast=True)  # after -k and -m: announce what will run
def pytest_collection_finish(session: pytest.Session) -> None:
    config, items = session.config, session.items
    seen_modules: set[str] = set()
    for item in items:
        if not item.get_closest_marker("slow"):
            continue
        if any(mark.name == "slow" for mark in item.own_markers):  # marked itself: say what it does
            _ANNOUNCE[item.nodeid] = (config, f"{item.nodeid}{_first_line(getattr(item, 'function', None))}")
        elif item.nodeid.split("::")[0] not in seen_modules:  # a slow module: once, as it starts
            module = item.nodeid.split("::")[0]
            seen_modules.add(module)
            _ANNOUNCE[item.nodeid] = (config, f"{module}{_first_line(getattr(item, 'module', None))}")


@pytest.fixture
def say(request: pytest.FixtureRequest) -> Iterator[Callable[[str], None]]:
    """Print a progress line of a long test to the terminal now, through pytest's output capture."""
    yield lambda text: _terminal_line(request.config, f"    {text}")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless chromium for the session (Playwright's sync API allows one at a time in a process:
    every browser test, in any module, shares this one)."""
    from browserkit import CHROMIUM, CHROMIUM_ARGS

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install 'playwright>=1.45' (the test extra); "
                    "it drives Debian's chromium, so `playwright install` is not needed")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"chromium not found at {CHROMIUM}: apt-get install chromium (or set DIARY_CHROMIUM)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
