"""SpectralEstimator: input checks, validation split, preprocessing, target transform.

The shared behaviour is exercised through PLSR, the fastest spectral estimator; the CNN
specifics live in test_spectral_cnn.py.
"""

import numpy as np
import pytest

from geosoil.errors import ConfigError, SampleDataError
from geosoil.models import PLSR, NotFittedError
from geosoil.spectra import SpectraError, SpectralAxis

# Absorption features of the toy spectra: centre (cm-1) and width (cm-1).
FEATURES = ((3620.0, 60.0), (2900.0, 80.0), (1650.0, 60.0), (1000.0, 90.0), (800.0, 40.0))


def toy_spectra(n=120, n_bands=300, *, seed=0, noise=0.005, unit="cm-1"):
    """Spectra made of Gaussian absorption bands with random strengths, and a target.

    The target is log-linear in the strengths of the first and third bands, so
    ``log10(y)`` is a linear function of the spectra (up to the noise).

    Returns
    -------
    X : (n, n_bands) spectra, y : (n,) positive target, axis : descending 4000-600 cm-1
    (or 2500-350 nm for ``unit="nm"``, with the features moved onto that range).
    """
    rng = np.random.default_rng(seed)
    if unit == "cm-1":
        positions = np.linspace(4000.0, 600.0, n_bands)
        features = FEATURES
    else:
        positions = np.linspace(350.0, 2500.0, n_bands)
        features = tuple((350 + (c - 600) * 2150 / 3400, w) for c, w in FEATURES)
    axis = SpectralAxis.from_values(positions, unit)
    strengths = rng.uniform(0.1, 1.0, (n, len(features)))
    shapes = np.stack([np.exp(-0.5 * ((positions - c) / w) ** 2) for c, w in features])
    X = strengths @ shapes + 0.2 + rng.normal(0.0, noise, (n, n_bands))
    y = 10.0 ** (strengths[:, 0] + 0.5 * strengths[:, 2])
    return X, y, axis


def test_fit_records_axis_pipeline_and_target_scaling():
    X, y, axis = toy_spectra()
    model = PLSR(preprocessing=[{"name": "snv"}], seed=2).fit(X, y, axis=axis)
    assert model.axis_.same_as(axis)
    assert model.preprocessing_.to_spec() == [{"name": "snv"}]
    assert model.n_valid_ == 12 and model.n_train_ == 108
    # Standardization of the log10 target uses the training rows only.
    train_idx, _ = model._split(len(y))
    z = np.log10(y[train_idx])
    assert model.target_mean_ == pytest.approx(z.mean())
    assert model.target_scale_ == pytest.approx(z.std())


def test_preprocessing_is_fitted_on_training_rows_only():
    X, y, axis = toy_spectra()
    X_valid = X[:20] + 5.0  # far off: any leak into the fitted mean would show
    model = PLSR(n_components=2, preprocessing=[{"name": "standardize"}])
    model.fit(X[20:], y[20:], axis=axis, X_valid=X_valid, y_valid=y[:20])
    fitted_mean = model.preprocessing_.steps[0].mean_
    np.testing.assert_allclose(fitted_mean, X[20:].mean(axis=0))
    assert model.n_train_ == 100 and model.n_valid_ == 20


def test_default_preprocessing_depends_on_axis_unit():
    X, y, axis = toy_spectra()
    names = [s["name"] for s in PLSR().fit(X, y, axis=axis).preprocessing_.to_spec()]
    assert names == ["snv", "savgol", "drop_regions"]
    X, y, axis = toy_spectra(unit="nm")
    names = [s["name"] for s in PLSR().fit(X, y, axis=axis).preprocessing_.to_spec()]
    assert names == ["snv", "savgol"]  # no CO2 band on a wavelength axis


def test_validation_split_is_seeded():
    model = PLSR(seed=5)
    first, second = model._split(50), PLSR(seed=5)._split(50)
    other = PLSR(seed=6)._split(50)
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[1], other[1])
    assert len(first[1]) == 5 and not set(first[0]) & set(first[1])


def test_transform_inputs_and_input_spec():
    X, y, axis = toy_spectra()
    model = PLSR(preprocessing=[{"name": "trim", "min": 1000, "max": 3000}]).fit(X, y, axis=axis)
    Z = model.transform_inputs(X[:4])
    assert Z.dtype == np.float32
    assert Z.shape == (4, len(model.preprocessing_.axis_out_))
    assert Z.shape[1] < X.shape[1]
    spec = model.input_spec()
    assert spec.kind == "spectra" and spec.axis_unit == "cm-1"
    assert spec.axis == axis.to_list()


def test_non_finite_spectra_are_refused_with_row_count():
    X, y, axis = toy_spectra()
    X[[3, 7], 10] = np.nan
    with pytest.raises(SpectraError, match=r"2 spectra with NaN.*row 3") as err:
        PLSR().fit(X, y, axis=axis)
    assert err.value.field == "X" and "drop or repair" in err.value.fix
    X, y, axis = toy_spectra()
    X_valid = X[:10].copy()
    X_valid[4, 0] = np.inf
    with pytest.raises(SpectraError, match="X_valid has 1 spectra"):
        PLSR().fit(X, y, axis=axis, X_valid=X_valid, y_valid=y[:10])


def test_spectra_on_another_axis_are_refused_with_the_resample_fix():
    X, y, axis = toy_spectra()
    model = PLSR(n_components=3).fit(X, y, axis=axis)
    shifted = SpectralAxis.from_values(axis.values + 2.0, "cm-1")
    with pytest.raises(SpectraError, match="another axis") as err:
        model.predict(X, axis=shifted)
    assert "resample" in err.value.fix
    with pytest.raises(SpectraError, match="299 columns but the axis has 300"):
        model.predict(X[:, :-1])
    with pytest.raises(SpectraError, match="2-D"):
        model.predict(X[0])


def test_axis_must_match_the_columns_and_be_an_axis():
    X, y, axis = toy_spectra()
    with pytest.raises(SpectraError, match="SpectralAxis") as err:
        PLSR().fit(X, y, axis=list(axis.values))
    assert "from_values" in err.value.fix
    with pytest.raises(SpectraError, match="300 columns but the axis has 299"):
        PLSR().fit(X, y, axis=SpectralAxis.from_values(axis.values[:-1], "cm-1"))


def test_log10_target_with_zeros_names_the_count_and_fix():
    X, y, axis = toy_spectra()
    y[[0, 5]] = 0.0
    y[9] = -1.0
    with pytest.raises(SampleDataError, match="3 zero or negative") as err:
        PLSR().fit(X, y, axis=axis)
    assert err.value.field == "params.target_transform"
    assert "target_transform: none" in err.value.fix
    # The same targets are fine without the log transform.
    PLSR(target_transform="none", n_components=2).fit(X, y, axis=axis)


def test_bad_targets_are_refused():
    X, y, axis = toy_spectra()
    bad = y.copy()
    bad[2] = np.nan
    with pytest.raises(SampleDataError, match="1 NaN or infinite"):
        PLSR().fit(X, bad, axis=axis)
    with pytest.raises(SampleDataError, match="119 values but there are 120"):
        PLSR().fit(X, y[:-1], axis=axis)
    with pytest.raises(SampleDataError, match="1-D"):
        PLSR().fit(X, np.stack([y, y], axis=1), axis=axis)
    with pytest.raises(SampleDataError, match="together"):
        PLSR().fit(X, y, axis=axis, X_valid=X[:5])


def test_too_few_samples_for_the_validation_split():
    X, y, axis = toy_spectra(n=10)
    with pytest.raises(SampleDataError, match="too few") as err:
        PLSR(max_components=2).fit(X, y, axis=axis)
    assert err.value.field == "params.valid_fraction"
    with pytest.raises(ConfigError, match="valid_fraction"):
        PLSR(valid_fraction=1.5).fit(*toy_spectra()[:2], axis=toy_spectra()[2])


def test_bad_hyperparameters_are_refused():
    X, y, axis = toy_spectra()
    with pytest.raises(ConfigError, match="target_transform"):
        PLSR(target_transform="log").fit(X, y, axis=axis)
    with pytest.raises(ConfigError, match="unknown preprocessing step 'snvv'"):
        PLSR(preprocessing=[{"name": "snvv"}]).fit(X, y, axis=axis)
    with pytest.raises(ConfigError, match="max_components"):
        PLSR.from_params({"max_components": 0}).fit(X, y, axis=axis)


def test_predict_before_fit():
    X, _, axis = toy_spectra(n=5)
    with pytest.raises(NotFittedError):
        PLSR().predict(X, axis=axis)
    with pytest.raises(NotFittedError):
        PLSR().input_spec()
