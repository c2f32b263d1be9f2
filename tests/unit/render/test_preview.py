"""`diary preview` with the embedded engine, seen from outside as a user's browser sees it: the edited
page is served (and the reload signalled) before the full build rewrites the listing, and an open tab
in Chromium reloads by itself."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from diarykit import FIXTURES_DIR, REPO, copy_repo_diary

pytestmark = pytest.mark.slow

POST = "posts/2026-02-20-the-result/index.qmd"
POST_URL = "posts/2026-02-20-the-result/index.html"
EDIT = "Edited while the preview ran, 4711."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


def wait_for(condition, timeout: float, step: float = 0.02):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s")


def test_an_edited_post_is_served_and_reloaded_before_the_listing_is_rebuilt(tmp_path: Path, browser) -> None:
    (tmp_path / "diary").mkdir()
    root = copy_repo_diary(tmp_path / "diary")
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}
    env["PYTHONPATH"] = str(REPO / "tools")
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # the pre-render step calls `diary`
    preview = subprocess.Popen(
        [sys.executable, "-m", "diary", "--root", str(root), "preview", "--engine", "smalldocs", "--no-browser",
         "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        page = wait_for(lambda: get(base + POST_URL), timeout=180, step=0.2)
        # The reload script is added as the page is served; the built page is the one `diary build` writes.
        assert "__smalldocs__/version" in page
        assert "__smalldocs__/version" not in (root / "_site" / POST_URL).read_text(encoding="utf-8")
        version = int(get(base + "__smalldocs__/version"))
        listing = root / "_site" / "index.html"
        listing_before = listing.stat().st_mtime_ns, listing.stat().st_ino

        tab = browser.new_page()
        try:
            tab.goto(base + POST_URL)
            assert EDIT not in tab.inner_text("body")

            post = root / POST
            post.write_text(post.read_text(encoding="utf-8") + f"\n{EDIT}\n", encoding="utf-8")

            wait_for(lambda: EDIT in get(base + POST_URL), timeout=60)
            # The page is there, the browser told to reload, and the listing not yet rebuilt.
            assert int(get(base + "__smalldocs__/version")) == version + 1
            assert (listing.stat().st_mtime_ns, listing.stat().st_ino) == listing_before
            # Then the full build follows: the listing is rewritten, the browser reloads again.
            wait_for(lambda: int(get(base + "__smalldocs__/version")) == version + 2, timeout=120)
            assert (listing.stat().st_mtime_ns, listing.stat().st_ino) != listing_before
            assert EDIT in get(base + POST_URL)
            assert EDIT in (root / "_site" / POST_URL).read_text(encoding="utf-8")
            # The open tab reloaded by itself and shows the edit.
            tab.wait_for_function(f"document.body && document.body.innerText.includes({EDIT!r})", timeout=30_000)
        finally:
            tab.close()
    finally:
        preview.send_signal(signal.SIGINT)
        try:
            output, _ = preview.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            preview.kill()
            output, _ = preview.communicate()
    assert preview.returncode == 0, output
    assert "Traceback" not in output, output


@pytest.mark.xfail(reason="open bug: passes in a developer's venv, times out in the fresh-clone CI run "
                          "(Debian's python, env -i): the preview never reports the edited snapshot as broken",
                   strict=False)
def test_a_failed_rebuild_says_what_failed_on_the_console_and_on_the_open_page(tmp_path: Path, browser) -> None:
    """A snapshot that breaks is named with its reason, and the site shows it broken; a snapshot.yml that
    does not read is named by file and line, and every page served says the build failed."""
    root = tmp_path / "diary"
    shutil.copytree(FIXTURES_DIR / "tinydiary", root)
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}
    env["PYTHONPATH"] = str(REPO / "tools")
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    log = tmp_path / "preview.log"
    with log.open("w", encoding="utf-8") as out:
        preview = subprocess.Popen(
            [sys.executable, "-m", "diary", "--root", str(root), "preview", "--engine", "smalldocs",
             "--no-browser", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            page_url = base + "snapshots/02-fixed.html"
            wait_for(lambda: get(page_url), timeout=180, step=0.2)
            assert "diary-preview-failed" not in get(page_url)
            tab = browser.new_page()
            try:
                tab.goto(page_url)
                program = root / "code/snapshots/02-fixed/prog.py"
                program.write_text(program.read_text(encoding="utf-8").replace("sample {sample + 1}",
                                                                              "sample #{sample + 1}"))
                wait_for(lambda: "02-fixed: broken, but expected ok" in log.read_text(encoding="utf-8"),
                         timeout=120, step=0.2)
                # Built and shown: the page says broken, and the notice names the snapshot.
                tab.wait_for_selector("#diary-preview-failed", timeout=30_000)
                assert "02-fixed: broken, but expected ok" in tab.inner_text("#diary-preview-failed")
                assert "broken" in get(page_url).split("diary-preview-failed")[0]
                # The preview looks at the files again once its build's own writes are taken as seen: an edit
                # made before that would be taken for one of them.
                wait_for(lambda: "rebuilt" in log.read_text(encoding="utf-8").split("02-fixed: broken")[-1],
                         timeout=30, step=0.1)
                time.sleep(1)

                meta = root / "code/snapshots/02-fixed/snapshot.yml"
                meta.write_text(meta.read_text(encoding="utf-8").replace("expect: ok", "expect: [ok"))
                wait_for(lambda: "the build failed: " in log.read_text(encoding="utf-8"), timeout=120, step=0.2)
                console = log.read_text(encoding="utf-8")
                assert "code/snapshots/02-fixed/snapshot.yml:" in console
                tab.wait_for_function("document.body && document.body.innerText.includes('The last build failed')",
                                      timeout=30_000)
                assert "snapshot.yml" in tab.inner_text("#diary-preview-failed")
            finally:
                tab.close()
        finally:
            preview.send_signal(signal.SIGINT)
            try:
                preview.wait(timeout=30)
            except subprocess.TimeoutExpired:
                preview.kill()
                preview.wait()
    output = log.read_text(encoding="utf-8")
    assert "Traceback" not in output, output
    assert "--engine quarto" not in output  # the hint no longer points at the other engine
