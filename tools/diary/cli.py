"""The `diary` command: a thin layer over the stages. `diary --help` tells the whole story."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from diary import __version__
from diary.core.errors import DiaryError, LockedError
from diary.core.lock import command_lock, lock_held_by_ancestor
from diary.measure.sandbox.run import add_sandbox_option
from diary.project.normalise import BUILT_IN

if TYPE_CHECKING:
    from diary.measure.pipeline import MeasureReport
    from diary.project.project import Project

DESCRIPTION = """\
Measure the snapshots of a program and publish the diary of making it shorter.

Data flows one way:
  diary init DIR --program PATH   start a diary of your own program (or --snapshots DIR)
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


def run_measure(project: Project, args: argparse.Namespace, quiet: bool = False) -> MeasureReport:
    """Measure under the caller's lock; print the sandbox notice and the summary unless quiet."""
    from diary.measure.pipeline import measure_all
    from diary.measure.progress import console_progress
    from diary.measure.sandbox.run import sandbox_notice
    from diary.project.shards import parse_shard

    progress = None if quiet else console_progress()
    report = measure_all(project, only=args.only, force=args.force, jobs=args.jobs, progress=progress,
                         shard=parse_shard(vars(args).get("shard")), out=vars(args).get("out"), sandbox=args.sandbox)
    notice = sandbox_notice(report.sandbox) if report.measured and not quiet else None
    if notice:
        print(notice, file=sys.stderr)
    if not quiet:
        from diary.measure.summary import print_summary

        print_summary(report)
    return report


def cmd_plan(args: argparse.Namespace) -> int:
    from diary.project.shards import plan_of_project

    print(plan_of_project(load_project(args), args.shards, stale_only=args.stale).shown(as_json=args.json))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from diary.project.merge import merge_records

    with command_lock(_root(args)):
        print(merge_records(load_project(args), [Path(f) for f in args.folders], verify=args.verify).summary())
    return 0


def run_generate(project: Project, quiet: bool) -> None:
    from diary.site.outputs import generate

    report = generate(project)
    if not quiet:
        print(report.summary(), file=sys.stderr)


def load_project(args: argparse.Namespace) -> Project:
    from diary.project.project import Project

    return Project.load(_root(args))


def cmd_measure(args: argparse.Namespace) -> int:
    with command_lock(_root(args)):
        return run_measure(load_project(args), args).exit_code


def cmd_generate(args: argparse.Namespace) -> int:
    with command_lock(_root(args)):
        run_generate(load_project(args), quiet=args.quiet)
    return 0


def measure_and_generate(args: argparse.Namespace, quiet: bool) -> MeasureReport:  # under the caller's lock
    report = run_measure(project := load_project(args), args, quiet=quiet)
    run_generate(project, quiet=quiet)
    return report


def cmd_refresh(args: argparse.Namespace) -> int:
    """What `project: pre-render:` runs before every render. Under `diary build` (its engine runs this
    hook), the build holds the lock and has measured and generated already: nothing is left to do."""
    root = _root(args)
    try:
        with command_lock(root):
            return measure_and_generate(args, args.quiet).exit_code
    except LockedError:
        if lock_held_by_ancestor(root):
            return 0
        raise


def cmd_build(args: argparse.Namespace) -> int:
    from diary.render.engine import choose_engine, render_site

    root = _root(args)
    engine = choose_engine(args.engine)
    with command_lock(root):
        report = measure_and_generate(args, args.quiet)
        # The engine runs `project.pre-render` (diary refresh): it finds the lock held by this process,
        # its ancestor, and returns at once.
        render_site(root, engine, quiet=args.quiet, incremental=not args.full, verbose=args.verbose)
    from diary.render.siteurl import placeholder_site_url_warning

    if warning := placeholder_site_url_warning(root):
        print(warning, file=sys.stderr)  # even with --quiet: the published feed would be wrong
    return report.exit_code


def cmd_preview(args: argparse.Namespace) -> int:
    from diary.measure.summary import surprise_lines
    from diary.render.engine import choose_engine, preview_site

    reports = []  # each build's measure: a surprising verdict still serves the site, and the command ends with it
    def before_each_build() -> list[str]:  # under the preview's lock
        reports.append(measure_and_generate(args, quiet=True))
        return surprise_lines(reports[-1])

    return preview_site(_root(args), choose_engine(args.engine), port=args.port, open_browser=not args.no_browser,
                        refresh=before_each_build) or (reports[-1].exit_code if reports else 0)


def cmd_check(args: argparse.Namespace) -> int:
    from diary.check import check, contradicted_records, passed

    problems = check(_root(args))
    if args.rerun:
        # Measured again in private folders, writing nothing: the run, the tests and the probes are
        # re-derived too, not only what the files give (what the publish workflow asks for).
        from diary.measure.pipeline import measure_all
        from diary.measure.progress import console_progress
        from diary.project.shards import parse_shard

        project = load_project(args)
        fresh = measure_all(project, force=True, write=False, jobs=args.jobs, shard=parse_shard(args.shard),
                            out=args.out, progress=console_progress(), sandbox=args.sandbox)
        problems += contradicted_records(project, fresh.records)
    from diary.core.escape import for_terminal
    from diary.render.siteurl import placeholder_site_url_warning

    if warning := placeholder_site_url_warning(_root(args)):
        print(for_terminal(warning), file=sys.stderr)  # not a problem: a fork builds and checks before it is set
    for problem in problems:
        print(problem.finding(), file=sys.stderr)  # escaped: names and messages come from the repository
    if problems:
        print(f"diary check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(passed(_root(args)))
    return 0


def cmd_new_post(args: argparse.Namespace) -> int:
    from diary.author.scaffold import new_post

    path = new_post(_root(args), args.title, args.snapshot or [], date=args.date, description=args.description)
    print(f"wrote {path}")
    return 0


def cmd_new_snapshot(args: argparse.Namespace) -> int:
    from diary.author.scaffold import new_snapshot

    program_args = _program_args(args.args) if args.args is not None else None
    path = new_snapshot(_root(args), args.id, parent=args.parent, title=args.title, replace=args.replace,
                        files_from=Path(args.files) if args.files else None, entry=args.entry, args=program_args)
    print(f"wrote {path}")
    return 0


def _program_args(text: str) -> tuple[str, ...]:
    """`--args "run 3"`: the program's arguments, split as a shell would."""
    import shlex

    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise DiaryError(f"--args {text!r}: {exc}", hint='quote it as a shell would: --args "run 3"') from None


def cmd_init(args: argparse.Namespace) -> int:
    from diary.author.init import init_diary
    from diary.author.options import InitOptions
    from diary.core.escape import for_terminal

    program_args = _program_args(args.args or "")
    report = init_diary(InitOptions(
        target=Path(args.dir), program=Path(args.program) if args.program else None,
        snapshots=Path(args.snapshots) if args.snapshots else None, entry=args.entry, args=program_args,
        data=tuple(args.data or ()), tests=Path(args.tests) if args.tests else None, title=args.title,
        alternatives=args.alternatives, normalise=tuple(args.normalise or ()), timing_limit=args.timing_limit,
        filters=tuple((name, pattern, text) for name, pattern, text in args.filter or ()),
    ))
    print(for_terminal(report.timing))
    for file, warning in report.warnings:
        print(for_terminal(f"{file}: warning: {warning}"), file=sys.stderr)
    print(for_terminal(f"wrote a diary of {report.entry} in {report.target} ({len(report.written)} files; "
                       f"snapshots: {', '.join(report.snapshots)})"))
    for file, surprise in report.broken:  # as measure reports one: exit 1
        print(for_terminal(f"{file}: {surprise}"), file=sys.stderr)
    print("next: cd into it, then diary build (measure, generate, render) and diary check")
    return 1 if report.broken else 0


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

    def sharding(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--shard", metavar="K/N", help=f"{what} only share K of N of diary plan ('ci': GitLab's)")
        p.add_argument("--out", metavar="DIR", help="also write the records measured (its share) to DIR: diary merge")

    p = sub.add_parser("measure", help="count, run and test every stale snapshot -> _data/records/")
    measuring(p)
    sharding(p, "measure")
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
        if name == "build":
            p.add_argument("--verbose", "-v", action="store_true", help="list the pages this build renders")
            p.add_argument("--full", action="store_true", help="render every page, not only those whose inputs changed")
        if name == "preview":
            p.add_argument("--port", type=_count(1, 65535), default=4200)
            p.add_argument("--no-browser", action="store_true")
        p.set_defaults(func=func)

    p = sub.add_parser("check", help="exit 1 when generated files are stale or a post is wrong (changes nothing)")
    p.add_argument("--rerun", action="store_true",
                   help="also run every snapshot and its tests again (writing nothing) and refuse committed "
                        "records that the fresh run contradicts (the publish workflow does this)")
    p.add_argument("--jobs", "-j", type=_count(1, 256), default=None,
                   help="parallel snapshots with --rerun (default: cores)")
    sharding(p, "with --rerun, run")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("plan", help="which snapshot each of N shards runs, and the CPU each expects")
    p.add_argument("--shards", type=_count(1, 256), help="how many (default: code/diary.yml's shards)")
    p.add_argument("--stale", action="store_true", help="only the snapshots 'diary measure' would run")
    p.add_argument("--json", action="store_true", help="one line of JSON, for a workflow's fromJSON")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("merge", help="the records of every shard -> _data/records/ (refused when they disagree)")
    p.add_argument("folders", nargs="+", metavar="DIR", help="what each 'diary measure --shard K/N --out DIR' wrote")
    p.add_argument("--verify", action="store_true",
                   help="write nothing: refuse unless every snapshot was verified ('check --rerun --shard --out')")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("init", help="start a diary of a program: diary init [DIR] --program PATH",
                       description="Write a working diary of a program into DIR (new or empty; a folder that "
                                   "holds a diary is refused): code/diary.yml with the entry, arguments, data files "
                                   "and timeouts from two timing runs in the sandbox, the snapshots and their records, "
                                   "the site's pages, a first post, .gitignore and the workflows.")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the diary's folder (default: .)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--program", metavar="PATH", help="the program: a .py file or a folder of modules")
    source.add_argument("--snapshots", metavar="DIR",
                        help="a folder of snapshots, one subfolder each (its name is the id), chained in name order")
    p.add_argument("--alternatives", action="store_true",
                   help="with --snapshots: every snapshot is an alternative of the first, not a chain")
    p.add_argument("--entry", metavar="FILE.py", help="the module to run, when a folder has several candidates")
    p.add_argument("--args", metavar="'ARG ...'", default=None,
                   help="the program's arguments, split as a shell would (default: none)")
    p.add_argument("--data", action="append", metavar="SRC[:DEST]",
                   help="a data file the program reads, kept under code/data/, seen by the run as DEST "
                        "(default: its name; repeatable)")
    p.add_argument("--tests", metavar="DIR", help="a folder of pytest tests of the program (default: no suite)")
    p.add_argument("--normalise", action="append", metavar="NAME", choices=BUILT_IN,
                   help="normalise the output before comparing it: line-endings (CRLF as LF) or carriage-returns "
                        "(a CR ends a line); repeatable")
    p.add_argument("--filter", action="append", nargs=3, metavar=("NAME", "REGEX", "TEXT"),
                   help="replace what REGEX matches by TEXT before comparing, e.g. "
                        "--filter timestamp 'started .*' 'started <time>'; repeatable")
    p.add_argument("--title", default=None, help="the site's title (default: The <entry> diary)")
    p.add_argument("--timing-limit", type=_count(1, 604_800), metavar="S", help="timing runs' limit (900 s)")
    p.set_defaults(func=cmd_init)

    new = sub.add_parser("new", help="scaffold a post or a snapshot")
    new_sub = new.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = new_sub.add_parser("post", help='new post: diary new post "Title" [--snapshot ID ...]')
    p.add_argument("title")
    p.add_argument("--snapshot", action="append", metavar="ID", help="a snapshot the post covers (repeatable)")
    p.add_argument("--date", default=None, help="YYYY-MM-DD (default: today)")
    p.add_argument("--description", metavar="TEXT", help="what the listing and feed show (default: a sentence)")
    p.set_defaults(func=cmd_new_post)
    p = new_sub.add_parser("snapshot", help="new snapshot: diary new snapshot ID --from PARENT")
    p.add_argument("id")
    p.add_argument("--from", dest="parent", required=True, metavar="PARENT")
    p.add_argument("--title", default=None)
    p.add_argument("--files", metavar="DIR", help="take the snapshot's files from DIR instead of copying the parent")
    p.add_argument("--entry", metavar="FILE.py", help="its entry (the parent's; with --files, the one that runs)")
    p.add_argument("--replace", action="store_true", help="replace the files and snapshot.yml of an existing id")
    p.add_argument("--args", metavar="'ARG ...'", default=None,
                   help="the snapshot's own arguments (split as a shell would)")
    p.set_defaults(func=cmd_new_snapshot)
    add_sandbox_option(sub, ("measure", "refresh", "build", "preview", "check"))  # the commands that run snapshots
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except DiaryError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the machine, not the input: a full disk, a read-only checkout (exit 3)
        from diary.core.atomic import machine_error

        error = machine_error(exc, Path(exc.filename or "<diary>"))
        print(str(error), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("diary: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
