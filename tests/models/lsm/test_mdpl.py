"""The MdPL parameter generator on tiny worlds whose true parameters are known.

Flux records are built with :class:`geosoil.io.flux.FluxRecord` from synthetic hourly
weather. Their "observed" H and LE come from a surrogate driven by parameters that are
smooth functions of latitude, so a generator that learns must recover those functions.
Most tests use a closed-form surrogate (instant and exactly differentiable); one trains a
tiny real surrogate of the land surface model.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from geosoil.artifacts import load_artifact
from geosoil.errors import ConfigError, CovariateError, SampleDataError
from geosoil.io.flux import SUMMARY_NAMES, FluxRecord
from geosoil.mapping.predictors import FlatMapper
from geosoil.models.base import NotFittedError
from geosoil.models.lsm.mdpl import IGBP_CLASS_CODES, ParameterGenerator
from geosoil.models.lsm.training import LossSettings, flux_loss, hold_out_days
from geosoil.models.registry import get_estimator_class
from geosoil.process.lsm_forcing import FLUX_NAMES, LsmForcing
from geosoil.process.lsm_params import IGBP_DEFAULTS, LSM_PARAMETER_NAMES, LSM_PARAMETERS

from ...conftest import save_model

torch.set_num_threads(1)

SPECS = {p.name: p for p in LSM_PARAMETERS}
NAMES = list(LSM_PARAMETER_NAMES)
LEARNED = ["albedo", "g_max_mm_s"]
FIXED = {k: v for k, v in IGBP_DEFAULTS["GRA"].items() if k not in LEARNED}
CODE_OF = {label: code for code, label in IGBP_CLASS_CODES.items()}
FAST = {
    "learned_parameters": LEARNED,
    "fixed_parameters": FIXED,
    "hidden_layers": (16,),
    "embedding_dim": 2,
    "learning_rate": 1e-2,
    "batch_size": 8,
    "steps_per_sample": 48,
    "max_epochs": 60,
    "patience": 60,
    "threads": 1,
}


# ---------------------------------------------------------------------- the world
def weather(days: int, seed: int, warmth: float) -> pd.DataFrame:
    """Hourly weather; ``warmth`` in [0, 1] raises sunshine, temperature and VPD."""
    rng = np.random.default_rng(seed)
    t = 24 * days
    hours = np.arange(t) % 24
    day = np.arange(t) // 24
    cloud = rng.uniform(0.4, 1.0, days)[day]
    sun = np.clip(np.sin(np.pi * (hours - 6) / 12), 0, None)
    return pd.DataFrame(
        {
            "sw_in_w_m2": (550 + 350 * warmth) * sun * cloud,
            "tair_c": 5 + 20 * warmth + 6 * np.sin(np.pi * (hours - 9) / 12),
            "vpd_kpa": (0.2 + 2.0 * warmth) * (0.3 + sun * cloud) + rng.uniform(0, 0.05, t),
            "wind_m_s": rng.uniform(1.0, 4.0, t),
            "pressure_kpa": np.full(t, 99.0),
            "precip_mm": np.where(rng.random(t) < 0.04, rng.exponential(2.0, t), 0.0),
        }
    )


def true_unit(latitude_deg: float) -> dict[str, float]:
    """The learned parameters in [0, 1]: albedo rises and conductance falls with latitude."""
    x = (latitude_deg - 30.0) / 30.0
    return {"albedo": 0.15 + 0.7 * x, "g_max_mm_s": 0.85 - 0.6 * x}


def true_physical(latitude_deg: float) -> dict[str, float]:
    unit = true_unit(latitude_deg)
    return {k: SPECS[k].lower + u * (SPECS[k].upper - SPECS[k].lower) for k, u in unit.items()}


def record(site, forcing, observed, *, latitude_deg, igbp="GRA", **extra) -> FluxRecord:
    time = pd.date_range("2021-06-01", periods=len(forcing), freq="h")
    forcing = forcing.set_axis(time)
    observed = pd.DataFrame(np.asarray(observed).T, columns=list(FLUX_NAMES), index=time)
    attributes = {"latitude_deg": latitude_deg, "longitude_deg": 10.0, "igbp": igbp, **extra}
    return FluxRecord(
        site=site,
        attributes=attributes,
        time=time,
        forcing=forcing,
        observed=observed,
        time_step_s=3600.0,
    )


def physical_row(values: dict[str, float]) -> torch.Tensor:
    merged = {**FIXED, **values}
    return torch.tensor([[merged[n] for n in LSM_PARAMETER_NAMES]], dtype=torch.float64)


def world(surrogate, n_sites=16, *, days=6, seed=0, igbps=("GRA", "CRO"), noise=0.02):
    """Sites between 30 and 60 degrees north with fluxes from ``surrogate`` at the truth."""
    rng = np.random.default_rng(seed)
    records = []
    for i, lat in enumerate(np.linspace(30.5, 59.5, n_sites)):
        forcing = weather(days, seed=100 * seed + i, warmth=(60 - lat) / 30)
        shell = record(f"S{i:02d}", forcing, np.zeros((2, len(forcing))), latitude_deg=lat)
        fluxes = surrogate.predict(shell.to_forcing(), physical_row(true_physical(lat)))[0]
        observed = fluxes.numpy().astype(np.float64)
        observed = observed * (1 + noise * rng.standard_normal(observed.shape))
        observed[rng.random(observed.shape) < 0.1] = np.nan
        igbp = igbps[i % len(igbps)]
        records.append(record(f"S{i:02d}", forcing, observed, latitude_deg=lat, igbp=igbp))
    return records


class ClosedForm(nn.Module):
    """H and LE from (sw/500, vpd/2, tair/20) features: albedo sets the available energy,
    conductance against VPD its split. ``energy_w_m2`` is a weight that must not change."""

    def __init__(self) -> None:
        super().__init__()
        self.energy_w_m2 = nn.Parameter(torch.tensor(500.0))

    def forward(self, features: torch.Tensor, unit: torch.Tensor) -> torch.Tensor:
        available = self.energy_w_m2 * features[:, 0] * (1.0 - 0.8 * unit[:, 0])
        demand = unit[:, 1] * (1.0 + features[:, 1])
        evaporative = demand / (demand + 0.4)
        le = available * evaporative
        return torch.stack([available - le, le], dim=1)


class ClosedFormSurrogate:
    """The FittedSurrogate interface around :class:`ClosedForm`."""

    parameter_specs = LSM_PARAMETERS
    parameter_names = LSM_PARAMETER_NAMES
    flux_names = FLUX_NAMES

    def __init__(self) -> None:
        self.module = ClosedForm()

    def features(self, forcing: LsmForcing) -> torch.Tensor:
        if forcing.time_step_s != 3600.0:
            raise SampleDataError(
                "wrong step", field="forcing.time_step_s", fix="resample to hourly steps"
            )
        columns = [forcing.sw_in_w_m2 / 500, forcing.vpd_kpa / 2, forcing.tair_c / 20]
        return torch.stack(columns, dim=-1).float()

    def predict(self, forcing: LsmForcing, parameters_physical: torch.Tensor) -> torch.Tensor:
        lower = torch.tensor([p.lower for p in LSM_PARAMETERS], dtype=torch.float64)
        upper = torch.tensor([p.upper for p in LSM_PARAMETERS], dtype=torch.float64)
        unit = ((parameters_physical - lower) / (upper - lower)).float()
        features = self.features(forcing)[0]
        with torch.no_grad():
            out = self.module(features, unit.expand(len(features), -1))
        return out.T[None]


@pytest.fixture(scope="module")
def surrogate() -> ClosedFormSurrogate:
    return ClosedFormSurrogate()


@pytest.fixture(scope="module")
def records(surrogate) -> list[FluxRecord]:
    return world(surrogate)


@pytest.fixture(scope="module")
def fitted(records, surrogate) -> ParameterGenerator:
    return ParameterGenerator(**FAST).fit(records, surrogate)


def flat_inputs(model: ParameterGenerator, records) -> np.ndarray:
    """The map_inputs columns of each record, IGBP as its MODIS class."""
    rows = []
    for r in records:
        values = {**r.summaries(), **r.attributes, "igbp": CODE_OF[r.attributes["igbp"]]}
        rows.append([float(values[name]) for name in model.map_inputs()])
    return np.array(rows)


# ------------------------------------------------------------------------ learning
def test_generator_recovers_the_parameters_behind_the_fluxes(records, fitted):
    losses = [row["train_loss"] for row in fitted.history_]
    assert losses[-1] < 0.3 * losses[0]
    predicted = fitted.predict_parameters(records)
    assert predicted["site"].tolist() == [r.site for r in records]
    assert list(predicted.columns) == ["site", *LSM_PARAMETER_NAMES]
    truth = pd.DataFrame([true_physical(r.attributes["latitude_deg"]) for r in records])
    for name in LEARNED:
        r = np.corrcoef(predicted[name], truth[name])[0, 1]
        assert r > 0.8, (name, r)
        span = SPECS[name].upper - SPECS[name].lower
        assert np.abs(predicted[name] - truth[name]).max() < 0.08 * span
    for name, value in FIXED.items():
        np.testing.assert_allclose(predicted[name], value, rtol=1e-6)


def test_history_and_held_out_days(fitted, records):
    assert fitted.n_train_ == len(records) and fitted.n_valid_ == len(records)
    row = fitted.history_[0]
    assert {"train_loss", "valid_loss", "monitor_nmse_h_w_m2", "monitor_r_le_w_m2"} <= set(row)
    assert all(math.isfinite(row["valid_loss"]) for row in fitted.history_)
    best = min(fitted.history_, key=lambda row: row["monitor_loss"])
    assert fitted.best_epoch_ == best["epoch"]
    assert fitted.flux_names_ == list(FLUX_NAMES)
    observed = np.concatenate([r.observed_array() for r in records], axis=1)
    assert fitted.flux_variance_ == pytest.approx(list(np.nanvar(observed, axis=1)), rel=0.3)


def test_valid_records_or_no_validation(records, surrogate):
    settings = {**FAST, "max_epochs": 3, "patience": 3}
    given = ParameterGenerator(**settings).fit(records[:12], surrogate, valid_records=records[12:])
    assert given.n_train_ == 12 and given.n_valid_ == 4
    assert all(math.isfinite(row["valid_loss"]) for row in given.history_)
    none = ParameterGenerator(**settings, valid_fraction=0.0).fit(records, surrogate)
    assert none.n_valid_ == 0
    assert all(math.isnan(row["valid_loss"]) for row in none.history_)
    assert all(math.isfinite(row["monitor_loss"]) for row in none.history_)


def test_held_out_days_are_whole_observed_days(records):
    base = records[0]
    observed = torch.tensor(base.observed_array(), dtype=torch.float32)
    observed[:, 24:48] = math.nan  # day 2 has no observation: never held out
    held = hold_out_days(base, observed, 0.4, np.random.default_rng(0))
    days = base.time.normalize()
    held_days = set(days[held])
    assert len(held_days) == 2  # 40 % of the 5 observed days
    assert pd.Timestamp("2021-06-02") not in held_days
    assert np.array_equal(held, np.asarray(days.isin(list(held_days))))
    again = hold_out_days(base, observed, 0.4, np.random.default_rng(0))
    np.testing.assert_array_equal(held, again)
    one_day = observed.clone()
    one_day[:, 24:] = math.nan
    assert not hold_out_days(base, one_day, 0.4, np.random.default_rng(0)).any()


def test_site_periods_and_the_correlation_term(records, surrogate):
    periods = [part for r in records[:8] for part in r.split("3D")]
    assert len(periods) == 16
    model = ParameterGenerator(**{**FAST, "max_epochs": 4}, correlation_weight=0.5).fit(
        periods, surrogate
    )
    assert model.n_train_ == 16
    assert all(-1 <= row["monitor_r_h_w_m2"] <= 1 for row in model.history_)


def test_surrogate_is_frozen_only_during_the_fit(records):
    surrogate = ClosedFormSurrogate()
    surrogate.module.train()
    ParameterGenerator(**{**FAST, "max_epochs": 2}).fit(records, surrogate)
    assert surrogate.module.training
    assert surrogate.module.energy_w_m2.requires_grad
    assert surrogate.module.energy_w_m2.item() == 500.0
    assert surrogate.module.energy_w_m2.grad is None


def test_loss_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    sim = rng.normal(100, 40, (3, 2, 10))
    obs = sim + rng.normal(0, 20, sim.shape)
    obs[0, 0, :4] = np.nan
    obs[2, 1, :] = np.nan
    variance, weights, c = np.array([900.0, 1600.0]), np.array([1.0, 0.5]), 0.3
    settings = LossSettings(torch.tensor(variance), torch.tensor(weights), c)
    loss, nmse, mean_r = flux_loss(torch.tensor(sim), torch.tensor(obs), settings)
    expected = 0.0
    for k in range(2):
        valid = np.isfinite(obs[:, k])
        mse = np.mean((sim[:, k][valid] - obs[:, k][valid]) ** 2)
        rs = [
            np.corrcoef(sim[i, k][np.isfinite(obs[i, k])], obs[i, k][np.isfinite(obs[i, k])])[0, 1]
            for i in range(3)
            if np.isfinite(obs[i, k]).sum() >= 2
        ]
        assert float(nmse[k]) == pytest.approx(mse / variance[k])
        assert float(mean_r[k]) == pytest.approx(np.mean(rs))
        expected += weights[k] * (mse / variance[k] + c * (1 - np.mean(rs)))
    assert float(loss) == pytest.approx(expected)


# ---------------------------------------------------------------------- prediction
def test_predict_unit_and_fixed_parameters(fitted, records):
    unit = fitted.predict_unit(records)
    learned = unit[LEARNED].to_numpy()
    assert ((learned > 0) & (learned < 1)).all()
    for name, value in FIXED.items():
        spec = SPECS[name]
        np.testing.assert_allclose(unit[name], (value - spec.lower) / (spec.upper - spec.lower))
    np.testing.assert_array_equal(
        fitted.predict(records), fitted.predict_parameters(records)[NAMES]
    )
    assert fitted.predict_parameters([]).shape == (0, 1 + len(NAMES))


def test_predict_flat_equals_predict_parameters(fitted, records):
    assert isinstance(fitted, FlatMapper)
    assert fitted.map_inputs() == [*SUMMARY_NAMES, "latitude_deg", "igbp"]
    outputs = fitted.map_outputs()
    assert outputs.names == list(LSM_PARAMETER_NAMES)
    assert outputs.units == [p.unit for p in LSM_PARAMETERS]
    X = flat_inputs(fitted, records)
    expected = fitted.predict_parameters(records)[NAMES].to_numpy()
    np.testing.assert_array_equal(fitted.predict_flat(X), expected)
    # each row alone, and with rows around it, gives the same values
    np.testing.assert_array_equal(fitted.predict_flat(X[3:4]), expected[3:4])
    gappy = X.copy()
    gappy[2, 0] = np.nan
    gappy[5, -1] = np.nan
    out = fitted.predict_flat(gappy)
    assert np.isnan(out[[2, 5]]).all()
    keep = np.setdiff1d(np.arange(len(X)), [2, 5])
    np.testing.assert_array_equal(out[keep], expected[keep])
    assert fitted.predict_flat(np.zeros((0, X.shape[1]))).shape == (0, 8)


def test_flat_inputs_are_checked(fitted, records):
    X = flat_inputs(fitted, records[:3])
    with pytest.raises(SampleDataError, match="expected") as err:
        fitted.predict_flat(X[:, :-1])
    assert err.value.field == "X"
    half = X.copy()
    half[0, -1] = 10.5
    with pytest.raises(SampleDataError, match="non-integer"):
        fitted.predict_flat(half)
    water = X.copy()
    water[1, -1] = CODE_OF["WAT"]
    with pytest.raises(CovariateError, match="WAT"):
        fitted.predict_flat(water)


def test_unseen_categories_error_mean_or_nan(fitted, records):
    savanna = [
        record(
            "X1",
            records[0].forcing.reset_index(drop=True),
            records[0].observed_array(),
            latitude_deg=40.0,
            igbp="SAV",
        )
    ]
    with pytest.raises(CovariateError, match="SAV") as err:
        fitted.predict_parameters(savanna)
    assert err.value.field == "attributes.igbp"
    assert "X1" in err.value.message
    tensors, state = fitted.export_state()
    params = fitted.get_params()
    as_nan = ParameterGenerator.from_state({**params, "unseen_categories": "nan"}, tensors, state)
    assert as_nan.predict_parameters(savanna)[NAMES].isna().all(axis=None)
    as_mean = ParameterGenerator.from_state({**params, "unseen_categories": "mean"}, tensors, state)
    values = as_mean.predict_parameters(savanna)[LEARNED].to_numpy()
    assert np.isfinite(values).all()
    # raster classes without a label behave as unseen ones
    X = flat_inputs(fitted, records[:2])
    X[0, -1] = 99
    assert np.isnan(as_nan.predict_flat(X)[0]).all()
    assert np.isfinite(as_nan.predict_flat(X)[1]).all()


def test_class_codes_translate_raster_classes(records, surrogate):
    codes = {"igbp": {"7": "GRA", 8: "CRO"}}
    model = ParameterGenerator(**{**FAST, "max_epochs": 2}, class_codes=codes).fit(
        records, surrogate
    )
    X = flat_inputs(model, records[:2])
    X[:, -1] = [7 if r.attributes["igbp"] == "GRA" else 8 for r in records[:2]]
    np.testing.assert_array_equal(model.predict_flat(X), model.predict(records[:2]))
    with pytest.raises(ConfigError, match="whole number") as err:
        ParameterGenerator(**FAST, class_codes={"igbp": {"x": "GRA"}}).fit(records, surrogate)
    assert err.value.field == "params.class_codes.igbp"


# ------------------------------------------------------------ contract, artifact
def test_estimator_contract(records, surrogate):
    given = {**FAST, "max_epochs": 3, "seed": 3}
    model = ParameterGenerator(**given)
    assert model.get_params() == {**model.get_params(), **given}
    assert not [k for k in vars(model) if k.endswith("_")]
    kinds = {
        p.kind
        for n, p in inspect.signature(ParameterGenerator.__init__).parameters.items()
        if n != "self"
    }
    assert kinds == {inspect.Parameter.KEYWORD_ONLY}
    assert get_estimator_class("mdpl") is ParameterGenerator
    for method in ("predict_parameters", "predict"):
        with pytest.raises(NotFittedError):
            getattr(model, method)(records)
    with pytest.raises(NotFittedError):
        model.map_inputs()
    assert model.fit(records, surrogate) is model
    assert model.get_params() == {**model.get_params(), **given}
    assert {"coding_", "encoder_", "history_", "parameter_specs_"} <= set(vars(model))
    again = ParameterGenerator(**given).fit(records, surrogate)
    pd.testing.assert_frame_equal(
        model.predict_parameters(records), again.predict_parameters(records), check_exact=True
    )
    other = ParameterGenerator(**{**given, "seed": 4}).fit(records, surrogate)
    assert not np.array_equal(other.predict(records), again.predict(records))
    with pytest.raises(ConfigError, match="no hyperparameter") as err:
        ParameterGenerator.from_params({"n_epochs": 3})
    assert err.value.field == "params.n_epochs"


def test_old_names_epochs_and_hidden_load_with_a_deprecation_message(caplog):
    with pytest.warns(DeprecationWarning, match="generator.epochs is deprecated"):
        model = ParameterGenerator.from_params({"epochs": 7, "hidden": [8]}, source="generator")
    assert (model.max_epochs, model.hidden_layers) == (7, [8])
    assert "it is now called max_epochs" in caplog.text
    with pytest.raises(ConfigError, match="both epochs") as err:
        ParameterGenerator.from_params({"epochs": 7, "max_epochs": 7})
    assert err.value.field == "params.epochs"


def test_artifact_round_trip_gives_identical_parameters(fitted, records, tmp_path):
    path = save_model(fitted, tmp_path / "mdpl.safetensors", n_samples=len(records))
    loaded = load_artifact(path)
    restored = loaded.estimator
    assert type(restored) is ParameterGenerator
    assert loaded.header.estimator == "mdpl"
    layers = {layer.name: layer for layer in loaded.header.input_spec.layers}
    assert layers["igbp"].categorical and layers["sw_in_mean_w_m2"].units == "W m-2"
    pd.testing.assert_frame_equal(
        restored.predict_parameters(records), fitted.predict_parameters(records), check_exact=True
    )
    X = flat_inputs(fitted, records)
    np.testing.assert_array_equal(restored.predict_flat(X), fitted.predict_flat(X))
    assert restored.parameter_specs_ == fitted.parameter_specs_
    assert restored.map_outputs() == fitted.map_outputs()
    assert restored.best_epoch_ == fitted.best_epoch_
    pd.testing.assert_frame_equal(pd.DataFrame(restored.history_), pd.DataFrame(fitted.history_))


def test_artifact_keeps_a_history_without_validation(records, surrogate, tmp_path):
    model = ParameterGenerator(**{**FAST, "max_epochs": 2}, valid_fraction=0.0).fit(
        records, surrogate
    )
    path = save_model(model, tmp_path / "m.safetensors", n_samples=16)
    restored = load_artifact(path).estimator
    assert math.isnan(restored.history_[0]["valid_loss"])
    pd.testing.assert_frame_equal(pd.DataFrame(restored.history_), pd.DataFrame(model.history_))


# ------------------------------------------------------------------- bad inputs
def test_a_record_without_observations_is_refused(records, surrogate):
    empty = record(
        "EMPTY",
        records[0].forcing.reset_index(drop=True),
        np.full((2, len(records[0].time)), np.nan),
        latitude_deg=45.0,
    )
    with pytest.raises(SampleDataError, match="EMPTY") as err:
        ParameterGenerator(**FAST).fit([*records[:4], empty], surrogate)
    assert err.value.field == "records.observed"


def test_missing_or_nan_inputs_name_the_site(records, surrogate):
    base = records[0]
    forcing = base.forcing.reset_index(drop=True)
    no_lat = record("NOLAT", forcing, base.observed_array(), latitude_deg=float("nan"))
    with pytest.raises(SampleDataError, match="NOLAT") as err:
        ParameterGenerator(**FAST).fit([records[1], no_lat], surrogate)
    assert err.value.field == "attributes.latitude_deg"
    with pytest.raises(SampleDataError, match="elevation_m") as err:
        ParameterGenerator(**FAST, attribute_names=("latitude_deg", "elevation_m")).fit(
            records[:3], surrogate
        )
    assert err.value.field == "attributes.elevation_m" and records[0].site in err.value.message
    gappy = forcing.copy()
    gappy.loc[5, "tair_c"] = np.nan
    gap = record("GAP", gappy, base.observed_array(), latitude_deg=40.0)
    with pytest.raises(SampleDataError, match="GAP") as err:
        ParameterGenerator(**FAST).fit([records[1], gap], surrogate)
    assert err.value.field == "summaries.tair_c"
    unknown = record("NOCLASS", forcing, base.observed_array(), latitude_deg=40.0, igbp=None)
    with pytest.raises(SampleDataError, match="NOCLASS") as err:
        ParameterGenerator(**FAST).fit([records[1], unknown], surrogate)
    assert err.value.field == "attributes.igbp"


def test_forcing_the_surrogate_cannot_take_is_refused(records, surrogate):
    base = records[0]
    time = pd.date_range("2021-06-01", periods=len(base.time), freq="30min")
    half_hourly = FluxRecord(
        site="HALF",
        attributes=base.attributes,
        time=time,
        forcing=base.forcing.set_axis(time),
        observed=base.observed.set_axis(time),
        time_step_s=1800.0,
    )
    with pytest.raises(SampleDataError, match="HALF") as err:
        ParameterGenerator(**FAST).fit([records[1], half_hourly], surrogate)
    assert err.value.field == "forcing.time_step_s"


@pytest.mark.parametrize(
    ("params", "match", "field"),
    [
        (
            {"fixed_parameters": {**FIXED, "roughness_length_m": 9.0}},
            "outside its bounds",
            "params.fixed_parameters.roughness_length_m",
        ),
        (
            {"fixed_parameters": {**FIXED, "leaf_area": 3.0}},
            "unknown parameter",
            "params.fixed_parameters.leaf_area",
        ),
        (
            {"fixed_parameters": {"vpd_half_kpa": 1.0}},
            "neither learned nor fixed",
            "params.fixed_parameters",
        ),
        (
            {"learned_parameters": ["albedo", "albedo"]},
            "distinct",
            "params.learned_parameters",
        ),
        (
            {"learned_parameters": None, "fixed_parameters": IGBP_DEFAULTS["GRA"]},
            "nothing to learn",
            "params.learned_parameters",
        ),
        ({"flux_weights": {"nee": 1.0}}, "does not simulate", "params.flux_weights.nee"),
        (
            {"flux_weights": {"h_w_m2": 0.0, "le_w_m2": 0.0}},
            "at least one positive",
            "params.flux_weights",
        ),
        ({"max_epochs": 0}, "at least 1", "params.max_epochs"),
        ({"hidden_layers": 16}, "list of layer widths", "params.hidden_layers"),
        ({"dropout": 1.0}, "outside", "params.dropout"),
        ({"unseen_categories": "zero"}, "not one of", "params.unseen_categories"),
        ({"attribute_names": ("igbp",)}, "distinct", "params.summary_names"),
    ],
)
def test_bad_settings_are_refused_by_field(records, surrogate, params, match, field):
    with pytest.raises(ConfigError, match=match) as err:
        ParameterGenerator(**{**FAST, **params}).fit(records[:4], surrogate)
    assert err.value.field == field


def test_records_and_surrogate_are_checked(records, surrogate):
    with pytest.raises(SampleDataError, match="empty"):
        ParameterGenerator(**FAST).fit([], surrogate)
    with pytest.raises(SampleDataError, match="sequence of flux records"):
        ParameterGenerator(**FAST).fit(records[0], surrogate)
    with pytest.raises(ConfigError, match="surrogate") as err:
        ParameterGenerator(**FAST).fit(records, object())
    assert err.value.field == "surrogate"


# ------------------------------------------------------------- the real surrogate
@pytest.mark.slow
def test_recovery_through_a_tiny_real_surrogate_of_the_land_surface_model():
    from geosoil.models.lsm.simulators import LsmSimulator
    from geosoil.models.lsm.surrogate_training import fit_surrogate

    training_weather = [
        record(f"T{i}", weather(8, seed=50 + i, warmth=w), np.zeros((2, 192)), latitude_deg=45.0)
        for i, w in enumerate((0.1, 0.5, 0.9))
    ]
    surrogate = fit_surrogate(
        LsmSimulator(),
        [r.to_forcing() for r in training_weather],
        n_parameter_sets=48,
        n_valid_sets=4,
        steps_per_run=96,
        epochs=25,
        patience=25,
        hidden=(48, 48),
        head_width=16,
        threads=1,
    )
    records = world(surrogate, 12, days=6, seed=1, noise=0.01)
    model = ParameterGenerator(**{**FAST, "max_epochs": 80, "patience": 80}).fit(records, surrogate)
    predicted = model.predict_parameters(records)
    truth = pd.DataFrame([true_physical(r.attributes["latitude_deg"]) for r in records])
    for name in LEARNED:
        r = np.corrcoef(predicted[name], truth[name])[0, 1]
        assert r > 0.8, (name, r)
    # the calibrated parameters reproduce the fluxes better than the class defaults
    default = physical_row({k: IGBP_DEFAULTS["GRA"][k] for k in LEARNED})
    errors = {"default": [], "calibrated": []}
    for rec, (_, row) in zip(records, predicted.iterrows(), strict=True):
        observed = rec.observed_array()
        calibrated = torch.tensor(row[NAMES].to_numpy(dtype=float))[None]
        for run, params in (("default", default), ("calibrated", calibrated)):
            sim = surrogate.predict(rec.to_forcing(), params)[0].numpy()
            errors[run].append(np.nanmean((sim - observed) ** 2))
    assert np.mean(errors["calibrated"]) < 0.1 * np.mean(errors["default"])
