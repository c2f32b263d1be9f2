"""Stage "generate": partials, `_variables.yml`, the chart and the snapshot pages, from the records.

One module per part, in the order data flows through them:

  model      each snapshot with its record and text, its figures (`Metrics`), the `Diary`
  posts      the posts' front matter and the validators of what pages reference
  templating the one Jinja environment, Markdown tables, formatters of figures
  variables  `_variables.yml`
  highlight  Pygments tokens -> Pandoc's code markup
  excerpts   code and diff partials (reused while their input hash matches)
  tables     the progress tables
  pages      snapshots/<id>.qmd and snapshots/index.qmd
  chart      images/progress.svg and its partial
  outputs    `build_outputs` (everything in memory, checked) and `write_outputs`

Nothing is imported here, so that `project` can import `site.posts` without a cycle.
"""
