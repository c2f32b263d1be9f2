"""Write the generated reference pages from the code itself: `python docs/reference.py`.

- docs/cli.md: every command and option, from the parser (`diary --help` and each command's).
- docs/settings.md: every key of `code/diary.yml`, its default and what it does, from `Settings`.

`tests/repo/test_docs.py` runs `python docs/reference.py --check`, so the pages never drift."""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import sys
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))


def subcommands(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(prefix, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += subcommands(child, f"{prefix} {name}")
    return found


def cli_reference() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal: a fixed width, the same page everywhere
    from diary.cli import build_parser

    parts = ["# Command-line reference\n",
             "Generated from the parser by `python docs/reference.py`; `tests/repo/test_docs.py` checks it.\n"]
    for name, parser in subcommands(build_parser(), "diary"):
        parser.prog = name
        parts.append(f"## `{name}`\n\n```\n{parser.format_help().rstrip()}\n```\n")
    return "\n".join(parts)


def field_comments(source: str, cls: str) -> dict[str, str]:
    """The comment of each field of class `cls`: on its line, else the comment lines right above it."""
    comments: dict[str, str] = {}
    above: list[str] = []
    inside = False
    lines = source.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        line = lines[token.start[0] - 1]
        if token.type == tokenize.NAME and token.string == "class" and line.startswith(f"class {cls}"):
            inside = True
        elif inside and token.type == tokenize.NAME and token.start[1] == 0:
            break  # the next top-level statement
        elif inside and token.type == tokenize.COMMENT:
            if line.lstrip().startswith("#"):
                above.append(token.string.lstrip("# "))
            else:
                name = line.split(":", 1)[0].strip()
                comments[name] = token.string.lstrip("# ")
                above = []
        elif inside and token.type == tokenize.NAME and token.start[1] == 4 and line[4:].split(":")[0] == token.string:
            if above and token.string not in comments:
                comments[token.string] = " ".join(above)
            above = []
    return comments


def settings_reference() -> str:
    from diary.project import config

    source = Path(config.__file__).read_text(encoding="utf-8")
    comments = field_comments(source, "Settings")
    rows = ["| key | default | what it does |", "| --- | --- | --- |",
            f"| `schema` | `{config.CONFIG_SCHEMA}` | the version of this file's format |"]
    for field in dataclasses.fields(config.Settings):
        if field.name not in config.ALLOWED:
            continue
        default = field.default
        shown = "(empty)" if default == "" else str(list(default) if isinstance(default, tuple) else default)
        if field.name == "data_files":
            shown = ", ".join(item.source if item.source == item.target else f"{item.source} -> {item.target}"
                              for item in default)  # type: ignore[union-attr]
        what = comments.get(field.name, "").replace("|", "\\|")
        rows.append(f"| `{field.name}` | `{shown}` | {what} |".replace("`(empty)`", "(empty)"))
    return ("# Settings reference: `code/diary.yml`\n\n"
            "Generated from `Settings` (tools/diary/project/config.py) by `python docs/reference.py`; "
            "`tests/repo/test_docs.py` checks it. A snapshot's `snapshot.yml` may set its own `entry`, `args` "
            "and `data_files`; docs/measuring.md says how each setting is used.\n\n" + "\n".join(rows) + "\n")


PAGES = {"cli.md": cli_reference, "settings.md": settings_reference}


def main() -> int:
    stale = []
    for name, make in PAGES.items():
        page = REPO / "docs" / name
        text = make()
        if "--check" in sys.argv[1:]:
            if not page.is_file() or page.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            page.write_text(text, encoding="utf-8")
    for name in stale:
        print(f"docs/{name} is out of date: run python docs/reference.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
