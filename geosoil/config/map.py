"""Config of ``geosoil map``: artifacts, products, covariates, grid, output and execution."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from geosoil.config.base import StrictModel
from geosoil.config.common import CovariatesConfig, GridConfig, OutputConfig

__all__ = [
    "ExecutionConfig",
    "MapConfig",
    "MapModelConfig",
    "MapOutputConfig",
    "ProductConfig",
]


class MapModelConfig(StrictModel):
    """One artifact applied in a map run; a bare path is accepted in place of the mapping."""

    path: Path
    name: str | None = Field(
        default=None, description="name of its output layer; the artifact's output name if null"
    )
    uncertainty: bool = Field(
        default=False, description="also map std, p05 and p95 (models with predict_dist)"
    )


class ProductConfig(StrictModel):
    """A decision layer computed from the mapped layers in the same pass."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class MapOutputConfig(OutputConfig):
    """Map outputs: which formats, and what to do with an earlier run's output."""

    resume: bool = Field(default=False, description="finish an interrupted run")
    format: Literal["cog", "zarr", "both"] = "cog"

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
    progress: bool = True

    @model_validator(mode="after")
    def _one_cluster(self) -> ExecutionConfig:
        if self.workers is not None and self.scheduler is not None:
            raise ValueError("execution.workers and execution.scheduler exclude each other")
        return self


class MapConfig(StrictModel):
    """``geosoil map``: artifacts + covariates -> map layers as COG and/or Zarr."""

    models: list[MapModelConfig] = Field(min_length=1)
    products: list[ProductConfig] = Field(default_factory=list)
    covariates: CovariatesConfig
    grid: GridConfig
    output: MapOutputConfig = Field(default_factory=MapOutputConfig)
    chunk: int = Field(default=1024, ge=16, description="block side in pixels (Zarr chunks)")
    batch_pixels: int = Field(
        default=8192, ge=1, description="pixels per forward pass (small batches stay in cache)"
    )
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)

    @field_validator("models", mode="before")
    @classmethod
    def _paths_as_entries(cls, value: Any) -> Any:
        if isinstance(value, (str, Path)):
            value = [value]
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, (str, Path)) else v for v in value]
        return value

    def result_defining(self) -> dict[str, Any]:
        """The settings that decide the output values (not where or how the run went)."""
        return self.model_dump(mode="json", exclude={"output", "execution"})
