"""Area of applicability (AOA) of a covariate model, after Meyer and Pebesma (2021).

The dissimilarity index (DI) of a location is its distance to the nearest training sample in
standardized covariate space, each covariate weighted by its importance to the model, divided
by the mean distance between training samples. The AOA threshold is the outlier-removed
maximum (upper whisker of a boxplot) of the training samples' cross-validated DI: each
training sample's distance to the nearest sample *outside its own CV fold*. Pixels with a DI
above the threshold, or with a class a categorical covariate never took in training, lie
outside the AOA; so do pixels with a continuous covariate beyond the training range by more
than ``range_margin`` of that range, by default any value outside it (the novelty rule of MESS
maps, Elith et al. 2010, where a negative MESS means a covariate outside the training range):
the DI sums over covariates, so one covariate out of range with a small importance weight
would otherwise slip through, and every learner extrapolates there (trees carry their edge
leaves on, networks their last linear piece), whatever the importance measured in range.

Written from the description in the paper and the CAST R package's ``trainDI``/``aoa``
documentation; no CAST code is used. Differences: categorical covariates are one-hot encoded
with weight ``w / sqrt(2)`` per indicator (two differing classes are ``w`` apart), and an
unseen class puts a pixel outside the AOA whatever its DI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING

import numpy as np

from geosoil.errors import CalibrationError

if TYPE_CHECKING:  # scikit-learn's neighbours cost a second of import: loaded on first use
    from sklearn.neighbors import KDTree

__all__ = ["ApplicabilityModel", "fit_applicability", "whisker_threshold"]

# The mean pairwise distance is taken over at most this many training rows (a random subset
# when there are more): it is a scale, and 4000 rows give it to well under 1 %.
_MEAN_DISTANCE_ROWS = 4000
_QUERY_BATCH = 8192
# Query rows per matrix product in the brute-force search: a few MiB of float32 scores, so they
# stay in cache (one product over a whole 8192-row batch was 2-4x slower on the engine
# benchmark workload, its time spent moving scores to and from memory).
_BLOCK_ROWS = 512
# Up to this many stored rows, the nearest row is found by brute force (one matrix product
# per batch, several times faster than a KD-tree in 10+ dimensions); above, by the KD-tree.
_BRUTE_MAX_ROWS = 4096


@dataclass(frozen=True, eq=False)
class ApplicabilityModel:
    """What the DI and the AOA of new locations need; saved in the artifact.

    Attributes
    ----------
    feature_names
        Covariates in model order.
    center, scale
        Standardization of every covariate (categorical ones: 0 and 1, unused).
    weights
        Non-negative importance weight per covariate, summing to 1.
    categories
        Categorical covariate -> the class codes seen in training.
    train_rows
        float32 (n, d): the training rows in weighted, standardized (one-hot) space, or a
        stated subset of them (``n_rows_total`` > n).
    mean_distance
        Mean distance between training rows in that space (the DI's denominator).
    threshold
        The AOA threshold on the DI.
    train_di
        Cross-validated DI of the training rows (the threshold's source).
    n_rows_total, di_error
        Training rows before any subsetting, and the largest absolute DI error the subset
        caused on a check sample (0 when every row is kept).
    """

    feature_names: tuple[str, ...]
    center: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    categories: Mapping[str, tuple[int, ...]]
    train_rows: np.ndarray
    mean_distance: float
    threshold: float
    train_di: np.ndarray
    n_rows_total: int
    di_error: float = 0.0
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    range_margin: float | None = None
    _tree: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ encoding
    @cached_property
    def _continuous(self) -> np.ndarray:
        return np.array([n not in self.categories for n in self.feature_names])

    def encode(self, X: np.ndarray) -> np.ndarray:
        """float32 (N, d) rows in weighted standardized space; (N, F) in, model order."""
        X = np.asarray(X, dtype=np.float32)
        cont = self._continuous
        parts = [
            (X[:, cont] - self.center[cont].astype(np.float32))
            * (self.weights[cont] / self.scale[cont]).astype(np.float32)
        ]
        for name, codes in self.categories.items():
            column = X[:, self.feature_names.index(name)]
            w = np.float32(self.weights[self.feature_names.index(name)] / np.sqrt(2.0))
            parts.append((column[:, None] == np.asarray(codes, np.float32)[None, :]) * w)
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)

    def unseen_class(self, X: np.ndarray) -> np.ndarray:
        """Boolean (N,): a categorical covariate holds a class training never saw."""
        X = np.asarray(X)
        unseen = np.zeros(len(X), dtype=bool)
        for name, codes in self.categories.items():
            unseen |= ~np.isin(X[:, self.feature_names.index(name)], np.asarray(codes))
        return unseen

    # ----------------------------------------------------------------- applying
    @property
    def tree(self) -> KDTree:
        """KD-tree over the training rows, built on first use (and once per process)."""
        if "tree" not in self._tree:
            from sklearn.neighbors import KDTree

            self._tree["tree"] = KDTree(self.train_rows, leaf_size=40)
        return self._tree["tree"]

    def dissimilarity(self, X: np.ndarray) -> np.ndarray:
        """float32 (N,) DI of (N, F) covariate rows in model order."""
        X = np.asarray(X)
        out = np.empty(len(X), dtype=np.float32)
        for start in range(0, len(X), _QUERY_BATCH):
            rows = self.encode(X[start : start + _QUERY_BATCH])
            out[start : start + len(rows)] = self._nearest_distance(rows) / self.mean_distance
        return out

    def _nearest_distance(self, rows: np.ndarray) -> np.ndarray:
        train = self.train_rows
        if len(train) > _BRUTE_MAX_ROWS:
            return self.tree.query(rows, k=1)[0][:, 0]
        # |a - b|^2 = |a|^2 - 2 a.b + |b|^2: the last two terms for every stored row b come
        # from one float32 product of [a, 1] with [-2 b; |b|^2] (|a|^2 is the same for every
        # b), over blocks of rows small enough that the scores stay in cache. The nearest
        # row's distance is then recomputed from the difference, so the value does not
        # depend on the blocking (a pixel's DI never depends on its block).
        weights = self._augmented_train()
        out = np.empty(len(rows), dtype=np.float64)
        padded = np.empty((min(_BLOCK_ROWS, len(rows)), rows.shape[1] + 1), dtype=np.float32)
        padded[:, -1] = 1.0
        # One BLAS thread: products this small spend more time waking BLAS threads than
        # computing (12 s of CPU instead of 0.4 s for a 1024^2 map on a busy machine), and the
        # mapping engine already runs one block per core.
        with _blas_controller().limit(limits=1, user_api="blas"):
            for start in range(0, len(rows), _BLOCK_ROWS):
                block = rows[start : start + _BLOCK_ROWS]
                part = padded[: len(block)]
                part[:, :-1] = block
                nearest = train[np.argmin(part @ weights, axis=1)]
                difference = block - nearest
                out[start : start + len(block)] = np.einsum(
                    "ij,ij->i", difference, difference, dtype=np.float64
                )
        return np.sqrt(out)

    def _augmented_train(self) -> np.ndarray:
        """float32 (d + 1, n): the stored rows times -2, over their squared norms."""
        if "augmented" not in self._tree:
            train = self.train_rows
            norms = np.einsum("ij,ij->i", train, train, dtype=np.float64)
            self._tree["augmented"] = np.ascontiguousarray(
                np.vstack([-2.0 * train.T, norms[None, :]]), dtype=np.float32
            )
        return self._tree["augmented"]

    def beyond_range(self, X: np.ndarray) -> np.ndarray:
        """Boolean (N,): a continuous covariate lies beyond the training range by more than
        ``range_margin`` of that range (all False without a range check)."""
        X = np.asarray(X)
        if self.range_margin is None or self.low is None:
            return np.zeros(len(X), dtype=bool)
        cont = self._continuous
        span = (self.high - self.low)[cont]
        # float32 bounds rounded outward and float32 values (rounding is monotonic): a value
        # inside the float64 range is never put outside by the cast, whichever type X has.
        low = _float32_outward(self.low[cont] - self.range_margin * span, -np.inf)
        high = _float32_outward(self.high[cont] + self.range_margin * span, np.inf)
        values = X[:, cont].astype(np.float32, copy=False)
        return ((values < low) | (values > high)).any(axis=1)

    def evaluate(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """DI (float32) and inside-AOA flag (bool) of (N, F) rows."""
        di = self.dissimilarity(X)
        return di, (di <= self.threshold) & ~self.unseen_class(X) & ~self.beyond_range(X)

    # ----------------------------------------------------------------- artifact
    def to_parts(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays and a JSON-able dict, the inverse of :meth:`from_parts`."""
        arrays = {
            "center": self.center,
            "scale": self.scale,
            "weights": self.weights,
            "train_rows": self.train_rows,
            "train_di": self.train_di,
        }
        if self.low is not None:
            arrays |= {"low": self.low, "high": self.high}
        state = {
            "feature_names": list(self.feature_names),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "mean_distance": self.mean_distance,
            "threshold": self.threshold,
            "n_rows_stored": len(self.train_rows),
            "n_rows_total": self.n_rows_total,
            "di_error": self.di_error,
            "range_margin": self.range_margin,
            "method": "CAST dissimilarity index (Meyer and Pebesma 2021), CV nearest neighbour",
        }
        return arrays, state

    @classmethod
    def from_parts(cls, arrays: Mapping[str, np.ndarray], state: Mapping) -> ApplicabilityModel:
        return cls(
            feature_names=tuple(state["feature_names"]),
            center=np.asarray(arrays["center"], np.float64),
            scale=np.asarray(arrays["scale"], np.float64),
            weights=np.asarray(arrays["weights"], np.float64),
            categories={k: tuple(int(c) for c in v) for k, v in state["categories"].items()},
            train_rows=np.ascontiguousarray(arrays["train_rows"], np.float32),
            mean_distance=float(state["mean_distance"]),
            threshold=float(state["threshold"]),
            train_di=np.asarray(arrays["train_di"], np.float64),
            n_rows_total=int(state["n_rows_total"]),
            di_error=float(state["di_error"]),
            low=np.asarray(arrays["low"], np.float64) if "low" in arrays else None,
            high=np.asarray(arrays["high"], np.float64) if "high" in arrays else None,
            range_margin=state.get("range_margin"),
        )


def fit_applicability(
    X: np.ndarray,
    *,
    feature_names: Sequence[str],
    weights: Sequence[float] | None = None,
    categorical: Sequence[str] = (),
    fold_ids: Sequence[int] | None = None,
    max_rows: int = 20000,
    min_weight_share: float = 0.25,
    range_margin: float | None = 0.0,
    seed: int = 0,
) -> ApplicabilityModel:
    """Fit the AOA of a model trained on the (n, F) rows ``X``.

    Parameters
    ----------
    X
        Training covariates in model order (categorical columns hold integer codes).
    feature_names
        Their names.
    weights
        Importance of each covariate (negative values count as 0); equal when None.
    categorical
        Names of the categorical covariates.
    fold_ids
        CV fold of each training row; the cross-validated DI measures each row against rows
        of other folds (use the spatial or grouped folds the model was validated on). Without
        folds, against every other row.
    max_rows
        Rows kept for the nearest-neighbour search; above it a random subset is stored and
        ``di_error`` says how far the DI moved on a check sample.
    min_weight_share
        Every covariate keeps at least this share of an equal weight (``1 / F``), however
        unimportant. Importance is measured inside the training range and cannot see
        extrapolation: a network whose output barely moves with a covariate in range may move
        a lot beyond it. 0 gives CAST's pure importance weighting.
    range_margin
        A continuous covariate beyond the training range by more than this share of the
        range puts a row outside the AOA; 0 (default): any value outside the training range
        (MESS's novelty rule); None: the DI and unseen classes alone (CAST).

    Raises
    ------
    CalibrationError
        Fewer than 3 rows, non-finite values, or weights that are all zero.
    """
    X = np.asarray(X, dtype=np.float64)
    names = tuple(str(n) for n in feature_names)
    if X.ndim != 2 or X.shape[1] != len(names):
        raise CalibrationError(
            f"expected an (n, {len(names)}) covariate table, got shape {X.shape}",
            field="covariates",
            fix="pass the training covariates in model order",
        )
    if len(X) < 3 or not np.isfinite(X).all():
        raise CalibrationError(
            f"the area of applicability needs at least 3 finite training rows, got {len(X)}",
            field="covariates",
            fix="drop rows with missing covariates; train on more samples",
        )
    w = np.ones(len(names)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = np.where(np.isfinite(w), np.maximum(w, 0.0), 0.0)
    if w.shape != (len(names),) or w.sum() <= 0:
        raise CalibrationError(
            "covariate importance weights are all zero (or of the wrong length)",
            field="importance",
            fix="use equal weights (importance: none) or check the model's importance",
        )
    w = w / w.sum()
    if min_weight_share > 0:
        w = np.maximum(w, min_weight_share / len(w))
        w = w / w.sum()
    categories = {
        name: tuple(int(c) for c in np.unique(X[:, names.index(name)])) for name in categorical
    }
    center = np.where([n in categories for n in names], 0.0, X.mean(axis=0))
    scale = X.std(axis=0)
    scale = np.where((scale > 0) & [n not in categories for n in names], scale, 1.0)
    template = ApplicabilityModel(
        names, center, scale, w, categories, np.zeros((0, 0), np.float32), 1.0, 0.0,
        np.zeros(0), len(X),
    )  # fmt: skip
    encoded = template.encode(X)
    mean_distance = _mean_pairwise_distance(encoded, seed=seed)
    if not mean_distance > 0:
        raise CalibrationError(
            "all training rows are identical in the weighted covariate space",
            field="covariates",
            fix="train on samples that differ in their covariates",
        )
    train_di = _cross_validated_distance(encoded, fold_ids) / mean_distance
    stored, di_error = encoded, 0.0
    if len(encoded) > max_rows:
        stored, di_error = _subset(encoded, max_rows, mean_distance, seed=seed)
    return ApplicabilityModel(
        feature_names=names,
        center=center,
        scale=scale,
        weights=w,
        categories=categories,
        train_rows=np.ascontiguousarray(stored, dtype=np.float32),
        mean_distance=float(mean_distance),
        threshold=whisker_threshold(train_di),
        train_di=train_di,
        n_rows_total=len(X),
        di_error=float(di_error),
        low=X.min(axis=0),
        high=X.max(axis=0),
        range_margin=range_margin,
    )


@cache
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries (a scikit-learn dependency)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _float32_outward(bound: np.ndarray, direction: float) -> np.ndarray:
    """``bound`` as float32, rounded away from the range (towards ``direction``)."""
    rounded = np.asarray(bound, dtype=np.float64).astype(np.float32)
    inward = (rounded > bound) if direction < 0 else (rounded < bound)
    return np.where(inward, np.nextafter(rounded, np.float32(direction)), rounded)


def whisker_threshold(values: np.ndarray) -> float:
    """The largest value not above Q3 + 1.5 IQR: a boxplot's upper whisker (CAST's threshold)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    q1, q3 = np.quantile(values, [0.25, 0.75])
    return float(values[values <= q3 + 1.5 * (q3 - q1)].max())


def _mean_pairwise_distance(encoded: np.ndarray, *, seed: int) -> float:
    from scipy.spatial.distance import pdist

    rows = encoded
    if len(rows) > _MEAN_DISTANCE_ROWS:
        pick = np.random.default_rng(seed).choice(len(rows), _MEAN_DISTANCE_ROWS, replace=False)
        rows = rows[pick]
    return float(pdist(rows.astype(np.float64)).mean())


def _cross_validated_distance(encoded: np.ndarray, fold_ids: Sequence[int] | None) -> np.ndarray:
    """Distance of each row to its nearest row in another fold (or to its nearest other row)."""
    from sklearn.neighbors import KDTree, NearestNeighbors

    if fold_ids is None:
        distance, _ = NearestNeighbors(n_neighbors=2).fit(encoded).kneighbors(encoded)
        return distance[:, 1].astype(np.float64)
    folds = np.asarray(fold_ids)
    if folds.shape != (len(encoded),):
        raise CalibrationError(
            f"{folds.size} fold ids for {len(encoded)} training rows",
            field="folds",
            fix="pass one fold id per training row",
        )
    out = np.full(len(encoded), np.nan)
    for fold in np.unique(folds):
        held = folds == fold
        if held.all():
            break
        tree = KDTree(encoded[~held])
        out[held] = tree.query(encoded[held], k=1)[0][:, 0]
    return out


def _subset(
    encoded: np.ndarray, max_rows: int, mean_distance: float, *, seed: int
) -> tuple[np.ndarray, float]:
    """A random subset of rows, and the largest DI error it causes on 1000 left-out rows."""
    from sklearn.neighbors import KDTree, NearestNeighbors

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(encoded))
    kept, left = encoded[order[:max_rows]], encoded[order[max_rows:]][:1000]
    full = NearestNeighbors(n_neighbors=2).fit(encoded).kneighbors(left)[0][:, 1]
    reduced = KDTree(kept).query(left, k=1)[0][:, 0]
    return kept, float(np.max(np.abs(reduced - full)) / mean_distance) if len(left) else 0.0
