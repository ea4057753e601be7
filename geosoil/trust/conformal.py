"""Conformal prediction intervals from out-of-fold residuals (written in-project).

Nonconformity score of a calibration sample: ``|z - z_hat| / s``, with ``z`` the target on
the model's scale (log10 for log-trained models, so intervals are multiplicative there) and
``s`` a normaliser: 1 (``none``), the model's own spread on that scale (``spread``: ensemble,
quantile forest, MC dropout), ``DI + c`` (``di``, the dissimilarity index, so intervals
widen away from the training data), or the residual spread of the sample's depth interval
(``depth``, SOC profiles: a step function of depth stored with the scores). ``scale`` says
when the scores are on log10 of the target for a model trained in the target's units (SOC
density): the interval is then multiplicative around the prediction. The interval at
coverage ``level`` is ``z_hat +- q s`` with ``q`` the ``ceil((n + 1) level)``-th smallest
score: the split-conformal quantile (Vovk et al. 2005; Lei et al. 2018). With out-of-fold
residuals from K-fold CV and the final model's predictions this is the "CV" /
jackknife-style scheme (MAPIE's ``method="base"``), not CV+ proper, which would need every
fold model at prediction time; its coverage is checked on held-out folds by
:func:`cross_conformal_coverage`.

MAPIE and crepes were considered: both want an estimator they can refit or a scikit-learn
wrapper, and geosoil stores only the final model in its artifact, so the few lines of the
quantile are written here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from geosoil.errors import CalibrationError

__all__ = [
    "MIN_RESIDUALS",
    "ConformalCalibration",
    "calibrate",
    "check_level",
    "choose_normaliser",
    "cross_conformal_coverage",
    "depth_step",
    "fit_depth_spread",
    "interval_scores",
]

# Fewer residuals than this give a quantile so coarse that a 90 % interval is the largest
# residual seen: refuse rather than pretend.
MIN_RESIDUALS = 20

Normalisation = Literal["none", "spread", "di", "depth"]
# What each normaliser reads at prediction time, and how to supply it.
_NORMALISER_INPUTS = {
    "spread": (
        "the model's spread",
        "predict with the model's predictive distribution (predict_dist)",
    ),
    "di": (
        "the dissimilarity index",
        "compute the DI with the artifact's area of applicability",
    ),
    "depth": ("depth", "pass the depth (m) of every prediction"),
}


def check_level(level: float, *, field: str = "interval_level") -> float:
    """A coverage level strictly between 0 and 1, or a CalibrationError naming the fix."""
    try:
        ok = math.isfinite(float(level)) and 0.0 < float(level) < 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise CalibrationError(
            f"coverage level {level!r} is not strictly between 0 and 1",
            field=field,
            fix="use a fraction such as 0.9 for a 90 % interval",
        )
    return float(level)


@dataclass(frozen=True)
class ConformalCalibration:
    """Sorted nonconformity scores and how to normalise new predictions.

    Attributes
    ----------
    scores
        Sorted ``|residual| / s`` of the calibration samples.
    method
        ``"cv"`` (out-of-fold residuals of K-fold CV) or ``"split"`` (a calibration set).
    normalisation
        ``"none"``, ``"spread"`` or ``"di"``.
    floor
        Smallest normaliser used (the 5th percentile of the calibration normalisers), so a
        pixel with zero spread gets no zero-width interval.
    di_offset
        ``c`` of the ``di`` normaliser ``DI + c``.
    scheme
        Name of the CV scheme the residuals come from (``spatial_block``, ``random``, ...).
    scale
        ``"model"``: scores on the model's scale; ``"log10"``: on log10 of the target, for a
        model trained in the target's units (SOC profiles).
    depth_edges_m, depth_spread
        The ``depth`` normaliser: upper edges (m) of the depth intervals, and the residual
        spread of each (empty for the other normalisers).
    """

    scores: np.ndarray
    method: Literal["cv", "split"] = "cv"
    normalisation: Normalisation = "none"
    floor: float = 0.0
    di_offset: float = 0.0
    scheme: str = ""
    scale: Literal["model", "log10"] = "model"
    depth_edges_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    depth_spread: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n(self) -> int:
        return int(self.scores.size)

    def quantile(self, level: float) -> float:
        """The conformal score quantile; inf when ``level`` needs more samples than there are."""
        level = check_level(level)
        rank = math.ceil((self.n + 1) * level)
        return float(self.scores[rank - 1]) if rank <= self.n else math.inf

    def normaliser(
        self,
        *,
        spread: np.ndarray | None = None,
        di: np.ndarray | None = None,
        depth_m: np.ndarray | None = None,
    ) -> np.ndarray | float:
        """``s`` of new predictions (a scalar 1 for ``none``)."""
        if self.normalisation == "none":
            return 1.0
        given = {"spread": spread, "di": di, "depth": depth_m}[self.normalisation]
        if given is None:
            what, fix = _NORMALISER_INPUTS[self.normalisation]
            raise CalibrationError(
                f"these intervals are normalised by {what}, and none was given",
                field="trust.intervals.normalisation",
                fix=fix,
            )
        given = np.asarray(given, dtype=np.float64)
        if self.normalisation == "depth":
            given = depth_step(self.depth_edges_m, self.depth_spread, given)
        elif self.normalisation == "di":
            given = given + self.di_offset
        return np.maximum(given, self.floor)

    def half_width(self, level: float, normaliser: np.ndarray | float) -> np.ndarray | float:
        """Half-width of the interval on the model's scale."""
        return self.quantile(level) * np.asarray(normaliser, dtype=np.float64)

    def to_parts(self) -> tuple[dict[str, np.ndarray], dict]:
        state = {
            "method": self.method,
            "normalisation": self.normalisation,
            "floor": self.floor,
            "di_offset": self.di_offset,
            "scheme": self.scheme,
            "scale": self.scale,
            "n_residuals": self.n,
            "library": "in-project split-conformal quantile (see geosoil.trust.conformal)",
        }
        arrays = {"scores": self.scores}
        if self.normalisation == "depth":
            arrays |= {"depth_edges_m": self.depth_edges_m, "depth_spread": self.depth_spread}
        return arrays, state

    @classmethod
    def from_parts(cls, arrays: Mapping[str, np.ndarray], state: Mapping) -> ConformalCalibration:
        return cls(
            scores=np.sort(np.asarray(arrays["scores"], dtype=np.float64)),
            method=state["method"],
            normalisation=state["normalisation"],
            floor=float(state["floor"]),
            di_offset=float(state["di_offset"]),
            scheme=str(state.get("scheme", "")),
            scale=state.get("scale", "model"),
            depth_edges_m=np.asarray(arrays.get("depth_edges_m", np.zeros(0)), np.float64),
            depth_spread=np.asarray(arrays.get("depth_spread", np.zeros(0)), np.float64),
        )


def calibrate(
    residuals: np.ndarray,
    normaliser: np.ndarray | float = 1.0,
    *,
    normalisation: Normalisation = "none",
    method: Literal["cv", "split"] = "cv",
    di_offset: float = 0.0,
    scheme: str = "",
    min_residuals: int = MIN_RESIDUALS,
    scale: Literal["model", "log10"] = "model",
    depth_edges_m: np.ndarray | None = None,
    depth_spread: np.ndarray | None = None,
) -> ConformalCalibration:
    """Calibration from residuals ``z - z_hat`` on the model's scale and their normalisers.

    ``scale``, ``depth_edges_m`` and ``depth_spread`` are stored as given (see
    :class:`ConformalCalibration`); the latter two define the ``depth`` normaliser.

    Raises
    ------
    CalibrationError
        Fewer than ``min_residuals`` finite residuals.
    """
    residuals = np.asarray(residuals, dtype=np.float64)
    s = np.broadcast_to(np.asarray(normaliser, dtype=np.float64), residuals.shape)
    finite = np.isfinite(residuals) & np.isfinite(s)
    if finite.sum() < min_residuals:
        raise CalibrationError(
            f"only {int(finite.sum())} out-of-fold residuals to calibrate intervals on; "
            f"at least {min_residuals} are needed",
            field="trust.intervals",
            fix="train on more samples, or give a calibration set of at least "
            f"{min_residuals} samples",
        )
    if normalisation == "none":
        floor, scores = 0.0, np.abs(residuals[finite])
    else:
        floor = max(float(np.quantile(s[finite], 0.05)), 1e-12)
        scores = np.abs(residuals[finite]) / np.maximum(s[finite], floor)
    return ConformalCalibration(
        scores=np.sort(scores),
        method=method,
        normalisation=normalisation,
        floor=floor,
        di_offset=float(di_offset),
        scheme=scheme,
        scale=scale,
        depth_edges_m=np.zeros(0) if depth_edges_m is None else np.asarray(depth_edges_m),
        depth_spread=np.zeros(0) if depth_spread is None else np.asarray(depth_spread),
    )


def fit_depth_spread(
    residuals: np.ndarray, depth_m: np.ndarray, edges_m: Sequence[float]
) -> np.ndarray:
    """Median absolute residual of each depth interval (upper edges ``edges_m``, the last
    open-ended); an interval with fewer than :data:`MIN_RESIDUALS` finite residuals takes
    the median of all of them."""
    residuals = np.abs(np.asarray(residuals, dtype=np.float64))
    depth_m = np.asarray(depth_m, dtype=np.float64)
    ok = np.isfinite(residuals) & np.isfinite(depth_m)
    overall = float(np.median(residuals[ok])) if ok.any() else 1.0
    interval = _depth_interval(edges_m, depth_m)
    spread = np.full(len(edges_m), overall)
    for k in range(len(edges_m)):
        inside = ok & (interval == k)
        if inside.sum() >= MIN_RESIDUALS:
            spread[k] = float(np.median(residuals[inside]))
    return spread


def depth_step(edges_m: np.ndarray, spread: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
    """The ``depth`` normaliser: the spread of the interval holding each depth (NaN depths
    give NaN)."""
    depth_m = np.asarray(depth_m, dtype=np.float64)
    s = np.asarray(spread, dtype=np.float64)[_depth_interval(edges_m, depth_m)]
    return np.where(np.isfinite(depth_m), s, np.nan)


def _depth_interval(edges_m: Sequence[float], depth_m: np.ndarray) -> np.ndarray:
    """Index of the interval holding each depth: the first upper edge at or below which it
    lies, the last interval below every edge."""
    edges = np.asarray(edges_m, dtype=np.float64)
    index = np.searchsorted(edges, np.nan_to_num(depth_m, nan=0.0), side="left")
    return np.minimum(index, len(edges) - 1)


def interval_scores(observed: np.ndarray, low: np.ndarray, high: np.ndarray) -> dict[str, float]:
    """PICP (share of observations inside [low, high]) and mean interval width."""
    observed, low, high = (np.asarray(a, dtype=np.float64) for a in (observed, low, high))
    ok = np.isfinite(observed) & np.isfinite(low) & np.isfinite(high)
    if not ok.any():
        return {"picp": math.nan, "mean_width": math.nan, "n": 0}
    inside = (observed[ok] >= low[ok]) & (observed[ok] <= high[ok])
    return {
        "picp": float(inside.mean()),
        "mean_width": float((high[ok] - low[ok]).mean()),
        "n": int(ok.sum()),
    }


def cross_conformal_coverage(
    residuals: np.ndarray,
    normaliser: np.ndarray | float | Callable[[np.ndarray], np.ndarray],
    fold_ids: Sequence[int],
    *,
    level: float,
    normalisation: Normalisation = "none",
    di_offset: float = 0.0,
) -> np.ndarray:
    """Half-widths for each sample from the scores of the *other* folds (honest coverage).

    The calibration that the artifact stores uses every fold; to report its coverage without
    scoring a sample with its own residual, each fold's intervals come from the others.
    ``normaliser`` may be a callable of the calibration samples' mask returning every
    sample's normaliser: one fitted on the residuals themselves (``depth``) is then refitted
    without the held-out fold.
    """
    residuals = np.asarray(residuals, dtype=np.float64)
    folds = np.asarray(fold_ids)
    half = np.full(residuals.shape, np.nan)
    for fold in np.unique(folds):
        held = folds == fold
        if (~held).sum() < 2:
            continue
        given = normaliser(~held) if callable(normaliser) else normaliser
        s = np.broadcast_to(np.asarray(given, dtype=np.float64), residuals.shape)
        cal = calibrate(
            residuals[~held], s[~held], normalisation=normalisation, di_offset=di_offset,
            min_residuals=2,
        )  # fmt: skip
        norm = 1.0 if normalisation == "none" else np.maximum(s[held], cal.floor)
        half[held] = cal.quantile(level) * norm
    return half


def choose_normaliser(
    residuals: np.ndarray,
    candidates: Mapping[str, np.ndarray | float | Callable[[np.ndarray], np.ndarray]],
    fold_ids: Sequence[int],
    *,
    level: float = 0.9,
    di_offset: float = 0.0,
) -> str:
    """The candidate normaliser giving the narrowest cross-conformal intervals.

    Each candidate is calibrated on other folds (so none is judged on its own residuals);
    widths are compared, coverage being guaranteed for all alike. ``none`` always competes.
    """
    widths = {
        name: float(
            np.nanmean(
                cross_conformal_coverage(
                    residuals, s, fold_ids, level=level, normalisation=name, di_offset=di_offset
                )
            )
        )
        for name, s in {"none": 1.0, **candidates}.items()
    }
    best = min(widths, key=widths.get)
    # A normaliser must earn its place: keep constant widths unless it is clearly narrower.
    return best if widths[best] < 0.98 * widths["none"] else "none"
