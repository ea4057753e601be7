"""Configs of ``geosoil synth`` and ``geosoil train`` (covariate models)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from geosoil.config.base import StrictModel
from geosoil.config.common import (
    CovariatesConfig,
    EvaluationConfig,
    ModelConfig,
    OutputConfig,
    SamplesConfig,
    TrustConfig,
)

__all__ = ["SynthConfig", "TrainConfig", "TrainCovariatesConfig"]


class SynthConfig(StrictModel):
    """``geosoil synth``: which synthetic world to write."""

    size: Literal["small", "medium", "large"] = Field(
        default="small", description="extent of the synthetic world"
    )
    seed: int = Field(default=0, ge=0, description="seed of the synthetic world")


class TrainCovariatesConfig(CovariatesConfig):
    """Covariates from a catalog (extracted at the points), or columns of the sample table.

    With ``columns`` the samples already carry their covariates; the artifact records the
    names, and mapping it later needs a catalog with layers of those names.
    """

    catalog: Path | None = Field(
        default=None,
        description="covariate catalog YAML (see the `catalog` section); or give `columns`",
    )
    columns: list[str] | None = Field(
        default=None, min_length=1, description="covariate columns of the sample table"
    )
    categorical: list[str] = Field(
        default_factory=list, description="columns (of `columns`) holding classes"
    )

    @model_validator(mode="after")
    def _one_source(self) -> TrainCovariatesConfig:
        if (self.catalog is None) == (self.columns is None):
            raise ValueError(
                "set covariates.catalog (rasters) or covariates.columns (a table), not both"
            )
        if self.columns is None and self.categorical:
            raise ValueError(
                "covariates.categorical goes with covariates.columns; a catalog declares its "
                "categorical layers itself"
            )
        unknown = [c for c in self.categorical if c not in (self.columns or [])]
        if unknown:
            raise ValueError(f"covariates.categorical {unknown} are not in covariates.columns")
        return self


class TrainConfig(StrictModel):
    """``geosoil train``: samples + covariates -> artifact + evaluation report."""

    samples: SamplesConfig
    covariates: TrainCovariatesConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    trust: TrustConfig = Field(default_factory=TrustConfig)
