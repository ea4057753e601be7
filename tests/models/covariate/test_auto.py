"""auto: choice by inner CV only, stack blends saved and reloaded, failures reported."""

import numpy as np
import pytest

from geosoil.artifacts import load_artifact
from geosoil.errors import RegistryError
from geosoil.models.covariate.auto import AutoCovariate, AutoSelectionError
from geosoil.models.covariate.stack import CovariateStack, blend_weights

from .test_trees import save, table

FAST = {"random_forest": {"n_estimators": 30}, "gbm": {"n_estimators": 60}}


def auto(params=None, **extra):
    return AutoCovariate(
        candidates=["random_forest", "gbm", "linear"],
        candidate_params=FAST,
        params={"categorical_features": ["c"], **(params or {})},
        **extra,
    )


def test_auto_chooses_on_inner_folds_and_delivers_the_choice():
    X, y = table()
    model = auto(stack=False).fit(X, y)
    scores = model.inner_scores_
    assert set(scores) == {"random_forest", "gbm", "linear"}
    assert model.best_name_ == min(scores, key=lambda n: scores[n]["rmse"])
    expected = {"random_forest": "quantile_forest"}.get(model.best_name_, model.best_name_)
    assert model.best_estimator_.registry_name == expected
    np.testing.assert_array_equal(model.predict(X), model.best_estimator_.predict(X))


def test_a_stack_is_delivered_when_the_blend_wins_and_survives_the_artifact(tmp_path):
    X, y = table()
    model = auto().fit(X, y)
    assert "stack" in model.inner_scores_
    stack = CovariateStack(
        members=["random_forest", "gbm", "linear"],
        member_params=FAST,
        categorical_features=["c"],
    ).fit_with_weights(X, y, [0.5, 0.5, 0.0])
    loaded = load_artifact(save(stack, tmp_path / "s.safetensors")).estimator
    np.testing.assert_array_equal(loaded.predict(X), stack.predict(X))
    assert loaded.members_[2] is None
    importance = loaded.feature_importance()
    assert sum(importance.values()) == pytest.approx(1.0)


def test_blend_weights_are_non_negative_and_sum_to_one():
    rng = np.random.default_rng(0)
    y = rng.normal(size=100)
    good, noise = y + rng.normal(scale=0.1, size=100), rng.normal(size=100)
    weights = blend_weights(np.column_stack([good, noise, -y]), y)
    assert weights.sum() == pytest.approx(1.0) and (weights >= 0).all()
    assert weights[0] > 0.9 and weights[2] == 0


def test_every_candidate_failing_names_each_failure():
    X, y = table()
    with pytest.raises(AutoSelectionError, match="every candidate") as info:
        auto(params={"target_transform": "log10"}).fit(X, y - 100)
    assert "gbm" in str(info.value) and "linear" in str(info.value)


def test_an_unknown_candidate_is_refused_before_fitting():
    with pytest.raises(RegistryError, match="kriging_magic"):
        AutoCovariate(candidates=["kriging_magic"])
