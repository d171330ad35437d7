"""Student's t quantiles from the standard library (the orchestrator has no scipy).

The t distribution turns a noise estimate with few degrees of freedom into an honest
margin: three repeats are not a known standard deviation, and the quantile says by how much
to widen for that. The CDF goes through the regularised incomplete beta function (a
continued fraction, Numerical Recipes 6.4); the quantile is found by bisection, which is
slow only by microseconds and never fails to converge.
"""

from __future__ import annotations

import functools
import math

# Continued-fraction terms before giving up: the fraction converges in a few dozen for
# every (a, b, x) a t CDF asks for; the cap only guards against a non-finite input.
_MAX_TERMS = 300
# Relative change of the continued fraction at which it has converged (double precision).
_EPS = 1e-14
# Smallest magnitude in the modified Lentz method, to avoid a division by zero.
_TINY = 1e-300
# Bisection steps: the bracket [0, 1e7] shrinks below 1e-12 well within 80 halvings.
_BISECTIONS = 80
_UPPER = 1e7


def _beta_fraction(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_TERMS + 1):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + aa / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) for 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, dof: float) -> float:
    """P(T <= t) for Student's t with ``dof`` degrees of freedom (dof > 0)."""
    tail = 0.5 * incomplete_beta(dof / 2.0, 0.5, dof / (dof + t * t))
    return 1.0 - tail if t >= 0 else tail


@functools.lru_cache(maxsize=1024)  # a study asks for the same few (p, dof) again and again
def t_quantile(p: float, dof: float) -> float:
    """The ``p`` quantile of Student's t with ``dof`` degrees of freedom; the normal
    quantile when ``dof`` is infinite."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"a quantile needs 0 < p < 1, not {p}")
    if dof <= 0:
        raise ValueError(f"a t quantile needs dof > 0, not {dof}")
    if math.isinf(dof):
        from statistics import NormalDist

        return NormalDist().inv_cdf(p)
    if p < 0.5:
        return -t_quantile(1.0 - p, dof)
    low, high = 0.0, _UPPER
    for _ in range(_BISECTIONS):
        mid = (low + high) / 2.0
        if t_cdf(mid, dof) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2.0
