"""Real data: conformal SOC intervals on the binn_ny profiles, pinned near
benchmarks/results/trust_soc.json (the depth-only baseline: the same folds, seconds to fit)."""

from __future__ import annotations

import pytest

from geosoil.baselines.soc import DepthMeanSOC
from geosoil.evaluate.profiles import cross_validate_profiles
from geosoil.io.profiles import read_binn_ny
from geosoil.trust.profiles import ProfileOutOfFold, fit_profile_trust, profile_interval_report

from ..conftest import real_data_dir

BINN_NY = real_data_dir() / "binn_ny"

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(
        not (BINN_NY / "Training_Data").is_dir(), reason=f"binn_ny data not found at {BINN_NY}"
    ),
]


def test_depth_only_intervals_cover_ninety_percent_at_every_depth():
    profiles = read_binn_ny(BINN_NY, drop_incomplete=True, drop_empty=True)
    cv = cross_validate_profiles(DepthMeanSOC, profiles, n_folds=10, seed=0)
    oof = ProfileOutOfFold.from_table(cv.predictions)
    trust = fit_profile_trust(oof)
    report, low, high = profile_interval_report(oof, trust)
    assert (trust.intervals.scale, trust.intervals.normalisation) == ("model", "depth")
    # trust_soc.json (commit d0270dc): PICP 0.8997, mean width 31,411 g C m-3, 8,481 observations
    assert report["n"] == 8481
    assert report["picp"] == pytest.approx(0.8997, abs=0.002)
    assert report["mean_width"] == pytest.approx(31411, rel=0.01)
    assert all(0.84 <= row["picp"] <= 0.97 for row in report["by_depth"])
    assert report["mean_width_by_scale"]["log10"] > 2 * report["mean_width_by_scale"]["model"]
    assert (low <= oof.predicted).all() and (oof.predicted < high).all()
