"""What the driver asks the program and the tests check, shared by both sides of the protocol.

Plain data and pure functions on floats: importing this module runs no program code, so the
judging side (the tests) can use it as well as the driver that runs beside the program.
"""

from __future__ import annotations

import math
import random

VOCAB = 27  # 26 letters and the BOS token, as for data/names.txt
TOKENS = [26, 4, 12, 12, 0, 26]  # BOS e m m a BOS
TRAIN_ARGS = ["--steps", "5", "--samples", "2", "--seed", "42"]
SEEDS = {"shapes": 1234, "init": 7, "forward": 3, "gradients": 5, "training": 11}

# name -> (operation written for Values or floats alike, the float version when it differs, inputs)
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


def shared_expression(x, y):
    """x and y are each used several times: their gradients must add up over every use."""
    z = x * y + x / y
    return (z - x) ** 2 + (-y) * z


SHARED_INPUTS = (0.7, -1.9)
SUM_INPUTS = (0.5, -1.25, 2.0)
LINEAR_W = ([1.0, 2.0, 3.0], [-1.0, 0.5, 0.0])
LINEAR_X = (0.5, -1.0, 2.0)
SOFTMAX_LOGITS = (1.0, -2.0, 0.5, 3.0)
SOFTMAX_LARGE = (1000.0, 999.0, -1000.0)
RMSNORM_X = (0.3, -1.2, 2.5, 0.0, -0.7, 1.1, 0.9, -2.0)
CALLABLES = ("Value", "matrix", "init_model", "linear", "softmax", "rmsnorm", "gpt", "main")
INTS = ("n_layer", "n_embd", "n_head", "block_size")


def asked(seed: int | None) -> dict:
    """The questions of one measure, drawn from `seed` (chosen by the tool at measure time and
    never stored): the operands of every operation and expression, near the values above and
    within each operation's domain, and the seeds of the model's questions. With None, the values
    above. Both halves call this with the same seed (the driver gets it as an argument, the tests
    as DIARY_QUESTIONS_SEED), so answers remembered from another measure cannot pass."""
    if seed is None:
        return {"operations": {name: inputs for name, (_, _, inputs) in OPERATIONS.items()},
                "shared": SHARED_INPUTS, "sum": SUM_INPUTS, "seeds": dict(SEEDS)}
    rng = random.Random(seed)

    def near(value: float) -> float:
        # Within 30 % of the value: the same sign, so log, fractional powers and relu keep their domain.
        return round(value * rng.uniform(0.7, 1.3), 6)

    return {"operations": {name: tuple(near(x) for x in inputs) for name, (_, _, inputs) in OPERATIONS.items()},
            "shared": tuple(near(x) for x in SHARED_INPUTS), "sum": tuple(near(x) for x in SUM_INPUTS),
            "seeds": {name: value + rng.randrange(1, 1_000_000) for name, value in SEEDS.items()}}
