"""What a map run writes: one variable per output, continuous or classes (DESIGN 4.5).

Models and products declare their outputs as :class:`OutputVariable` values; the store, the
COG writer and the QGIS styles all read the same declaration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["CLASS_NODATA", "FLOAT_NODATA", "MapClass", "OutputVariable"]

FLOAT_NODATA = -9999.0
CLASS_NODATA = 255


@dataclass(frozen=True)
class MapClass:
    """One class of a class output: its code, legend label and colour (``#rrggbb``)."""

    value: int
    label: str
    color: str


@dataclass(frozen=True)
class OutputVariable:
    """One output layer of a map run.

    Continuous outputs are float32 with nodata -9999; class outputs are uint8 codes with
    nodata 255, a colour table and nearest-neighbour overviews.
    """

    name: str
    units: str = ""
    description: str = ""
    kind: Literal["continuous", "classes"] = "continuous"
    classes: tuple[MapClass, ...] = ()

    @property
    def is_classes(self) -> bool:
        return self.kind == "classes"

    @property
    def dtype(self) -> np.dtype:
        return np.dtype("uint8") if self.is_classes else np.dtype("float32")

    @property
    def nodata(self) -> float | int:
        return CLASS_NODATA if self.is_classes else FLOAT_NODATA

    @property
    def overview_resampling(self) -> str:
        return "nearest" if self.is_classes else "average"

    def to_storage(self, values: np.ndarray) -> np.ndarray:
        """Values as stored: NaN (continuous) or negative codes (classes) become nodata."""
        if self.is_classes:
            codes = np.where(np.isfinite(values) & (values >= 0), values, CLASS_NODATA)
            return codes.astype(np.uint8)
        return np.where(np.isfinite(values), values, FLOAT_NODATA).astype(np.float32)
