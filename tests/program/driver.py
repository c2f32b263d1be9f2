"""The untrusted half of the behavioural suite: runs beside one snapshot and reports what it saw.

    python driver.py SNAPSHOT_DIR ENTRY OUT.json [PROBE_SEED]

`diary measure` runs this in the snapshot's sandbox (a working directory holding `data/names.txt`
and the snapshot's files, nothing else: no baseline, no test report). It imports the program,
asks it the questions in spec.py and writes the answers, plain JSON, to OUT.json. It decides
nothing: the tests (run later, in another sandbox the program never entered) judge the answers
against the baseline's and against arithmetic done on their own side. The program shares this
process, so it can write anything here; it cannot write where the verdict is decided.

With PROBE_SEED (chosen at measure time, never stored), the answer also holds a `probe` section:
the model's weights, logits and gradients on that seed, which the tool compares with the
baseline's on the same seed, so remembered answers cannot pass.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import random
import subprocess
import sys
import traceback
from pathlib import Path

import spec

ASKED = spec.asked(None)  # the questions of this measure: set from the seed in main()


def load(directory: Path, entry: str):
    sys.path.insert(0, str(directory))  # a snapshot may hold several modules that import each other
    path = directory / entry
    module_spec = importlib.util.spec_from_file_location("diary_program_snapshot", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["diary_program_snapshot"] = module
    module_spec.loader.exec_module(module)
    return module


def failure(error: BaseException) -> dict:
    last = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
    where = f" (line {last[0].lineno} of {Path(last[0].filename).name})" if last else ""
    return {"error": f"{type(error).__name__}: {error}"[:500] + where}


def build(module, seed: int):
    random.seed(seed)
    return module.init_model(spec.VOCAB)


def new_cache(module):
    return [[] for _ in range(module.n_layer)], [[] for _ in range(module.n_layer)]


def sequence_loss(module, tokens=spec.TOKENS):
    keys, values = new_cache(module)
    losses = []
    for pos, (tok, target) in enumerate(zip(tokens, tokens[1:], strict=False)):
        probs = module.softmax(module.gpt(tok, pos, keys, values))
        losses.append(-probs[target].log())
    return sum(losses) / len(losses)


def floats(values) -> list:
    return [v.data for v in values]


def ask_import(directory: Path, entry: str) -> tuple[object, dict]:
    state = random.getstate()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        module = load(directory, entry)
    return module, {
        "printed": printed.getvalue()[:2000],
        "random_changed": random.getstate() != state,
        "missing_callables": [n for n in spec.CALLABLES if not callable(getattr(module, n, None))],
        "missing_ints": [n for n in spec.INTS if not isinstance(getattr(module, n, None), int)],
    }


def ask_operation(m, name: str) -> dict:
    on_values, _, _ = spec.OPERATIONS[name]
    inputs = ASKED["operations"][name]
    leaves = [m.Value(x) for x in inputs]
    out = on_values(*leaves)
    is_value = isinstance(out, m.Value)
    if is_value:
        out.backward()
    return {"is_value": is_value, "data": out.data if is_value else None,
            "grads": [leaf.grad for leaf in leaves]}


def ask_shared(m) -> dict:
    x, y = (m.Value(v) for v in ASKED["shared"])
    out = spec.shared_expression(x, y)
    out.backward()
    return {"data": out.data, "grads": [x.grad, y.grad]}


def ask_sum(m) -> dict:
    leaves = [m.Value(v) for v in ASKED["sum"]]
    total = sum(leaf * leaf for leaf in leaves)
    total.backward()
    return {"data": total.data, "grads": [leaf.grad for leaf in leaves]}


def ask_leaf(m) -> dict:
    v = m.Value(3.0)
    return {"data": v.data, "grad": v.grad}


def ask_matrix(m) -> dict:
    random.seed(0)
    rows = m.matrix(3, 5)
    return {"rows": len(rows), "cols": [len(row) for row in rows],
            "all_float_values": all(isinstance(v, m.Value) and isinstance(v.data, float) for row in rows for v in row)}


def ask_init(m) -> dict:
    params = build(m, ASKED["seeds"]["shapes"])
    sd = m.state_dict
    flat = [p for mat in sd.values() for row in mat for p in row]
    return {
        "params_is_global": params is m.params,
        "names": list(sd),
        "rows": {k: len(v) for k, v in sd.items()},
        "block_size": m.block_size,
        "params": len(params), "flat": len(flat),
        "in_order": len(params) == len(flat) and all(a is b for a, b in zip(params, flat, strict=False)),
        "distinct": len({id(p) for p in params}) == len(params),
    }


def ask_weights(m, seed: int) -> dict:
    weights = floats(build(m, seed))
    return {"weights": weights, "shapes": {k: [len(v), len(v[0])] for k, v in m.state_dict.items()}}


def ask_helpers(m) -> dict:
    w = [[m.Value(v) for v in row] for row in spec.LINEAR_W]
    return {
        "linear": floats(m.linear([m.Value(v) for v in spec.LINEAR_X], w)),
        "softmax": floats(m.softmax([m.Value(v) for v in spec.SOFTMAX_LOGITS])),
        "softmax_large": floats(m.softmax([m.Value(v) for v in spec.SOFTMAX_LARGE])),
        "rmsnorm": floats(m.rmsnorm([m.Value(v) for v in spec.RMSNORM_X])),
    }


def ask_gpt(m) -> dict:
    build(m, ASKED["seeds"]["shapes"])
    keys, values = new_cache(m)
    first = m.gpt(spec.TOKENS[0], 0, keys, values)
    logits = {"count": len(first),
              "all_finite_values": all(isinstance(v, m.Value) and math.isfinite(v.data) for v in first)}
    build(m, ASKED["seeds"]["shapes"])
    keys, values = new_cache(m)
    growth = []
    for pos, tok in enumerate(spec.TOKENS):
        m.gpt(tok, pos, keys, values)
        growth.append({name: {"layers": len(cache), "lengths": [len(layer) for layer in cache],
                              "widths": sorted({len(vec) for layer in cache for vec in layer})}
                       for name, cache in (("keys", keys), ("values", values))})
    return {"first": logits, "growth": growth, "n_layer": m.n_layer, "n_embd": m.n_embd}


def ask_forward(m, seed: int, tokens=spec.TOKENS) -> list:
    build(m, seed)
    keys, values = new_cache(m)
    return [floats(m.gpt(tok, pos, keys, values)) for pos, tok in enumerate(tokens)]


def ask_gradients(m, seed: int, tokens=spec.TOKENS) -> dict:
    params = build(m, seed)
    loss = sequence_loss(m, tokens)
    loss.backward()
    return {"loss": loss.data, "grads": [p.grad for p in params]}


def ask_training(m) -> dict:
    params = build(m, ASKED["seeds"]["training"])
    loss = sequence_loss(m)
    loss.backward()
    for p in params:
        p.data -= 0.5 * p.grad
    return {"before": loss.data, "after": sequence_loss(m).data}


def ask_trained(m) -> dict:
    """Train as a real run does (spec.TRAIN_ARGS, in this process, in the run's directory), then give
    every weight's exact bits: stricter than the printed output, whose losses have four decimals."""
    m.main(list(spec.TRAIN_ARGS))
    return {"weights": [float(p.data).hex() for p in m.params]}


def ask_run(directory: Path, entry: str) -> dict:
    # Started under the tool's run-time guard (`python -c GUARD CONFIG driver.py ...`), the program
    # runs under the same guard: the same first three arguments, then the entry instead of this file.
    launcher = sys.orig_argv[1:4] if sys.orig_argv[1:2] == ["-c"] else []
    done = subprocess.run([sys.executable, *launcher, str(directory / entry), *spec.TRAIN_ARGS],
                          capture_output=True, text=True, errors="replace", timeout=120)
    return {"returncode": done.returncode, "stdout": done.stdout[-20000:], "stderr": done.stderr[-2000:]}


def ask_probe(m, seed: int) -> dict:
    rng = random.Random(seed)
    tokens = [spec.VOCAB - 1] + [rng.randrange(spec.VOCAB - 1) for _ in range(5)] + [spec.VOCAB - 1]
    return {"weights": ask_weights(m, seed)["weights"], "forward": ask_forward(m, seed + 1, tokens),
            "gradients": ask_gradients(m, seed + 2, tokens)}


def main(argv: list[str]) -> None:
    directory, entry, out = Path(argv[0]).resolve(), argv[1], Path(argv[2])
    probe_seed = int(argv[3]) if len(argv) > 3 else None
    global ASKED
    ASKED = spec.asked(probe_seed)  # asked at measure time: the tests draw the same from the seed
    answers: dict = {}
    sys.dont_write_bytecode = True
    try:
        module, answers["import"] = ask_import(directory, entry)
    except BaseException as error:  # the program may raise anything, SystemExit included
        module, answers["import"] = None, failure(error)
    questions = {
        "operations": lambda m: {name: ask_operation(m, name) for name in spec.OPERATIONS},
        "shared": ask_shared, "sum": ask_sum, "leaf": ask_leaf, "matrix": ask_matrix, "init": ask_init,
        "weights": lambda m: ask_weights(m, ASKED["seeds"]["init"]), "helpers": ask_helpers, "gpt": ask_gpt,
        "forward": lambda m: ask_forward(m, ASKED["seeds"]["forward"]),
        "gradients": lambda m: ask_gradients(m, ASKED["seeds"]["gradients"]), "training": ask_training,
        "trained": ask_trained,  # last: it runs main(), which sets the program's globals as a run does
    }
    if probe_seed is not None:
        questions["probe"] = lambda m: ask_probe(m, probe_seed)
    for name, ask in questions.items():
        if module is None:
            answers[name] = {"error": "the program could not be imported"}
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                answers[name] = ask(module)
        except BaseException as error:
            answers[name] = failure(error)
    try:
        answers["run"] = ask_run(directory, entry)
    except BaseException as error:
        answers["run"] = failure(error)
    out.write_text(json.dumps(answers, allow_nan=True), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
