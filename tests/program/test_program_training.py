"""A short real run of the program (`--steps 5 --samples 2 --seed 42`) against the baseline's."""

from __future__ import annotations

import re

LOSS_LINE = re.compile(r"step +(\d+) / +(\d+) \| loss (\d+\.\d{4})")
SAMPLE_LINE = re.compile(r"sample +(\d+): [a-z]*")


def loss_lines(stdout):
    return [line for line in stdout.splitlines() if line.startswith("step")]


def sample_lines(stdout):
    return [line for line in stdout.splitlines() if line.startswith("sample")]


def test_short_run_succeeds(observed):
    snap = observed["run"]
    assert snap["returncode"] == 0, f"exit status {snap['returncode']}; stderr:\n{snap['stderr'][-2000:]}"
    lines = loss_lines(snap["stdout"])
    assert len(lines) == 5
    for number, line in enumerate(lines, start=1):
        match = LOSS_LINE.fullmatch(line)
        assert match, f"unexpected loss line {line!r}"
        assert (int(match[1]), int(match[2])) == (number, 5)
        assert 0 < float(match[3]) < 10
    samples = sample_lines(snap["stdout"])
    assert len(samples) == 2
    assert all(SAMPLE_LINE.fullmatch(line) for line in samples), samples
    assert snap["stdout"].splitlines() == lines + samples, "only loss and sample lines are printed"


def test_loss_lines_match_baseline(observed, baseline_observed):
    base = baseline_observed["run"]
    assert base["returncode"] == 0, f"the baseline failed; stderr:\n{base['stderr'][-2000:]}"
    assert loss_lines(observed["run"]["stdout"]) == loss_lines(base["stdout"])


def test_samples_match_baseline(observed, baseline_observed):
    base = baseline_observed["run"]
    assert base["returncode"] == 0, f"the baseline failed; stderr:\n{base['stderr'][-2000:]}"
    assert sample_lines(observed["run"]["stdout"]) == sample_lines(base["stdout"])


def test_trained_weights_are_bit_identical_to_the_baselines(observed, baseline_observed):
    """The printed losses have four decimals: a change in the last bits of some weights can leave every
    printed line the same. After the same short training, every weight must have the baseline's bits."""
    ours, theirs = observed["trained"]["weights"], baseline_observed["trained"]["weights"]
    assert len(ours) == len(theirs), f"{len(ours)} trained weights, the baseline has {len(theirs)}"
    differ = sum(a != b for a, b in zip(ours, theirs, strict=True))
    assert differ == 0, f"{differ} of {len(theirs)} trained weights differ from the baseline's in their last bits"
