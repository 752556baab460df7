"""ORM, γ and θ against the original's values (golden orm_golden.npz, 1e-12) and CKA properties."""

from pathlib import Path

import numpy as np
import pytest

from ompq.mixed_bit import orm as O

GOLDEN = Path(__file__).parents[2] / "golden" / "ompq"


@pytest.fixture(scope="module")
def gold():
    return np.load(GOLDEN / "orm_golden.npz")


def test_gram_and_centring(gold):
    np.testing.assert_allclose(O.gram_linear(gold["feat0"]), gold["gram0"], rtol=1e-12)
    np.testing.assert_allclose(
        O.center_gram(gold["gram0"]), gold["center_gram0_biased"], rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        O.center_gram(gold["gram0"], unbiased=True), gold["center_gram0_unbiased"], rtol=1e-12, atol=1e-12
    )


def test_orm_matrices(gold):
    feats = [gold[f"feat{i}"] for i in range(5)]
    pair = np.array([[O.orm(O.gram_linear(a), O.gram_linear(b)) for b in feats] for a in feats])
    np.testing.assert_allclose(pair, gold["orm_biased"], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(O.orm_matrix(feats), gold["orm_biased"], rtol=1e-12, atol=1e-13)
    deb = np.array([[O.orm(O.gram_linear(a), O.gram_linear(b), debiased=True) for b in feats] for a in feats])
    np.testing.assert_allclose(deb, gold["orm_debiased"], rtol=1e-12, atol=1e-13)
    fs = np.array([[O.feature_space_orm(a, b) for b in feats] for a in feats])
    np.testing.assert_allclose(fs, gold["orm_feature_space"], rtol=1e-10, atol=1e-12)


def test_gamma_theta(gold):
    gamma = O.gamma_of(gold["orm_biased"])
    np.testing.assert_allclose(gamma, gold["gamma"], rtol=1e-12)
    theta = np.stack([O.negated_importance(gamma, b) for b in gold["betas"]])
    np.testing.assert_allclose(theta, gold["theta"], rtol=1e-12)


def test_cka_invariances():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 6))
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    m = O.orm_matrix([x, 3.0 * x, x @ q, rng.normal(size=(10, 4))])
    np.testing.assert_allclose(m, m.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-12)
    np.testing.assert_allclose(m[0, 1:3], 1.0, atol=1e-12)
    assert 0.0 <= m[0, 3] < 1.0
