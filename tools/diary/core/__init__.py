"""core: what every stage shares: errors, paths, shortcodes, escaping, safe files, atomic writes, YAML, cache."""
