"""SpectralSVR: the C/gamma choice and the pickle-free artifact."""

import math

import numpy as np
import pytest
from sklearn.svm import SVR

from geosoil.artifacts import Provenance, load_artifact, save_artifact
from geosoil.errors import ConfigError
from geosoil.models import SpectralSVR
from geosoil.specs import OutputSpec
from geosoil.spectra import SpectralPipeline

from .test_spectral_base import toy_spectra

QUICK = {"preprocessing": [], "target_transform": "log10"}


@pytest.fixture(scope="module")
def data():
    return toy_spectra(n_bands=80)


@pytest.fixture(scope="module")
def fitted(data):
    X, y, axis = data
    return SpectralSVR(**QUICK, selection="holdout").fit(X, y, axis=axis)


def test_estimator_equals_scikit_learn_with_the_chosen_parameters(data):
    X, y, axis = data
    X_valid, y_valid, _ = toy_spectra(n=30, n_bands=80, seed=3)
    model = SpectralSVR(**QUICK, selection="holdout").fit(
        X, y, axis=axis, X_valid=X_valid, y_valid=y_valid
    )
    t_train = (np.log10(y) - model.target_mean_) / model.target_scale_
    reference = SVR(kernel="rbf", C=model.c_, gamma=model.gamma_, epsilon=0.1)
    reference.fit(model.transform_inputs(X).astype(np.float64), t_train)
    X_test, _, _ = toy_spectra(n=40, n_bands=80, seed=4)
    Z_test = model.transform_inputs(X_test).astype(np.float64)
    # Fitted on the precomputed kernel: equal to libsvm's own RBF fit within its stopping
    # tolerance (tol=1e-3), not to the last digit.
    np.testing.assert_allclose(
        model._predict_standardized(Z_test), reference.predict(Z_test), rtol=0, atol=3e-3
    )


def test_c_and_gamma_are_chosen_on_validation_r2(fitted):
    scores = fitted.validation_scores_
    assert len(scores) == 9 and {row["C"] for row in scores} == {1.0, 10.0, 100.0}
    gammas = sorted({row["gamma"] for row in scores})
    np.testing.assert_allclose(np.array(gammas) / gammas[1], [0.1, 1.0, 10.0])
    best = max(scores, key=lambda row: row["valid_r2"])
    assert (fitted.c_, fitted.gamma_) == (best["C"], best["gamma"])
    assert fitted.n_valid_ == 12 and fitted.n_train_ == 108
    assert len(fitted.dual_coef_) == len(fitted.support_vectors_) <= fitted.n_train_


def test_inner_cv_chooses_then_refits_on_training_and_validation(data):
    X, y, axis = data
    X_valid, y_valid, _ = toy_spectra(n=30, n_bands=80, seed=3)
    model = SpectralSVR(**QUICK, inner_folds=3).fit(
        X, y, axis=axis, X_valid=X_valid, y_valid=y_valid
    )
    assert model.n_train_ == 150 and model.n_valid_ == 0
    best = max(model.cv_scores_, key=lambda row: row["cv_r2"])
    assert len(model.cv_scores_) == 9 and model.c_ == best["C"]
    X_all, y_all = np.concatenate([X, X_valid]), np.concatenate([y, y_valid])
    t_all = (np.log10(y_all) - model.target_mean_) / model.target_scale_
    reference = SVR(kernel="rbf", C=model.c_, gamma=model.gamma_, epsilon=0.1)
    reference.fit(model.transform_inputs(X_all).astype(np.float64), t_all)
    Z_test = model.transform_inputs(X[:20]).astype(np.float64)
    # Fitted on the precomputed kernel: equal to libsvm's own RBF fit within its stopping
    # tolerance (tol=1e-3), not to the last digit.
    np.testing.assert_allclose(
        model._predict_standardized(Z_test), reference.predict(Z_test), rtol=0, atol=3e-3
    )


def test_a_single_candidate_holds_nothing_out(data):
    X, y, axis = data
    model = SpectralSVR(**QUICK, c_values=[10.0], gamma_factors=[1.0]).fit(X, y, axis=axis)
    assert model.n_valid_ == 0 and model.n_train_ == 120
    assert model.c_ == 10.0 and math.isnan(model.validation_scores_[0]["valid_r2"])


def test_learns_the_toy_problem(fitted):
    X_test, y_test, _ = toy_spectra(n_bands=80, seed=9)
    prediction = fitted.predict(X_test)
    assert prediction.dtype == np.float32 and prediction.shape == (120,)
    z_pred, z_test = np.log10(prediction), np.log10(y_test)
    assert 1 - np.sum((z_pred - z_test) ** 2) / np.sum((z_test - z_test.mean()) ** 2) > 0.9
    assert not fitted.supports_dist and not hasattr(fitted, "predict_dist")


def test_predictions_do_not_depend_on_batching(data, fitted):
    X, _, _ = data
    many = np.concatenate([X] * 3)
    full = fitted.predict(many)
    np.testing.assert_array_equal(full[:120], fitted.predict(X))
    np.testing.assert_array_equal(full[5:6], fitted.predict(X[5:6]))
    np.testing.assert_array_equal(full[130:177], fitted.predict(many[130:177]))


def test_artifact_round_trip_without_pickle(tmp_path, data):
    X, y, axis = data
    model = SpectralSVR(c_values=[10.0], gamma_factors=[0.5, 1.0]).fit(X, y, axis=axis)
    path = save_artifact(
        model,
        tmp_path / "svr.safetensors",
        input_spec=model.input_spec(),
        output_spec=OutputSpec(names=["pb"], units=["mg/kg"]),
        provenance=Provenance(data_fingerprint="toy", n_samples=len(y), seed=0),
    )
    loaded = load_artifact(path)
    restored = loaded.estimator
    state = loaded.header.fitted_state
    assert state["C"] == 10.0 and state["gamma"] == model.gamma_
    tensors, _ = model.export_state()
    names = {name for name in tensors if not name.startswith("preprocessing.")}
    assert names == {"support_vectors", "dual_coef", "intercept"}
    np.testing.assert_array_equal(restored.support_vectors_, model.support_vectors_)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    assert restored.validation_scores_ == model.validation_scores_


def test_default_preprocessing_per_unit():
    nm = SpectralPipeline(SpectralSVR.default_preprocessing["nm"])
    assert [step["name"] for step in nm.to_spec()] == ["snv", "savgol", "standardize"]
    assert nm.to_spec()[1]["deriv"] == 1
    names = [step["name"] for step in SpectralSVR.default_preprocessing["cm-1"]]
    assert names == ["snv", "savgol", "drop_regions", "standardize"]
    X, y, axis = toy_spectra(n=60, n_bands=120, unit="nm")
    model = SpectralSVR(c_values=[10.0], gamma_factors=[1.0]).fit(X, y, axis=axis)
    Z = model.transform_inputs(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-4)  # bands standardized


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"c_values": []}, "params.c_values"),
        ({"c_values": [1.0, -2.0]}, "params.c_values"),
        ({"gamma_factors": "scale"}, "params.gamma_factors"),
        ({"epsilon": -0.1}, "params.epsilon"),
    ],
)
def test_bad_hyperparameters(data, params, field):
    X, y, axis = data
    with pytest.raises(ConfigError, match="must be") as err:
        SpectralSVR(**params).fit(X, y, axis=axis)
    assert err.value.field == field
