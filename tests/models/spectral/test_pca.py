"""SpectralPCA: PCA then ridge or LightGBM, penalty by inner CV, pickle-free artifact."""

import numpy as np
import pytest

from geosoil.artifacts import OutputSpec, Provenance, load_artifact, save_artifact
from geosoil.errors import ConfigError
from geosoil.models import SpectralPCA

from .test_spectral_base import toy_spectra

QUICK = {"preprocessing": [], "n_components": 10}


def r2(pred, obs):
    return 1 - np.sum((pred - obs) ** 2) / np.sum((obs - obs.mean()) ** 2)


@pytest.mark.parametrize("learner", ["ridge", "gbm"])
def test_learns_and_round_trips_without_pickle(tmp_path, learner):
    X, y, axis = toy_spectra(n=200, n_bands=80)
    params = {"gbm_params": {"n_estimators": 100}} if learner == "gbm" else {}
    model = SpectralPCA(**QUICK, learner=learner, **params).fit(X, y, axis=axis)
    X_test, y_test, _ = toy_spectra(n=100, n_bands=80, seed=9)
    prediction = model.predict(X_test)
    assert r2(np.log10(prediction), np.log10(y_test)) > (0.95 if learner == "ridge" else 0.7)
    assert model.pca_components_.shape == (10, 80)
    path = save_artifact(
        model,
        tmp_path / "pca.safetensors",
        input_spec=model.input_spec(),
        output_spec=OutputSpec(names=["kex"], units=["cmol/kg"]),
        provenance=Provenance(data_fingerprint="toy", n_samples=200, seed=0),
    )
    restored = load_artifact(path).estimator
    np.testing.assert_array_equal(restored.predict(X_test), prediction)
    np.testing.assert_array_equal(restored.predict(X_test[3:4]), prediction[3:4])


def test_ridge_penalty_chosen_by_inner_cv_then_refit():
    X, y, axis = toy_spectra(n=150, n_bands=80)
    model = SpectralPCA(**QUICK, learner="ridge", alphas=[1e-3, 1e4]).fit(X, y, axis=axis)
    assert [row["alpha"] for row in model.cv_scores_] == [1e-3, 1e4]
    assert model.alpha_ == 1e-3 and model.n_train_ == 150  # a huge penalty erases the signal
    assert model.cv_scores_[0]["cv_r2"] > model.cv_scores_[1]["cv_r2"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"learner": "cubist"}, "params.learner"),
        ({"n_components": 0}, "params.n_components"),
        ({"alphas": []}, "params.alphas"),
        ({"gbm_params": [1]}, "params.gbm_params"),
    ],
)
def test_bad_hyperparameters(params, field):
    X, y, axis = toy_spectra(n=40, n_bands=30)
    with pytest.raises(ConfigError) as err:
        SpectralPCA(**params).fit(X, y, axis=axis)
    assert err.value.field == field
