"""Gaussian-process expected improvement: a surrogate model picks the next trial.

Bayesian optimisation (Jones, Schonlau & Welch, 1998): fit a Gaussian process to every
finished trial (configuration -> score, the metric made minimise-normal), then propose the configuration with the largest
expected improvement over the best so far. It exploits what the trace already shows far
better than one-change-at-a-time edits once a handful of points exist. Needs numpy and
scikit-learn, which the sandbox ships; the orchestrator never imports this file.
"""

import math

import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from sandbox.api import Candidate, Context, Mechanism

# Fewer finished trials than this and a GP is a guess; leave the search to others.
MIN_POINTS = 4
# Random candidates scored per call: half around the incumbent, half anywhere.
SAMPLES = 256
# Spread of the local samples around the incumbent, in unit-cube coordinates.
LOCAL_SCALE = 0.1
# Exploration margin of EI (in standardised score units): small, the budget is short.
XI = 0.01
# A surrogate's pick goes first: it is the most informed proposal in the iteration.
PRIORITY = 1.0
# Proposals per call, best EI first: the runner-up runs if the objective rejects the top
# pick (values that are each valid but do not fit together).
TOP_K = 3
# Kernel hyperparameter bounds in unit-cube coordinates: shorter length scales than this
# overfit a handful of points.
LENGTH_SCALE_BOUNDS = (0.05, 20.0)
NOISE_BOUNDS = (1e-4, 1.0)


def _encode(param, value) -> float:
    if param.kind == "choice":
        choices = list(param.choices)
        index = choices.index(value) if value in choices else 0
        return index / max(len(choices) - 1, 1)
    low, high = float(param.low), float(param.high)
    if high <= low:
        return 0.0
    v = min(max(float(value), low), high)
    if (param.log or param.kind == "pow2") and low > 0:
        return (math.log(v) - math.log(low)) / (math.log(high) - math.log(low))
    return (v - low) / (high - low)


def _decode(param, u: float):
    u = min(max(float(u), 0.0), 1.0)
    if param.kind == "choice":
        choices = list(param.choices)
        return choices[round(u * (len(choices) - 1))]
    low, high = float(param.low), float(param.high)
    if param.kind == "pow2":
        lo, hi = math.ceil(math.log2(max(low, 1))), math.floor(math.log2(high))
        return 2 ** round(lo + u * (hi - lo))
    if param.log and low > 0:
        value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    else:
        value = low + u * (high - low)
    if param.kind == "int":
        return min(max(round(value), math.ceil(low)), math.floor(high))
    return min(max(value, low), high)


def _expected_improvement(mu, sigma, best):
    sigma = np.maximum(sigma, 1e-9)
    z = (best - mu - XI) / sigma
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    pdf = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    return (best - mu - XI) * cdf + sigma * pdf


class GaussianProcessEI(Mechanism):
    name = "gp_expected_improvement"

    def propose(self, ctx: Context) -> list[Candidate]:
        params = [p for p in ctx.space if not p.frozen]
        done = [t for t in ctx.history if t.score is not None]
        if not params or len(done) < MIN_POINTS or ctx.best is None:
            return []
        x = np.array([[_encode(p, t.config.get(p.name, p.default)) for p in params] for t in done])
        y = np.array([t.score for t in done])  # minimise-normal in either direction
        y_mean, y_std = y.mean(), y.std() or 1.0
        kernel = ConstantKernel(1.0) * Matern(
            nu=2.5, length_scale=[0.5] * len(params), length_scale_bounds=LENGTH_SCALE_BOUNDS
        )
        gp = GaussianProcessRegressor(
            kernel=kernel + WhiteKernel(1e-2, noise_level_bounds=NOISE_BOUNDS),
            normalize_y=False,
            random_state=ctx.seed,
        )
        gp.fit(x, (y - y_mean) / y_std)

        rng = np.random.default_rng(ctx.seed)
        incumbent = np.array([_encode(p, ctx.best.config.get(p.name)) for p in params])
        local = incumbent + rng.normal(0, LOCAL_SCALE, (SAMPLES // 2, len(params)))
        anywhere = rng.random((SAMPLES - SAMPLES // 2, len(params)))
        pool = np.clip(np.vstack([local, anywhere]), 0.0, 1.0)
        mu, sigma = gp.predict(pool, return_std=True)
        best = (min(y) - y_mean) / y_std
        scores = _expected_improvement(mu, sigma, best)

        sign = -1.0 if ctx.maximize else 1.0  # score back to the metric's own value
        seen = {tuple(round(v, 6) for v in row) for row in x}
        picks: list[Candidate] = []
        for i in np.argsort(-scores):
            if len(picks) >= TOP_K:
                break
            config = {p.name: _decode(p, u) for p, u in zip(params, pool[i], strict=False)}
            key = tuple(round(_encode(p, config[p.name]), 6) for p in params)
            if key in seen:
                continue
            seen.add(key)
            changes = {k: v for k, v in config.items() if ctx.base.get(k) != v}
            if not changes:
                continue
            picks.append(
                Candidate(
                    changes=changes,
                    rationale=f"GP expected improvement {float(scores[i]):.4f} "
                    f"(predicted {ctx.metric} {sign * float(mu[i] * y_std + y_mean):.4f})",
                    priority=PRIORITY - 0.01 * len(picks),
                )
            )
        return picks
