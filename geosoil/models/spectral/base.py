"""The base of every spectral estimator: input checks, validation split, preprocessing, target.

A spectral model learns on spectra with their axis. :class:`SpectralEstimator` does what
every such model shares, so that a subclass only says how it learns from preprocessed,
standardized data and how it predicts from it:

1. checks the spectra (2-D, finite, one column per band of the axis) and the target
   (finite, one per spectrum, positive under ``log10``);
2. chooses hyperparameters (PLS components, SVR ``C``/``gamma``, ...) by inner k-fold
   cross-validation on the training spectra (``selection: cv``, grouped when groups are
   given) and refits the chosen setting on all of them; or, with ``selection: holdout``,
   on a seeded validation share (or the given validation set), without refit;
3. fits the :class:`~geosoil.spectra.SpectralPipeline` on the training spectra only;
4. transforms the target (``none`` or ``log10``) and standardizes it with the training
   mean and standard deviation (or, for a model that returns False from
   :meth:`SpectralEstimator._centres_target`, divides it by its root mean square).

Predictions are back-transformed to the target's units; spectra on another axis than the
fitted one are refused with the fix (resample explicitly).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from geosoil.errors import ConfigError, SampleDataError
from geosoil.models.base import GeoSoilEstimator
from geosoil.models.spectral.selection import (
    best_candidate,
    check_selection,
    inner_folds,
    join_validation,
    out_of_fold,
    pooled_r2,
)
from geosoil.models.targets import TargetTransform
from geosoil.specs import InputSpec
from geosoil.spectra import SpectraError, SpectralAxis, SpectralPipeline

__all__ = ["PreparedData", "SpectralEstimator"]

log = logging.getLogger(__name__)

# The CO2 absorption doublet of the air in the beam path (2389-2269 cm-1, Albinet et al.
# 2022): instrument noise, not soil; the seed system drops it.
CO2_REGION_CM1 = (2269.0, 2389.0)

# Names of the pipeline's tensors in an artifact (SpectralPipeline.export_state).
_PIPELINE_PREFIX = "preprocessing."


@dataclass
class PreparedData:
    """Training (and validation) data after checks, preprocessing and target scaling.

    ``Z_*`` are preprocessed spectra (float32, one column per output band); ``t_*`` are
    targets transformed and standardized (float64). ``Z_valid``/``t_valid`` are None when
    the estimator fits without a validation set.
    """

    axis: SpectralAxis
    pipeline: SpectralPipeline
    Z_train: np.ndarray
    t_train: np.ndarray
    Z_valid: np.ndarray | None
    t_valid: np.ndarray | None
    target_mean: float
    target_scale: float


class SpectralEstimator(GeoSoilEstimator):
    """Shared machinery of estimators on spectra (``SpectralCNN``, ``PLSR``, ...).

    Subclasses declare :attr:`default_preprocessing` (steps per axis unit, used when the
    ``preprocessing`` hyperparameter is None) and implement :meth:`_fit_prepared` and
    :meth:`_predict_standardized`; they store the hyperparameters ``preprocessing``,
    ``target_transform``, ``valid_fraction`` and ``seed``.

    Learned state common to all: ``axis_`` (the input axis seen in fit),
    ``preprocessing_`` (the fitted pipeline), ``target_mean_`` and ``target_scale_`` (of the
    transformed training target), ``n_train_`` and ``n_valid_``.
    """

    default_preprocessing: ClassVar[Mapping[str, tuple[Mapping[str, Any], ...]]]

    preprocessing: Sequence[Mapping[str, Any]] | None
    target_transform: str
    valid_fraction: float
    seed: int
    # How settings are chosen: "cv" (inner k-fold, then refit on all) or "holdout".
    selection: str = "cv"
    inner_folds: int = 5

    # The setting chosen by inner cross-validation (overrides the hyperparameters of the
    # same name in the final fit); {} when nothing was chosen that way.
    _selected: dict[str, Any] = {}  # noqa: RUF012 (replaced, never mutated)

    # -- hooks ---------------------------------------------------------------------------
    def _check_params(self) -> None:
        """Refuse bad hyperparameters before any data is touched (ConfigError)."""

    def _needs_validation(self) -> bool:
        """Whether fitting uses a validation set (early stopping, model selection)."""
        return True

    def _centres_target(self) -> bool:
        """Whether the transformed target is centred before scaling (the default).

        An estimator whose output cannot be negative (a ReLU output) returns False: its
        target is then only divided by its root mean square, which keeps the sign.
        """
        return True

    def _fit_prepared(self, data: PreparedData) -> None:
        """Learn the model from prepared data; set its learned attributes."""
        raise NotImplementedError

    def _predict_standardized(self, Z: np.ndarray) -> np.ndarray:
        """Standardized predictions, float64 of shape (N,), from preprocessed spectra."""
        raise NotImplementedError

    def _candidates(self) -> list[dict[str, Any]]:
        """The settings inner cross-validation chooses among; one (``{}``): nothing to
        choose, the hyperparameters are used as given."""
        return [{}]

    def _candidate_predictions(self, data: PreparedData) -> np.ndarray:
        """Standardized predictions (n_valid, n_candidates) of ``data.Z_valid``, one column
        per candidate, each from a model fitted on ``data``'s training part only.

        This default fits a fresh copy per candidate; a model that gets all candidates
        from one fit (PLS: every component count at once) overrides it.
        """
        train_only = dataclasses.replace(data, Z_valid=None, t_valid=None)
        columns = []
        for setting in self._candidates():
            model = type(self)(**self.get_params())
            model._selected = dict(setting)
            model._fit_prepared(train_only)
            columns.append(model._predict_standardized(data.Z_valid))
        return np.column_stack(columns)

    def _setting(self, name: str) -> Any:
        """The value of hyperparameter ``name`` for the final fit: chosen, or as given."""
        return self._selected.get(name, getattr(self, name))

    # -- fitting -------------------------------------------------------------------------
    def table_paths(self) -> list[str]:
        """Paths of the spectra tables the preprocessing is fitted from (EPO's ``pairs``)."""
        return SpectralPipeline(self.preprocessing or ()).table_paths()

    def attach_tables(self, tables: Mapping[str, Any]) -> SpectralEstimator:
        """Hand over the tables of :meth:`table_paths` (path -> table); returns self.

        The workflow reads them (:func:`geosoil.io.spectra.read_spectra`): a model reads no
        file. They are not hyperparameters; ``fit`` hands them to its pipeline."""
        self._step_tables = dict(tables)
        return self

    def fit(
        self,
        X: np.ndarray | SampleSetLike,
        y: Sequence[float] | np.ndarray | str,
        *,
        axis: SpectralAxis | None = None,
        X_valid: np.ndarray | None = None,
        y_valid: Sequence[float] | np.ndarray | None = None,
        groups: np.ndarray | None = None,
        groups_valid: np.ndarray | None = None,
    ) -> SpectralEstimator:
        """Learn from spectra ``X`` (n, bands) on ``axis`` and targets ``y`` (n,); returns self.

        Parameters
        ----------
        X
            Spectra, one row per sample and one column per band of ``axis``; or a
            :class:`~geosoil.io.spectra.SampleSet`, which brings its axis.
        y
            Target values in their units (e.g. Kex in cmol(+)/kg); with a SampleSet, also
            the name of a column of its frame.
        axis
            Band positions of the columns of ``X``; predictions later need the same axis.
        X_valid, y_valid
            A validation set on the same axis. With ``selection: cv`` (the default) it joins
            the training spectra: settings are chosen by inner cross-validation over both
            and the model is refitted on both. With ``selection: holdout`` settings are
            chosen on it (when omitted, ``valid_fraction`` of ``X`` is held out, seeded by
            ``seed``) and the model is not refitted.
        groups, groups_valid
            Group labels (sites) of ``X`` and ``X_valid``: inner folds then hold out whole
            groups, as the outer split does.

        Raises
        ------
        SpectraError
            Spectra not 2-D, not finite, or not one column per band of ``axis``.
        SampleDataError
            Targets not finite, of another length, non-positive under ``log10``, or too
            few samples for the validation split.
        ConfigError
            Invalid hyperparameters.
        """
        X, y, axis = unpack_samples(X, y, axis)
        self._check_params()
        check_selection(self.selection, self.inner_folds)
        self._selected, self.cv_scores_ = {}, []
        candidates = self._candidates()
        if self.selection == "cv" and len(candidates) > 1:
            axis = check_axis(axis)
            X = _check_spectra(X, axis, field="X")
            if X_valid is not None:
                X_valid = _check_spectra(X_valid, axis, field="X_valid")
            X, y, groups = join_validation(X, y, X_valid, y_valid, groups, groups_valid)
            folds = inner_folds(len(y), self.inner_folds, groups=groups, seed=self.seed)
            transform = TargetTransform(_check_choice(self.target_transform))
            transformed = transform.forward(_check_target(y, len(X), transform, field="y"))
            scores = pooled_r2(self.out_of_fold(X, y, axis=axis, folds=folds), transformed)
            chosen = best_candidate(scores)
            self._selected = dict(candidates[chosen])
            self.cv_scores_ = [
                {**setting, "cv_r2": float(score) if np.isfinite(score) else None}
                for setting, score in zip(candidates, scores, strict=False)
            ]
            log.info(
                "%s: %s chosen by %d-fold inner CV (pooled R2 %.3f), refitted on all %d spectra",
                type(self).__name__,
                self._selected,
                len(folds),
                scores[chosen],
                len(y),
            )
            data = self._prepare(X, y, axis=axis, hold_out=False)
        else:
            data = self._prepare(X, y, axis=axis, X_valid=X_valid, y_valid=y_valid)
        self._fit_prepared(data)
        self._set_prepared_state(data)
        return self

    def out_of_fold(
        self,
        X: np.ndarray,
        y: Sequence[float] | np.ndarray,
        *,
        axis: SpectralAxis,
        folds: Sequence[tuple[np.ndarray, np.ndarray]],
    ) -> np.ndarray:
        """Out-of-fold predictions on the transformed target scale, (n, n_candidates).

        Row ``i`` of column ``j`` predicts spectrum ``i`` with candidate ``j`` fitted
        (preprocessing included) on the folds without ``i``. Sets nothing on self.
        """

        def predict_fold(train: np.ndarray, valid: np.ndarray) -> np.ndarray:
            data = self._prepare(
                X[train],
                np.asarray(y)[train],
                axis=axis,
                X_valid=X[valid],
                y_valid=np.asarray(y)[valid],
            )
            return self._candidate_predictions(data) * data.target_scale + data.target_mean

        X = np.asarray(X)
        return out_of_fold(predict_fold, len(X), list(folds))

    def _set_prepared_state(self, data: PreparedData) -> None:
        """Set the learned attributes shared by all spectral estimators."""
        self.axis_ = data.axis
        self.preprocessing_ = data.pipeline
        self.target_mean_ = data.target_mean
        self.target_scale_ = data.target_scale
        self.n_train_ = len(data.t_train)
        self.n_valid_ = 0 if data.t_valid is None else len(data.t_valid)

    def _prepare(
        self,
        X: np.ndarray,
        y: Sequence[float] | np.ndarray,
        *,
        axis: SpectralAxis,
        X_valid: np.ndarray | None = None,
        y_valid: Sequence[float] | np.ndarray | None = None,
        pipeline: SpectralPipeline | None = None,
        hold_out: bool = True,
    ) -> PreparedData:
        """Checks, split, preprocessing and target scaling; sets no attribute on self.

        Without ``X_valid`` a validation share is held out when the model needs one and
        ``hold_out`` is True (False: the final refit on all spectra). A fitted
        ``pipeline`` (a transfer-learning parent's) is applied as it is, not refit,
        so that the inputs look like those the parent's network learned from.
        """
        self._check_params()
        transform = TargetTransform(_check_choice(self.target_transform))
        axis = check_axis(axis)
        X = _check_spectra(X, axis, field="X")
        y = _check_target(y, len(X), transform, field="y")
        if (X_valid is None) != (y_valid is None):
            raise SampleDataError(
                "X_valid and y_valid must be given together",
                field="X_valid" if X_valid is None else "y_valid",
                fix="pass both (a validation set) or neither (valid_fraction is held out)",
            )
        if X_valid is not None:
            X_train, y_train = X, y
            X_valid = _check_spectra(X_valid, axis, field="X_valid")
            y_valid = _check_target(y_valid, len(X_valid), transform, field="y_valid")
            _check_min_rows(len(X_valid), 2, field="X_valid")
        elif hold_out and self._needs_validation():
            train_idx, valid_idx = self._split(len(X))
            X_train, y_train = X[train_idx], y[train_idx]
            X_valid, y_valid = X[valid_idx], y[valid_idx]
        else:
            X_train, y_train = X, y
        _check_min_rows(len(X_train), 2, field="X")

        if pipeline is None:
            pipeline = SpectralPipeline(
                self._preprocessing_steps(axis), tables=getattr(self, "_step_tables", None)
            )
            Z_train = pipeline.fit_transform(X_train, axis)
        else:
            Z_train = pipeline.transform(X_train, axis)
        Z_valid = None if X_valid is None else pipeline.transform(X_valid, axis)
        z_train = transform.forward(y_train)
        if self._centres_target():
            mean = float(np.mean(z_train))
            scale = float(np.std(z_train)) or 1.0  # a constant target: nothing to scale
        else:
            mean = 0.0
            scale = float(np.sqrt(np.mean(np.square(z_train)))) or 1.0  # an all-zero target
        log.info(
            "%s: %d training and %d validation spectra, %d -> %d bands after preprocessing",
            type(self).__name__,
            len(X_train),
            0 if X_valid is None else len(X_valid),
            len(axis),
            Z_train.shape[1],
        )
        return PreparedData(
            axis=axis,
            pipeline=pipeline,
            Z_train=Z_train,
            t_train=(z_train - mean) / scale,
            Z_valid=Z_valid,
            t_valid=None if y_valid is None else (transform.forward(y_valid) - mean) / scale,
            target_mean=mean,
            target_scale=scale,
        )

    def _preprocessing_steps(self, axis: SpectralAxis) -> list[dict[str, Any]]:
        """The configured steps, or the class default for the axis unit."""
        if self.preprocessing is not None:
            return [dict(step) for step in self.preprocessing]
        return [dict(step) for step in self.default_preprocessing[axis.unit]]

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Seeded random train/validation indices holding out ``valid_fraction``."""
        fraction = self.valid_fraction
        if not 0.0 < fraction < 1.0:
            raise ConfigError(
                f"valid_fraction={fraction!r} must be strictly between 0 and 1",
                field="params.valid_fraction",
                fix="use e.g. 0.1, or pass X_valid and y_valid",
            )
        n_valid = round(fraction * n)
        if n_valid < 2 or n - n_valid < 2:
            raise SampleDataError(
                f"{n} samples are too few to hold out valid_fraction={fraction} for validation "
                f"({n_valid} validation, {n - n_valid} training)",
                field="params.valid_fraction",
                fix="provide more samples, change valid_fraction, or pass X_valid and y_valid",
            )
        order = np.random.default_rng(self.seed).permutation(n)
        return np.sort(order[n_valid:]), np.sort(order[:n_valid])

    # -- prediction ----------------------------------------------------------------------
    def transform_inputs(self, X: np.ndarray, *, axis: SpectralAxis | None = None) -> np.ndarray:
        """Preprocessed spectra, float32 of shape (N, bands after preprocessing).

        Parameters
        ----------
        X
            Spectra on the fitted axis, one row per sample.
        axis
            The axis of ``X``; when given it must match the fitted one. Without it the
            columns of ``X`` are taken to be the fitted axis (their count is checked).

        Raises
        ------
        SpectraError
            Another axis than the fitted one (with the fix: resample explicitly), another
            number of columns, or non-finite values.
        NotFittedError
            The estimator is not fitted.
        """
        self._check_fitted()
        X, _, axis = unpack_samples(X, None, axis)
        if axis is not None:
            self.axis_.check_matches(check_axis(axis), field="axis")
        X = _check_spectra(X, self.axis_, field="X")
        return self.preprocessing_.transform(X, self.axis_)

    def predict(
        self, X: np.ndarray | SampleSetLike, *, axis: SpectralAxis | None = None
    ) -> np.ndarray:
        """Predictions in the target's units, float32 of shape (N,).

        Every value depends only on its own row, never on how rows are batched.
        """
        standardized = self._predict_standardized(self.transform_inputs(X, axis=axis))
        return self._to_target_units(standardized)

    def _to_transformed(self, standardized: np.ndarray) -> np.ndarray:
        """Undo the standardization: values on the transformed (e.g. log10) scale."""
        return standardized * self.target_scale_ + self.target_mean_

    def _to_target_units(self, standardized: np.ndarray) -> np.ndarray:
        transform = TargetTransform(self.target_transform)
        return transform.inverse(self._to_transformed(standardized)).astype(np.float32)

    def input_spec(self) -> InputSpec:
        """The artifact's input spec: kind ``spectra`` with the fitted axis and its unit."""
        self._check_fitted()
        return InputSpec(kind="spectra", axis=self.axis_.to_list(), axis_unit=self.axis_.unit)

    # -- artifact helpers ----------------------------------------------------------------
    def _export_common(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors ``preprocessing.*`` (the pipeline's, input axis included) and the JSON
        state shared by all spectral models."""
        tensors, pipe_state = self.preprocessing_.export_state()
        state = {
            "preprocessing_steps": self.preprocessing_.to_spec(),
            "preprocessing_state": pipe_state,
            "target_mean": self.target_mean_,
            "target_scale": self.target_scale_,
            "n_train": self.n_train_,
            "n_valid": self.n_valid_,
            "selected": dict(self._selected),
            "cv_scores": list(getattr(self, "cv_scores_", [])),
        }
        return dict(tensors), state

    def _restore_common(
        self, tensors: Mapping[str, torch.Tensor], state: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        """Set the shared learned attributes from an artifact; return the other tensors."""
        self.preprocessing_ = SpectralPipeline.from_state(
            state["preprocessing_steps"], tensors, state["preprocessing_state"]
        )
        self.axis_ = self.preprocessing_.axis_in_
        self.target_mean_ = float(state["target_mean"])
        self.target_scale_ = float(state["target_scale"])
        self.n_train_ = int(state["n_train"])
        self.n_valid_ = int(state["n_valid"])
        self._selected = dict(state.get("selected", {}))
        self.cv_scores_ = list(state.get("cv_scores", []))
        return {k: v for k, v in tensors.items() if not k.startswith(_PIPELINE_PREFIX)}


# -- input checks ----------------------------------------------------------------------------
def _check_choice(target_transform: str) -> str:
    if target_transform not in ("none", "log10"):
        raise ConfigError(
            f"target_transform={target_transform!r} is not 'none' or 'log10'",
            field="params.target_transform",
            fix="use 'log10' for skewed properties such as Kex, otherwise 'none'",
        )
    return target_transform


def check_axis(axis: Any) -> SpectralAxis:
    if not isinstance(axis, SpectralAxis):
        raise SpectraError(
            f"axis must be a SpectralAxis, got {type(axis).__name__}",
            field="axis",
            fix="pass SpectralAxis.from_values(band_positions, 'cm-1' or 'nm'), or the "
            "axis of a SampleSet (samples.axis)",
        )
    return axis


def _check_spectra(X: Any, axis: SpectralAxis, *, field: str) -> np.ndarray:
    """A 2-D float array, finite, one column per band of ``axis`` (no copy when possible)."""
    try:
        array = np.asarray(X)
        if array.dtype.kind not in "fiu":
            array = array.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise SpectraError(
            f"{field} is not numeric ({err})", field=field, fix="pass spectra as a float array"
        ) from err
    if array.ndim != 2:
        raise SpectraError(
            f"{field} must be 2-D (samples x bands), got shape {array.shape}",
            field=field,
            fix="pass one spectrum per row; a single spectrum as X[None, :]",
        )
    if array.shape[1] != len(axis):
        raise SpectraError(
            f"{field} has {array.shape[1]} columns but the axis has {len(axis)} bands "
            f"({axis.describe()})",
            field=field,
            fix="pass the axis of these spectra, one position per column",
        )
    if array.dtype.kind == "f":
        bad_rows = np.flatnonzero(~np.isfinite(array).all(axis=1))
        if bad_rows.size:
            raise SpectraError(
                f"{field} has {bad_rows.size} spectra with NaN or infinite values "
                f"(first: row {bad_rows[0]})",
                field=field,
                fix="drop or repair those spectra before fitting or predicting",
            )
    return array


def _check_target(y: Any, n_rows: int, transform: TargetTransform, *, field: str) -> np.ndarray:
    """Float64 targets of shape (n_rows,), finite, positive under ``log10``."""
    try:
        values = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise SampleDataError(
            f"{field} must be numeric ({err})", field=field, fix="pass numeric target values"
        ) from err
    if values.ndim != 1:
        raise SampleDataError(
            f"{field} must be 1-D (one target value per spectrum), got shape {values.shape}",
            field=field,
            fix="pass a vector; spectral models learn one target at a time",
        )
    if len(values) != n_rows:
        raise SampleDataError(
            f"{field} has {len(values)} values but there are {n_rows} spectra",
            field=field,
            fix="pass one target value per spectrum, in the same order",
        )
    bad = np.count_nonzero(~np.isfinite(values))
    if bad:
        raise SampleDataError(
            f"{field} has {bad} NaN or infinite value(s) of {n_rows}",
            field=field,
            fix="drop samples with a missing target (SampleSet.subset)",
        )
    if transform.kind == "log10":
        non_positive = np.count_nonzero(values <= 0)
        if non_positive:
            raise SampleDataError(
                f"{field} has {non_positive} zero or negative value(s) of {n_rows}, but the "
                "log10 target transform needs strictly positive targets",
                field="params.target_transform",
                fix="drop those samples (e.g. values below detection), or use "
                "target_transform: none",
            )
    return values


def _check_min_rows(n: int, minimum: int, *, field: str) -> None:
    if n < minimum:
        raise SampleDataError(
            f"{field} has {n} spectra; at least {minimum} are needed",
            field=field,
            fix="provide more samples",
        )


class SampleSetLike(Protocol):
    """What the estimators take from a :class:`~geosoil.io.spectra.SampleSet`."""

    spectra: np.ndarray
    axis: SpectralAxis
    frame: Any


def unpack_samples(
    X: Any, y: Any, axis: SpectralAxis | None
) -> tuple[np.ndarray, Any, SpectralAxis | None]:
    """Spectra, targets and axis from arrays or from a SampleSet (its axis unless given;
    ``y`` may name a column of its frame)."""
    if not (hasattr(X, "spectra") and hasattr(X, "axis")):
        return X, y, axis
    if isinstance(y, str):
        if y not in X.frame.columns:
            raise SampleDataError(
                f"the samples have no column '{y}'",
                path=getattr(X, "source", None),
                field=y,
                fix=f"use one of {list(X.frame.columns)}",
            )
        y = X.frame[y].to_numpy(dtype=float)
    return X.spectra, y, X.axis if axis is None else axis
