"""Config of ``geosoil map``: artifacts, products, covariates, cube, grid, output, execution."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from geosoil.config.base import StrictModel
from geosoil.config.common import CovariatesConfig, GridConfig, OutputConfig
from geosoil.config.cube import CUBE_CHUNK, CubeConfig
from geosoil.geo.grid import DEFAULT_CHUNK_PX

__all__ = [
    "ExecutionConfig",
    "MapConfig",
    "MapModelConfig",
    "MapOutputConfig",
    "MapRunConfig",
    "ProductConfig",
]


class MapModelConfig(StrictModel):
    """One artifact applied in a map run; a bare path is accepted in place of the mapping."""

    path: Path = Field(description="model artifact (.safetensors)")
    name: str | None = Field(
        default=None, description="name of its output layer; the artifact's output name if null"
    )
    uncertainty: bool = Field(
        default=False,
        description="also map the model's own, uncalibrated spread: <name>_spread_sd, "
        "<name>_spread_lo, <name>_spread_hi (models with predict_dist)",
    )
    aoa: bool | None = Field(
        default=None,
        description="map <name>_di and <name>_aoa (covariate models) or <name>_t2, <name>_q, "
        "<name>_in_domain (spectral models); null: when the artifact has them, false: never",
    )
    intervals: bool | None = Field(
        default=None,
        description="map the conformal bounds <name>_lo and <name>_hi (SOC models: of each "
        "stock); null: when the artifact has a calibration, false: never",
    )
    interval_level: float = Field(default=0.9, description="coverage of <name>_lo/_hi, in (0, 1)")


class ProductConfig(StrictModel):
    """A decision layer computed from the mapped layers in the same pass."""

    name: str = Field(description="product name, e.g. k_fertilizer")
    params: dict[str, Any] = Field(default_factory=dict, description="the product's settings")


class MapOutputConfig(OutputConfig):
    """Map outputs: which formats, and what to do with an earlier run's output."""

    resume: bool = Field(default=False, description="finish an interrupted run")
    format: Literal["cog", "zarr", "both"] = Field(
        default="cog", description="COG GeoTIFFs, one Zarr store, or both"
    )

    @model_validator(mode="after")
    def _resume_or_overwrite(self) -> MapOutputConfig:
        if self.resume and self.overwrite:
            raise ValueError("output.resume and output.overwrite exclude each other; pick one")
        return self


class ExecutionConfig(StrictModel):
    """Where blocks run: threads here (default), local worker processes, or a cluster."""

    threads: int | None = Field(default=None, ge=1, description="threads; all cores if null")
    workers: int | None = Field(default=None, ge=1, description="local dask worker processes")
    scheduler: str | None = Field(default=None, description="address of a dask scheduler")
    progress: bool = Field(default=True, description="progress bar on a terminal")

    @model_validator(mode="after")
    def _one_cluster(self) -> ExecutionConfig:
        if self.workers is not None and self.scheduler is not None:
            raise ValueError("execution.workers and execution.scheduler exclude each other")
        return self


class MapRunConfig(StrictModel):
    """How a map run writes and runs: the section ``geosoil map``, ``recommend
    k-fertilizer`` and ``recommend pb-risk`` share (output, chunk, batch_pixels, execution).
    """

    output: MapOutputConfig = Field(default_factory=MapOutputConfig)
    chunk: int = Field(
        default=DEFAULT_CHUNK_PX,
        ge=16,
        le=8192,
        description="block side in pixels (Zarr chunks); 256 with a cube; clamped to the grid",
    )
    max_pixels: int = Field(
        default=10_000_000_000,
        ge=1,
        description="largest grid (width x height) accepted; raise it for a really huge run",
    )
    batch_pixels: int = Field(
        default=8192, ge=1, description="pixels per forward pass (small batches stay in cache)"
    )
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)

    def map_run_fields(self, out_dir: Path, *, resume: bool) -> dict[str, Any]:
        """This section as the fields of a :class:`MapConfig` writing into ``out_dir``."""
        return {
            "output": {"dir": out_dir, "resume": resume, "format": self.output.format},
            "chunk": self.chunk,
            "max_pixels": self.max_pixels,
            "batch_pixels": self.batch_pixels,
            "execution": self.execution.model_dump(),
        }


class MapConfig(MapRunConfig):
    """``geosoil map``: artifacts + covariates and/or an image cube -> map layers.

    Covariate models read ``covariates``; spectral models read ``cube``. Without a ``grid``
    section the map lies on the cube's grid (``grid.reference: cube`` says so explicitly,
    and allows an ``aoi``); a run without a cube needs a ``grid``. With a cube, ``chunk``
    defaults to 256: a block holds every good band of the cube.
    """

    models: list[MapModelConfig] = Field(
        default_factory=list, description="artifacts; may be empty when products read rasters"
    )
    products: list[ProductConfig] = Field(default_factory=list)
    covariates: CovariatesConfig | None = None
    cube: CubeConfig | None = None
    grid: GridConfig | None = Field(default=None, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _cube_chunk(cls, data: Any) -> Any:
        # A block of a cube holds every good band: 1024 x 1024 x 200 float32 would be 800 MB.
        if isinstance(data, dict) and data.get("cube") is not None and "chunk" not in data:
            return {**data, "chunk": CUBE_CHUNK}
        return data

    @field_validator("grid")
    @classmethod
    def _grid_or_cube(cls, value: GridConfig | None, info: ValidationInfo) -> GridConfig | None:
        if "cube" not in info.data:
            return value  # the cube section failed validation: that error is reported
        has_cube = info.data["cube"] is not None
        if value is None and not has_cube:
            raise ValueError(
                "a map without a cube needs a grid: set grid.reference (a covariate name or a "
                "raster path), or grid.crs and grid.resolution_m with grid.bounds or grid.aoi"
            )
        if value is not None and value.reference == "cube" and not has_cube:
            raise ValueError("grid.reference 'cube' needs a cube section")
        return value

    @model_validator(mode="after")
    def _something_to_map(self) -> MapConfig:
        if not self.models and not self.products:
            raise ValueError("nothing to map: list models (artifacts) or products, or both")
        return self

    @field_validator("models", mode="before")
    @classmethod
    def _paths_as_entries(cls, value: Any) -> Any:
        if isinstance(value, (str, Path)):
            value = [value]
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, (str, Path)) else v for v in value]
        return value

    def result_defining(self) -> dict[str, Any]:
        """The settings that decide the output values (not where or how the run went).

        The chunk is left out: any chunking gives the same values (and the same COG bytes).
        """
        return self.model_dump(mode="json", exclude={"output", "execution", "chunk", "max_pixels"})
