"""SOC profiles and CLM5 forcings in the binn_ny layout: round trip, checks, real data."""

import logging

import numpy as np
import pandas as pd
import pytest

from geosoil.errors import InputFileNotFoundError, OutputExistsError, SampleDataError
from geosoil.io.profiles import (
    CATEGORICAL_COLUMNS,
    ENV_COLUMNS,
    FORCING_SHAPES,
    ProfileSet,
    read_binn_ny,
    write_profile_folder,
)

from ..conftest import real_data_dir

N_OBS = (4, 2, 3, 1, 4)  # valid observations of the five toy profiles


def toy_profiles(*, observed: bool = True, seed: int = 0) -> ProfileSet:
    """Five profiles with up to four observations each, every array drawn at random."""
    rng = np.random.default_rng(seed)
    n, m = len(N_OBS), max(N_OBS)
    covariates = pd.DataFrame(rng.uniform(0, 100, (n, len(ENV_COLUMNS))), columns=ENV_COLUMNS)
    for name in CATEGORICAL_COLUMNS:
        covariates[name] = rng.integers(1, 12, n)
    forcings = {name: rng.uniform(0.1, 30, (n, *shape)) for name, shape in FORCING_SHAPES.items()}
    forcings["nbedrock"] = rng.integers(8, 21, n)
    soc = depth = None
    if observed:
        soc, depth = np.full((n, m), np.nan), np.full((n, m), np.nan)
        for row, count in enumerate(N_OBS):
            depth[row, :count] = np.cumsum(rng.uniform(0.05, 0.4, count))
            soc[row, :count] = rng.uniform(100, 60000, count)
    low = rng.uniform(-10, 0, len(ENV_COLUMNS))
    return ProfileSet(
        profile_id=np.arange(101, 101 + n),
        covariates=covariates,
        forcings=forcings,
        categorical=list(CATEGORICAL_COLUMNS),
        soc=soc,
        depth_m=depth,
        covariate_ranges=np.column_stack([low, low + rng.uniform(50, 150, len(ENV_COLUMNS))]),
    )


def assert_same(read: ProfileSet, written: ProfileSet) -> None:
    np.testing.assert_array_equal(read.profile_id, written.profile_id)
    pd.testing.assert_frame_equal(read.covariates, written.covariates)
    assert read.categorical == written.categorical
    assert read.forcings.keys() == written.forcings.keys()
    for name, values in written.forcings.items():
        np.testing.assert_array_equal(read.forcings[name], values, err_msg=name)
    assert read.forcings["nbedrock"].dtype == np.int64
    for attribute in ("soc", "depth_m", "covariate_ranges"):
        np.testing.assert_array_equal(getattr(read, attribute), getattr(written, attribute))


@pytest.fixture
def training(tmp_path):
    """A written toy training folder; returns (root, the profile set written)."""
    profiles = toy_profiles()
    write_profile_folder(profiles, tmp_path)
    return tmp_path, profiles


def test_training_folder_round_trips_exactly(training):
    root, written = training
    read = read_binn_ny(root)
    assert_same(read, written)
    assert read.covariates[list(CATEGORICAL_COLUMNS)].dtypes.eq(np.int64).all()
    np.testing.assert_array_equal(read.observation_counts(), N_OBS)


def test_prediction_folder_round_trips_with_the_training_ranges(tmp_path):
    written = toy_profiles(observed=False)
    base = write_profile_folder(written, tmp_path)
    assert base.name == "Prediction_Data"
    assert (tmp_path / "Training_Data" / "col_max_min.txt").is_file()
    read = read_binn_ny(tmp_path, part="prediction")
    assert_same(read, written)
    assert read.soc is None and not read.has_observations


def test_writer_refuses_to_overwrite_unless_asked(training):
    root, written = training
    with pytest.raises(OutputExistsError, match="exist already"):
        write_profile_folder(written, root)
    write_profile_folder(toy_profiles(seed=1), root, overwrite=True)
    assert not np.array_equal(read_binn_ny(root).soc, written.soc, equal_nan=True)


def test_missing_file_and_missing_part(training):
    root, _ = training
    (root / "Training_Data" / "model_force_xio.npy").unlink()
    with pytest.raises(InputFileNotFoundError, match="missing model_force_xio.npy") as err:
        read_binn_ny(root)
    assert err.value.field == "forcings.xio"
    with pytest.raises(InputFileNotFoundError, match="no Prediction_Data/") as err:
        read_binn_ny(root, part="prediction")
    assert err.value.field == "part"


@pytest.mark.parametrize(
    ("file", "values", "field", "expected"),
    [
        ("model_force_xin.npy", np.ones((5, 19, 12)), "forcings.xin", r"\(5, 20, 12\)"),
        ("model_force_input_vector_cwd.txt", np.ones((5, 11)), "forcings.inputs_cwd", r"\(5, 12\)"),
        ("env_info.txt", np.ones((4, 38)), "covariates", r"\(5, 38\)"),
        ("obs_soc_depth.txt", np.ones((5, 3)), "depth_m", r"\(5, 4\)"),
        ("obs_soc_NY.txt", np.ones((6, 4)), "soc", r"one row per id"),
        ("col_max_min.txt", np.ones((38, 3)), "covariate_ranges", r"\(38, 2\)"),
    ],
)
def test_mis_shaped_files_are_refused(training, file, values, field, expected):
    root, _ = training
    path = root / "Training_Data" / file
    if path.suffix == ".npy":
        np.save(path, values)
    else:
        np.savetxt(path, values, delimiter=",")
    with pytest.raises(SampleDataError, match=expected) as err:
        read_binn_ny(root)
    assert err.value.field == field
    assert err.value.path == path


def test_unparsable_text_is_refused(training):
    root, _ = training
    (root / "Training_Data" / "profile_id.txt").write_text("101\nabc\n")
    with pytest.raises(SampleDataError, match="cannot read profile_id.txt") as err:
        read_binn_ny(root)
    assert err.value.field == "profile_id"


def test_nan_in_forcings_is_refused_or_dropped(tmp_path, caplog):
    profiles = toy_profiles()
    profiles.forcings["soil_temp_k"][2, 5, 3] = np.nan
    write_profile_folder(profiles, tmp_path)
    with pytest.raises(SampleDataError, match=r"1 of 5 rows with missing values.*ids 103") as err:
        read_binn_ny(tmp_path)
    assert err.value.field == "forcings.soil_temp_k"
    assert "drop_incomplete=True" in err.value.fix
    with caplog.at_level(logging.INFO, logger="geosoil.io.profiles"):
        read = read_binn_ny(tmp_path, drop_incomplete=True)
    np.testing.assert_array_equal(read.profile_id, [101, 102, 104, 105])
    assert "dropped 1 of 5 rows" in caplog.text
    assert_same(read, profiles.subset([0, 1, 3, 4]))


def test_nan_in_covariates_names_the_column(tmp_path):
    profiles = toy_profiles()
    profiles.covariates.loc[4, "BIO12"] = np.nan
    write_profile_folder(profiles, tmp_path)
    with pytest.raises(SampleDataError, match=r"in covariates \['BIO12'\]") as err:
        read_binn_ny(tmp_path)
    assert err.value.field == "covariates"
    assert read_binn_ny(tmp_path, drop_incomplete=True).n_profiles == 4


def test_profiles_without_observation_are_refused_or_dropped(tmp_path, caplog):
    profiles = toy_profiles()
    profiles.soc[[1, 3]] = np.nan
    profiles.depth_m[[1, 3]] = np.nan
    write_profile_folder(profiles, tmp_path)
    with pytest.raises(SampleDataError, match=r"2 of 5 profiles without any.*ids 102, 104") as err:
        read_binn_ny(tmp_path)
    assert err.value.field == "soc"
    with caplog.at_level(logging.INFO, logger="geosoil.io.profiles"):
        read = read_binn_ny(tmp_path, drop_empty=True)
    np.testing.assert_array_equal(read.profile_id, [101, 103, 105])
    assert "without any valid SOC observation (ids 102, 104)" in caplog.text


def test_depth_and_soc_must_be_missing_together(tmp_path):
    profiles = toy_profiles()
    profiles.depth_m[0, 1] = np.nan  # a SOC value without its depth
    write_profile_folder(profiles, tmp_path)
    with pytest.raises(SampleDataError, match="SOC value without a depth") as err:
        read_binn_ny(tmp_path)
    assert err.value.field == "depth_m"


def test_negative_soc_is_refused(tmp_path):
    profiles = toy_profiles()
    profiles.soc[2, 0] = -5.0
    write_profile_folder(profiles, tmp_path)
    with pytest.raises(SampleDataError, match="1 negative values in obs_soc_NY.txt") as err:
        read_binn_ny(tmp_path)
    assert err.value.field == "soc"


def test_bedrock_must_be_one_layer_index_per_profile(training):
    root, _ = training
    path = root / "Training_Data" / "model_force_nbedrock.txt"
    monthly = np.full((5, 12), 12.0)
    monthly[3, 7] = 13.0
    np.savetxt(path, monthly, delimiter=",")
    with pytest.raises(SampleDataError, match="changes between months in 1 rows") as err:
        read_binn_ny(root)
    assert err.value.field == "forcings.nbedrock"
    monthly[3, 7] = 12.0
    monthly[0] = 21.0
    np.savetxt(path, monthly, delimiter=",")
    with pytest.raises(SampleDataError, match="not a layer index 1 to 20"):
        read_binn_ny(root)


def test_unordered_depths_are_kept_and_reported(tmp_path, caplog):
    profiles = toy_profiles()
    profiles.depth_m[4, [1, 2]] = profiles.depth_m[4, [2, 1]]
    profiles.depth_m[0, 1] = profiles.depth_m[0, 0]  # a repeated depth
    write_profile_folder(profiles, tmp_path)
    with caplog.at_level(logging.WARNING, logger="geosoil.io.profiles"):
        read = read_binn_ny(tmp_path)
    np.testing.assert_array_equal(read.non_increasing_depth_ids(), [101, 105])
    np.testing.assert_array_equal(read.depth_m, profiles.depth_m)
    assert "2 of 5 profiles have observation depths" in caplog.text


def test_scaled_covariates_use_the_ranges_and_skip_coordinates_and_classes():
    profiles = toy_profiles()
    scaled = profiles.scaled_covariates(clip=False)
    low, high = profiles.covariate_ranges[ENV_COLUMNS.index("BIO4")]
    np.testing.assert_allclose(scaled["BIO4"], (profiles.covariates["BIO4"] - low) / (high - low))
    for name in ["Lon", "Lat", *CATEGORICAL_COLUMNS]:
        pd.testing.assert_series_equal(scaled[name], profiles.covariates[name])
    clipped = profiles.scaled_covariates().drop(columns=["Lon", "Lat", *CATEGORICAL_COLUMNS])
    assert clipped.min().min() >= 0 and clipped.max().max() <= 1
    assert (scaled.drop(columns=["Lon", "Lat", *CATEGORICAL_COLUMNS]).to_numpy() > 1).any()


def test_annual_input_sums_pools_and_months():
    profiles = toy_profiles()
    expected = sum(
        profiles.forcings[f"inputs_{p}"].sum(axis=1)
        for p in ("cwd", "litter1", "litter2", "litter3")
    )
    np.testing.assert_allclose(profiles.annual_input_g_c_m2(), expected)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda kw: kw["forcings"].pop("xio"), "forcings"),
        (lambda kw: kw["forcings"].update(sand=np.ones((5, 20))), "forcings.sand"),
        (lambda kw: kw.update(depth_m=None), "depth_m"),
        (lambda kw: kw.update(soc=np.ones((4, 4)), depth_m=np.ones((4, 4))), "soc"),
        (lambda kw: kw.update(categorical=["Colour"]), "categorical"),
        (lambda kw: kw.update(covariate_ranges=np.ones((37, 2))), "covariate_ranges"),
    ],
)
def test_inconsistent_profile_sets_are_refused(change, field):
    profiles = toy_profiles()
    kwargs = {
        "profile_id": profiles.profile_id,
        "covariates": profiles.covariates,
        "forcings": dict(profiles.forcings),
        "categorical": profiles.categorical,
        "soc": profiles.soc,
        "depth_m": profiles.depth_m,
        "covariate_ranges": profiles.covariate_ranges,
    }
    change(kwargs)
    with pytest.raises(SampleDataError) as err:
        ProfileSet(**kwargs)
    assert err.value.field == field


def test_writer_needs_the_layout_columns(tmp_path):
    profiles = toy_profiles()
    renamed = profiles.covariates.rename(columns={"Lon": "x"})
    odd = ProfileSet(profiles.profile_id, renamed, profiles.forcings, ["ESA_Land_Cover"])
    with pytest.raises(SampleDataError, match="must be its 38 columns") as err:
        write_profile_folder(odd, tmp_path)
    assert err.value.field == "covariates"


# ------------------------------------------------------------------------------ real data
BINN_NY = real_data_dir() / "binn_ny"


@pytest.mark.real_data
@pytest.mark.skipif(not BINN_NY.is_dir(), reason=f"real binn_ny data not found at {BINN_NY}")
def test_real_binn_ny_training_profiles():
    with pytest.raises(SampleDataError, match=r"of 1406 rows with missing values"):
        read_binn_ny(BINN_NY)
    with pytest.raises(SampleDataError, match=r"of \d+ profiles without any valid SOC"):
        read_binn_ny(BINN_NY, drop_incomplete=True)
    profiles = read_binn_ny(BINN_NY, drop_incomplete=True, drop_empty=True)
    n = profiles.n_profiles
    assert 1300 < n < 1406
    assert profiles.soc.shape == profiles.depth_m.shape == (n, 200)
    assert profiles.covariates.shape == (n, 38)
    assert profiles.forcings["soil_temp_k"].shape == (n, 20, 12)
    assert profiles.forcings["nbedrock"].shape == (n,)
    assert (profiles.observation_counts() >= 1).all()
    assert len(np.unique(profiles.profile_id)) == n
    # soil temperatures in kelvin, not Celsius
    assert 250 < np.median(profiles.forcings["soil_temp_k"]) < 300
    assert np.nanmax(profiles.depth_m) < 15 and np.nanmin(profiles.soc) >= 0
    # unordered depths are reported, not hidden: a minority of profiles
    assert len(profiles.non_increasing_depth_ids()) < 0.1 * n
    # unit check: monthly inputs in g C m-2 summing to the annual input give a turnover
    # time of SOC stocks to 1 m of decades, not days or millennia
    stock = _stock_to_1m_g_c_m2(profiles)
    turnover_yr = stock / profiles.annual_input_g_c_m2()
    median = np.nanmedian(turnover_yr[np.isfinite(turnover_yr) & (turnover_yr > 0)])
    assert 5 < median < 200


@pytest.mark.real_data
@pytest.mark.skipif(not BINN_NY.is_dir(), reason=f"real binn_ny data not found at {BINN_NY}")
def test_real_binn_ny_prediction_cells():
    with pytest.raises(SampleDataError, match=r"of 132 rows with missing values"):
        read_binn_ny(BINN_NY, part="prediction")
    cells = read_binn_ny(BINN_NY, part="prediction", drop_incomplete=True)
    assert 120 < cells.n_profiles < 132
    assert cells.soc is None
    assert cells.covariate_ranges.shape == (38, 2)
    scaled = cells.scaled_covariates().drop(columns=["Lon", "Lat", *CATEGORICAL_COLUMNS])
    assert scaled.min().min() >= 0 and scaled.max().max() <= 1


def _stock_to_1m_g_c_m2(profiles: ProfileSet) -> np.ndarray:
    """SOC stock to 1 m of profiles observed below 1 m (linear between observations)."""
    grid = np.linspace(0, 1, 201)
    stock = np.full(profiles.n_profiles, np.nan)
    for row, (soc, depth) in enumerate(zip(profiles.soc, profiles.depth_m, strict=True)):
        valid = np.isfinite(soc)
        if depth[valid].max() >= 1:
            order = np.argsort(depth[valid])
            values = np.interp(grid, depth[valid][order], soc[valid][order])
            stock[row] = np.trapezoid(values, grid)
    return stock
