"""Gaussian random fields and smoothing behave as documented."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from geosoil.synthetic.fields import gaussian_random_field, gaussian_smooth, upsample_linear


@pytest.mark.parametrize(("pixel_m", "corr_length_m"), [(100.0, 300.0), (20.0, 400.0)])
def test_field_has_unit_variance_and_gaussian_correlation(pixel_m, corr_length_m):
    rng = np.random.default_rng(1)
    field = gaussian_random_field(rng, (600, 600), pixel_m=pixel_m, corr_length_m=corr_length_m)
    assert field.dtype == np.float32
    assert field.std() == pytest.approx(1.0, abs=0.1)
    lag = round(corr_length_m / pixel_m)
    correlation = np.corrcoef(field[:, :-lag].ravel(), field[:, lag:].ravel())[0, 1]
    assert correlation == pytest.approx(np.exp(-0.5), abs=0.08)


def test_field_is_deterministic_for_a_generator_state():
    a = gaussian_random_field(np.random.default_rng(5), (50, 70), pixel_m=10, corr_length_m=80)
    b = gaussian_random_field(np.random.default_rng(5), (50, 70), pixel_m=10, corr_length_m=80)
    assert a.shape == (50, 70)
    np.testing.assert_array_equal(a, b)


def test_wide_smoothing_matches_direct_gaussian_filter():
    rng = np.random.default_rng(2)
    values = gaussian_random_field(rng, (300, 300), pixel_m=10.0, corr_length_m=200.0)
    smoothed = gaussian_smooth(values, sigma_m=400.0, pixel_m=10.0)
    direct = ndimage.gaussian_filter(values.astype(np.float64), 40.0, mode="reflect")
    interior = (slice(40, -40), slice(40, -40))
    error = np.abs(smoothed[interior] - direct[interior]).max()
    assert error < 0.1 * direct[interior].std() + 1e-3


def test_upsample_linear_reproduces_a_plane():
    coarse_rows, coarse_cols = np.mgrid[0:12, 0:14].astype(np.float32)
    plane = 2.0 * coarse_rows - 0.5 * coarse_cols
    fine = upsample_linear(plane, 4, (40, 48), margin=1)
    rows = (np.arange(40) + 0.5) / 4 - 0.5 + 1
    cols = (np.arange(48) + 0.5) / 4 - 0.5 + 1
    expected = 2.0 * rows[:, None] - 0.5 * cols[None, :]
    np.testing.assert_allclose(fine, expected, atol=1e-5)
