"""A `command` objective: a user's own small training script (numpy only, ~0.5 s).

It reads its hyperparameters from the environment (``BILEVEL_PARAM_<NAME>``; the whole
config is also JSON at ``$BILEVEL_CONFIG``), trains a one-hidden-layer network on a fixed
synthetic regression task for ``$BILEVEL_BUDGET`` steps with seed ``$BILEVEL_SEED``, and
prints its result in the grep-able ``name: value`` form the study reads (``val_loss: ...``).
It runs unchanged by hand: ``python train.py`` uses the defaults below.
"""

from __future__ import annotations

import os

import numpy as np

SAMPLES, FEATURES = 512, 8  # a fixed task: the same data for every trial and seed
DATA_SEED = 1234


def param(name: str, default: float) -> float:
    return float(os.environ.get(f"BILEVEL_PARAM_{name.upper()}", default))


def main() -> None:
    lr = param("lr", 0.001)
    hidden = int(param("hidden", 4))
    weight_decay = param("weight_decay", 0.01)
    steps = int(float(os.environ.get("BILEVEL_BUDGET", 300)))
    seed = int(os.environ.get("BILEVEL_SEED", 0))

    data = np.random.default_rng(DATA_SEED)
    x = data.normal(size=(SAMPLES, FEATURES))
    y = np.sin(x @ data.normal(size=FEATURES)) + 0.1 * data.normal(size=SAMPLES)
    train, val = slice(0, SAMPLES * 3 // 4), slice(SAMPLES * 3 // 4, SAMPLES)

    rng = np.random.default_rng(seed)
    w1 = rng.normal(scale=FEATURES**-0.5, size=(FEATURES, hidden))
    w2 = rng.normal(scale=hidden**-0.5, size=hidden)
    for step in range(steps):
        h = np.tanh(x[train] @ w1)
        err = h @ w2 - y[train]
        grad_w2 = h.T @ err / len(err) + weight_decay * w2
        grad_h = np.outer(err, w2) * (1 - h**2)
        grad_w1 = x[train].T @ grad_h / len(err) + weight_decay * w1
        w1 -= lr * grad_w1
        w2 -= lr * grad_w2
        if step % 100 == 0:
            print(f"step {step} train_loss {float(np.mean(err**2)):.4f}", flush=True)
    val_loss = float(np.mean((np.tanh(x[val] @ w1) @ w2 - y[val]) ** 2))
    print(f"val_loss: {val_loss:.6f}")


if __name__ == "__main__":
    main()
