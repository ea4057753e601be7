"""CovariateMLP with several targets: shapes, per-column transforms, chunking, artifacts."""

import copy

import numpy as np
import pandas as pd
import pytest

import geosoil.models.covariate.mlp as mlp_module
from geosoil.artifacts import Provenance, load_artifact, read_header, save_artifact
from geosoil.errors import SampleDataError
from geosoil.mapping.predictors import predict_pixels
from geosoil.models import CovariateMLP
from geosoil.specs import InputLayer, InputSpec, OutputSpec

# Tiny networks and short training: most tests check plumbing, not skill.
TINY = {"hidden_layers": (8,), "max_epochs": 15, "patience": 15, "dropout": 0.0}
PROPERTIES = ["clay_pct", "cec_mmol_kg", "kex_cmol_kg", "ph"]


def multi_output(n=240, seed=0, *, positive=False):
    """Three covariates and four smooth targets on very different scales.

    With ``positive``, every target is a power of ten, for ``target_transform="log10"``.
    """
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({name: rng.uniform(-1, 1, n) for name in ("elevation", "ndvi", "twi")})
    a, b, c = (X[name].to_numpy() for name in X.columns)
    signal = np.column_stack([2 * a + b, np.sin(2 * b), a * c, a**2 - c])
    signal += rng.normal(scale=0.02, size=signal.shape)
    if positive:
        Y = 10.0 ** (signal / 2 + np.array([1.0, 3.0, -2.0, 0.0]))
    else:
        Y = signal * np.array([10.0, 300.0, 0.01, 1.0]) + np.array([30.0, 1000.0, 0.0, 6.5])
    return X, pd.DataFrame(Y, columns=PROPERTIES)


def r2_per_column(predicted, observed):
    residual = np.sum((predicted - observed) ** 2, axis=0)
    return 1 - residual / np.sum((observed - observed.mean(axis=0)) ** 2, axis=0)


@pytest.fixture(scope="module")
def model():
    X, Y = multi_output()
    return CovariateMLP(**TINY).fit(X, Y)


@pytest.fixture(scope="module")
def new_rows():
    X, _ = multi_output(200, seed=1)
    return X.to_numpy(dtype=np.float32)


def save(model, path, names=PROPERTIES):
    return save_artifact(
        model,
        path,
        input_spec=InputSpec(
            kind="covariates",
            layers=[InputLayer(name=name) for name in ("elevation", "ndvi", "twi")],
        ),
        output_spec=OutputSpec(
            names=names, units=[""] * len(names), back_transform=model.target_transform
        ),
        provenance=Provenance(data_fingerprint="sha256:test", n_samples=240, seed=model.seed),
    )


@pytest.mark.parametrize(
    ("as_y", "shape", "n_targets", "ndim"),
    [
        (lambda Y: Y["clay_pct"].to_numpy(), (50,), 1, 1),
        (lambda Y: Y["clay_pct"], (50,), 1, 1),
        (lambda Y: Y[["clay_pct"]].to_numpy(), (50, 1), 1, 2),
        (lambda Y: Y[["clay_pct"]], (50, 1), 1, 2),
        (lambda Y: Y.to_numpy()[:, :2], (50, 2), 2, 2),
        (lambda Y: Y, (50, 4), 4, 2),
    ],
    ids=["array", "series", "column", "one-column-frame", "two-columns", "frame"],
)
def test_prediction_shape_follows_y(as_y, shape, n_targets, ndim):
    X, Y = multi_output(50)
    fitted = CovariateMLP(**{**TINY, "max_epochs": 2}).fit(X, as_y(Y))
    assert (fitted.n_targets_, fitted.target_ndim_) == (n_targets, ndim)
    prediction = fitted.predict(X)
    assert prediction.shape == shape
    assert prediction.dtype == np.float32
    assert fitted.networks_[0][-1].out_features == n_targets


def test_one_column_y_is_the_vector_model_reshaped():
    X, Y = multi_output(80)
    vector = CovariateMLP(**TINY).fit(X, Y["cec_mmol_kg"])
    column = CovariateMLP(**TINY).fit(X, Y[["cec_mmol_kg"]])
    assert np.array_equal(column.predict(X), vector.predict(X)[:, None])


def test_learns_each_of_four_targets():
    X, Y = multi_output(320)
    train, test = slice(0, 240), slice(240, None)
    fitted = CovariateMLP(hidden_layers=(32, 32), max_epochs=40, dropout=0.0, batch_size=16)
    fitted.fit(X[train], Y[train])
    # Targets span 0.01 to 300 in spread: standardizing each column keeps all of them learned.
    r2 = r2_per_column(fitted.predict(X[test]), Y[test].to_numpy())
    assert (r2 > 0.5).all(), dict(zip(PROPERTIES, r2, strict=True))


def test_targets_are_standardized_per_column(model):
    _, Y = multi_output()
    np.testing.assert_allclose(model.target_mean_, Y.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(model.target_std_, Y.std(axis=0, ddof=0), rtol=1e-12)
    assert model.history_[0]["valid_loss"] == model.history_[0]["monitor_loss"]


def test_predict_does_not_depend_on_batching(model, new_rows, monkeypatch):
    whole = model.predict(new_rows)
    row_by_row = np.concatenate([model.predict(new_rows[i : i + 1]) for i in range(200)])
    assert np.array_equal(whole, row_by_row)
    edges = [1, 64, 65, 129, 130, 199]  # around the padding multiple, and a 1-row tail
    pieces = [model.predict(part) for part in np.split(new_rows, edges)]
    assert np.array_equal(whole, np.concatenate(pieces))
    monkeypatch.setattr(mlp_module, "_PREDICT_BATCH", 70)
    assert np.array_equal(whole, model.predict(new_rows))


def test_artifact_round_trip(model, new_rows, tmp_path):
    path = save(model, tmp_path / "multi.safetensors")
    loaded = load_artifact(path).estimator
    assert (loaded.n_targets_, loaded.target_ndim_) == (4, 2)
    assert np.array_equal(loaded.predict(new_rows), model.predict(new_rows))
    assert np.array_equal(loaded.target_mean_, model.target_mean_)
    state = read_header(path).fitted_state
    assert state["n_targets"] == 4
    assert len(state["target_mean"]) == len(state["target_std"]) == 4


def test_one_column_artifact_stays_two_dimensional(new_rows, tmp_path):
    X, Y = multi_output(80)
    fitted = CovariateMLP(**TINY).fit(X, Y[["ph"]])
    loaded = load_artifact(save(fitted, tmp_path / "ph.safetensors", ["ph"])).estimator
    assert loaded.predict(new_rows).shape == (200, 1)
    assert np.array_equal(loaded.predict(new_rows), fitted.predict(new_rows))


def test_single_target_state_has_no_target_count(new_rows):
    X, Y = multi_output(80)
    fitted = CovariateMLP(**TINY).fit(X, Y["ph"])
    tensors, state = fitted.export_state()
    # Exactly the state written before multi-target models, so old artifacts are unchanged
    # and load as single-target.
    assert sorted(state) == [
        "categories",
        "feature_names_in",
        "members",
        "target_mean",
        "target_std",
    ]
    restored = CovariateMLP.from_state(fitted.get_params(), tensors, state)
    assert (restored.n_targets_, restored.target_ndim_) == (1, 1)
    assert np.array_equal(restored.predict(new_rows), fitted.predict(new_rows))


def test_artifact_with_wrong_target_count_is_refused(model):
    tensors, state = model.export_state()
    with pytest.raises(ValueError, match="target_mean"):
        CovariateMLP.from_state(model.get_params(), tensors, {**state, "n_targets": 3})
    truncated = {**state, "n_targets": 3, "target_mean": [0.0] * 3, "target_std": [1.0] * 3}
    with pytest.raises(ValueError, match="size mismatch"):
        CovariateMLP.from_state(model.get_params(), tensors, truncated)


def test_same_seed_same_model(new_rows):
    X, Y = multi_output(100)
    first = CovariateMLP(**TINY, seed=3).fit(X, Y).predict(new_rows)
    assert np.array_equal(first, CovariateMLP(**TINY, seed=3).fit(X, Y).predict(new_rows))
    assert not np.array_equal(first, CovariateMLP(**TINY, seed=4).fit(X, Y).predict(new_rows))


def test_log10_applies_to_each_column(new_rows):
    X, Y = multi_output(positive=True)
    fitted = CovariateMLP(**{**TINY, "max_epochs": 40}, target_transform="log10").fit(X, Y)
    np.testing.assert_allclose(fitted.target_mean_, np.log10(Y).mean(axis=0), rtol=1e-12)
    prediction = fitted.predict(new_rows)
    assert (prediction > 0).all()
    # Column medians span five orders of magnitude; each lands within a factor of two.
    ratio = np.median(prediction, axis=0) / np.median(Y, axis=0)
    assert ((ratio > 0.5) & (ratio < 2)).all(), ratio


@pytest.mark.parametrize(("as_y", "column"), [(lambda Y: Y, "'kex_cmol_kg'"), (np.asarray, "2")])
def test_log10_names_the_non_positive_column(as_y, column):
    X, Y = multi_output(40, positive=True)
    Y.iloc[[3, 7], 2] = [0.0, -1.0]
    with pytest.raises(SampleDataError, match=f"positive targets; column {column} has 2 "):
        CovariateMLP(**TINY, target_transform="log10").fit(X, as_y(Y))


def test_nan_target_is_refused_naming_the_column():
    X, Y = multi_output(40)
    Y.loc[5, "cec_mmol_kg"] = np.nan
    with pytest.raises(SampleDataError, match="finite.*column 'cec_mmol_kg' has 1"):
        CovariateMLP(**TINY).fit(X, Y)
    with pytest.raises(SampleDataError, match="finite"):
        CovariateMLP(**TINY).fit(X, Y["cec_mmol_kg"])


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.ones(39), "y has 39 rows but X has 40"),
        (np.ones((41, 2)), "y has 41 rows but X has 40"),
        (np.ones((40, 2, 2)), r"1-D .* or 2-D .* got shape \(40, 2, 2\)"),
        (np.ones((40, 0)), r"got shape \(40, 0\)"),
        (pd.DataFrame({"texture": ["clay"] * 40}), "numeric"),
    ],
    ids=["short", "long", "3-D", "no-columns", "text"],
)
def test_malformed_targets_are_refused(y, message):
    X, _ = multi_output(40)
    with pytest.raises(SampleDataError, match=message):
        CovariateMLP(**TINY).fit(X, y)


def test_mapping_engine_gets_one_layer_per_target(model):
    rng = np.random.default_rng(2)
    features = rng.uniform(-1, 1, (3, 20, 30)).astype(np.float32)
    features[1, 4, 5] = np.nan
    layers = predict_pixels(model, features, n_outputs=4, batch_pixels=100)
    assert layers.shape == (4, 20, 30)
    valid = np.isfinite(features).all(axis=0)
    assert np.isnan(layers[:, 4, 5]).all()
    assert np.array_equal(layers[:, valid].T, model.predict(features[:, valid].T))


@pytest.fixture(scope="module", params=["none", "log10"])
def ensemble(request):
    X, Y = multi_output(120, positive=request.param == "log10")
    return CovariateMLP(**TINY, n_members=3, target_transform=request.param).fit(X, Y)


def test_ensemble_predict_dist_per_target(ensemble, new_rows):
    mean, std, quantiles = ensemble.predict_dist(new_rows, levels=(0.05, 0.5, 0.95))
    assert mean.shape == std.shape == (200, 4)
    assert quantiles.shape == (3, 200, 4)
    assert mean.dtype == std.dtype == quantiles.dtype == np.float32
    assert np.array_equal(mean, ensemble.predict(new_rows))
    assert np.array_equal(quantiles[1], mean)
    assert (std > 0).all()
    assert (np.diff(quantiles, axis=0) > 0).all()


def test_ensemble_dist_comes_from_its_members(new_rows):
    X, Y = multi_output(120)
    fitted = CovariateMLP(**TINY, n_members=3).fit(X, Y)
    members = []
    for network in fitted.networks_:
        member = copy.copy(fitted)
        member.networks_, member.n_members = [network], 1
        members.append(member.predict(new_rows))
    mean, std, _ = fitted.predict_dist(new_rows)
    # atol: a target column whose values come near 0 (float32 predictions of ~1e-7)
    np.testing.assert_allclose(mean, np.mean(members, axis=0), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(std, np.std(members, axis=0, ddof=1), rtol=1e-3, atol=1e-4)


def test_ensemble_predict_dist_does_not_depend_on_batching(ensemble, new_rows):
    whole = ensemble.predict_dist(new_rows)
    pieces = [ensemble.predict_dist(part) for part in np.split(new_rows, [1, 64, 65, 199])]
    means, stds, quantiles = zip(*pieces, strict=True)
    assert np.array_equal(whole[0], np.concatenate(means))
    assert np.array_equal(whole[1], np.concatenate(stds))
    assert np.array_equal(whole[2], np.concatenate(quantiles, axis=1))


def test_ensemble_artifact_round_trip(ensemble, new_rows, tmp_path):
    loaded = load_artifact(save(ensemble, tmp_path / "ensemble.safetensors")).estimator
    for a, b in zip(ensemble.predict_dist(new_rows), loaded.predict_dist(new_rows), strict=True):
        assert np.array_equal(a, b)
