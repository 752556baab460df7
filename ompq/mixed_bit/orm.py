"""The orthogonality metric (ORM) of OMPQ, docs/ompq.md §3.2: linear CKA computed through Gram matrices.

For features X_i (N x D_i): K_i = X_i X_iᵀ, K̃ = H K H with H = I − 11ᵀ/N, and
ORM(i, j) = <K̃_i, K̃_j>_F / (‖K̃_i‖_F ‖K̃_j‖_F). Layer importance: γ_i = Σ_{j≠i} ORM(i, j),
θ_i = exp(−β γ_i); the search feeds −θ to the optimiser.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def gram_linear(x: np.ndarray) -> np.ndarray:
    """Linear kernel Gram matrix X Xᵀ (one row per sample)."""
    return x @ x.T


def center_gram(gram: np.ndarray, unbiased: bool = False) -> np.ndarray:
    """Double-centre a Gram matrix: H K H (biased) or the U-statistic centring of the unbiased HSIC.

    Row/column means are accumulated in float64 and subtracted from a copy in the input's dtype.
    """
    if not np.allclose(gram, gram.T):
        raise ValueError("the Gram matrix must be symmetric")
    out = np.array(gram, copy=True)
    n = out.shape[0]
    if unbiased:
        np.fill_diagonal(out, 0)
        col = np.sum(out, axis=0, dtype=np.float64) / (n - 2)
        col -= np.sum(col) / (2 * (n - 1))
    else:
        col = np.mean(out, axis=0, dtype=np.float64)
        col -= np.mean(col) / 2
    out -= col[:, None]
    out -= col[None, :]
    if unbiased:
        np.fill_diagonal(out, 0)
    return out


def orm(gram_x: np.ndarray, gram_y: np.ndarray, debiased: bool = False) -> float:
    """ORM = linear CKA of two Gram matrices: <K̃x, K̃y>_F / (‖K̃x‖_F ‖K̃y‖_F)."""
    kx = center_gram(gram_x, unbiased=debiased)
    ky = center_gram(gram_y, unbiased=debiased)
    hsic = kx.ravel().dot(ky.ravel())
    return float(hsic / (np.linalg.norm(kx) * np.linalg.norm(ky)))


def feature_space_orm(x: np.ndarray, y: np.ndarray) -> float:
    """The same biased CKA from the features: ‖X̄ᵀȲ‖²_F / (‖X̄ᵀX̄‖_F ‖ȲᵀȲ‖_F) with column-centred X̄, Ȳ."""
    xc = x - np.mean(x, axis=0, keepdims=True)
    yc = y - np.mean(y, axis=0, keepdims=True)
    num = np.linalg.norm(xc.T @ yc) ** 2
    return float(num / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))


def orm_matrix(features: Sequence[np.ndarray]) -> np.ndarray:
    """Full L x L ORM matrix of per-layer features (each N x D_i), float64, both triangles and the diagonal.

    Centred Gram matrices are computed once per layer; entries equal :func:`orm` of the raw Gram matrices.
    """
    centred = [center_gram(gram_linear(f)) for f in features]
    flat = np.stack([c.ravel().astype(np.float64) for c in centred])
    norms = np.array([np.linalg.norm(c) for c in centred], dtype=np.float64)
    inner = flat @ flat.T
    return inner / np.outer(norms, norms)


def gamma_of(matrix: np.ndarray) -> np.ndarray:
    """γ_i = Σ_{j≠i} ORM(i, j) (off-diagonal row sums)."""
    m = np.asarray(matrix, dtype=np.float64)
    return np.array([sum(m[i, j] for j in range(len(m)) if j != i) for i in range(len(m))])


def negated_importance(gamma: np.ndarray, beta: float) -> np.ndarray:
    """−θ_i = −exp(−β γ_i), the values the original hands to the optimiser."""
    return -np.exp(-beta * np.asarray(gamma, dtype=np.float64))
