"""What a new diary carries besides its pages: the tool itself, the workflows and `.gitignore`,
rendered from the templates this repository's own copies are rendered from."""

from __future__ import annotations

from pathlib import Path

from diary.core.errors import DiaryError


def render_template(template: str, **context: object) -> str:
    from diary.site.templating import render

    return render(template, **context)


# The tool is not on PyPI: a new diary carries the copy of it that wrote it (its package and the
# project file that installs it), so `pip install -e .` works on any machine, CI's included, and
# the diary keeps measuring with the version its records were made with.
TOOL_PACKAGE = Path(__file__).resolve().parents[1]
TOOL_CHECKOUT = TOOL_PACKAGE.parents[1]  # the repository the tool runs from (its pyproject.toml)
VENDORED_SUFFIXES = (".py", ".j2")


def tool_files() -> dict[str, bytes]:
    """The tool's own files for a new diary: `tools/diary/**` (modules and templates) and the
    project file and constraints that install it, exactly as they are here."""
    files = {f"tools/diary/{path.relative_to(TOOL_PACKAGE).as_posix()}": path.read_bytes()
             for path in sorted(TOOL_PACKAGE.rglob("*"))
             if path.is_file() and path.suffix in VENDORED_SUFFIXES and "__pycache__" not in path.parts}
    for name in ("pyproject.toml", "constraints.txt"):
        source = TOOL_CHECKOUT / name
        if not source.is_file():
            raise DiaryError(f"diary init copies the tool with its {name}, which is not beside it",
                             file=source, hint="run diary init from a checkout of the diary tool")
        files[name] = source.read_bytes()
    return files


# The site's own assets, which the pages' look relies on in both engines: the stylesheet (tables that
# scroll in their box, code that keeps its blank lines, the contrast fixes, the banner, the table of
# contents without scripts) and the Quarto theme layer (no third-party fonts). A new diary gets this
# diary's, byte for byte, as its tool and workflows.
SITE_ASSETS = ("styles.css", "theme.scss")


def site_assets() -> dict[str, bytes]:
    """`styles.css` and `theme.scss` for a new diary, as the checkout the tool runs from has them."""
    files = {}
    for name in SITE_ASSETS:
        source = TOOL_CHECKOUT / name
        if not source.is_file() or source.is_symlink():
            raise DiaryError(f"diary init copies the site's {name}, which is not beside the tool", file=source,
                             hint="run diary init from a checkout of the diary tool (or a diary it made)")
        files[name] = source.read_bytes()
    return files


def workflow(name: str, tool_repo: bool) -> str:
    """`.github/workflows/<name>.yml` from the one template this repository's own copy is rendered from."""
    return render_template(f"init/{name}.yml.j2", tool_repo=tool_repo,
                   install="python -m pip install -c constraints.txt -e .")


def gitignore(existing: str | None) -> str:
    ours = render_template("init/gitignore.j2")
    if existing is None:
        return ours
    have = set(existing.splitlines())
    missing = [line for line in ours.splitlines() if line not in have and not line.startswith("#")]
    if not missing:
        return existing
    return existing + ("" if existing.endswith("\n") or not existing else "\n") + \
        "# Added by `diary init`.\n" + "\n".join(missing) + "\n"
