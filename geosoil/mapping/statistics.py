"""Per-band statistics gathered block by block and merged in a fixed order."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["SIGNIFICANT_DIGITS", "BandStatistics"]

SIGNIFICANT_DIGITS = 8


def _significant(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


@dataclass(frozen=True)
class BandStatistics:
    """Count, sum, sum of squares, min and max of a band's valid pixels.

    Blocks are summarized on their own and merged in block order, so the result does not
    depend on which worker finished first or on a resume. Sums over other block sizes round
    differently (in the 13th digit or so), so :attr:`mean` and :attr:`std` are given to
    :data:`SIGNIFICANT_DIGITS` digits (float32 maps hold about 7): the same map in any chunking
    gets the same statistics, and the same bytes.
    """

    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")

    @classmethod
    def of(cls, values: np.ndarray) -> BandStatistics:
        """Statistics of the finite values of an array."""
        valid = values[np.isfinite(values)].astype(np.float64)
        if not valid.size:
            return cls()
        return cls(
            count=int(valid.size),
            total=float(valid.sum()),
            total_sq=float(np.square(valid).sum()),
            minimum=float(valid.min()),
            maximum=float(valid.max()),
        )

    def merge(self, other: BandStatistics) -> BandStatistics:
        return BandStatistics(
            count=self.count + other.count,
            total=self.total + other.total,
            total_sq=self.total_sq + other.total_sq,
            minimum=min(self.minimum, other.minimum),
            maximum=max(self.maximum, other.maximum),
        )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def mean(self) -> float:
        return _significant(self.total / self.count) if self.count else float("nan")

    @property
    def std(self) -> float:
        if not self.count:
            return float("nan")
        mean = self.total / self.count
        return _significant(max(self.total_sq / self.count - mean**2, 0.0) ** 0.5)

    def display_range(self) -> tuple[float, float]:
        """Mean +- 2 sd clipped to the data range: a stretch that outliers do not wash out."""
        return (
            max(self.minimum, self.mean - 2 * self.std),
            min(self.maximum, self.mean + 2 * self.std),
        )

    def as_gdal_tags(self, n_pixels: int) -> dict[str, str]:
        """GDAL's ``STATISTICS_*`` band tags, which QGIS uses for its default stretch."""
        if not self.count:
            return {}
        return {
            "STATISTICS_MINIMUM": repr(self.minimum),
            "STATISTICS_MAXIMUM": repr(self.maximum),
            "STATISTICS_MEAN": repr(self.mean),
            "STATISTICS_STDDEV": repr(self.std),
            "STATISTICS_VALID_PERCENT": repr(100.0 * self.count / n_pixels),
        }
