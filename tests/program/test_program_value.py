"""The autograd engine: every Value operation, checked against central finite differences."""

from __future__ import annotations

import math

import pytest

STEP = 1e-6  # central differences: truncation error ~STEP**2, rounding error ~1e-16 / STEP

# name -> (operation on Values, the same operation on floats or None if identical, inputs)
OPERATIONS = {
    "add": (lambda a, b: a + b, None, (0.8, -1.7)),
    "mul": (lambda a, b: a * b, None, (0.8, -1.7)),
    "sub": (lambda a, b: a - b, None, (0.8, -1.7)),
    "truediv": (lambda a, b: a / b, None, (0.8, -1.7)),
    "pow": (lambda a: a**3, None, (1.3,)),
    "pow_fractional": (lambda a: a**-0.5, None, (1.3,)),
    "neg": (lambda a: -a, None, (0.8,)),
    "radd": (lambda a: 2.5 + a, None, (0.8,)),
    "rsub": (lambda a: 2.5 - a, None, (0.8,)),
    "rmul": (lambda a: 2.5 * a, None, (0.8,)),
    "rtruediv": (lambda a: 2.5 / a, None, (0.8,)),
    "log": (lambda a: a.log(), math.log, (0.8,)),
    "exp": (lambda a: a.exp(), math.exp, (0.8,)),
    "relu": (lambda a: a.relu(), lambda a: max(a, 0.0), (0.8,)),
    "relu_negative": (lambda a: a.relu(), lambda a: max(a, 0.0), (-0.8,)),
}


def numeric_gradient(fn, inputs, i):
    """d fn / d inputs[i] by central differences."""
    up = list(inputs)
    down = list(inputs)
    up[i] += STEP
    down[i] -= STEP
    return (fn(*up) - fn(*down)) / (2 * STEP)


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_operation_value_and_gradients(program, name):
    on_values, on_floats, inputs = OPERATIONS[name]
    on_floats = on_floats or on_values
    leaves = [program.Value(x) for x in inputs]
    out = on_values(*leaves)
    assert isinstance(out, program.Value), f"{name} should return a Value"
    assert out.data == pytest.approx(on_floats(*inputs), rel=1e-12, abs=1e-15)
    out.backward()
    for i, leaf in enumerate(leaves):
        expected = numeric_gradient(on_floats, inputs, i)
        assert leaf.grad == pytest.approx(expected, rel=1e-6, abs=1e-9), (
            f"d({name})/d(input {i}) is {leaf.grad}, finite differences say {expected}"
        )


def test_shared_subexpressions_accumulate_gradients(program):
    # x and y are each used several times: their gradients must add up over every use
    def f(x, y):
        z = x * y + x / y
        return (z - x) ** 2 + (-y) * z

    inputs = (0.7, -1.9)
    x, y = (program.Value(v) for v in inputs)
    out = f(x, y)
    assert out.data == pytest.approx(f(*inputs), rel=1e-12)
    out.backward()
    assert x.grad == pytest.approx(numeric_gradient(f, inputs, 0), rel=1e-6)
    assert y.grad == pytest.approx(numeric_gradient(f, inputs, 1), rel=1e-6)


def test_sum_of_values(program):
    # sum() starts from the int 0, so it relies on the reflected addition
    leaves = [program.Value(v) for v in (0.5, -1.25, 2.0)]
    total = sum(leaf * leaf for leaf in leaves)
    assert total.data == pytest.approx(0.25 + 1.5625 + 4.0)
    total.backward()
    assert [leaf.grad for leaf in leaves] == pytest.approx([1.0, -2.5, 4.0])


def test_leaf_starts_with_zero_gradient(program):
    v = program.Value(3.0)
    assert v.data == 3.0
    assert v.grad == 0
