"""Taylor statistics on series with known answers, and the Taylor diagram file."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from geosoil.errors import OutputError
from geosoil.evaluate.taylor import (
    TAYLOR_STATISTICS,
    taylor_diagram,
    taylor_statistics,
    taylor_table,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def diurnal(n: int = 240, seed: int = 0) -> np.ndarray:
    """A sensible-heat-like series: a daily cycle plus noise (W m-2)."""
    rng = np.random.default_rng(seed)
    hours = np.arange(n) % 24
    return 150 * np.clip(np.sin(np.pi * (hours - 6) / 12), 0, None) + rng.normal(0, 10, n)


def test_a_perfect_simulation_sits_on_the_reference_point():
    obs = diurnal()
    stats = taylor_statistics(obs, obs.copy())
    assert stats["n"] == obs.size
    assert stats["correlation"] == pytest.approx(1.0)
    assert stats["normalized_sd"] == pytest.approx(1.0)
    assert stats["normalized_rmse"] == pytest.approx(0.0, abs=1e-12)
    assert stats["rmse"] == pytest.approx(0.0, abs=1e-12)
    assert stats["bias"] == pytest.approx(0.0, abs=1e-12)


def test_a_scaled_copy_keeps_r_and_scales_the_sd():
    obs = diurnal()
    stats = taylor_statistics(obs, 1.7 * obs)
    assert stats["correlation"] == pytest.approx(1.0)
    assert stats["normalized_sd"] == pytest.approx(1.7)
    # centred difference is 0.7 times the observed anomaly
    assert stats["normalized_rmse"] == pytest.approx(0.7)
    assert stats["bias"] == pytest.approx(0.7 * obs.mean())


def test_an_offset_copy_shows_in_bias_and_total_rmse_only():
    obs = diurnal()
    stats = taylor_statistics(obs, obs + 20.0)
    assert stats["bias"] == pytest.approx(20.0)
    assert stats["rmse"] == pytest.approx(20.0)
    assert stats["normalized_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert stats["normalized_total_rmse"] == pytest.approx(20.0 / obs.std())
    assert stats["correlation"] == pytest.approx(1.0)


def test_an_anticorrelated_series_has_r_minus_one():
    obs = diurnal()
    stats = taylor_statistics(obs, 100.0 - obs)
    assert stats["correlation"] == pytest.approx(-1.0)
    assert stats["normalized_rmse"] == pytest.approx(2.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_law_of_cosines_holds_on_random_data(seed):
    rng = np.random.default_rng(seed)
    obs = rng.gamma(2.0, 30.0, 500)
    sim = 0.6 * obs + rng.normal(5, 25, 500)
    s = taylor_statistics(obs, sim)
    rhs = s["sd_simulated"] ** 2 + s["sd_observed"] ** 2
    rhs -= 2 * s["sd_simulated"] * s["sd_observed"] * s["correlation"]
    assert s["centred_rmse"] ** 2 == pytest.approx(rhs, rel=1e-10)
    # the same identity in normalized units
    n_rhs = s["normalized_sd"] ** 2 + 1 - 2 * s["normalized_sd"] * s["correlation"]
    assert s["normalized_rmse"] ** 2 == pytest.approx(n_rhs, rel=1e-10)
    # against numpy's own estimators
    assert s["correlation"] == pytest.approx(np.corrcoef(obs, sim)[0, 1], rel=1e-12)
    assert s["normalized_sd"] == pytest.approx(sim.std() / obs.std(), rel=1e-12)


def test_pairs_with_a_nan_on_either_side_are_left_out():
    rng = np.random.default_rng(3)
    obs = rng.normal(100, 30, 50)
    sim = obs + rng.normal(0, 10, 50)
    obs_gaps, sim_gaps = obs.copy(), sim.copy()
    obs_gaps[[1, 7]] = np.nan
    sim_gaps[[7, 20]] = np.inf
    keep = np.ones(50, bool)
    keep[[1, 7, 20]] = False
    with_gaps = taylor_statistics(obs_gaps, sim_gaps)
    clean = taylor_statistics(obs[keep], sim[keep])
    assert with_gaps["n"] == 47
    for key in TAYLOR_STATISTICS:
        assert with_gaps[key] == pytest.approx(clean[key], rel=1e-12)


def test_too_few_pairs_and_constant_observations_give_nan():
    few = taylor_statistics([1.0, np.nan, 3.0], [np.nan, 2.0, 3.0])
    assert few["n"] == 1
    assert all(math.isnan(few[k]) for k in TAYLOR_STATISTICS if k != "n")
    flat = taylor_statistics(np.full(10, 5.0), np.arange(10.0))
    assert flat["n"] == 10 and flat["rmse"] > 0
    assert math.isnan(flat["normalized_sd"]) and math.isnan(flat["correlation"])


def test_arrays_of_different_sizes_are_refused():
    with pytest.raises(ValueError, match="one simulated value per observation"):
        taylor_statistics(np.arange(5.0), np.arange(4.0))


def test_table_keeps_labels_and_orders_columns():
    obs = diurnal()
    table = taylor_table(
        [
            {
                "site": "A",
                "flux": "h_w_m2",
                "run": "default",
                "observed": obs,
                "simulated": 2 * obs,
            },
            {"site": "A", "flux": "h_w_m2", "run": "calibrated", "observed": obs, "simulated": obs},
        ]
    )
    assert list(table.columns) == ["site", "flux", "run", *TAYLOR_STATISTICS]
    assert table["normalized_sd"].tolist() == pytest.approx([2.0, 1.0])
    assert table["n"].dtype == np.int64
    with pytest.raises(ValueError, match="simulated"):
        taylor_table([{"site": "A", "observed": obs}])


def _example_table(negative: bool = False) -> pd.DataFrame:
    rows = []
    obs = diurnal()
    rng = np.random.default_rng(5)
    for site in ("US-Ne1", "DE-Tha"):
        for flux in ("h_w_m2", "le_w_m2"):
            for run, noise in (("default", 60.0), ("calibrated", 20.0)):
                sim = 0.8 * obs + rng.normal(0, noise, obs.size)
                if negative and run == "default" and flux == "le_w_m2":
                    sim = -sim
                rows.append(
                    {"site": site, "flux": flux, "run": run, "observed": obs, "simulated": sim}
                )
    return taylor_table(rows)


@pytest.mark.parametrize("negative", [False, True])
def test_diagram_is_a_png(tmp_path, negative):
    table = _example_table(negative)
    assert (table["correlation"] < 0).any() == negative
    path = taylor_diagram(table, tmp_path / "taylor.png", title="H and LE")
    assert path == tmp_path / "taylor.png"
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["taylor.png"]


def test_diagram_refuses_a_table_without_statistics_and_a_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="normalized_sd"):
        taylor_diagram(pd.DataFrame({"site": ["A"]}), tmp_path / "x.png")
    empty = taylor_table([{"observed": [1.0], "simulated": [1.0]}])
    with pytest.raises(ValueError, match="no row"):
        taylor_diagram(empty, tmp_path / "x.png")
    with pytest.raises(OutputError):
        taylor_diagram(_example_table(), tmp_path / "missing" / "x.png")
