"""A stacked ensemble of covariate learners: a non-negative blend of their predictions.

The blend weights are fitted (non-negative least squares, then scaled to sum to one) on
out-of-fold predictions of inner cross-validation, never on predictions of rows a member was
trained on. Each member is then refit on all rows. The artifact holds every member's tensors
under ``members.<k>.`` and their states in the header; each member is rebuilt through the
registry like any artifact, so a stack cannot name code either.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from geosoil.errors import ConfigError
from geosoil.evaluate.splits import Folds, grouped_kfold, random_kfold
from geosoil.models.base import GeoSoilEstimator, pack_inner, unpack_inner
from geosoil.models.registry import get_estimator_class, register

__all__ = [
    "GROUP_COLUMN",
    "CovariateStack",
    "blend_weights",
    "inner_folds",
    "inner_learner",
    "out_of_fold",
    "unseen_class_rows",
]

log = logging.getLogger(__name__)

GROUP_COLUMN = "sample_group"
"""Column holding each sample's fold group (integer codes) in the tables a learner that
selects on inner folds sees (``auto``, residual kriging) when the outer folds keep groups
whole; the inner folds then keep them whole too. No learner inside ever sees it."""


def inner_learner(
    name: str,
    outer: GeoSoilEstimator,
    own: dict[str, Any] | None,
    *,
    field: str,
    source: str,
) -> GeoSoilEstimator:
    """An unfitted learner ``name`` inside the composite ``outer`` (a stack's member, the
    base of residual kriging): ``outer``'s ``categorical_features``, ``target_transform`` and
    ``seed`` where the learner takes them, then its ``own`` settings.

    ``field`` names the composite's parameter that chose ``name``, ``source`` the one that
    holds ``own`` (for the messages of an unknown name or setting).
    """
    cls = get_estimator_class(name, field=field)
    shared = {
        "categorical_features": list(outer.categorical_features),
        "target_transform": outer.target_transform,
        "seed": outer.seed,
    }
    params = {k: v for k, v in shared.items() if k in cls.param_names()}
    return cls.from_params({**params, **(own or {})}, source=source)


def inner_folds(X: pd.DataFrame, n_splits: int, seed: int) -> Folds:
    """Inner folds of ``X``: whole groups of :data:`GROUP_COLUMN` when ``X`` has it (at most
    ``n_splits``, at least two groups), else random rows (both shuffled by ``seed``)."""
    n = len(X)
    groups = X[GROUP_COLUMN].to_numpy() if GROUP_COLUMN in getattr(X, "columns", ()) else None
    n_groups = 0 if groups is None else len(np.unique(groups))
    if n_groups >= 2:
        return grouped_kfold(groups, n_splits=min(n_splits, n_groups), seed=seed)
    if groups is not None:
        log.warning("the training rows hold a single fold group; random inner folds")
    return random_kfold(n, n_splits=min(n_splits, n), seed=seed)


def out_of_fold(make, X: pd.DataFrame, y: np.ndarray, folds) -> np.ndarray:
    """Out-of-fold predictions (float64, row order) of ``make()`` over ``folds``."""
    from geosoil.evaluate.crossval import cross_validate

    predictions = cross_validate(make, X, y, folds).predictions
    out = np.full(len(y), np.nan)
    out[predictions["row"].to_numpy()] = predictions["predicted"].to_numpy()
    return out


def unseen_class_rows(X: pd.DataFrame, categorical: Sequence[str], folds: Folds) -> np.ndarray:
    """Bool (n,): rows holding a class of a ``categorical`` column that their fold's training
    rows lack. The tabular learners abstain there (NaN), so learners are compared without
    them: a rare class that one inner fold holds whole must not disqualify a learner."""
    unseen = np.zeros(len(X), dtype=bool)
    for column in categorical:
        values = X[column].to_numpy(dtype=np.float64)
        for train_idx, test_idx in folds:
            test = values[test_idx]
            unseen[test_idx] |= np.isfinite(test) & ~np.isin(test, values[train_idx])
    return unseen


def blend_weights(predictions: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to one that best blend the (n, k) columns into ``y``
    (least squares over the simplex), fitted on the rows where every column is finite (a
    learner may abstain on a row). The blend fits ``y`` at least as well as its best column."""
    from scipy.optimize import minimize

    rows = np.isfinite(predictions).all(axis=1) & np.isfinite(y)
    scale = float(np.std(y[rows])) or 1.0  # the same weights in any unit, a well-scaled loss
    columns, target = predictions[rows] / scale, y[rows] / scale
    n_rows, k = columns.shape

    def loss(weights: np.ndarray) -> float:
        residual = columns @ weights - target
        return float(residual @ residual) / n_rows

    def gradient(weights: np.ndarray) -> np.ndarray:
        return 2.0 * columns.T @ (columns @ weights - target) / n_rows

    fitted = minimize(
        loss,
        np.full(k, 1.0 / k),
        jac=gradient,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(k)}],
        options={"ftol": 1e-12, "maxiter": 1000},
    )
    weights = np.where(fitted.x > 1e-9, fitted.x, 0.0)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(k, 1.0 / k)
    # Each column alone is a point of the simplex: should the solver stop short, a single
    # column that fits better is taken instead.
    vertices = np.eye(k)
    best_vertex = vertices[int(np.argmin([loss(v) for v in vertices]))]
    return weights if loss(weights) <= loss(best_vertex) else best_vertex


@register
class CovariateStack(GeoSoilEstimator):
    """Weighted blend of covariate learners, weights from inner out-of-fold predictions.

    Parameters
    ----------
    members
        Registry names of the member learners.
    member_params
        Per-member settings, ``{name: {param: value}}``.
    inner_splits
        Random inner folds giving the out-of-fold predictions the weights are fitted on.
    categorical_features, target_transform, seed
        Passed to every member that takes them.
    """

    registry_name = "stack"

    def __init__(
        self,
        *,
        members: Sequence[str] = ("random_forest", "gbm", "linear"),
        member_params: dict[str, dict[str, Any]] | None = None,
        inner_splits: int = 5,
        categorical_features: Sequence[str] = (),
        target_transform: Literal["none", "log10"] = "none",
        seed: int = 0,
    ) -> None:
        self._store_params(locals())

    def make_member(self, name: str) -> GeoSoilEstimator:
        own = (self.member_params or {}).get(name, {})
        return inner_learner(
            name, self, own, field="model.params.members", source=f"member_params.{name}"
        )

    def fit(self, X: pd.DataFrame, y) -> CovariateStack:
        """Fit blend weights on inner out-of-fold predictions, then every member on all rows."""
        if len(self.members) < 2:
            raise ConfigError(
                f"a stack needs two or more members, got {list(self.members)}",
                field="model.params.members",
                fix="name at least two learners",
            )
        y = np.asarray(y, dtype=np.float64)
        folds = random_kfold(len(y), n_splits=min(self.inner_splits, len(y)), seed=self.seed)
        oof = np.column_stack(
            [out_of_fold(lambda n=name: self.make_member(n), X, y, folds) for name in self.members]
        )
        return self.fit_with_weights(X, y, blend_weights(oof, y))

    def fit_with_weights(self, X: pd.DataFrame, y, weights: Sequence[float]) -> CovariateStack:
        """Refit every member on all rows and keep ``weights`` (one per member)."""
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (len(self.members),):
            raise ValueError(f"{weights.shape} weights for {len(self.members)} members")
        self.weights_ = weights
        self.members_ = [
            self.make_member(name).fit(X, y) if w > 0 else None
            for name, w in zip(self.members, weights, strict=True)
        ]
        self.feature_names_in_ = [str(c) for c in X.columns]
        return self

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Float32 (N,) blend of the members' predictions in the target's units."""
        self._check_fitted()
        total = None
        for weight, member in zip(self.weights_, self.members_, strict=True):
            if member is None:
                continue
            part = weight * member.predict(X).astype(np.float64)
            total = part if total is None else total + part
        return total.astype(np.float32)

    def feature_importance(self) -> dict[str, float] | None:
        """Members' importances blended with the stack's weights; None when a member with
        weight has none of its own (the MLP, the SVR): a blend of the others would leave its
        share out, so the AOA weighs the covariates by permutation of the whole stack."""
        self._check_fitted()
        blended: dict[str, float] = dict.fromkeys(self.feature_names_in_, 0.0)
        used = 0.0
        for weight, member in zip(self.weights_, self.members_, strict=True):
            if member is None or weight <= 0:
                continue
            if not hasattr(member, "feature_importance"):
                return None
            used += weight
            for name, value in member.feature_importance().items():
                blended[name] += weight * value
        return {k: v / used for k, v in blended.items()} if used else blended

    def export_state(self):
        self._check_fitted()
        tensors, members = {}, []
        for k, member in enumerate(self.members_):
            if member is None:
                members.append(None)
                continue
            member_tensors, entry = pack_inner(f"members.{k}", member)
            tensors.update(member_tensors)
            members.append(entry)
        state = {
            "weights": self.weights_.tolist(),
            "members": members,
            "feature_names_in": self.feature_names_in_,
        }
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> CovariateStack:
        model = cls(**params)
        weights = np.asarray(state["weights"], dtype=np.float64)
        entries = state["members"]
        if weights.shape != (len(model.members),) or len(entries) != len(model.members):
            raise ValueError(f"{len(entries)} members and {weights.shape} weights in the state")
        members, used = [], set()
        for k, (name, entry) in enumerate(zip(model.members, entries, strict=True)):
            if entry is None:
                members.append(None)
                continue
            member_cls = get_estimator_class(name, field="geosoil.hyperparameters.members")
            member, keys = unpack_inner(member_cls, f"members.{k}", tensors, entry)
            members.append(member)
            used |= keys
        if unexpected := sorted(set(tensors) - used):
            raise ValueError(f"tensors {unexpected[:3]} belong to no member")
        model.weights_ = weights
        model.members_ = members
        model.feature_names_in_ = [str(n) for n in state["feature_names_in"]]
        return model
