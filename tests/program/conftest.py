"""The trusted half of the behavioural suite: judges the answers the driver collected.

`diary measure` runs `driver.py` beside the snapshot (and beside the baseline) in their own
sandboxes, then runs these tests in a third sandbox that holds only the two answer files, with:

- `DIARY_OBSERVED`: the snapshot's answers (JSON written by driver.py);
- `DIARY_BASELINE_OBSERVED`: the baseline's answers, for the comparison tests;
- `DIARY_QUESTIONS_SEED`: the seed the questions were drawn from at measure time (spec.asked).

No code of the snapshot runs in this process, so it cannot change what pytest reports. Without
`DIARY_OBSERVED` nothing here is collected, so the project's own `pytest` run skips it. See
README.md for the interface the tests rely on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

OBSERVED = os.environ.get("DIARY_OBSERVED", "")
BASELINE_OBSERVED = os.environ.get("DIARY_BASELINE_OBSERVED", "")

if not OBSERVED:
    # Not started by the diary tool: collect nothing here.
    collect_ignore_glob = ["*"]


def _load(path: str, whose: str) -> dict:
    try:
        answers = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        pytest.fail(f"the {whose}'s answers are unreadable: {type(error).__name__}", pytrace=False)
    if not isinstance(answers, dict):
        pytest.fail(f"the {whose}'s answers are not a mapping", pytrace=False)
    return answers


class Answers:
    """The driver's answers for one program; `answers[name]` fails the test when that question failed."""

    def __init__(self, raw: dict, whose: str) -> None:
        self.raw = raw
        self.whose = whose

    def __getitem__(self, name: str):
        answer = self.raw.get(name)
        if answer is None:
            pytest.fail(f"the {self.whose} gave no answer to {name!r}", pytrace=False)
        if isinstance(answer, dict) and "error" in answer:
            pytest.fail(f"{name}: the {self.whose} raised {answer['error']}", pytrace=False)
        return answer


@pytest.fixture(scope="session")
def asked() -> dict:
    """The questions of this measure, drawn from the seed the tool chose (DIARY_QUESTIONS_SEED)."""
    from spec import asked as draw

    seed = os.environ.get("DIARY_QUESTIONS_SEED", "")
    return draw(int(seed) if seed.isdigit() else None)


@pytest.fixture(scope="session")
def observed() -> Answers:
    """The snapshot's answers."""
    return Answers(_load(OBSERVED, "snapshot"), "snapshot")


@pytest.fixture(scope="session")
def baseline_observed() -> Answers:
    """The baseline's answers to the same questions."""
    if not BASELINE_OBSERVED:
        pytest.fail("DIARY_BASELINE_OBSERVED is not set", pytrace=False)
    return Answers(_load(BASELINE_OBSERVED, "baseline"), "baseline")
