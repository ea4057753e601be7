"""Conformal intervals of SOC profile models from their profile CV (geosoil.trust.profiles)."""

from __future__ import annotations

import numpy as np
import pytest

from geosoil.errors import CalibrationError
from geosoil.trust import TrustLayer
from geosoil.trust.conformal import ConformalCalibration, calibrate
from geosoil.trust.profiles import (
    DEPTH_EDGES_M,
    ProfileOutOfFold,
    fit_profile_trust,
    layer_bounds,
    profile_bounds,
    profile_interval_report,
)

DEPTHS_M = np.array([0.02, 0.1, 0.25, 0.45, 0.8, 1.5])


def profiles_oof(n_profiles: int, *, error, seed: int = 0) -> ProfileOutOfFold:
    """Six observations per profile, ten folds of whole profiles; ``error(pred, depth, rng)``
    gives the observed SOC density."""
    rng = np.random.default_rng(seed)
    depth = np.tile(DEPTHS_M, n_profiles)
    level = np.repeat(rng.lognormal(9.5, 0.3, n_profiles), len(DEPTHS_M))
    predicted = level * np.exp(-2.0 * depth)
    fold = np.repeat(np.arange(n_profiles) % 10, len(DEPTHS_M))
    return ProfileOutOfFold(np.maximum(error(predicted, depth, rng), 0.0), predicted, depth, fold)


def shrinking_with_depth(predicted, depth, rng):
    """Additive errors whose spread falls 20-fold from the surface to 1.5 m."""
    return predicted + rng.normal(0.0, 4000.0 * np.exp(-2.0 * depth), predicted.shape)


def multiplicative(predicted, depth, rng):
    return predicted * 10.0 ** rng.normal(0.0, 0.1, predicted.shape)


def test_depth_normaliser_is_chosen_when_the_spread_changes_with_depth():
    oof = profiles_oof(300, error=shrinking_with_depth)
    trust = fit_profile_trust(oof)
    cal = trust.intervals
    assert cal.normalisation == "depth" and cal.n == oof.observed.size
    assert cal.scheme == "profile_kfold"
    assert np.array_equal(cal.depth_edges_m, DEPTH_EDGES_M)
    assert cal.depth_spread[0] > 5 * cal.depth_spread[5]  # 0-5 cm against 1-2 m
    assert "scaled by the spread at its depth" in trust.describe_intervals(0.9)
    report, low, high = profile_interval_report(oof, trust)
    assert report["picp"] == pytest.approx(0.9, abs=0.03)
    # depth-aware bounds cover every depth near the nominal level, not just on average
    for row in report["by_depth"]:
        assert row["picp"] == pytest.approx(0.9, abs=0.06), row
    assert ((low <= oof.predicted) & (oof.predicted < high)).all()


def test_constant_errors_keep_constant_width_on_the_models_scale():
    def constant(predicted, depth, rng):
        return predicted + rng.normal(0.0, 500.0, predicted.shape)

    cal = fit_profile_trust(profiles_oof(300, error=constant)).intervals
    assert cal.normalisation == "none" and cal.scale == "model"


def test_multiplicative_errors_are_calibrated_and_bounds_bracket_the_prediction():
    oof = profiles_oof(300, error=multiplicative)
    trust = fit_profile_trust(oof)
    report, _, _ = profile_interval_report(oof, trust)
    assert report["picp"] == pytest.approx(0.9, abs=0.03)
    assert set(report["mean_width_by_scale"]) == {"model", "log10"}
    assert set(report["alternatives"]) == {"model/none", "model/depth", "log10/none", "log10/depth"}
    chosen = f"{trust.intervals.scale}/{trust.intervals.normalisation}"
    assert report["alternatives"][chosen]["picp"] == report["picp"]
    predicted = np.array([[8000.0, 3000.0, 500.0]])
    low, high = profile_bounds(trust.intervals, predicted, np.array([0.05, 0.5, 1.5]))
    assert low.shape == predicted.shape
    assert (low < predicted).all() and (predicted < high).all() and (low >= 0).all()


@pytest.mark.parametrize("error", [shrinking_with_depth, multiplicative])
def test_layer_bounds_keep_carbonless_layers_at_zero(error):
    """Layers below bedrock (predicted 0) keep 0 as both bounds; others get profile_bounds."""
    cal = fit_profile_trust(profiles_oof(300, error=error)).intervals
    layers = np.array([[9000.0, 4000.0, 0.0], [6000.0, 0.0, 0.0]])
    depth = np.array([0.05, 0.5, 1.5])
    low, high = layer_bounds(cal, layers, depth, level=0.8)
    plain_low, plain_high = profile_bounds(cal, layers, depth, level=0.8)
    soil = layers > 0
    assert (low[~soil] == 0).all() and (high[~soil] == 0).all()
    np.testing.assert_array_equal(low[soil], plain_low[soil])
    np.testing.assert_array_equal(high[soil], plain_high[soil])
    assert (low[soil] < layers[soil]).all() and (layers[soil] < high[soil]).all()


def test_log10_scale_gives_multiplicative_bounds():
    cal = calibrate(np.linspace(-0.2, 0.2, 41), scale="log10")
    low, high = profile_bounds(cal, np.array([100.0, 1000.0]), np.array([0.1, 0.1]))
    assert high / np.array([100.0, 1000.0]) == pytest.approx(np.array([100.0, 1000.0]) / low)
    assert high[1] / high[0] == pytest.approx(10.0)


def test_calibration_with_a_depth_normaliser_round_trips_the_trust_layer():
    trust = fit_profile_trust(profiles_oof(200, error=shrinking_with_depth))
    arrays, header = trust.to_parts()
    again = TrustLayer.from_parts(arrays, header).intervals
    assert again.normalisation == "depth" and again.scale == trust.intervals.scale
    assert np.array_equal(again.depth_spread, trust.intervals.depth_spread)
    depth = np.array([0.03, 0.4, 3.0])
    assert np.array_equal(
        again.normaliser(depth_m=depth), trust.intervals.normaliser(depth_m=depth)
    )


def test_a_calibration_from_before_the_depth_normaliser_still_reads():
    # header and arrays as ConformalCalibration.to_parts wrote them before this change
    state = {"method": "cv", "normalisation": "none", "floor": 0.0, "di_offset": 0.0}
    cal = ConformalCalibration.from_parts({"scores": np.arange(30.0)}, state)
    assert cal.scale == "model" and cal.depth_spread.size == 0 and cal.n == 30


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1, float("nan")])
def test_a_level_outside_zero_one_is_refused(level):
    oof = profiles_oof(50, error=multiplicative)
    with pytest.raises(CalibrationError, match="strictly between 0 and 1"):
        fit_profile_trust(oof, level=level)
    trust = fit_profile_trust(oof)
    with pytest.raises(CalibrationError, match="strictly between 0 and 1"):
        profile_bounds(trust.intervals, np.array([1000.0]), np.array([0.1]), level=level)


def test_fewer_than_twenty_residuals_are_refused():
    oof = profiles_oof(3, error=multiplicative)  # 18 observations
    with pytest.raises(CalibrationError, match="at least 20") as info:
        fit_profile_trust(oof)
    assert info.value.fix


def test_depth_normaliser_needs_depths():
    trust = fit_profile_trust(profiles_oof(200, error=shrinking_with_depth))
    with pytest.raises(CalibrationError, match="normalised by depth, and none was given"):
        trust.intervals.normaliser()
