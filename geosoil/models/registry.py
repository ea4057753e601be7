"""Estimator registry: the only way an artifact header becomes a class.

A header names an estimator by its registry key; the key is looked up here and nothing is ever
imported from a name found in a file, so an edited header cannot make geosoil run code.

The built-in families register themselves when :mod:`geosoil.models` is imported: its
``__init__`` imports each of them, and Python runs it before any of its modules (this one
included), so the registry is complete whenever it can be asked. A new family is added to
that ``__init__``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from geosoil.errors import RegistryError

if TYPE_CHECKING:
    from geosoil.models.base import GeoSoilEstimator

__all__ = ["get_estimator_class", "register", "registered_names"]

_REGISTRY: dict[str, type[GeoSoilEstimator]] = {}

EstimatorT = TypeVar("EstimatorT", bound="type[GeoSoilEstimator]")


def register(cls: EstimatorT) -> EstimatorT:
    """Class decorator adding an estimator under its ``registry_name``."""
    name = cls.registry_name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"estimator name '{name}' is registered twice")
    _REGISTRY[name] = cls
    return cls


def registered_names() -> list[str]:
    """Sorted registry keys."""
    return sorted(_REGISTRY)


def get_estimator_class(
    name: str, *, source: str | Path | None = None, field: str = "estimator"
) -> type[GeoSoilEstimator]:
    """The estimator class registered under ``name``.

    Raises
    ------
    RegistryError
        ``name`` is not registered; the message lists the known names.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise RegistryError(
            f"estimator '{name}' is not a registered geosoil estimator",
            path=source,
            field=field,
            fix=f"use one of {sorted(_REGISTRY)}; an artifact naming another estimator was made "
            "by a newer geosoil or edited by hand, and will not be loaded",
        ) from None
