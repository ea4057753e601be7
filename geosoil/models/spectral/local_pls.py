"""Local PLS numerics of memory-based learning (:mod:`geosoil.models.spectral.mbl`):
batched local PLS1 predictions (plain or weighted-average), distances within each
neighbourhood, and the rotations giving global PLS scores."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["local_pls_predict", "pairwise_distances", "pls_rotations"]


def local_pls_predict(
    neighbours: np.ndarray,
    target: np.ndarray,
    query: np.ndarray,
    *,
    max_components: int,
    min_components: int | None = None,
    weights: np.ndarray | None = None,
    single: bool = False,
) -> np.ndarray:
    """Predictions of local PLS1 models, one per query, batched.

    NIPALS without deflating the predictors (in PLS1 ``X_a^T y_a = X^T y_a`` and the scores
    are ``X w_a - T (P^T w_a)``; ``X^T y_(a+1) = X^T y_a - q_a X^T t_a``), so each component
    reads the neighbourhood twice, in torch batched matrix products, one neighbourhood per
    batch item, so a query's value never depends on its batch.

    Parameters
    ----------
    neighbours
        (B, k, m) predictors of each query's neighbourhood.
    target
        (B, k) targets of the neighbourhoods.
    query
        (B, m) the spectra to predict.
    max_components
        Components of the local model (at most ``k - 1``).
    min_components
        None: the prediction with ``max_components``. Otherwise weighted-average PLS over
        the models with ``min_components..max_components`` components.
    weights
        (B, k) non-negative weights of the neighbours, or None (equal).
    single
        Compute in float32 (about twice as fast; the default is float64).

    Returns
    -------
    ndarray of float64, shape (B,)
    """
    dtype = torch.float32 if single else torch.float64
    X = torch.as_tensor(np.asarray(neighbours), dtype=dtype)
    y = torch.as_tensor(np.asarray(target), dtype=dtype).clone()
    x0 = torch.as_tensor(np.asarray(query), dtype=dtype).clone()
    batch, k, m = X.shape
    if weights is None:
        w = torch.full((batch, k), 1.0 / k, dtype=dtype)
    else:
        w = torch.as_tensor(np.asarray(weights), dtype=dtype)
        w = w / w.sum(dim=1, keepdim=True).clamp_min(1e-30)
    x_mean = torch.bmm(w[:, None, :], X)[:, 0]
    y_mean = (w * y).sum(dim=1)
    root = torch.sqrt(w * k)
    X = (X - x_mean[:, None, :]) * root[:, :, None]
    y = (y - y_mean[:, None]) * root
    x0 -= x_mean
    n_comp = max(1, min(max_components, k - 1, m))
    low = n_comp if min_components is None else max(1, min(min_components, n_comp))
    T = torch.zeros((batch, k, n_comp), dtype=dtype)
    P = torch.zeros((batch, m, n_comp), dtype=dtype)
    R = torch.zeros((batch, m, n_comp), dtype=dtype)
    coef = torch.zeros((batch, m), dtype=dtype)
    prediction = y_mean.clone()
    stacked, weight_terms = [], []
    covariance = torch.bmm(y[:, None, :], X)[:, 0]  # X^T y_a, updated without X below
    for a in range(n_comp):
        wv = covariance / torch.linalg.vector_norm(covariance, dim=1, keepdim=True).clamp_min(1e-30)
        ptw = torch.bmm(wv[:, None, :], P[:, :, :a])[:, 0]  # (B, a): P^T w
        t = torch.bmm(X, wv[:, :, None])[:, :, 0] - torch.bmm(T[:, :, :a], ptw[:, :, None])[:, :, 0]
        tt = (t * t).sum(dim=1).clamp_min(1e-30)
        xt = torch.bmm(t[:, None, :], X)[:, 0]  # X^T t
        p = xt / tt[:, None]
        q = (y * t).sum(dim=1) / tt
        y -= q[:, None] * t
        covariance = covariance - q[:, None] * xt  # X^T y_(a+1)
        t0 = (x0 * wv).sum(dim=1)
        x0 -= t0[:, None] * p
        prediction = prediction + q * t0
        T[:, :, a], P[:, :, a] = t, p
        if min_components is not None:
            r = wv - torch.bmm(R[:, :, :a], ptw[:, :, None])[:, :, 0]
            R[:, :, a] = r
            coef += q[:, None] * r
        if a + 1 < low:
            continue
        stacked.append(prediction)
        if min_components is not None:
            residual = torch.sqrt((x0 * x0).mean(dim=1))
            coef_rms = torch.sqrt((coef * coef).mean(dim=1))
            weight_terms.append(1.0 / (residual * coef_rms).clamp_min(1e-30))
    if min_components is None:
        return stacked[-1].numpy().astype(np.float64)
    terms = torch.stack(weight_terms, dim=1)
    terms /= terms.sum(dim=1, keepdim=True)
    return (torch.stack(stacked, dim=1) * terms).sum(dim=1).numpy().astype(np.float64)


def pairwise_distances(points: np.ndarray) -> np.ndarray:
    """(B, k, k) Euclidean distances among each batch's points (B, k, m)."""
    squared = np.sum(points * points, axis=2)
    gram = np.matmul(points, np.swapaxes(points, 1, 2))
    return np.sqrt(np.clip(squared[:, :, None] + squared[:, None, :] - 2.0 * gram, 0.0, None))


def pls_rotations(F: np.ndarray, t: np.ndarray, n_components: int) -> np.ndarray:
    """(m, c) rotations giving global PLS scores ``F R`` of the (centred) features."""
    X = F - F.mean(axis=0)
    y = t - t.mean()
    rotations = []
    for _ in range(min(n_components, 40)):
        w = X.T @ y
        norm = np.linalg.norm(w)
        if norm < 1e-12:
            break
        w /= norm
        score = X @ w
        tt = float(score @ score)
        loading = X.T @ score / tt
        rotations.append((w, loading))
        X = X - np.outer(score, loading)
        y = y - score * float(y @ score) / tt
    W = np.stack([w for w, _ in rotations], axis=1)
    P = np.stack([p for _, p in rotations], axis=1)
    return W @ np.linalg.inv(P.T @ W)
