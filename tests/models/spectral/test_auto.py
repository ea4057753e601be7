"""spectral_auto and the inner-CV helpers: honest nested choice, stacking, the artifact."""

import numpy as np
import pytest

from geosoil.artifacts import OutputSpec, Provenance, load_artifact, save_artifact
from geosoil.errors import ConfigError, SampleDataError
from geosoil.models import SpectralAuto
from geosoil.models.spectral.selection import inner_folds, nested_oof, pooled_r2

from .test_spectral_base import toy_spectra

FAST = {
    "candidates": ["plsr", "mbl", "pca_gbm"],
    "candidate_params": {
        "plsr": {"preprocessing": [], "max_components": 8},
        "mbl": {"preprocessing": [], "k": 30, "validation_size": 30},
        "pca_gbm": {"preprocessing": [], "n_components": 8, "learner": "ridge"},
    },
    "inner_folds": 3,
}


@pytest.fixture(scope="module")
def data():
    return toy_spectra(n=120, n_bands=60)


@pytest.fixture(scope="module")
def stacked(data):
    X, y, axis = data
    return SpectralAuto(**FAST).fit(X, y, axis=axis)


def test_nested_oof_never_lets_a_fold_choose_its_own_setting():
    target = np.arange(12, dtype=float)
    folds = inner_folds(12, 3, seed=0)
    oof = np.column_stack([target + 5.0, target.copy()])  # column 1 perfect everywhere...
    first_valid = folds[0][1]
    oof[first_valid, 1] += 100.0  # ...except on the first fold
    honest = nested_oof(oof, target, folds)
    # The first fold takes column 1 (best on the others) and pays for its error there.
    np.testing.assert_array_equal(honest[first_valid], oof[first_valid, 1])
    assert pooled_r2(honest, target)[0] < pooled_r2(oof[:, 1:], target)[0] + 1e-12


def test_grouped_inner_folds_and_too_few_groups():
    groups = np.repeat(["a", "b", "c", "d"], 5)
    for train, valid in inner_folds(20, 10, groups=groups, seed=1):
        assert not set(groups[train]) & set(groups[valid])
    with pytest.raises(SampleDataError, match="one group"):
        inner_folds(20, 5, groups=np.repeat("a", 20))
    with pytest.raises(ConfigError, match="inner_folds"):
        inner_folds(20, 1)


def test_stack_weights_and_prediction(data, stacked):
    X, _, _ = data
    weights = stacked.weights_
    assert set(stacked.candidate_scores_) == {"plsr", "mbl", "pca_gbm"}
    assert abs(sum(weights.values()) - 1.0) < 1e-9 and min(weights.values()) > 0
    expected = sum(
        weights[name] * np.log10(model.predict(X[:20]).astype(np.float64))
        for name, model in stacked.members_.items()
    )
    np.testing.assert_allclose(stacked.predict(X[:20]), 10**expected, rtol=1e-5)
    X_test, y_test, _ = toy_spectra(n=80, n_bands=60, seed=9)
    z, z_test = np.log10(stacked.predict(X_test)), np.log10(y_test)
    assert 1 - np.sum((z - z_test) ** 2) / np.sum((z_test - z_test.mean()) ** 2) > 0.95


def test_select_keeps_the_best_candidate_only(data):
    X, y, axis = data
    model = SpectralAuto(**FAST, combine="select").fit(X, y, axis=axis)
    best = max(model.candidate_scores_, key=lambda n: model.candidate_scores_[n]["cv_r2"])
    assert model.chosen_ == best and list(model.members_) == [best]


def test_artifact_round_trip(tmp_path, data, stacked):
    X, y, _ = data
    path = save_artifact(
        stacked,
        tmp_path / "auto.safetensors",
        input_spec=stacked.input_spec(),
        output_spec=OutputSpec(names=["kex"], units=["cmol/kg"]),
        provenance=Provenance(data_fingerprint="toy", n_samples=len(y), seed=0),
    )
    restored = load_artifact(path).estimator
    assert restored.weights_ == stacked.weights_
    np.testing.assert_array_equal(restored.predict(X[:30]), stacked.predict(X[:30]))


def test_cnn_joins_the_default_candidates_from_the_threshold():
    assert "cnn" not in SpectralAuto()._candidate_names(4999)
    assert "cnn" in SpectralAuto()._candidate_names(5000)
    auto = SpectralAuto(cnn_min_spectra=1000)
    assert "cnn" not in auto._candidate_names(999)
    assert auto._candidate_names(1000) == ["plsr", "svr", "mbl", "pca_gbm", "cnn"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"candidates": ["plsr", "cubist"]}, "params.candidates"),
        ({"candidates": []}, "params.candidates"),
        ({"combine": "vote"}, "params.combine"),
    ],
)
def test_bad_hyperparameters(data, params, field):
    X, y, axis = data
    with pytest.raises(ConfigError) as err:
        SpectralAuto(**params).fit(X, y, axis=axis)
    assert err.value.field == field
