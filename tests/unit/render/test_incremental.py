"""Incremental builds: `diary build` renders only the pages whose inputs changed, and the site it leaves
is byte for byte the one a full build makes; with Quarto (the stand-in) it passes only those files."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from diary.render.buildstate import BuildState, is_listing, page_digest, page_sources, plan_build
from diary.render.quarto_pages import MAX_SINGLE_RENDERS
from diarykit import FIXTURES_DIR, run_diary

TINY = FIXTURES_DIR / "tinydiary"
FAKE_QUARTO = FIXTURES_DIR / "fake_quarto" / "quarto"
POST = "posts/day-1/index.qmd"
LISTING = "index.qmd"  # the tiny diary's home page lists the posts


def build(root: Path, *args: str) -> str:
    done = run_diary(root, "build", *args)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout + done.stderr


def listed(output: str) -> list[str]:
    """The pages `diary build --verbose` says it renders."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("rendering ") and line.endswith(":"))
    pages = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        pages.append(line.strip())
    return pages


def site_files(root: Path) -> dict[str, bytes]:
    out = root / "_site"
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def assert_same_site(incremental: dict[str, bytes], full: dict[str, bytes]) -> None:
    assert sorted(incremental) == sorted(full), "the incremental build wrote other files than a full build"
    differing = [path for path in full if incremental[path] != full[path]]
    assert differing == [], f"these files differ from a full build's: {differing}"


def add_prose(root: Path, page: str = POST) -> None:
    path = root / page
    path.write_text(path.read_text(encoding="utf-8") + "\nOne more sentence of prose.\n", encoding="utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny diary, measured and built once with smalldocs: copied by each test that changes it."""
    root = tmp_path_factory.mktemp("incremental") / "diary"
    shutil.copytree(TINY, root)
    build(root, "--engine", "smalldocs", "--quiet")
    return root


@pytest.fixture
def diary(built: Path, tmp_path: Path) -> Path:
    root = tmp_path / "diary"
    shutil.copytree(built, root, symlinks=True)
    return root


def full_site_of(root: Path, tmp_path: Path) -> dict[str, bytes]:
    """What a full build of the same sources writes, made in a copy so the build under test is untouched."""
    other = tmp_path / "full"
    shutil.copytree(root, other, symlinks=True)
    shutil.rmtree(other / "_site")
    shutil.rmtree(other / ".diary-cache")
    build(other, "--engine", "smalldocs", "--quiet", "--full")
    return site_files(other)


def test_editing_a_post_renders_it_and_the_listing_and_matches_a_full_build(diary: Path, tmp_path: Path) -> None:
    add_prose(diary)
    output = build(diary, "--engine", "smalldocs", "--verbose")
    assert listed(output) == [LISTING, POST]
    site = site_files(diary)
    assert "One more sentence of prose." in site["posts/day-1/index.html"].decode()
    assert_same_site(site, full_site_of(diary, tmp_path))


def test_a_no_op_build_renders_nothing_and_leaves_the_site_as_it_was(diary: Path) -> None:
    before = site_files(diary)
    output = build(diary, "--engine", "smalldocs", "--verbose")
    assert listed(output) == []
    assert "wrote" not in output  # the engine did not run
    assert site_files(diary) == before


def test_a_deleted_or_hand_edited_output_is_rebuilt(diary: Path, tmp_path: Path) -> None:
    before = site_files(diary)
    (diary / "_site" / "posts" / "day-2" / "index.html").unlink()
    progress = diary / "_site" / "progress.html"
    progress.write_text(progress.read_text(encoding="utf-8") + "<!-- edited by hand -->", encoding="utf-8")
    output = build(diary, "--engine", "smalldocs", "--verbose")
    wanted = {LISTING, "posts/day-2/index.qmd", "progress.qmd"}
    assert listed(output) == [src for src in page_sources(diary) if src in wanted]
    assert site_files(diary) == before


def test_a_removed_search_index_makes_the_engine_run_again(diary: Path) -> None:
    before = site_files(diary)
    (diary / "_site" / "search.json").unlink()
    output = build(diary, "--engine", "smalldocs", "--verbose")
    assert listed(output) == []  # no page changed ...
    assert "wrote" in output  # ... but the output folder did: the engine made it whole again
    assert site_files(diary) == before


def test_an_edited_stylesheet_reaches_the_site_though_no_page_changed(diary: Path) -> None:
    styles = diary / "styles.css"
    styles.write_text(styles.read_text(encoding="utf-8") + "\n/* one more rule */\n", encoding="utf-8")
    output = build(diary, "--engine", "smalldocs", "--verbose")
    assert listed(output) == []
    assert (diary / "_site" / "styles.css").read_bytes() == styles.read_bytes()


def test_changing_the_front_matter_renders_the_page_and_the_listings(diary: Path, tmp_path: Path) -> None:
    path = diary / POST
    path.write_text(path.read_text(encoding="utf-8").replace("title:", "subtitle: new\ntitle:", 1), encoding="utf-8")
    output = build(diary, "--engine", "smalldocs", "--verbose")
    assert listed(output) == [src for src in page_sources(diary) if src == POST or is_listing(diary, src)]
    assert_same_site(site_files(diary), full_site_of(diary, tmp_path))


def test_a_page_named_by_the_configuration_renders_every_page_when_its_front_matter_changes(diary: Path) -> None:
    path = diary / "progress.qmd"  # the navbar links it: a navbar entry without text shows its title
    path.write_text(path.read_text(encoding="utf-8").replace("title:", "subtitle: new\ntitle:", 1), encoding="utf-8")
    assert listed(build(diary, "--engine", "smalldocs", "--verbose")) == page_sources(diary)


def test_a_new_snapshot_renders_the_pages_that_show_it_not_the_whole_site(diary: Path, tmp_path: Path) -> None:
    assert run_diary(diary, "new", "snapshot", "03-again", "--from", "02-fixed").returncode == 0
    output = build(diary, "--engine", "smalldocs", "--verbose")
    pages = listed(output)
    assert "snapshots/03-again.qmd" in pages and "snapshots/02-fixed.qmd" in pages  # its parent lists it
    assert "snapshots/00-base.qmd" not in pages and POST not in pages
    assert len(pages) < len(page_sources(diary))
    assert_same_site(site_files(diary), full_site_of(diary, tmp_path))


def test_a_removed_page_renders_every_page(diary: Path) -> None:
    (diary / "progress.qmd").unlink()
    output = build(diary, "--engine", "smalldocs", "--verbose")
    assert "progress.qmd was removed" in output and listed(output) == page_sources(diary)


def test_a_page_depends_on_its_includes_and_the_variables_it_uses(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "_generated").mkdir(parents=True)
    (root / "page.qmd").write_text("---\ntitle: a\n---\n{{< include /_generated/_part.md >}}\n", encoding="utf-8")
    (root / "_generated" / "_part.md").write_text("Code: {{< var snap.a.code >}}\n", encoding="utf-8")
    variables = {"snap": {"a": {"code": 10}, "b": {"code": 20}}}
    first = page_digest(root, "page.qmd", variables, "site")
    assert page_digest(root, "page.qmd", {"snap": {"a": {"code": 10}, "b": {"code": 21}}}, "site") == first
    assert page_digest(root, "page.qmd", {"snap": {"a": {"code": 11}, "b": {"code": 20}}}, "site") != first
    assert page_digest(root, "page.qmd", variables, "other site") != first
    (root / "_generated" / "_part.md").write_text("Code: {{< var snap.a.code >}} lines\n", encoding="utf-8")
    assert page_digest(root, "page.qmd", variables, "site") != first


def test_an_unreadable_state_means_a_full_build(diary: Path) -> None:
    (diary / ".diary-cache" / "build-state.json").write_text("{not json", encoding="utf-8")
    assert BuildState.load(diary).pages == {}
    variables = yaml.safe_load((diary / "_variables.yml").read_text(encoding="utf-8"))
    assert plan_build(diary, "smalldocs", variables).full


def test_the_state_stays_out_of_the_published_tree(diary: Path) -> None:
    assert (diary / ".diary-cache" / "build-state.json").is_file()
    assert not any(".diary-cache" in path for path in site_files(diary))


# ---------------------------------------------------------------- Quarto: the list of files it is given


@pytest.fixture
def fake_quarto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    executable = folder / "quarto"
    shutil.copyfile(FAKE_QUARTO, executable)
    executable.chmod(executable.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    for name in ("QUARTO_PATH", "FAKE_QUARTO_VERSION", "FAKE_QUARTO_EXIT", "FAKE_QUARTO_HANDSHAKE",
                 "FAKE_QUARTO_PIDFILE", "FAKE_QUARTO_SKIP", "FAKE_QUARTO_LOG"):
        monkeypatch.delenv(name, raising=False)
    return executable


def quarto_calls(log: Path) -> list[list[str]]:
    """Every `quarto render` the stand-in ran, each as its arguments (FAKE_QUARTO_LOG)."""
    if not log.exists():
        return []
    calls = [line.split() for line in log.read_text(encoding="utf-8").splitlines()]
    log.unlink()
    return calls


def html_of(root: Path, page: str) -> str:
    return (root / "_site" / page).with_suffix(".html").read_text(encoding="utf-8")


@pytest.fixture
def quarto_log(fake_quarto: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "quarto-calls.log"
    monkeypatch.setenv("FAKE_QUARTO_LOG", str(log))
    return log


def test_the_stand_in_quarto_takes_one_input_and_gives_pandoc_the_rest(diary: Path, fake_quarto: Path) -> None:
    """What Quarto 1.10.18 did with the call this tool used to make: the post read as more of the home
    page, no post rendered, exit 0. The stand-in must do the same, or no test here could catch it."""
    build(diary, "--engine", "quarto", "--quiet")
    add_prose(diary)
    post_before = html_of(diary, POST)
    done = subprocess.run([str(fake_quarto), "render", LISTING, POST], cwd=diary, capture_output=True, text=True)
    assert done.returncode == 0
    assert "One more sentence of prose." in html_of(diary, LISTING)
    assert html_of(diary, POST) == post_before


def test_an_edited_post_is_rendered_alone_and_the_home_page_is_not_corrupted(
    diary: Path, quarto_log: Path
) -> None:
    first = build(diary, "--engine", "quarto", "--verbose")
    assert quarto_calls(quarto_log) == [["render", str(diary)]]  # no state for quarto yet: the whole project
    assert listed(first) == page_sources(diary)
    again = build(diary, "--engine", "quarto", "--verbose")
    assert quarto_calls(quarto_log) == [] and listed(again) == []  # nothing changed: quarto is not started
    add_prose(diary)
    edited = build(diary, "--engine", "quarto", "--verbose")
    assert listed(edited) == [LISTING, POST]
    # One input per process; the listing comes with the post (Quarto's own supplemental render).
    assert quarto_calls(quarto_log) == [["render", POST]]
    assert "rendered again" in html_of(diary, POST)
    assert "rendered again" in html_of(diary, LISTING)
    assert "One more sentence of prose." not in html_of(diary, LISTING)
    assert quarto_calls(quarto_log) == [] and listed(build(diary, "--engine", "quarto", "--verbose")) == []


def test_a_page_quarto_did_not_write_fails_the_build_and_is_rendered_next_time(
    diary: Path, quarto_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(diary, "--engine", "quarto", "--quiet")
    add_prose(diary)
    monkeypatch.setenv("FAKE_QUARTO_SKIP", POST)  # quarto exits 0 but writes no post
    refused = run_diary(diary, "build", "--engine", "quarto")
    assert refused.returncode == 2
    assert f"{POST}: error: quarto render {POST} exited 0 but did not write _site/posts/day-1/index.html" in (
        refused.stdout + refused.stderr)
    monkeypatch.delenv("FAKE_QUARTO_SKIP")
    quarto_calls(quarto_log)
    build(diary, "--engine", "quarto", "--quiet")
    # The state never took the post for rendered, and the failed build left the output folder changed
    # (the listing was rewritten): the whole project again.
    assert quarto_calls(quarto_log) == [["render", str(diary), "--quiet"]]
    assert "rendered by the fake quarto" in html_of(diary, POST)


def test_a_full_render_that_skips_a_page_fails_the_build(
    diary: Path, quarto_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_QUARTO_SKIP", "progress.qmd")
    refused = run_diary(diary, "build", "--engine", "quarto")
    assert refused.returncode == 2 and "did not write _site/progress.html" in refused.stdout + refused.stderr
    monkeypatch.delenv("FAKE_QUARTO_SKIP")
    quarto_calls(quarto_log)
    build(diary, "--engine", "quarto", "--quiet")
    assert quarto_calls(quarto_log) == [["render", str(diary), "--quiet"]]  # no state was recorded: all again
    assert "rendered by the fake quarto" in html_of(diary, "progress.qmd")


def test_a_changed_page_with_a_changed_output_folder_is_one_project_render(diary: Path, quarto_log: Path) -> None:
    """Rendered alone, a page updates the search index from what is there: without one, it would hold
    that page only. A changed output folder (or stylesheet, image) takes the whole project."""
    build(diary, "--engine", "quarto", "--quiet")
    quarto_calls(quarto_log)
    add_prose(diary)
    (diary / "_site" / "search.json").write_text("[]", encoding="utf-8")
    build(diary, "--engine", "quarto", "--quiet")
    assert quarto_calls(quarto_log) == [["render", str(diary), "--quiet"]]


def test_more_changed_pages_than_single_renders_pay_for_are_one_project_render(
    diary: Path, quarto_log: Path
) -> None:
    build(diary, "--engine", "quarto", "--quiet")
    quarto_calls(quarto_log)
    pages = [page for page in page_sources(diary) if page != LISTING][:MAX_SINGLE_RENDERS + 1]
    for page in pages:
        add_prose(diary, page)
    build(diary, "--engine", "quarto", "--quiet")
    assert quarto_calls(quarto_log) == [["render", str(diary), "--quiet"]]
    for page in pages[:MAX_SINGLE_RENDERS]:
        add_prose(diary, page)
    build(diary, "--engine", "quarto", "--quiet")
    assert quarto_calls(quarto_log) == [["render", page, "--quiet"] for page in pages[:MAX_SINGLE_RENDERS]]


# ---------------------------------------------------------------- generate skips a run whose inputs are unchanged


def test_generate_after_a_no_op_still_follows_edits_of_its_inputs_and_outputs(diary: Path) -> None:
    assert run_diary(diary, "generate", "--quiet").returncode == 0  # a no-op: nothing built
    table = diary / "_generated" / "tables" / "_day-1.md"
    before = table.read_text(encoding="utf-8")
    post = diary / POST
    post.write_text(post.read_text(encoding="utf-8").replace("snapshots: [00-base, 01-broken]",
                                                             "snapshots: [01-broken]"), encoding="utf-8")
    assert run_diary(diary, "generate", "--quiet").returncode == 0
    assert table.read_text(encoding="utf-8") != before  # the post's input changed: regenerated
    chart = diary / "_generated" / "_chart.md"
    good = chart.read_bytes()
    chart.write_bytes(good + b"edited by hand\n")
    assert run_diary(diary, "generate", "--quiet").returncode == 0
    assert chart.read_bytes() == good  # an output changed: regenerated
    assert run_diary(diary, "check").returncode == 0


# ---------------------------------------------------------------- the same with a real Quarto (skipped without it)


@pytest.mark.quarto
def test_real_quarto_renders_an_edited_post_and_a_new_snapshot_incrementally(diary: Path) -> None:
    """On a machine with Quarto 1.10: after a post edit the post shows it and the home page is still the
    home page; after a new snapshot its page exists and shows its code."""
    if shutil.which(os.environ.get("QUARTO_PATH") or "quarto") is None:
        pytest.skip("quarto CLI not installed; CI's publish workflow installs it")
    build(diary, "--engine", "quarto", "--quiet")
    home_before = html_of(diary, LISTING)
    add_prose(diary)
    build(diary, "--engine", "quarto", "--quiet")
    post = html_of(diary, POST)
    home = html_of(diary, LISTING)
    assert "One more sentence of prose." in post
    assert "One more sentence of prose." not in home and "{{&lt; include" not in home and "{{< include" not in home
    assert home.count("<h1") == home_before.count("<h1") and "Day 1" not in home.split("<h1", 1)[1].split("</h1>")[0]
    assert run_diary(diary, "new", "snapshot", "03-again", "--from", "02-fixed").returncode == 0
    build(diary, "--engine", "quarto", "--quiet")
    page = html_of(diary, "snapshots/03-again.qmd")
    assert "03-again" in page and "total" in page
    assert run_diary(diary, "check").returncode == 0
