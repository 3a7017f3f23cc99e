"""L2-regularized logistic regression in numpy (Newton's method), for heads on frozen embeddings."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import expit


class LogRegWeights(NamedTuple):
    """P(y=1 | x) = sigmoid(x @ coef + intercept), on raw (unstandardized) features."""

    coef: np.ndarray  # [D] float64
    intercept: float


def _objective(A: np.ndarray, y: np.ndarray, sw: np.ndarray, theta: np.ndarray, l2: float) -> float:
    z = A @ theta
    # log(1 + e^z) - y z, computed stably
    loss = np.logaddexp(0.0, z) - y * z
    return float(sw @ loss + 0.5 * l2 * theta[:-1] @ theta[:-1])


def fit(X: np.ndarray, y: np.ndarray, l2: float = 1.0, sample_weight: np.ndarray | None = None,
        standardize: bool = True, max_iter: int = 50, tol: float = 1e-8) -> LogRegWeights:
    """Minimize sum_i w_i * logloss_i + l2/2 * |coef|^2 (intercept unpenalized) by damped Newton.

    Args:
      X: [N, D] features; y: [N] labels in {0, 1}.
      l2: penalty strength (> 0), on the standardized coefficients when `standardize`; like 1/C in
        scikit-learn.
      sample_weight: per-example weights (default 1), e.g. to balance classes.
      standardize: fit on z-scored features, then fold mean and scale back into the weights, so the
        result applies to raw features and the penalty treats all dimensions alike.
    """
    if l2 <= 0:
        raise ValueError(f"l2 must be > 0 (got {l2}); unpenalized LR diverges on separable data")
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"X must be [N, D] matching y [N]; got {X.shape} and {y.shape}")
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mean = X.mean(axis=0) if standardize else np.zeros(X.shape[1])
    scale = X.std(axis=0) if standardize else np.ones(X.shape[1])
    scale = np.where(scale > 1e-12, scale, 1.0)
    A = np.hstack([(X - mean) / scale, np.ones((len(X), 1))])
    penalty = np.full(A.shape[1], l2)
    penalty[-1] = 0.0
    theta = np.zeros(A.shape[1])
    theta[-1] = np.log((sw @ y + 1.0) / (sw @ (1 - y) + 1.0))  # start at the base rate
    value = _objective(A, y, sw, theta, l2)
    for _ in range(max_iter):
        p = expit(A @ theta)
        grad = A.T @ (sw * (p - y)) + penalty * theta
        hess = (A * (sw * p * (1 - p))[:, None]).T @ A + np.diag(penalty + 1e-10)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while True:  # backtracking keeps Newton monotone when far from the optimum
            candidate = theta - t * step
            new_value = _objective(A, y, sw, candidate, l2)
            if new_value <= value - 1e-4 * t * (grad @ step) or t < 1e-6:
                break
            t *= 0.5
        theta, decrease, value = candidate, value - new_value, new_value
        if decrease <= tol * max(1.0, abs(value)):
            break
    coef = theta[:-1] / scale
    return LogRegWeights(coef=coef, intercept=float(theta[-1] - coef @ mean))


def decision_function(weights: LogRegWeights, X: np.ndarray) -> np.ndarray:
    """The logit x @ coef + intercept per row."""
    return np.asarray(X, dtype=np.float64) @ weights.coef + weights.intercept


def predict_proba(weights: LogRegWeights, X: np.ndarray) -> np.ndarray:
    """P(y=1) per row of X."""
    return expit(decision_function(weights, X))


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Sample weights giving both classes the same total weight (summing to N)."""
    y = np.asarray(y).astype(bool).reshape(-1)
    n, n_pos = len(y), int(y.sum())
    if n_pos in (0, n):
        return np.ones(n)
    return np.where(y, n / (2.0 * n_pos), n / (2.0 * (n - n_pos)))
