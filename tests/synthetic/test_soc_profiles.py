"""Synthetic SOC profiles and rasters with known CLM5 parameters: truth, layout, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch

from geosoil.errors import ConfigError, InputFileNotFoundError, OutputExistsError, SampleDataError
from geosoil.io.catalog import read_catalog
from geosoil.io.profiles import CATEGORICAL_COLUMNS, ENV_COLUMNS, read_binn_ny, write_profile_folder
from geosoil.models.training import torch_threads
from geosoil.process import CLM5_PARAMETERS, PARAMETER_NAMES, interpolate_to_depths, steady_state
from geosoil.process.clm5_grid import ZISOI_M
from geosoil.synthetic import soc_rasters, synthesize
from geosoil.synthetic.soc_profiles import (
    COVARIATE_RANGES,
    DEFAULT_PRESCRIBED,
    FIXED_PARAMETERS,
    LIGNIN_RICH_LITTER,
    METABOLIC_LITTER,
    PrescribedFunction,
    PrescribedParameters,
    PrescribedTerm,
    clm5_forcings,
    covariate_table,
    describe_soc_profiles,
    forcing_arrays,
    litter_shares,
    sample_drivers,
    scale_covariates,
    simulate_soc_layers,
    soc_profile_set,
)
from geosoil.synthetic.streams import component_rng, substream

N_SITES = 40
PRESCRIBED = ("efolding", "tau4s3", "fs1s3", "w_scaling")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def simulated():
    return soc_profile_set(N_SITES, seed=3)


@pytest.fixture(scope="module")
def small_world():
    return synthesize(size="small", seed=0)


@pytest.fixture(scope="module")
def rasters(small_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("soc") / "rasters"
    return out, soc_rasters.soc_world_rasters(small_world, out, coarsening=5)


# ------------------------------------------------------------------------- profile set
def _folder_bytes(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_profile_folder(soc_profile_set(12, seed=seed).profiles, tmp_path / name)
    first, again, other = (_folder_bytes(tmp_path / n) for n in "abc")
    assert first == again
    assert first.keys() == other.keys() and first != other


def test_truth_is_the_prescribed_function_of_the_scaled_covariates(simulated):
    profiles, truth = simulated
    assert list(truth.columns) == list(PARAMETER_NAMES)
    assert truth.index.name == "profile_id"
    assert np.array_equal(truth.index.to_numpy(), profiles.profile_id)
    # the profile set's own scaling (by its covariate_ranges) gives back the truth
    expected = DEFAULT_PRESCRIBED.physical(profiles.scaled_covariates())
    assert np.allclose(truth.to_numpy(), expected, rtol=1e-12, atol=0)
    assert not set(truth.columns) & set(profiles.covariates.columns)


def test_parameters_lie_in_their_bounds_and_the_four_vary(simulated):
    _, truth = simulated
    for spec in CLM5_PARAMETERS:
        values = truth[spec.name].to_numpy()
        assert np.all((values >= spec.lower) & (values <= spec.upper)), spec.name
        if spec.name in PRESCRIBED:
            # a useful share of the range, so that recovery means something
            assert np.ptp(values) > 0.25 * (spec.upper - spec.lower), spec.name
        else:
            assert np.all(values == pytest.approx(FIXED_PARAMETERS[spec.name])), spec.name


def test_covariates_follow_the_binn_ny_layout_inside_the_ranges(simulated):
    profiles, _ = simulated
    table = profiles.covariates
    assert list(table.columns) == list(ENV_COLUMNS)
    assert profiles.categorical == list(CATEGORICAL_COLUMNS)
    for name in ENV_COLUMNS:
        low, high = COVARIATE_RANGES[name]
        values = table[name].to_numpy(dtype=np.float64)
        assert np.all((values >= low) & (values <= high)), name
    for name in CATEGORICAL_COLUMNS:
        assert table[name].dtype == np.int64
    ranges = profiles.covariate_ranges
    assert ranges.shape == (len(ENV_COLUMNS), 2) and np.all(ranges[:, 0] < ranges[:, 1])
    # climate is correlated as in nature: colder at higher elevation
    assert np.corrcoef(table["Elevation"], table["BIO1"])[0, 1] < 0


def test_forcings_have_binn_ny_magnitudes(simulated):
    profiles, _ = simulated
    f = profiles.forcings
    annual = profiles.annual_input_g_c_m2()
    assert np.all((annual > 80) & (annual < 700)) and 300 < np.median(annual) < 650
    assert np.all((f["soil_water"] > 0) & (f["soil_water"] <= 1))
    assert np.all((f["xio"] > 0.5) & (f["xio"] <= 1)) and np.all(f["xin"] <= 1)
    temp = f["soil_temp_k"]
    assert temp.min() > 250 and temp.max() < 320
    # the annual wave is damped with depth
    swing = temp.max(axis=2) - temp.min(axis=2)
    assert np.all(swing[:, 0] > swing[:, -1])
    assert np.all((f["nbedrock"] >= 8) & (f["nbedrock"] <= 20))


def test_soc_is_finite_and_positive_in_active_layers(simulated):
    profiles, truth = simulated
    layers = simulate_soc_layers(truth.to_numpy(), profiles.forcings)
    active = np.arange(1, 21)[None, :] <= profiles.forcings["nbedrock"][:, None]
    assert np.all(np.isfinite(layers))
    assert np.all(layers[active] > 0)
    assert np.all(layers[~active] == 0)
    observed = profiles.soc[np.isfinite(profiles.soc)]
    assert np.all(observed > 0)


def test_depths_lie_in_the_active_column_and_increase(simulated):
    profiles, _ = simulated
    depth = profiles.depth_m
    counts = profiles.observation_counts()
    assert counts.min() >= 3 and counts.max() <= 8
    bottom = np.minimum(np.asarray(ZISOI_M)[profiles.forcings["nbedrock"] - 1], 2.0)
    for row, limit in zip(depth, bottom, strict=True):
        kept = row[np.isfinite(row)]
        assert np.all(np.diff(kept) > 0)
        assert kept.min() >= 0.02 and kept.max() <= limit
    assert len(profiles.non_increasing_depth_ids()) == 0


def test_without_noise_observations_are_the_model_profile():
    profiles, truth = soc_profile_set(15, seed=2, noise_sd_rel=0.0, depths_per_site=(2, 2))
    layers = torch.from_numpy(simulate_soc_layers(truth.to_numpy(), profiles.forcings))
    expected = interpolate_to_depths(layers, torch.from_numpy(profiles.depth_m)).numpy()
    assert np.allclose(profiles.soc, expected, rtol=1e-12)
    assert np.all(profiles.observation_counts() == 2)


def test_noise_is_relative_with_the_asked_spread():
    quiet, _ = soc_profile_set(300, seed=1, noise_sd_rel=0.0)
    noisy, _ = soc_profile_set(300, seed=1, noise_sd_rel=0.2)
    ratio = (noisy.soc / quiet.soc)[np.isfinite(quiet.soc)]
    assert abs(ratio.mean() - 1) < 0.03
    assert 0.17 < ratio.std() < 0.23


def test_a_written_set_reads_back_with_the_binn_ny_reader(simulated, tmp_path):
    profiles, _ = simulated
    write_profile_folder(profiles, tmp_path)
    back = read_binn_ny(tmp_path)
    assert np.array_equal(back.profile_id, profiles.profile_id)
    assert np.array_equal(back.soc, profiles.soc, equal_nan=True)
    assert np.array_equal(back.depth_m, profiles.depth_m, equal_nan=True)
    pd.testing.assert_frame_equal(back.covariates, profiles.covariates, check_dtype=False)
    for name, values in profiles.forcings.items():
        assert np.array_equal(back.forcings[name], values), name


# ---------------------------------------------------------------- prescribed functions
def test_truth_curves_match_unit_values_on_a_sweep():
    curves = DEFAULT_PRESCRIBED.truth_curves(n_points=21)
    pairs = curves[["covariate", "parameter"]].drop_duplicates()
    assert len(pairs) == sum(len(f.terms) for f in DEFAULT_PRESCRIBED.functions)
    assert set(pairs["parameter"]) == set(PRESCRIBED)
    for covariate, parameter in pairs.itertuples(index=False):
        curve = curves[(curves.covariate == covariate) & (curves.parameter == parameter)]
        sweep = pd.DataFrame(0.5, index=range(len(curve)), columns=DEFAULT_PRESCRIBED.covariates)
        sweep[covariate] = curve["x"].to_numpy()
        unit = DEFAULT_PRESCRIBED.unit_values(sweep)[:, PARAMETER_NAMES.index(parameter)]
        assert np.allclose(curve["value"].to_numpy(), unit, rtol=0, atol=1e-12)
        physical = DEFAULT_PRESCRIBED.physical(sweep)[:, PARAMETER_NAMES.index(parameter)]
        assert np.allclose(curve["value_physical"].to_numpy(), physical, rtol=1e-12)
        assert np.ptp(unit) > 0.1  # every term moves its parameter


def test_scaling_matches_the_profile_sets_own(simulated):
    profiles, _ = simulated
    columns = list(DEFAULT_PRESCRIBED.covariates)
    mine = scale_covariates(profiles.covariates)[columns]
    pd.testing.assert_frame_equal(mine, profiles.scaled_covariates()[columns])


@pytest.fixture(scope="module")
def larger():
    """Enough sites for correlations and spans (covariates and forcings only, no SOC solve)."""
    rng = component_rng(11, "soc_profiles")
    drivers = sample_drivers(3000, substream(rng, "drivers"))
    scaled = scale_covariates(covariate_table(drivers))
    return drivers, scaled, forcing_arrays(drivers)


def test_each_parameter_follows_its_own_weakly_correlated_covariate(larger):
    _, scaled, _ = larger
    drivers = [[t.covariate for t in f.terms] for f in DEFAULT_PRESCRIBED.functions]
    assert all(len(d) == 1 for d in drivers)
    names = [d[0] for d in drivers]
    assert len(set(names)) == len(PRESCRIBED)
    correlation = np.corrcoef(scaled[names].to_numpy().T)
    off_diagonal = correlation[~np.eye(len(names), dtype=bool)]
    assert np.max(np.abs(off_diagonal)) < 0.3


def test_prescribed_parameters_span_most_of_their_bounds(larger):
    _, scaled, _ = larger
    unit = DEFAULT_PRESCRIBED.unit_values(scaled)
    for name in PRESCRIBED:
        values = unit[:, PARAMETER_NAMES.index(name)]
        low, high = np.quantile(values, [0.02, 0.98])
        # the middle 96 % of sites cover most of the bounds, with a real spread
        assert high - low > 0.5, name
        assert values.std() > 0.15, name


def test_w_scaling_times_the_water_scalar_stays_below_the_cap(larger):
    _, scaled, forcings = larger
    w = DEFAULT_PRESCRIBED.physical(scaled)[:, PARAMETER_NAMES.index("w_scaling")]
    effective = w[:, None, None] * forcings["soil_water"]
    # min(w W, 1) would hide w_scaling wherever it is reached
    assert effective.max() < 0.95
    # ... with room: the largest w_scaling sits where the soil is driest, not everywhere
    assert w.max() > 3.0


def test_litter_quality_follows_land_cover_and_varies_within_it(larger):
    drivers, scaled, forcings = larger
    litter = np.stack([forcings[f"inputs_litter{i}"].sum(axis=1) for i in (1, 2, 3)], axis=1)
    measured = litter / litter.sum(axis=1, keepdims=True)
    expected = litter_shares(drivers["landcover"], drivers["lon"], drivers["lat"])
    assert np.allclose(measured, expected)
    assert np.allclose(expected.sum(axis=1), 1.0) and expected.min() > 0
    lignin = pd.Series(measured[:, 2])
    cover = pd.Series(drivers["landcover"])
    # forest litter is woodier than crop residues on average ...
    assert lignin[cover == 4].mean() > lignin[cover == 1].mean() + 0.1
    # ... but land cover explains well under half of the lignin share: the rest is a
    # fine-scale pattern that no covariate (nor an additive function of Lon and Lat) holds
    within = lignin - lignin.groupby(cover).transform("mean")
    assert within.var() > 0.4 * lignin.var()
    additive = np.column_stack([np.ones(len(lignin)), *(scaled[c] for c in ("Lon", "Lat"))])
    coef, *_ = np.linalg.lstsq(additive, within.to_numpy(), rcond=None)
    assert np.var(within.to_numpy() - additive @ coef) > 0.95 * within.var()


def test_lignin_rich_litter_feeds_less_of_the_passive_pool(simulated):
    # why the split varies: litter 3 reaches SOM 2 directly and skips the SOM 1 -> SOM 3 step,
    # so at the same parameters the passive share of SOC differs between sites
    profiles, truth = simulated
    site = {name: values[:1] for name, values in profiles.forcings.items()}
    total = sum(site[f"inputs_litter{i}"] for i in (1, 2, 3))
    outside_passive = []
    for shares in (METABOLIC_LITTER, LIGNIN_RICH_LITTER):
        forcing = {**site, **{f"inputs_litter{i + 1}": s * total for i, s in enumerate(shares)}}
        state = steady_state(torch.tensor(truth.to_numpy()[:1]), clm5_forcings(forcing))
        pools = state.pools_gc_m2[0].sum(dim=1)  # per pool, over layers
        outside_passive.append(float(pools[1:6].sum() / pools[1:].sum()))
    # the SOC outside the passive pool (which scales as 1 / w_scaling alone) grows by half
    assert outside_passive[1] > 1.5 * outside_passive[0]


def test_the_readme_states_the_design():
    text = describe_soc_profiles(10, 0)
    for name in PRESCRIBED:
        assert f"`{name}`: u = " in text
    assert "forest 0.6" in text and "sin(2 pi lon / 0.23)" in text
    assert "below the cap" in text


def _term(shape="linear", coefficients=(0.1, 0.5), covariate="BIO1"):
    return PrescribedTerm(covariate, shape, coefficients)


@pytest.mark.parametrize(
    ("build", "error", "field", "match"),
    [
        (lambda: _term(shape="cubic"), ConfigError, "prescribed.shape", "unknown function"),
        (lambda: _term(coefficients=(1.0,)), ConfigError, "prescribed.BIO1", "takes 2"),
        (
            lambda: PrescribedParameters(
                functions=(PrescribedFunction("q10", (_term(coefficients=(0.5, 0.8)),)),),
                fixed={k: v for k, v in FIXED_PARAMETERS.items() if k != "q10"}
                | {"efolding": 0.5, "tau4s3": 100, "fs1s3": 0.05, "w_scaling": 1.0},
            ),
            ConfigError,
            "prescribed.q10",
            "outside \\[0, 1\\]",
        ),
        (
            lambda: PrescribedParameters(fixed={**FIXED_PARAMETERS, "efolding": 0.5}),
            ConfigError,
            "prescribed.efolding",
            "more than once",
        ),
        (
            lambda: PrescribedParameters(
                fixed={k: v for k, v in FIXED_PARAMETERS.items() if k != "beta"}
            ),
            ConfigError,
            "prescribed.beta",
            "neither prescribed nor fixed",
        ),
        (
            lambda: PrescribedParameters(
                functions=DEFAULT_PRESCRIBED.functions[:3],
                fixed={**FIXED_PARAMETERS, "w_scaling": 7.0},
            ),
            ConfigError,
            "parameters.w_scaling",
            "outside its bounds",
        ),
        (
            lambda: DEFAULT_PRESCRIBED.unit_values(pd.DataFrame({"BIO1": [0.5]})),
            SampleDataError,
            "covariates",
            "Clay_Content_0cm",
        ),
        (lambda: soc_profile_set(0), ConfigError, "n_sites", "positive integer"),
        (lambda: soc_profile_set(5, seed=-1), ConfigError, "seed", "non-negative"),
        (
            lambda: soc_profile_set(5, depths_per_site=(5, 2)),
            ConfigError,
            "depths_per_site",
            "fewest <= most",
        ),
        (
            lambda: soc_profile_set(5, noise_sd_rel=-0.1),
            ConfigError,
            "noise_sd_rel",
            ">= 0",
        ),
        (lambda: DEFAULT_PRESCRIBED.truth_curves(1), ConfigError, "n_points", "at least 2"),
    ],
)
def test_bad_input_is_refused(build, error, field, match):
    with pytest.raises(error, match=match) as info:
        build()
    assert info.value.field == field


# ----------------------------------------------------------------------------- rasters
def test_rasters_share_the_worlds_crs_and_extent(rasters, small_world):
    out, written = rasters
    grid = small_world.grid
    for key in ("covariates/BIO1", "forcings/soil_temp_k", "truth/tau4s3"):
        with rasterio.open(written[key]) as src:
            assert src.crs.to_string() == grid.crs
            assert src.shape == (grid.height // 5, grid.width // 5)
            assert src.bounds == pytest.approx(grid.bounds)
    with rasterio.open(written["forcings/soil_temp_k"]) as src:
        assert src.count == 240 and src.descriptions[13] == "l02_m02"
    assert read_catalog(out / "covariates.yaml").names() == list(ENV_COLUMNS)
    assert len(read_catalog(out / "forcings.yaml").names()) == len(soc_rasters.forcing_band_names())
    assert "240 bands" in (out / "README.md").read_text()


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1, masked=True)


def test_truth_is_finite_where_covariates_are_valid(rasters, small_world):
    _, written = rasters
    clay = _read(written["covariates/Clay_Content_0cm"])
    assert 0 < np.ma.count_masked(clay) < clay.size  # the lake is no soil
    for name in (*PRESCRIBED, "soc_stock_0_30cm_kg_m2", "soc_stock_0_100cm_kg_m2"):
        values = _read(written[f"truth/{name}"])
        assert np.array_equal(values.mask, clay.mask), name
        assert np.all(np.isfinite(values.compressed()) & (values.compressed() > 0)), name
    top = _read(written["truth/soc_stock_0_30cm_kg_m2"])
    metre = _read(written["truth/soc_stock_0_100cm_kg_m2"])
    assert np.all(metre.compressed() > top.compressed())
    spec = {p.name: p for p in CLM5_PARAMETERS}
    for name in PRESCRIBED:
        values = _read(written[f"truth/{name}"]).compressed()
        assert spec[name].lower <= values.min() and values.max() <= spec[name].upper
        assert np.ptp(values) > 0  # the world's covariates move every parameter


def test_forcing_rasters_give_back_the_truth(rasters):
    out, written = rasters
    catalog = read_catalog(out / "forcings.yaml")
    valid = ~_read(written["truth/tau4s3"]).mask
    rows, cols = np.nonzero(valid)
    pick = slice(0, None, max(1, len(rows) // 25))
    rows, cols = rows[pick], cols[pick]
    columns = []
    for layer in catalog.layers:
        with rasterio.open(layer.path) as src:
            columns.append(src.read(layer.band)[rows, cols])
    forcings = soc_rasters.forcings_from_bands(np.stack(columns, axis=1))
    params = np.stack(
        [_read(written[f"truth/{n}"]).data[rows, cols] for n in PRESCRIBED], axis=1
    ).astype(np.float64)
    physical = np.tile([FIXED_PARAMETERS.get(n, 0.0) for n in PARAMETER_NAMES], (len(rows), 1))
    for i, name in enumerate(PRESCRIBED):
        physical[:, PARAMETER_NAMES.index(name)] = params[:, i]
    # the truth maps were solved from float64 parameters; the float32 copies differ slightly
    layers = torch.from_numpy(simulate_soc_layers(physical, forcings))
    from geosoil.process import soc_stock_kg_m2

    stock = soc_stock_kg_m2(layers, 1.0).numpy()
    expected = _read(written["truth/soc_stock_0_100cm_kg_m2"]).data[rows, cols]
    assert np.allclose(stock, expected, rtol=1e-4)


def test_a_world_folder_gives_the_same_rasters(world_dir, small_world, tmp_path):
    from_folder = soc_rasters.soc_world_rasters(world_dir, tmp_path / "f", coarsening=10)
    in_memory = soc_rasters.soc_world_rasters(small_world, tmp_path / "m", coarsening=10)
    assert from_folder.keys() == in_memory.keys()
    for key in ("truth/soc_stock_0_30cm_kg_m2", "covariates/pH_Water_0cm", "forcings/xin"):
        assert from_folder[key].read_bytes() == in_memory[key].read_bytes(), key


def test_chunking_does_not_change_the_rasters(small_world, tmp_path, monkeypatch):
    whole = soc_rasters.soc_world_rasters(small_world, tmp_path / "a", coarsening=10)
    monkeypatch.setattr(soc_rasters, "CHUNK_PIXELS", 37)
    chunked = soc_rasters.soc_world_rasters(small_world, tmp_path / "b", coarsening=10)
    for key in ("truth/soc_stock_0_100cm_kg_m2", "forcings/soil_water", "truth/efolding"):
        assert whole[key].read_bytes() == chunked[key].read_bytes(), key


def test_raster_bad_input(small_world, tmp_path):
    with pytest.raises(ConfigError, match="positive integer") as info:
        soc_rasters.soc_world_rasters(small_world, tmp_path / "x", coarsening=0)
    assert info.value.field == "coarsening"
    with pytest.raises(InputFileNotFoundError, match="not a synthetic world") as info:
        soc_rasters.soc_world_rasters(tmp_path, tmp_path / "y")
    assert info.value.field == "world"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not empty") as info:
        soc_rasters.soc_world_rasters(small_world, tmp_path / "full")
    assert info.value.field == "output.dir"
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    with pytest.raises(SampleDataError, match="expected \\(pixels, 1273\\)") as info:
        soc_rasters.forcings_from_bands(np.zeros((3, 10)))
    assert info.value.field == "forcings"


# ------------------------------------------------------------ the misspecified design
def test_misspecified_design_has_an_interaction_collinear_drivers_and_a_hidden_one(larger):
    from geosoil.synthetic.soc_profiles import MISSPECIFIED_PRESCRIBED, InteractionTerm

    _, scaled, _ = larger
    by_name = {f.parameter: f for f in MISSPECIFIED_PRESCRIBED.functions}
    # efolding: an interaction, so its mixed second difference is not zero
    efolding = by_name["efolding"]
    assert any(isinstance(t, InteractionTerm) for t in efolding.terms)

    def at(clay, wet):
        return float(efolding({"Clay_Content_0cm": np.array(clay), "BIO12": np.array(wet)}))

    assert abs(at(1, 1) - at(1, 0) - at(0, 1) + at(0, 0)) > 0.5
    # tau4s3 and w_scaling: two drivers each, correlated above 0.6 over sampled sites
    for parameter in ("tau4s3", "w_scaling"):
        first, second = by_name[parameter].covariates
        assert abs(np.corrcoef(scaled[first], scaled[second])[0, 1]) > 0.6
    # fs1s3: driven by a covariate the experiments withhold, with no proxy left above 0.3
    assert "Silt_Content_0cm" in by_name["fs1s3"].covariates
    assert "Silt_Content_0cm" in MISSPECIFIED_PRESCRIBED.hidden
    given = [c for c in scaled.columns if c not in MISSPECIFIED_PRESCRIBED.hidden]
    silt = scaled["Silt_Content_0cm"].to_numpy()
    proxies = [abs(np.corrcoef(silt, scaled[c])[0, 1]) for c in given if scaled[c].std() > 0]
    assert max(proxies) < 0.3


def test_misspecified_design_simulates_profiles_in_bounds():
    from geosoil.synthetic.soc_profiles import MISSPECIFIED_PRESCRIBED

    profiles, truth = soc_profile_set(40, seed=2, prescribed=MISSPECIFIED_PRESCRIBED)
    assert np.isfinite(profiles.soc[np.isfinite(profiles.depth_m)]).all()
    for spec in CLM5_PARAMETERS:
        assert truth[spec.name].between(spec.lower, spec.upper).all()
    assert truth["efolding"].std() > 0 and truth["fs1s3"].std() > 0
    # the identifiable design is labelled with what it favours, the other is not
    assert "KAN" in DEFAULT_PRESCRIBED.favours and "no model" in MISSPECIFIED_PRESCRIBED.favours
