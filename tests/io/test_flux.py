"""Flux-tower CSV readers: time labels, units, gaps, filling, quality flags and refusals."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch

from geosoil.errors import ConfigError, InputFileNotFoundError, SampleDataError
from geosoil.io.flux import (
    PPFD_PER_SW_UMOL_J,
    SUMMARY_NAMES,
    FluxRecord,
    forcing_summaries,
    gap_report,
)
from geosoil.io.flux_checks import check_time_index, fill_gaps, igbp_code
from geosoil.io.flux_csv import read_flux, read_fluxnet_halfhourly_csv, read_reddyproc_csv
from geosoil.process.lsm_forcing import FLUX_NAMES, LsmForcing

STEP = pd.Timedelta(minutes=30)
CONSTANTS = {"wind_m_s": 2.0, "pressure_kpa": 97.0, "precip_mm": 0.1}
ATTRIBUTES = {"latitude_deg": 50.96, "longitude_deg": 13.57, "igbp": "ENF"}


def half_hours(start: str, days: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=days * 48, freq="30min")


def diurnal(start_times: pd.DatetimeIndex, low: float, high: float) -> np.ndarray:
    """A smooth daily cycle between low and high, peaking at 14:00."""
    hour = (start_times.hour + start_times.minute / 60).to_numpy()
    return low + (high - low) * 0.5 * (1 + np.cos((hour - 14) / 24 * 2 * np.pi))


def reddyproc_table(
    starts: pd.DatetimeIndex, *, site: str = "DE-Tha", hour_24: bool = False
) -> pd.DataFrame:
    """REddyProc layout: Year/DoY/Hour of the END of each step; VPD in hPa."""
    ends = starts + STEP
    # with hour_24, midnight is hour 24 of the day before, as in REddyProc's own files
    days = (ends - pd.Timedelta(seconds=1) if hour_24 else ends).normalize()
    hours = (ends - days).total_seconds().to_numpy() / 3600
    sw = np.maximum(diurnal(starts, -400, 800), 0.0)
    return pd.DataFrame(
        {
            "site": site,
            "lat": 50.96361,
            "lon": 13.56694,
            "Year": days.year,
            "DoY": days.day_of_year,
            "Hour": hours,
            "NEE": 1.0,
            "LE": sw * 0.4,
            "H": sw * 0.3 - 10,
            "Rg": sw,
            "Tair": diurnal(starts, 5, 20),
            "Tsoil": 8.0,
            "rH": 70.0,
            "VPD": diurnal(starts, 2, 25),
            "Ustar": 0.5,
        }
    )


def fluxnet_table(starts: pd.DatetimeIndex, *, site: str, igbp: str) -> pd.DataFrame:
    """bigleaf FLUXNET2015 layout: year/doy/hour of the START of each step."""
    n = len(starts)
    ppfd = np.maximum(diurnal(starts, -800, 1800), 0.0)
    qc = np.resize([0.0, 1.0, 2.0, 3.0], n)
    return pd.DataFrame(
        {
            "site": site,
            "lat": 47.1,
            "lon": 11.3,
            "igbp": igbp,
            "year": starts.year,
            "month": starts.month,
            "doy": starts.day_of_year.astype(float),
            "hour": (starts.hour + starts.minute / 60).to_numpy(),
            "Tair": diurnal(starts, 8, 25),
            "Tair_qc": 0.0,
            "PPFD": ppfd,
            "PPFD_qc": 0.0,
            "VPD": diurnal(starts, 0.2, 2.5),
            "VPD_qc": 0.0,
            "pressure": 91.0,
            "precip": np.resize([0.0, 0.0, 0.4, 0.0], n),
            "precip_qc": 0.0,
            "wind": 1.5,
            "wind_qc": 0.0,
            "LE": ppfd * 0.1,
            "LE_qc": qc,
            "H": ppfd * 0.05,
            "H_qc": qc[::-1].copy(),
            "LW_down": 320.0,
        }
    )


def write(table: pd.DataFrame, path) -> str:
    table.to_csv(path, index=False)
    return path


@pytest.fixture
def reddyproc_file(tmp_path):
    return write(reddyproc_table(half_hours("1998-01-01", 3)), tmp_path / "tha.csv")


@pytest.fixture
def fluxnet_file(tmp_path):
    table = pd.concat(
        [
            fluxnet_table(half_hours("2010-07-01", 2), site="AT-Neu", igbp="GRA"),
            fluxnet_table(half_hours("2012-02-28", 3), site="FR-Pue", igbp="EBF"),
        ]
    )
    return write(table, tmp_path / "fluxnet.csv")


# ----------------------------------------------------------------------- REddyProc
def test_reddyproc_labels_steps_by_their_start_and_converts_vpd(reddyproc_file):
    table = pd.read_csv(reddyproc_file)
    (record,) = read_reddyproc_csv(reddyproc_file, attributes={"igbp": "ENF"})
    assert record.site == "DE-Tha"
    assert record.time_step_s == 1800
    pd.testing.assert_index_equal(
        record.time, half_hours("1998-01-01", 3), check_names=False, check_freq=False
    )
    np.testing.assert_allclose(record.forcing["vpd_kpa"], table["VPD"] / 10)
    np.testing.assert_allclose(record.forcing["sw_in_w_m2"], table["Rg"])
    np.testing.assert_allclose(record.forcing["tair_c"], table["Tair"])
    np.testing.assert_allclose(record.observed_array(), table[["H", "LE"]].to_numpy().T)
    assert record.attributes == {"latitude_deg": 50.96361, "longitude_deg": 13.56694, "igbp": "ENF"}


def test_reddyproc_hour_24_convention_gives_the_same_times(tmp_path):
    starts = half_hours("1998-03-01", 2)
    a = read_reddyproc_csv(write(reddyproc_table(starts), tmp_path / "a.csv"))[0]
    b = read_reddyproc_csv(write(reddyproc_table(starts, hour_24=True), tmp_path / "b.csv"))[0]
    assert a.time.equals(b.time)
    assert a.time[0] == starts[0]


def test_reddyproc_reports_absent_variables_and_refuses_a_forcing_until_declared(
    reddyproc_file, caplog
):
    with caplog.at_level(logging.WARNING):
        (record,) = read_reddyproc_csv(reddyproc_file)
    assert record.missing_variables == ("wind_m_s", "pressure_kpa", "precip_mm")
    assert "wind_m_s, pressure_kpa, precip_mm" in caplog.text
    assert "lw_in_w_m2" not in record.forcing.columns
    with pytest.raises(SampleDataError, match="wind_m_s is not in the file") as info:
        record.to_forcing()
    assert "fill=" in str(info.value) and info.value.field == "wind_m_s"
    assert record.attributes["igbp"] is None
    with pytest.raises(SampleDataError, match="igbp"):
        record.require_attribute("igbp")

    forcing = read_reddyproc_csv(reddyproc_file, fill=CONSTANTS)[0].to_forcing(torch.float64)
    assert isinstance(forcing, LsmForcing)
    assert forcing.shape == (1, 144) and forcing.lw_in_w_m2 is None
    assert forcing.vpd_kpa.dtype == torch.float64
    assert torch.all(forcing.wind_m_s == 2.0) and torch.all(forcing.pressure_kpa == 97.0)


def test_to_forcing_names_the_count_and_first_time_of_a_gap(tmp_path):
    table = reddyproc_table(half_hours("1998-01-01", 2))
    table.loc[[10, 11, 40], "Tair"] = np.nan
    table.loc[5, "Rg"] = -9999  # the FLUXNET missing code counts as missing too
    (record,) = read_reddyproc_csv(write(table, tmp_path / "gaps.csv"), fill=CONSTANTS)
    with pytest.raises(SampleDataError, match="sw_in_w_m2 has 1 missing values of 96"):
        record.to_forcing()
    with pytest.raises(SampleDataError, match=r"tair_c has 3 missing .* 1998-01-01 05:00"):
        record.filled({"sw_in_w_m2": "interpolate"}).to_forcing()


def test_vpd_in_hpa_declared_as_kpa_is_refused(reddyproc_file):
    for units in ({"VPD": "kPa"}, {"vpd": "kPa"}, {"vpd_kpa": "kPa"}):
        with pytest.raises(SampleDataError, match="look like hPa") as info:
            read_reddyproc_csv(reddyproc_file, units=units)
        assert info.value.field == "VPD" and "units=" in info.value.fix


def test_declared_units_convert(tmp_path):
    table = reddyproc_table(half_hours("1998-06-01", 1))
    table["Tair"] = table["Tair"] + 273.15
    table["VPD"] = table["VPD"] / 10
    path = write(table, tmp_path / "kelvin.csv")
    with pytest.raises(SampleDataError, match="look like K"):
        read_reddyproc_csv(path, units={"VPD": "kPa"})
    (record,) = read_reddyproc_csv(path, units={"Tair": "K", "VPD": "kPa"})
    np.testing.assert_allclose(record.forcing["tair_c"], table["Tair"] - 273.15)
    np.testing.assert_allclose(record.forcing["vpd_kpa"], table["VPD"])


@pytest.mark.parametrize(
    ("units", "field"),
    [({"Ustar": "m s-1"}, "units.Ustar"), ({"VPD": "furlongs"}, "units.VPD")],
)
def test_bad_units_are_config_errors(reddyproc_file, units, field):
    with pytest.raises(ConfigError) as info:
        read_reddyproc_csv(reddyproc_file, units=units)
    assert info.value.field == field


def test_missing_file_and_missing_column(tmp_path, reddyproc_file):
    with pytest.raises(InputFileNotFoundError):
        read_reddyproc_csv(tmp_path / "none.csv")
    with pytest.raises(InputFileNotFoundError):
        read_flux(tmp_path / "none.csv")
    table = reddyproc_table(half_hours("1998-01-01", 1)).drop(columns="VPD")
    path = write(table, tmp_path / "novpd.csv")
    with pytest.raises(SampleDataError, match="no column 'VPD'") as info:
        read_reddyproc_csv(path)
    assert info.value.field == "VPD" and info.value.path.name == "novpd.csv"


def test_text_in_a_numeric_column_is_refused(tmp_path):
    table = reddyproc_table(half_hours("1998-01-01", 1)).astype({"Tair": object})
    table.loc[3, "Tair"] = "12,5"
    with pytest.raises(SampleDataError, match="'12,5' in row 3"):
        read_reddyproc_csv(write(table, tmp_path / "text.csv"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.drop(index=20), r"1998-01-01 11:00:00 follows .* after 3600 s.* 1800 s"),
        (lambda t: pd.concat([t.iloc[:30], t.iloc[29:]]), "appears more than once"),
        (lambda t: t.iloc[[*range(10), 11, 10, *range(12, 48)]], "not in time order"),
    ],
)
def test_irregular_repeated_and_unsorted_times_are_refused(tmp_path, edit, message):
    table = edit(reddyproc_table(half_hours("1998-01-01", 1)))
    with pytest.raises(SampleDataError, match=message) as info:
        read_reddyproc_csv(write(table, tmp_path / "time.csv"))
    assert info.value.field == "time"


def test_caller_attributes_must_agree_with_the_file(reddyproc_file):
    with pytest.raises(ConfigError, match="latitude_deg"):
        read_reddyproc_csv(reddyproc_file, attributes={"latitude_deg": 10.0})
    (record,) = read_reddyproc_csv(
        reddyproc_file, attributes={"igbp": "Evergreen Needleleaf Forests", "elevation_m": 380}
    )
    assert record.attributes["igbp"] == "ENF" and record.attributes["elevation_m"] == 380.0
    with pytest.raises(SampleDataError, match="not an IGBP class"):
        read_reddyproc_csv(reddyproc_file, attributes={"igbp": "spruce"})


# ------------------------------------------------------------------------ FLUXNET
def test_fluxnet_gives_one_record_per_site_with_ppfd_as_shortwave(fluxnet_file):
    table = pd.read_csv(fluxnet_file)
    records = read_fluxnet_halfhourly_csv(fluxnet_file)
    assert [r.site for r in records] == ["AT-Neu", "FR-Pue"]
    assert [r.attributes["igbp"] for r in records] == ["GRA", "EBF"]
    neu, pue = records
    pd.testing.assert_index_equal(
        neu.time, half_hours("2010-07-01", 2), check_names=False, check_freq=False
    )
    # 2012 is a leap year: 28 Feb, 29 Feb, 1 Mar
    pd.testing.assert_index_equal(
        pue.time, half_hours("2012-02-28", 3), check_names=False, check_freq=False
    )
    rows = table[table.site == "AT-Neu"]
    np.testing.assert_allclose(neu.forcing["sw_in_w_m2"], rows["PPFD"] / 2.11)
    assert PPFD_PER_SW_UMOL_J == 2.11
    for column, name in [("VPD", "vpd_kpa"), ("pressure", "pressure_kpa"), ("precip", "precip_mm")]:
        np.testing.assert_allclose(neu.forcing[name], rows[column])
    forcing = neu.to_forcing()
    assert forcing.shape == (1, 96) and forcing.lw_in_w_m2 is not None


@pytest.mark.parametrize("max_qc", [0, 1, 2, None])
def test_fluxnet_keeps_observed_fluxes_up_to_max_qc(fluxnet_file, max_qc):
    table = pd.read_csv(fluxnet_file)
    rows = table[table.site == "AT-Neu"]
    neu = read_fluxnet_halfhourly_csv(fluxnet_file, max_qc=max_qc)[0]
    limit = 3 if max_qc is None else max_qc
    for name, column in zip(FLUX_NAMES, ("H", "LE"), strict=True):
        kept = (rows[f"{column}_qc"] <= limit).to_numpy()
        values = neu.observed[name].to_numpy()
        np.testing.assert_array_equal(np.isfinite(values), kept)
        np.testing.assert_allclose(values[kept], rows[column].to_numpy()[kept])


def test_fluxnet_without_longwave_leaves_it_to_the_model(tmp_path):
    table = fluxnet_table(half_hours("2012-05-01", 1), site="FR-Pue", igbp="EBF")
    table["LW_down"] = np.nan
    (record,) = read_flux(write(table, tmp_path / "nolw.csv"))
    assert "lw_in_w_m2" not in record.forcing.columns and record.missing_variables == ()
    assert record.to_forcing().lw_in_w_m2 is None


@pytest.mark.parametrize(
    ("column", "scale", "message"),
    [
        ("pressure", 1000.0, "look like Pa"),
        ("pressure", 10.0, "look like hPa"),
        ("Tair", 1.0, "look like K"),
        ("precip", 1 / 1800, "look like kg m-2 s-1"),
        ("PPFD", 2.11, None),
    ],
)
def test_magnitudes_that_contradict_the_declared_unit_are_refused(tmp_path, column, scale, message):
    table = fluxnet_table(half_hours("2010-07-01", 1), site="AT-Neu", igbp="GRA")
    table[column] = table[column] * scale + (273.15 if column == "Tair" else 0.0)
    path = write(table, tmp_path / "units.csv")
    if message is None:  # PPFD declared as W m-2: 1800 W m-2 cannot be shortwave
        with pytest.raises(SampleDataError, match="look like umol m-2 s-1"):
            read_fluxnet_halfhourly_csv(path, units={"PPFD": "W m-2"})
        return
    with pytest.raises(SampleDataError, match=message) as info:
        read_fluxnet_halfhourly_csv(path)
    assert info.value.field == column


def test_precipitation_rates_convert_to_depth_per_step(tmp_path):
    table = fluxnet_table(half_hours("2010-07-01", 1), site="AT-Neu", igbp="GRA")
    depth = table["precip"].to_numpy().copy()
    table["precip"] = depth / 1800  # kg m-2 s-1
    path = write(table, tmp_path / "rate.csv")
    (record,) = read_fluxnet_halfhourly_csv(path, units={"precip": "kg m-2 s-1"})
    np.testing.assert_allclose(record.forcing["precip_mm"], depth)


def test_month_that_disagrees_with_the_day_of_year_is_refused(tmp_path):
    table = fluxnet_table(half_hours("2010-07-01", 1), site="AT-Neu", igbp="GRA")
    table["doy"] = table["doy"] - 1  # counted from 0: 30 June
    with pytest.raises(SampleDataError, match="month 7 disagrees"):
        read_fluxnet_halfhourly_csv(write(table, tmp_path / "doy.csv"))


def test_missing_qc_column_is_refused_unless_flags_are_not_used(tmp_path):
    table = fluxnet_table(half_hours("2010-07-01", 1), site="AT-Neu", igbp="GRA")
    path = write(table.drop(columns="LE_qc"), tmp_path / "noqc.csv")
    with pytest.raises(SampleDataError, match="LE_qc"):
        read_fluxnet_halfhourly_csv(path)
    assert read_fluxnet_halfhourly_csv(path, max_qc=None)[0].observed["le_w_m2"].notna().all()
    with pytest.raises(ConfigError, match="max_qc"):
        read_fluxnet_halfhourly_csv(path, max_qc=5)


def test_read_flux_dispatches_on_the_header(reddyproc_file, fluxnet_file, tmp_path):
    assert [r.site for r in read_flux(reddyproc_file)] == ["DE-Tha"]
    assert len(read_flux(fluxnet_file, max_qc=0)) == 2
    other = write(pd.DataFrame({"TIMESTAMP": [1, 2], "TA": [3, 4]}), tmp_path / "other.csv")
    with pytest.raises(SampleDataError, match="no flux layout") as info:
        read_flux(other)
    assert "REddyProc" in info.value.fix and "FLUXNET" in info.value.fix


# ------------------------------------------------------------------ gaps and filling
def linear_record(tmp_path, gaps, *, days=2):
    """A REddyProc record whose air temperature rises linearly, with NaN at ``gaps``."""
    table = reddyproc_table(half_hours("1998-04-01", days))
    table["Tair"] = np.linspace(0.0, 20.0, len(table))
    table.loc[list(gaps), "Tair"] = np.nan
    return table, read_reddyproc_csv(write(table, tmp_path / "linear.csv"), fill=CONSTANTS)[0]


def test_gap_report_counts_runs(tmp_path):
    _, record = linear_record(tmp_path, [*range(5, 8), *range(30, 40)])
    report = gap_report(record).set_index("variable")
    assert list(report.index[:6]) == list(record.forcing.columns)
    assert list(report.index[-2:]) == list(FLUX_NAMES)
    assert report.loc["tair_c", "n_missing"] == 13
    assert report.loc["tair_c", "share"] == pytest.approx(13 / 96)
    assert report.loc["tair_c", "longest_gap_steps"] == 10
    assert report.loc["tair_c", "first_missing"] == pd.Timestamp("1998-04-01 02:30")
    assert report.loc["vpd_kpa", "n_missing"] == 0
    assert pd.isna(report.loc["vpd_kpa", "first_missing"])
    pd.testing.assert_frame_equal(record.gap_report(), gap_report(record))
    assert len(gap_report(record.forcing)) == 6


def test_interpolate_bridges_short_gaps_only(tmp_path, caplog):
    table, record = linear_record(tmp_path, [0, *range(5, 9), *range(30, 35)])
    truth = np.linspace(0.0, 20.0, len(table))
    with caplog.at_level(logging.INFO):
        filled = record.filled({"tair": "interpolate"}, max_gap_steps=4)
    values = filled.forcing["tair_c"].to_numpy()
    np.testing.assert_allclose(values[5:9], truth[5:9])  # a gap of 4: linear, exact
    assert np.isnan(values[30:35]).all()  # a gap of 5 stays
    assert np.isnan(values[0])  # nothing before it to interpolate from
    assert "filled 4 of 96 tair_c values (interpolate)" in caplog.text
    wider = record.filled({"tair": "interpolate"}, max_gap_steps=5).forcing["tair_c"]
    np.testing.assert_allclose(wider.iloc[30:35], truth[30:35])
    assert record.observed.equals(filled.observed)


def test_mean_diurnal_fills_with_the_mean_of_the_same_time_of_day(tmp_path):
    table = reddyproc_table(half_hours("1998-04-01", 3))
    table["Tair"] = np.repeat([1.0, 3.0, 8.0], 48) + np.tile(np.arange(48) / 10, 3)
    table.loc[[48 + 20, 48 + 21], "Tair"] = np.nan  # day 2 at 10:00 and 10:30
    (record,) = read_reddyproc_csv(
        write(table, tmp_path / "diurnal.csv"), fill={**CONSTANTS, "tair_c": "mean_diurnal"}
    )
    values = record.forcing["tair_c"].to_numpy()
    np.testing.assert_allclose(values[[68, 69]], [(1 + 8) / 2 + 2.0, (1 + 8) / 2 + 2.1])
    np.testing.assert_allclose(np.delete(values, [68, 69]), np.delete(table["Tair"], [68, 69]))


def test_constants_fill_only_the_gaps(tmp_path):
    table, record = linear_record(tmp_path, [3])
    values = record.filled({"tair_c": -5.0}).forcing["tair_c"].to_numpy()
    assert values[3] == -5.0
    np.testing.assert_allclose(np.delete(values, 3), np.delete(table["Tair"].to_numpy(), 3))


@pytest.mark.parametrize(
    ("fill", "message"),
    [
        ({"h_w_m2": 0.0}, "never filled"),
        ({"tair_c": "spline"}, "unknown fill method"),
        ({"tair_c": float("nan")}, "not a finite number"),
        ({"wind_m_s": "interpolate"}, "no value of it"),
    ],
)
def test_bad_fills_are_config_errors(reddyproc_file, fill, message):
    with pytest.raises(ConfigError, match=message):
        read_reddyproc_csv(reddyproc_file, fill=fill)


def test_fill_gaps_does_not_touch_undeclared_variables():
    time = half_hours("2000-01-01", 1)
    frame = pd.DataFrame({"tair_c": np.nan, "vpd_kpa": np.linspace(0, 1, 48)}, index=time)
    frame.iloc[3, 1] = np.nan
    out = fill_gaps(frame, {"tair_c": 1.0})
    assert (out["tair_c"] == 1.0).all() and np.isnan(out["vpd_kpa"].iloc[3])
    assert np.isnan(frame["tair_c"]).all()  # the input is not modified


def test_check_time_index_returns_the_step():
    assert check_time_index(pd.date_range("2000-01-01", periods=5, freq="h")) == 3600
    with pytest.raises(SampleDataError, match="at least two"):
        check_time_index(pd.DatetimeIndex(["2000-01-01"]))


def test_igbp_codes_and_names():
    assert igbp_code("gra") == "GRA"
    assert igbp_code(b"Croplands  ") == "CRO"
    assert igbp_code("Woody Savanna") == "WSA"
    assert igbp_code("") is None and igbp_code(None) is None


# ------------------------------------------------------------ summaries and periods
def test_summaries_are_means_and_daily_precipitation(fluxnet_file):
    neu = read_fluxnet_halfhourly_csv(fluxnet_file)[0]
    summaries = neu.summaries()
    assert tuple(summaries) == SUMMARY_NAMES
    forcing = neu.forcing
    assert summaries["tair_mean_c"] == pytest.approx(forcing["tair_c"].mean())
    assert summaries["wind_mean_m_s"] == pytest.approx(1.5)
    # one step in four rains 0.4 mm: 48 steps a day -> 12 x 0.4 = 4.8 mm per day
    assert summaries["precip_mm_day"] == pytest.approx(4.8)
    assert forcing_summaries(forcing, 1800) == summaries


def test_summaries_refuse_gaps(reddyproc_file):
    (record,) = read_reddyproc_csv(reddyproc_file)
    with pytest.raises(SampleDataError, match="precip_mm"):
        record.summaries()


def test_split_cuts_calendar_months_and_drops_short_ones(tmp_path):
    starts = pd.date_range("1998-01-31 12:00", "1998-03-01 01:30", freq="30min")
    (record,) = read_reddyproc_csv(write(reddyproc_table(starts), tmp_path / "m.csv"))
    parts = record.split("MS", min_steps=10)
    assert [p.time[0] for p in parts] == [
        pd.Timestamp("1998-01-31 12:00"),
        pd.Timestamp("1998-02-01"),
    ]
    assert [p.n_steps for p in parts] == [24, 28 * 48]  # 1 March (4 steps) dropped
    assert all(isinstance(p, FluxRecord) and p.site == "DE-Tha" for p in parts)
    assert parts[1].time[-1] == pd.Timestamp("1998-02-28 23:30")
    assert len(record.split("MS")) == 3
    with pytest.raises(ConfigError, match="freq"):
        record.split("fortnight")
    with pytest.raises(ConfigError, match="min_steps"):
        record.split(min_steps=1)


def test_site_selects_one_site_or_names_a_file_without_sites(fluxnet_file, tmp_path):
    (pue,) = read_fluxnet_halfhourly_csv(fluxnet_file, site="FR-Pue")
    assert pue.site == "FR-Pue" and pue.time[0] == pd.Timestamp("2012-02-28")
    with pytest.raises(ConfigError, match="AT-Neu, FR-Pue"):
        read_flux(fluxnet_file, site="US-Ton")
    table = reddyproc_table(half_hours("1998-01-01", 1)).drop(columns=["site", "lat", "lon"])
    path = write(table, tmp_path / "plain.csv")
    assert read_reddyproc_csv(path, attributes=ATTRIBUTES)[0].site == "plain"
    (record,) = read_reddyproc_csv(path, site="DE-Tha", attributes=ATTRIBUTES)
    assert record.site == "DE-Tha" and record.attributes["latitude_deg"] == 50.96
    with pytest.raises(SampleDataError, match="latitude_deg"):
        read_reddyproc_csv(path)
