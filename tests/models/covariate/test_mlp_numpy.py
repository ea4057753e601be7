"""The covariate MLP predicts in numpy: equal to its torch network to float32 tolerance, and
a loaded artifact predicts (and maps) without importing torch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from geosoil.artifacts import Provenance, load_artifact, save_artifact
from geosoil.models import CovariateMLP
from geosoil.models.covariate.dense import DenseNetwork
from geosoil.models.registry import FAMILY_MODULES, registered_names
from geosoil.models.targets import TargetTransform
from geosoil.specs import InputLayer, InputSpec, OutputSpec

ROOT = Path(__file__).resolve().parents[3]
TINY = {"hidden_layers": (16, 8), "max_epochs": 20, "patience": 20, "dropout": 0.1}


def table(n=300, seed=0):
    """Two continuous covariates and two categorical ones (classes 1-3 and 5/7)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "elevation": rng.uniform(0, 50, n),
            "soil": rng.integers(1, 4, n).astype(float),
            "ndvi": rng.uniform(-1, 1, n),
            "flood": rng.choice([5.0, 7.0], n),
        }
    )
    signal = 0.02 * X["elevation"] + 0.3 * (X["soil"] == 2) + np.sin(3 * X["ndvi"])
    y = 10 ** (1.5 + 0.3 * signal + 0.2 * (X["flood"] == 7) + rng.normal(0, 0.05, n))
    return X, y.to_numpy()


def torch_reference(model: CovariateMLP, X: np.ndarray) -> np.ndarray:
    """What the model predicted before numpy: its torch networks on the encoded rows,
    members averaged on the standardized scale, then back-transformed (float64)."""
    inputs = torch.from_numpy(model._encoded(X.astype(np.float32)))
    with torch.inference_mode():
        members = [network(inputs).numpy().astype(np.float64) for network in model.networks_]
    centre = np.mean(members, axis=0)
    centre = centre[:, 0] if model.target_ndim_ == 1 else centre
    z = centre * model.target_std_ + model.target_mean_
    return TargetTransform(model.target_transform).inverse(z)


@pytest.fixture(scope="module")
def fitted():
    X, y = table()
    params = {**TINY, "categorical_features": ["soil", "flood"], "target_transform": "log10"}
    return CovariateMLP(**params, n_members=3).fit(X, y)


@pytest.fixture(scope="module")
def rows():
    X, _ = table(500, seed=1)
    matrix = X.to_numpy(dtype=np.float32, copy=True)
    matrix[::7, 1] = 9.0  # a soil class training never saw: an all-zero one-hot code
    matrix[::11, 0] = np.nan  # a missing covariate predicts NaN
    return matrix


def artifact_of(model, path):
    names = model.feature_names_in_
    return save_artifact(
        model,
        path,
        input_spec=InputSpec(
            kind="covariates",
            layers=[InputLayer(name=n, categorical=n in model.categorical_features) for n in names],
        ),
        output_spec=OutputSpec(names=["lead"], units=["mg/kg"], back_transform="log10"),
        provenance=Provenance(data_fingerprint="sha256:test", n_samples=300, seed=model.seed),
    )


def test_numpy_forward_equals_torch_with_one_hot_classes_and_log10(fitted, rows):
    predicted = fitted.predict(rows)
    expected = torch_reference(fitted, rows)
    assert predicted.dtype == np.float32
    assert np.array_equal(np.isnan(predicted), np.isnan(expected))
    np.testing.assert_allclose(predicted, expected, rtol=2e-6, equal_nan=True)


def test_predict_dist_equals_torch_members(fitted, rows):
    mean, _std, quantiles = fitted.predict_dist(rows)
    np.testing.assert_allclose(mean, torch_reference(fitted, rows), rtol=2e-6, equal_nan=True)
    assert quantiles.shape == (2, len(rows))
    assert np.all((quantiles[0] <= mean) | np.isnan(mean))


def test_a_loaded_artifact_predicts_what_the_fitted_model_does(fitted, rows, tmp_path):
    loaded = load_artifact(artifact_of(fitted, tmp_path / "m.safetensors")).estimator
    assert np.array_equal(loaded.predict(rows), fitted.predict(rows), equal_nan=True)
    # Its torch networks, built when asked for (fine-tuning, attributions), hold the weights.
    np.testing.assert_allclose(
        torch_reference(loaded, rows), torch_reference(fitted, rows), rtol=0, equal_nan=True
    )


def test_multi_target_and_chunking(tmp_path):
    X, y = table()
    Y = np.column_stack([y, np.log10(y) * 3.0])
    model = CovariateMLP(**TINY, categorical_features=["soil"]).fit(X, Y)
    matrix = table(333, seed=2)[0].to_numpy(dtype=np.float32)
    whole = model.predict(matrix)
    assert whole.shape == (333, 2)
    np.testing.assert_allclose(whole, torch_reference(model, matrix), rtol=2e-6)
    # Batches padded to whole row panels: a row's value does not depend on its neighbours.
    pieces = np.concatenate([model.predict(matrix[i : i + 37]) for i in range(0, 333, 37)])
    assert np.array_equal(pieces, whole)


def test_mismatched_weights_are_refused_before_allocating():
    weights = {"0.weight": np.zeros((4, 3), np.float32), "0.bias": np.zeros(4, np.float32)}
    weights |= {"3.weight": np.zeros((1, 4), np.float32), "3.bias": np.zeros(1, np.float32)}
    assert len(DenseNetwork.from_weights(weights, n_inputs=3, hidden=[4], n_outputs=1).layers)
    with pytest.raises(ValueError, match="size mismatch for 0.weight"):
        DenseNetwork.from_weights(weights, n_inputs=3, hidden=[40000], n_outputs=1)
    with pytest.raises(ValueError, match="missing weights"):
        DenseNetwork.from_weights(weights, n_inputs=3, hidden=[4, 4], n_outputs=1)


def test_silu_of_large_negative_values_is_zero_without_warnings():
    network = DenseNetwork(((np.ones((1, 1), np.float32), np.zeros(1, np.float32)),) * 2)
    with np.errstate(all="raise"):
        out = network(np.array([[-1000.0], [0.0], [3.0]], np.float32))
    np.testing.assert_allclose(out[:, 0], [0.0, 0.0, 3.0 / (1 + np.exp(-3.0))], rtol=1e-6)


def test_loading_and_predicting_an_mlp_imports_no_torch(fitted, rows, tmp_path):
    path = artifact_of(fitted, tmp_path / "m.safetensors")
    np.save(tmp_path / "rows.npy", rows)
    code = (
        "import json, sys\nimport numpy as np\n"
        "from geosoil.artifacts import load_artifact\n"
        f"model = load_artifact({str(path)!r}).estimator\n"
        f"model.predict(np.load({str(tmp_path / 'rows.npy')!r}))\n"
        "print(json.dumps([m for m in ('torch', 'sklearn', 'scipy') if m in sys.modules]))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_registry_table_names_each_family_module():
    """Every registered estimator in the package is in the family table: an artifact naming
    it imports its module (a family missing there would not be found by load_artifact)."""
    import importlib
    import pkgutil

    import geosoil.models
    from geosoil.models.registry import _REGISTRY, get_estimator_class

    for module in pkgutil.walk_packages(geosoil.models.__path__, "geosoil.models."):
        importlib.import_module(module.name)
    assert set(_REGISTRY) == set(FAMILY_MODULES)
    assert set(registered_names()) == set(FAMILY_MODULES)
    for name, module in FAMILY_MODULES.items():
        assert get_estimator_class(name).__module__ == module


def test_a_rows_output_does_not_depend_on_the_rows_beside_it():
    rng = np.random.default_rng(0)
    shapes = [(64, 12), (64, 64), (3, 64)]
    dense = DenseNetwork(
        tuple(
            (rng.normal(size=shape).astype(np.float32) / 4, rng.normal(size=shape[0]).astype("f4"))
            for shape in shapes
        )
    )
    X = rng.normal(size=(5000, 12)).astype(np.float32)
    everything = dense(X)
    # batches smaller than, equal to and across the chunk size, starting anywhere
    for start, stop in ((0, 1), (3, 7), (17, 2065), (100, 2148), (2047, 5000)):
        np.testing.assert_array_equal(dense(X[start:stop]), everything[start:stop])
    reference = X.astype(np.float64)
    for k, (weight, bias) in enumerate(dense.layers):
        reference = reference @ weight.T.astype(np.float64) + bias
        if k < len(dense.layers) - 1:
            reference = reference / (1.0 + np.exp(-reference))
    np.testing.assert_allclose(everything, reference, rtol=1e-4, atol=1e-4)
