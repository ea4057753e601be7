"""CovariateMLP as a deep ensemble: predict_dist, chunking invariance and the artifact layout."""

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import geosoil.models.covariate.mlp as mlp_module
from geosoil.artifacts import Provenance, load_artifact, read_header, save_artifact
from geosoil.errors import ArtifactError, ConfigError
from geosoil.models import CovariateMLP, NotFittedError
from geosoil.specs import InputLayer, InputSpec, OutputSpec

# Tiny networks and short training: the tests check the ensemble's plumbing, not its skill.
TINY = {"hidden_layers": (8,), "max_epochs": 15, "patience": 15, "dropout": 0.0}
Z_95 = 1.6448536269514715  # standard normal quantile of 0.95


def regression(n=120, seed=0, *, transform="none"):
    """Two covariates and a smooth target; strictly positive and skewed for ``log10``."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"elevation_m": rng.uniform(0, 400, n), "ndvi": rng.uniform(0, 1, n)})
    z = 0.004 * X["elevation_m"] + np.sin(3 * X["ndvi"]) + rng.normal(scale=0.1, size=n)
    y = 10 ** (z / 2) if transform == "log10" else 5 + z
    return X, y.to_numpy()


def fit_ensemble(transform="none", *, n_members=3, seed=0):
    X, y = regression(transform=transform)
    model = CovariateMLP(**TINY, target_transform=transform, n_members=n_members, seed=seed)
    return model.fit(X, y)


@pytest.fixture(scope="module", params=["none", "log10"])
def ensemble(request):
    return fit_ensemble(request.param)


@pytest.fixture(scope="module")
def new_rows():
    X, _ = regression(200, seed=1)
    return X.to_numpy(dtype=np.float32)


def save(model, path):
    return save_artifact(
        model,
        path,
        input_spec=InputSpec(
            kind="covariates",
            layers=[InputLayer(name="elevation_m", units="m"), InputLayer(name="ndvi")],
        ),
        output_spec=OutputSpec(names=["y"], units=["g/kg"], back_transform=model.target_transform),
        provenance=Provenance(data_fingerprint="sha256:test", n_samples=120, seed=model.seed),
    )


def joined(dists):
    """Concatenate predict_dist results of consecutive row batches."""
    means, stds, quantiles = zip(*dists, strict=True)
    return np.concatenate(means), np.concatenate(stds), np.concatenate(quantiles, axis=1)


def assert_dists_equal(first, second):
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)


def test_one_network_per_member(ensemble):
    assert len(ensemble.networks_) == len(ensemble.best_epochs_) == 3
    assert {row["member"] for row in ensemble.history_} == {0, 1, 2}
    first, second = (net[0].weight for net in ensemble.networks_[:2])
    assert not torch.equal(first, second)


def test_member_k_is_the_single_network_with_seed_plus_k():
    ensemble = fit_ensemble(seed=4)
    X, y = regression()
    single = CovariateMLP(**TINY, seed=6).fit(X, y)
    member, alone = ensemble.networks_[2].state_dict(), single.networks_[0].state_dict()
    assert all(torch.equal(member[k], alone[k]) for k in alone)


def test_predict_dist_shapes_and_dtypes(ensemble, new_rows):
    mean, std, quantiles = ensemble.predict_dist(new_rows)
    assert mean.shape == std.shape == (len(new_rows),)
    assert quantiles.shape == (2, len(new_rows))
    assert mean.dtype == std.dtype == quantiles.dtype == np.float32
    assert np.array_equal(mean, ensemble.predict(new_rows))
    assert (std > 0).all()


def test_interval_without_transform_is_mean_plus_z_std(new_rows):
    model = fit_ensemble("none")
    mean, std, (p05, p95) = model.predict_dist(new_rows)
    assert (p05 <= mean).all() and (mean <= p95).all()
    np.testing.assert_allclose(p95 - mean, Z_95 * std, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(mean - p05, Z_95 * std, rtol=1e-3, atol=1e-5)


def test_log10_interval_is_asymmetric(new_rows):
    model = fit_ensemble("log10")
    mean, _, (p05, p95) = model.predict_dist(new_rows)
    assert (p05 > 0).all()
    assert (p95 - mean > mean - p05).all()


def test_median_level_is_the_mean(ensemble, new_rows):
    mean, _, quantiles = ensemble.predict_dist(new_rows, levels=(0.5,))
    assert quantiles.shape == (1, len(new_rows))
    assert np.array_equal(quantiles[0], mean)


def test_quantiles_follow_their_levels(ensemble, new_rows):
    _, _, quantiles = ensemble.predict_dist(new_rows, levels=(0.01, 0.25, 0.75, 0.99))
    assert (np.diff(quantiles, axis=0) > 0).all()


def test_predict_dist_does_not_depend_on_batching(ensemble, new_rows):
    whole = ensemble.predict_dist(new_rows)
    row_by_row = [ensemble.predict_dist(new_rows[i : i + 1]) for i in range(len(new_rows))]
    assert_dists_equal(whole, joined(row_by_row))
    edges = [1, 64, 65, 129, 130, 199]  # around the padding multiple, and a 1-row tail
    pieces = [ensemble.predict_dist(part) for part in np.split(new_rows, edges)]
    assert_dists_equal(whole, joined(pieces))


def test_internal_batches_do_not_change_predict_dist(ensemble, new_rows, monkeypatch):
    whole = ensemble.predict_dist(new_rows)
    monkeypatch.setattr(mlp_module, "_PREDICT_BATCH", 70)
    assert_dists_equal(whole, ensemble.predict_dist(new_rows))


def test_artifact_round_trip_keeps_predict_dist(ensemble, new_rows, tmp_path):
    path = save(ensemble, tmp_path / "ensemble.safetensors")
    loaded = load_artifact(path).estimator
    assert loaded.supports_dist
    assert_dists_equal(ensemble.predict_dist(new_rows), loaded.predict_dist(new_rows))
    with safe_open(path, framework="numpy") as handle:
        names = set(handle.keys())
    assert {"center", "scale", "members.0.network.0.weight", "members.2.network.3.bias"} <= names
    assert not [name for name in names if name.startswith("network.")]
    members = read_header(path).fitted_state["members"]
    assert [member["seed"] for member in members] == [0, 1, 2]


def test_artifact_with_fewer_members_than_its_tensors_is_refused(tmp_path):
    path = save(fit_ensemble(n_members=2), tmp_path / "ensemble.safetensors")
    header = read_header(path).model_dump(mode="json")
    header["hyperparameters"]["n_members"] = 1
    edited = tmp_path / "edited.safetensors"
    save_file(load_file(path), edited, metadata={"geosoil": json.dumps(header)})
    with pytest.raises(ArtifactError, match="does not fit"):
        load_artifact(edited)


def test_single_network_keeps_the_legacy_layout():
    X, y = regression()
    model = CovariateMLP(**TINY, clamp_inputs=False).fit(X, y)
    tensors, state = model.export_state()
    assert sorted(tensors) == [
        "center",
        "network.0.bias",
        "network.0.weight",
        "network.3.bias",
        "network.3.weight",
        "scale",
    ]
    # An artifact written before ensembles: no n_members, epochs at the top of the state.
    params = {k: v for k, v in model.get_params().items() if k not in ("n_members", "clamp_inputs")}
    legacy_state = {k: v for k, v in state.items() if k != "members"}
    legacy_state.update(best_epoch=model.best_epochs_[0], epochs_run=len(model.history_))
    restored = CovariateMLP.from_state(params, tensors, legacy_state)
    assert np.array_equal(restored.predict(X), model.predict(X))
    assert restored.best_epochs_ == model.best_epochs_


def test_single_network_refuses_predict_dist(new_rows):
    X, y = regression()
    model = CovariateMLP(**TINY).fit(X, y)
    assert not model.supports_dist
    with pytest.raises(ConfigError, match=r"params.n_members >= 2"):
        model.predict_dist(new_rows)


def test_predict_dist_before_fit():
    model = CovariateMLP(n_members=3)
    assert model.supports_dist
    with pytest.raises(NotFittedError):
        model.predict_dist(np.zeros((2, 2), dtype=np.float32))


def test_same_seed_same_ensemble(new_rows):
    first = fit_ensemble(seed=7).predict_dist(new_rows)
    assert_dists_equal(first, fit_ensemble(seed=7).predict_dist(new_rows))
    other = fit_ensemble(seed=8).predict_dist(new_rows)
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("n_members", [0, -2, 1.5, "3", True, None])
def test_invalid_n_members_is_refused(n_members):
    X, y = regression()
    with pytest.raises(ConfigError, match="n_members"):
        CovariateMLP(**TINY, n_members=n_members).fit(X, y)


@pytest.mark.parametrize("levels", [(0.0, 0.5), (0.05, 1.2), (), (float("nan"),)])
def test_levels_must_be_probabilities(ensemble, new_rows, levels):
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        ensemble.predict_dist(new_rows, levels=levels)


def test_training_logs_each_member(caplog):
    X, y = regression()
    with caplog.at_level(logging.INFO, logger="geosoil.models.covariate.mlp"):
        CovariateMLP(**{**TINY, "max_epochs": 3}, n_members=2).fit(X, y)
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("training a deep ensemble of 2 networks") for m in messages)
    assert [m.split(":")[0] for m in messages if "trained" in m] == ["member 1/2", "member 2/2"]
