"""Write docs/cli.md from the parser itself (`python docs/cli_reference.py`); the tests check that
the committed page is what this writes (`--check`), so the reference never drifts from `--help`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
PAGE = REPO / "docs" / "cli.md"


def subcommands(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(prefix, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += subcommands(child, f"{prefix} {name}")
    return found


def reference() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal: a fixed width, the same page everywhere
    from diary.cli import build_parser

    parts = ["# Command-line reference\n",
             "Generated from the parser by `python docs/cli_reference.py`; `tests/repo/test_docs.py` checks it.\n"]
    for name, parser in subcommands(build_parser(), "diary"):
        parser.prog = name
        parts.append(f"## `{name}`\n\n```\n{parser.format_help().rstrip()}\n```\n")
    return "\n".join(parts)


def main() -> int:
    text = reference()
    if "--check" in sys.argv[1:]:
        if PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE.relative_to(REPO)} is out of date: run python docs/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
