"""Estimators and the registry that maps artifact names to them."""

from geosoil.models.base import GeoSoilEstimator, NotFittedError
from geosoil.models.covariate.kriging import OrdinaryKriging, ResidualKriging
from geosoil.models.covariate.linear import CovariateLinear
from geosoil.models.covariate.mlp import CovariateMLP
from geosoil.models.covariate.stack import CovariateStack
from geosoil.models.covariate.trees import (
    CovariateGBM,
    CovariateQuantileForest,
    CovariateRandomForest,
)
from geosoil.models.lsm.mdpl import ParameterGenerator
from geosoil.models.registry import get_estimator_class, register, registered_names
from geosoil.models.soc.binn import BINN
from geosoil.models.soc.sciren import ScIReN
from geosoil.models.spectral.auto import SpectralAuto
from geosoil.models.spectral.base import SpectralEstimator
from geosoil.models.spectral.cnn import SpectralCNN
from geosoil.models.spectral.lr_schedule import LRFinderResult
from geosoil.models.spectral.mbl import SpectralMBL
from geosoil.models.spectral.network import NetworkSpectralEstimator
from geosoil.models.spectral.pca import SpectralPCA
from geosoil.models.spectral.plsr import PLSR
from geosoil.models.spectral.resnet import SpectralResNet
from geosoil.models.spectral.svr import SpectralSVR

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
