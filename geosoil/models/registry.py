"""Estimator registry: the only way an artifact header becomes a class.

A header names an estimator by its registry key; the key is looked up here and nothing is ever
imported from a name found in a file, so an edited header cannot make geosoil run code.

The built-in families register themselves when their module is imported. ``BUILTIN`` names
the module of each built-in key, and asking for a key imports only that module: loading a
covariate MLP to map it does not import torch, scipy and scikit-learn through the spectral
and SOC families. :func:`registered_names` imports them all. A new family adds its key here
(``tests/models/test_registry_modules.py`` checks the table against the classes).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from geosoil.errors import RegistryError

if TYPE_CHECKING:
    from geosoil.models.base import GeoSoilEstimator

__all__ = ["BUILTIN", "get_estimator_class", "register", "registered_names"]

#: Registry key -> the module whose import registers that built-in family.
BUILTIN = {
    "binn": "geosoil.models.soc.binn",
    "covariate_mlp": "geosoil.models.covariate.mlp",
    "gbm": "geosoil.models.covariate.trees",
    "linear": "geosoil.models.covariate.linear",
    "mdpl": "geosoil.models.lsm.mdpl",
    "ordinary_kriging": "geosoil.models.covariate.kriging",
    "plsr": "geosoil.models.spectral.plsr",
    "quantile_forest": "geosoil.models.covariate.trees",
    "random_forest": "geosoil.models.covariate.trees",
    "residual_kriging": "geosoil.models.covariate.kriging",
    "sciren": "geosoil.models.soc.sciren",
    "spectral_auto": "geosoil.models.spectral.auto",
    "spectral_cnn": "geosoil.models.spectral.cnn",
    "spectral_mbl": "geosoil.models.spectral.mbl",
    "spectral_pca": "geosoil.models.spectral.pca",
    "spectral_resnet": "geosoil.models.spectral.resnet",
    "stack": "geosoil.models.covariate.stack",
    "svr": "geosoil.models.spectral.svr",
}

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
    for module in sorted(set(BUILTIN.values())):
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
    if isinstance(name, str) and name not in _REGISTRY and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
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
