"""Synthetic flux towers and rasters with known land-surface parameters: truth, files, safety."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
import xarray as xr

from geosoil.errors import ConfigError, OutputExistsError, SampleDataError
from geosoil.io.alma import read_alma
from geosoil.io.catalog import read_catalog
from geosoil.io.flux import SUMMARY_NAMES, FluxRecord, forcing_summaries
from geosoil.models.training import torch_threads
from geosoil.process.lsm import simulate
from geosoil.process.lsm_forcing import FLUX_NAMES
from geosoil.process.lsm_params import LSM_PARAMETER_NAMES, LSM_PARAMETERS
from geosoil.synthetic import flux_sites
from geosoil.synthetic.flux_rasters import (
    IGBP_CODES,
    INPUT_NAMES,
    flux_grid,
    flux_raster_fields,
    write_flux_rasters,
)
from geosoil.synthetic.flux_sites import (
    CLIMATE_NAMES,
    IGBP_CLASSES,
    TRUTH_DRIVERS,
    TRUTH_FUNCTIONS,
    make_flux_sites,
    true_parameters,
    weather_anomalies,
    weather_arrays,
)

N_SITES = 40


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def sites():
    return make_flux_sites(N_SITES, seed=3)


@pytest.fixture(scope="module")
def small():
    return make_flux_sites(3, n_days=4, seed=11)


@pytest.fixture(scope="module")
def written(small, tmp_path_factory):
    out = tmp_path_factory.mktemp("flux") / "towers"
    return out, small.write(out)


@pytest.fixture(scope="module")
def rasters(tmp_path_factory):
    out = tmp_path_factory.mktemp("flux_rasters") / "maps"
    return out, write_flux_rasters(out, 5, shape=(12, 14))


def _folder_bytes(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------- determinism
def test_same_seed_same_sites_and_another_seed_differs():
    a = make_flux_sites(3, n_days=2, seed=7)
    b = make_flux_sites(3, n_days=2, seed=7)
    c = make_flux_sites(3, n_days=2, seed=8)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    for x, y in zip(a.sites, b.sites, strict=True):
        pd.testing.assert_frame_equal(x.forcing, y.forcing)
        pd.testing.assert_frame_equal(x.observed, y.observed)
        assert x.attributes == y.attributes
    assert not np.allclose(a.sites[0].forcing.to_numpy(), c.sites[0].forcing.to_numpy())
    assert not a.truth[list(LSM_PARAMETER_NAMES)].equals(c.truth[list(LSM_PARAMETER_NAMES)])


def test_same_seed_writes_the_same_bytes(small, written, tmp_path):
    folder, _ = written
    again = make_flux_sites(3, n_days=4, seed=11)
    again.write(tmp_path / "again")
    assert _folder_bytes(folder) == _folder_bytes(tmp_path / "again")


def test_same_seed_same_rasters(rasters, tmp_path):
    folder, _ = rasters
    write_flux_rasters(tmp_path / "again", 5, shape=(12, 14))
    assert _folder_bytes(folder) == _folder_bytes(tmp_path / "again")
    first = flux_raster_fields(5, shape=(12, 14)).inputs["elevation_m"]
    other = flux_raster_fields(6, shape=(12, 14)).inputs["elevation_m"]
    assert not np.array_equal(first, other)


# ------------------------------------------------------------------------------- truth
def test_truth_inside_bounds_and_spread_over_the_range(sites):
    assert sites.truth["site"].tolist() == [f"SYN-{i:03d}" for i in range(1, N_SITES + 1)]
    for spec in LSM_PARAMETERS:
        values = sites.truth[spec.name].to_numpy()
        assert np.all(values > spec.lower) and np.all(values < spec.upper), spec.name
        assert values.std() > 0.1 * (spec.upper - spec.lower), spec.name


def test_truth_functions_stay_inside_bounds_for_extreme_inputs():
    corners = {
        "latitude_deg": (-90.0, 0.0, 30.0, 60.0, 90.0),
        "elevation_m": (0.0, 2000.0, 9000.0),
        "sand_fraction": (0.0, 0.5, 1.0),
        "igbp": IGBP_CLASSES,
        "sw_in_mean_w_m2": (0.0, 200.0, 1500.0),
        "tair_mean_c": (-60.0, 15.0, 60.0),
        "vpd_mean_kpa": (0.0, 1.0, 12.0),
        "precip_mm_day": (0.0, 3.0, 300.0),
        "wind_mean_m_s": (0.3,),
    }
    grid = list(itertools.product(*corners.values()))
    columns = {name: np.array([row[i] for row in grid]) for i, name in enumerate(corners)}
    physical = true_parameters(columns, columns)
    assert physical.shape == (len(grid), len(LSM_PARAMETERS))
    for j, spec in enumerate(LSM_PARAMETERS):
        assert np.all(physical[:, j] > spec.lower) and np.all(physical[:, j] < spec.upper)


def test_truth_follows_its_declared_drivers():
    base = {
        "latitude_deg": 45.0, "elevation_m": 500.0, "sand_fraction": 0.4, "igbp": "GRA",
        "sw_in_mean_w_m2": 220.0, "tair_mean_c": 15.0, "vpd_mean_kpa": 0.8,
        "precip_mm_day": 2.0, "wind_mean_m_s": 3.0,
    }  # fmt: skip
    reference = true_parameters(base, base)
    changed = {
        "latitude_deg": 58.0, "elevation_m": 1800.0, "sand_fraction": 0.8, "igbp": "ENF",
        "sw_in_mean_w_m2": 300.0, "tair_mean_c": 22.0, "vpd_mean_kpa": 2.0,
        "precip_mm_day": 0.2,
    }  # fmt: skip
    assert set(TRUTH_FUNCTIONS) == set(TRUTH_DRIVERS) == set(LSM_PARAMETER_NAMES)
    for driver, value in changed.items():
        moved = true_parameters({**base, driver: value}, {**base, driver: value}) != reference
        for j, name in enumerate(LSM_PARAMETER_NAMES):
            assert moved[j] == (driver in TRUTH_DRIVERS[name]), (driver, name)
    # the documented direction of a few relations
    assert true_parameters({**base, "sand_fraction": 0.1}, base)[4] > reference[4]
    assert true_parameters(base, {**base, "vpd_mean_kpa": 2.0})[1] < reference[1]


def test_truth_is_the_function_of_flux_io_summaries(sites):
    """The truth table is true_parameters of the attributes and of forcing_summaries."""
    rows = []
    for site in sites.sites:
        rows.append(forcing_summaries(site.forcing, site.time_step_s))
        assert site.parameter_vector().tolist() == [site.parameters[n] for n in LSM_PARAMETER_NAMES]
    summaries = {name: np.array([r[name] for r in rows]) for name in SUMMARY_NAMES}
    expected = true_parameters(sites.attributes.to_dict("list"), summaries)
    np.testing.assert_allclose(
        sites.truth[list(LSM_PARAMETER_NAMES)].to_numpy(), expected, rtol=1e-12
    )


def test_true_parameters_refuses_unknown_class_and_missing_input():
    values = {"latitude_deg": 40.0, "elevation_m": 0.0, "sand_fraction": 0.3, "igbp": "XXX"}
    summaries = dict.fromkeys(SUMMARY_NAMES, 1.0)
    with pytest.raises(SampleDataError, match="XXX"):
        true_parameters(values, summaries)
    with pytest.raises(SampleDataError, match="vpd_mean_kpa") as err:
        true_parameters({**values, "igbp": "GRA"}, {"sw_in_mean_w_m2": 1.0})
    assert err.value.field.startswith("summaries.")


# ------------------------------------------------------------------------------ fluxes
def test_observed_fluxes_are_the_model_under_the_truth_plus_noise(sites):
    site = sites.sites[5]
    params = torch.from_numpy(site.parameter_vector()[None, :])
    start = sites.settings["initial_soil_water_fraction"]
    forcing = site.to_forcing(torch.float64)
    clean = simulate(forcing, params, initial_soil_water_fraction=start).fluxes()[0].numpy()
    residual = site.observed[list(FLUX_NAMES)].to_numpy().T - clean
    kept = residual[np.isfinite(residual)]
    assert kept.size > 0.8 * residual.size
    assert abs(kept.mean()) < 1.5  # 15 W m-2 / sqrt(~2700)
    assert kept.std() == pytest.approx(15.0, rel=0.06)


def test_noise_free_fluxes_equal_the_model_and_gaps_follow_the_rules():
    made = make_flux_sites(2, n_days=5, seed=4, noise_w_m2=0.0, missing_fraction=0.0)
    for site in made.sites:
        params = torch.from_numpy(site.parameter_vector()[None, :])
        start = made.settings["initial_soil_water_fraction"]
        forcing = site.to_forcing(torch.float64)
        clean = simulate(forcing, params, initial_soil_water_fraction=start).fluxes()[0].numpy()
        observed = site.observed[list(FLUX_NAMES)].to_numpy().T
        raining = site.forcing["precip_mm"].to_numpy() > 0
        np.testing.assert_array_equal(observed[0], clean[0])  # no gaps in H at all
        assert np.isnan(observed[1, raining]).all()  # a wet open-path sensor loses LE
        np.testing.assert_array_equal(observed[1, ~raining], clean[1, ~raining])

    gappy = make_flux_sites(6, n_days=10, seed=4, missing_fraction=0.2)
    missing_h = np.mean([s.observed["h_w_m2"].isna().mean() for s in gappy.sites])
    assert 0.1 < missing_h < 0.3


def test_weather_is_physically_plausible(sites):
    forcing = pd.concat([s.forcing for s in sites.sites])
    assert (forcing["sw_in_w_m2"] >= 0).all() and (forcing["vpd_kpa"] >= 0).all()
    assert (forcing["precip_mm"] >= 0).all() and (forcing["wind_m_s"] > 0).all()
    assert forcing["precip_mm"].gt(0).mean() > 0.01  # it rains sometimes
    site = sites.sites[0]
    by_hour = site.forcing["sw_in_w_m2"].groupby(site.time.hour).mean()
    assert by_hour.idxmax() in (11, 12)  # local solar noon
    assert by_hour.loc[[0, 1, 22, 23]].max() == 0.0  # night
    tair = site.forcing["tair_c"].groupby(site.time.hour).mean()
    assert 13 <= tair.idxmax() <= 16


def test_barometric_pressure_and_clear_sky_noon_match_known_values():
    time_index = pd.date_range("2021-03-21", periods=48, freq="30min")
    draws = ("wetness", "temperature", "wind", "storm_start", "storm_hours", "storm_size")
    calm = {name: np.zeros((1, 1)) for name in draws}
    place = {"latitude_deg": [0.0, 0.0], "elevation_m": [0.0, 1500.0], "clearness": 1.0}
    place |= {"rh_mean": 0.5, "wet_day_probability": 0.1, "storm_depth_mm": 5.0}
    place |= {"wind_mean_m_s": 2.0}
    assert set(CLIMATE_NAMES) <= set(place)
    forcing = weather_arrays(time_index, 1800.0, place, calm)
    # standard atmosphere: 101.325 kPa at sea level, 84.56 kPa at 1500 m
    np.testing.assert_allclose(forcing["pressure_kpa"][:, 0], [101.325, 84.56], rtol=1e-3)
    # equinox, equator, clearness 1: noon sunshine ~ 1361 E0 0.75 (one air mass)
    noon = forcing["sw_in_w_m2"][0].max()
    assert noon == pytest.approx(1361.0 * 0.75, rel=0.03)
    assert forcing["sw_in_w_m2"][1].max() > noon  # thinner air above
    assert forcing["precip_mm"].sum() == 0.0  # wetness 0 is below the 90 % quantile


def test_one_regional_weather_is_shared_by_every_row():
    anomalies = weather_anomalies(np.random.default_rng(0), 1, 2)
    time_index = pd.date_range("2020-06-01", periods=96, freq="30min")
    place = {"latitude_deg": [40.0, 40.0], "elevation_m": [100.0, 100.0]}
    place |= {name: [0.7, 0.7] for name in ("clearness", "rh_mean")}
    place |= {"wet_day_probability": 0.3, "storm_depth_mm": 8.0, "wind_mean_m_s": 3.0}
    forcing = weather_arrays(time_index, 1800.0, place, anomalies)
    for values in forcing.values():
        assert values.shape == (2, 96)
        np.testing.assert_array_equal(values[0], values[1])


def test_records_are_flux_io_records(small):
    records = small.to_records()
    assert [r.site for r in records] == [s.site for s in small.sites]
    assert all(isinstance(r, FluxRecord) for r in records)
    site, record = small.sites[1], records[1]
    assert record.summaries() == pytest.approx(small.summaries.loc[site.site].to_dict())
    forcing = record.to_forcing(torch.float64)
    assert forcing.shape == (1, len(site.time)) and forcing.lw_in_w_m2 is not None
    torch.testing.assert_close(forcing.tair_c[0], torch.tensor(site.forcing["tair_c"].to_numpy()))


# ------------------------------------------------------------------------------- files
def test_netcdf_files_use_plumber2_names_and_units(small, written):
    folder, paths = written
    site = small.sites[0]
    with xr.open_dataset(paths[f"{site.site}/met"], engine="h5netcdf") as met:
        expected = dict(Tair="K", SWdown="W/m2", LWdown="W/m2", VPD="hPa", Qair="kg/kg")
        expected |= dict(Wind="m/s", Psurf="Pa", Precip="kg/m2/s")
        assert {name: met[name].attrs["units"] for name in met.data_vars} == expected
        assert all(met[name].dims == ("time", "y", "x") for name in expected)
        assert met.attrs["IGBP_vegetation_type"] == site.attributes["igbp"]
        for key in ("latitude", "longitude", "elevation"):
            attribute = {"elevation": "elevation_m"}.get(key, f"{key}_deg")
            assert met.attrs[key] == pytest.approx(site.attributes[attribute])
        np.testing.assert_allclose(
            met["Tair"].values.ravel() - 273.15, site.forcing["tair_c"], atol=1e-9
        )
        np.testing.assert_allclose(met["VPD"].values.ravel() / 10.0, site.forcing["vpd_kpa"])
        np.testing.assert_allclose(
            met["Precip"].values.ravel() * 1800.0, site.forcing["precip_mm"], atol=1e-12
        )
    with xr.open_dataset(paths[f"{site.site}/met"], engine="h5netcdf", decode_times=False) as raw:
        assert raw["time"].attrs["units"] == "seconds since 2020-06-01 00:00:00"
        np.testing.assert_array_equal(raw["time"].values[:3], [0.0, 1800.0, 3600.0])
    with xr.open_dataset(paths[f"{site.site}/flux"], engine="h5netcdf") as flux:
        assert set(flux.data_vars) == {"Qh", "Qle", "Qh_qc", "Qle_qc"}
        assert flux["Qle"].attrs["units"] == "W/m2"
        le = flux["Qle"].values.ravel()
        np.testing.assert_array_equal(le, site.observed["le_w_m2"].to_numpy())
        qc = flux["Qle_qc"].values.ravel()
        assert set(np.unique(qc[np.isfinite(le)])) == {0}
        assert np.all(qc[~np.isfinite(le)] > 0)
    sites_csv = pd.read_csv(folder / "sites.csv")
    assert sites_csv.columns.tolist() == ["site", *flux_sites.ATTRIBUTE_NAMES]
    assert sites_csv["sand_fraction"].between(0.05, 0.9).all()
    truth_csv = pd.read_csv(folder / "truth.csv")
    np.testing.assert_allclose(
        truth_csv[list(LSM_PARAMETER_NAMES)].to_numpy(),
        small.truth[list(LSM_PARAMETER_NAMES)].to_numpy(),
        rtol=1e-9,
    )
    readme = (folder / "README.md").read_text()
    assert all(name in readme for name in LSM_PARAMETER_NAMES)


def test_written_towers_read_back_with_read_alma(small, written):
    _, paths = written
    for site in small.sites:
        record = read_alma(paths[f"{site.site}/met"], paths[f"{site.site}/flux"])
        assert record.site == site.site
        assert record.time.equals(site.time) and record.time_step_s == 1800.0
        assert record.attributes["igbp"] == site.attributes["igbp"]
        assert record.attributes["elevation_m"] == pytest.approx(site.attributes["elevation_m"])
        np.testing.assert_allclose(
            record.forcing[site.forcing.columns].to_numpy(), site.forcing.to_numpy(), atol=1e-9
        )
        np.testing.assert_array_equal(record.observed.to_numpy(), site.observed.to_numpy())


def test_write_refuses_an_existing_folder(small, written):
    folder, _ = written
    before = _folder_bytes(folder)
    with pytest.raises(OutputExistsError):
        small.write(folder)
    assert _folder_bytes(folder) == before


def test_write_overwrites_when_asked(small, tmp_path):
    out = tmp_path / "towers"
    out.mkdir()
    (out / "old.txt").write_text("stale")
    small.write(out, overwrite=True)
    assert not (out / "old.txt").exists()
    assert (out / f"{small.sites[0].site}_Flux.nc").is_file()


def test_a_failure_midway_leaves_nothing_behind(small, tmp_path, monkeypatch):
    real = flux_sites._write_netcdf
    calls = []

    def fail_on_third(dataset, path):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        real(dataset, path)

    monkeypatch.setattr(flux_sites, "_write_netcdf", fail_on_third)
    with pytest.raises(OSError, match="disk full"):
        small.write(tmp_path / "towers")
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a staging leftover


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_sites": 0}, "n_sites"),
        ({"n_sites": 2, "n_days": 0}, "n_days"),
        ({"n_sites": 2, "time_step_s": 700}, "time_step_s"),
        ({"n_sites": 2, "start": "2020-06-01 06:00"}, "start"),
        ({"n_sites": 2, "seed": -1}, "seed"),
        ({"n_sites": 2, "noise_w_m2": float("nan")}, "noise_w_m2"),
        ({"n_sites": 2, "missing_fraction": 0.9}, "missing_fraction"),
    ],
)
def test_bad_arguments_are_refused(kwargs, field):
    with pytest.raises(ConfigError) as err:
        make_flux_sites(**kwargs)
    assert err.value.field == field and err.value.fix


# ----------------------------------------------------------------------------- rasters
def test_raster_catalogs_list_every_input_and_parameter(rasters):
    _, paths = rasters
    inputs = read_catalog(paths["catalog"])
    assert inputs.names() == list(INPUT_NAMES)
    assert inputs.crs == flux_grid().crs
    by_name = {layer.name: layer for layer in inputs.layers}
    igbp = by_name["igbp"]
    assert igbp.categorical and igbp.resampling_method == "nearest"
    assert all(f"{code}={name}" in igbp.description for code, name in IGBP_CODES.items())
    assert not by_name["tair_mean_c"].categorical and by_name["tair_mean_c"].units == "degC"
    truth = read_catalog(paths["truth_catalog"])
    assert truth.names() == list(LSM_PARAMETER_NAMES)
    for layer in [*inputs.layers, *truth.layers]:
        assert layer.path.is_file() and layer.path.with_suffix(".qml").is_file()
        with rasterio.open(layer.path) as src:
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert (src.height, src.width) == (12, 14)
            assert src.descriptions[0] == layer.name
    with rasterio.open(igbp.path) as src:
        assert src.dtypes[0] == "uint8" and set(np.unique(src.read(1))) <= set(IGBP_CODES)


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1)


def test_truth_rasters_match_the_truth_functions_at_pixels(rasters):
    _, paths = rasters
    inputs = {name: _read(paths[f"inputs/{name}"]) for name in INPUT_NAMES}
    truth = {name: _read(paths[f"truth/{name}"]) for name in LSM_PARAMETER_NAMES}
    for row, col in ((0, 0), (5, 9), (11, 13), (7, 2)):
        values = {name: inputs[name][row, col] for name in INPUT_NAMES}
        values["igbp"] = IGBP_CODES[int(values["igbp"])]
        expected = true_parameters(values, values)
        got = np.array([truth[name][row, col] for name in LSM_PARAMETER_NAMES])
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_raster_inputs_are_smooth_plausible_climatologies():
    fields = flux_raster_fields(2, shape=(24, 24))
    latitude = fields.inputs["latitude_deg"]
    assert np.all(np.diff(latitude, axis=0) < 0)  # north up
    assert latitude.min() > 30.0 and latitude.max() < 60.0
    for name in ("tair_mean_c", "vpd_mean_kpa", "sw_in_mean_w_m2", "elevation_m"):
        values = fields.inputs[name].astype(np.float64)
        neighbours = np.corrcoef(values[:, :-1].ravel(), values[:, 1:].ravel())[0, 1]
        assert neighbours > 0.8, name
    # colder where higher: the lapse rate shows through the regional weather
    elevation = fields.inputs["elevation_m"].ravel()
    tair = fields.inputs["tair_mean_c"].ravel()
    assert np.corrcoef(elevation, tair)[0, 1] < -0.5
    assert len(np.unique(fields.inputs["igbp"])) >= 3


def test_rasters_follow_the_period_of_the_towers(small):
    fields = flux_raster_fields(small, shape=(6, 6))
    assert fields.period == ("2020-06-01", 4, 1800.0)
    with pytest.raises(ConfigError) as err:
        flux_raster_fields(-3)
    assert err.value.field == "sites_or_seed"
    with pytest.raises(ConfigError):
        flux_grid((1, 5))
