"""render: the site from the pages and partials, with the Quarto CLI or the embedded smalldocs engine."""
