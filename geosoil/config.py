"""Typed configs for every workflow, loaded from YAML once and validated once.

Downstream code receives these objects, never raw dicts. Unknown keys are errors (with a
"did you mean" hint), and ``--set section.key=value`` overrides are applied to the raw YAML
before validation so that they are checked exactly like the file itself.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from geosoil.errors import ConfigError, InputFileNotFoundError

__all__ = [
    "CovariatesConfig",
    "EvaluationConfig",
    "ExecutionConfig",
    "GridConfig",
    "MapConfig",
    "MapModelConfig",
    "MapOutputConfig",
    "ModelConfig",
    "OutputConfig",
    "ProductConfig",
    "SamplesConfig",
    "SynthConfig",
    "TrainConfig",
    "load_config",
    "parse_overrides",
    "save_config",
    "validate_config",
]

ConfigT = TypeVar("ConfigT", bound="StrictModel")


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are refused, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SamplesConfig(StrictModel):
    """Where the sample points are and which column to learn."""

    path: Path
    target: str
    target_units: str = ""
    layer: str | None = Field(default=None, description="layer name in a multi-layer GeoPackage")
    crs: str | None = Field(
        default=None, description="CRS of x/y columns for CSV tables (e.g. EPSG:32654)"
    )
    x_column: str = "x"
    y_column: str = "y"


class CovariatesConfig(StrictModel):
    """Which covariate layers to use, from a catalog file (``covariates.yaml``)."""

    catalog: Path
    names: list[str] | None = Field(
        default=None, description="layers to use, in order; all layers of the catalog when null"
    )


class ModelConfig(StrictModel):
    """Estimator name from the registry and its hyperparameters."""

    estimator: str = "covariate_mlp"
    params: dict[str, Any] = Field(default_factory=dict)


class EvaluationConfig(StrictModel):
    """Cross-validation run before the final fit."""

    n_splits: int = Field(default=5, ge=2)
    schemes: list[Literal["random", "spatial_block"]] = Field(
        default_factory=lambda: ["random", "spatial_block"]
    )
    spatial_block_size_m: float = Field(default=2000.0, gt=0)
    seed: int = 0


class OutputConfig(StrictModel):
    """Output folder; it is written completely or not at all."""

    dir: Path | None = None
    overwrite: bool = False


class GridConfig(StrictModel):
    """The target grid: a reference layer or raster, or a CRS, resolution and bounds.

    An area of interest (polygons) crops the grid to its bounding box, on the same pixel
    lattice, and masks pixels outside it; without a reference or bounds it also gives the
    extent of a grid defined by CRS and resolution.
    """

    reference: str | None = Field(
        default=None, description="a covariate name from the catalog, or a raster path"
    )
    crs: str | None = None
    resolution_m: float | None = Field(default=None, gt=0)
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


class SynthConfig(StrictModel):
    """``geosoil synth``: which synthetic world to write."""

    size: Literal["small", "medium", "large"] = "small"
    seed: int = Field(default=0, ge=0)


class TrainConfig(StrictModel):
    """``geosoil train``: samples + covariates -> artifact + evaluation report."""

    samples: SamplesConfig
    covariates: CovariatesConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)


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


def parse_overrides(items: list[str] | tuple[str, ...]) -> list[tuple[list[str], Any]]:
    """Parse ``section.key=value`` strings; values are read as YAML (numbers, lists, null)."""
    parsed = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"override '{item}' is not of the form section.key=value",
                field="--set",
                fix="write e.g. --set model.params.max_epochs=50",
            )
        try:
            parsed_value = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed_value = value
        parsed.append((key.strip().split("."), parsed_value))
    return parsed


def load_config(
    path: str | Path, model: type[ConfigT], overrides: list[str] | tuple[str, ...] = ()
) -> ConfigT:
    """Load a YAML config into its typed model, applying ``--set`` overrides first.

    Parameters
    ----------
    path
        The YAML file.
    model
        The config class of the workflow, e.g. :class:`TrainConfig`.
    overrides
        Strings ``section.key=value``.

    Raises
    ------
    ConfigError
        Malformed YAML, unknown keys (with a suggestion) or invalid values, naming the key.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(
            "config file not found", path=path, fix="check the path (configs/ holds examples)"
        )
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"config is not valid YAML: {err}", path=path) from err
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("config must be a mapping of sections", path=path, fix="see configs/")
    for keys, value in parse_overrides(overrides):
        _set_nested(raw, keys, value)
    return validate_config(raw, model, source=path)


def validate_config(raw: dict, model: type[ConfigT], *, source: Path | str) -> ConfigT:
    """Validate a raw mapping; turn pydantic's errors into one actionable ConfigError."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise _config_error(err, model, source) from err


def save_config(config: BaseModel, path: str | Path) -> None:
    """Write the resolved config as YAML (what was actually run)."""
    data = config.model_dump(mode="json")
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))


def _set_nested(raw: dict, keys: list[str], value: Any) -> None:
    node = raw
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(
                f"override cannot set '{'.'.join(keys)}': '{key}' is not a section",
                field="--set",
            )
        node = child
    node[keys[-1]] = value


def _config_error(err: ValidationError, model: type[BaseModel], source: Path | str) -> ConfigError:
    first = err.errors()[0]
    loc = [str(part) for part in first["loc"]]
    field = ".".join(loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return ConfigError(
            f"unknown config key '{field}'",
            path=source,
            field=field,
            fix=f"{hint}allowed keys here: {', '.join(allowed)}",
        )
    if first["type"] == "missing":
        return ConfigError(
            f"required config key '{field}' is missing",
            path=source,
            field=field,
            fix=f"add '{field}' to the config or pass --set {field}=...",
        )
    return ConfigError(
        f"invalid value for '{field}': {first['msg']}",
        path=source,
        field=field,
        fix="correct the value in the config or with --set",
    )


def _allowed_keys(model: type[BaseModel], loc: list[str]) -> list[str]:
    """Field names of the (nested) section at ``loc``."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = fields[part].annotation
    fields = getattr(current, "model_fields", {})
    return sorted(fields)
