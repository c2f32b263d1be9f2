"""The model: parameters, helpers and the forward pass, alone and against the baseline."""

from __future__ import annotations

import math

import pytest
from spec import RMSNORM_X, TOKENS, VOCAB


def test_import_has_no_side_effects(observed):
    answer = observed["import"]
    assert answer["printed"] == "", "importing the program must not print"
    assert not answer["random_changed"], "importing the program must not consume random numbers"
    assert answer["missing_callables"] == [], f"the program has no callable {answer['missing_callables']}"
    assert answer["missing_ints"] == [], f"the program has no int {answer['missing_ints']}"


def test_matrix_shape(observed):
    answer = observed["matrix"]
    assert answer["rows"] == 3
    assert answer["cols"] == [5, 5, 5]
    assert answer["all_float_values"]


def test_init_model_builds_state_dict_and_params(observed):
    answer = observed["init"]
    assert answer["params_is_global"]
    for name in ("wte", "wpe", "lm_head"):
        assert name in answer["names"], f"state_dict has no {name!r}"
    assert answer["rows"]["wte"] == VOCAB and answer["rows"]["lm_head"] == VOCAB
    assert answer["rows"]["wpe"] == answer["block_size"]
    assert answer["params"] == answer["flat"]
    assert answer["in_order"], "params must follow state_dict order"
    assert answer["distinct"], "every parameter is a distinct Value"


def test_init_model_matches_baseline(observed, baseline_observed):
    ours, theirs = observed["weights"], baseline_observed["weights"]
    assert ours["shapes"] == theirs["shapes"]
    assert ours["weights"] == theirs["weights"], "the same seed must draw the same initial weights"


def test_linear(observed):
    assert observed["helpers"]["linear"] == pytest.approx([4.5, -1.0])


def test_softmax_is_a_distribution(observed):
    probs = observed["helpers"]["softmax"]
    assert len(probs) == 4
    assert sum(probs) == pytest.approx(1.0, abs=1e-12)
    assert all(p > 0 for p in probs)
    assert probs.index(max(probs)) == 3
    assert probs[0] / probs[1] == pytest.approx(math.exp(3.0))


def test_softmax_survives_large_logits(observed):
    probs = observed["helpers"]["softmax_large"]
    assert sum(probs) == pytest.approx(1.0)
    assert probs[0] / probs[1] == pytest.approx(math.e)


def test_rmsnorm_gives_unit_rms(observed):
    out = observed["helpers"]["rmsnorm"]
    assert len(out) == len(RMSNORM_X)
    assert math.sqrt(sum(o * o for o in out) / len(out)) == pytest.approx(1.0, rel=1e-4)
    # a rescaling, not a shift: signs and ratios survive
    assert out[0] / out[1] == pytest.approx(RMSNORM_X[0] / RMSNORM_X[1])


def test_gpt_returns_one_logit_per_token(observed):
    first = observed["gpt"]["first"]
    assert first["count"] == VOCAB
    assert first["all_finite_values"]


def test_kv_cache_grows_per_layer_per_position(observed):
    answer = observed["gpt"]
    assert len(answer["growth"]) == len(TOKENS)
    for pos, caches in enumerate(answer["growth"]):
        for cache in caches.values():
            assert cache["layers"] == answer["n_layer"]
            assert cache["lengths"] == [pos + 1] * answer["n_layer"]
            assert cache["widths"] == [answer["n_embd"]]


def test_forward_matches_baseline(observed, baseline_observed):
    assert observed["forward"] == baseline_observed["forward"], "the logits must be bit-for-bit those of the baseline"


def test_gradients_match_baseline(observed, baseline_observed):
    ours, theirs = observed["gradients"], baseline_observed["gradients"]
    assert ours["loss"] == theirs["loss"], "the loss must equal the baseline's"
    assert len(ours["grads"]) == len(theirs["grads"]), "the model has a different number of parameters"
    mismatched = sum(a != b for a, b in zip(ours["grads"], theirs["grads"], strict=True))
    assert mismatched == 0, f"{mismatched} of {len(ours['grads'])} parameter gradients differ from the baseline"


def test_training_lowers_the_loss_of_a_repeated_name(observed):
    # A few plain gradient-descent steps on one name must make it more likely
    answer = observed["training"]
    assert answer["after"] < answer["before"]
