"""The `diary` command: a thin layer over the stages. `diary --help` tells the whole story."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from . import __version__
from .errors import DiaryError

DESCRIPTION = """\
Measure the snapshots of a program and publish the diary of making it shorter.

Data flows one way:
  code/snapshots/<id>/   the program as it stood at each step (snapshot.yml + sources)
  diary measure          count lines, run each snapshot in a sandbox, run the behavioural tests,
                         compare stdout with the baseline -> _data/records/<id>.yml (cached by hash)
  diary generate         records -> _generated/ partials, _variables.yml, chart, snapshots/*.qmd
  diary build            measure + generate + render the Quarto site into _site/
  diary check            the freshness gate: exit 1 when anything is stale or a post is wrong

Posts pull generated content in with {{< include /_generated/... >}} and {{< var ... >}}:
no figure in a post is typed by hand.
"""

EPILOG = """\
exit codes: 0 ok; 1 a snapshot is broken unexpectedly (or an expected-broken one passes), or
'diary check' found problems; 2 bad input (the message names the file and line); 3 the machine
failed (the sandbox did not start, the disk is full or read-only): nothing of it was recorded.
"""


ROOT_MARKERS = ("code/diary.yml", "_quarto.yml")


def _root(args: argparse.Namespace) -> Path:
    """The diary's root: --root, or the nearest folder at or above the current one that is a diary."""
    given = Path(args.root).resolve()
    candidates = [given] if args.root != "." else [given, *given.parents]
    for folder in candidates:
        if any((folder / marker).is_file() for marker in ROOT_MARKERS):
            return folder
    raise DiaryError("not a diary (no code/diary.yml or _quarto.yml here or above)", file=given,
                     hint="run diary in the diary's folder, or give it with --root")


def _count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from `low` to `high`, else a one-line usage error (exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value
    return parse


def _console_progress():
    """A progress callback: a rich bar on a terminal, plain lines otherwise."""
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("measuring"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                       TextColumn("{task.description}"), TimeElapsedColumn(), transient=True,
                       console=Console(stderr=True))
        task = bar.add_task("", total=None)

        def update(event: str, snapshot_id: str, record: dict | None) -> None:
            if event == "planned":
                bar.update(task, total=int(snapshot_id))
                bar.start()
            elif event == "done":
                bar.update(task, advance=1, description=snapshot_id)
                if bar.finished:
                    bar.stop()

        return update

    from .escape import for_terminal

    def plain(event: str, snapshot_id: str, record: dict | None) -> None:
        if event == "done" and record is not None:
            print(f"measured {for_terminal(snapshot_id)}: {record['verdict']['status']} "
                  f"({record['run']['wall_s']:.2f} s run, {record['tests']['seconds']:.2f} s tests)",
                  file=sys.stderr, flush=True)

    return plain


def run_measure(args: argparse.Namespace, quiet: bool = False):
    from .config import load_settings
    from .measure import measure_all
    from .sandbox import sandbox_notice

    settings = load_settings(_root(args))
    progress = None if quiet else _console_progress()
    report = measure_all(settings, only=args.only, force=args.force, jobs=args.jobs,
                         progress=progress)
    notice = sandbox_notice(report.sandbox) if report.measured and not quiet else None
    if notice:
        print(notice, file=sys.stderr)
    if not quiet:
        from .summary import print_summary

        print_summary(report)
    return report


def cmd_measure(args: argparse.Namespace) -> int:
    return run_measure(args).exit_code


def cmd_generate(args: argparse.Namespace) -> int:
    from .generate import generate_site

    generate_site(_root(args), quiet=args.quiet)
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    """measure (cached) + generate; what `project: pre-render:` runs before every render."""
    from .atomic import build_lock
    from .generate import generate_site

    with build_lock(_root(args)):
        report = run_measure(args, quiet=args.quiet)
        generate_site(_root(args), quiet=args.quiet)
    return report.exit_code


def cmd_build(args: argparse.Namespace) -> int:
    from .atomic import build_lock
    from .generate import generate_site
    from .render import choose_engine, render_site

    root = _root(args)
    engine = choose_engine(args.engine)
    with build_lock(root):
        report = run_measure(args, quiet=args.quiet)
        generate_site(root, quiet=args.quiet)
        # The engine runs `project.pre-render` (diary refresh); it finds the lock held by us and
        # everything fresh, so it does nothing.
        env = {**os.environ, "DIARY_PRERENDER_DONE": "1"}
        render_site(root, engine, quiet=args.quiet, env=env)
    return report.exit_code


def cmd_preview(args: argparse.Namespace) -> int:
    from .render import choose_engine, preview_site

    cmd_refresh(args)
    return preview_site(_root(args), choose_engine(args.engine), port=args.port,
                        open_browser=not args.no_browser)


def cmd_check(args: argparse.Namespace) -> int:
    from .check import run_check

    return run_check(_root(args))


def cmd_new_post(args: argparse.Namespace) -> int:
    from .scaffold import new_post

    path = new_post(_root(args), args.title, snapshots=args.snapshot or [], date=args.date)
    print(f"wrote {path}")
    return 0


def cmd_new_snapshot(args: argparse.Namespace) -> int:
    from .scaffold import new_snapshot

    path = new_snapshot(_root(args), args.id, parent=args.parent, title=args.title)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diary", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"diary {__version__}")
    parser.add_argument("--root", default=".", help="the diary's root folder (default: .)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def measuring(p: argparse.ArgumentParser) -> None:
        p.add_argument("--force", action="store_true",
                       help="measure again even when cached; overwrite records that do not load")
        p.add_argument("--only", action="append", metavar="ID", help="measure only this snapshot (repeatable)")
        p.add_argument("--jobs", "-j", type=_count(1, 256), default=None, help="parallel jobs (default: one per core)")

    p = sub.add_parser("measure", help="count, run and test every stale snapshot -> _data/records/")
    measuring(p)
    p.set_defaults(func=cmd_measure)

    p = sub.add_parser("generate", help="records -> partials, _variables.yml, chart, snapshot pages")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("refresh", help="measure (cached) + generate: the project's pre-render step")
    measuring(p)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_refresh)

    for name, func, text in (("build", cmd_build, "measure + generate + render the site into _site/"),
                             ("preview", cmd_preview, "build, serve locally, rebuild on change")):
        p = sub.add_parser(name, help=text)
        measuring(p)
        p.add_argument("--engine", default="auto",
                       help="auto (quarto when installed, else smalldocs), quarto or smalldocs")
        p.add_argument("--quiet", "-q", action="store_true")
        if name == "preview":
            p.add_argument("--port", type=_count(1, 65535), default=4200)
            p.add_argument("--no-browser", action="store_true")
        p.set_defaults(func=func)

    p = sub.add_parser("check", help="exit 1 when generated files are stale or a post is wrong (changes nothing)")
    p.set_defaults(func=cmd_check)

    new = sub.add_parser("new", help="scaffold a post or a snapshot")
    new_sub = new.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = new_sub.add_parser("post", help='new post: diary new post "Title" [--snapshot ID ...]')
    p.add_argument("title")
    p.add_argument("--snapshot", action="append", metavar="ID", help="a snapshot the post covers (repeatable)")
    p.add_argument("--date", default=None, help="YYYY-MM-DD (default: today)")
    p.set_defaults(func=cmd_new_post)
    p = new_sub.add_parser("snapshot", help="new snapshot: diary new snapshot ID --from PARENT")
    p.add_argument("id")
    p.add_argument("--from", dest="parent", required=True, metavar="PARENT")
    p.add_argument("--title", default=None)
    p.set_defaults(func=cmd_new_snapshot)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "refresh" and os.environ.get("DIARY_PRERENDER_DONE") == "1":
        return 0  # `diary build` already measured and generated before starting the engine
    try:
        return args.func(args)
    except DiaryError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the machine, not the input: a full disk, a read-only checkout (exit 3)
        from .atomic import machine_error

        error = machine_error(exc, Path(exc.filename or "<diary>"))
        print(str(error), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("diary: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
