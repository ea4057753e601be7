"""Config of ``geosoil finetune``: a pretrained spectral artifact adapted to a small target set."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from geosoil.config.base import StrictModel
from geosoil.config.common import OutputConfig
from geosoil.config.evaluate import (
    SEED,
    TARGET_TRANSFORM,
    VALID_FRACTION,
    LabelledSpectraConfig,
    ResampleConfig,
)

__all__ = ["FinetuneConfig"]


class FinetuneConfig(StrictModel):
    """``geosoil finetune``: start from a parent artifact, freeze groups, train the rest.

    The parent's estimator and hyperparameters are kept; ``params`` overrides some of them
    for the fine-tune (typically the epochs and learning rates). The new artifact records
    its parent's SHA-256. Target spectra on another axis than the parent's are refused
    unless ``resample_to_parent`` (or ``spectra.resample``) says to interpolate them.
    """

    parent: Path = Field(description="the pretrained artifact (.safetensors)")
    spectra: LabelledSpectraConfig
    freeze: list[str] = Field(
        default_factory=lambda: ["features"],
        description="layer groups kept as the parent learned them (convolutional: features)",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="hyperparameters replacing the parent's"
    )
    resample_to_parent: bool = Field(
        default=False, description="interpolate the target spectra onto the parent's axis"
    )
    target_transform: Literal["none", "log10"] = Field(
        default="log10", description=TARGET_TRANSFORM
    )
    valid_fraction: float = Field(default=0.1, gt=0, lt=1, description=VALID_FRACTION)
    group_column: str | None = Field(
        default=None, description="hold out whole groups (sites) for validation"
    )
    seed: int = Field(default=0, ge=0, description=SEED)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _one_resampling(self) -> FinetuneConfig:
        if self.resample_to_parent and self.spectra.resample is not None:
            raise ValueError("set resample_to_parent or spectra.resample, not both")
        reserved = sorted({"init_from", "freeze"} & set(self.params))
        if reserved:
            raise ValueError(f"params {reserved} are set by parent: and freeze: of the config")
        return self

    def target_spectra(self) -> LabelledSpectraConfig:
        """The spectra section, resampled onto the parent's axis when asked."""
        if not self.resample_to_parent:
            return self.spectra
        return self.spectra.model_copy(update={"resample": ResampleConfig(like=self.parent)})
