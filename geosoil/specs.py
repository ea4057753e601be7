"""What a model reads and writes, as recorded in its artifact header (DESIGN 4.3).

:class:`InputSpec` names the covariate layers (or the spectral axis) a model takes and
:class:`OutputSpec` the variables it predicts, with units and back-transform. They are value
objects: the artifact file format (:mod:`geosoil.artifacts`), the estimators and the mapping
engine all use them, and they import nothing of geosoil.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["InputLayer", "InputSpec", "OutputSpec"]


class _Header(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputLayer(_Header):
    name: str
    units: str = ""
    categorical: bool = False


class InputSpec(_Header):
    """What the model reads: named covariate layers (or, later, a spectral axis)."""

    kind: Literal["covariates", "spectra"]
    layers: list[InputLayer] = Field(default_factory=list)
    axis: list[float] | None = None
    axis_unit: Literal["cm-1", "nm"] | None = None
    crs: str | None = None
    """CRS of the inputs that are coordinates (kriging models), None where there are none
    or they are in the map grid's CRS."""

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]


class OutputSpec(_Header):
    names: list[str]
    units: list[str]
    back_transform: Literal["none", "log10"] = "none"
