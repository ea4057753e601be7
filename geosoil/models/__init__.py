"""Estimators and the registry that maps artifact names to them."""

from geosoil.models.base import GeoSoilEstimator, NotFittedError
from geosoil.models.mlp import CovariateMLP
from geosoil.models.registry import get_estimator_class, register, registered_names

__all__ = [
    "CovariateMLP",
    "GeoSoilEstimator",
    "NotFittedError",
    "get_estimator_class",
    "register",
    "registered_names",
]
