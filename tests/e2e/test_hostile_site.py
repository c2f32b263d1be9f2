"""What a pull request can put on the published site: only the diary's own pages and files reach `_site/`.

Each case plants one attack in a copy of the tiny diary (tests/fixtures/tinydiary, records committed,
so nothing is measured) and runs `diary check` and `diary build --engine smalldocs` as a user does,
with a token in the environment: the gate lists the problem naming the file (exit 1), the build
refuses with one line (exit 2), and the token is nowhere in `_site/`; where Quarto is installed,
`diary build --engine quarto` is refused the same way (the gate runs before either engine starts).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from diarykit import FIXTURES_DIR, REPO

pytestmark = pytest.mark.slow

TOKEN = "ghp_sitesecret0123456789"
# Both engines where Quarto is installed: the gate runs before either is started.
ENGINES = ["smalldocs"] + (["quarto"] if shutil.which(os.environ.get("QUARTO_PATH") or "quarto") else [])
PASSWD_LINE = "root:x:0:0"


def diary(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}
    env.update(GITHUB_TOKEN=TOKEN, PYTHONPATH=str(REPO / "tools"))
    return subprocess.run([sys.executable, "-m", "diary", "--root", str(root), *args], capture_output=True,
                          text=True, timeout=300, env=env)


def site_text(root: Path) -> str:
    out = root / "_site"
    if not out.exists():
        return ""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in out.rglob("*") if p.is_file())


def assert_refused(root: Path, names: str) -> None:
    """The gate names the problem (exit 1); the build refuses it in one line (exit 2), leaking nothing."""
    checked = diary(root, "check")
    assert checked.returncode == 1 and "Traceback" not in checked.stderr, checked.stdout + checked.stderr
    assert names in checked.stdout + checked.stderr
    for engine in ENGINES:
        built = diary(root, "build", "--engine", engine, "--quiet")
        errors = [line for line in built.stderr.splitlines() if ": error: " in line]
        assert built.returncode == 2 and "Traceback" not in built.stderr, built.stderr
        assert len(errors) == 1 and names in errors[0], built.stderr
        text = site_text(root)
        assert TOKEN not in text and PASSWD_LINE not in text


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site") / "diary"
    shutil.copytree(FIXTURES_DIR / "tinydiary", root)
    done = diary(root, "build", "--engine", "smalldocs", "--quiet")
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def repo(built: Path, tmp_path: Path) -> Path:
    root = tmp_path / "diary"
    shutil.copytree(built, root, symlinks=True)
    shutil.rmtree(root / "_site")
    return root


def add_post(root: Path, body: str, front: str = 'title: "A post"', folder: str = "evil") -> Path:
    path = root / "posts" / folder / "index.qmd"
    path.parent.mkdir(parents=True, exist_ok=True)
    # A description, as every post needs one (the listing would show the page's first text instead).
    if "description:" not in front:
        front += "\ndescription: A post of a hostile repository."
    path.write_text(f"---\n{front}\ndate: 2026-03-01\n---\n\n{body}\n", encoding="utf-8")
    return path


def test_the_tiny_diary_builds_and_passes_the_gate(built: Path) -> None:
    done = diary(built, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "raw HTML" in (built / "_generated/checks.md").read_text(encoding="utf-8")  # the About page says so


@pytest.mark.parametrize(("link", "target"), [
    ("images/social-card.png", "/proc/self/environ"),
    ("images/passwd.txt", "/etc/passwd"),
    ("posts/day-1/notes.txt", "/etc/passwd"),
])
def test_a_linked_site_file_is_refused(repo: Path, link: str, target: str) -> None:
    (repo / link).symlink_to(target)
    assert_refused(repo, link)
    assert not (repo / "_site" / link).exists()


def test_a_fifo_among_the_site_files_is_refused(repo: Path) -> None:
    os.mkfifo(repo / "images/pipe.png")
    assert_refused(repo, "images/pipe.png")


@pytest.mark.parametrize("argument", [
    "../../../../../../../../../etc/passwd", "/proc/self/environ", "/_generated/../.git/config",
    "'/etc/passwd'", '"../../../etc/passwd"', "/_generated/../../../etc/passwd", "../../_data/records/00-base.yml",
])
@pytest.mark.parametrize("spelling", ["{{< include %s >}}", "\\{{< include %s >}}", "{{<include %s>}}"])
def test_an_include_outside_the_generated_partials_is_refused(repo: Path, argument: str, spelling: str) -> None:
    add_post(repo, spelling % argument)
    assert_refused(repo, "posts/evil/index.qmd")


def test_an_include_in_any_page_the_engines_render_is_refused(repo: Path) -> None:
    config = repo / "_quarto.yml"
    config.write_text(config.read_text(encoding="utf-8").replace("    - snapshots/*.qmd\n",
                                                                  "    - snapshots/*.qmd\n    - extra/*.qmd\n"),
                      encoding="utf-8")
    page = repo / "extra/notes.qmd"
    page.parent.mkdir()
    page.write_text("---\ntitle: Notes\n---\n\n{{< include /proc/self/environ >}}\n", encoding="utf-8")
    assert_refused(repo, "extra/notes.qmd:5")


def test_a_committed_generate_state_does_not_skip_the_gate(repo: Path) -> None:
    """The generate state names what the last generate was made from: a forged one would let the build
    skip the page checks. Unsealed, it is no state."""
    assert diary(repo, "build", "--engine", "smalldocs", "--quiet").returncode == 0
    state = repo / ".diary-cache/generate-state.json"
    saved = state.read_text(encoding="utf-8").partition("\n")[2]
    post = add_post(repo, "{{< include /etc/passwd >}}")
    assert diary(repo, "check").returncode == 1
    for seal in ("0" * 64, ""):
        state.write_text(f"{seal}\n{saved}", encoding="utf-8")
        built = diary(repo, "build", "--engine", "smalldocs", "--quiet")
        assert built.returncode == 2 and "posts/evil/index.qmd" in built.stderr, built.stderr
    assert PASSWD_LINE not in site_text(repo) and post.exists()


def test_quartos_escape_of_an_include_is_text(repo: Path) -> None:
    add_post(repo, "Shown as text: {{{< include /etc/passwd >}}}")
    assert diary(repo, "check").returncode == 0


def test_a_committed_build_state_is_not_believed(built: Path, tmp_path: Path) -> None:
    root = tmp_path / "diary"
    shutil.copytree(built, root)
    page = root / "_site/progress.html"
    page.write_text(page.read_text(encoding="utf-8") + "<script>forged()</script>", encoding="utf-8")
    state = root / ".diary-cache/build-state.json"
    _, _, body = state.read_text(encoding="utf-8").partition("\n")
    data = json.loads(body)
    data["pages"]["progress.qmd"]["output"] = hashlib.sha256(page.read_bytes()).hexdigest()
    (root / "_site/planted.html").write_text("planted", encoding="utf-8")
    for seal in ("0" * 64, ""):  # a forged seal, and none
        state.write_text(f"{seal}\n{json.dumps(data)}", encoding="utf-8")
        done = diary(root, "build", "--engine", "smalldocs", "--verbose")
        assert done.returncode == 0, done.stderr
        assert "rendering all" in done.stdout + done.stderr
        assert "forged()" not in page.read_text(encoding="utf-8")
        assert not (root / "_site/planted.html").exists()


def test_a_committed_quarto_cache_means_a_full_build_that_empties_it(built: Path, tmp_path: Path) -> None:
    """Quarto makes the listings and the search index of a partial render from `.quarto/`: one that a
    commit brought (or changed) is not what the last build left, so every page is rendered anew."""
    root = tmp_path / "diary"
    shutil.copytree(built, root)
    planted = root / ".quarto/idx/posts/evil.qmd.json"
    planted.parent.mkdir(parents=True)
    planted.write_text('{"title": "<script>forged()</script>"}', encoding="utf-8")
    done = diary(root, "build", "--engine", "smalldocs", "--verbose")
    assert done.returncode == 0, done.stderr
    assert "rendering all" in done.stdout + done.stderr and ".quarto/ cache" in done.stdout + done.stderr
    assert not planted.exists()
    again = diary(root, "build", "--engine", "smalldocs", "--verbose")
    assert again.returncode == 0 and "rendering all" not in again.stdout + again.stderr


@pytest.mark.parametrize("folder", ['2026-q" onmouseover="alert(document.domain)" x="', "a'b", "x<y"])
def test_a_post_folder_whose_name_leaves_its_attribute_is_refused(repo: Path, folder: str) -> None:
    add_post(repo, "Words.", folder=folder)
    assert_refused(repo, "posts/")


def test_a_category_with_quotes_is_refused(repo: Path) -> None:
    add_post(repo, "Words.", front='title: "A post"\ncategories: [\'x" onclick="alert(1)\']')
    assert_refused(repo, "posts/evil/index.qmd:")


@pytest.mark.parametrize("key", ["title", "description", "subtitle"])
@pytest.mark.parametrize("value", [
    '"{{< env GITHUB_TOKEN >}}"', r"'\{\{\< env GITHUB_TOKEN \>\}\}'", '"&#123;&#123;< env GITHUB_TOKEN >&#125;&#125;"',
    '"{{< include /etc/passwd >}}"', r"'\{{< include /etc/passwd >}}'", '"<img src=x onerror=alert(1)>"',
])
def test_shortcodes_and_markup_in_front_matter_are_refused(repo: Path, key: str, value: str) -> None:
    front = f"{key}: {value}" if key == "title" else f'title: "A post"\n{key}: {value}'
    add_post(repo, "Words.", front=front)
    assert_refused(repo, "posts/evil/index.qmd:")


@pytest.mark.parametrize(("name", "text", "where"), [
    ("posts/_metadata.yml", 'description: "{{< env GITHUB_TOKEN >}}"\n', "posts/_metadata.yml:1"),
    ("posts/_metadata.yml", "description: '\\{\\{\\< include /etc/passwd \\>\\}\\}'\n", "posts/_metadata.yml:1"),
    ("posts/_metadata.yml", 'include-in-header:\n  text: "<script>alert(1)</script>"\n', "posts/_metadata.yml:1"),
    ("_metadata.yml", 'subtitle: "<img src=x onerror=alert(1)>"\n', "_metadata.yml:1"),
])
def test_metadata_merged_into_every_page_is_held_to_the_front_matter_rules(repo: Path, name: str, text: str,
                                                                            where: str) -> None:
    (repo / name).write_text(text, encoding="utf-8")
    assert_refused(repo, where)


def test_a_shortcode_in_the_site_configuration_is_refused(repo: Path) -> None:
    config = repo / "_quarto.yml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('  title: "', '  title: "{{< env GITHUB_TOKEN >}} ', 1), encoding="utf-8")
    assert config.read_text(encoding="utf-8") != text
    assert_refused(repo, "_quarto.yml:")


@pytest.mark.parametrize("body", [
    "<img src=x onerror=alert(1)>", '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "<iframe\nsrcdoc=x></iframe>", "```{=html}\n<script>alert(1)</script>\n```", "`<b>x</b>`{=html}",
    "[click](javascript:alert(1))", "[click][x]\n\n[x]: javascript:alert(1)", "<javascript:alert(1)>",
    "[click](&#106;avascript:alert(1))",
])
def test_raw_html_in_a_post_is_refused_unless_allowed(repo: Path, body: str) -> None:
    add_post(repo, body)
    assert_refused(repo, "posts/evil/index.qmd:")
    config = repo / "code/diary.yml"
    config.write_text(config.read_text(encoding="utf-8") + "raw_html: allow\n", encoding="utf-8")
    assert diary(repo, "generate").returncode == 0
    done = diary(repo, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "allows raw HTML" in (repo / "_generated/checks.md").read_text(encoding="utf-8")


def test_markdown_that_is_not_html_passes(repo: Path) -> None:
    add_post(repo, "See <https://example.org> or <me@example.org>, `<b>` in code, a < b, and\n\n"
                   "```html\n<script>shown as code</script>\n```\n<!-- a comment -->")
    done = diary(repo, "check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_record_that_is_a_folder_is_one_line(repo: Path) -> None:
    record = repo / "_data/records/02-fixed.yml"
    record.unlink()
    record.mkdir()
    checked = diary(repo, "check")
    assert checked.returncode == 1 and "Traceback" not in checked.stderr, checked.stderr
    assert "_data/records/02-fixed.yml: is a folder" in checked.stdout + checked.stderr
    measured = diary(repo, "measure")
    assert measured.returncode == 2 and "Traceback" not in measured.stderr, measured.stderr
    assert len(measured.stderr.strip().splitlines()) == 1 and "02-fixed.yml" in measured.stderr


def _status(port: int, host: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/index.html", headers={"Host": host})
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_preview_answers_only_its_own_host(repo: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIARY_")}
    env.update(GITHUB_TOKEN=TOKEN, PYTHONPATH=str(REPO / "tools"), PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    preview = subprocess.Popen(
        [sys.executable, "-m", "diary", "--root", str(repo), "preview", "--engine", "smalldocs", "--no-browser",
         "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                assert _status(port, f"127.0.0.1:{port}") == 200
                break
            except OSError:
                assert time.monotonic() < deadline and preview.poll() is None, "the preview did not start"
                time.sleep(0.2)
        assert _status(port, f"localhost:{port}") == 200
        for host in ("attacker.example", f"attacker.example:{port}", "127.0.0.1", f"localhost:{port + 1}"):
            assert _status(port, host) == 421, host
    finally:
        preview.send_signal(signal.SIGINT)
        try:
            preview.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            preview.kill()
            preview.communicate()
