"""Target transforms applied before fitting and undone on every prediction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from geosoil.errors import SampleDataError

__all__ = ["TargetTransform", "count_by_column"]


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
                    + count_by_column(np.asarray(y) <= 0, names, "non-positive value(s)"),
                    field="target_transform",
                    fix="drop non-positive values or use target_transform: none",
                )
            return np.log10(y)
        return np.asarray(y, dtype=np.float64)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.power(10.0, z) if self.kind == "log10" else z


def count_by_column(
    mask: np.ndarray, names: Sequence[str] | None = None, what: str = "value(s)"
) -> str:
    """``"; column 'clay' has 2 <what>"`` for each column of a 2-D ``mask`` with a hit.

    Columns are named by ``names`` or, without them, by index; empty for a 1-D ``mask``.
    """
    if mask.ndim != 2:
        return ""
    labels = [repr(name) for name in names] if names is not None else range(mask.shape[1])
    counts = np.count_nonzero(mask, axis=0)
    return "".join(
        f"; column {label} has {count} {what}"
        for label, count in zip(labels, counts, strict=True)
        if count
    )
