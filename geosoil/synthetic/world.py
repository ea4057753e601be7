"""The synthetic world as a value holder, and the contract every component follows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
from affine import Affine

from geosoil.geo.grid import Grid
from geosoil.synthetic.rasters import RasterLayer
from geosoil.synthetic.sizes import WorldSize

__all__ = ["Component", "Spectra", "SyntheticWorld"]


@dataclass
class Spectra:
    """Spectra of the samples of one kind (``mir`` or ``visnir``).

    Parameters
    ----------
    kind
        Short name used in the file name ``spectra_<kind>.parquet``.
    axis
        Band positions, strictly increasing.
    axis_unit
        ``cm-1`` (wavenumber) or ``nm`` (wavelength).
    quantity
        ``absorbance`` or ``reflectance``.
    values
        float32 matrix (n_samples, n_bands), rows in the order of ``sample_ids``.
    sample_ids
        Sample identifiers matching ``SyntheticWorld.samples.sample_id``.
    """

    kind: str
    axis: np.ndarray
    axis_unit: str
    quantity: str
    values: np.ndarray
    sample_ids: list[str]

    def column_names(self) -> list[str]:
        """Column names of the wide table: ``wn_600``... or ``nm_400``..."""
        prefix = "wn" if self.axis_unit == "cm-1" else "nm"
        return [f"{prefix}_{value:g}" for value in self.axis]


@dataclass
class SyntheticWorld:
    """A generated region with known truth, held in memory.

    Parameters
    ----------
    size_name, size, seed
        How it was generated.
    crs, transform, width, height
        The main grid (projected, metres); every array in ``latent`` lies on it.
    covariates
        Covariate layers as delivered, by name (a few are on another CRS or resolution).
    truth
        True soil property maps on the main grid, by name.
    latent
        Hidden per-pixel fields on the main grid that drive truth and spectra (the fine-grid
        climate, clay mineral shares, iron oxides, carbonate, the lake mask...).
    landmarks
        Named points (x, y) in the main CRS, e.g. the mine.
    samples
        Sample points with lab values and covariates at the points.
    spectra
        Spectra by kind (``mir``, ``visnir``).
    extra
        Outputs of later components, by component name, so a new component does not need a
        new field here.
    """

    size_name: str
    size: WorldSize
    seed: int
    crs: str
    transform: Affine
    width: int
    height: int
    covariates: dict[str, RasterLayer] = field(default_factory=dict)
    truth: dict[str, RasterLayer] = field(default_factory=dict)
    latent: dict[str, np.ndarray] = field(default_factory=dict)
    landmarks: dict[str, tuple[float, float]] = field(default_factory=dict)
    samples: gpd.GeoDataFrame | None = None
    spectra: dict[str, Spectra] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pixel_m(self) -> float:
        """Pixel size of the main grid in metres."""
        return float(self.transform.a)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the main grid."""
        return self.height, self.width

    @property
    def grid(self) -> Grid:
        """The main grid as the mapping side's value object."""
        return Grid(self.crs, self.transform, self.width, self.height)

    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x of every column centre and y of every row centre, in the main CRS (float64)."""
        return self.grid.coords()

    def main_layer(
        self,
        name: str,
        data: np.ndarray,
        *,
        units: str,
        nodata: float,
        categorical: bool = False,
        description: str = "",
    ) -> RasterLayer:
        """A layer on the main grid."""
        return RasterLayer(
            name=name,
            data=data,
            crs=self.crs,
            transform=self.transform,
            units=units,
            nodata=nodata,
            categorical=categorical,
            description=description,
        )


@dataclass(frozen=True)
class Component:
    """One part of the world: how to build it in memory, write it, and describe its files.

    Parameters
    ----------
    name
        Unique name; also names the component's random stream, so it must never change.
    build
        ``build(world, rng)`` fills the world in place from earlier components' results.
    write
        ``write(world, out_dir)`` writes the component's files and returns logical name ->
        path.
    describe
        ``describe(world)`` returns the Markdown section of the README for these files.
    """

    name: str
    build: Callable[[SyntheticWorld, np.random.Generator], None]
    write: Callable[[SyntheticWorld, Path], dict[str, Path]]
    describe: Callable[[SyntheticWorld], str]
