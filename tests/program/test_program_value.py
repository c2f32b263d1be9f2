"""The autograd engine: every Value operation, checked against central finite differences.

The finite differences are computed here, on plain floats; the snapshot only reported its results.
"""

from __future__ import annotations

import pytest
from spec import OPERATIONS, shared_expression

STEP = 1e-6  # central differences: truncation error ~STEP**2, rounding error ~1e-16 / STEP


def numeric_gradient(fn, inputs, i):
    """d fn / d inputs[i] by central differences."""
    up = list(inputs)
    down = list(inputs)
    up[i] += STEP
    down[i] -= STEP
    return (fn(*up) - fn(*down)) / (2 * STEP)


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_operation_value_and_gradients(observed, asked, name):
    on_values, on_floats, _ = OPERATIONS[name]
    inputs = asked["operations"][name]
    on_floats = on_floats or on_values
    answer = observed["operations"][name]
    assert answer["is_value"], f"{name} should return a Value"
    assert answer["data"] == pytest.approx(on_floats(*inputs), rel=1e-12, abs=1e-15)
    for i, grad in enumerate(answer["grads"]):
        expected = numeric_gradient(on_floats, inputs, i)
        assert grad == pytest.approx(expected, rel=1e-6, abs=1e-9), (
            f"d({name})/d(input {i}) is {grad}, finite differences say {expected}"
        )
    assert len(answer["grads"]) == len(inputs)


def test_shared_subexpressions_accumulate_gradients(observed, asked):
    answer = observed["shared"]
    SHARED_INPUTS = asked["shared"]
    assert answer["data"] == pytest.approx(shared_expression(*SHARED_INPUTS), rel=1e-12)
    assert answer["grads"][0] == pytest.approx(numeric_gradient(shared_expression, SHARED_INPUTS, 0), rel=1e-6)
    assert answer["grads"][1] == pytest.approx(numeric_gradient(shared_expression, SHARED_INPUTS, 1), rel=1e-6)


def test_sum_of_values(observed, asked):
    # sum() starts from the int 0, so it relies on the reflected addition
    answer = observed["sum"]
    SUM_INPUTS = asked["sum"]
    assert answer["data"] == pytest.approx(sum(v * v for v in SUM_INPUTS))
    assert answer["grads"] == pytest.approx([2 * v for v in SUM_INPUTS])


def test_leaf_starts_with_zero_gradient(observed):
    assert observed["leaf"] == {"data": 3.0, "grad": 0}
