"""The land-surface surrogate: hypercube, window features, training, accuracy, artifact."""

import math

import numpy as np
import pytest
import torch

from geosoil.artifacts import read_header
from geosoil.errors import ArtifactError, ConfigError, SampleDataError
from geosoil.models.lsm.forcing_windows import (
    FeatureScaler,
    window_feature_names,
    window_features,
)
from geosoil.models.lsm.simulators import LsmSimulator, SimulatorError
from geosoil.models.lsm.surrogate import (
    FittedSurrogate,
    flux_accuracy,
    latin_hypercube,
    scale_to_bounds,
    unscale_from_bounds,
)
from geosoil.models.lsm.surrogate_training import fit_surrogate
from geosoil.process.lsm import brutsaert_longwave_w_m2
from geosoil.process.lsm_forcing import LsmForcing
from geosoil.process.lsm_params import LSM_PARAMETERS
from geosoil.process.parameters import ParameterSpec

torch.set_num_threads(1)

TOY_SPECS = (
    ParameterSpec("albedo", "1", 0.1, 0.3, "toy albedo"),
    ParameterSpec("g_max_mm_s", "mm/s", 1.0, 10.0, "toy conductance"),
)
VARIABLES = ("sw_in_w_m2", "tair_c", "vpd_kpa", "wind_m_s", "pressure_kpa", "precip_mm")


def make_forcing(days=20, seed=0, step_s=3600.0, dtype=torch.float32, longwave=False, rows=1):
    """Diurnal weather with cloudy days and rain showers; no rain in the first step."""
    rng = np.random.default_rng(seed)
    t = round(days * 86400 / step_s)
    hours = np.arange(t) * step_s / 3600.0
    day = (hours // 24).astype(int)
    cloud = rng.uniform(0.3, 1.0, day.max() + 1)[day]
    sun = np.clip(np.sin(np.pi * ((hours % 24) - 6) / 12), 0, None)
    values = {
        "sw_in_w_m2": 850 * sun * cloud,
        "tair_c": 14 + 7 * np.sin(np.pi * ((hours % 24) - 9) / 12) + rng.normal(0, 0.5, t),
        "vpd_kpa": np.clip(0.3 + 1.6 * sun * cloud + rng.normal(0, 0.05, t), 0.0, None),
        "wind_m_s": rng.uniform(0.5, 5.0, t),
        "pressure_kpa": np.full(t, 98.0),
        "precip_mm": np.where(rng.random(t) < 0.03, rng.exponential(4.0, t), 0.0),
    }
    values["precip_mm"][0] = 0.0
    if longwave:
        values["lw_in_w_m2"] = 300 + 30 * rng.random(t)
    tensors = {k: torch.tensor(np.tile(v, (rows, 1)), dtype=dtype) for k, v in values.items()}
    longwave_w_m2 = tensors.pop("lw_in_w_m2", None)
    return LsmForcing(**tensors, lw_in_w_m2=longwave_w_m2, time_step_s=step_s)


class ToySimulator:
    """Closed-form H and LE from shortwave, VPD and two parameters, with a rain memory.

    Soil moisture is a saturating function of the rain of the last seven days, so LE
    depends on the past the way a bucket model's does.
    """

    name = "toy"
    parameter_specs = TOY_SPECS

    def __init__(self, shape=None):
        self.shape = shape  # force a wrong output shape
        self.calls = 0

    def run(self, forcing, parameters):
        self.calls += 1
        sw = forcing.sw_in_w_m2.double()
        vpd = forcing.vpd_kpa.double()
        steps = round(7 * 86400 / forcing.time_step_s)
        total = torch.nn.functional.pad(torch.cumsum(forcing.precip_mm.double(), 1), (1, 0))
        start = torch.clamp(torch.arange(sw.shape[1]) - steps + 1, min=0)
        rain_7d = total[:, 1:] - total[:, start]
        moisture = 1.0 - torch.exp(-rain_7d / 8.0)
        albedo, g = parameters[:, :1].double(), parameters[:, 1:2].double()
        available = 0.8 * (1.0 - albedo) * sw
        le = available * g / (g + 3.0) * (0.2 + 0.8 * moisture) * (0.5 + vpd / (vpd + 1.0))
        out = torch.stack([available - le, le], dim=1).float()
        return out[..., :-1] if self.shape == "short" else out


def loop_features(forcing, window_steps, antecedent_days):
    """Slow reference: one step, one feature at a time."""
    values = {k: getattr(forcing, k).double() for k in VARIABLES}
    lw = forcing.lw_in_w_m2
    values["lw_in_w_m2"] = (
        brutsaert_longwave_w_m2(values["tair_c"], values["vpd_kpa"]) if lw is None else lw.double()
    )
    order = (*VARIABLES, "lw_in_w_m2")
    n, t = forcing.shape
    out = torch.zeros(
        n,
        t,
        len(window_feature_names(window_steps=window_steps, antecedent_days=antecedent_days)),
        dtype=torch.float64,
    )
    for r in range(n):
        for s in range(t):
            row = []
            for name in order:
                row += [float(values[name][r, max(s - k, 0)]) for k in range(window_steps + 1)]
            for days in antecedent_days:
                k = max(1, round(days * 86400 / forcing.time_step_s))
                past = [max(j, 0) for j in range(s - k + 1, s + 1)]
                row.append(sum(float(values["precip_mm"][r, j]) for j in past))
                row.append(sum(float(values["vpd_kpa"][r, j]) for j in past) / k)
                row.append(sum(float(values["sw_in_w_m2"][r, j]) for j in past) / k)
            since = range(s + 1)
            row.append(s * forcing.time_step_s / 86400)
            row.append(sum(float(values["precip_mm"][r, j]) for j in since))
            row.append(sum(float(values["vpd_kpa"][r, j]) for j in since) / (s + 1))
            row.append(sum(float(values["sw_in_w_m2"][r, j]) for j in since) / (s + 1))
            out[r, s] = torch.tensor(row, dtype=torch.float64)
    return out


# ------------------------------------------------------------------ hypercube, bounds
def test_latin_hypercube_has_one_point_per_stratum():
    n = 17
    unit = latin_hypercube(n, LSM_PARAMETERS, seed=3)
    assert unit.shape == (n, len(LSM_PARAMETERS))
    assert bool(((unit >= 0) & (unit < 1)).all())
    for column in unit.T:
        assert torch.equal(torch.sort(torch.floor(column * n).long()).values, torch.arange(n))
    assert torch.equal(unit, latin_hypercube(n, LSM_PARAMETERS, seed=3))
    assert not torch.equal(unit, latin_hypercube(n, LSM_PARAMETERS, seed=4))
    # columns are shuffled independently, not copies of one permutation
    strata = torch.floor(unit * n).long()
    assert not all(torch.equal(strata[:, 0], strata[:, j]) for j in range(1, strata.shape[1]))


def test_scale_to_bounds_uses_each_specs_bounds():
    zeros, ones = torch.zeros(1, 2, dtype=torch.float64), torch.ones(1, 2, dtype=torch.float64)
    assert scale_to_bounds(zeros, TOY_SPECS).tolist() == [[0.1, 1.0]]
    assert scale_to_bounds(ones, TOY_SPECS).tolist() == [[0.3, 10.0]]
    unit = torch.rand(5, 2, dtype=torch.float64)
    assert torch.allclose(unscale_from_bounds(scale_to_bounds(unit, TOY_SPECS), TOY_SPECS), unit)
    with pytest.raises(ConfigError, match="2 parameters"):
        scale_to_bounds(torch.zeros(3, 8), TOY_SPECS)


# --------------------------------------------------------------------- window features
@pytest.mark.parametrize("longwave", [False, True])
def test_window_features_equal_a_slow_loop(longwave):
    forcing = make_forcing(
        days=2, seed=1, step_s=1800.0, dtype=torch.float64, longwave=longwave, rows=2
    )
    windows = (0.25, 1)  # 12 and 48 half-hours: both reach back before the record start
    fast = window_features(forcing, window_steps=3, antecedent_days=windows)
    assert fast.shape == (2, 96, len(window_feature_names(window_steps=3, antecedent_days=windows)))
    assert fast.dtype == torch.float64
    torch.testing.assert_close(fast, loop_features(forcing, 3, windows), rtol=1e-10, atol=1e-9)


def test_window_features_never_look_ahead():
    forcing = make_forcing(days=3, seed=2)
    before = window_features(forcing)
    changed = {k: getattr(forcing, k).clone() for k in VARIABLES}
    for name in VARIABLES:
        changed[name][:, 40] += 1.0 if name != "pressure_kpa" else 0.5
    after = window_features(LsmForcing(**changed, lw_in_w_m2=None, time_step_s=3600.0))
    assert torch.equal(before[:, :40], after[:, :40])
    assert not torch.equal(before[:, 40], after[:, 40])


def test_window_settings_are_checked():
    forcing = make_forcing(days=1)
    with pytest.raises(ConfigError, match="window_steps"):
        window_features(forcing, window_steps=-1)
    with pytest.raises(ConfigError, match="antecedent"):
        window_features(forcing, antecedent_days=(1, 0))


def test_feature_scaler_standardises_and_keeps_constant_columns_finite():
    features = window_features(make_forcing(days=5, seed=3)).double()
    scaler = FeatureScaler().fit([features[:, :50], features[:, 50:]])
    scaled = scaler.transform(features, torch.float64)[0]
    names = window_feature_names()
    constant = [i for i, name in enumerate(names) if name.startswith("pressure_kpa")]
    varying = [i for i in range(len(names)) if i not in constant]
    torch.testing.assert_close(
        scaled[:, varying].mean(0), torch.zeros(len(varying)), atol=1e-9, rtol=0, check_dtype=False
    )
    torch.testing.assert_close(
        scaled[:, varying].std(0, correction=0),
        torch.ones(len(varying)),
        atol=1e-9,
        rtol=0,
        check_dtype=False,
    )
    assert bool(torch.isfinite(scaled[:, constant]).all())
    with pytest.raises(SampleDataError, match="columns"):
        scaler.transform(features[..., :5])


# ---------------------------------------------------------------------------- fitting
FAST = {
    "n_parameter_sets": 48,
    "n_valid_sets": 16,
    "steps_per_run": 96,
    "epochs": 40,
    "patience": 8,
    "batch_size": 256,
    "learning_rate": 3e-3,
    "hidden": (64, 64),
    "head_width": 32,
    "window_steps": 3,
}


@pytest.fixture(scope="module")
def toy_sites():
    return [make_forcing(days=20, seed=s) for s in (10, 11)]


@pytest.fixture(scope="module")
def fitted(toy_sites):
    return fit_surrogate(ToySimulator(), toy_sites, site_names=["A", "B"], seed=0, **FAST)


def test_surrogate_learns_the_toy_simulator_on_held_out_parameter_sets(fitted):
    for flux in ("h_w_m2", "le_w_m2"):
        metrics = fitted.accuracy["overall"][flux]
        assert metrics["r2"] > 0.9, metrics
        assert metrics["correlation"] > 0.95
        assert math.isfinite(metrics["bias_w_m2"]) and metrics["rmse_w_m2"] > 0
    assert set(fitted.accuracy["sites"]) == {"A", "B"}
    assert fitted.accuracy["n_parameter_sets"] == 8
    assert fitted.parameter_names == ("albedo", "g_max_mm_s")
    assert fitted.flux_names == ("h_w_m2", "le_w_m2")
    assert 1 <= fitted.training["best_epoch"] <= FAST["epochs"]


def test_predict_agrees_with_the_simulator_on_new_parameters(fitted, toy_sites):
    params = scale_to_bounds(torch.tensor([[0.3, 0.6], [0.8, 0.2]]), TOY_SPECS)
    simulated = ToySimulator().run(toy_sites[0], params)
    predicted = fitted.predict(toy_sites[0], params)
    assert predicted.shape == simulated.shape == (2, 2, toy_sites[0].shape[1])
    assert (
        flux_accuracy(
            simulated.permute(0, 2, 1).reshape(-1, 2), predicted.permute(0, 2, 1).reshape(-1, 2)
        )["le_w_m2"]["r2"]
        > 0.85
    )
    # the module on the scaled features is what predict returns
    features = fitted.features(toy_sites[0])[0]
    unit = unscale_from_bounds(params[1:], TOY_SPECS).float().expand(len(features), -1)
    with torch.no_grad():
        direct = fitted.module(features, unit)
    torch.testing.assert_close(direct.T, predicted[1])


def test_gradients_reach_the_unit_parameters(fitted, toy_sites):
    features = fitted.features(toy_sites[1])[0, 200:232]
    unit = torch.full((32, 2), 0.5, requires_grad=True)
    fitted.module(features, unit)[:, 1].sum().backward()
    assert unit.grad is not None and bool(torch.isfinite(unit.grad).all())
    # more conductance, more latent heat at midday: the toy's sign must come through
    assert float(unit.grad[:, 1].sum()) > 0


def test_fit_is_deterministic_for_a_seed(toy_sites):
    settings = {**FAST, "epochs": 2, "n_parameter_sets": 8, "n_valid_sets": 2}
    first = fit_surrogate(ToySimulator(), toy_sites, seed=5, **settings)
    again = fit_surrogate(ToySimulator(), toy_sites, seed=5, **settings)
    other = fit_surrogate(ToySimulator(), toy_sites, seed=6, **settings)
    for key, value in first.module.state_dict().items():
        assert torch.equal(value, again.module.state_dict()[key]), key
    assert first.accuracy == again.accuracy
    assert not torch.equal(first.module.trunk[0].weight, other.module.trunk[0].weight)


def test_save_load_round_trip_gives_identical_predictions(fitted, toy_sites, tmp_path):
    path = fitted.save(tmp_path / "surrogate.safetensors")
    assert not list(tmp_path.glob(".*partial"))
    header = read_header(path)
    assert header.estimator == "lsm_surrogate"
    assert header.output_spec.names == ["h_w_m2", "le_w_m2"]
    loaded = FittedSurrogate.load(path, parameter_specs=TOY_SPECS)
    params = scale_to_bounds(torch.tensor([[0.1, 0.9]]), TOY_SPECS)
    assert torch.equal(loaded.predict(toy_sites[1], params), fitted.predict(toy_sites[1], params))
    assert loaded.parameter_specs == fitted.parameter_specs
    assert loaded.accuracy == fitted.accuracy
    assert loaded.feature_names == fitted.feature_names


def test_loading_for_other_parameters_is_refused(fitted, tmp_path):
    path = fitted.save(tmp_path / "surrogate.safetensors")
    with pytest.raises(ArtifactError, match="trained for parameters") as info:
        FittedSurrogate.load(path, parameter_specs=LSM_PARAMETERS)
    assert info.value.field == "geosoil.fitted_state.parameter_specs"
    wider = (TOY_SPECS[0], ParameterSpec("g_max_mm_s", "mm/s", 1.0, 20.0, "wider"))
    with pytest.raises(ArtifactError):
        FittedSurrogate.load(path, parameter_specs=wider)


def test_bad_inputs_are_refused(fitted, toy_sites):
    params = scale_to_bounds(torch.full((1, 2), 0.5), TOY_SPECS)
    with pytest.raises(ConfigError, match="columns"):
        fitted.predict(toy_sites[0], torch.zeros(1, 8))
    with pytest.raises(ConfigError, match="outside its bounds"):
        fitted.predict(toy_sites[0], torch.tensor([[0.2, 50.0]]))
    with pytest.raises(SampleDataError, match="time step"):
        fitted.features(make_forcing(days=2, step_s=1800.0))
    with pytest.raises(SampleDataError, match="forcing rows"):
        fitted.predict(make_forcing(days=2, rows=3), params.expand(2, -1))
    with pytest.raises(SampleDataError, match="features"):
        fitted.module(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(SampleDataError, match="one-row"):
        fit_surrogate(ToySimulator(), [make_forcing(days=2, rows=2)], **FAST)
    with pytest.raises(SampleDataError, match="time step"):
        fit_surrogate(ToySimulator(), [toy_sites[0], make_forcing(days=2, step_s=1800.0)], **FAST)
    with pytest.raises(SimulatorError, match="returned"):
        fit_surrogate(ToySimulator(shape="short"), toy_sites[:1], **FAST)
    with pytest.raises(ConfigError, match="n_valid_sets"):
        fit_surrogate(ToySimulator(), toy_sites, **{**FAST, "n_valid_sets": 1})
    with pytest.raises(ConfigError, match="loss_weights"):
        fit_surrogate(ToySimulator(), toy_sites, loss_weights=(1.0,))


def test_load_refuses_other_artifacts(tmp_path):
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, plain)
    with pytest.raises(ArtifactError, match="header"):
        FittedSurrogate.load(plain)


# ------------------------------------------------------------- the real land model
@pytest.mark.slow
def test_surrogate_of_the_land_surface_model():
    sites = [make_forcing(days=10, seed=s) for s in (20, 21)]
    fitted = fit_surrogate(
        LsmSimulator(),
        sites,
        seed=0,
        **{**FAST, "n_parameter_sets": 64, "epochs": 40},
    )
    assert fitted.parameter_names == tuple(s.name for s in LSM_PARAMETERS)
    for flux in ("h_w_m2", "le_w_m2"):
        assert fitted.accuracy["overall"][flux]["r2"] > 0.8, fitted.accuracy["overall"]
    defaults = torch.tensor([[0.2, 10.0, 100.0, 1.5, 100.0, 0.5, 0.03, 0.15]])
    assert fitted.predict(sites[0], defaults).shape == (1, 2, sites[0].shape[1])
