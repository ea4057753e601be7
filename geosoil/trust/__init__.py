"""Where and how far to trust a prediction: area of applicability, conformal intervals,
back-transforms of log-scale targets, spectral out-of-domain flags.

Low in the layering: numpy, scipy and scikit-learn only, and :mod:`geosoil.errors`.
"""

from geosoil.trust.applicability import ApplicabilityModel, fit_applicability
from geosoil.trust.backtransform import BackTransform, fit_back_transform
from geosoil.trust.conformal import ConformalCalibration, calibrate, check_level
from geosoil.trust.layer import TrustLayer, TrustPrediction
from geosoil.trust.spectral_domain import SpectralDomain, fit_spectral_domain

__all__ = [
    "ApplicabilityModel",
    "BackTransform",
    "ConformalCalibration",
    "SpectralDomain",
    "TrustLayer",
    "TrustPrediction",
    "calibrate",
    "check_level",
    "fit_applicability",
    "fit_back_transform",
    "fit_spectral_domain",
]
