import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression

from geosoil.artifacts import Provenance, load_artifact, save_artifact
from geosoil.errors import SampleDataError
from geosoil.models import PLSR
from geosoil.models.spectral.plsr import pls1_coefficients
from geosoil.specs import OutputSpec
from geosoil.spectra import SpectralAxis

from .test_spectral_base import toy_spectra


def rank_three_spectra(n=150, n_bands=250, *, seed=0, noise=1e-4):
    """Spectra spanned by three band shapes of falling strength, plus noise; the target
    linear in the three strengths and mostly in the weakest band, so PLS needs all three
    components to reach it."""
    rng = np.random.default_rng(seed)
    positions = np.linspace(4000.0, 600.0, n_bands)
    shapes = np.stack(
        [
            height * np.exp(-0.5 * ((positions - centre) / 150.0) ** 2)
            for height, centre in ((1.0, 3400.0), (0.3, 2000.0), (0.1, 1100.0))
        ]
    )
    strengths = rng.uniform(0.0, 1.0, (n, 3))
    X = strengths @ shapes + rng.normal(0.0, noise, (n, n_bands))
    y = strengths @ np.array([0.2, 0.3, 1.0]) + 3.0
    return X, y, SpectralAxis.from_values(positions, "cm-1")


@pytest.mark.parametrize("k", [1, 4, 9])
def test_pls1_matches_scikit_learn(k):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 8)) @ rng.normal(size=(8, 40)) + rng.normal(0, 0.1, (60, 40))
    y = X[:, :5].sum(axis=1) + rng.normal(size=60)
    coefficients = pls1_coefficients(X - X.mean(axis=0), y - y.mean(), 9)
    reference = PLSRegression(n_components=k, scale=False).fit(X, y)
    np.testing.assert_allclose(coefficients[k - 1], reference.coef_.ravel(), atol=1e-10)


def test_pls1_stops_when_the_target_is_explained_exactly():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 2)) @ rng.normal(size=(2, 10))  # rank 2
    X -= X.mean(axis=0)
    y = X @ rng.normal(size=10)
    coefficients = pls1_coefficients(X, y, 5)
    assert len(coefficients) == 2
    np.testing.assert_allclose(X @ coefficients[-1], y, atol=1e-10)


def test_components_chosen_on_data_of_known_rank():
    X, y, axis = rank_three_spectra()
    model = PLSR(preprocessing=[], target_transform="none", max_components=10).fit(X, y, axis=axis)
    r2 = model.validation_r2_
    assert r2.shape == (10,)
    assert r2[:2].max() < 0.95 and r2[2] > 0.9999  # three components are needed and enough
    assert 3 <= model.n_components_ <= 10
    assert r2[model.n_components_ - 1] == r2.max()
    X_test, y_test, _ = rank_three_spectra(seed=1)
    np.testing.assert_allclose(model.predict(X_test), y_test, atol=0.01)


def test_default_settings_learn_the_toy_problem():
    X, y, axis = toy_spectra(n=200)
    model = PLSR(preprocessing=[]).fit(X, y, axis=axis)
    X_test, y_test, _ = toy_spectra(seed=9)
    prediction = model.predict(X_test)
    assert prediction.dtype == np.float32 and prediction.shape == (120,)
    assert (prediction > 0).all()
    r2 = 1 - np.sum((prediction - y_test) ** 2) / np.sum((y_test - y_test.mean()) ** 2)
    assert r2 > 0.95


def test_fixed_component_count_holds_nothing_out():
    X, y, axis = toy_spectra()
    model = PLSR(n_components=4).fit(X, y, axis=axis)
    assert model.n_components_ == 4 and model.n_valid_ == 0 and model.n_train_ == 120
    assert model.validation_r2_.shape == (0,)
    assert not model.supports_dist
    assert not hasattr(model, "predict_dist")


def test_fewer_samples_than_components():
    X, y, axis = toy_spectra(n=25)
    with pytest.raises(SampleDataError, match="30 PLS components need at least 31") as err:
        PLSR().fit(X, y, axis=axis)
    assert err.value.field == "params.max_components"
    # 2 of 25 held out for validation: 23 training spectra carry at most 22 components.
    assert "lower max_components to at most 22" in err.value.fix
    with pytest.raises(SampleDataError, match="n_components") as err:
        PLSR(n_components=40).fit(X, y, axis=axis)
    assert "lower n_components to at most 24" in err.value.fix


def test_prediction_does_not_depend_on_batching():
    X, y, axis = toy_spectra()
    model = PLSR().fit(X, y, axis=axis)
    many = np.concatenate([X] * 10)  # 1200 rows: more than one prediction block
    full = model.predict(many)
    np.testing.assert_array_equal(full[:120], model.predict(X))
    np.testing.assert_array_equal(full[1100:1105], model.predict(many[1100:1105]))
    np.testing.assert_array_equal(full[:120], full[1080:1200])


def test_artifact_round_trip_is_bit_identical(tmp_path):
    X, y, axis = toy_spectra()
    model = PLSR(max_components=12, seed=3).fit(X, y, axis=axis)
    path = save_artifact(
        model,
        tmp_path / "plsr.safetensors",
        input_spec=model.input_spec(),
        output_spec=OutputSpec(names=["kex"], units=["cmol/kg"], back_transform="log10"),
        provenance=Provenance(data_fingerprint="toy", n_samples=len(y), seed=3),
        preprocessing=model.preprocessing_.to_spec(),
    )
    loaded = load_artifact(path)
    restored = loaded.estimator
    assert isinstance(restored, PLSR)
    assert loaded.header.input_spec.kind == "spectra"
    assert loaded.header.fitted_state["n_components"] == model.n_components_
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    np.testing.assert_array_equal(restored.validation_r2_, model.validation_r2_)
    assert restored.axis_.same_as(axis, tol=0.0)
    # The regression is plain tensors: coefficients over the preprocessed bands.
    tensors, _ = model.export_state()
    assert tensors["coef"].shape == (len(model.preprocessing_.axis_out_),)
