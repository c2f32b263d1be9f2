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

    # The binary operators (+, -, *, / and their reflected forms) are
    # generated from a list of operator names just below the class.

    def __pow__(self, exponent):
        # Only constant exponents are needed here: d(a^k)/da = k * a^(k - 1)
        return Value(self.data ** exponent, (self,), (exponent * self.data ** (exponent - 1),))

    def __neg__(self):
        # d(-a)/da = -1
        return Value(-self.data, (self,), (-1,))

    def log(self):
        # d(ln a)/da = 1 / a
        return Value(math.log(self.data), (self,), (1 / self.data,))

    def exp(self):
        # d(e^a)/da = e^a: the result is its own derivative
        out = math.exp(self.data)
        return Value(out, (self,), (out,))

    def relu(self):
        # Positive inputs pass unchanged (slope 1); the rest become 0 (slope 0)
        if self.data > 0:
            return Value(self.data, (self,), (1.0,))
        return Value(0.0, (self,), (0.0,))

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
                stack.append((node, True))
                for child in node._children:
                    stack.append((child, False))
        # Chain rule from the output back to the leaves: each node passes its
        # gradient to its inputs, scaled by the local derivative.
        self.grad = 1
        for node in reversed(order):
            for child, local_grad in zip(node._children, node._local_grads):
                child.grad += local_grad * node.grad


def _binary_methods(fn):
    """The method for `a <op> b` and its reflected twin for `number <op> a`."""
    def method(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(fn(self.data, other.data), (self, other), (1, 1))

    # Reflected: Python calls it when the left operand is a plain number, as in
    # the 0 + v that starts every sum(); the number becomes the left leaf.
    def reflected(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(fn(other.data, self.data), (other, self), (1, 1))
    return method, reflected


# Every binary operator passes the output gradient straight to both inputs
for _name in ('add', 'mul', 'sub', 'truediv'):
    _method, _reflected = _binary_methods(getattr(operator, _name))
    setattr(Value, f'__{_name}__', _method)
    setattr(Value, f'__r{_name}__', _reflected)


def matrix(nout, nin, std=0.08):
    """A nout x nin list of lists of trainable Values drawn from N(0, std^2)."""
    return [[Value(random.gauss(0, std)) for _ in range(nin)] for _ in range(nout)]


def init_model(vocab_size):
    """Create every weight from the current state of `random`.

    Sets the module globals `state_dict` (name -> matrix) and `params` (all
    weights in one flat list, in state_dict order) and returns `params`.
    """
    global state_dict, params
    state_dict = {}
    # Embeddings (one row per token, one per position) and the read-out
    # layer that turns the final residual stream into one logit per token
    state_dict['wte'] = matrix(vocab_size, n_embd)
    state_dict['wpe'] = matrix(block_size, n_embd)
    state_dict['lm_head'] = matrix(vocab_size, n_embd)
    for li in range(n_layer):
        # Attention: query, key and value projections, then the output projection
        state_dict[f'layer{li}.attn_wq'] = matrix(n_embd, n_embd)
        state_dict[f'layer{li}.attn_wk'] = matrix(n_embd, n_embd)
        state_dict[f'layer{li}.attn_wv'] = matrix(n_embd, n_embd)
        state_dict[f'layer{li}.attn_wo'] = matrix(n_embd, n_embd)
        # MLP: widen four times, then project back to the residual width
        state_dict[f'layer{li}.mlp_fc1'] = matrix(4 * n_embd, n_embd)
        state_dict[f'layer{li}.mlp_fc2'] = matrix(n_embd, 4 * n_embd)
    params = []
    for mat in state_dict.values():
        for row in mat:
            params.extend(row)
    return params


def linear(x, w):
    """Matrix-vector product: one output per row of w."""
    out = []
    for row in w:
        total = 0
        for w_ij, x_j in zip(row, x):
            total = total + w_ij * x_j
        out.append(total)
    return out


def softmax(logits):
    """Turn scores into probabilities that are positive and sum to 1."""
    # Subtracting the largest score keeps exp() from overflowing; the
    # probabilities are unchanged because the shift cancels in the ratio.
    largest = max(v.data for v in logits)
    exps = []
    for v in logits:
        exps.append((v - largest).exp())
    total = 0
    for e in exps:
        total = total + e
    return [e / total for e in exps]


def rmsnorm(x):
    """Rescale x to unit root-mean-square, so activations keep a steady size."""
    mean_square = 0
    for xi in x:
        mean_square = mean_square + xi * xi
    # the small constant guards against dividing by zero
    scale = (mean_square / len(x) + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def gpt(token_id, pos_id, keys, values):
    """Feed one token at position pos_id through the model; return its logits.

    keys and values hold one list per layer: the cache of every earlier
    position's keys and values, which this call extends by one entry.
    """
    # What the token is, plus where it is
    x = [t + p for t, p in zip(state_dict['wte'][token_id], state_dict['wpe'][pos_id])]
    x = rmsnorm(x)
    for li in range(n_layer):
        # 1) Multi-head causal self-attention, with a residual connection
        residual = x
        x = rmsnorm(x)
        q = linear(x, state_dict[f'layer{li}.attn_wq'])
        k = linear(x, state_dict[f'layer{li}.attn_wk'])
        v = linear(x, state_dict[f'layer{li}.attn_wv'])
        # Causal for free: the cache holds only this and earlier positions
        keys[li].append(k)
        values[li].append(v)
        attended = []
        for h in range(n_head):
            lo, hi = h * head_dim, (h + 1) * head_dim
            # How well this head's query matches each cached key, scaled
            # so that the scores do not grow with the head size
            scores = []
            for k_past in keys[li]:
                dot = 0
                for q_j, k_j in zip(q[lo:hi], k_past[lo:hi]):
                    dot = dot + q_j * k_j
                scores.append(dot / math.sqrt(head_dim))
            weights = softmax(scores)
            # Mix the cached values of this head, weighted by attention
            for j in range(lo, hi):
                mixed = 0
                for w_t, v_past in zip(weights, values[li]):
                    mixed = mixed + w_t * v_past[j]
                attended.append(mixed)
        x = linear(attended, state_dict[f'layer{li}.attn_wo'])
        x = [a + b for a, b in zip(x, residual)]
        # 2) MLP with a ReLU, with a residual connection
        residual = x
        x = rmsnorm(x)
        x = linear(x, state_dict[f'layer{li}.mlp_fc1'])
        x = [xi.relu() for xi in x]
        x = linear(x, state_dict[f'layer{li}.mlp_fc2'])
        x = [a + b for a, b in zip(x, residual)]
    return linear(x, state_dict['lm_head'])


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
    BOS = len(chars)
    vocab_size = len(chars) + 1
    init_model(vocab_size)

    # Adam settings, and its running moment estimates (one slot per weight)
    learning_rate = 0.01
    beta1 = 0.9
    beta2 = 0.95
    eps = 1e-8
    m = [0.0] * len(params)
    v = [0.0] * len(params)

    num_steps = args.steps
    for step in range(num_steps):
        # One name per step, cut to the context size
        doc = docs[step % len(docs)]
        tokens = [BOS] + [char_to_id[ch] for ch in doc] + [BOS]
        n = min(block_size, len(tokens) - 1)
        # Forward: predict each next character; the loss is the mean
        # negative log-probability given to the right one
        keys = [[] for _ in range(n_layer)]
        values = [[] for _ in range(n_layer)]
        losses = []
        for pos_id in range(n):
            probs = softmax(gpt(tokens[pos_id], pos_id, keys, values))
            losses.append(-probs[tokens[pos_id + 1]].log())
        loss = sum(losses) / n
        # Backward: the gradient of the loss for every weight
        loss.backward()

        # Adam, with a learning rate that decays linearly to zero
        lr_t = learning_rate * (1 - step / num_steps)
        bias1 = 1 - beta1 ** (step + 1)
        bias2 = 1 - beta2 ** (step + 1)
        for i in range(len(params)):
            p = params[i]
            g = p.grad
            # running means of the gradient and of its square
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            # both start at zero, so divide out that bias in the early steps
            m_hat = m[i] / bias1
            v_hat = v[i] / bias2
            p.data = p.data - lr_t * m_hat / (math.sqrt(v_hat) + eps)
            # gradients accumulate, so clear them for the next step
            p.grad = 0
        print(f'step {step + 1:4d} / {num_steps:4d} | loss {loss.data:.4f}')

    # Sampling: start from BOS and draw one character at a time until the
    # model emits BOS again; a temperature below 1 favours likely characters.
    temperature = 0.6
    for sample_id in range(args.samples):
        keys = [[] for _ in range(n_layer)]
        values = [[] for _ in range(n_layer)]
        token_id = BOS
        name = []
        for pos_id in range(block_size):
            logits = gpt(token_id, pos_id, keys, values)
            probs = softmax([logit / temperature for logit in logits])
            token_id = random.choices(range(vocab_size), weights=[p.data for p in probs])[0]
            if token_id == BOS:
                break
            name.append(chars[token_id])
        print(f"sample {sample_id + 1:2d}: {''.join(name)}")


if __name__ == '__main__':
    main()
