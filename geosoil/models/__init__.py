"""Estimators and the registry that maps artifact names to them.

Each family is imported when first asked for (``from geosoil.models import CovariateMLP``,
or an artifact that names it; see :mod:`geosoil.models.registry`): mapping a covariate MLP
should not pay for torch, scipy and scikit-learn through the spectral and SOC families.
"""

import importlib

from geosoil.models.base import GeoSoilEstimator, NotFittedError
from geosoil.models.registry import get_estimator_class, register, registered_names

_MODULES = {
    "BINN": "soc.binn",
    "PLSR": "spectral.plsr",
    "CovariateGBM": "covariate.trees",
    "CovariateLinear": "covariate.linear",
    "CovariateMLP": "covariate.mlp",
    "CovariateQuantileForest": "covariate.trees",
    "CovariateRandomForest": "covariate.trees",
    "CovariateStack": "covariate.stack",
    "LRFinderResult": "spectral.lr_schedule",
    "NetworkSpectralEstimator": "spectral.network",
    "OrdinaryKriging": "covariate.kriging",
    "ParameterGenerator": "lsm.mdpl",
    "ResidualKriging": "covariate.kriging",
    "ScIReN": "soc.sciren",
    "SpectralAuto": "spectral.auto",
    "SpectralCNN": "spectral.cnn",
    "SpectralEstimator": "spectral.base",
    "SpectralMBL": "spectral.mbl",
    "SpectralPCA": "spectral.pca",
    "SpectralResNet": "spectral.resnet",
    "SpectralSVR": "spectral.svr",
}


def __getattr__(name: str):
    if name not in _MODULES:
        raise AttributeError(f"module 'geosoil.models' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"geosoil.models.{_MODULES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES])


__all__ = [
    "BINN",
    "PLSR",
    "CovariateGBM",
    "CovariateLinear",
    "CovariateMLP",
    "CovariateQuantileForest",
    "CovariateRandomForest",
    "CovariateStack",
    "GeoSoilEstimator",
    "LRFinderResult",
    "NetworkSpectralEstimator",
    "NotFittedError",
    "OrdinaryKriging",
    "ParameterGenerator",
    "ResidualKriging",
    "ScIReN",
    "SpectralAuto",
    "SpectralCNN",
    "SpectralEstimator",
    "SpectralMBL",
    "SpectralPCA",
    "SpectralResNet",
    "SpectralSVR",
    "get_estimator_class",
    "register",
    "registered_names",
]
