"""ALMA / PLUMBER2 NetCDF reader on small files written in that layout with xarray."""

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geosoil.errors import InputFileNotFoundError, SampleDataError
from geosoil.io.alma import read_alma, vpd_from_specific_humidity
from geosoil.io.flux_csv import read_flux

N_DAYS = 4
START = "2005-06-01"
TIME_UNITS = f"seconds since {START} 00:00:00"


def starts(days: int = N_DAYS) -> pd.DatetimeIndex:
    return pd.date_range(START, periods=days * 48, freq="30min")


def series(values, units, *, z=False):
    """A PLUMBER2 time series: (time, y, x), or (time, z, y, x) for near-surface variables."""
    values = np.asarray(values, dtype=np.float64)
    if z:
        return (("time", "z", "y", "x"), values[:, None, None, None], {"units": units})
    return (("time", "y", "x"), values[:, None, None], {"units": units})


def met_dataset(time: pd.DatetimeIndex, *, precip="Precip", vpd=True) -> xr.Dataset:
    hour = (time.hour + time.minute / 60).to_numpy()
    n = len(time)
    sw = np.maximum(900 * np.sin((hour - 6) / 12 * np.pi), 0.0)
    variables = {
        "SWdown": series(sw, "W/m2"),
        "LWdown": series(np.full(n, 330.0), "W/m2"),
        "Tair": series(288.15 + 5 * np.sin((hour - 9) / 12 * np.pi), "K", z=True),
        "Qair": series(np.full(n, 0.007), "kg/kg", z=True),
        "Wind": series(np.full(n, 3.0), "m/s", z=True),
        "Psurf": series(np.full(n, 98000.0), "Pa"),
        "latitude": (("y", "x"), [[-33.6]], {"units": "degrees_north"}),
        "longitude": (("y", "x"), [[150.7]], {"units": "degrees_east"}),
        "elevation": (("y", "x"), [[25.0]], {"units": "m"}),
        "IGBP_veg_short": ((), "EBF"),
    }
    if vpd:
        variables["VPD"] = series(6 + 4 * np.sin((hour - 9) / 12 * np.pi), "hPa")
    rain = np.where(np.arange(n) % 10 == 0, 2e-4, 0.0)  # kg m-2 s-1
    if precip == "Precip":
        variables["Precip"] = series(rain, "kg/m2/s")
    else:
        variables["Rainf"] = series(rain, "kg/m2/s")
        variables["Snowf"] = series(rain / 4, "kg/m2/s")
    return xr.Dataset(
        variables,
        coords={"time": time, "x": [1.0], "y": [1.0], "z": [1.0]},
        attrs={"site_code": "AU-Cum", "site_name": "Cumberland Plain"},
    )


def flux_dataset(time: pd.DatetimeIndex, *, corrected=True) -> xr.Dataset:
    n = len(time)
    qc = np.resize([0.0, 1.0, 2.0, 3.0], n)
    variables = {
        "Qh": series(np.linspace(-20, 300, n), "W/m2"),
        "Qle": series(np.linspace(0, 400, n), "W/m2"),
        "Qh_qc": series(qc, "-"),
        "Qle_qc": series(qc[::-1].copy(), "-"),
    }
    if corrected:
        variables["Qh_cor"] = series(np.linspace(-20, 300, n) * 1.1, "W/m2")
        variables["Qle_cor"] = series(np.linspace(0, 400, n) * 1.2, "W/m2")
    return xr.Dataset(variables, coords={"time": time, "x": [1.0], "y": [1.0]})


def write(dataset: xr.Dataset, path, *, engine="h5netcdf"):
    dataset["time"].encoding.update({"units": TIME_UNITS, "calendar": "standard"})
    dataset.to_netcdf(path, engine=engine)
    return path


@pytest.fixture
def files(tmp_path):
    time = starts()
    met = write(met_dataset(time), tmp_path / "AU-Cum_2005_Met.nc")
    flux = write(flux_dataset(time), tmp_path / "AU-Cum_2005_Flux.nc")
    return met, flux


def test_reads_and_converts_every_variable(files):
    met, flux = files
    source = met_dataset(starts())
    record = read_alma(met, flux)
    assert record.site == "AU-Cum" and record.time_step_s == 1800
    assert record.time[0] == pd.Timestamp(START) and record.n_steps == N_DAYS * 48
    forcing = record.forcing

    def raw(name):
        return source[name].values.reshape(-1)

    np.testing.assert_allclose(forcing["tair_c"], raw("Tair") - 273.15)
    np.testing.assert_allclose(forcing["vpd_kpa"], raw("VPD") / 10)
    np.testing.assert_allclose(forcing["pressure_kpa"], 98.0)
    np.testing.assert_allclose(forcing["precip_mm"], raw("Precip") * 1800)
    np.testing.assert_allclose(forcing["sw_in_w_m2"], raw("SWdown"))
    np.testing.assert_allclose(forcing["lw_in_w_m2"], 330.0)
    assert record.attributes == {
        "latitude_deg": -33.6,
        "longitude_deg": 150.7,
        "elevation_m": 25.0,
        "igbp": "EBF",
    }
    assert record.to_forcing().shape == (1, N_DAYS * 48)


def test_prefers_corrected_fluxes_and_applies_quality_flags(files):
    met, flux = files
    source = flux_dataset(starts())
    qc_h = source["Qh_qc"].values.reshape(-1)
    record = read_alma(met, flux, max_qc=1)
    expected = np.where(qc_h <= 1, source["Qh_cor"].values.reshape(-1), np.nan)
    np.testing.assert_allclose(record.observed["h_w_m2"], expected)
    raw = read_alma(met, flux, corrected=False, max_qc=None)
    np.testing.assert_allclose(raw.observed["le_w_m2"], source["Qle"].values.reshape(-1))


def test_without_corrected_fluxes_the_plain_ones_are_used(tmp_path, caplog):
    time = starts(1)
    met = write(met_dataset(time), tmp_path / "met.nc")
    flux = write(flux_dataset(time, corrected=False), tmp_path / "flux.nc")
    with caplog.at_level(logging.INFO):
        record = read_alma(met, flux, max_qc=3)
    assert "no Qh_cor" in caplog.text
    np.testing.assert_allclose(record.observed["h_w_m2"], np.linspace(-20, 300, 48))


def test_rainfall_and_snowfall_add_up_when_precip_is_absent(tmp_path):
    time = starts(1)
    met = write(met_dataset(time, precip="Rainf"), tmp_path / "met.nc")
    record = read_alma(met)
    rain = np.where(np.arange(48) % 10 == 0, 2e-4, 0.0)
    np.testing.assert_allclose(record.forcing["precip_mm"], rain * 1.25 * 1800)


def test_without_vpd_it_is_derived_from_specific_humidity(tmp_path):
    time = starts(1)
    dataset = met_dataset(time, vpd=False)
    # a vapour pressure of exactly 1 kPa at 98 kPa: q = 0.622 e / (P - 0.378 e)
    dataset["Qair"][:] = 0.622 * 1.0 / (98.0 - 0.378 * 1.0)
    record = read_alma(write(dataset, tmp_path / "met.nc"))
    t = record.forcing["tair_c"].to_numpy()
    saturation = 0.6108 * np.exp(17.27 * t / (t + 237.3))  # FAO-56, kPa
    np.testing.assert_allclose(record.forcing["vpd_kpa"], saturation - 1.0, rtol=1e-9)
    assert vpd_from_specific_humidity(np.array([0.05]), np.array([10.0]), np.array([100.0]))[
        0
    ] == pytest.approx(0.0)  # supersaturated: no negative deficit


def test_temperature_in_degc_labelled_kelvin_is_refused(tmp_path):
    dataset = met_dataset(starts(1))
    dataset["Tair"] = dataset["Tair"] - 273.15  # values now degC, the attribute still says K
    dataset["Tair"].attrs["units"] = "K"
    path = write(dataset, tmp_path / "met.nc")
    with pytest.raises(SampleDataError, match="look like degC") as info:
        read_alma(path)
    assert info.value.field == "Tair"
    record = read_alma(path, units={"Tair": "degC"})
    np.testing.assert_allclose(record.forcing["tair_c"], dataset["Tair"].values.reshape(-1))


def test_unknown_units_are_refused_with_the_accepted_ones(tmp_path):
    dataset = met_dataset(starts(1))
    dataset["Wind"].attrs["units"] = "knots"
    with pytest.raises(SampleDataError, match="'knots'") as info:
        read_alma(write(dataset, tmp_path / "met.nc"))
    assert "m s-1" in info.value.fix


def test_irregular_time_is_refused(tmp_path):
    time = starts(1).delete(10)
    with pytest.raises(SampleDataError, match="not regular") as info:
        read_alma(write(met_dataset(time), tmp_path / "met.nc"))
    assert "05:30" in str(info.value)


def test_gaps_are_reported_and_filled_on_request(tmp_path):
    dataset = met_dataset(starts(1))
    dataset["SWdown"][12:14] = np.nan  # written as the _FillValue, read back as missing
    dataset["SWdown"][30] = -9999.0  # the ALMA missing value without a _FillValue
    dataset["Wind"][:] = np.nan
    path = write(dataset, tmp_path / "met.nc")
    record = read_alma(path)
    report = record.gap_report().set_index("variable")
    assert report.loc["sw_in_w_m2", "n_missing"] == 3
    assert record.missing_variables == ("wind_m_s",)
    assert report.loc["h_w_m2", "share"] == 1.0  # no flux file, no fluxes in the met file
    filled = read_alma(path, fill={"sw_in_w_m2": "interpolate", "wind_m_s": 2.0})
    assert np.isfinite(filled.forcing["sw_in_w_m2"]).all()
    sw = filled.forcing["sw_in_w_m2"].to_numpy()
    np.testing.assert_allclose(sw[12:14], sw[11] + (sw[14] - sw[11]) * np.array([1, 2]) / 3)
    assert filled.to_forcing().shape == (1, 48)


def test_met_and_flux_of_different_periods_are_refused(tmp_path):
    met = write(met_dataset(starts(2)), tmp_path / "met.nc")
    flux = write(flux_dataset(starts(1)), tmp_path / "flux.nc")
    with pytest.raises(SampleDataError, match="same site and period"):
        read_alma(met, flux)


def test_more_than_one_point_is_refused(tmp_path):
    dataset = met_dataset(starts(1))
    wide = xr.concat([dataset, dataset.assign_coords(x=[2.0])], dim="x", data_vars="all")
    with pytest.raises(SampleDataError, match="single-site"):
        read_alma(write(wide, tmp_path / "wide.nc"))


def test_missing_shortwave_or_file_is_refused(tmp_path):
    path = write(met_dataset(starts(1)).drop_vars("SWdown"), tmp_path / "met.nc")
    with pytest.raises(SampleDataError, match="no SWdown") as info:
        read_alma(path)
    assert info.value.path == path
    with pytest.raises(InputFileNotFoundError):
        read_alma(tmp_path / "absent.nc")


def test_classic_netcdf_with_char_attributes_goes_through_read_flux(tmp_path):
    dataset = met_dataset(starts(1))
    dataset["IGBP_veg_short"] = ((), "Woody Savannas")
    path = write(dataset, tmp_path / "US-Ton_Met.nc", engine="scipy")
    (record,) = read_flux(path, site="US-Ton", attributes={"elevation_m": 25.0})
    assert record.site == "US-Ton" and record.attributes["igbp"] == "WSA"
    np.testing.assert_allclose(record.forcing["pressure_kpa"], 98.0)
