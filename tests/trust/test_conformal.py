import numpy as np
import pytest

from geosoil.errors import CalibrationError
from geosoil.trust.conformal import (
    ConformalCalibration,
    calibrate,
    check_level,
    choose_normaliser,
    cross_conformal_coverage,
    interval_scores,
)


def test_quantile_is_the_finite_sample_order_statistic():
    cal = calibrate(np.arange(1, 100, dtype=float))  # 99 scores 1..99
    assert cal.quantile(0.9) == 90.0  # ceil(100 * 0.9) = 90th smallest
    assert cal.quantile(0.999) == np.inf


@pytest.mark.parametrize("level", [0.0, 1.0, -0.1, 1.5, float("nan"), "x"])
def test_level_outside_zero_one_is_refused(level):
    with pytest.raises(CalibrationError, match="strictly between 0 and 1"):
        check_level(level)


def test_fewer_than_20_residuals_are_refused():
    with pytest.raises(CalibrationError, match="only 19 out-of-fold residuals"):
        calibrate(np.ones(19))


def test_coverage_on_fresh_data_is_near_nominal():
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.2, 2.0, size=4000)
    residuals = rng.normal(0, sigma)
    cal = calibrate(residuals[:2000], sigma[:2000], normalisation="spread")
    half = cal.half_width(0.9, cal.normaliser(spread=sigma[2000:]))
    covered = np.abs(residuals[2000:]) <= half
    assert covered.mean() == pytest.approx(0.9, abs=0.02)


def test_spread_normaliser_is_chosen_when_it_explains_the_error():
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.1, 3.0, size=500)
    residuals = rng.normal(0, sigma)
    folds = np.arange(500) % 5
    noise = rng.uniform(0.1, 3.0, size=500)
    assert choose_normaliser(residuals, {"spread": sigma}, folds) == "spread"
    assert choose_normaliser(residuals, {"spread": noise}, folds) == "none"


def test_cross_conformal_half_widths_cover_held_out_folds():
    rng = np.random.default_rng(2)
    residuals = rng.normal(size=1000)
    half = cross_conformal_coverage(residuals, 1.0, np.arange(1000) % 5, level=0.9)
    scores = interval_scores(residuals, -half, half)
    assert scores["picp"] == pytest.approx(0.9, abs=0.03)
    assert scores["mean_width"] == pytest.approx(2 * 1.645, rel=0.1)


def test_round_trip_and_missing_spread():
    cal = calibrate(np.linspace(-1, 1, 50), np.linspace(0.5, 1, 50), normalisation="spread")
    again = ConformalCalibration.from_parts(*cal.to_parts())
    assert again.quantile(0.9) == cal.quantile(0.9) and again.floor == cal.floor
    with pytest.raises(CalibrationError, match="spread"):
        again.normaliser()
