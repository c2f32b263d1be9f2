"""A warning while `_quarto.yml` still holds the placeholder `site-url` the repository ships with.

The RSS feed, the sitemap and the social cards are built from `website: site-url:`; with the
placeholder, every address in them points at a site that does not exist. The file is scanned line by
line (not parsed) so that the warning can name its line, and so that a file the engine will reject
anyway still gets its own, clearer error from the engine.
"""

from __future__ import annotations

import re
from pathlib import Path

from diary.core.contract import SITE_CONFIG_PATH

# The placeholder of README.md's Publishing section: https://YOUR-USER.github.io/YOUR-REPO/
PLACEHOLDER = re.compile(r"YOUR-USER|YOUR-REPO")
_SITE_URL = re.compile(r"^\s+site-url:\s*[\"']?([^\"'#\s]+)")


def placeholder_site_url_warning(root: Path) -> str | None:
    """`_quarto.yml:<line>: warning: ...` when site-url is still the placeholder, else None."""
    path = root / SITE_CONFIG_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # no project file, or one the engine reports on itself
    for number, line in enumerate(text.splitlines(), start=1):
        found = _SITE_URL.match(line)
        if found and PLACEHOLDER.search(found.group(1)):
            return (f"_quarto.yml:{number}: warning: site-url is still the placeholder {found.group(1)}: "
                    "the RSS feed and the sitemap point at it (set it to the address the site is "
                    "published at; README.md, Publishing)")
    return None
