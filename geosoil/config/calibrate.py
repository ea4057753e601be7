"""Config of ``geosoil calibrate``: MdPL land-surface parameter learning at flux towers.

A run reads flux-tower records (``sites``), trains a surrogate of the simulator on
Latin-hypercube parameter sets, trains the parameter generator g_z through the frozen
surrogate against the observed sensible and latent heat, and evaluates calibrated against
default parameters in the real simulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from geosoil.config.base import StrictModel
from geosoil.config.common import OutputConfig

__all__ = [
    "CalibrateConfig",
    "FluxSiteConfig",
    "MdplEvaluationConfig",
    "SimulatorConfig",
    "SurrogateConfig",
]

FillValue = float | Literal["interpolate", "mean_diurnal"]


class FluxSiteConfig(StrictModel):
    """A flux CSV (one or more sites), an ALMA NetCDF met/flux pair, or a folder of pairs.

    A folder holds PLUMBER2-style ``<name>_Met.nc`` files, each with its ``<name>_Flux.nc``.

    ``fill`` declares how gaps and absent variables are filled, per canonical forcing
    name (``wind_m_s: 2.0``, ``tair_c: interpolate``); nothing is filled unless declared.
    """

    path: Path | None = Field(default=None, description="a flux CSV (REddyProc or FLUXNET layout)")
    met: Path | None = Field(default=None, description="an ALMA/PLUMBER2 met NetCDF")
    flux: Path | None = Field(default=None, description="the matching ALMA flux NetCDF")
    folder: Path | None = Field(default=None, description="a folder of *_Met.nc/*_Flux.nc pairs")
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="site attributes the file lacks, e.g. igbp: ENF"
    )
    fill: dict[str, FillValue] = Field(
        default_factory=dict,
        description="per forcing name: a constant (in the canonical unit), interpolate (short "
        "gaps) or mean_diurnal (mean of the same time of day)",
    )
    units: dict[str, str] = Field(
        default_factory=dict, description="declared units of file columns, e.g. VPD: hPa"
    )
    max_qc: int = Field(default=1, ge=0, le=3, description="FLUXNET qc kept for observed H, LE")

    @model_validator(mode="after")
    def _one_source(self) -> FluxSiteConfig:
        if sum(x is not None for x in (self.path, self.met, self.folder)) != 1:
            raise ValueError(
                "give each sites entry one of path (a CSV), met (+ flux) NetCDF files, "
                "or folder (ALMA pairs)"
            )
        if self.flux is not None and self.met is None:
            raise ValueError("flux is the ALMA flux file that goes with met; set met too")
        return self


class SimulatorConfig(StrictModel):
    """The land surface model behind one interface: geosoil's own, a command or a callable.

    ``parameters`` (name, unit, lower, upper, default for each) declare an external model's
    parameters; geosoil's own model uses its table and IGBP defaults. The keys are checked by
    :func:`geosoil.models.lsm.simulators.simulator_from_spec`.
    """

    kind: Literal["lsm", "command", "python"] = Field(
        default="lsm",
        description="lsm: geosoil's own model; command: an external program; python: a callable",
    )
    command: list[str] | str | None = Field(
        default=None,
        description="kind command: the program and arguments, with {forcing}, {parameters} "
        "and {output} placeholders",
    )
    callable: str | None = Field(default=None, description="package.module:function")
    parameters: list[dict[str, Any]] | None = Field(
        default=None,
        description="external models: name, unit, lower, upper, default of each parameter",
    )
    timeout_s: float | None = Field(
        default=None, gt=0, description="kind command: seconds one run may take"
    )
    keep_failed: bool | None = Field(
        default=None, description="kind command: keep a failed run's folder for inspection"
    )
    initial_soil_water_fraction: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="kind lsm: bucket filling at the start (0-1; 1 if null)",
    )

    def spec(self) -> dict[str, Any]:
        """The mapping :func:`geosoil.models.lsm.simulators.simulator_from_spec` reads."""
        return self.model_dump(exclude_none=True)


class SurrogateConfig(StrictModel):
    """Step 1: the multi-task surrogate, trained on simulator runs over a Latin hypercube."""

    path: Path | None = Field(
        default=None, description="reuse a surrogate saved by an earlier run instead of training"
    )
    n_parameter_sets: int = Field(
        default=96, ge=4, description="Latin-hypercube parameter sets simulated per site (training)"
    )
    n_valid_sets: int = Field(
        default=24,
        ge=2,
        description="held-out parameter sets per site: half for early stopping, half for accuracy",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="further fit_surrogate settings (epochs, hidden, ...)"
    )


class MdplEvaluationConfig(StrictModel):
    """Step 3: calibrated against default parameters in the real simulator."""

    leave_one_site_out: bool = Field(
        default=True, description="also train g_z without each site (or site_folds group)"
    )
    site_folds: int | None = Field(
        default=None,
        ge=2,
        description="hold stations out in this many groups instead of one by one (many sites)",
    )
    default_parameters: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="per IGBP class, overrides of the default parameters",
    )
    truth: Path | None = Field(
        default=None, description="truth.csv of a synthetic world: parameter recovery"
    )


class CalibrateConfig(StrictModel):
    """``geosoil calibrate``: surrogate -> g_z -> calibrated vs default parameters."""

    sites: list[FluxSiteConfig] = Field(min_length=1)
    site_table: Path | None = Field(
        default=None,
        description="CSV with a 'site' column and site attributes the flux files lack",
    )
    period: Literal["record", "month"] = Field(
        default="month", description="one g_z sample per site record or per calendar month"
    )
    min_period_days: float = Field(
        default=10.0, gt=0, description="with period month: shortest month kept, days"
    )
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    surrogate: SurrogateConfig = Field(default_factory=SurrogateConfig)
    generator: dict[str, Any] = Field(
        default_factory=dict, description="ParameterGenerator hyperparameters"
    )
    evaluation: MdplEvaluationConfig = Field(default_factory=MdplEvaluationConfig)
    seed: int = Field(default=0, ge=0, description="seed of the hypercubes and the networks")
    threads: int = Field(
        default=1, ge=1, description="torch threads of the surrogate and g_z training"
    )
    output: OutputConfig = Field(default_factory=OutputConfig)

    @field_validator("sites")
    @classmethod
    def _distinct(cls, sites: list[FluxSiteConfig]) -> list[FluxSiteConfig]:
        seen = set()
        for site in sites:
            key = site.path or site.met or site.folder
            if key in seen:
                raise ValueError(f"sites lists {key} twice")
            seen.add(key)
        return sites
