"""Estimator registry: the only way an artifact header becomes a class.

A header names an estimator by its registry key; the key is looked up here and nothing is ever
imported from a name found in a file, so an edited header cannot make geosoil run code.

The built-in families register themselves when their module is imported.
:mod:`geosoil.models` declares the module of each built-in key (``FAMILY_MODULES``), and
asking for a key imports only that module: loading a covariate MLP to map it does not import
torch, scipy and scikit-learn through the spectral and SOC families. :func:`registered_names`
imports them all. A new family adds its key to that table (a test checks it against the
classes).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from geosoil.errors import RegistryError

if TYPE_CHECKING:
    from geosoil.models.base import GeoSoilEstimator

__all__ = ["FAMILY_MODULES", "get_estimator_class", "register", "registered_names"]

#: Registry key -> the module whose import registers that built-in family. Filled by
#: :mod:`geosoil.models` (which Python runs before this module), so the registry itself
#: imports no family by name.
FAMILY_MODULES: dict[str, str] = {}

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
    """Sorted registry keys (every built-in family is imported first)."""
    for module in sorted(set(FAMILY_MODULES.values())):
        importlib.import_module(module)
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
    if isinstance(name, str) and name not in _REGISTRY and name in FAMILY_MODULES:
        importlib.import_module(FAMILY_MODULES[name])
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise RegistryError(
            f"estimator '{name}' is not a registered geosoil estimator",
            path=source,
            field=field,
            fix=f"use one of {registered_names()}; an artifact naming another estimator was made "
            "by a newer geosoil or edited by hand, and will not be loaded",
        ) from None
