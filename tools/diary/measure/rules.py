"""The diary's rules as verdicts: what a snapshot may not do, each breach named with file and line.

A snapshot is judged on the files it holds, read once (from the copy made at hashing time, see
`judge.py`). The rules, and why each exists:

| rule               | breached by                                                                   |
| ------------------ | ----------------------------------------------------------------------------- |
| `hidden-code`      | a file that is not a `.py` module: the program could load it as code, so it   |
|                    | would escape the line count (one that parses as Python is counted as code)    |
| `dynamic-code`     | `exec`, `eval`, `compile`, `__import__`, `breakpoint`, or a way to reach them |
|                    | (`builtins`, `__builtins__`, `globals`, `locals`, `vars`, dunder attributes   |
|                    | such as `__subclasses__`, or those names as strings; a private attribute of a |
|                    | module, `getattr` of a module with a computed name)                           |
| `code-loader`      | importing a module that loads, decodes or decompresses code or runs other     |
|                    | programs (`importlib`, `runpy`, `marshal`, `pickle`, `base64`, `zlib`, ...)   |
| `outside-import`   | importing a module that is neither in the standard library nor in the         |
|                    | snapshot, or changing where imports come from (`sys.path`, `sys.modules`)     |
| `joined-statements`| two statements on one line: a `;`, or a body on its header's line (`if x: y`) |
| `blank-lines`      | PEP 8 spacing of definitions: two blank lines before and after a top-level    |
|                    | `def` or `class`; one before a definition nested in a class or function,      |
|                    | unless it is the first of its body or follows the docstring; never more than  |
|                    | one blank line in a row inside a definition, nor more than two at top level   |
|                    | (comments directly above a definition belong to it)                           |
| `indentation`      | indentation by anything but spaces: a tab, or a block not 4 spaces deeper     |
| `comments`         | fewer of the baseline's comments kept than `comments_min_percent` in          |
|                    | `code/diary.yml`                                                              |
| `line-length`      | a line longer than the baseline's longest (or than `max_line_length` in       |
|                    | `code/diary.yml`): folding two lines into one saves a line and nothing else   |

The checks read the source (tokens and `ast`), never run it: they are cheap, and a snapshot cannot
influence them. They are a floor, not a proof: the run-time defences (the sandbox, probe runs on
fresh seeds, the test protocol) cover what a static reading cannot.
What the baseline does itself is allowed in every snapshot: see allowed.py.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize

from diary.core import usercache
from diary.core.contract import line_texts
from diary.project.discover import files_digest
from diary.project.records import Breach

RULES = ("hidden-code", "dynamic-code", "code-loader", "outside-import", "joined-statements",
         "blank-lines", "indentation", "comments", "line-length")

DYNAMIC_NAMES = frozenset({
    "exec", "eval", "compile", "__import__", "breakpoint", "__builtins__", "globals", "locals", "vars",
    "__loader__", "__spec__",
})
# Attribute names that lead from any object to code objects, frames or the builtins.
DUNDER_ALLOWED = frozenset({"__name__", "__doc__", "__init__"})
# The same names written as strings (for getattr, operator.attrgetter, ...): operator method names
# such as '__add__' stay allowed, they reach nothing new.
DUNDER_STRINGS = frozenset({
    "__self__", "__builtins__", "__globals__", "__code__", "__subclasses__", "__import__", "__loader__",
    "__spec__", "__dict__", "__class__", "__base__", "__bases__", "__mro__", "__getattribute__", "__reduce__",
    "__reduce_ex__", "__closure__", "__func__", "__module__", "__func_globals__", "__traceback__", "f_globals",
    "f_back", "gi_frame", "tb_frame", "exec", "eval", "compile",
})
LOADER_MODULES = frozenset({
    "builtins", "importlib", "imp", "runpy", "marshal", "pickle", "shelve", "dill", "zipimport", "pkgutil",
    "code", "codeop", "types", "inspect", "ctypes", "cffi", "gc", "base64", "binascii", "codecs", "zlib",
    "gzip", "bz2", "lzma", "zipfile", "tarfile", "subprocess", "os", "posix", "pty", "multiprocessing",
    "concurrent", "sysconfig", "site", "encodings", "unicodedata", "ast", "dis", "linecache", "tokenize",
})
IMPORT_STATE = frozenset({"path", "modules", "meta_path", "path_hooks", "path_importer_cache", "_getframe",
                          "settrace", "setprofile", "addaudithook", "stdout", "__stdout__"})


def python_source(name: str, data: bytes) -> str | None:
    """The text of a file that Python can run (parses as a module), or None."""
    try:
        text = data.decode("utf-8")
        ast.parse(text, filename=name)
    except (UnicodeDecodeError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return text


def code_files(files: dict[str, bytes]) -> dict[str, str]:
    """Every file of the snapshot the program can load as code: `.py` modules and, whatever its
    extension, any other file that parses as Python. A `.py` file that does not parse is still code
    (its run fails); it is read with replacement characters."""
    found: dict[str, str] = {}
    for name, data in files.items():
        if name.endswith(".py"):
            found[name] = data.decode("utf-8", errors="replace")
        elif data.strip():
            text = python_source(name, data)
            if text is not None:
                found[name] = text
    return found


def check_files(files: dict[str, bytes]) -> list[Breach]:
    """Every breach of the code rules in a snapshot's files (not the comment rule: see check_comments).

    A pure function of the files' names and bytes, kept in the user's cache by those, this module's
    source and the Python version (whose parser it uses): `diary check` re-derives the breaches of
    every snapshot, and most snapshots of a long diary did not change since the last check."""
    key = usercache.key_of(usercache.code_salt(sys.modules[__name__]), sys.version, files_digest(files).hexdigest())
    return usercache.remembered("rules", key, lambda: _check_files(files),
                                encode=lambda breaches: [breach.as_dict() for breach in breaches],
                                decode=lambda items: [Breach(**item) for item in items])


def _check_files(files: dict[str, bytes]) -> list[Breach]:
    breaches: list[Breach] = []
    modules = _own_modules(files)
    for name in files:
        if not name.endswith(".py"):
            kind = "Python code, counted as code" if python_source(name, files[name]) is not None else "data"
            breaches.append(Breach("hidden-code", name, 1, f"{name} is not a .py module (it holds {kind}); "
                                   "a snapshot holds only its modules, data files belong under code/data"))
    for name, text in code_files(files).items():
        breaches.extend(_check_text(name, text, modules))
    return breaches  # every one: the baseline's excuse them before any is cut (allowed.py)


def check_comments(kept: int, total: int, minimum_percent: float) -> list[Breach]:
    if not total or minimum_percent <= 0:
        return []
    percent = 100.0 * kept / total
    if percent + 1e-9 >= minimum_percent:
        return []
    return [Breach("comments", "", 0, f"{kept} of the baseline's {total} comments kept ({percent:.1f} %), "
                   f"below comments_min_percent {minimum_percent:g} %")]


def longest_line(code: dict[str, str]) -> int:
    """The characters of the longest physical line of the code files: what the baseline allows."""
    return max((len(line) for text in code.values() for line in line_texts(text)), default=0)


def check_line_length(code: dict[str, str], limit: int) -> list[Breach]:
    """Every line longer than `limit` (the baseline's longest line, or `max_line_length`)."""
    found = [Breach("line-length", name, number, f"a line of {len(line)} characters, over the {limit} allowed")
             for name, text in code.items() for number, line in enumerate(line_texts(text), start=1)
             if len(line) > limit]
    shown = 20  # a file of 500 long lines is named 20 times, then counted
    if len(found) <= shown:
        return found
    return found[:shown] + [Breach("line-length", found[shown].file, 0,
                                   f"{len(found) - shown} more lines over {limit} characters")]


def describe(breach: Breach) -> str:
    """One line for a verdict: `rule at file:line: what`."""
    where = f" at {breach.file}:{breach.line}" if breach.file else ""
    return f"rule {breach.rule}{where}: {breach.what}"


def _own_modules(files: dict[str, bytes]) -> set[str]:
    """Top-level module and package names the snapshot itself provides."""
    names = set()
    for name in files:
        first = name.split("/", 1)[0]
        names.add(first.removesuffix(".py"))
    return names


def _check_text(name: str, text: str, modules: set[str]) -> list[Breach]:
    try:
        tree = ast.parse(text, filename=name)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # the run fails and says why; the rules judge code that can run
    breaches = _check_tree(name, tree, modules)
    breaches += _check_tokens(name, text)
    breaches += _check_statements(name, tree)
    breaches += _check_blank_lines(name, text, tree)
    return breaches


def _imported_modules(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _check_tree(name: str, tree: ast.AST, modules: set[str]) -> list[Breach]:
    found: list[Breach] = []
    module_names = _imported_modules(tree)
    stdlib = sys.stdlib_module_names
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 1)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom):
                if node.level:  # a relative import stays inside the snapshot's package
                    continue
                targets = [node.module or ""]
            else:
                targets = [alias.name for alias in node.names]
            for target in targets:
                top = target.split(".")[0]
                if top in modules and top not in stdlib:
                    continue
                if top in LOADER_MODULES:
                    found.append(Breach("code-loader", name, line,
                                        f"imports {target}, which can load, decode or run code"))
                elif top not in stdlib:
                    found.append(Breach("outside-import", name, line,
                                        f"imports {target}, which is neither in the standard library nor in "
                                        "the snapshot"))
        elif isinstance(node, ast.Name) and node.id in DYNAMIC_NAMES:
            found.append(Breach("dynamic-code", name, line, f"uses {node.id}, which runs or reaches code "
                                "built at run time"))
        elif isinstance(node, ast.Attribute):
            attr = node.attr
            base = node.value.id if isinstance(node.value, ast.Name) else None
            if attr.startswith("__") and attr.endswith("__") and attr not in DUNDER_ALLOWED:
                found.append(Breach("dynamic-code", name, line, f"uses the attribute {attr}"))
            elif base == "sys" and attr in IMPORT_STATE:
                found.append(Breach("outside-import", name, line, f"uses sys.{attr}, which changes where code "
                                    "or output comes from"))
            elif base in module_names and attr.startswith("_") and not attr.startswith("__"):
                found.append(Breach("dynamic-code", name, line, f"uses the private {base}.{attr}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in DUNDER_STRINGS:
            found.append(Breach("dynamic-code", name, line, f"names {node.value!r} in a string, a way to reach "
                                "code or the builtins"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                "getattr", "setattr", "delattr"):
            subject = node.args[0] if node.args else None
            attribute = node.args[1] if len(node.args) > 1 else None
            computed = not (isinstance(attribute, ast.Constant) and isinstance(attribute.value, str))
            if isinstance(subject, ast.Name) and subject.id in module_names and computed:
                found.append(Breach("dynamic-code", name, line, f"{node.func.id} on module {subject.id} with a "
                                    "computed name"))
    return found


def _check_tokens(name: str, text: str) -> list[Breach]:
    """Joined statements (`;`) and indentation: from tokens, so strings and comments do not count."""
    found: list[Breach] = []
    depth = [0]
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.OP and token.string == ";":
                found.append(Breach("joined-statements", name, token.start[0], "two statements joined with ';'"))
            elif token.type == tokenize.INDENT:
                width = len(token.string)
                if "\t" in token.string or set(token.string) - {" "}:
                    found.append(Breach("indentation", name, token.start[0], "indented with a tab"))
                elif width != depth[-1] + 4:
                    found.append(Breach("indentation", name, token.start[0],
                                        f"indented by {width - depth[-1]} spaces instead of 4"))
                depth.append(width)
            elif token.type == tokenize.DEDENT and len(depth) > 1:
                depth.pop()
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    for number, line in enumerate(text.splitlines(), start=1):
        leading = line[: len(line) - len(line.lstrip(" \t\f"))]
        if "\t" in leading and not any(b.line == number and b.rule == "indentation" for b in found):
            found.append(Breach("indentation", name, number, "indented with a tab"))
    return found


_BODIES = ("body", "orelse", "finalbody", "handlers")


def _check_statements(name: str, tree: ast.AST) -> list[Breach]:
    """A compound statement's body on its header's line (`if x: y`, `def f(): pass`)."""
    found: list[Breach] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or isinstance(node, ast.Expr | ast.Assign):
            continue
        for field in _BODIES:
            body = getattr(node, field, None)
            if not isinstance(body, list) or not body or not isinstance(body[0], ast.stmt | ast.excepthandler):
                continue
            first = body[0]
            header_line = _header_end_line(node, field, first)
            if header_line is not None and first.lineno == header_line:
                found.append(Breach("joined-statements", name, first.lineno,
                                    "a statement on the same line as its block's header"))
    return found


def _header_end_line(node: ast.stmt, field: str, first: ast.AST) -> int | None:
    """The line holding the ':' that opens `field` of `node` (an approximation from positions)."""
    if field == "body":
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            returns = getattr(node, "returns", None)
            heads = [returns] if returns is not None else []
            args = getattr(node, "args", None)
            if args is not None:
                heads.extend(a.annotation or a for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])
                heads.extend(args.defaults)
                heads.extend(d for d in args.kw_defaults if d is not None)
            heads.extend(getattr(node, "bases", []))
            heads.extend(k.value for k in getattr(node, "keywords", []))
            return max([node.lineno, *(getattr(h, "end_lineno", node.lineno) or node.lineno for h in heads)])
        head = getattr(node, "test", None) or getattr(node, "iter", None) or getattr(node, "subject", None)
        if head is None and isinstance(node, ast.With | ast.AsyncWith):
            head = node.items[-1].optional_vars or node.items[-1].context_expr
        if head is not None:
            return head.end_lineno
        return node.lineno  # try:
    return None  # else/finally/except: their headers are not positioned in the ast


def _docstring(node: ast.stmt, index: int) -> bool:
    """The docstring of a body (its first statement, a string): it belongs to the header above."""
    return index == 1 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(
        node.value.value, str)


def _check_blank_lines(name: str, text: str, tree: ast.Module) -> list[Breach]:
    lines = text.splitlines()
    found: list[Breach] = []

    def blank(number: int) -> bool:  # 1-based
        return 1 <= number <= len(lines) and not lines[number - 1].strip()

    def comment(number: int) -> bool:
        return 1 <= number <= len(lines) and lines[number - 1].lstrip().startswith("#")

    def blanks_before(start: int) -> int:
        """Blank lines right above line `start`, after skipping the comments directly above it."""
        number = start - 1
        while comment(number):
            number -= 1
        count = 0
        while blank(number):
            count += 1
            number -= 1
        return count if number >= 1 else -1  # -1: at the top of the file

    def first_line(node: ast.stmt) -> int:
        decorators = getattr(node, "decorator_list", [])
        return min([node.lineno, *(d.lineno for d in decorators)])

    def visit(body: list[ast.stmt], top: bool, in_definition: bool) -> None:
        for index, node in enumerate(body):
            is_def = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            previous = body[index - 1] if index else None
            start = first_line(node)
            before = blanks_before(start)
            follows_def = isinstance(previous, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            if top and previous is not None and (is_def or follows_def) and before != -1 and before != 2:
                what = "definition" if is_def else "statement after a definition"
                found.append(Breach("blank-lines", name, start,
                                    f"{before} blank line(s) before a top-level {what}, expected 2"))
            elif not top and is_def and previous is not None and before == 0 and not _docstring(previous, index):
                found.append(Breach("blank-lines", name, start,
                                    "no blank line before a nested definition, expected 1"))
            if is_def:
                visit(getattr(node, "body"), False, True)  # noqa: B009 - mypy cannot narrow stmt to a def here
            else:
                for field in _BODIES:
                    inner = getattr(node, field, None)
                    if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                        visit(inner, False, in_definition)
                    elif field == "handlers" and isinstance(inner, list):
                        for handler in inner:
                            visit(handler.body, False, in_definition)

    visit(tree.body, True, False)
    # Runs of blank lines: at most one inside a definition, two at top level.
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            inside.update(range(node.lineno + 1, (node.end_lineno or node.lineno) + 1))
    run = 0
    for number in range(1, len(lines) + 2):
        if blank(number):
            run += 1
            continue
        if run:
            limit = 1 if (number in inside and number - run - 1 in inside) else 2
            if run > limit:
                where = "inside a definition" if limit == 1 else "at top level"
                found.append(Breach("blank-lines", name, number - run,
                                    f"{run} blank lines in a row {where}, at most {limit}"))
        run = 0
    return found
