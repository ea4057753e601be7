"""Learners that can extrapolate (MLP, ridge, SVR) read covariates clamped to their training
range by default, through fit, predict and the artifact; old artifacts keep extrapolating."""

import numpy as np
import pytest

from geosoil.artifacts import load_artifact
from geosoil.models.covariate.linear import CovariateLinear
from geosoil.models.covariate.mlp import CovariateMLP
from geosoil.models.covariate.svr import CovariateSVR

from .test_trees import save, table

LEARNERS = {
    "linear": (CovariateLinear, {}),
    "covariate_svr": (CovariateSVR, {}),
    "covariate_mlp": (CovariateMLP, {"max_epochs": 40, "hidden_layers": (16,)}),
}


def beyond_the_range(X):
    """The first rows of ``X`` with ``a`` pushed to 10 and -10 training maxima/minima away,
    and the same rows with ``a`` at the training maximum and minimum."""
    low, high = X["a"].min(), X["a"].max()
    far, edge = X.iloc[:4].copy(), X.iloc[:4].copy()
    far["a"] = [high + 10 * (high - low), low - 10 * (high - low), high + 1.0, low - 1.0]
    edge["a"] = [high, low, high, low]
    return far, edge


@pytest.mark.parametrize("name", LEARNERS)
def test_a_cell_beyond_the_range_is_predicted_as_at_its_edge(name, tmp_path):
    cls, settings = LEARNERS[name]
    X, y = table()
    model = cls(categorical_features=["c"], **settings).fit(X, y)
    far, edge = beyond_the_range(X)
    assert model.clamp_inputs
    np.testing.assert_array_equal(model.predict(far), model.predict(edge))
    # within the range nothing changes: the training rows read as they are
    unclamped = cls(categorical_features=["c"], clamp_inputs=False, **settings).fit(X, y)
    np.testing.assert_allclose(model.predict(X), unclamped.predict(X), rtol=1e-5, atol=1e-5)
    assert not np.allclose(unclamped.predict(far), unclamped.predict(edge), atol=1e-3)
    loaded = load_artifact(save(model, tmp_path / "m.safetensors")).estimator
    assert loaded.clamp_inputs
    np.testing.assert_array_equal(loaded.predict(far), model.predict(far))


@pytest.mark.parametrize("name", LEARNERS)
def test_an_artifact_without_the_setting_extrapolates_as_it_did(name, tmp_path):
    """An artifact written before ``clamp_inputs`` has neither the setting nor the range."""
    cls, settings = LEARNERS[name]
    X, y = table()
    model = cls(categorical_features=["c"], clamp_inputs=False, **settings).fit(X, y)
    tensors, state = model.export_state()
    assert not {"low", "high"} & set(tensors)
    params = {k: v for k, v in model.get_params().items() if k != "clamp_inputs"}
    restored = cls.from_state(params, tensors, state)
    assert restored.clamp_inputs is False
    far, _ = beyond_the_range(X)
    np.testing.assert_array_equal(restored.predict(far), model.predict(far))


def test_a_clamped_artifact_missing_its_range_is_refused():
    X, y = table()
    model = CovariateLinear(categorical_features=["c"]).fit(X, y)
    tensors, state = model.export_state()
    del tensors["low"]
    with pytest.raises(KeyError):
        CovariateLinear.from_state(model.get_params(), tensors, state)
