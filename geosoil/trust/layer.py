"""The trust layer of one artifact: area of applicability, conformal intervals, the
back-transform and, for spectral models, the spectral domain, saved and applied together.

In the artifact the parts are tensors named ``trust.<part>.<array>`` and a ``trust`` section
of the JSON header; :meth:`TrustLayer.to_parts` and :meth:`TrustLayer.from_parts` convert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from geosoil.errors import CalibrationError
from geosoil.trust.applicability import ApplicabilityModel
from geosoil.trust.backtransform import BackTransform
from geosoil.trust.conformal import ConformalCalibration, check_level
from geosoil.trust.estimators import model_scale, spread_of
from geosoil.trust.spectral_domain import SpectralDomain

__all__ = [
    "NOT_FOR_KRIGING",
    "TENSOR_PREFIX",
    "TrustLayer",
    "TrustPrediction",
    "covariate_columns",
]

TENSOR_PREFIX = "trust."
#: The note of a kriging artifact: it lacks the parts because of its kind, not its age, so
#: retraining does not add them.
NOT_FOR_KRIGING = (
    "ordinary kriging, a model of the coordinates alone, has no area of applicability; "
    "geosoil train calibrates its conformal intervals on its cross-validation"
)
# Why an artifact has no trust layer at all (the note of the empty layer).
_NO_TRUST_SECTION = (
    "the artifact was trained before geosoil had a trust layer, or saved without one"
)
_PARTS = {
    "applicability": ApplicabilityModel,
    "intervals": ConformalCalibration,
    "spectral_domain": SpectralDomain,
}


def covariate_columns(estimator, X) -> np.ndarray:
    """(N, F) model-input rows less the coordinate columns a regression-kriging model reads.

    The AOA lives in covariate space: the pixel coordinates that ``residual_kriging`` takes
    for its kriged residual are not covariates, and the applicability model was fitted
    without them.
    """
    coordinates = set(getattr(estimator, "map_coordinates", ()))
    if not coordinates:
        return X
    keep = [i for i, name in enumerate(estimator.feature_names_in_) if name not in coordinates]
    return np.asarray(X)[:, keep]


@dataclass(frozen=True)
class TrustPrediction:
    """Point prediction and trust layers of N rows (absent parts are None)."""

    point: np.ndarray
    di: np.ndarray | None = None
    inside_aoa: np.ndarray | None = None
    low: np.ndarray | None = None
    high: np.ndarray | None = None


@dataclass(frozen=True)
class TrustLayer:
    """Everything the artifact knows about where and how far to trust its predictions.

    ``notes`` records parts that could not be fitted and why (e.g. too few residuals).
    """

    back_transform: BackTransform = field(default_factory=BackTransform)
    applicability: ApplicabilityModel | None = None
    intervals: ConformalCalibration | None = None
    spectral_domain: SpectralDomain | None = None
    spectral_quantity: Literal["absorbance", "reflectance"] | None = None
    notes: tuple[str, ...] = ()

    # ---------------------------------------------------------------- applying
    def require(self, part: str, *, path=None) -> None:
        """Refuse a request for a part this artifact does not have, naming the fix."""
        if getattr(self, part) is None:
            why = "; ".join(self.notes) or _NO_TRUST_SECTION
            off = f"turn the {part.replace('_', ' ')} off for this model"
            raise CalibrationError(
                f"the artifact has no {part.replace('_', ' ')} ({why})",
                path=path,
                field=f"geosoil.trust.{part}",
                fix=f"retrain the model with this geosoil version (geosoil train), or {off}"
                if self.retrain_helps
                else off,
            )

    @property
    def retrain_helps(self) -> bool:
        """Whether retraining with this geosoil version could add the missing parts (not
        for a kind of model that never gets them, such as kriging)."""
        return NOT_FOR_KRIGING not in self.notes

    def predict(
        self,
        estimator,
        X: np.ndarray,
        *,
        level: float | None = 0.9,
        aoa: bool = True,
        method: str = "predict",
    ) -> TrustPrediction:
        """Point prediction (the chosen estimate), DI/AOA and interval bounds of (N, F) rows.

        ``level=None`` skips the intervals, ``aoa=False`` the DI; parts the artifact lacks
        are skipped too (:meth:`require` refuses them up front).
        """
        median = np.asarray(getattr(estimator, method)(X), dtype=np.float32)
        point = self.back_transform.apply(median)
        di = inside = low = high = None
        if aoa and self.applicability is not None:
            di, inside = self.applicability.evaluate(covariate_columns(estimator, X))
        if level is not None and self.intervals is not None:
            low, high = self.interval(estimator, X, median, level=level, di=di)
        return TrustPrediction(point, di, inside, low, high)

    def interval(self, estimator, X, median, *, level: float, di=None):
        """Bounds in the target's units around the back-transformed median prediction."""
        cal = self.intervals
        level = check_level(level)
        transform = self.back_transform.transform
        spread = di_values = None
        if cal.normalisation == "spread":
            spread = spread_of(estimator, X, transform=transform)
        elif cal.normalisation == "di":
            di_values = di
            if di is None:
                di_values = self.applicability.dissimilarity(covariate_columns(estimator, X))
        half = cal.half_width(level, cal.normaliser(spread=spread, di=di_values))
        centre = model_scale(transform)(median)
        low, high = centre - half, centre + half
        if transform == "log10":
            low, high = 10.0**low, 10.0**high
        return low.astype(np.float32), high.astype(np.float32)

    def describe_intervals(self, level: float) -> str:
        cal = self.intervals
        norm = {"none": "constant width", "spread": "scaled by the model's spread",
                "di": "scaled by the dissimilarity index",
                "depth": "scaled by the spread at its depth"}[cal.normalisation]  # fmt: skip
        return (
            f"conformal {level:.0%} interval ({cal.method} calibration on {cal.n} "
            f"{cal.scheme} out-of-fold residuals, {norm})"
        )

    # ----------------------------------------------------------------- artifact
    def to_parts(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays named ``trust.<part>.<name>`` and the header's ``trust`` section."""
        arrays: dict[str, np.ndarray] = {}
        header: dict = {
            "back_transform": self.back_transform.to_state(),
            "spectral_quantity": self.spectral_quantity,
            "notes": list(self.notes),
        }
        for part in _PARTS:
            value = getattr(self, part)
            if value is None:
                header[part] = None
                continue
            part_arrays, header[part] = value.to_parts()
            arrays |= {f"{TENSOR_PREFIX}{part}.{k}": np.asarray(v) for k, v in part_arrays.items()}
        return arrays, header

    @classmethod
    def from_parts(cls, arrays: Mapping[str, np.ndarray], header: Mapping | None) -> TrustLayer:
        """The trust layer of an artifact; an empty one for artifacts without a section."""
        if not header:
            return cls(notes=(_NO_TRUST_SECTION,))
        parts = {}
        for part, kind in _PARTS.items():
            if header.get(part) is None:
                parts[part] = None
                continue
            prefix = f"{TENSOR_PREFIX}{part}."
            own = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
            parts[part] = kind.from_parts(own, header[part])
        return cls(
            back_transform=BackTransform.from_state(header["back_transform"]),
            spectral_quantity=header.get("spectral_quantity"),
            notes=tuple(header.get("notes", ())),
            **parts,
        )
