"""Estimators and the registry that maps artifact names to them."""

from geosoil.models.base import GeoSoilEstimator, NotFittedError
from geosoil.models.binn import BINN
from geosoil.models.lr_schedule import LRFinderResult
from geosoil.models.mdpl import ParameterGenerator
from geosoil.models.mlp import CovariateMLP
from geosoil.models.plsr import PLSR
from geosoil.models.registry import get_estimator_class, register, registered_names
from geosoil.models.sciren import ScIReN
from geosoil.models.spectral import SpectralEstimator
from geosoil.models.spectral_cnn import SpectralCNN
from geosoil.models.spectral_network import NetworkSpectralEstimator
from geosoil.models.spectral_resnet import SpectralResNet
from geosoil.models.svr import SpectralSVR

__all__ = [
    "BINN",
    "PLSR",
    "CovariateMLP",
    "GeoSoilEstimator",
    "LRFinderResult",
    "NetworkSpectralEstimator",
    "NotFittedError",
    "ParameterGenerator",
    "ScIReN",
    "SpectralCNN",
    "SpectralEstimator",
    "SpectralResNet",
    "SpectralSVR",
    "get_estimator_class",
    "register",
    "registered_names",
]
