"""Explaining models: which wavelengths drive a spectral model's predictions, and which way.

:func:`spectral_attributions` computes GradientShap attributions (captum) of a fitted
``SpectralCNN`` (exact linear ones for ``PLSR``) per sample and band;
:func:`aggregate_attributions` reduces several models (seeds) to mean absolute and signed
attributions per band and group; :mod:`geosoil.explain.bands` holds the known absorption
bands drawn on the figures of :mod:`geosoil.explain.plots`.
"""

from geosoil.explain.aggregate import ALL_GROUP, aggregate_attributions
from geosoil.explain.attributions import (
    Attributions,
    ExplainError,
    gradient_shap,
    spectral_attributions,
)
from geosoil.explain.bands import (
    MIR_BANDS_CM1,
    VISNIR_BANDS_NM,
    AbsorptionBand,
    bands_for_unit,
    bands_in_range,
)
from geosoil.explain.plots import attribution_figure_png, write_attribution_figure

__all__ = [
    "ALL_GROUP",
    "MIR_BANDS_CM1",
    "VISNIR_BANDS_NM",
    "AbsorptionBand",
    "Attributions",
    "ExplainError",
    "aggregate_attributions",
    "attribution_figure_png",
    "bands_for_unit",
    "bands_in_range",
    "gradient_shap",
    "spectral_attributions",
    "write_attribution_figure",
]
