"""Fit a trust layer from a model's cross-validation: its out-of-fold residuals, spread and
folds, and the training covariates.

The same folds serve the AOA threshold (cross-validated DI), the conformal calibration and
the back-transform factor, so a spatially blocked or grouped validation carries through to
all three.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from geosoil.errors import CalibrationError
from geosoil.trust.applicability import fit_applicability
from geosoil.trust.backtransform import fit_back_transform
from geosoil.trust.conformal import (
    calibrate,
    choose_normaliser,
    cross_conformal_coverage,
    interval_scores,
)
from geosoil.trust.estimators import feature_importance, model_scale
from geosoil.trust.layer import TrustLayer

__all__ = ["OutOfFold", "fit_covariate_trust", "importance_weights", "interval_report"]

log = logging.getLogger(__name__)

_Z90 = 1.6448536269514722


@dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold predictions of one CV scheme, in row order of the training table.

    ``predicted`` is in the target's units (the back-transformed median for log models),
    ``spread`` on the model's scale (None for models without one), ``fold`` the fold ids.
    """

    scheme: str
    observed: np.ndarray
    predicted: np.ndarray
    fold: np.ndarray
    spread: np.ndarray | None = None


def importance_weights(estimator, X: np.ndarray, y: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Variable importance of a fitted model, the AOA's covariate weights."""
    return feature_importance(estimator, np.asarray(X, dtype=np.float64), y, seed=seed)


def fit_covariate_trust(
    X: np.ndarray,
    oof: OutOfFold,
    *,
    feature_names: Sequence[str],
    weights: np.ndarray | None = None,
    categorical: Sequence[str] = (),
    transform: str = "none",
    estimate: str = "median",
    mean_method: str = "smearing",
    aoa: bool = True,
    intervals: bool = True,
    level: float = 0.9,
    min_weight_share: float = 0.25,
    range_margin: float | None = 0.0,
    seed: int = 0,
) -> TrustLayer:
    """The trust layer of a covariate model trained on ``X`` and cross-validated as ``oof``.

    ``weights`` are the covariates' importance (:func:`importance_weights`); equal if None.
    """
    X = np.asarray(X, dtype=np.float64)
    scale = model_scale(transform)
    residuals = scale(oof.observed) - scale(oof.predicted)
    notes: list[str] = []
    applicability = None
    if aoa:
        try:
            applicability = fit_applicability(
                X, feature_names=feature_names, weights=weights, categorical=categorical,
                fold_ids=oof.fold, min_weight_share=min_weight_share,
                range_margin=range_margin, seed=seed,
            )  # fmt: skip
        except CalibrationError as err:
            notes.append(f"no area of applicability: {err.message}")
            log.warning("no area of applicability: %s", err.message)
    back = fit_back_transform(transform, residuals, estimate=estimate, method=mean_method)
    calibration = None
    if intervals:
        candidates: dict[str, np.ndarray] = {}
        if oof.spread is not None:
            candidates["spread"] = oof.spread
        di_offset = 0.0
        if applicability is not None:
            di_offset = float(np.median(applicability.train_di))
            candidates["di"] = applicability.train_di
        try:
            chosen = choose_normaliser(
                residuals, candidates, oof.fold, level=level, di_offset=di_offset
            ) if len(residuals) >= 20 else "none"  # fmt: skip
            calibration = calibrate(
                residuals, candidates.get(chosen, 1.0), normalisation=chosen,
                di_offset=di_offset, scheme=oof.scheme,
            )  # fmt: skip
        except CalibrationError as err:
            notes.append(f"no prediction intervals: {err.message}")
            log.warning("no prediction intervals: %s", err.message)
    return TrustLayer(
        back_transform=back,
        applicability=applicability,
        intervals=calibration,
        notes=tuple(notes),
    )


def interval_report(oof: OutOfFold, trust: TrustLayer, *, level: float = 0.9) -> dict:
    """PICP and mean width of the calibrated intervals (each fold calibrated on the others),
    of uncalibrated spread intervals when the model has a spread, and the back-transform bias.
    """
    transform = trust.back_transform.transform
    scale = model_scale(transform)
    centre = scale(oof.predicted)
    residuals = scale(oof.observed) - centre
    out: dict = {"level": level, "n": len(residuals)}

    def bounds(half):
        low, high = centre - half, centre + half
        return (10.0**low, 10.0**high) if transform == "log10" else (low, high)

    cal = trust.intervals
    if cal is not None and len(residuals) >= 2:
        s = {"spread": oof.spread, "di": None}.get(cal.normalisation)
        if cal.normalisation == "di" and trust.applicability is not None:
            s = trust.applicability.train_di
        half = cross_conformal_coverage(
            residuals, 1.0 if s is None else s, oof.fold, level=level,
            normalisation=cal.normalisation, di_offset=cal.di_offset,
        )  # fmt: skip
        out["conformal"] = {
            "normalisation": cal.normalisation,
            **interval_scores(oof.observed, *bounds(half)),
        }
    if oof.spread is not None:
        out["spread_uncalibrated"] = interval_scores(
            oof.observed, *bounds(_z(level) * np.asarray(oof.spread))
        )
    app = trust.applicability
    if app is not None and len(app.train_di) == len(residuals):
        inside = app.train_di <= app.threshold
        error = np.asarray(oof.observed, np.float64) - np.asarray(oof.predicted, np.float64)
        out["aoa"] = {
            "share_inside": float(inside.mean()),
            "n_outside": int((~inside).sum()),
            "rmse_inside": _rmse(error[inside]),
            "rmse_outside": _rmse(error[~inside]),
            "threshold": app.threshold,
        }
    point = trust.back_transform.apply(np.asarray(oof.predicted, dtype=np.float64))
    out["back_transform"] = {
        "estimate": trust.back_transform.estimate,
        "factor": trust.back_transform.factor,
        "mean_observed": float(np.mean(oof.observed)),
        "mean_predicted": float(np.mean(point)),
        "bias": float(np.mean(point) - np.mean(oof.observed)),
    }
    return out


def _rmse(error: np.ndarray) -> float | None:
    return float(np.sqrt(np.mean(error**2))) if error.size else None


def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2) if level != 0.9 else _Z90
