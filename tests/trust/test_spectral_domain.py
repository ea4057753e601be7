import numpy as np
import pytest

from geosoil.errors import CalibrationError
from geosoil.trust.spectral_domain import SpectralDomain, fit_spectral_domain


def _spectra(n=300, seed=0):
    rng = np.random.default_rng(seed)
    bands = np.linspace(0, 1, 60)
    shapes = np.stack([np.sin(3 * bands), np.cos(5 * bands), bands**2])
    return rng.normal(size=(n, 3)) @ shapes + rng.normal(0, 0.01, size=(n, 60)), shapes


def test_training_spectra_are_in_domain_at_about_the_confidence():
    spectra, _ = _spectra()
    domain = fit_spectral_domain(spectra, confidence=0.99)
    t2, q = domain.statistics(spectra)
    assert domain.n_components == 3
    assert 0.95 <= domain.in_domain(t2, q).mean() <= 1.0


def test_a_new_shape_breaks_q_and_a_far_score_breaks_t2():
    spectra, shapes = _spectra()
    domain = fit_spectral_domain(spectra)
    bands = np.linspace(0, 1, 60)
    odd = spectra[:5] + 0.5 * np.sin(20 * bands)
    t2, q = domain.statistics(odd)
    assert (q > domain.q_limit).all()
    far = 20 * shapes[0][None]
    t2, q = domain.statistics(far)
    assert (t2 > domain.t2_limit).all()
    assert not domain.in_domain(t2, q).any()


def test_round_trip_and_too_few_spectra():
    spectra, _ = _spectra(50)
    domain = fit_spectral_domain(spectra)
    again = SpectralDomain.from_parts(*domain.to_parts())
    np.testing.assert_array_equal(again.statistics(spectra)[0], domain.statistics(spectra)[0])
    with pytest.raises(CalibrationError, match="at least 5"):
        fit_spectral_domain(spectra[:3])
