"""diary: measure the snapshots of a program and publish the diary of shortening it.

Data flows one way, and the packages are its stages:

    project/  the diary as read from the repository: settings, snapshots, records, pages
    measure/  count, run (sandbox/), test and judge each snapshot; write its record
    site/     records -> partials, _variables.yml, chart and snapshot pages
    render/   the site, through the Quarto CLI or the embedded smalldocs engine
    check     the gate: is everything generated up to date, and are the posts honest
    author/   diary init and diary new: start a diary, add posts and snapshots
    cli       the command line: one Project per command, prints the stages' reports
    core/     what every stage shares: errors, paths, escaping, safe files, YAML, cache

The layer rule (tests/repo/test_layers.py checks it; a module may import its own package and
any package to its right, never one to its left):

    cli -> check, author -> site, render -> measure -> project -> core
"""

__version__ = "0.1.0"

# Part of every cache key: bump it when a change to the measuring code changes what a record holds.
MEASURE_VERSION = "9"

# The layer rule as data, top to bottom: a module may import from its own package and from any
# package of a lower layer. `diary` itself (this file: the versions) is below them all.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",), ("check", "author"), ("site", "render"), ("measure",), ("project",), ("core",),
)


def layer_rule() -> str:
    """The rule as one line, as the docstring, README.md and docs/architecture.md write it."""
    return " -> ".join(", ".join(layer) for layer in LAYERS)
