"""Target transforms applied before fitting and undone on every prediction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from geosoil.errors import SampleDataError

__all__ = ["TargetTransform"]


@dataclass(frozen=True)
class TargetTransform:
    """``none`` or ``log10`` (skewed soil properties such as Kex or Pb).

    Elementwise, so a 2-D target (one column per soil property) is transformed column by
    column with the same rule.
    """

    kind: str = "none"

    def __post_init__(self) -> None:
        if self.kind not in ("none", "log10"):
            raise ValueError(f"target_transform must be 'none' or 'log10', got {self.kind!r}")

    def forward(self, y: np.ndarray, *, names: Sequence[str] | None = None) -> np.ndarray:
        """Transform targets of shape (n,) or (n, k).

        Parameters
        ----------
        y
            One target, or one column per target.
        names
            Names of the k columns of a 2-D ``y`` for error messages; column indices when
            not given.

        Raises
        ------
        SampleDataError
            For ``log10``, if any value is not strictly positive; for a 2-D ``y`` the message
            names each offending column.
        """
        if self.kind == "log10":
            if np.any(y <= 0):
                raise SampleDataError(
                    "log10 target transform needs strictly positive targets"
                    + _non_positive_columns(np.asarray(y), names),
                    field="target_transform",
                    fix="drop non-positive values or use target_transform: none",
                )
            return np.log10(y)
        return np.asarray(y, dtype=np.float64)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.power(10.0, z) if self.kind == "log10" else z


def _non_positive_columns(y: np.ndarray, names: Sequence[str] | None) -> str:
    """``"; column 'clay' has 2 non-positive value(s)"`` per bad column of a 2-D ``y``."""
    if y.ndim != 2:
        return ""
    labels = [f"{name!r}" for name in names] if names is not None else range(y.shape[1])
    counts = np.count_nonzero(y <= 0, axis=0)
    return "".join(
        f"; column {label} has {count} non-positive value(s)"
        for label, count in zip(labels, counts, strict=True)
        if count
    )
