"""From a log-scale prediction to the target's units: the median or the mean.

A model trained on ``z = log10(y)`` predicts the conditional mean of ``z``; ``10**z_hat`` is
then the conditional *median* of ``y`` (for a symmetric error on the log scale), which lies
below its mean. The mean is ``10**z_hat`` times a factor:

- ``smearing`` (Duan 1983): the mean of ``10**r`` over residuals ``r = z - z_hat``,
  distribution-free;
- ``lognormal``: ``exp((ln 10 * sigma)**2 / 2)`` for a normal error of sd ``sigma`` on the
  log10 scale.

Residuals should be out of fold: in-sample residuals are too small and so is the factor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from geosoil.errors import CalibrationError

__all__ = ["BackTransform", "fit_back_transform", "lognormal_factor", "smearing_factor"]

Estimate = Literal["median", "mean"]
MeanMethod = Literal["smearing", "lognormal"]


def smearing_factor(residuals_log10: np.ndarray) -> float:
    """Duan's smearing factor ``mean(10**r)`` over finite log10 residuals."""
    r = np.asarray(residuals_log10, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        raise CalibrationError(
            "no finite residuals to estimate the smearing factor from",
            field="trust.back_transform",
            fix="use estimate: median, or train on more samples",
        )
    return float(np.mean(10.0**r))


def lognormal_factor(residuals_log10: np.ndarray) -> float:
    """``exp((ln 10 sigma)^2 / 2)`` with ``sigma`` the sd (ddof=1) of the log10 residuals."""
    r = np.asarray(residuals_log10, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size < 2:
        raise CalibrationError(
            "fewer than 2 finite residuals to estimate the log-normal variance from",
            field="trust.back_transform",
            fix="use estimate: median, or train on more samples",
        )
    return float(math.exp(0.5 * (math.log(10.0) * r.std(ddof=1)) ** 2))


@dataclass(frozen=True)
class BackTransform:
    """Which estimate the point prediction gives, and the factor turning medians into it.

    ``transform`` is the model's target transform (``none`` or ``log10``); for ``none`` the
    estimate is the mean and the factor 1.
    """

    transform: Literal["none", "log10"] = "none"
    estimate: Estimate = "mean"
    method: MeanMethod | None = None
    factor: float = 1.0

    def apply(self, median: np.ndarray) -> np.ndarray:
        """The chosen estimate from the back-transformed (median) prediction."""
        if self.factor == 1.0:
            return median
        return (np.asarray(median) * self.factor).astype(np.asarray(median).dtype, copy=False)

    def describe(self) -> str:
        if self.transform == "none":
            return "mean (model trained on the untransformed target)"
        if self.estimate == "median":
            return "median (10**prediction on the log10 scale, no bias correction)"
        return f"mean ({self.method} correction of the log10 back-transform, x{self.factor:.4f})"

    def to_state(self) -> dict:
        return {
            "transform": self.transform,
            "estimate": self.estimate,
            "method": self.method,
            "factor": self.factor,
            "description": self.describe(),
        }

    @classmethod
    def from_state(cls, state: Mapping) -> BackTransform:
        return cls(
            transform=state["transform"],
            estimate=state["estimate"],
            method=state.get("method"),
            factor=float(state["factor"]),
        )


def fit_back_transform(
    transform: str,
    residuals_log10: np.ndarray | None,
    *,
    estimate: Estimate = "median",
    method: MeanMethod = "smearing",
) -> BackTransform:
    """The back-transform a user asked for, with its factor from out-of-fold residuals."""
    if transform != "log10":
        return BackTransform("none", "mean", None, 1.0)
    if estimate == "median":
        return BackTransform("log10", "median", None, 1.0)
    if residuals_log10 is None:
        raise CalibrationError(
            "the mean of a log-scale target needs out-of-fold residuals",
            field="trust.back_transform",
            fix="keep cross-validation on, or use estimate: median",
        )
    fit = smearing_factor if method == "smearing" else lognormal_factor
    return BackTransform("log10", "mean", method, fit(residuals_log10))
