"""The product contract: a pure function over named block layers, declared by its params.

A product reads layers by name (model outputs or covariates of the same run), returns new
layers, and never does I/O, so the mapping engine can run it on every block, on any worker.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from geosoil.errors import ConfigError
from geosoil.geo.outputs import OutputVariable

__all__ = [
    "OUTSIDE_APPLICABILITY",
    "Product",
    "build_product",
    "get_product_class",
    "outside_applicability",
    "register_product",
    "trust_flag_layers",
]

# The legend label of pixels where the model is not to be trusted: outside the area of
# applicability of a covariate model, or out of the training spectra's domain.
OUTSIDE_APPLICABILITY = "outside applicability: the model was not trained for such conditions"
_TRUST_SUFFIXES = ("aoa", "in_domain")


def trust_flag_layers(layer: str) -> list[str]:
    """The layers that flag where ``layer`` (a model output) is not to be trusted."""
    return [f"{layer}_{suffix}" for suffix in _TRUST_SUFFIXES]


def outside_applicability(layers: Mapping[str, np.ndarray], layer: str, shape) -> np.ndarray:
    """Boolean: pixels whose ``layer`` comes from outside its model's AOA or spectral domain."""
    outside = np.zeros(shape, dtype=bool)
    for name in trust_flag_layers(layer):
        if name in layers:
            flag = np.asarray(layers[name])
            outside |= np.isfinite(flag) & (flag < 0.5)
    return outside


_PRODUCTS: dict[str, type[Product]] = {}


class Product(ABC):
    """Base class of decision layers.

    Subclasses set ``name`` (the registry key used in configs) and ``Params`` (a pydantic
    model of their settings), and implement :meth:`inputs`, :meth:`outputs` and
    :meth:`compute`.
    """

    name: ClassVar[str]

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, params: Params) -> None:
        self.params = params

    @abstractmethod
    def inputs(self) -> list[str]:
        """Names of the layers this product reads."""

    def optional_inputs(self) -> list[str]:
        """Layers read when the run has them (e.g. a model's ``<name>_aoa``), else skipped."""
        return []

    @abstractmethod
    def outputs(self) -> list[OutputVariable]:
        """The layers this product writes."""

    @abstractmethod
    def compute(self, layers: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Output arrays (float, NaN where undefined) from input arrays of one block."""


def register_product(cls: type[Product]) -> type[Product]:
    """Class decorator: make a product available to configs by its ``name``."""
    _PRODUCTS[cls.name] = cls
    return cls


def get_product_class(name: str, *, source: str | Path | None = None) -> type[Product]:
    """The product class registered under ``name``."""
    if name not in _PRODUCTS:
        close = difflib.get_close_matches(name, _PRODUCTS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(
            f"unknown product '{name}'",
            path=source,
            field="products.name",
            fix=f"{hint}available products: {', '.join(sorted(_PRODUCTS))}",
        )
    return _PRODUCTS[name]


def build_product(
    name: str, params: Mapping[str, Any], *, source: str | Path | None = None
) -> Product:
    """A product from its registry name and its (validated) parameters."""
    cls = get_product_class(name, source=source)
    try:
        return cls(cls.Params.model_validate(dict(params)))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(
            f"product '{name}': {first['msg']}",
            path=source,
            field=f"products.{name}.params" + (f".{where}" if where else ""),
            fix=f"see the parameters of '{name}': {', '.join(cls.Params.model_fields)}",
        ) from err
