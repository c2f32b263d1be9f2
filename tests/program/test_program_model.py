"""The model: parameters, helpers and the forward pass, alone and against the baseline."""

from __future__ import annotations

import contextlib
import io
import math
import random

import pytest

VOCAB = 27  # 26 letters and the BOS token, as for data/names.txt
TOKENS = [26, 4, 12, 12, 0, 26]  # BOS e m m a BOS


def build(module, seed=1234, vocab=VOCAB):
    """Seed `random` and build the module's parameters; returns the params list."""
    random.seed(seed)
    return module.init_model(vocab)


def new_cache(module):
    return [[] for _ in range(module.n_layer)], [[] for _ in range(module.n_layer)]


def sequence_loss(module, tokens=TOKENS):
    """Mean cross-entropy of predicting each next token, like one training step."""
    keys, values = new_cache(module)
    losses = []
    for pos, (tok, target) in enumerate(zip(tokens, tokens[1:], strict=False)):
        probs = module.softmax(module.gpt(tok, pos, keys, values))
        losses.append(-probs[target].log())
    return sum(losses) / len(losses)


def test_import_has_no_side_effects(import_snapshot):
    state = random.getstate()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        module = import_snapshot()
    assert printed.getvalue() == "", "importing the program must not print"
    assert random.getstate() == state, "importing the program must not consume random numbers"
    for name in ("Value", "matrix", "init_model", "linear", "softmax", "rmsnorm", "gpt", "main"):
        assert callable(getattr(module, name, None)), f"the program has no callable {name}"
    for name in ("n_layer", "n_embd", "n_head", "block_size"):
        assert isinstance(getattr(module, name, None), int), f"the program has no int {name}"


def test_matrix_shape(program):
    random.seed(0)
    m = program.matrix(3, 5)
    assert len(m) == 3
    assert all(len(row) == 5 for row in m)
    assert all(isinstance(v, program.Value) and isinstance(v.data, float) for row in m for v in row)


def test_init_model_builds_state_dict_and_params(program):
    params = build(program)
    assert params is program.params
    sd = program.state_dict
    for name in ("wte", "wpe", "lm_head"):
        assert name in sd, f"state_dict has no {name!r}"
    assert len(sd["wte"]) == VOCAB and len(sd["lm_head"]) == VOCAB
    assert len(sd["wpe"]) == program.block_size
    flat = [p for mat in sd.values() for row in mat for p in row]
    assert len(params) == len(flat)
    assert all(a is b for a, b in zip(params, flat, strict=True)), "params must follow state_dict order"
    assert len({id(p) for p in params}) == len(params), "every parameter is a distinct Value"


def test_init_model_matches_baseline(program, baseline):
    ours = [p.data for p in build(program, seed=7)]
    ours_shapes = {k: (len(m), len(m[0])) for k, m in program.state_dict.items()}
    theirs = [p.data for p in build(baseline, seed=7)]
    theirs_shapes = {k: (len(m), len(m[0])) for k, m in baseline.state_dict.items()}
    assert ours_shapes == theirs_shapes
    assert ours == theirs, "the same seed must draw the same initial weights"


def test_linear(program):
    w = [[program.Value(v) for v in row] for row in ([1.0, 2.0, 3.0], [-1.0, 0.5, 0.0])]
    x = [program.Value(v) for v in (0.5, -1.0, 2.0)]
    out = program.linear(x, w)
    assert [o.data for o in out] == pytest.approx([4.5, -1.0])


def test_softmax_is_a_distribution(program):
    logits = [program.Value(v) for v in (1.0, -2.0, 0.5, 3.0)]
    probs = [p.data for p in program.softmax(logits)]
    assert len(probs) == 4
    assert sum(probs) == pytest.approx(1.0, abs=1e-12)
    assert all(p > 0 for p in probs)
    assert probs.index(max(probs)) == 3
    assert probs[0] / probs[1] == pytest.approx(math.exp(3.0))


def test_softmax_survives_large_logits(program):
    probs = [p.data for p in program.softmax([program.Value(v) for v in (1000.0, 999.0, -1000.0)])]
    assert sum(probs) == pytest.approx(1.0)
    assert probs[0] / probs[1] == pytest.approx(math.e)


def test_rmsnorm_gives_unit_rms(program):
    x = [program.Value(v) for v in (0.3, -1.2, 2.5, 0.0, -0.7, 1.1, 0.9, -2.0)]
    out = [o.data for o in program.rmsnorm(x)]
    assert len(out) == len(x)
    assert math.sqrt(sum(o * o for o in out) / len(out)) == pytest.approx(1.0, rel=1e-4)
    # a rescaling, not a shift: signs and ratios survive
    assert out[0] / out[1] == pytest.approx(0.3 / -1.2)


def test_gpt_returns_one_logit_per_token(program):
    build(program)
    keys, values = new_cache(program)
    logits = program.gpt(TOKENS[0], 0, keys, values)
    assert len(logits) == VOCAB
    assert all(isinstance(v, program.Value) and math.isfinite(v.data) for v in logits)


def test_kv_cache_grows_per_layer_per_position(program):
    build(program)
    keys, values = new_cache(program)
    for pos, tok in enumerate(TOKENS):
        program.gpt(tok, pos, keys, values)
        for cache in (keys, values):
            assert len(cache) == program.n_layer
            assert all(len(layer) == pos + 1 for layer in cache)
            assert all(len(vec) == program.n_embd for layer in cache for vec in layer)


def test_forward_matches_baseline(program, baseline):
    results = []
    for module in (program, baseline):
        build(module, seed=3)
        keys, values = new_cache(module)
        logits = [module.gpt(tok, pos, keys, values) for pos, tok in enumerate(TOKENS)]
        results.append([[v.data for v in row] for row in logits])
    assert results[0] == results[1], "the logits must be bit-for-bit those of the baseline"


def test_gradients_match_baseline(program, baseline):
    grads = []
    for module in (program, baseline):
        params = build(module, seed=5)
        loss = sequence_loss(module)
        loss.backward()
        grads.append((loss.data, [p.grad for p in params]))
    assert grads[0][0] == grads[1][0], "the loss must equal the baseline's"
    mismatched = sum(a != b for a, b in zip(grads[0][1], grads[1][1], strict=True))
    assert mismatched == 0, f"{mismatched} of {len(grads[0][1])} parameter gradients differ from the baseline"


def test_training_lowers_the_loss_of_a_repeated_name(program):
    # A few plain gradient-descent steps on one name must make it more likely
    params = build(program, seed=11)
    loss = sequence_loss(program)
    loss.backward()
    for p in params:
        p.data -= 0.5 * p.grad
    assert sequence_loss(program).data < loss.data
