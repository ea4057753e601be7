"""Real data: the REddyProc DE-Tha 1998 year and the three FLUXNET2015 site-months."""

import numpy as np
import pandas as pd
import pytest

from geosoil.errors import SampleDataError
from geosoil.io.flux import SUMMARY_NAMES
from geosoil.io.flux_csv import read_flux, read_reddyproc_csv
from geosoil.process.lsm_forcing import FLUX_NAMES

from ..conftest import real_data_dir

FLUX = real_data_dir() / "flux"
THARANDT = FLUX / "reddyproc_DETha_1998_halfhourly.csv"
THREE_SITES = FLUX / "bigleaf_fluxnet2015_3sites_halfhourly.csv"
# DE-Tha lacks these: plausible constants for a spruce forest at 380 m
CONSTANTS = {"wind_m_s": 2.5, "pressure_kpa": 97.0, "precip_mm": 0.05}

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(
        not (THARANDT.is_file() and THREE_SITES.is_file()),
        reason=f"real flux data not found at {FLUX}",
    ),
]


@pytest.fixture(scope="module")
def tharandt():
    (record,) = read_reddyproc_csv(THARANDT, attributes={"igbp": "ENF"})
    return record


@pytest.fixture(scope="module")
def three_sites():
    return read_flux(THREE_SITES)


def test_tharandt_is_one_regular_year_of_half_hours(tharandt):
    assert tharandt.site == "DE-Tha" and tharandt.attributes["igbp"] == "ENF"
    assert tharandt.n_steps == 17520 and tharandt.time_step_s == 1800
    # Hour marks the end of each half-hour: the year starts at 00:00 and ends at 23:30
    assert tharandt.time[0] == pd.Timestamp("1998-01-01 00:00")
    assert tharandt.time[-1] == pd.Timestamp("1998-12-31 23:30")
    vpd = tharandt.forcing["vpd_kpa"].dropna()
    assert vpd.min() >= 0.0 and vpd.max() <= 6.0
    raw_vpd_hpa = pd.read_csv(THARANDT, usecols=["VPD"])["VPD"].to_numpy()
    np.testing.assert_allclose(tharandt.forcing["vpd_kpa"], raw_vpd_hpa / 10)


def test_tharandt_missing_variables_are_reported_and_refused(tharandt):
    assert tharandt.missing_variables == ("wind_m_s", "pressure_kpa", "precip_mm")
    report = tharandt.gap_report().set_index("variable")
    assert report.loc["wind_m_s", "share"] == 1.0
    assert report.loc["tair_c", "n_missing"] > 0 and report.loc["h_w_m2", "n_missing"] > 0
    with pytest.raises(SampleDataError, match="wind_m_s is not in the file"):
        tharandt.to_forcing()
    with_constants = tharandt.filled(CONSTANTS)
    # the air temperature and shortwave gaps still stand in the way
    with pytest.raises(SampleDataError, match="sw_in_w_m2 has 157 missing"):
        with_constants.to_forcing()
    complete = with_constants.filled({"sw_in_w_m2": "mean_diurnal", "tair_c": "mean_diurnal"})
    forcing = complete.to_forcing()
    assert forcing.shape == (1, 17520) and forcing.lw_in_w_m2 is None
    # observed fluxes are never filled
    assert np.isnan(complete.observed_array()).sum() == tharandt.observed.isna().sum().sum()


def test_tharandt_months_have_finite_summaries(tharandt):
    complete = tharandt.filled(
        {**CONSTANTS, "sw_in_w_m2": "mean_diurnal", "tair_c": "mean_diurnal"}
    )
    months = complete.split("MS", min_steps=48 * 10)
    assert len(months) == 12
    assert sum(m.n_steps for m in months) == 17520
    summaries = pd.DataFrame([m.summaries() for m in months])
    assert list(summaries.columns) == list(SUMMARY_NAMES)
    assert np.isfinite(summaries.to_numpy()).all()
    # a continental year: July warmer than January
    assert summaries["tair_mean_c"].iloc[6] > summaries["tair_mean_c"].iloc[0] + 10


def test_three_sites_are_three_regular_records(three_sites):
    assert [(r.site, r.attributes["igbp"]) for r in three_sites] == [
        ("AT-Neu", "GRA"),
        ("DE-Tha", "ENF"),
        ("FR-Pue", "EBF"),
    ]
    for record in three_sites:
        assert record.time_step_s == 1800 and record.missing_variables == ()
        assert record.n_steps == record.time.days_in_month[0] * 48  # one whole month
        assert record.time[0].day == 1 and record.time[0].hour == 0
        assert record.observed_array().shape == (2, record.n_steps)
        assert np.isfinite(record.observed_array()).mean() > 0.95
        assert tuple(record.observed.columns) == FLUX_NAMES
    lw = {r.site: "lw_in_w_m2" in r.forcing.columns for r in three_sites}
    assert lw == {"AT-Neu": False, "DE-Tha": True, "FR-Pue": False}


def test_three_sites_summaries_are_finite_once_gaps_are_filled(three_sites):
    for record in three_sites:
        complete = record.filled({"sw_in_w_m2": "mean_diurnal"})
        summaries = complete.summaries()
        assert np.isfinite(list(summaries.values())).all()
        assert 0 < summaries["vpd_mean_kpa"] < 3 and 0 < summaries["sw_in_mean_w_m2"] < 400
        assert complete.to_forcing().shape == (1, record.n_steps)
