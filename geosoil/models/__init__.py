"""Estimators and the registry that maps artifact names to them.

Each family is imported when first asked for (``from geosoil.models import CovariateMLP``,
or an artifact that names it; see :mod:`geosoil.models.registry`): mapping a covariate MLP
should not pay for torch, scipy and scikit-learn through the spectral and SOC families.
"""

from geosoil import lazy_attributes
from geosoil.models import registry as _registry
from geosoil.models.base import GeoSoilEstimator, NotFittedError
from geosoil.models.registry import get_estimator_class, register, registered_names

# Registry key -> the module that registers it (a new family adds its line).
_registry.FAMILY_MODULES.update(
    {
        "binn": "geosoil.models.soc.binn",
        "covariate_mlp": "geosoil.models.covariate.mlp",
        "covariate_svr": "geosoil.models.covariate.svr",
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
)

_MODULES = {
    "BINN": "geosoil.models.soc.binn",
    "PLSR": "geosoil.models.spectral.plsr",
    "CovariateGBM": "geosoil.models.covariate.trees",
    "CovariateLinear": "geosoil.models.covariate.linear",
    "CovariateMLP": "geosoil.models.covariate.mlp",
    "CovariateQuantileForest": "geosoil.models.covariate.trees",
    "CovariateRandomForest": "geosoil.models.covariate.trees",
    "CovariateStack": "geosoil.models.covariate.stack",
    "CovariateSVR": "geosoil.models.covariate.svr",
    "LRFinderResult": "geosoil.models.spectral.lr_schedule",
    "NetworkSpectralEstimator": "geosoil.models.spectral.network",
    "OrdinaryKriging": "geosoil.models.covariate.kriging",
    "ParameterGenerator": "geosoil.models.lsm.mdpl",
    "ResidualKriging": "geosoil.models.covariate.kriging",
    "ScIReN": "geosoil.models.soc.sciren",
    "SpectralAuto": "geosoil.models.spectral.auto",
    "SpectralCNN": "geosoil.models.spectral.cnn",
    "SpectralEstimator": "geosoil.models.spectral.base",
    "SpectralMBL": "geosoil.models.spectral.mbl",
    "SpectralPCA": "geosoil.models.spectral.pca",
    "SpectralResNet": "geosoil.models.spectral.resnet",
    "SpectralSVR": "geosoil.models.spectral.svr",
}


__getattr__, __dir__ = lazy_attributes(__name__, _MODULES)


__all__ = [
    "BINN",
    "PLSR",
    "CovariateGBM",
    "CovariateLinear",
    "CovariateMLP",
    "CovariateQuantileForest",
    "CovariateRandomForest",
    "CovariateSVR",
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
