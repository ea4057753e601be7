"""Conformal intervals of SOC profile models (BINN, ScIReN) from their profile cross-validation.

The calibration samples are the out-of-fold observations of a k-fold CV over whole profiles
(:func:`geosoil.evaluate.profiles.cross_validate_profiles`): every observation of a test
profile is predicted by a model that never saw that profile, so the scores are grouped by
profile as the folds are. The calibration is :func:`geosoil.trust.conformal.calibrate`'s;
two choices are made on the training CV only, each by the narrowest cross-conformal
interval (each fold calibrated on the others, coverage alike for all):

- the **scale** of the scores: ``log10`` of SOC density (intervals multiplicative around the
  prediction) or the density itself (``model``, constant width in g C m-3, the lower bound
  cut at 0), compared by mean width in g C m-3; the model's own scale wins ties within 2 %;
- the **normaliser**: constant, or the median absolute residual of the observation's depth
  interval (:data:`DEPTH_EDGES_M`; refitted without the held-out fold when judged), by
  :func:`~geosoil.trust.conformal.choose_normaliser`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geosoil.errors import CalibrationError
from geosoil.trust.conformal import (
    MIN_RESIDUALS,
    ConformalCalibration,
    calibrate,
    check_level,
    choose_normaliser,
    cross_conformal_coverage,
    depth_step,
    fit_depth_spread,
    interval_scores,
)
from geosoil.trust.layer import TrustLayer

__all__ = [
    "BOUNDS_PROPAGATION",
    "DEPTH_EDGES_M",
    "SCHEME",
    "ProfileOutOfFold",
    "fit_profile_trust",
    "layer_bounds",
    "profile_bounds",
    "profile_interval_report",
    "scale_widths",
]

#: Upper edges (m) of the depth intervals of the ``depth`` normaliser: GlobalSoilMap's down
#: to 1 m, then 1-2 m and everything deeper.
DEPTH_EDGES_M = (0.05, 0.15, 0.30, 0.60, 1.00, 2.00, math.inf)
SCHEME = "profile_kfold"
_SCALES = ("model", "log10")
# On the log10 scale densities are floored here: a zero (an observation at the detection
# limit, or a layer the model puts below bedrock) has no logarithm.
LOG_FLOOR_G_C_M3 = 1.0
_KEEP_MODEL_SCALE = 0.98  # log10 must be clearly narrower to replace the model's own scale
#: How the bounds of a depth-interval mean or a stock come from the pointwise calibration
#: (:func:`layer_bounds`, then integrated like the prediction): said wherever they are written.
BOUNDS_PROPAGATION = (
    "each CLM5 layer's density bound at its node depth, integrated over the interval like "
    "the prediction: the depth-integral of pointwise bounds, not a calibrated interval of the "
    "interval mean or the stock (coverage of those not measured)"
)


@dataclass(frozen=True)
class ProfileOutOfFold:
    """Out-of-fold SOC of a profile CV, one entry per observation (g C m-3, depth in m)."""

    observed: np.ndarray
    predicted: np.ndarray
    depth_m: np.ndarray
    fold: np.ndarray

    @classmethod
    def from_table(cls, table) -> ProfileOutOfFold:
        """From :attr:`~geosoil.evaluate.profiles.ProfileCVResult.predictions`."""
        return cls(
            *(np.asarray(table[c], dtype=np.float64) for c in ("observed", "predicted", "depth_m")),
            np.asarray(table["fold"]),
        )


def _to_scale(scale: str, density: np.ndarray) -> np.ndarray:
    density = np.asarray(density, dtype=np.float64)
    if scale == "log10":
        return np.log10(np.maximum(density, LOG_FLOOR_G_C_M3))
    return density


def _residuals(oof: ProfileOutOfFold, scale: str) -> np.ndarray:
    return _to_scale(scale, oof.observed) - _to_scale(scale, oof.predicted)


def _bounds(
    scale: str, predicted: np.ndarray, half: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    predicted = np.asarray(predicted, dtype=np.float64)
    if scale == "log10":
        centre = _to_scale(scale, predicted)
        with np.errstate(over="ignore"):
            return 10.0 ** (centre - half), 10.0 ** (centre + half)
    return np.maximum(predicted - half, 0.0), predicted + half


def _depth_normaliser(residuals: np.ndarray, depth_m: np.ndarray):
    """The ``depth`` normaliser of every sample, fitted on the samples of a mask."""

    def normaliser(mask: np.ndarray) -> np.ndarray:
        spread = fit_depth_spread(residuals[mask], depth_m[mask], DEPTH_EDGES_M)
        return depth_step(np.asarray(DEPTH_EDGES_M), spread, depth_m)

    return normaliser


def _cross_conformal(oof: ProfileOutOfFold, scale: str, normalisation: str, level: float):
    """(low, high) of every observation, each fold calibrated on the others."""
    residuals = _residuals(oof, scale)
    s = _depth_normaliser(residuals, oof.depth_m) if normalisation == "depth" else 1.0
    half = cross_conformal_coverage(
        residuals, s, oof.fold, level=level, normalisation=normalisation
    )
    return _bounds(scale, oof.predicted, half)


def _check_size(oof: ProfileOutOfFold) -> None:
    n = int((np.isfinite(oof.observed) & np.isfinite(oof.predicted)).sum())
    if n < MIN_RESIDUALS:
        raise CalibrationError(
            f"only {n} out-of-fold SOC observations to calibrate intervals on; at least "
            f"{MIN_RESIDUALS} are needed",
            field="cv",
            fix="cross-validate on more profiles (cv.enabled with enough profiles)",
        )


def scale_widths(oof: ProfileOutOfFold, *, level: float = 0.9) -> dict[str, float]:
    """Mean width (g C m-3) of constant-width cross-conformal intervals on each scale."""
    return {
        scale: float(np.nanmean(np.subtract(*_cross_conformal(oof, scale, "none", level)[::-1])))
        for scale in _SCALES
    }


def fit_profile_trust(oof: ProfileOutOfFold, *, level: float = 0.9) -> TrustLayer:
    """The trust layer of a SOC profile model: a conformal calibration of its intervals.

    Raises
    ------
    CalibrationError
        ``level`` outside (0, 1), or fewer than :data:`MIN_RESIDUALS` finite out-of-fold
        observations.
    """
    level = check_level(level)
    _check_size(oof)
    widths = scale_widths(oof, level=level)
    scale = "log10" if widths["log10"] < _KEEP_MODEL_SCALE * widths["model"] else "model"
    residuals = _residuals(oof, scale)
    depth = _depth_normaliser(residuals, oof.depth_m)
    chosen = choose_normaliser(residuals, {"depth": depth}, oof.fold, level=level)
    spread = fit_depth_spread(residuals, oof.depth_m, DEPTH_EDGES_M)
    calibration = calibrate(
        residuals,
        depth(np.ones(len(residuals), dtype=bool)) if chosen == "depth" else 1.0,
        normalisation=chosen,
        scheme=SCHEME,
        scale=scale,
        depth_edges_m=np.asarray(DEPTH_EDGES_M) if chosen == "depth" else None,
        depth_spread=spread if chosen == "depth" else None,
    )
    return TrustLayer(intervals=calibration)


def profile_bounds(
    calibration: ConformalCalibration,
    predicted: np.ndarray,
    depth_m: np.ndarray,
    *,
    level: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval bounds (g C m-3) of SOC densities predicted at depths ``depth_m`` (m).

    Both arrays broadcast together; the bounds take their shape. The lower bound of a
    constant-width interval is cut at 0 (a density is never negative).
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    depth_m = np.broadcast_to(np.asarray(depth_m, dtype=np.float64), predicted.shape)
    half = calibration.half_width(level, calibration.normaliser(depth_m=depth_m))
    scale = "log10" if calibration.scale == "log10" else "model"
    return _bounds(scale, predicted, half)


def layer_bounds(
    calibration: ConformalCalibration,
    layers: np.ndarray,
    node_depth_m: np.ndarray,
    *,
    level: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (g C m-3) of (n, n_layers) layer densities, each at its layer's node depth.

    Layers predicted without carbon (below bedrock) keep 0 as both bounds. Integrating these
    bounds over depth gives :data:`BOUNDS_PROPAGATION`'s bounds of interval means and stocks.
    """
    low, high = profile_bounds(calibration, layers, node_depth_m, level=level)
    carbonless = np.asarray(layers) <= 0
    return np.where(carbonless, 0.0, low), np.where(carbonless, 0.0, high)


def profile_interval_report(oof: ProfileOutOfFold, trust: TrustLayer, *, level: float = 0.9):
    """PICP and mean width (g C m-3) of the calibrated intervals, each fold calibrated on the
    others, overall, per depth interval and per third of the predictions (low to high: the
    coverage a constant width gives is not the same at every level); beside them the
    widths of the scale candidates, and PICP and width of every (scale, normaliser) pair
    (``alternatives``), so the choice can be checked.

    Returns
    -------
    report, low, high
        The figures, and every observation's cross-conformal bounds.
    """
    level = check_level(level)
    cal = trust.intervals
    scale = "log10" if cal.scale == "log10" else "model"
    low, high = _cross_conformal(oof, scale, cal.normalisation, level)
    alternatives = {}
    for other_scale in _SCALES:
        for normalisation in ("none", "depth"):
            lo, hi = _cross_conformal(oof, other_scale, normalisation, level)
            figures = interval_scores(oof.observed, lo, hi)
            alternatives[f"{other_scale}/{normalisation}"] = {
                "picp": figures["picp"],
                "mean_width": _finite_or_none(figures["mean_width"]),
                "picp_by_depth": [row["picp"] for row in _by_depth(oof, lo, hi)],
            }
    finite = np.isfinite(oof.predicted)
    cuts = np.quantile(oof.predicted[finite], [1 / 3, 2 / 3]) if finite.any() else [0, 0]
    third = np.searchsorted(cuts, oof.predicted, side="right")
    by_level = [
        {"third": k + 1, **interval_scores(oof.observed[m], low[m], high[m])}
        for k in range(3)
        if (m := finite & (third == k)).any()
    ]
    report = {
        "level": level,
        "scheme": f"{SCHEME} (cross-conformal: each fold's intervals calibrated on the others)",
        "scale": cal.scale,
        "normalisation": cal.normalisation,
        "n_residuals": cal.n,
        **interval_scores(oof.observed, low, high),
        "units": "g C m-3",
        "mean_width_by_scale": scale_widths(oof, level=level),
        "by_depth": _by_depth(oof, low, high),
        "by_predicted_third": by_level,
        "alternatives": alternatives,
    }
    return report, low, high


def _by_depth(oof: ProfileOutOfFold, low: np.ndarray, high: np.ndarray) -> list[dict]:
    """PICP and mean width of each depth interval of :data:`DEPTH_EDGES_M` holding data."""
    interval = np.searchsorted(np.asarray(DEPTH_EDGES_M), oof.depth_m, side="left")
    rows, top = [], 0.0
    for k, bottom in enumerate(DEPTH_EDGES_M):
        inside = interval == k
        if inside.any():
            figures = interval_scores(oof.observed[inside], low[inside], high[inside])
            figures["mean_width"] = _finite_or_none(figures["mean_width"])
            deepest = math.isinf(bottom)
            rows.append({"top_m": top, "bottom_m": None if deepest else bottom, **figures})
        top = bottom
    return rows


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
