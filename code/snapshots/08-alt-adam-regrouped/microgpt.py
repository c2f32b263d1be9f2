"""A tiny GPT written from scratch in plain Python, with no dependencies.

One file, standard library only: a scalar autograd engine (Value), a small
transformer (multi-head causal self-attention and an MLP), the Adam optimiser
and a sampler. It learns from a list of names and then invents new ones; the
same seed and step count always print the same output.
"""
import argparse
import math
import operator
import random

# Model size. Tiny on purpose: every weight and activation is a Python object
# with its own graph bookkeeping, so each doubling of the width costs ~4x time.
n_layer = 1                  # transformer blocks stacked on the residual stream
n_embd = 8                   # width of the residual stream
n_head = 2                   # attention heads; each one sees n_embd // n_head dims
head_dim = n_embd // n_head
block_size = 16              # longest context the model can attend over


class Value:
    """One scalar in a computation graph, together with its gradient.

    Each operation returns a new Value that records its inputs (children) and
    the derivative of the result with respect to each of them (local_grads),
    computed at construction; backward() chains them from output to leaves.
    """

    def __init__(self, data, children=(), local_grads=()):
        self.data = data
        self.grad = 0
        self._children = children
        self._local_grads = local_grads

    # The arithmetic operators and log, exp and relu are attached from the
    # tables just below the class instead of being written out one by one.

    def backward(self):
        # Topological order (every node after its inputs), built with an
        # explicit stack because a deep graph would exhaust Python's recursion.
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, inputs_done = stack.pop()
            if inputs_done:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack += [(node, True)] + [(child, False) for child in node._children]
        # Chain rule from the output back to the leaves: each node passes its
        # gradient to its inputs, scaled by the local derivative.
        self.grad = 1
        for node in reversed(order):
            for child, local_grad in zip(node._children, node._local_grads):
                child.grad += local_grad * node.grad


def _wrap(x):
    # A plain number joins the graph as a constant leaf
    return x if isinstance(x, Value) else Value(x)


# Binary operators: name -> (forward, local gradients), both as functions of
# the operands' data a and b; the gradients are d(out)/da and d(out)/db.
BINARY_OPS = {
    'add': (operator.add, lambda a, b: (1, 1)),
    'mul': (operator.mul, lambda a, b: (b, a)),
    'sub': (operator.sub, lambda a, b: (1, -1)),
    'truediv': (operator.truediv, lambda a, b: (1 / b, -a / b ** 2)),
}
# One-input operations: method name -> (forward, derivative). Extra arguments,
# such as the constant exponent of **, are passed on to both functions.
UNARY_OPS = {
    '__neg__': (operator.neg, lambda a: -1),
    '__pow__': (operator.pow, lambda a, k: k * a ** (k - 1)),
    'log': (math.log, lambda a: 1 / a),
    'exp': (math.exp, math.exp),  # e^a is its own derivative
    'relu': (lambda a: a if a > 0 else 0.0, lambda a: 1.0 if a > 0 else 0.0),
}


def _binary_methods(fn, grads):
    """The method for `a <op> b` and its reflected twin for `number <op> a`."""
    def node(a, b):
        return Value(fn(a.data, b.data), (a, b), grads(a.data, b.data))
    # Python calls the reflected one when the left operand is a plain number, as
    # in the 0 + v that starts every sum(); the number becomes the left leaf.
    return (lambda self, other: node(self, _wrap(other)),
            lambda self, other: node(_wrap(other), self))


def _unary_method(fn, grad):
    """The method for a one-input operation; extra arguments go to fn and grad."""
    return lambda self, *k: Value(fn(self.data, *k), (self,), (grad(self.data, *k),))


for _name, _ops in BINARY_OPS.items():
    _method, _reflected = _binary_methods(*_ops)
    setattr(Value, f'__{_name}__', _method)
    setattr(Value, f'__r{_name}__', _reflected)
for _name, _ops in UNARY_OPS.items():
    setattr(Value, _name, _unary_method(*_ops))


def matrix(nout, nin, std=0.08):
    """A nout x nin list of lists of trainable Values drawn from N(0, std^2)."""
    return [[Value(random.gauss(0, std)) for _ in range(nin)] for _ in range(nout)]


def init_model(vocab_size):
    """Create every weight from the current state of `random`.

    Sets the module globals `state_dict` (name -> matrix) and `params` (all
    weights in one flat list, in state_dict order) and returns `params`.
    """
    global state_dict, params
    # Embeddings (one row per token, one per position) and the read-out
    # layer that turns the final residual stream into one logit per token
    shapes = {'wte': (vocab_size, n_embd), 'wpe': (block_size, n_embd), 'lm_head': (vocab_size, n_embd)}
    for li in range(n_layer):
        # Attention: query, key and value projections, then the output projection
        shapes.update({f'layer{li}.attn_{w}': (n_embd, n_embd) for w in ('wq', 'wk', 'wv', 'wo')})
        # MLP: widen four times, then project back to the residual width
        shapes[f'layer{li}.mlp_fc1'] = (4 * n_embd, n_embd)
        shapes[f'layer{li}.mlp_fc2'] = (n_embd, 4 * n_embd)
    # Drawn in insertion order, so the same seed gives the same weights
    state_dict = {name: matrix(*shape) for name, shape in shapes.items()}
    params = [p for mat in state_dict.values() for row in mat for p in row]
    return params


def dot(a, b):
    """Sum of the products a[i] * b[i], added left to right from 0."""
    return sum(map(operator.mul, a, b))


def linear(x, w):
    """Matrix-vector product: one output per row of w."""
    return [dot(row, x) for row in w]


def softmax(logits):
    """Turn scores into probabilities that are positive and sum to 1."""
    # Subtracting the largest score keeps exp() from overflowing; the
    # probabilities are unchanged because the shift cancels in the ratio.
    largest = max(v.data for v in logits)
    exps = [(v - largest).exp() for v in logits]
    total = sum(exps)
    return [e / total for e in exps]


def rmsnorm(x):
    """Rescale x to unit root-mean-square, so activations keep a steady size."""
    # the small constant guards against dividing by zero
    scale = (dot(x, x) / len(x) + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def gpt(token_id, pos_id, keys, values):
    """Feed one token at position pos_id through the model; return its logits.

    keys and values hold one list per layer: the cache of every earlier
    position's keys and values, which this call extends by one entry.
    """
    # What the token is, plus where it is
    x = rmsnorm(list(map(operator.add, state_dict['wte'][token_id], state_dict['wpe'][pos_id])))
    for li in range(n_layer):
        # 1) Multi-head causal self-attention, with a residual connection
        residual, x = x, rmsnorm(x)
        q, k, v = (linear(x, state_dict[f'layer{li}.attn_{w}']) for w in ('wq', 'wk', 'wv'))
        # Causal for free: the cache holds only this and earlier positions
        keys[li].append(k)
        values[li].append(v)
        attended = []
        for head in (slice(lo, lo + head_dim) for lo in range(0, n_embd, head_dim)):
            # How well this head's query matches each cached key, scaled
            # so that the scores do not grow with the head size
            weights = softmax([dot(q[head], k_past[head]) / math.sqrt(head_dim) for k_past in keys[li]])
            # Mix the cached values of this head (one column per dimension), weighted by attention
            attended += [dot(weights, column) for column in zip(*(v_past[head] for v_past in values[li]))]
        x = list(map(operator.add, linear(attended, state_dict[f'layer{li}.attn_wo']), residual))
        # 2) MLP with a ReLU, with a residual connection
        residual, x = x, rmsnorm(x)
        x = [xi.relu() for xi in linear(x, state_dict[f'layer{li}.mlp_fc1'])]
        x = list(map(operator.add, linear(x, state_dict[f'layer{li}.mlp_fc2']), residual))
    return linear(x, state_dict['lm_head'])


def adam_update(params, m, v, step, lr_t, eps, beta1=0.9, beta2=0.95):
    """One Adam step (step counts from 0) for every weight, clearing its gradient.

    m and v are the running means of the gradient and of its square, updated in place.
    """
    # Both means start at zero, so divide out that bias in the early steps
    bias1, bias2 = 1 - beta1 ** (step + 1), 1 - beta2 ** (step + 1)
    for i, p in enumerate(params):
        m[i] = beta1 * m[i] + (1 - beta1) * p.grad
        v[i] = beta2 * v[i] + (1 - beta2) * p.grad * p.grad
        p.data -= lr_t / bias1 * m[i] / (math.sqrt(v[i] / bias2) + eps)
        # gradients accumulate, so clear them for the next step
        p.grad = 0


def main(argv=None):
    parser = argparse.ArgumentParser(description='Train a tiny GPT on names, then sample new ones.')
    parser.add_argument('--steps', type=int, default=300, help='training steps, one name each')
    parser.add_argument('--samples', type=int, default=10, help='names to sample after training')
    parser.add_argument('--seed', type=int, default=42, help='random seed: same seed, same output')
    parser.add_argument('--data', default='data/names.txt', help='training file, one name per line')
    args = parser.parse_args(argv)
    random.seed(args.seed)

    # The data set, one name per line, in a seeded random order
    with open(args.data, encoding='utf-8') as f:
        docs = [line.strip() for line in f if line.strip()]
    random.shuffle(docs)
    # Character-level tokens, plus BOS, which marks both the start and the end of a name
    chars = sorted(set(''.join(docs)))
    char_to_id = {ch: i for i, ch in enumerate(chars)}
    BOS, vocab_size = len(chars), len(chars) + 1
    init_model(vocab_size)

    # Adam settings, and its running moment estimates (one slot per weight)
    learning_rate, eps = 0.01, 1e-8
    m, v = [0.0] * len(params), [0.0] * len(params)

    for step in range(args.steps):
        # One name per step, cut to the context size
        tokens = [BOS] + [char_to_id[ch] for ch in docs[step % len(docs)]] + [BOS]
        n = min(block_size, len(tokens) - 1)
        # Forward: predict each next character; the loss is the mean
        # negative log-probability given to the right one
        keys, values = [[] for _ in range(n_layer)], [[] for _ in range(n_layer)]
        loss = sum(-softmax(gpt(tokens[pos_id], pos_id, keys, values))[tokens[pos_id + 1]].log()
                   for pos_id in range(n)) / n
        # Backward: the gradient of the loss for every weight
        loss.backward()

        # Adam, with a learning rate that decays linearly to zero
        adam_update(params, m, v, step, learning_rate * (1 - step / args.steps), eps)
        print(f'step {step + 1:4d} / {args.steps:4d} | loss {loss.data:.4f}')

    # Sampling: start from BOS and draw one character at a time until the
    # model emits BOS again; a temperature below 1 favours likely characters.
    temperature = 0.6
    for sample_id in range(args.samples):
        keys, values = [[] for _ in range(n_layer)], [[] for _ in range(n_layer)]
        token_id, name = BOS, []
        for pos_id in range(block_size):
            probs = softmax([logit / temperature for logit in gpt(token_id, pos_id, keys, values)])
            token_id = random.choices(range(vocab_size), weights=[p.data for p in probs])[0]
            if token_id == BOS:
                break
            name.append(chars[token_id])
        print(f"sample {sample_id + 1:2d}: {''.join(name)}")


if __name__ == '__main__':
    main()
