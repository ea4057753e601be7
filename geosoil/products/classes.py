"""Classes of a mapped layer by thresholds: the generic decision layer behind risk maps."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from geosoil.geo.outputs import MapClass, OutputVariable
from geosoil.geo.product import Product, register_product

__all__ = ["ThresholdClasses"]


class _ClassSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")


@register_product
class ThresholdClasses(Product):
    """Class ``k`` where ``breaks[k-1] <= value < breaks[k]`` (class 0 below the first break).

    Parameters (``Params``)
    -----------------------
    layer
        The layer to classify (a model output or a covariate of the same run).
    breaks
        Increasing thresholds, in the layer's units.
    classes
        One label and colour per class: ``len(breaks) + 1`` entries.
    output
        Name of the class layer; ``<layer>_class`` by default.
    """

    name = "threshold_classes"

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        layer: str
        breaks: tuple[float, ...] = Field(min_length=1)
        classes: tuple[_ClassSpec, ...]
        output: str | None = None

        @model_validator(mode="after")
        def _consistent(self):
            if any(b >= a for a, b in zip(self.breaks[1:], self.breaks, strict=False)):
                raise ValueError("breaks must increase strictly")
            if len(self.classes) != len(self.breaks) + 1:
                raise ValueError(
                    f"{len(self.breaks)} breaks need {len(self.breaks) + 1} classes, "
                    f"got {len(self.classes)}"
                )
            return self

    @property
    def output_name(self) -> str:
        return self.params.output or f"{self.params.layer}_class"

    def inputs(self) -> list[str]:
        return [self.params.layer]

    def outputs(self) -> list[OutputVariable]:
        classes = tuple(
            MapClass(value=code, label=spec.label, color=spec.color)
            for code, spec in enumerate(self.params.classes)
        )
        return [
            OutputVariable(
                name=self.output_name,
                description=f"classes of {self.params.layer} at {list(self.params.breaks)}",
                kind="classes",
                classes=classes,
            )
        ]

    def compute(self, layers: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = layers[self.params.layer]
        codes = np.searchsorted(np.asarray(self.params.breaks), values, side="right")
        return {self.output_name: np.where(np.isfinite(values), codes, np.nan)}
