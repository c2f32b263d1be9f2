"""`_variables.yml`: the nested mapping behind every `{{< var ... >}}` (docs/generated.md)."""

from __future__ import annotations

from typing import Any

from diary.core.escape import metadata_text, neutralise_shortcodes
from diary.project.cited import citation, load_cited
from diary.project.linecounts import Size
from diary.project.records import BEST_MEASURES
from diary.site.model import Diary, Snapshot
from diary.site.templating import identity, mark, signed, signed_percent


def build_variables(diary: Diary) -> dict:
    """The nested mapping behind `{{< var ... >}}`, keys in a stable order (docs/generated.md).

    A variable's value is YAML that Quarto reads as Markdown, as it reads front matter: escapes are
    undone before shortcodes are looked for, so free text (a title) follows the front-matter rule,
    escape.metadata_text, and a title that is not plain text is given as the snapshot's id. Ids only
    have their shortcode openings broken, so they still work inside a link.
    """
    snaps: dict[str, dict] = {}
    baseline_code = diary.baseline.code
    broken_so_far = 0
    for position, snap in enumerate(diary.snapshots, 1):
        m = diary.metrics[snap.id]
        broken_so_far += snap.broken
        entry: dict[str, Any] = {
            "title": metadata_text(snap.meta.title) or snap.id,
            "date": snap.meta.date.isoformat(),
            "code": m.code, "comment": m.comment, "blank": m.blank, "physical": m.physical,
            "tokens": m.tokens, "characters": m.characters,
            "status": m.status, "identical": mark(m.identical),
            "byte_identical": mark(m.identical and not m.normalised_by),
            "normalised_by": ", ".join(m.normalised_by) or "nothing",
            # What the site shows beside the verdict (names of normalisations are [a-z0-9_-]: plain text).
            "identity": identity(m.identical, m.normalised_by, bool(diary.settings.normalise)),
            "tests_passed": m.tests_passed, "tests_total": m.tests_total, "tests_failed": m.tests_failed,
            "comments_kept": m.comments_kept, "comments_total": m.comments_total,
            "comments_percent": m.comments_percent,
            "run_s": m.run_s, "cpu_s": m.cpu_s, "peak_mb": m.peak_mb,
            "code_vs_parent": signed(m.vs_parent) if m.vs_parent is not None else "0",
            "code_vs_baseline": signed(m.vs_baseline),
            "percent_vs_baseline": signed_percent(m.percent_vs_baseline),
            "tokens_vs_baseline": signed(m.tokens_vs_baseline),
            "tokens_percent_vs_baseline": signed_percent(m.tokens_percent_vs_baseline),
            # The diary as of this snapshot, for posts: a later snapshot never changes these.
            "saved_code": baseline_code - m.code,
            "saved_percent": round(100.0 * (baseline_code - m.code) / baseline_code, 1) if baseline_code else 0.0,
            "snapshots_so_far": position,
            "broken_so_far": broken_so_far,
        }
        difference = snap.record.behaviour.first_difference
        if not m.identical and difference:
            entry["first_difference_line"] = difference.line
        figures = {key: {"code": d.code, "physical": d.physical, "tokens": d.tokens}
                   for key, d in snap.definitions.items()}
        # A name one module alone defines is also addressable bare (nested() never lets it overwrite).
        figures.update({name: figures[key] for name, key in snap.bare_names.items()})
        entry["def"] = nested(figures)
        snaps[neutralise_shortcodes(snap.id)] = entry
    baseline, best = diary.baseline, diary.best
    base_tests = diary.metrics[baseline.id]
    summary = {
        "snapshots": len(diary.snapshots),
        "broken": sum(1 for snap in diary.snapshots if snap.broken),
        "baseline": neutralise_shortcodes(baseline.id),
        # The shortest snapshot that works (Diary.best): alternatives of one parent are not steps, so
        # there is no "final" one. When none works there is no best and no figure of it: a post that
        # cites one is refused by check (an unknown variable), never shown a broken snapshot's.
        **(best_figures(diary, baseline, best) if best is not None else {"best": NO_BEST,
                                                                  "baseline_code": baseline.code}),
        # A setting is published only where some snapshot's arguments use it: `args: []` has no seed.
        **{name: getattr(diary.settings, name) for name in ("steps", "seed", "samples")
           if any(name in snap.meta.placeholders for snap in diary.snapshots)},
        "tests_total": base_tests.tests_total + baseline.record.tests.skipped,
        "sandbox": baseline.record.run.sandbox,
    }
    definitions: dict[str, dict] = {}
    for key, d in baseline.definitions.items():
        found = diary.follow(key, baseline, best) if best is not None else None  # across renames, moves, splits
        if found is not None and best is not None:
            definitions[key] = {"baseline": d.code, "best": best.definitions[found].code,
                                "saved": d.code - best.definitions[found].code, "best_name": found}
    # Figures quoted from outside (project/cited.py): only ever as a citation, never a bare number.
    cited = {figure.name: citation(figure) for figure in load_cited(diary.settings.root)}
    return {"diary": summary, "snap": snaps, "def": nested(definitions), **({"cited": cited} if cited else {})}


def size_figures(baseline: Size, best: Size) -> dict[str, Any]:
    """The tokens and characters of the baseline and the best, and what the best saved of each."""
    figures: dict[str, Any] = {}
    for measure in ("tokens", "characters"):
        before, after = getattr(baseline, measure), getattr(best, measure)
        figures |= {f"baseline_{measure}": before, f"best_{measure}": after, f"saved_{measure}": before - after,
                    f"saved_{measure}_percent": round(100.0 * (before - after) / before, 1) if before else 0.0}
    return figures


NO_BEST = "none (no snapshot works)"


def best_figures(diary: Diary, baseline: Snapshot, best: Snapshot) -> dict[str, Any]:
    saved = baseline.code - best.code
    m = diary.metrics[best.id]
    return {"best": neutralise_shortcodes(best.id), "baseline_code": baseline.code, "best_code": best.code,
            "saved_code": saved,
            "saved_percent": round(100.0 * saved / baseline.code, 1) if baseline.code else 0.0,
            "best_measure": BEST_MEASURES["code"],  # what "shortest" means for the best (records.best_snapshot)
            # The headline of the home page: the best's behaviour and tests, beside its size.
            "best_identity": identity(m.identical, m.normalised_by, bool(diary.settings.normalise)),
            "best_tests_passed": m.tests_passed, "best_tests_total": m.tests_total,
            **size_figures(baseline.record.size.total, best.record.size.total)}


def nested(by_key: dict[str, dict]) -> dict:
    """Dotted keys as the nested mappings `{{< var >}}` reads: `pairs.main` -> def.pairs.main. A key
    whose place is taken (a module named like a figure) is left out rather than overwrite one."""
    tree: dict[str, Any] = {}
    for key, value in by_key.items():
        *modules, name = key.split(".")
        node = tree
        for part in modules:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            if name not in node:
                node[name] = value
            elif isinstance(node[name], dict) and not set(node[name]) & set(value):
                node[name].update(value)
    return tree
