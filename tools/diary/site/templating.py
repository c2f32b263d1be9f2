"""The one Jinja environment of the tool (templates/*.j2), tables, and the small formatters of figures."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from diary.core import shortcodes
from diary.core.errors import DiaryError
from diary.core.escape import escape_html, escape_markdown_inline
from diary.core.yamlio import dump_yaml

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


@functools.lru_cache(maxsize=4)
def _environment(templates: Path):
    """One Jinja environment per templates folder, kept for the process: compiling costs more than
    rendering."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)), autoescape=False, undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["md"] = escape_markdown_inline
    env.filters["html"] = escape_html
    env.filters["yaml_str"] = yaml_str  # the scaffolding templates' YAML values
    env.globals["include"] = shortcodes.include
    return env


def render(template: str, **context: Any) -> str:
    """Render `templates/<template>`; any template problem is a DiaryError naming the file and line."""
    import jinja2

    env = _environment(TEMPLATES_DIR)
    path = TEMPLATES_DIR / template
    try:
        return env.get_template(template).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise DiaryError(f"template error: {exc.message}", file=exc.filename or path, line=exc.lineno,
                         hint="fix the template") from None
    except jinja2.TemplateNotFound:
        raise DiaryError("template not found", file=path, hint="restore it from git") from None
    except jinja2.TemplateError as exc:
        raise DiaryError(f"template error: {exc}", file=path, line=_template_line(exc, path),
                         hint="fix the template") from None


def _template_line(exc: BaseException, path: Path) -> int | None:
    """The template line a rendering error happened on: Jinja puts template lines in the traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_table(header: list[str], rows: list[list[str]], right: set[int], caption: str,
                 kind: str = "") -> str:
    """A Markdown pipe table of escaped cells; columns in `right` are right-aligned (numbers).

    `kind` ("progress", "snapshots") names the table for styles.css, which shows a progress table's key
    columns and lets the reader show the rest, and keeps the snapshot index's key columns on a phone.
    """
    widths = [max(3, len(header[col]), *(len(row[col]) for row in rows)) for col in range(len(header))]
    # Pandoc sizes the columns of a wide table by the dashes under the header: as wide as the text.
    separator = [("-" * (width - 1) + ":") if col in right else (":" + "-" * (width - 1))
                 for col, width in enumerate(widths)]
    return render("table.md.j2", header=header, separator=separator, rows=rows, widths=widths,
                  right=right, caption=caption, kind=kind)


def front_matter(**values: Any) -> str:
    """YAML front matter values dumped by the YAML library, never pasted into a template."""
    return dump_yaml({key: value for key, value in values.items() if value is not None})


def signed(number: int | None) -> str:
    """+3, -12, 0: the sign always shown, as the contract's signed variables are."""
    if number is None:
        return ""
    return f"{number:+d}" if number else "0"


def signed_percent(number: float) -> str:
    return f"{number:+.1f}" if number else "0.0"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def mark(value: bool) -> str:
    return "✓" if value else "✗"


def identity(identical: bool, normalised_by: tuple[str, ...] | list[str], declared: bool) -> str:
    """The verdict on a snapshot's output beside the normalisations it needed: an identity after
    normalising is never shown as byte identity. With none declared every ✓ is byte for byte."""
    if not identical:
        return mark(False)
    if normalised_by:
        return f"{mark(True)} after normalising {', '.join(normalised_by)} (not byte for byte)"
    return f"{mark(True)} byte for byte" if declared else mark(True)


def yaml_str(value: object) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML), safe for any title or id."""
    return json.dumps(str(value), ensure_ascii=False)
