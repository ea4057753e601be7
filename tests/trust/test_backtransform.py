import numpy as np
import pytest

from geosoil.errors import CalibrationError
from geosoil.trust.backtransform import (
    BackTransform,
    fit_back_transform,
    lognormal_factor,
    smearing_factor,
)


def test_mean_corrections_recover_the_lognormal_mean():
    rng = np.random.default_rng(0)
    sigma = 0.3
    residuals = rng.normal(0, sigma, size=200_000)
    exact = np.exp(0.5 * (np.log(10) * sigma) ** 2)
    assert smearing_factor(residuals) == pytest.approx(exact, rel=0.01)
    assert lognormal_factor(residuals) == pytest.approx(exact, rel=0.01)


def test_median_mean_and_untransformed_choices():
    residuals = np.random.default_rng(1).normal(0, 0.2, size=100)
    assert fit_back_transform("log10", residuals, estimate="median").factor == 1.0
    mean = fit_back_transform("log10", residuals, estimate="mean", method="lognormal")
    assert mean.factor > 1 and mean.method == "lognormal"
    assert "lognormal" in mean.describe()
    assert fit_back_transform("none", None).estimate == "mean"
    np.testing.assert_allclose(mean.apply(np.array([2.0])), [2.0 * mean.factor], rtol=1e-6)
    assert BackTransform.from_state(mean.to_state()) == mean


def test_mean_without_residuals_is_refused():
    with pytest.raises(CalibrationError, match="out-of-fold residuals"):
        fit_back_transform("log10", None, estimate="mean")
