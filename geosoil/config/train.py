"""Configs of ``geosoil train`` (covariate models, spectra, SOC profiles) and ``geosoil synth``.

``geosoil train`` picks its config by the sections it finds: ``spectra:``
(:class:`SpectralTrainConfig`), ``profiles:`` (:class:`SocTrainConfig`), else
:class:`TrainConfig`.
"""

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
)
from geosoil.config.evaluate import LabelledSpectraConfig, SpectralModelConfig
from geosoil.config.soc_cells import ProfileCVConfig, ProfilesConfig, SocModelConfig

__all__ = ["SocTrainConfig", "SpectralTrainConfig", "SynthConfig", "TrainConfig"]


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


class SpectralTrainConfig(StrictModel):
    """``geosoil train`` on spectra: one artifact fitted on all samples.

    A share ``valid_fraction`` of the samples (whole groups of ``group_column`` when set) is
    held out for early stopping or the choice of PLS components; the metrics JSON reports
    the fit on it (optimistic: it steered the fit) and on the training part.
    """

    spectra: LabelledSpectraConfig
    model: SpectralModelConfig
    target_transform: Literal["none", "log10"] = "log10"
    valid_fraction: float = Field(default=0.1, gt=0, lt=1)
    group_column: str | None = Field(
        default=None, description="hold out whole groups (sites) for validation"
    )
    seed: int = Field(default=0, ge=0)
    output: OutputConfig = Field(default_factory=OutputConfig)


class SocTrainConfig(StrictModel):
    """``geosoil train`` on SOC profiles: BINN or ScIReN -> artifact, metrics, CV report."""

    profiles: ProfilesConfig
    model: SocModelConfig = Field(default_factory=SocModelConfig)
    cv: ProfileCVConfig = Field(default_factory=ProfileCVConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
