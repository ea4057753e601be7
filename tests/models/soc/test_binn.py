"""BINN and ScIReN on a tiny synthetic world with known CLM5 parameters.

The profiles are simulated with CLM5 from four parameters that are smooth functions of three
covariates (the others at mid-range, what the estimators fix unlisted parameters at), then
sampled at 3-6 depths with 3 % noise.
"""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from geosoil.artifacts import load_artifact
from geosoil.errors import ConfigError, CovariateError, SampleDataError
from geosoil.io.profiles import FORCING_SHAPES, ProfileSet, read_binn_ny
from geosoil.models import BINN, ScIReN, get_estimator_class
from geosoil.models.base import NotFittedError
from geosoil.models.soc import binn as binn_module
from geosoil.models.soc.binn import STOCK_COLUMNS, layer_stocks
from geosoil.models.soc.inputs import encode_profiles, forcings_from_profiles
from geosoil.process import (
    BULK_PROCESS_NAMES,
    CLM5_PARAMETERS,
    PARAMETER_NAMES,
    interpolate_to_depths,
    steady_state,
)
from geosoil.process.clm5_grid import ZSOI_M
from geosoil.trust.conformal import ConformalCalibration
from geosoil.trust.profiles import ProfileOutOfFold, fit_profile_trust, layer_bounds

from ...conftest import real_data_dir, save_model

TRUTH = ("efolding", "tau4s3", "fs1s3", "w_scaling")
MID = {p.name: 0.5 * (p.lower + p.upper) for p in CLM5_PARAMETERS}
BOUNDS = {p.name: (p.lower, p.upper) for p in CLM5_PARAMETERS}
FAST = {
    "hidden_layers": (16,),
    "embedding_dim": 2,
    "batch_size": 16,
    "learning_rate": 2e-2,
    "threads": 1,
}


def true_parameters(covariates: pd.DataFrame) -> pd.DataFrame:
    """The 21 physical parameters of each site: four depend on the covariates."""
    t, m, c = (covariates[name].to_numpy() for name in ("temp", "moist", "clay"))
    table = pd.DataFrame({name: np.full(len(covariates), MID[name]) for name in PARAMETER_NAMES})
    table["efolding"] = 0.2 + 0.6 * t
    table["tau4s3"] = 60 + 280 * m
    table["fs1s3"] = 0.01 + 0.08 * c
    table["w_scaling"] = 0.5 + 3.0 * m * (1 - 0.5 * t)
    return table


def synthetic_profiles(n: int = 48, *, seed: int = 0, noise: float = 0.03) -> ProfileSet:
    """``n`` sites with seasonal forcings and SOC simulated by CLM5 at 3-6 depths each."""
    rng = np.random.default_rng(seed)
    covariates = pd.DataFrame(
        {
            "temp": rng.uniform(0, 1, n),
            "moist": rng.uniform(0, 1, n),
            "clay": rng.uniform(0, 1, n),
            "landuse": rng.integers(1, 4, n),
        }
    )
    wave = np.sin(2 * np.pi * (np.arange(12) - 3) / 12)
    inputs = (0.8 + 0.4 * rng.uniform(size=n))[:, None] * (1 + 0.5 * wave)
    damping = np.exp(-np.linspace(0.01, 8, 20) / 2)[None, :, None]
    temp_k = 280 + 8 * covariates["temp"].to_numpy()[:, None, None] + 8 * wave * damping
    water = (0.3 + 0.5 * covariates["moist"].to_numpy())[:, None, None] * np.ones((1, 20, 12))
    no_permafrost = np.full((n, 12), 41.998)
    forcings = {
        "inputs_cwd": 5 * inputs,
        "inputs_litter1": 10 * inputs,
        "inputs_litter2": 12 * inputs,
        "inputs_litter3": 6 * inputs,
        "altmax_lastyear": no_permafrost,
        "altmax_current": no_permafrost.copy(),
        "nbedrock": rng.integers(12, 21, n),
        "xio": np.ones((n, 20, 12)),
        "xin": np.full((n, 20, 12), 0.8),
        "sand": np.full((n, 20, 12), 40.0),
        "soil_temp_k": temp_k,
        "soil_water": water,
    }
    depth = np.full((n, 6), np.nan)
    for i in range(n):
        k = rng.integers(3, 7)
        depth[i, :k] = np.sort(rng.uniform(0.02, 1.5, k))
    shell = ProfileSet(
        profile_id=np.arange(n) + 100, covariates=covariates, forcings=forcings
    )  # forcings only
    params = torch.as_tensor(true_parameters(covariates).to_numpy())
    layers = steady_state(params, forcings_from_profiles(shell, dtype=torch.float64)).soc_gc_m3
    soc = interpolate_to_depths(layers, torch.as_tensor(depth)).numpy()
    soc = soc * np.exp(noise * rng.standard_normal(soc.shape))
    return ProfileSet(
        profile_id=shell.profile_id,
        covariates=covariates,
        forcings=forcings,
        categorical=["landuse"],
        soc=soc,
        depth_m=depth,
    )


def replace(profiles: ProfileSet, **changes) -> ProfileSet:
    """A copy of a profile set with some arrays replaced."""
    fields = {
        "profile_id": profiles.profile_id,
        "covariates": profiles.covariates,
        "forcings": profiles.forcings,
        "categorical": list(profiles.categorical),
        "soc": profiles.soc,
        "depth_m": profiles.depth_m,
        "covariate_ranges": profiles.covariate_ranges,
    }
    return ProfileSet(**{**fields, **changes})


@pytest.fixture(scope="module")
def profiles() -> ProfileSet:
    return synthetic_profiles()


@pytest.fixture(scope="module")
def valid() -> ProfileSet:
    return synthetic_profiles(16, seed=1)


@pytest.fixture(scope="module")
def fitted(profiles, valid) -> BINN:
    model = BINN(learned_parameters=list(TRUTH), max_epochs=10, patience=10, **FAST)
    return model.fit(profiles, valid=valid)


@pytest.fixture(scope="module")
def sciren(profiles, valid) -> ScIReN:
    model = ScIReN(
        learned_parameters=list(TRUTH), max_epochs=8, patience=8, batch_size=16, threads=1
    )
    return model.fit(profiles, valid=valid)


# --------------------------------------------------------------------- learning
def test_fit_reduces_the_loss_and_reaches_a_positive_validation_nse(fitted):
    losses = [row["train_loss"] for row in fitted.history_]
    assert losses[-1] < 0.8 * losses[0]
    best = max(row["valid_nse"] for row in fitted.history_)
    assert best > 0.2
    assert fitted.history_[fitted.best_epoch_ - 1]["valid_nse"] == best
    assert fitted.n_valid_ == 16 and fitted.n_train_ == 48


@pytest.mark.parametrize("schedule", ["plateau", "cosine"])
def test_learning_rate_schedules_lower_the_rate_and_keep_the_best_epoch(profiles, valid, schedule):
    model = BINN(
        learned_parameters=list(TRUTH), max_epochs=8, patience=8, lr_schedule=schedule, **FAST
    ).fit(profiles, valid=valid)
    rates = [row["learning_rate"] for row in model.history_]
    assert rates[0] == FAST["learning_rate"]
    assert all(b <= a for a, b in itertools.pairwise(rates))
    if schedule == "cosine":  # cosine decays every epoch; a plateau only after 3 stale ones
        assert rates[-1] < 0.5 * rates[0]
    best = max(row["valid_nse"] for row in model.history_)
    assert model.history_[model.best_epoch_ - 1]["valid_nse"] == best


def test_sciren_fits_and_reads_out_one_curve_per_covariate_and_parameter(profiles, sciren):
    assert max(row["valid_nse"] for row in sciren.history_) > 0.2
    table = sciren.read_out(n_points=11)
    inputs = ["temp", "moist", "clay", "landuse=1", "landuse=2", "landuse=3"]
    sizes = table.groupby(["covariate", "parameter"]).size()
    assert len(sizes) == len(inputs) * len(TRUTH) and (sizes == 11).all()
    assert list(pd.unique(table["covariate"])) == inputs
    for name in TRUTH:
        values = table.loc[table["parameter"] == name, "value"]
        assert values.between(*BOUNDS[name]).all()
    temp = table[(table["covariate"] == "temp") & (table["parameter"] == "efolding")]
    low, high = profiles.covariates["temp"].min(), profiles.covariates["temp"].max()
    np.testing.assert_allclose(temp["x"].to_numpy()[[0, -1]], [low, high])


def test_sciren_read_out_value_is_the_model_at_the_reference(profiles, sciren):
    table = sciren.read_out(n_points=5)
    row = table[(table["covariate"] == "clay") & (table["parameter"] == "fs1s3")].iloc[2]
    probe = profiles.subset([0])
    probe.covariates.loc[0, ["temp", "moist", "clay"]] = [
        float(np.median(profiles.covariates[c])) for c in ("temp", "moist", "clay")
    ]
    probe.covariates.loc[0, "clay"] = row["x"]
    probe.covariates.loc[0, "landuse"] = int(profiles.covariates["landuse"].mode().min())
    value = sciren.predict_parameters(probe)["fs1s3"].iloc[0]
    np.testing.assert_allclose(value, row["value"], rtol=1e-10)


def test_partial_dependence_of_binn_spans_the_covariate(profiles, fitted):
    curve = fitted.partial_dependence("temp", "efolding", grid=np.linspace(0, 1, 7))
    assert list(curve.columns) == ["covariate", "parameter", "x", "x_scaled", "value"]
    assert len(curve) == 7 and curve["value"].between(*BOUNDS["efolding"]).all()
    assert curve["value"].std() > 0
    default = fitted.partial_dependence("moist", "tau4s3")
    assert default["x"].iloc[0] == profiles.covariates["moist"].min()
    with pytest.raises(ConfigError, match="not a learned parameter") as err:
        fitted.partial_dependence("temp", "q10")
    assert err.value.field == "parameter"
    with pytest.raises(ConfigError, match="continuous covariate") as err:
        fitted.partial_dependence("landuse", "efolding")
    assert err.value.field == "covariate"


# -------------------------------------------------------------------- parameters
def test_fixed_parameters_stay_exactly_and_a_learned_subset_works(profiles):
    model = BINN(
        learned_parameters=["efolding", "tau4s3"],
        fixed_parameters={"q10": 2.5, "beta": 0.95},
        max_epochs=1,
        **FAST,
    ).fit(profiles)
    table = model.predict_parameters(profiles)
    assert list(table.columns) == list(PARAMETER_NAMES)
    assert (table["q10"] == 2.5).all() and (table["beta"] == 0.95).all()
    for name in set(PARAMETER_NAMES) - {"efolding", "tau4s3", "q10", "beta"}:
        assert (table[name] == MID[name]).all(), name
    for name in ("efolding", "tau4s3"):
        assert table[name].between(*BOUNDS[name]).all() and table[name].std() > 0
    assert model.learned_parameters_ == ["efolding", "tau4s3"]


def test_learned_parameters_default_to_all_that_are_not_fixed(profiles):
    model = BINN(fixed_parameters={"q10": 2.0}, max_epochs=1, **FAST).fit(profiles)
    assert model.learned_parameters_ == [n for n in PARAMETER_NAMES if n != "q10"]
    assert model.fixed_parameters_ == {"q10": 2.0}


@pytest.mark.parametrize(
    ("params", "match", "field"),
    [
        ({"fixed_parameters": {"tau4s3": 1000.0}}, "outside its bounds", "fixed_parameters.tau4s3"),
        ({"fixed_parameters": {"q11": 2.0}}, "unknown CLM5 parameter", "fixed_parameters.q11"),
        (
            {"learned_parameters": ["q10"], "fixed_parameters": {"q10": 2.0}},
            "both learned and fixed",
            "fixed_parameters.q10",
        ),
        ({"learned_parameters": ["q10", "tau"]}, "unknown: \\['tau'\\]", "learned_parameters"),
        ({"fixed_parameters": MID}, "nothing to learn", "fixed_parameters"),
        ({"dtype": "float16"}, "float16", "dtype"),
        ({"below_column": "drop"}, "drop", "below_column"),
        ({"batch_size": 0}, "at least 1", "batch_size"),
        ({"valid_fraction": 1.0}, "outside", "valid_fraction"),
        ({"lr_schedule": "step"}, "step", "lr_schedule"),
        ({"covariates": ["temp", "rain"]}, "rain", "covariates"),
    ],
)
def test_bad_hyperparameters_are_refused_by_field(profiles, params, match, field):
    with pytest.raises(ConfigError, match=match) as err:
        BINN(**{**FAST, **params}, max_epochs=1).fit(profiles)
    assert err.value.field == f"params.{field}"


# ---------------------------------------------------------------------- bad input
def test_profiles_without_observation_are_refused_or_dropped(profiles):
    soc, depth = profiles.soc.copy(), profiles.depth_m.copy()
    soc[[3, 7]] = depth[[3, 7]] = np.nan
    holey = replace(profiles, soc=soc, depth_m=depth)
    with pytest.raises(SampleDataError, match="2 of 48 training profiles have no valid") as err:
        BINN(max_epochs=1, **FAST).fit(holey)
    assert err.value.field == "profiles.soc" and "103, 107" in str(err.value)
    model = BINN(max_epochs=1, drop_empty=True, **FAST).fit(holey)
    assert model.n_train_ + model.n_valid_ == 46


def test_prediction_cells_cannot_be_fitted(profiles):
    cells = replace(profiles, soc=None, depth_m=None)
    with pytest.raises(SampleDataError, match="no SOC observations") as err:
        BINN(**FAST).fit(cells)
    assert err.value.field == "profiles.soc"


def test_depths_below_the_column_are_refused_or_ignored(profiles):
    depth = profiles.depth_m.copy()
    depth[5, 0] = 9.5
    deep = replace(profiles, depth_m=depth)
    with pytest.raises(SampleDataError, match="below the CLM5 column") as err:
        BINN(max_epochs=1, **FAST).fit(deep)
    assert err.value.field == "profiles.depth_m"
    model = BINN(max_epochs=1, below_column="ignore", **FAST).fit(deep)
    predicted = model.predict(deep)
    assert np.isnan(predicted[5, 0]) and np.isfinite(predicted[5, 1])


def test_covariates_scale_from_training_or_given_ranges(profiles):
    model = BINN(max_epochs=1, covariates=["temp", "landuse"], **FAST).fit(profiles)
    assert model.coding_.low[0] == profiles.covariates["temp"].min()
    assert model.coding_.continuous == ["temp"] and model.coding_.categorical == ["landuse"]
    with pytest.raises(SampleDataError, match="no covariate_ranges") as err:
        BINN(max_epochs=1, scale_from="ranges", **FAST).fit(profiles)
    assert err.value.field == "params.scale_from"
    ranges = np.array([[-1.0, 3.0], [0.0, 1.0], [0.0, 2.0], [1.0, 3.0]])
    ranged = BINN(max_epochs=1, scale_from="ranges", **FAST).fit(
        replace(profiles, covariate_ranges=ranges)
    )
    np.testing.assert_array_equal(ranged.coding_.low, [-1.0, 0.0, 0.0])
    np.testing.assert_array_equal(ranged.coding_.high, [3.0, 1.0, 2.0])


def test_missing_and_nan_covariates_are_named(profiles, fitted):
    with pytest.raises(CovariateError, match="clay") as err:
        fitted.predict(replace(profiles, covariates=profiles.covariates.drop(columns="clay")))
    assert err.value.field == "covariates.clay"
    table = profiles.covariates.copy()
    table.loc[4, "moist"] = np.nan
    with pytest.raises(SampleDataError, match="missing covariates") as err:
        BINN(max_epochs=1, **FAST).fit(replace(profiles, covariates=table))
    assert err.value.field == "covariates.moist" and "104" in str(err.value)


def test_unseen_category_is_an_error_or_the_training_mix(profiles, fitted):
    table = profiles.covariates.copy()
    table.loc[[1, 2], "landuse"] = 9
    unseen = replace(profiles, covariates=table)
    with pytest.raises(CovariateError, match=r"landuse has codes \[9\]") as err:
        fitted.predict(unseen)
    assert err.value.field == "covariates.landuse"

    model = BINN(max_epochs=1, unseen_categories="mean", **FAST).fit(profiles)
    got = model.predict_parameters(unseen).iloc[1]
    encoder = model.encoder_
    embedding = encoder.embeddings[0].weight
    frequency = np.bincount(profiles.covariates["landuse"])[1:] / profiles.n_profiles
    mix = torch.as_tensor(frequency) @ embedding
    continuous, _ = encode_profiles(model.coding_, profiles.subset([1]))
    with torch.no_grad():
        unit = torch.sigmoid(encoder.mlp(torch.cat([continuous, mix[None]], dim=1)))
    expected = model._physical(unit)[0].numpy()
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-12)


# -------------------------------------------------------------------- predictions
def test_predictions_do_not_depend_on_the_batch(profiles, fitted, monkeypatch):
    full = fitted.predict(profiles)
    rows = [40, 3, 17]
    np.testing.assert_array_equal(fitted.predict(profiles.subset(rows)), full[rows])
    monkeypatch.setattr(binn_module, "_PREDICT_BATCH", 5)
    np.testing.assert_array_equal(fitted.predict(profiles), full)


def test_layers_stocks_and_depths_agree(profiles, fitted):
    layers = fitted.predict_layers(profiles)
    assert layers.shape == (profiles.n_profiles, 20) and (layers >= 0).all()
    bedrock = profiles.forcings["nbedrock"]
    assert (layers[np.arange(48), bedrock - 1] > 0).all()
    assert all((layers[i, b:] == 0).all() for i, b in enumerate(bedrock))
    stocks = fitted.predict_stocks(profiles)
    assert list(stocks.columns) == [*binn_module.STOCK_COLUMNS, *BULK_PROCESS_NAMES]
    assert (stocks.index == profiles.profile_id).all()
    assert (stocks["soc_stock_0_100cm_kg_m2"] > stocks["soc_stock_0_30cm_kg_m2"]).all()
    top_kg_m2 = layers[:, :4] @ np.array([0.02, 0.04, 0.06, 0.08]) / 1000
    assert (stocks["soc_stock_0_30cm_kg_m2"] > top_kg_m2).all()
    at = fitted.predict(profiles, depths=np.array([0.01, 9.0]))
    np.testing.assert_allclose(at[:, 0], layers[:, 0])
    assert np.isnan(at[:, 1]).all()


def test_a_final_batch_of_one_profile_is_merged(profiles):
    model = BINN(max_epochs=2, valid_fraction=0.0, **{**FAST, "batch_size": 47}).fit(profiles)
    assert len(model.history_) == 2 and model.n_valid_ == 0
    assert all(np.isfinite(row["train_loss"]) for row in model.history_)


def test_predict_needs_depths_for_cells(profiles, fitted):
    cells = replace(profiles, soc=None, depth_m=None)
    with pytest.raises(SampleDataError, match="no observation depths") as err:
        fitted.predict(cells)
    assert err.value.field == "depths"
    assert fitted.predict(cells, depths=[0.1, 0.5]).shape == (48, 2)


# ------------------------------------------------------------- contract, artifact
@pytest.mark.parametrize("cls", [BINN, ScIReN])
def test_estimator_contract(profiles, cls):
    given = {**FAST, "max_epochs": 1, "learned_parameters": ["efolding"], "seed": 3}
    model = cls(**given)
    assert model.get_params() == {**model.get_params(), **given}
    assert not [k for k in vars(model) if k.endswith("_")]
    kinds = {p.kind for n, p in inspect.signature(cls.__init__).parameters.items() if n != "self"}
    assert kinds == {inspect.Parameter.KEYWORD_ONLY}
    assert get_estimator_class(cls.registry_name) is cls
    with pytest.raises(NotFittedError):
        model.predict(profiles)
    assert model.fit(profiles) is model
    assert model.get_params() == {**model.get_params(), **given}
    assert {"coding_", "encoder_", "history_", "learned_parameters_"} <= set(vars(model))
    again = cls(**given).fit(profiles).predict(profiles)
    np.testing.assert_array_equal(model.predict(profiles), again)
    other = cls(**{**given, "seed": 4}).fit(profiles).predict(profiles)
    assert not np.array_equal(other, again)
    with pytest.raises(ConfigError, match="no hyperparameter") as err:
        cls.from_params({"epochs": 3})
    assert err.value.field == "params.epochs"


@pytest.mark.parametrize("which", ["fitted", "sciren"])
def test_artifact_round_trip_gives_identical_predictions(profiles, tmp_path, request, which):
    model = request.getfixturevalue(which)
    path = save_model(model, tmp_path / "model.safetensors", n_samples=48)
    loaded = load_artifact(path)
    restored = loaded.estimator
    assert type(restored) is type(model)
    assert loaded.header.input_spec.names[:4] == ["temp", "moist", "clay", "landuse"]
    assert "forcings.soil_temp_k" in loaded.header.input_spec.names
    np.testing.assert_array_equal(restored.predict(profiles), model.predict(profiles))
    pd.testing.assert_frame_equal(
        restored.predict_stocks(profiles), model.predict_stocks(profiles), check_exact=True
    )
    assert restored.best_epoch_ == model.best_epoch_
    pd.testing.assert_frame_equal(pd.DataFrame(restored.history_), pd.DataFrame(model.history_))


@pytest.mark.parametrize("cls", [BINN, ScIReN])
def test_an_ensemble_is_the_mean_of_its_members_and_round_trips(profiles, valid, tmp_path, cls):
    given = {**FAST, "max_epochs": 2, "learned_parameters": list(TRUTH), "seed": 5}
    ensemble = cls(**given, n_members=3).fit(profiles, valid=valid)
    members = [
        cls(**{**given, "seed": 5 + k * binn_module.MEMBER_SEED_STEP}).fit(profiles, valid=valid)
        for k in range(3)
    ]
    # member 0 is the single model; its state is the ensemble's
    assert ensemble.best_epoch_ == members[0].best_epoch_

    def scores(model):
        return [row["valid_nse"] for row in model.history_]

    assert scores(ensemble) == scores(members[0])
    assert ensemble.member_best_epochs_ == [m.best_epoch_ for m in members]
    mean = np.mean([m.predict(profiles) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.predict(profiles), mean, rtol=1e-12)
    assert not np.allclose(ensemble.predict(profiles), members[0].predict(profiles))
    stocks = sum(m.predict_stocks(profiles) for m in members) / 3
    pd.testing.assert_frame_equal(ensemble.predict_stocks(profiles), stocks, rtol=1e-12)
    parameters = sum(m.predict_parameters(profiles) for m in members) / 3
    pd.testing.assert_frame_equal(ensemble.predict_parameters(profiles), parameters, rtol=1e-12)
    curve = ensemble.partial_dependence("temp", "efolding")
    np.testing.assert_allclose(
        curve["value"],
        np.mean([m.partial_dependence("temp", "efolding")["value"] for m in members], axis=0),
        rtol=1e-12,
    )
    np.testing.assert_array_equal(
        curve["x"], members[0].partial_dependence("temp", "efolding")["x"]
    )
    if cls is ScIReN:
        table = ensemble.read_out(n_points=11)
        reads = [m.read_out(n_points=11) for m in members]
        for column in ("contribution", "value"):
            np.testing.assert_allclose(
                table[column], np.mean([r[column] for r in reads], axis=0), rtol=1e-12
            )
    restored = load_artifact(save_model(ensemble, tmp_path / "m.safetensors", n_samples=48))
    restored = restored.estimator
    np.testing.assert_array_equal(restored.predict(profiles), ensemble.predict(profiles))
    assert restored.member_best_epochs_ == ensemble.member_best_epochs_
    flat = ensemble.map_inputs()
    assert restored.map_inputs() == flat


def test_a_single_model_artifact_loads_with_one_member(profiles, fitted, tmp_path):
    restored = load_artifact(save_model(fitted, tmp_path / "m.safetensors", n_samples=48))
    assert restored.estimator.n_members == 1
    assert len(restored.estimator.encoders_) == 1
    assert restored.estimator.member_best_epochs_ == [fitted.best_epoch_]


def test_a_bad_member_count_is_refused(profiles):
    with pytest.raises(ConfigError) as err:
        BINN(**FAST, max_epochs=1, n_members=0).fit(profiles)
    assert err.value.field == "params.n_members"


def test_artifact_keeps_a_history_without_validation(profiles, tmp_path):
    model = BINN(max_epochs=1, valid_fraction=0.0, **FAST).fit(profiles)
    assert np.isnan(model.history_[0]["valid_nse"])
    path = save_model(model, tmp_path / "model.safetensors", n_samples=48)
    restored = load_artifact(path).estimator
    pd.testing.assert_frame_equal(pd.DataFrame(restored.history_), pd.DataFrame(model.history_))


def test_sciren_output_squashing(profiles):
    with pytest.raises(ConfigError, match="relu") as err:
        ScIReN(output="relu", max_epochs=1).fit(profiles)
    assert err.value.field == "params.output"
    hard = ScIReN(output="hard_sigmoid", kan_hidden=3, max_epochs=1, threads=1).fit(profiles)
    table = hard.predict_parameters(profiles)
    assert table["efolding"].between(*BOUNDS["efolding"]).all()
    assert len(hard.encoder_.kan.layers) == 2
    # two layers: the contribution is the raw partial dependence at the same reference
    curves = hard.read_out(n_points=7)
    low, high = BOUNDS["efolding"]
    part = curves[curves["parameter"] == "efolding"]
    squashed = np.clip(part["contribution"] / 6 + 0.5, 0, 1)
    np.testing.assert_allclose(part["value"], low + (high - low) * squashed, rtol=1e-12)


# ---------------------------------------------------------------------- real data
BINN_NY = real_data_dir() / "binn_ny"


@pytest.mark.real_data
@pytest.mark.skipif(not BINN_NY.exists(), reason=f"binn_ny data not found at {BINN_NY}")
def test_real_binn_ny_smoke():
    everything = read_binn_ny(BINN_NY, drop_incomplete=True, drop_empty=True)
    rows = np.random.default_rng(0).choice(everything.n_profiles, 200, replace=False)
    profiles = everything.subset(np.sort(rows))
    model = BINN(
        max_epochs=2,
        below_column="ignore",
        unseen_categories="mean",
        hidden_layers=(32,),
        threads=1,
    ).fit(profiles)
    predicted = model.predict(profiles)
    usable = np.isfinite(profiles.depth_m) & (profiles.depth_m <= 8.6)
    assert np.isfinite(predicted[usable]).all() and (predicted[usable] >= 0).all()
    assert np.isfinite(model.predict_stocks(profiles).to_numpy()).all()


# ---------------------------------------------------------------------- flat bounds
def flat_inputs(model: BINN, profiles: ProfileSet) -> np.ndarray:
    """The profiles as :meth:`BINN.map_inputs` columns: covariates, then forcing values."""
    columns = [profiles.covariates[model.coding_.names].to_numpy(dtype=np.float64)]
    for name in FORCING_SHAPES:
        columns.append(profiles.forcings[name].reshape(profiles.n_profiles, -1))
    return np.hstack(columns)


def calibration_of_errors(seed: int = 0) -> ConformalCalibration:
    """A depth-aware calibration of 30 % errors on 120 out-of-fold observations."""
    rng = np.random.default_rng(seed)
    depth = np.tile([0.05, 0.2, 0.5, 1.0], 30)
    predicted = rng.lognormal(9.0, 0.5, depth.size)
    observed = np.maximum(predicted * (1 + rng.normal(0.0, 0.3, depth.size)), 0.0)
    oof = ProfileOutOfFold(observed, predicted, depth, np.arange(depth.size) % 5)
    return fit_profile_trust(oof).intervals


@pytest.mark.parametrize("n_members", [1, 2])
def test_flat_bounds_are_the_integrated_layer_bounds(profiles, valid, fitted, n_members):
    model = fitted
    if n_members > 1:
        given = {**FAST, "max_epochs": 2, "learned_parameters": list(TRUTH)}
        model = BINN(**given, n_members=n_members).fit(profiles, valid=valid)
    calibration = calibration_of_errors()
    X = flat_inputs(model, profiles)
    k = len(model.map_outputs().names)
    bounded = model.predict_flat_bounds(X, calibration, level=0.9)
    assert bounded.shape == (len(X), k + 2 * len(STOCK_COLUMNS))
    assert list(model.map_bounded_outputs()) == list(STOCK_COLUMNS)
    np.testing.assert_array_equal(bounded[:, :k], model.predict_flat(X))
    # soc-cells' bounds: each layer's bound at its node depth, integrated to the stock depth
    low, high = layer_bounds(
        calibration, model.predict_layers(profiles), np.asarray(ZSOI_M), level=0.9
    )
    low, high = layer_stocks(low), layer_stocks(high)
    expected = np.column_stack([b[name] for name in STOCK_COLUMNS for b in (low, high)])
    np.testing.assert_allclose(bounded[:, k:], expected, rtol=1e-12)
    stocks = bounded[:, : len(STOCK_COLUMNS)]
    assert (bounded[:, k::2] <= stocks).all() and (stocks <= bounded[:, k + 1 :: 2]).all()
    assert (bounded[:, k::2] < bounded[:, k + 1 :: 2]).all()
    # each row depends on its own inputs only (to the last bit for one model: an ensemble's
    # later members, and so predict_flat itself, can differ by 1 ulp with the batch size)
    np.testing.assert_allclose(
        model.predict_flat_bounds(X[3:5], calibration),
        bounded[3:5],
        rtol=0 if n_members == 1 else 1e-14,
    )
    assert model.predict_flat_bounds(X[:0], calibration).shape == (0, bounded.shape[1])
    wider = model.predict_flat_bounds(X, calibration, level=0.99)
    assert (wider[:, k + 1 :: 2] > bounded[:, k + 1 :: 2]).all()
