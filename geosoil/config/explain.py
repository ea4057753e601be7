"""Config of ``geosoil explain``: wavelength attributions of spectral artifacts, per group."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from geosoil.config.base import StrictModel
from geosoil.config.common import OutputConfig
from geosoil.config.evaluate import SpectraConfig

__all__ = ["CovariateExplainConfig", "ExplainConfig"]


class ExplainConfig(StrictModel):
    """``geosoil explain``: GradientShap attributions of spectral models, per group and seed.

    ``models`` lists artifact paths or glob patterns (e.g. the per-seed models that
    ``geosoil evaluate`` saves with ``save_models: true``: ``out/models/cnn_seed*.safetensors``);
    every match is explained on the same samples and the results are aggregated over them
    (mean and sd across artifacts). Relative paths are read from the folder geosoil runs in.

    ``models`` may instead name sets of artifacts (``source:`` the pretrained model,
    ``transferred:`` its fine-tuned child): each set is explained on the same samples and
    the figure shows the sets side by side.
    """

    models: list[str] | dict[str, list[str]] = Field(
        min_length=1,
        description="artifact paths or glob patterns; or named sets of them to compare "
        "side by side (e.g. source: ..., transferred: ...)",
    )
    spectra: SpectraConfig
    group_column: str | None = Field(
        default=None, description="column of the spectra table to group by (soil order, site)"
    )
    max_samples_per_group: int | None = Field(
        default=200, ge=1, description="samples drawn (seeded) from each group; null: all"
    )
    n_samples: int = Field(
        default=50, ge=1, description="GradientShap random draws (baseline, point on the path)"
    )
    baselines: Literal["mean"] | int = Field(
        default="mean",
        description="'mean' (mean preprocessed spectrum) or a number of random spectra",
    )
    stdevs: float = Field(default=0.0, ge=0, description="sd of the noise added to the inputs")
    batch_size: int = Field(default=256, ge=1, description="forward rows per GradientShap pass")
    seed: int = Field(default=0, ge=0, description="seed of the sample draws and baselines")
    output: OutputConfig = Field(default_factory=OutputConfig)

    @field_validator("models", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        # A single pattern is the common case; let it be written without list brackets.
        if isinstance(value, dict):
            return {name: [v] if isinstance(v, str) else v for name, v in value.items()}
        return [value] if isinstance(value, str) else value

    @field_validator("models")
    @classmethod
    def _named_sets(cls, value):
        if isinstance(value, dict):
            for name, patterns in value.items():
                if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
                    raise ValueError(f"model set name {name!r} must be letters, digits, - or _")
                if not patterns:
                    raise ValueError(f"model set {name!r} lists no artifact")
        return value

    def model_sets(self) -> dict[str, list[str]]:
        """Patterns per named set; a plain list is one set named ``models``."""
        if isinstance(self.models, dict):
            return dict(self.models)
        return {"models": list(self.models)}

    @field_validator("baselines")
    @classmethod
    def _positive_count(cls, value):
        if isinstance(value, int) and value < 1:
            raise ValueError("baselines must be 'mean' or a positive number of spectra")
        return value


class CovariateExplainConfig(StrictModel):
    """``geosoil explain`` for a covariate model: permutation importance under the training's
    CV folds, and partial-dependence curves.

    ``training`` is the config the model was trained with (``config.yaml`` beside the
    artifact): it says where the samples and covariates are and how the folds were built.
    """

    artifact: Path = Field(description="covariate model artifact (.safetensors)")
    training: Path = Field(description="its training config (config.yaml beside the artifact)")
    scheme: Literal["spatial_block", "predefined", "random"] | None = Field(
        default=None,
        description="folds for importance; default spatial_block, else predefined, else random",
    )
    n_repeats: int = Field(default=5, ge=1, description="shuffles per covariate and fold")
    pdp_points: int = Field(default=20, ge=2, description="grid values per continuous covariate")
    seed: int = Field(default=0, ge=0, description="seed of the shuffles")
    output: OutputConfig = Field(default_factory=OutputConfig)
