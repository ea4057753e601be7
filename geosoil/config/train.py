"""Configs of ``geosoil synth`` and ``geosoil train`` (covariate models)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from geosoil.config.base import StrictModel
from geosoil.config.common import (
    CovariatesConfig,
    EvaluationConfig,
    ModelConfig,
    OutputConfig,
    SamplesConfig,
    TrustConfig,
)

__all__ = ["SynthConfig", "TrainConfig"]


class SynthConfig(StrictModel):
    """``geosoil synth``: which synthetic world to write."""

    size: Literal["small", "medium", "large"] = Field(
        default="small", description="extent of the synthetic world"
    )
    seed: int = Field(default=0, ge=0, description="seed of the synthetic world")


class TrainConfig(StrictModel):
    """``geosoil train``: samples + covariates -> artifact + evaluation report."""

    samples: SamplesConfig
    covariates: CovariatesConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    trust: TrustConfig = Field(default_factory=TrustConfig)
