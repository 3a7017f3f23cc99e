"""The numpy logistic regression: separates what is separable, and its weights apply to raw features."""
import numpy as np
import pytest

from models.evaluation import metrics
from models.train_classifier import logreg


def _toy(n=200, d=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d)) * np.arange(1, d + 1) + 100.0  # unequal scales, far from zero
    X[:, 0] += np.where(y == 1, 3.0, -3.0)
    return X, y


def test_separates_a_separable_toy_set():
    X, y = _toy()
    w = logreg.fit(X, y, l2=0.1)
    p = logreg.predict_proba(w, X)
    assert metrics.roc_auc(y, p) == 1.0
    assert np.all((p >= 0.5) == (y == 1))


def test_standardization_is_folded_into_raw_feature_weights():
    X, y = _toy(seed=1)
    w = logreg.fit(X, y, l2=1.0, standardize=True)
    mean, std = X.mean(0), X.std(0)
    z = (X - mean) / std
    wz = logreg.fit(z, y, l2=1.0, standardize=False)
    np.testing.assert_allclose(logreg.predict_proba(w, X), logreg.predict_proba(wz, z), atol=1e-8)


def test_stronger_penalty_shrinks_and_balanced_weights_sum_to_n():
    X, y = _toy(seed=2)
    small = logreg.fit(X, y, l2=0.01)
    large = logreg.fit(X, y, l2=100.0)
    assert np.linalg.norm(large.coef) < np.linalg.norm(small.coef)
    sw = logreg.balanced_weights(np.array([1, 0, 0, 0]))
    np.testing.assert_allclose(sw, [2.0, 2 / 3, 2 / 3, 2 / 3])


def test_rejects_zero_penalty():
    X, y = _toy(n=10)
    with pytest.raises(ValueError, match="l2"):
        logreg.fit(X, y, l2=0.0)
