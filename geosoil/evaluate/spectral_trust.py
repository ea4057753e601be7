"""Trust columns of a spectral model's test predictions in repeated splits: whether each test
spectrum lies in the domain of the split's training spectra, and split-conformal bounds."""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["spectral_trust_columns"]

log = logging.getLogger(__name__)


def spectral_trust_columns(
    estimator, spectra, target, split, *, axis, transform, predicted
) -> dict:
    """Per test spectrum: Hotelling T2, Q and the in-domain flag of a PCA of the split's
    training spectra (preprocessed as the model sees them), and the bounds of a split-conformal
    90 % interval calibrated on the validation spectra (NaN with fewer than 20 of them)."""
    from geosoil.errors import CalibrationError
    from geosoil.trust import calibrate, fit_spectral_domain
    from geosoil.trust.estimators import model_scale

    n = split.test.size
    columns = {name: np.full(n, np.nan) for name in ("t2", "q", "in_domain", "lo_90", "hi_90")}
    prepare = getattr(estimator, "transform_inputs", None)
    if prepare is not None:
        try:
            domain = fit_spectral_domain(prepare(spectra[split.train], axis=axis))
            t2, q = domain.statistics(prepare(spectra[split.test], axis=axis))
            columns.update(t2=t2, q=q, in_domain=domain.in_domain(t2, q).astype(float))
        except CalibrationError as err:
            log.info("no spectral domain for split %d: %s", split.seed, err.message)
    if split.valid.size:
        scale = model_scale(transform)
        valid_predicted = estimator.predict(spectra[split.valid], axis=axis)
        try:
            cal = calibrate(scale(target[split.valid]) - scale(valid_predicted), method="split")
        except CalibrationError:
            return columns
        half = cal.half_width(0.9, 1.0)
        centre = scale(predicted)
        low, high = centre - half, centre + half
        if transform == "log10":
            low, high = 10.0**low, 10.0**high
        columns.update(lo_90=low, hi_90=high)
    return columns
