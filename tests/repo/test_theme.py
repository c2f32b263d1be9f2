"""The theme readers see, checked from the configuration and the CSS, without Quarto: the title banner's
text colour set for Quarto's theme and for smalldocs alike, and legible on the banner in both schemes;
no web fonts from a third party; the same assets in this diary, the test fixture and a diary made by
`diary init`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from diary.author.vendor import SITE_ASSETS, render_template, site_assets
from diarykit import FIXTURES_DIR, REPO

STYLES = (REPO / "styles.css").read_text(encoding="utf-8")
MIN_TEXT_CONTRAST = 4.5  # WCAG 2 AA for body text; the banner's title is larger, the description is not


def css_variable(name: str) -> str:
    found = re.findall(rf"{re.escape(name)}\s*:\s*(#[0-9a-fA-F]{{6}})\s*;", STYLES)
    assert len(found) == 1, f"styles.css must set {name} once, as #rrggbb"
    return found[0].lower()


def luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_is_computed_as_wcag_defines_it() -> None:
    assert round(contrast("#ffffff", "#000000"), 1) == 21.0
    assert round(contrast("#ffffff", "#2780e3"), 2) == 3.97  # cosmo's primary, too light for white text


SITE_CONFIGS = {
    "this diary": (REPO / "_quarto.yml").read_text(encoding="utf-8"),
    "the tiny diary fixture": (FIXTURES_DIR / "tinydiary" / "_quarto.yml").read_text(encoding="utf-8"),
    "a diary made by diary init": render_template(
        "init/quarto.yml.j2", title="The wordgen.py diary", description="Making wordgen.py shorter."),
}


@pytest.mark.parametrize("which", SITE_CONFIGS)
def test_the_banner_text_is_legible_in_both_engines_and_schemes(which: str) -> None:
    html = yaml.safe_load(SITE_CONFIGS[which])["format"]["html"]
    text = css_variable("--diary-banner-fg")
    # Quarto's cosmo keeps its grey body colour on the banner unless told; smalldocs reads styles.css.
    assert str(html["title-block-banner-color"]).lower() == text, "Quarto's banner text is not styles.css's"
    assert html["css"] == "styles.css"
    for background in ("--diary-banner-bg", "--diary-banner-bg-dark"):
        ratio = contrast(text, css_variable(background))
        assert ratio >= MIN_TEXT_CONTRAST, f"banner text on {background}: {ratio:.2f}:1"


@pytest.mark.parametrize("which", SITE_CONFIGS)
def test_quarto_follows_the_readers_dark_preference_as_smalldocs_does(which: str) -> None:
    assert yaml.safe_load(SITE_CONFIGS[which])["format"]["html"]["respect-user-color-scheme"] is True


@pytest.mark.parametrize("which", SITE_CONFIGS)
def test_no_theme_loads_web_fonts_from_a_third_party(which: str) -> None:
    theme = yaml.safe_load(SITE_CONFIGS[which])["format"]["html"]["theme"]
    for scheme in ("light", "dark"):
        layers = theme[scheme]
        assert isinstance(layers, list) and layers[-1] == "theme.scss", f"{scheme}: theme.scss must come last"
    scss = (REPO / "theme.scss").read_text(encoding="utf-8")
    defaults = scss.split("/*-- scss:defaults --*/", 1)[1]
    assert re.search(r"^\$web-font-path:\s*false;", defaults, re.M)
    assert "googleapis" not in STYLES and not re.search(r"@import\s+url\(\s*['\"]?(https?:)?//", STYLES)


def test_init_writes_this_diarys_site_assets(tmp_path: Path) -> None:
    assert site_assets() == {name: (REPO / name).read_bytes() for name in SITE_ASSETS}
    for name in SITE_ASSETS:  # the fixture's are copies of these (links among a site's files are refused)
        assert (FIXTURES_DIR / "tinydiary" / name).read_bytes() == (REPO / name).read_bytes(), name
