"""Tree ensembles over covariates: random forest, quantile regression forest, gradient boosting.

Fitting uses the libraries soil mappers already trust (scikit-learn, quantile-forest,
LightGBM); what is kept afterwards is plain arrays (:mod:`.forest_arrays`) and LightGBM's
text model, so an artifact holds tensors and JSON only. Forests are evaluated by
scikit-learn's compiled tree walk on trees rebuilt from the arrays, boosting by LightGBM's
own predict on its parsed text model; both equal the arrays' numpy evaluation. Categorical
covariates are one-hot encoded; a row holding a class that training never saw is predicted
as NaN (and logged) rather than silently given the average class.
"""

from __future__ import annotations

import functools
import logging
import threading
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from geosoil.errors import ConfigError
from geosoil.models.base import GeoSoilEstimator
from geosoil.models.covariate.dense import as_array
from geosoil.models.covariate.forest_arrays import ForestArrays, parse_lightgbm_model
from geosoil.models.covariate.tabular import (
    TabularEncoding,
    adopt_encoding,
    check_training_target,
    training_table,
)
from geosoil.models.registry import register
from geosoil.models.targets import TargetTransform
from geosoil.models.threads import block_threads
from geosoil.models.uncertainty import normal_scores

if TYPE_CHECKING:
    import pandas as pd
    import torch

__all__ = ["OOB_SHARES", "CovariateGBM", "CovariateQuantileForest", "CovariateRandomForest"]

log = logging.getLogger(__name__)

# Rows x training samples held at once while weighing a quantile forest's leaves.
_QRF_WEIGHT_CELLS = 4_000_000
# Each thread's LightGBM boosters, by model text (a Booster is parsed once per thread).
_boosters = threading.local()


def _booster(model_text: str):
    """This thread's LightGBM Booster of ``model_text``; None (logged once) without LightGBM."""
    cache = getattr(_boosters, "by_text", None)
    if cache is None:
        cache = _boosters.by_text = {}
    if model_text not in cache:
        try:
            import lightgbm
        except ImportError as err:
            _warn_no_lightgbm(str(err))
            return None
        cache.clear()  # one model per thread at a time
        cache[model_text] = lightgbm.Booster(model_str=model_text)
    return cache[model_text]


@functools.cache
def _warn_no_lightgbm(reason: str) -> None:
    log.warning(
        "LightGBM cannot be imported (%s): gradient boosting is evaluated by numpy, about "
        "10 times slower; install geosoil's dependencies: pip install 'lightgbm>=4.5'",
        reason,
    )


class _TreeEnsemble(GeoSoilEstimator):
    """Shared encoding, target transform, prediction and state of the tree learners."""

    combine: ClassVar[Literal["mean", "sum"]] = "mean"
    # Pixels per predict call in a map: each call splits its rows over the block's threads
    # once, so small batches would make the threads wait for each other at every batch.
    map_batch_pixels: ClassVar[int] = 262_144
    # scikit-learn trees compare float32 features with float64 thresholds.
    float32_features: ClassVar[bool] = False
    # The artifact's arrays reach from_state as numpy arrays (no torch; ForestArrays checks
    # them before anything is built).
    state_arrays: ClassVar[str] = "numpy"

    categorical_features: Sequence[str]
    target_transform: str

    def fit(self, X: pd.DataFrame, y) -> _TreeEnsemble:
        """Learn from a covariate table (or an array, see :func:`covariate_frame`) and one
        target; returns self."""
        X, y = training_table(X, y)
        encoding = TabularEncoding.learn(X, list(self.categorical_features))
        y = check_training_target(y, len(X))
        z = TargetTransform(self.target_transform).forward(y)
        encoded, _ = encoding.encode(encoding.matrix(X))
        if self.float32_features:
            encoded = encoded.astype(np.float32).astype(np.float64)
        adopt_encoding(self, encoding)
        self._fit_encoded(encoded, z)
        return self

    def _fit_encoded(self, encoded: np.ndarray, z: np.ndarray) -> None:
        raise NotImplementedError

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Float32 (N,) predictions in the target's units for a table or an (N, F) array in
        feature order; NaN for rows with a missing covariate or a class unseen in training."""
        self._check_fitted()
        encoded, invalid = self._encoded(X)
        z = self._raw_output(encoded)
        z[invalid] = np.nan
        return TargetTransform(self.target_transform).inverse(z).astype(np.float32)

    def _encoded(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Encoded matrix with invalid rows zero-filled, and the invalid-row mask."""
        matrix = self.encoding_.matrix(X, owner=type(self).__name__)
        missing = ~np.isfinite(matrix).all(axis=1)
        encoded, unseen = self.encoding_.encode(np.where(np.isfinite(matrix), matrix, 0.0))
        if unseen.any():
            log.warning(
                "%d row(s) hold a categorical class training never saw; predicted as NaN (%s)",
                int(unseen.sum()),
                self.encoding_.unseen_classes(matrix),
            )
        if self.float32_features:
            encoded = encoded.astype(np.float32).astype(np.float64)
        return encoded, missing | unseen

    def _raw_output(self, encoded: np.ndarray) -> np.ndarray:
        """Float64 ensemble output on the transformed target scale."""
        # Tree by tree in a fixed order, as scikit-learn accumulates: a row's value never
        # depends on how many rows share its batch.
        sums = self.forest_.summed_outputs(encoded, float32_features=self.float32_features)
        return sums if self.combine == "sum" else sums / self.forest_.n_trees

    def prepare_mapping(self) -> None:
        """Before a map: build the fast evaluator once in this process, or warn, naming what
        to install, that numpy evaluates the trees."""
        self._check_fitted()
        self._raw_output(np.zeros((1, self.encoding_.n_encoded)))

    def feature_importance(self) -> dict[str, float]:
        """Importance per original covariate (one-hot classes summed), summing to 1."""
        self._check_fitted()
        return dict(self.feature_importances_)

    def _set_importances(self, encoded_importance: np.ndarray) -> None:
        total = float(np.sum(encoded_importance)) or 1.0
        self.feature_importances_ = {
            name: float(np.sum(encoded_importance[idx]) / total)
            for name, idx in self.encoding_.groups().items()
        }

    # ----------------------------------------------------------------- artifact
    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        self._check_fitted()
        state = {
            **self.encoding_.to_state(),
            "feature_importances": self.feature_importances_,
            "n_trees": self.forest_.n_trees,
        }
        return self.forest_.to_tensors(), state

    @classmethod
    def from_state(cls, params, tensors, state) -> _TreeEnsemble:
        model = cls(**params)
        model._restore_common(state)
        model.forest_ = ForestArrays.from_tensors(tensors, model.encoding_.n_encoded)
        model._check_tree_count(state)
        return model

    def _restore_common(self, state) -> None:
        adopt_encoding(self, TabularEncoding.from_state(state))
        importances = state.get("feature_importances") or {}
        self.feature_importances_ = {str(k): float(v) for k, v in importances.items()}

    def _check_tree_count(self, state) -> None:
        if int(state["n_trees"]) != self.forest_.n_trees:
            raise ValueError(
                f"the header says {state['n_trees']} trees, the arrays hold {self.forest_.n_trees}"
            )


OOB_SHARES: tuple[float, ...] = (1 / 3, 2 / 3, 1.0)
"""Shares of the columns tried at each split that ``max_features="oob"`` compares:
randomForest's regression default, a midpoint, and bagging (every column at every split)."""


class _SklearnForest(_TreeEnsemble):
    """Forests fitted by scikit-learn's tree builder (shared hyperparameters)."""

    float32_features = True

    def __init__(
        self,
        *,
        n_estimators: int = 500,
        max_features: float | Literal["oob"] = 1 / 3,
        min_samples_leaf: int = 5,
        categorical_features: Sequence[str] = (),
        target_transform: Literal["none", "log10"] = "none",
        seed: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self._store_params(locals())

    def _library_model(self, max_features: float):
        raise NotImplementedError

    def _fit_encoded(self, encoded: np.ndarray, z: np.ndarray) -> None:
        forest = self._grown(encoded, z)
        self.forest_ = ForestArrays.from_sklearn(forest.estimators_, encoded.shape[1])
        self._set_importances(forest.feature_importances_)

    def _grown(self, encoded: np.ndarray, z: np.ndarray):
        """The fitted library forest; with ``max_features="oob"``, grown with the share of
        :data:`OOB_SHARES` whose out-of-bag error on the training rows is lowest."""
        share = _checked_share(self.max_features)
        self.oob_mse_: dict[str, float] = {}
        if share is not None:
            self.max_features_ = share
            return self._library_model(share).fit(encoded, z)
        from sklearn.ensemble import RandomForestRegressor

        best = None
        for share in OOB_SHARES:
            # The out-of-bag score does not change the trees (same bootstrap draws).
            forest = RandomForestRegressor(**self._forest_settings(share), oob_score=True)
            with warnings.catch_warnings():  # "some inputs have no OOB score": tiny tables
                warnings.simplefilter("ignore", UserWarning)
                forest.fit(encoded, z)
            mse = float(np.nanmean(np.square(forest.oob_prediction_ - z)))
            self.oob_mse_[f"{share:.4f}"] = mse
            if best is None or mse < best[0]:
                best = (mse, share, forest)
        _, self.max_features_, forest = best
        log.info(
            "max_features %.3f chosen by out-of-bag error %s", self.max_features_, self.oob_mse_
        )
        final = self._library_model(self.max_features_)
        return forest if type(forest) is type(final) else final.fit(encoded, z)

    def _forest_settings(self, max_features: float) -> dict[str, Any]:
        return {
            "n_estimators": int(self.n_estimators),
            "max_features": max_features,
            "min_samples_leaf": int(self.min_samples_leaf),
            "random_state": int(self.seed),
            "n_jobs": int(self.n_jobs),
        }

    def export_state(self):
        tensors, state = super().export_state()
        state["max_features"] = self.max_features_
        if self.oob_mse_:
            state["oob_mse"] = self.oob_mse_
        return tensors, state

    def _restore_common(self, state) -> None:
        super()._restore_common(state)
        # Artifacts written before max_features could be "oob" record only the parameter.
        self.max_features_ = float(state.get("max_features", _checked_share(self.max_features)))
        self.oob_mse_ = {str(k): float(v) for k, v in (state.get("oob_mse") or {}).items()}


def _checked_share(value) -> float | None:
    """``max_features`` as a share of the columns in (0, 1], or None for ``"oob"``."""
    if value == "oob":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ConfigError(
            f"max_features is {value!r}",
            field="model.params.max_features",
            fix='give a share of the columns in (0, 1], or "oob" to choose one of '
            f"{[round(s, 3) for s in OOB_SHARES]} by out-of-bag error",
        )
    return float(value)


@register
class CovariateRandomForest(_SklearnForest):
    """Random forest regression (scikit-learn), stored and evaluated as node arrays.

    Parameters
    ----------
    n_estimators
        Trees in the forest.
    max_features
        Share of the encoded columns tried at each split (1/3: the regression default of
        Breiman and Cutler's randomForest), or ``"oob"``: the share of :data:`OOB_SHARES`
        with the lowest out-of-bag error on the training rows (as randomForest's
        ``tuneRF``; three forests are grown, the chosen one is kept). ``auto`` uses
        ``"oob"``.
    min_samples_leaf
        Fewest training samples in a leaf (5: randomForest's regression ``nodesize``).
    categorical_features
        Columns holding integer class codes, one-hot encoded.
    target_transform
        ``"none"`` or ``"log10"``; predictions are back-transformed (for ``log10`` the
        back-transform of the trees' mean, a geometric mean).
    seed
        Seeds bootstrap samples and split candidates.
    n_jobs
        Threads used to grow the trees (the trees do not depend on it).
    """

    registry_name = "random_forest"

    def _library_model(self, max_features: float):
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(**self._forest_settings(max_features))


@register
class CovariateQuantileForest(_SklearnForest):
    """Quantile regression forest (Meinshausen, 2006), grown by quantile-forest.

    Same hyperparameters and mean prediction as :class:`CovariateRandomForest`. The forest
    also keeps, per tree, the leaf of every training sample: a new row's conditional
    distribution weighs each training target by how often, and in how small a leaf, it
    shares the row's leaf; ``predict_dist`` reads quantiles and spread from it. Every training
    sample counts in every tree (Meinshausen's original weights), not only the tree's
    bootstrap sample.
    """

    registry_name = "quantile_forest"

    @property
    def supports_dist(self) -> bool:
        return True

    def _library_model(self, max_features: float):
        from quantile_forest import RandomForestQuantileRegressor

        return RandomForestQuantileRegressor(**self._forest_settings(max_features))

    def _fit_encoded(self, encoded: np.ndarray, z: np.ndarray) -> None:
        super()._fit_encoded(encoded, z)
        self.train_target_ = z.astype(np.float64)
        leaves = self.forest_.apply(encoded, float32_features=True)
        self.train_leaf_ = leaves.T.copy()  # (n_trees, n_train)
        self._index_leaves()

    def _index_leaves(self) -> None:
        """Training samples grouped by leaf: ``_members[_start[node]:_start[node+1]]``."""
        n_train = len(self.train_target_)
        leaves = self.train_leaf_.reshape(-1)
        order = np.argsort(leaves, kind="stable")
        self._members = (order % n_train).astype(np.int64)
        counts = np.bincount(leaves, minlength=len(self.forest_.left))
        self._count = counts
        self._start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._order = np.argsort(self.train_target_, kind="stable")

    def predict_dist(
        self, X: pd.DataFrame | np.ndarray, *, levels: Sequence[float] = (0.05, 0.95)
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean (equal to ``predict``), spread and quantiles of the forest's conditional
        distribution, float32, in the target's units.

        Quantile ``q`` is the smallest training target whose weighted cumulative share
        reaches ``q``; ``std`` is the weighted standard deviation of the back-transformed
        training targets. Rows that ``predict`` gives as NaN are NaN throughout.
        """
        normal_scores(levels)  # refuses probabilities outside (0, 1)
        levels = np.atleast_1d(np.asarray(levels, dtype=np.float64))
        self._check_fitted()
        encoded, invalid = self._encoded(X)
        mean = self.predict(X)
        transform = TargetTransform(self.target_transform)
        values = transform.inverse(self.train_target_)
        sorted_z = self.train_target_[self._order]
        n_rows, n_train = len(encoded), len(values)
        std = np.empty(n_rows, dtype=np.float64)
        quantiles = np.empty((len(levels), n_rows), dtype=np.float64)
        step = max(1, _QRF_WEIGHT_CELLS // n_train)
        for start in range(0, n_rows, step):
            part = slice(start, start + step)
            weights = self._weights(encoded[part])
            centre = weights @ values
            std[part] = np.sqrt(np.maximum(weights @ np.square(values) - np.square(centre), 0))
            cumulative = np.cumsum(weights[:, self._order], axis=1)
            for row, level in enumerate(levels):
                index = np.minimum((cumulative < level - 1e-12).sum(axis=1), n_train - 1)
                quantiles[row, part] = transform.inverse(sorted_z[index])
        std[invalid] = np.nan
        quantiles[:, invalid] = np.nan
        return mean, std.astype(np.float32), quantiles.astype(np.float32)

    def _weights(self, encoded: np.ndarray) -> np.ndarray:
        """Float64 (rows, n_train) weights of the training targets; each row sums to 1."""
        leaves = self.forest_.apply(encoded, float32_features=True).reshape(-1)
        n_rows, n_trees, n_train = len(encoded), self.forest_.n_trees, len(self.train_target_)
        counts = self._count[leaves]
        offsets = np.cumsum(counts) - counts
        entries = np.repeat(self._start[leaves] - offsets, counts) + np.arange(counts.sum())
        rows = np.repeat(np.arange(leaves.size) // n_trees, counts)
        share = np.repeat(1.0 / (counts * n_trees), counts)
        flat = np.bincount(
            rows * n_train + self._members[entries], weights=share, minlength=n_rows * n_train
        )
        return flat.reshape(n_rows, n_train)

    def export_state(self):
        tensors, state = super().export_state()
        import torch

        tensors["qrf.train_target"] = torch.from_numpy(self.train_target_.copy())
        tensors["qrf.train_leaf"] = torch.from_numpy(self.train_leaf_.astype(np.int32))
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state):
        model = super().from_state(params, tensors, state)
        target = as_array(tensors["qrf.train_target"]).astype(np.float64)
        leaf = as_array(tensors["qrf.train_leaf"]).astype(np.int64)
        if target.ndim != 1 or leaf.shape != (model.forest_.n_trees, len(target)):
            raise ValueError(
                f"quantile arrays have shapes {target.shape} and {leaf.shape}, expected (n,) "
                f"and ({model.forest_.n_trees}, n)"
            )
        in_range = (leaf >= 0) & (leaf < len(model.forest_.left))
        if not in_range.all() or (model.forest_.left[leaf] >= 0).any():
            raise ValueError("qrf.train_leaf names nodes that are not leaves")
        if not np.isfinite(target).all():
            raise ValueError("qrf.train_target is not finite")
        model.train_target_, model.train_leaf_ = target, leaf
        model._index_leaves()
        return model


@register
class CovariateGBM(_TreeEnsemble):
    """Gradient-boosted trees (LightGBM), kept as its text model and evaluated as arrays.

    Parameters
    ----------
    n_estimators, learning_rate
        Boosting rounds and shrinkage.
    num_leaves, min_child_samples
        Leaves per tree and fewest samples in a leaf: small trees for small soil data sets.
    subsample, colsample_bytree
        Row share per round (bagging) and column share per tree.
    reg_lambda
        L2 penalty on leaf values.
    categorical_features, target_transform, seed, n_jobs
        As for :class:`CovariateRandomForest`.
    """

    registry_name = "gbm"
    combine = "sum"

    def __init__(
        self,
        *,
        n_estimators: int = 400,
        learning_rate: float = 0.03,
        num_leaves: int = 15,
        min_child_samples: int = 10,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        categorical_features: Sequence[str] = (),
        target_transform: Literal["none", "log10"] = "none",
        seed: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self._store_params(locals())

    def _fit_encoded(self, encoded: np.ndarray, z: np.ndarray) -> None:
        import lightgbm

        model = lightgbm.LGBMRegressor(
            n_estimators=int(self.n_estimators),
            learning_rate=float(self.learning_rate),
            num_leaves=int(self.num_leaves),
            min_child_samples=int(self.min_child_samples),
            subsample=float(self.subsample),
            subsample_freq=1 if self.subsample < 1 else 0,
            colsample_bytree=float(self.colsample_bytree),
            reg_lambda=float(self.reg_lambda),
            random_state=int(self.seed),
            n_jobs=int(self.n_jobs),
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
        ).fit(encoded, z)
        self.model_text_ = model.booster_.model_to_string()
        self.forest_ = parse_lightgbm_model(self.model_text_, encoded.shape[1])
        self._set_importances(model.booster_.feature_importance("gain"))

    def _raw_output(self, encoded: np.ndarray) -> np.ndarray:
        """LightGBM's raw score (the sum over trees, in float64) from the parsed text model,
        on each block's share of the cores; the arrays' numpy sum where LightGBM is missing."""
        booster = _booster(self.model_text_)
        if booster is None or not len(encoded):
            return super()._raw_output(encoded)
        rows = np.ascontiguousarray(encoded, dtype=np.float64)
        return booster.predict(rows, raw_score=True, num_threads=block_threads())

    def export_state(self):
        _, state = super().export_state()
        return {}, {**state, "lightgbm_model": self.model_text_}

    @classmethod
    def from_state(cls, params, tensors, state):
        model = cls(**params)
        model._restore_common(state)
        if tensors:
            raise ValueError(f"unexpected tensors {sorted(tensors)[:3]}")
        model.model_text_ = str(state["lightgbm_model"])
        model.forest_ = parse_lightgbm_model(model.model_text_, model.encoding_.n_encoded)
        model._check_tree_count(state)
        return model
