"""SpectralMBL: local PLS equals scikit-learn's, neighbours and k chosen honestly, the library
in the artifact, predictions per row, the bad-input cases."""

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression

from geosoil.artifacts import OutputSpec, Provenance, load_artifact, save_artifact
from geosoil.errors import ConfigError, SampleDataError
from geosoil.models import PLSR, SpectralMBL
from geosoil.models.spectral.local_pls import local_pls_predict
from geosoil.spectra import SpectralAxis

QUICK = {"preprocessing": [], "target_transform": "none", "validation_size": 60}


def local_world(n=300, n_bands=60, seed=0):
    """Two soil families whose spectra relate to the target with opposite signs: one global
    linear model cannot fit both, local models can (this design favours MBL)."""
    rng = np.random.default_rng(seed)
    positions = np.linspace(400.0, 2400.0, n_bands)
    family = rng.integers(0, 2, n)
    strength = rng.uniform(0, 1, (n, 3))
    shapes = np.stack([np.exp(-0.5 * ((positions - c) / 150.0) ** 2) for c in (700, 1400, 2100)])
    X = (
        strength @ shapes
        + 0.8 * family[:, None] * (positions / 2400.0)
        + rng.normal(0, 1e-3, (n, n_bands))
    )
    y = np.where(family == 1, strength[:, 0], 1.0 - strength[:, 0]) + strength[:, 1] * 0.3
    return X, y, SpectralAxis.from_values(positions, "nm")


def r2(pred, obs):
    return 1 - np.sum((pred - obs) ** 2) / np.sum((obs - obs.mean()) ** 2)


@pytest.fixture(scope="module")
def fitted():
    X, y, axis = local_world()
    return SpectralMBL(**QUICK, k=[20, 40, 80]).fit(X, y, axis=axis)


@pytest.mark.parametrize("single", [False, True])
def test_local_pls_equals_scikit_learn(single):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 40, 15))
    y = 2 * X[:, :, 0] + X[:, :, 1] + rng.normal(0, 0.1, (4, 40))
    query = rng.normal(size=(4, 15))
    ours = local_pls_predict(X, y, query, max_components=5, single=single)
    reference = [
        PLSRegression(5, scale=False).fit(X[i], y[i]).predict(query[i : i + 1]).ravel()[0]
        for i in range(4)
    ]
    np.testing.assert_allclose(ours, reference, rtol=1e-4 if single else 1e-9)


def test_weighted_average_pls_lies_within_its_models_and_weights_reweight():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3, 50, 12))
    y = X[:, :, 0] + rng.normal(0, 0.3, (3, 50))
    query = rng.normal(size=(3, 12))
    each = np.stack([local_pls_predict(X, y, query, max_components=c) for c in range(2, 7)])
    average = local_pls_predict(X, y, query, max_components=6, min_components=2)
    assert ((average >= each.min(0) - 1e-12) & (average <= each.max(0) + 1e-12)).all()
    # A neighbour weighted to (near) nothing is as good as absent.
    weights = np.ones((3, 50))
    weights[:, 0] = 1e-12
    np.testing.assert_allclose(
        local_pls_predict(X, y, query, max_components=3, weights=weights),
        local_pls_predict(X[:, 1:], y[:, 1:], query, max_components=3),
        rtol=1e-6,
    )


def test_local_models_beat_one_global_pls_where_relations_differ(fitted):
    X, y, axis = local_world()
    X_test, y_test, _ = local_world(n=200, seed=5)
    global_r2 = r2(
        PLSR(preprocessing=[], target_transform="none").fit(X, y, axis=axis).predict(X_test), y_test
    )
    mbl_r2 = r2(fitted.predict(X_test), y_test)
    assert mbl_r2 > 0.9 and mbl_r2 > global_r2 + 0.1
    assert fitted.k_ in (20, 40, 80) and len(fitted.validation_rmse_) == 3
    best = min(fitted.validation_rmse_, key=lambda row: row["rmse"])
    assert best["k"] == fitted.k_
    assert 1 <= fitted.n_dissimilarity_components_ <= 30


@pytest.mark.parametrize(
    "params",
    [
        {"dissimilarity": "pls"},
        {"dissimilarity": "correlation"},
        {"dissimilarity_usage": "weights"},
        {"dissimilarity_usage": "predictors"},
        {"local_model": "pls", "n_dissimilarity_components": 3},
    ],
)
def test_every_variant_learns(params):
    X, y, axis = local_world()
    X_test, y_test, _ = local_world(n=100, seed=5)
    model = SpectralMBL(**QUICK, k=40, **params).fit(X, y, axis=axis)
    assert r2(model.predict(X_test), y_test) > 0.8


def test_predictions_do_not_depend_on_batching(fitted):
    X, _, _ = local_world(n=600, seed=7)
    full = fitted.predict(X)
    np.testing.assert_array_equal(full[300:301], fitted.predict(X[300:301]))
    np.testing.assert_array_equal(full[250:270], fitted.predict(X[250:270]))


def saved(model, folder):
    """The artifact of ``model`` written under ``folder``."""
    return save_artifact(
        model,
        folder / "mbl.safetensors",
        input_spec=model.input_spec(),
        output_spec=OutputSpec(names=["soc"], units=["%"]),
        provenance=Provenance(data_fingerprint="toy", n_samples=model.n_train_, seed=0),
    )


def test_artifact_holds_the_library_as_tensors(tmp_path, fitted):
    X, y, _ = local_world()
    path = saved(fitted, tmp_path)
    tensors, state = fitted.export_state()
    assert tensors["library_features"].shape[0] == len(y) and state["k"] == fitted.k_
    restored = load_artifact(path).estimator
    assert isinstance(restored, SpectralMBL)
    np.testing.assert_array_equal(restored.predict(X[:50]), fitted.predict(X[:50]))


def test_fewer_library_spectra_than_neighbours_is_refused():
    X, y, axis = local_world(n=30)
    with pytest.raises(SampleDataError, match="30 spectra, too few for k=50") as err:
        SpectralMBL(**QUICK, k=50).fit(X, y, axis=axis)
    assert err.value.field == "params.k" and "at most 29" in err.value.fix
    # From a list, the counts the library allows are kept.
    assert SpectralMBL(**QUICK, k=[10, 50]).fit(X, y, axis=axis).k_ == 10


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"k": 0}, "params.k"),
        ({"k": []}, "params.k"),
        ({"dissimilarity": "euclid"}, "params.dissimilarity"),
        ({"min_pls_components": 9, "max_pls_components": 4}, "params.min_pls_components"),
        ({"dissimilarity_usage": "both"}, "params.dissimilarity_usage"),
    ],
)
def test_bad_hyperparameters(params, field):
    X, y, axis = local_world(n=40)
    with pytest.raises(ConfigError) as err:
        SpectralMBL(**QUICK, **params).fit(X, y, axis=axis)
    assert err.value.field == field


def spiking_world():
    """A library and a local site whose soils sit 0.4 higher for the same spectrum, with a
    faint baseline of their own: library spectra alone predict the site biased."""
    X_lib, y_lib, axis = local_world(300, seed=0)
    X_site, y_site, _ = local_world(80, seed=1)
    X_site = X_site + 0.02 * np.linspace(0, 1, X_site.shape[1])
    return X_lib, y_lib, X_site, y_site + 0.4, axis


def test_spiking_local_samples_into_the_library_and_weighting_them():
    X_lib, y_lib, X_site, y_site, axis = spiking_world()
    local, test = np.arange(40), np.arange(40, 80)
    X = np.concatenate([X_lib, X_site[local]])
    y = np.concatenate([y_lib, y_site[local]])
    spiked = np.arange(len(X_lib), len(X))
    settings = {**QUICK, "k": [20, 40], "validation_size": 40}
    library = SpectralMBL(**settings).fit(X_lib, y_lib, axis=axis)
    plain = SpectralMBL(**settings).fit(X, y, axis=axis, spiked=spiked)
    weighted = SpectralMBL(**settings, spiking_weight=[1.0, 8.0]).fit(
        X, y, axis=axis, spiked=spiked
    )
    scores = {
        name: r2(model.predict(X_site[test]), y_site[test])
        for name, model in (("library", library), ("plain", plain), ("weighted", weighted))
    }
    assert scores["plain"] > scores["library"] + 0.2
    assert scores["weighted"] > scores["plain"] + 0.2  # the weight 8 is chosen here
    # k and the weight were validated on the 40 spiked spectra, every pair scored.
    assert plain.n_spiked_ == weighted.n_spiked_ == 40 and library.n_spiked_ == 0
    assert len(weighted.validation_rmse_) == 4 and weighted.spiking_weight_ in (1.0, 8.0)
    assert set(np.unique(weighted.library_weight_)) <= {1.0, weighted.spiking_weight_}
    assert np.all(weighted.library_weight_[spiked] == weighted.spiking_weight_)
    assert library.spiking_weight_ is None and np.all(library.library_weight_ == 1.0)
    # A boolean mask is the same as the indices.
    mask = np.zeros(len(X), dtype=bool)
    mask[spiked] = True
    again = SpectralMBL(**settings).fit(X, y, axis=axis, spiked=mask)
    np.testing.assert_array_equal(again.predict(X_site[test]), plain.predict(X_site[test]))


def test_spiked_library_in_the_artifact(tmp_path):
    X_lib, y_lib, X_site, y_site, axis = spiking_world()
    X, y = np.concatenate([X_lib, X_site[:40]]), np.concatenate([y_lib, y_site[:40]])
    model = SpectralMBL(**QUICK, k=30, spiking_weight=5.0)
    model.fit(X, y, axis=axis, spiked=np.arange(300, 340))
    loaded = load_artifact(saved(model, tmp_path))
    assert loaded.header.fitted_state["spiking_weight"] == 5.0
    assert loaded.header.fitted_state["n_spiked"] == 40
    np.testing.assert_array_equal(loaded.estimator.predict(X_site), model.predict(X_site))


@pytest.mark.parametrize(
    ("spiked", "extra", "match"),
    [
        (np.array([0, 500]), {}, "boolean mask"),
        (np.ones(10, dtype=bool), {}, "boolean mask"),
        (np.array([1, 2]), {"X_valid": True}, "validation set"),
    ],
)
def test_bad_spiking(spiked, extra, match):
    X, y, axis = local_world(120)
    valid = {"X_valid": X[:10], "y_valid": y[:10]} if extra else {}
    with pytest.raises(SampleDataError, match=match) as err:
        SpectralMBL(**QUICK, k=20).fit(X, y, axis=axis, spiked=spiked, **valid)
    assert err.value.field == "spiked"
    with pytest.raises(ConfigError, match="spiking_weight"):
        SpectralMBL(**QUICK, spiking_weight=[0.0]).fit(X, y, axis=axis)


def test_a_validation_set_joins_the_library():
    X, y, axis = local_world(150)
    model = SpectralMBL(**QUICK, k=20).fit(
        X[:120], y[:120], axis=axis, X_valid=X[120:], y_valid=y[120:]
    )
    assert model.n_train_ == 150 and len(model.library_target_) == 150
