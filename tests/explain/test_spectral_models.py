"""Attributions of fitted spectral estimators: SpectralCNN (GradientShap) and PLSR (linear)."""

from __future__ import annotations

import numpy as np
import pytest

from geosoil.explain import ExplainError, spectral_attributions
from geosoil.models.spectral.cnn import SpectralCNN
from geosoil.models.spectral.plsr import PLSR
from geosoil.spectra import SpectraError, SpectralAxis

from . import data

INSIDE = np.abs(data.AXIS_NM - data.SIGNAL_NM) <= data.REGION_HALF_WIDTH_NM


@pytest.fixture(scope="module")
def spectra():
    return data.one_region_spectra(80, seed=0)


@pytest.fixture(scope="module")
def cnn(spectra):
    X, y, _ = spectra
    # enough epochs to learn the task (validation R2 near 0.85), a few seconds on one thread
    return data.fit_cnn(X, y, seed=0, max_epochs=60)


@pytest.fixture(scope="module")
def plsr(spectra):
    X, y, _ = spectra
    return PLSR(preprocessing=[{"name": "standardize"}], target_transform="log10").fit(
        X, y, axis=data.axis()
    )


def region_mean(mass: np.ndarray, centre_nm: float) -> float:
    return float(mass[np.abs(data.AXIS_NM - centre_nm) <= data.REGION_HALF_WIDTH_NM].mean())


@pytest.mark.slow
def test_cnn_attribution_mass_concentrates_on_the_informative_region(cnn, spectra):
    X, _, _ = spectra
    result = spectral_attributions(cnn, X[:40], axis=data.axis(), n_samples=20, seed=0)
    mass = np.abs(result.values).mean(axis=0)
    assert result.method == "gradient_shap" and result.values.shape == (40, data.AXIS_NM.size)
    assert data.REGION_NM[0] <= data.AXIS_NM[np.argmax(mass)] <= data.REGION_NM[1]
    assert mass[INSIDE].sum() / mass.sum() > 2.0 * INSIDE.mean()
    # the features that vary as much but do not set the target get far less
    for distractor in data.DISTRACTORS_NM:
        assert region_mean(mass, data.SIGNAL_NM) > 2.0 * region_mean(mass, distractor)


def test_cnn_outputs_are_its_predictions_on_the_log10_scale(cnn, spectra):
    X, _, _ = spectra
    result = spectral_attributions(cnn, X[:10], axis=data.axis(), n_samples=4)
    np.testing.assert_allclose(
        result.outputs, np.log10(cnn.predict(X[:10], axis=data.axis())), atol=1e-5
    )
    assert result.axis.same_as(cnn.preprocessing_.axis_out_)
    assert result.target_transform == "log10" and result.n_members == 1


def test_cnn_attributions_add_up_to_output_minus_baseline_output(cnn, spectra):
    X, _, _ = spectra
    result = spectral_attributions(
        cnn, X[:8], axis=data.axis(), n_samples=300, baselines="mean", seed=0, batch_size=2048
    )
    expected = result.outputs - result.baseline_output
    assert np.abs(result.completeness_gap).mean() < 0.15 * np.abs(expected).mean()
    # the mean baseline is the mean preprocessed spectrum, so E[f(b)] is f of that spectrum
    inputs = cnn.transform_inputs(X[:8], axis=data.axis())
    assert np.allclose(result.inputs, inputs)


def test_cnn_attributions_are_deterministic_for_a_seed(cnn, spectra):
    X, _, _ = spectra
    runs = [
        spectral_attributions(cnn, X[:6], axis=data.axis(), n_samples=5, baselines=8, seed=s)
        for s in (3, 3, 4)
    ]
    assert np.array_equal(runs[0].values, runs[1].values)
    assert not np.allclose(runs[0].values, runs[2].values)


def test_baselines_given_as_raw_spectra(cnn, spectra):
    X, _, _ = spectra
    reference = X[40:50]
    result = spectral_attributions(cnn, X[:4], axis=data.axis(), baselines=reference, n_samples=4)
    expected = float(np.log10(cnn.predict(reference, axis=data.axis())).mean())
    assert result.baseline_output == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ExplainError, match="baseline spectra have shape") as info:
        spectral_attributions(cnn, X[:4], axis=data.axis(), baselines=reference[:, :-1])
    assert info.value.field == "baselines"
    with pytest.raises(ExplainError, match="at least one"):
        spectral_attributions(cnn, X[:4], axis=data.axis(), baselines=0)


def test_spectra_on_another_axis_are_refused_with_the_resample_fix(cnn, spectra):
    X, _, _ = spectra
    shifted = SpectralAxis.from_values(data.AXIS_NM + 1.0, "nm")
    with pytest.raises(SpectraError, match="another axis") as info:
        spectral_attributions(cnn, X[:4], axis=shifted)
    assert "resample" in info.value.fix


def test_an_ensemble_is_explained_as_its_mean(spectra):
    X, y, _ = spectra
    ensemble = data.fit_cnn(X, y, seed=1, max_epochs=2, n_members=2)
    result = spectral_attributions(ensemble, X[:5], axis=data.axis(), n_samples=4)
    assert result.n_members == 2
    np.testing.assert_allclose(
        result.outputs, np.log10(ensemble.predict(X[:5], axis=data.axis())), atol=1e-5
    )


def test_plsr_gets_exact_linear_attributions(plsr, spectra):
    X, _, _ = spectra
    result = spectral_attributions(plsr, X, axis=data.axis())
    assert result.method == "linear"
    np.testing.assert_allclose(result.outputs, np.log10(plsr.predict(X, axis=data.axis())), 1e-5)
    # completeness holds exactly for a linear model (up to float32 storage of the values)
    expected = result.outputs - result.baseline_output
    assert np.abs(result.completeness_gap).max() < 1e-5 * max(1.0, np.abs(expected).max())
    mass = np.abs(result.values).mean(axis=0)
    assert mass[INSIDE].sum() / mass.sum() > 2.0 * INSIDE.mean()


def test_models_without_networks_or_coefficients_are_refused(plsr, spectra):
    X, _, _ = spectra
    with pytest.raises(ExplainError, match="not a fitted spectral estimator"):
        spectral_attributions(SpectralCNN(), X[:2], axis=data.axis())
    with pytest.raises(ExplainError, match="not a fitted spectral estimator"):
        spectral_attributions(object(), X[:2])
    stripped = PLSR.from_state(plsr.get_params(), *plsr.export_state())
    del stripped.coef_
    with pytest.raises(ExplainError, match="neither networks nor linear") as info:
        spectral_attributions(stripped, X[:2], axis=data.axis())
    assert "SpectralCNN" in info.value.fix
