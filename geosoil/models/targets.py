"""Target transforms applied before fitting and undone on every prediction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geosoil.errors import SampleDataError

__all__ = ["TargetTransform"]


@dataclass(frozen=True)
class TargetTransform:
    """``none`` or ``log10`` (skewed soil properties such as Kex or Pb)."""

    kind: str = "none"

    def __post_init__(self) -> None:
        if self.kind not in ("none", "log10"):
            raise ValueError(f"target_transform must be 'none' or 'log10', got {self.kind!r}")

    def forward(self, y: np.ndarray) -> np.ndarray:
        if self.kind == "log10":
            if np.any(y <= 0):
                raise SampleDataError(
                    "log10 target transform needs strictly positive targets",
                    field="target_transform",
                    fix="drop non-positive values or use target_transform: none",
                )
            return np.log10(y)
        return np.asarray(y, dtype=np.float64)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.power(10.0, z) if self.kind == "log10" else z
