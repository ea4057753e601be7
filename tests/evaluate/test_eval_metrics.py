"""Metrics against hand-computed values, scikit-learn and their defining properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from geosoil.evaluate import (
    DEFAULT_METRICS,
    METRICS,
    bias,
    lccc,
    mae,
    mape,
    r2,
    regression_metrics,
    rmse,
    rpd,
    rpiq,
)

# obs = [1, 2, 3, 4], pred = [1.5, 2, 2.5, 5]: errors [0.5, 0, -0.5, 1]
OBS = np.array([1.0, 2.0, 3.0, 4.0])
PRED = np.array([1.5, 2.0, 2.5, 5.0])
HAND = {
    "bias": 0.25,  # 1 / 4
    "mae": 0.5,  # 2 / 4
    "rmse": math.sqrt(0.375),  # (0.25 + 0 + 0.25 + 1) / 4
    "r2": 0.7,  # 1 - 1.5 / 5
    # cov 1.375, var_obs 1.25, var_pred 1.8125, (2.5 - 2.75)^2: 2 * 1.375 / 3.125
    "lccc": 0.88,
    "mape": 100 * (0.5 + 0 + 0.5 / 3 + 0.25) / 4,
    "rpd": math.sqrt(5 / 3) / math.sqrt(0.375),  # sd ddof=1 over rmse
    "rpiq": (3.25 - 1.75) / math.sqrt(0.375),  # IQR with linear interpolation
}

finite_floats = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def paired_samples(draw, min_size=2, max_size=40):
    n = draw(st.integers(min_size, max_size))
    obs = draw(arrays(np.float64, n, elements=finite_floats))
    pred = draw(arrays(np.float64, n, elements=finite_floats))
    return obs, pred


@pytest.mark.parametrize("name", sorted(HAND))
def test_hand_computed(name):
    assert METRICS[name](OBS, PRED) == pytest.approx(HAND[name], rel=1e-12)


def test_registry_holds_every_metric():
    assert set(METRICS) == {"r2", "rmse", "mae", "bias", "lccc", "mape", "rpd", "rpiq"}
    assert METRICS["lccc"] is lccc


def test_regression_metrics_defaults_and_order():
    result = regression_metrics(OBS, PRED)
    assert tuple(result) == DEFAULT_METRICS == ("r2", "rmse", "mae", "lccc", "bias")
    assert result == pytest.approx({name: HAND[name] for name in DEFAULT_METRICS})
    assert list(regression_metrics(OBS, PRED, names=["rpiq", "r2"])) == ["rpiq", "r2"]


@settings(max_examples=60, deadline=None)
@given(paired_samples())
def test_agrees_with_scikit_learn(sample):
    obs, pred = sample
    assume(np.ptp(obs) > 1e-3)
    assert r2(obs, pred) == pytest.approx(r2_score(obs, pred), rel=1e-9, abs=1e-9)
    assert rmse(obs, pred) == pytest.approx(
        math.sqrt(mean_squared_error(obs, pred)), rel=1e-9, abs=1e-9
    )
    assert mae(obs, pred) == pytest.approx(mean_absolute_error(obs, pred), rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(paired_samples(min_size=3))
def test_lccc_never_exceeds_pearson(sample):
    obs, pred = sample
    assume(np.std(obs) > 1e-3 and np.std(pred) > 1e-3)
    pearson = np.corrcoef(obs, pred)[0, 1]
    assert -1 - 1e-12 <= lccc(obs, pred) <= 1 + 1e-12
    # lccc = r * C_b with 0 < C_b <= 1: its magnitude is at most |r|
    assert abs(lccc(obs, pred)) <= abs(pearson) + 1e-9


@given(arrays(np.float64, st.integers(2, 30), elements=finite_floats))
def test_lccc_is_one_for_identical_values(obs):
    assume(np.ptp(obs) > 1e-3)
    assert lccc(obs, obs) == pytest.approx(1.0)
    assert r2(obs, obs) == 1.0
    assert rmse(obs, obs) == 0.0


def test_lccc_below_pearson_when_biased():
    obs = np.linspace(0.0, 10.0, 21)
    shifted = obs + 2.0
    assert np.corrcoef(obs, shifted)[0, 1] == pytest.approx(1.0)
    assert lccc(obs, shifted) < 0.95
    assert bias(obs, shifted) == pytest.approx(2.0)
    scaled = 1.5 * obs
    assert lccc(obs, scaled) < np.corrcoef(obs, scaled)[0, 1] - 1e-3


@pytest.mark.parametrize("name", sorted(METRICS))
def test_non_finite_pairs_are_dropped(name):
    obs = np.array([1.0, np.nan, 2.0, 3.0, 4.0, 5.0])
    pred = np.array([1.5, 2.0, 2.0, np.inf, 5.0, np.nan])
    keep = [0, 2, 4]
    assert METRICS[name](obs, pred) == pytest.approx(METRICS[name](obs[keep], pred[keep]))


@pytest.mark.parametrize("name", sorted(METRICS))
def test_length_mismatch_raises_value_error(name):
    with pytest.raises(ValueError, match="pass one prediction per observation"):
        METRICS[name]([1.0, 2.0, 3.0], [1.0, 2.0])


def test_fewer_than_two_finite_pairs_raises():
    with pytest.raises(ValueError, match="at least 2 pairs"):
        rmse([1.0, np.nan, 3.0], [1.0, 2.0, np.nan])


def test_column_vectors_accepted_matrices_refused():
    assert rmse(OBS[:, None], PRED) == pytest.approx(HAND["rmse"])
    with pytest.raises(ValueError, match="1-D"):
        rmse(np.ones((4, 2)), np.ones((4, 2)))


def test_unknown_metric_name_lists_known_ones():
    with pytest.raises(ValueError, match="choose from"):
        regression_metrics(OBS, PRED, names=["r2", "nse"])
    with pytest.raises(ValueError, match="sequence"):
        regression_metrics(OBS, PRED, names="r2")


def test_mape_skips_zero_observations():
    assert mape([0.0, 2.0, 4.0], [1.0, 3.0, 3.0]) == pytest.approx(100 * (0.5 + 0.25) / 2)
    assert math.isnan(mape([0.0, 0.0], [1.0, 2.0]))


def test_degenerate_cases():
    constant = np.full(5, 3.0)
    assert math.isnan(r2(constant, constant + 1))
    assert math.isnan(lccc(constant, constant))
    assert rpd(OBS, OBS) == math.inf
    assert rpiq(OBS, OBS) == math.inf
