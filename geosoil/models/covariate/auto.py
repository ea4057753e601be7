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

Regression kriging competes too (``krige_residuals``). The learner ``auto`` would deliver
(the best candidate or the stack) gets a variant that adds ordinary kriging of its
residuals, scored from the inner out-of-fold predictions already made, with no extra
learner fit: in every inner fold, a variogram is fitted to the other folds' out-of-fold
residuals (model chosen automatically, as :class:`OrdinaryKriging` does) and kriges them at
this fold's points. That inner score is slightly optimistic, as the stack's is: the other
folds' residuals came from models that were trained on this fold's rows, so this fold's
targets are not wholly unseen by what is kriged at its points. The outer score of ``auto``
stays honest. When the variant's inner RMSE is the lowest, ``auto`` delivers a
:class:`ResidualKriging`: the learner refitted on all rows plus kriging of its inner
out-of-fold residuals of all rows; it reads the sample coordinates and maps with the pixel
coordinates.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from geosoil.errors import ConfigError, GeoSoilError
from geosoil.evaluate.splits import Folds
from geosoil.models.covariate.kriging import OrdinaryKriging, ResidualKriging, kriged_out_of_fold
from geosoil.models.covariate.stack import (
    GROUP_COLUMN,
    CovariateStack,
    blend_weights,
    inner_folds,
    out_of_fold,
    unseen_class_rows,
)
from geosoil.models.registry import get_estimator_class

__all__ = [
    "CANDIDATE_DEFAULTS",
    "DEFAULT_CANDIDATES",
    "GROUP_COLUMN",
    "KRIGED",
    "AutoCovariate",
    "AutoSelectionError",
]

log = logging.getLogger(__name__)

DEFAULT_CANDIDATES: tuple[str, ...] = (
    "random_forest",
    "gbm",
    "linear",
    "covariate_mlp",
    "covariate_svr",
)
"""Learners tried by default: two tree ensembles, a ridge, a network and an RBF support
vector machine, the learners soil mappers compare (their errors differ, which the blend
gains from). The forest is chosen as ``random_forest`` and delivered as
``quantile_forest``: the same trees (same seed and settings), plus intervals.
``ordinary_kriging`` (the target from the coordinates alone) is opt-in: added to the
defaults it made ``auto`` worse on Meuse lead, measured when the inner folds were random
(which favour an interpolator); not re-measured since they follow the outer scheme.
Regression kriging of the delivered learner is not a candidate name: it competes through
``krige_residuals`` (on by default when the samples have coordinates)."""

_DELIVERED_AS = {"random_forest": "quantile_forest"}

CANDIDATE_DEFAULTS: dict[str, dict[str, Any]] = {"random_forest": {"max_features": "oob"}}
"""Settings a candidate gets under ``auto`` unless ``candidate_params`` says otherwise: the
forest picks its share of columns per split by out-of-bag error on the training rows (a
choice made inside every training set, like the rest of ``auto``'s)."""

COORDINATE_COLUMNS: tuple[str, str] = ("sample_x", "sample_y")
"""Columns holding the sample coordinates in the tables ``auto`` sees when a candidate
interpolates in space (``ordinary_kriging``); the other candidates never see them."""

SPATIAL_CANDIDATES = frozenset({"ordinary_kriging"})

KRIGED = "+kriged_residuals"
"""Suffix of the regression-kriging variant's name in the inner scores
(``"stack+kriged_residuals"``: the stack plus ordinary kriging of its residuals)."""


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
        the table has it, else random rows (both shuffled by ``seed``). Five by default, as
        the stack and residual kriging use: with three, each candidate trained on two thirds
        of an outer training set of ~120 samples, and the choice among them was noisy.
    stack
        Also consider a non-negative blend of the candidates (:class:`CovariateStack`),
        weighted on the same inner out-of-fold predictions; delivered when its inner RMSE is
        the lowest.
    krige_residuals
        Also consider regression kriging of the best learner (or stack): ``None`` (default)
        when the table carries the sample coordinates (:data:`COORDINATE_COLUMNS`), ``True``
        always (a table without them is refused), ``False`` never.
    seed
        Seeds the inner folds; candidates get it too.
    """

    def __init__(
        self,
        *,
        candidates: Sequence[str] = DEFAULT_CANDIDATES,
        params: dict[str, Any] | None = None,
        candidate_params: dict[str, dict[str, Any]] | None = None,
        inner_splits: int = 5,
        stack: bool = True,
        krige_residuals: bool | None = None,
        seed: int = 0,
    ) -> None:
        self.candidates = list(candidates)
        self.params = dict(params or {})
        self.candidate_params = dict(candidate_params or {})
        self.inner_splits = inner_splits
        self.stack = stack
        self.krige_residuals = krige_residuals
        self.seed = seed
        if krige_residuals not in (None, True, False):
            raise ConfigError(
                f"krige_residuals is {krige_residuals!r}",
                field="model.params.krige_residuals",
                fix="true, false, or leave it out (kriged when the samples have coordinates)",
            )
        unknown = sorted(set(self.candidate_params) - set(self.candidates))
        if unknown:
            raise ConfigError(
                f"settings for {unknown}, which are not candidates",
                field="model.params.candidate_params",
                fix=f"candidates are {self.candidates}",
            )
        for name in self.candidates:
            self.make(name)  # unknown names and settings fail before any data is read

    def settings(self, name: str, *, delivered: bool = False) -> dict[str, Any]:
        """The hyperparameters candidate ``name`` is built with (as delivered with
        ``delivered``): the shared settings it takes, then its own."""
        cls = get_estimator_class(
            _DELIVERED_AS.get(name, name) if delivered else name, field="model.params.candidates"
        )
        allowed = set(cls.param_names())
        shared = {k: v for k, v in {**self.params, "seed": self.seed}.items() if k in allowed}
        if name in SPATIAL_CANDIDATES:
            shared["coordinate_columns"] = COORDINATE_COLUMNS
        return {**shared, **self.own_settings(name)}

    def own_settings(self, name: str) -> dict[str, Any]:
        """Candidate ``name``'s own settings: :data:`CANDIDATE_DEFAULTS`, then
        ``candidate_params`` (a stack of the candidates gets the same)."""
        return {**CANDIDATE_DEFAULTS.get(name, {}), **self.candidate_params.get(name, {})}

    def make(self, name: str, *, delivered: bool = False):
        """An unfitted candidate with its settings (the delivered class with ``delivered``).

        A covariate learner is wrapped to ignore the coordinate columns, unless
        ``delivered`` (it is then fitted on the covariates alone); a spatial candidate reads
        only them.
        """
        cls = get_estimator_class(
            _DELIVERED_AS.get(name, name) if delivered else name, field="model.params.candidates"
        )
        estimator = cls.from_params(
            self.settings(name, delivered=delivered),
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
        return inner_folds(X, self.inner_splits, self.seed)

    @property
    def uses_coordinates(self) -> bool:
        """Whether a candidate (or the kriged variant) needs the :data:`COORDINATE_COLUMNS`
        in the tables."""
        spatial = any(name in SPATIAL_CANDIDATES for name in self.candidates)
        return spatial or self.krige_residuals is not False

    def _kriges(self, X: pd.DataFrame) -> bool:
        """Whether the kriged variant competes on ``X`` (refuses a table without
        coordinates when it was asked for)."""
        has = all(c in getattr(X, "columns", ()) for c in COORDINATE_COLUMNS)
        if self.krige_residuals and not has:
            raise ConfigError(
                "kriged residuals were asked for, but the samples have no coordinates "
                f"(columns {list(COORDINATE_COLUMNS)})",
                field="model.params.krige_residuals",
                fix=f"give the table the sample coordinates as {list(COORDINATE_COLUMNS)} "
                "(geosoil train adds them from the samples), or set krige_residuals: false",
            )
        return has and self.krige_residuals is not False

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
        # Rows whose class their inner training fold lacks: the tabular learners abstain
        # there, so every learner is scored without them (the same rows for all).
        unseen = unseen_class_rows(X, self.params.get("categorical_features", ()), folds)
        if unseen.any():
            log.info(
                "auto: %d row(s) hold a class their inner training fold lacks; the candidates "
                "are scored on the other %d",
                unseen.sum(),
                (~unseen).sum(),
            )
        self.inner_rows_scored_ = int((~unseen).sum())

        def inner_score(predicted: np.ndarray) -> dict[str, float]:
            return regression_metrics(y[~unseen], predicted[~unseen])

        scores, failures, oof = {}, {}, {}
        for name in self.candidates:
            try:
                predicted = out_of_fold(lambda name=name: self.make(name), X, y, folds)
            except (GeoSoilError, ValueError, RuntimeError, FloatingPointError) as err:
                failures[name] = f"{type(err).__name__}: {err}"
                log.warning("auto: candidate %s failed (%s)", name, err)
                continue
            if not np.isfinite(predicted[~unseen]).all():
                failures[name] = "non-finite predictions"
                continue
            oof[name] = predicted
            scores[name] = inner_score(predicted)
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
            scores["stack"] = inner_score(blend)
            if scores["stack"]["rmse"] < scores[best]["rmse"]:
                best = "stack"
            oof["stack"] = blend
        trend = best
        if self._kriges(X) and trend not in SPATIAL_CANDIDATES:
            try:
                kriged = kriged_out_of_fold(
                    X, y, oof[trend], folds, transform=self._transform, kriging=self._kriging()
                )
            except (GeoSoilError, ValueError, RuntimeError, FloatingPointError) as err:
                if self.krige_residuals:
                    raise
                failures[trend + KRIGED] = f"{type(err).__name__}: {err}"
                log.warning("auto: kriging the residuals of %s failed (%s)", trend, err)
            else:
                scores[trend + KRIGED] = inner_score(kriged)
                if scores[trend + KRIGED]["rmse"] < scores[best]["rmse"]:
                    best = trend + KRIGED
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
        if best == "stack" or trend == "stack":
            stack = CovariateStack(
                members=names,
                member_params={n: own for n in names if (own := self.own_settings(n))},
                inner_splits=self.inner_splits,
                **{k: v for k, v in self.params.items() if k in CovariateStack.param_names()},
                seed=self.seed,
            )
            self.weights_ = dict(zip(names, weights.tolist(), strict=True))
            learner = stack.fit_with_weights(without_coordinates(X), y, weights)
        elif trend in SPATIAL_CANDIDATES:
            learner = self.make(trend, delivered=True).fit(X, y)
        else:
            learner = self.make(trend, delivered=True).fit(without_coordinates(X), y)
        self.best_estimator_ = learner
        if best == trend + KRIGED:
            self.best_estimator_ = self._residual_kriging(trend, learner).fit_residuals(
                X[[c for c in X.columns if c != GROUP_COLUMN]], y, oof[trend], learner
            )
        return self

    @property
    def _transform(self) -> str:
        return str(self.params.get("target_transform", "none"))

    def _kriging(self) -> OrdinaryKriging:
        """The (unfitted) kriging of residuals: the settings of :class:`ResidualKriging`."""
        return ResidualKriging(coordinate_columns=COORDINATE_COLUMNS)._make_kriging()

    def _residual_kriging(self, name: str, learner) -> ResidualKriging:
        """An unfitted :class:`ResidualKriging` whose base is built as ``learner`` (the
        candidate ``name`` or the stack, as delivered) was."""
        params = learner.get_params() if name == "stack" else self.settings(name, delivered=True)
        own = {"categorical_features", "target_transform", "seed"}  # ResidualKriging's own
        own -= set(self.candidate_params.get(name, {}))  # a candidate's own setting stays
        return ResidualKriging(
            base=learner.registry_name,
            base_params={k: v for k, v in params.items() if k not in own},
            coordinate_columns=COORDINATE_COLUMNS,
            inner_splits=self.inner_splits,
            categorical_features=list(self.params.get("categorical_features", ())),
            target_transform=self._transform,
            seed=self.seed,
        )

    def predict(self, X) -> np.ndarray:
        return self.best_estimator_.predict(self._inputs(X))

    def predict_dist(self, X, *, levels: Sequence[float] = (0.05, 0.95)):
        return self.best_estimator_.predict_dist(self._inputs(X), levels=levels)

    def _inputs(self, X):
        if self.best_name_.endswith(KRIGED):
            return X.drop(columns=[GROUP_COLUMN], errors="ignore")
        return X if self.best_name_ in SPATIAL_CANDIDATES else without_coordinates(X)
