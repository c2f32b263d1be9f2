"""diary: measure the snapshots of a program and publish the diary of shortening it.

The stages, in the order data flows (each module imports only from those before it):

    discover  -> which snapshots exist (code/snapshots/<id>/snapshot.yml)
    count     -> line counts, definitions and comments of a snapshot's files
    sandbox   -> one run of a snapshot in a sandboxed subprocess
    testsuite -> the program's behavioural test suite against one snapshot
    measure   -> all of the above for every snapshot, cached and in parallel
    records   -> the measurements as YAML under _data/records/
    generate  -> partials, _variables.yml, chart and snapshot pages from the records
    render    -> the site, through the Quarto CLI or the embedded smalldocs engine
    check     -> the freshness gate: is everything generated up to date and are the posts honest

`cli` is the thin command-line layer on top.
"""

__version__ = "0.1.0"

# Part of every cache key: bump it when a change to the measuring code changes what a record holds.
MEASURE_VERSION = "6"
