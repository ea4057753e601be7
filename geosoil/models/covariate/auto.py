"""``model.estimator: auto``: choose a covariate learner by inner cross-validation.

:class:`AutoCovariate` behaves as one estimator: ``fit`` cross-validates every candidate on
inner folds of the rows it is given, keeps the one with the lowest pooled inner RMSE, and
refits it on all those rows. Run inside an outer cross-validation, the choice is made
afresh in every outer training set and never sees the outer test fold, so the outer score
of ``auto`` is an honest (nested) estimate of the whole procedure, choice included. A blend
of the candidates (a stack) competes too; its weights come from the same inner predictions,
so its inner score is slightly optimistic, but the outer score stays honest.

The inner folds follow the outer scheme. A table that carries :data:`GROUP_COLUMN` (the
spatial block, predefined fold or duplicate set of every sample, as the outer folds kept
them whole) is cut into inner folds of whole groups: under spatial-block CV the candidates
are compared on held-out blocks of the same size, not on random rows whose neighbours sit
in the inner training set. Without the column the inner folds are random.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from geosoil.errors import ConfigError, GeoSoilError
from geosoil.evaluate.splits import Folds, grouped_kfold, random_kfold
from geosoil.models.covariate.stack import CovariateStack, blend_weights, out_of_fold
from geosoil.models.registry import get_estimator_class

__all__ = ["DEFAULT_CANDIDATES", "GROUP_COLUMN", "AutoCovariate", "AutoSelectionError"]

log = logging.getLogger(__name__)

DEFAULT_CANDIDATES: tuple[str, ...] = ("random_forest", "gbm", "linear", "covariate_mlp")
"""Learners tried by default. The forest is chosen as ``random_forest`` and delivered as
``quantile_forest``: the same trees (same seed and settings), plus intervals.
``ordinary_kriging`` (the target from the coordinates alone) is opt-in: added to the
defaults it made ``auto`` worse on Meuse lead, measured when the inner folds were random
(which favour an interpolator); not re-measured since they follow the outer scheme."""

_DELIVERED_AS = {"random_forest": "quantile_forest"}

COORDINATE_COLUMNS: tuple[str, str] = ("sample_x", "sample_y")
"""Columns holding the sample coordinates in the tables ``auto`` sees when a candidate
interpolates in space (``ordinary_kriging``); the other candidates never see them."""

GROUP_COLUMN = "sample_group"
"""Column holding each sample's fold group (integer codes) in the tables ``auto`` sees when
the outer folds keep groups whole; the inner folds then keep them whole too. No candidate
ever sees it."""

SPATIAL_CANDIDATES = frozenset({"ordinary_kriging"})


class _WithoutCoordinates:
    """A covariate learner fed the table without the coordinate columns."""

    def __init__(self, estimator) -> None:
        self.estimator = estimator

    def fit(self, X, y):
        self.estimator.fit(without_coordinates(X), y)
        return self

    def predict(self, X):
        return self.estimator.predict(without_coordinates(X))


def without_coordinates(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` less :data:`COORDINATE_COLUMNS` and :data:`GROUP_COLUMN` (where present)."""
    return X.drop(columns=[*COORDINATE_COLUMNS, GROUP_COLUMN], errors="ignore")


class AutoSelectionError(GeoSoilError):
    """Every candidate learner failed."""


class AutoCovariate:
    """Nested model selection among covariate learners (scikit-learn style estimator).

    Parameters
    ----------
    candidates
        Registry names of the learners to try.
    params
        Settings shared by every candidate that takes them (``categorical_features``,
        ``target_transform``, ``seed``).
    candidate_params
        Per-candidate settings, ``{name: {param: value}}``.
    inner_splits
        Inner folds used to score the candidates: whole groups of :data:`GROUP_COLUMN` when
        the table has it, else random rows (both shuffled by ``seed``).
    stack
        Also consider a non-negative blend of the candidates (:class:`CovariateStack`),
        weighted on the same inner out-of-fold predictions; delivered when its inner RMSE is
        the lowest.
    seed
        Seeds the inner folds; candidates get it too.
    """

    def __init__(
        self,
        *,
        candidates: Sequence[str] = DEFAULT_CANDIDATES,
        params: dict[str, Any] | None = None,
        candidate_params: dict[str, dict[str, Any]] | None = None,
        inner_splits: int = 3,
        stack: bool = True,
        seed: int = 0,
    ) -> None:
        self.candidates = list(candidates)
        self.params = dict(params or {})
        self.candidate_params = dict(candidate_params or {})
        self.inner_splits = inner_splits
        self.stack = stack
        self.seed = seed
        unknown = sorted(set(self.candidate_params) - set(self.candidates))
        if unknown:
            raise ConfigError(
                f"settings for {unknown}, which are not candidates",
                field="model.params.candidate_params",
                fix=f"candidates are {self.candidates}",
            )
        for name in self.candidates:
            self.make(name)  # unknown names and settings fail before any data is read

    def make(self, name: str, *, delivered: bool = False):
        """An unfitted candidate with its settings (the delivered class with ``delivered``).

        A covariate learner is wrapped to ignore the coordinate columns, unless
        ``delivered`` (it is then fitted on the covariates alone); a spatial candidate reads
        only them.
        """
        cls = get_estimator_class(
            _DELIVERED_AS.get(name, name) if delivered else name, field="model.params.candidates"
        )
        allowed = set(cls.param_names())
        shared = {k: v for k, v in {**self.params, "seed": self.seed}.items() if k in allowed}
        if name in SPATIAL_CANDIDATES:
            shared["coordinate_columns"] = COORDINATE_COLUMNS
        estimator = cls.from_params(
            {**shared, **self.candidate_params.get(name, {})},
            source=f"model.params.candidate_params.{name}",
        )
        if delivered or name in SPATIAL_CANDIDATES:
            return estimator
        return _WithoutCoordinates(estimator)

    uses_fold_groups = True
    """Reads :data:`GROUP_COLUMN`, when present, to keep groups whole in its inner folds."""

    def inner_folds(self, X: pd.DataFrame) -> Folds:
        """The folds the candidates are scored on: grouped by :data:`GROUP_COLUMN` when
        ``X`` has it (at most ``inner_splits``, at least two groups), else random."""
        n = len(X)
        groups = X[GROUP_COLUMN].to_numpy() if GROUP_COLUMN in getattr(X, "columns", ()) else None
        n_groups = 0 if groups is None else len(np.unique(groups))
        if n_groups >= 2:
            return grouped_kfold(groups, n_splits=min(self.inner_splits, n_groups), seed=self.seed)
        if groups is not None:
            log.warning("auto: the training rows hold a single fold group; random inner folds")
        return random_kfold(n, n_splits=min(self.inner_splits, n), seed=self.seed)

    @property
    def uses_coordinates(self) -> bool:
        """Whether a candidate needs the :data:`COORDINATE_COLUMNS` in the tables."""
        return any(name in SPATIAL_CANDIDATES for name in self.candidates)

    @property
    def supports_dist(self) -> bool:
        return bool(getattr(getattr(self, "best_estimator_", None), "supports_dist", False))

    def fit(self, X: pd.DataFrame, y) -> AutoCovariate:
        """Score every candidate (and their stack) on inner folds, refit the best on all rows.

        Returns self.

        Raises
        ------
        AutoSelectionError
            Every candidate failed (each failure is named in the message).
        """
        from geosoil.evaluate.metrics import regression_metrics

        y = np.asarray(y, dtype=np.float64)
        folds = self.inner_folds(X)
        self.inner_grouped_ = GROUP_COLUMN in getattr(X, "columns", ())
        scores, failures, oof = {}, {}, {}
        for name in self.candidates:
            try:
                predicted = out_of_fold(lambda name=name: self.make(name), X, y, folds)
            except (GeoSoilError, ValueError, RuntimeError, FloatingPointError) as err:
                failures[name] = f"{type(err).__name__}: {err}"
                log.warning("auto: candidate %s failed (%s)", name, err)
                continue
            if not np.isfinite(predicted).all():
                failures[name] = "non-finite predictions"
                continue
            oof[name] = predicted
            scores[name] = regression_metrics(y, predicted)
        if not scores:
            raise AutoSelectionError(
                "every candidate learner failed: "
                + "; ".join(f"{k}: {v}" for k, v in failures.items()),
                field="model.params.candidates",
                fix="check the covariates and target, or name candidates that suit the data",
            )
        best = min(scores, key=lambda name: scores[name]["rmse"])
        weights = None
        names = [n for n in oof if n not in SPATIAL_CANDIDATES]  # a stack reads covariates
        if self.stack and len(names) >= 2:
            weights = blend_weights(np.column_stack([oof[n] for n in names]), y)
            blend = np.column_stack([oof[n] for n in names]) @ weights
            scores["stack"] = regression_metrics(y, blend)
            if scores["stack"]["rmse"] < scores[best]["rmse"]:
                best = "stack"
        log.info(
            "auto: inner %d-fold (%s) RMSE %s; chose %s",
            len(folds),
            "grouped" if self.inner_grouped_ else "random",
            ", ".join(f"{k} {v['rmse']:.4g}" for k, v in scores.items()),
            best,
        )
        self.inner_scores_ = scores
        self.failures_ = failures
        self.best_name_ = best
        if best == "stack":
            stack = CovariateStack(
                members=names,
                member_params={
                    n: self.candidate_params[n] for n in names if n in self.candidate_params
                },
                inner_splits=self.inner_splits,
                **{k: v for k, v in self.params.items() if k in CovariateStack.param_names()},
                seed=self.seed,
            )
            self.weights_ = dict(zip(names, weights.tolist(), strict=True))
            self.best_estimator_ = stack.fit_with_weights(without_coordinates(X), y, weights)
        elif best in SPATIAL_CANDIDATES:
            self.best_estimator_ = self.make(best, delivered=True).fit(X, y)
        else:
            self.best_estimator_ = self.make(best, delivered=True).fit(without_coordinates(X), y)
        return self

    def predict(self, X) -> np.ndarray:
        return self.best_estimator_.predict(self._inputs(X))

    def predict_dist(self, X, *, levels: Sequence[float] = (0.05, 0.95)):
        return self.best_estimator_.predict_dist(self._inputs(X), levels=levels)

    def _inputs(self, X):
        return X if self.best_name_ in SPATIAL_CANDIDATES else without_coordinates(X)
