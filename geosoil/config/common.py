"""Config sections shared by several workflows: samples, covariates, model, grid, output."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from geosoil.config.base import StrictModel
from geosoil.errors import ConfigError

__all__ = [
    "CovariatesConfig",
    "EstimatorConfig",
    "EvaluationConfig",
    "GridConfig",
    "ModelConfig",
    "OutputConfig",
    "SamplesConfig",
    "TrustConfig",
]


class SamplesConfig(StrictModel):
    """Where the sample points are and which column to learn."""

    path: Path = Field(description="sample points: GeoPackage, GeoJSON, Shapefile, CSV or Parquet")
    target: str = Field(description="column holding the soil property to learn")
    target_units: str = Field(default="", description="units of the target, written to outputs")
    layer: str | None = Field(default=None, description="layer name in a multi-layer GeoPackage")
    crs: str | None = Field(
        default=None, description="CRS of x/y columns for CSV tables (e.g. EPSG:32654)"
    )
    x_column: str = Field(default="x", description="easting/longitude column of a table")
    y_column: str = Field(default="y", description="northing/latitude column of a table")
    id_column: str | None = Field(
        default=None, description="sample id column, copied into cv_predictions.csv"
    )


class CovariatesConfig(StrictModel):
    """Which covariate layers to use, from a catalog file (``covariates.yaml``)."""

    catalog: Path = Field(description="covariate catalog YAML (see the `catalog` section)")
    names: list[str] | None = Field(
        default=None, description="layers to use, in order; all layers of the catalog when null"
    )


class EstimatorConfig(StrictModel):
    """The estimator section every command shares: a registry name and its hyperparameters.

    The estimator validates ``params`` itself when it is built (``from_params``), and its
    errors name the field under the section's path.
    """

    estimator: str = Field(description="registry name of the estimator")
    params: dict[str, Any] = Field(
        default_factory=dict, description="hyperparameters, checked by the estimator"
    )


class ModelConfig(EstimatorConfig):
    """``geosoil train``'s model: a covariate estimator, ``auto`` unless named.

    ``auto`` chooses among the covariate learners by inner cross-validation; its params are
    ``candidates``, ``candidate_params``, ``inner_splits``, ``stack``, ``krige_residuals``
    (regression kriging of the best learner competes: default when the samples have
    coordinates; ``false`` to leave it out), ``seed`` and settings shared by every candidate
    (e.g. ``target_transform``).
    """

    estimator: str = Field(default="auto", description="registry name of the estimator")


class EvaluationConfig(StrictModel):
    """Cross-validation run before the final fit.

    ``predefined`` folds come from the samples' ``fold_column`` (one fold id per sample).
    """

    n_splits: int = Field(default=5, ge=2, description="cross-validation folds")
    schemes: list[Literal["random", "spatial_block", "predefined"]] = Field(
        default_factory=lambda: ["random", "spatial_block"],
        min_length=1,
        description="fold schemes: random rows, square spatial blocks, or the samples' "
        "predefined fold ids",
    )
    spatial_block_size_m: float = Field(
        default=2000.0, gt=0, description="side of a spatial block (metres)"
    )
    fold_column: str | None = Field(
        default=None, description="column of the samples holding predefined fold ids"
    )
    seed: int = Field(default=0, description="seed of the fold assignment")

    @model_validator(mode="after")
    def _predefined_needs_a_column(self) -> EvaluationConfig:
        if "predefined" in self.schemes and self.fold_column is None:
            raise ValueError("evaluation.schemes has 'predefined': set evaluation.fold_column")
        return self


class OutputConfig(StrictModel):
    """Output folder; it is written completely or not at all."""

    dir: Path | None = Field(default=None, description="output folder (or --out)")
    overwrite: bool = Field(
        default=False, description="replace a non-empty output folder (or --overwrite)"
    )

    def required_dir(self) -> Path:
        """The output folder; a ConfigError when neither the config nor ``--out`` names one."""
        if self.dir is None:
            raise ConfigError(
                "no output folder", field="output.dir", fix="pass --out DIR or set output.dir"
            )
        return Path(self.dir)


class GridConfig(StrictModel):
    """The target grid: a reference layer or raster, or a CRS, resolution and bounds.

    An area of interest (polygons) crops the grid to its bounding box, on the same pixel
    lattice, and masks pixels outside it; without a reference or bounds it also gives the
    extent of a grid defined by CRS and resolution.
    """

    reference: str | None = Field(
        default=None, description="a covariate name from the catalog, or a raster path"
    )
    crs: str | None = Field(default=None, description="CRS of the grid, e.g. EPSG:32654")
    resolution_m: float | None = Field(
        default=None, gt=0, description="pixel size in CRS units (metres for projected CRS)"
    )
    bounds: tuple[float, float, float, float] | None = Field(
        default=None, description="left, bottom, right, top in the grid CRS"
    )
    aoi: Path | None = Field(
        default=None, description="polygons (GeoPackage, GeoJSON, ...) to clip the map to"
    )

    @model_validator(mode="after")
    def _one_way_to_define(self) -> GridConfig:
        explicit = (self.crs, self.resolution_m, self.bounds)
        has_extent = self.bounds is not None or self.aoi is not None
        if self.reference is None and (
            self.crs is None or self.resolution_m is None or not has_extent
        ):
            raise ValueError(
                "set grid.reference (a layer name or raster path), or grid.crs and "
                "grid.resolution_m with grid.bounds or grid.aoi"
            )
        if self.reference is not None and any(v is not None for v in explicit):
            raise ValueError("grid.reference excludes grid.crs/resolution_m/bounds; set one way")
        return self


class TrustConfig(StrictModel):
    """What training stores so that maps say where and how far to trust them."""

    aoa: bool = Field(
        default=True, description="store the area of applicability (CAST DI and threshold)"
    )
    intervals: bool = Field(
        default=True, description="store a conformal calibration of prediction intervals"
    )
    calibration_scheme: Literal["auto", "random", "spatial_block"] = Field(
        default="auto",
        description="CV scheme whose out-of-fold residuals calibrate intervals and the AOA; "
        "auto: spatial_block when it runs, else random",
    )
    importance_weighted: bool = Field(
        default=True, description="weight covariates in the DI by the model's importance"
    )
    min_weight_share: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="every covariate keeps at least this share of an equal DI weight "
        "(in-range importance cannot see extrapolation); 0: CAST's pure importance weights",
    )
    range_margin: float | None = Field(
        default=0.0,
        ge=0,
        description="a continuous covariate beyond the training range by more than this share "
        "of the range puts a pixel outside the AOA (0: any value outside the range, MESS's "
        "novelty rule); null: the DI alone (CAST)",
    )
    back_transform: Literal["median", "mean"] = Field(
        default="median",
        description="for log10 targets: map the median (10**prediction) or the mean",
    )
    mean_method: Literal["smearing", "lognormal"] = Field(
        default="smearing", description="bias correction of the mean: Duan smearing or lognormal"
    )
    level: float = Field(
        default=0.9, gt=0, lt=1, description="coverage the normaliser is chosen for"
    )
