"""Configs of the SOC workflows: ``geosoil train`` on profiles, ``geosoil soc-cells``.

A training config is recognised by its ``profiles:`` section (a folder in the ``binn_ny``
layout, see :func:`geosoil.io.profiles.read_binn_ny`); a cells config maps a trained
artifact over the prediction cells of such a folder.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from geosoil.config.base import StrictModel
from geosoil.config.common import EstimatorConfig, OutputConfig

__all__ = [
    "GLOBALSOILMAP_DEPTHS_CM",
    "ProfileCVConfig",
    "ProfilesConfig",
    "SocCellsConfig",
    "SocModelConfig",
    "SocTrainConfig",
]

# The GlobalSoilMap depth intervals down to 1 m, as boundaries in cm.
GLOBALSOILMAP_DEPTHS_CM = (0.0, 5.0, 15.0, 30.0, 60.0, 100.0)
_COLUMN_BOTTOM_CM = 860.0  # bottom of the CLM5 soil column


class ProfilesConfig(StrictModel):
    """A profile folder (``Training_Data/``) and what to drop while reading it."""

    path: Path = Field(description="folder holding Training_Data/ (binn_ny layout)")
    part: Literal["training", "prediction"] = Field(
        default="training", description="which part of the folder: training (with SOC) only"
    )
    drop_incomplete: bool = Field(
        default=False, description="drop profiles with a missing covariate or forcing value"
    )
    drop_empty: bool = Field(
        default=False, description="drop profiles without any valid SOC observation"
    )

    @field_validator("part")
    @classmethod
    def _training_part(cls, part: str) -> str:
        if part != "training":
            raise ValueError(
                "a model trains on the 'training' part; prediction cells have no SOC "
                "observations (map them with `geosoil soc-cells`)"
            )
        return part


class SocModelConfig(EstimatorConfig):
    """``binn`` (MLP encoder) or ``sciren`` (KAN encoder) and its hyperparameters."""

    estimator: Literal["binn", "sciren"] = Field(
        default="binn", description="binn: MLP encoder; sciren: KAN encoder"
    )


class ProfileCVConfig(StrictModel):
    """k-fold cross-validation over whole profiles before the final fit."""

    enabled: bool = Field(default=False, description="cross-validate before the final fit")
    n_folds: int = Field(default=10, ge=2, description="folds of whole profiles")
    seed: int = Field(default=0, ge=0, description="seed of the fold assignment")
    intervals: bool = Field(
        default=True,
        description="calibrate conformal prediction intervals on the out-of-fold residuals "
        "and store them in the artifact (geosoil.trust.profiles)",
    )
    interval_level: float = Field(
        default=0.9, gt=0, lt=1, description="coverage of the intervals reported and chosen for"
    )
    baselines: list[Literal["depth_only", "gbm"]] = Field(
        default=["depth_only", "gbm"],
        description=(
            "baselines scored under the same folds and compared in the report: depth_only (mean "
            "SOC per depth interval, no covariates), gbm (LightGBM on covariates plus depth)"
        ),
    )


class SocTrainConfig(StrictModel):
    """``geosoil train`` on SOC profiles: BINN or ScIReN -> artifact, metrics, CV report."""

    profiles: ProfilesConfig
    model: SocModelConfig = Field(default_factory=SocModelConfig)
    cv: ProfileCVConfig = Field(default_factory=ProfileCVConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)


class CellsConfig(StrictModel):
    """Prediction cells (``Prediction_Data/``) on a regular lon/lat lattice."""

    path: Path = Field(description="folder holding Prediction_Data/ (binn_ny layout)")
    drop_incomplete: bool = Field(
        default=True, description="leave cells with a missing value as nodata (else refuse)"
    )
    resolution_deg: tuple[float, float] | None = Field(
        default=None,
        description="(lon, lat) cell size in degrees; inferred from the cell centres if null",
    )

    @field_validator("resolution_deg")
    @classmethod
    def _positive(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not (value[0] > 0 and value[1] > 0):
            raise ValueError("cells.resolution_deg must be two positive sizes (lon, lat)")
        return value


class SocCellsConfig(StrictModel):
    """``geosoil soc-cells``: a trained BINN/ScIReN artifact over prediction cells -> COGs."""

    model: Path = Field(description="artifact written by `geosoil train` on profiles")
    cells: CellsConfig
    depths_cm: list[float] = Field(
        default_factory=lambda: list(GLOBALSOILMAP_DEPTHS_CM),
        description="boundaries of the SOC density intervals, cm, increasing from >= 0",
    )
    interval_level: float | None = Field(
        default=0.9,
        gt=0,
        lt=1,
        description="coverage of the _lo/_hi bound layers of the densities and stocks, from "
        "the artifact's conformal calibration (trained with cv.enabled); null: no bounds",
    )
    output: OutputConfig = Field(default_factory=OutputConfig)

    @field_validator("depths_cm")
    @classmethod
    def _increasing(cls, depths: list[float]) -> list[float]:
        if len(depths) < 2:
            raise ValueError("depths_cm needs at least two boundaries, e.g. [0, 30]")
        if depths[0] < 0 or any(b <= a for a, b in pairwise(depths)):
            raise ValueError("depths_cm must increase strictly from 0 cm or deeper")
        if depths[-1] > _COLUMN_BOTTOM_CM:
            raise ValueError(f"depths_cm must end within the CLM5 column ({_COLUMN_BOTTOM_CM} cm)")
        return depths
