"""The bulk land surface model tested like numerical code: balances, analytic cases, gradients."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from geosoil.errors import ConfigError, SampleDataError
from geosoil.process.lsm import LandSurfaceModel, brutsaert_longwave_w_m2, simulate
from geosoil.process.lsm_forcing import LsmForcing
from geosoil.process.lsm_params import (
    LSM_PARAMETER_NAMES,
    N_LSM_PARAMETERS,
    default_parameters,
    scale_lsm_parameters,
)

torch.set_num_threads(1)
P = {name: i for i, name in enumerate(LSM_PARAMETER_NAMES)}
SIGMA = 5.670374419e-8  # CODATA 2018


def make_forcing(
    rows: int = 1,
    *,
    days: int = 3,
    step_s: float = 1800.0,
    seed: int = 0,
    measured_lw: bool = True,
    rain_mm: float = 0.0,
    dtype: torch.dtype = torch.float64,
) -> LsmForcing:
    """A few synthetic days with a diurnal cycle; rows differ by a random offset."""
    g = torch.Generator().manual_seed(seed)
    steps = int(days * 86400 / step_s)
    hour = (torch.arange(steps, dtype=dtype) * step_s / 3600.0)[None, :] % 24
    shift = torch.rand(rows, 1, generator=g, dtype=dtype)
    sw = torch.clamp((700 + 200 * shift) * torch.sin((hour - 6) / 12 * math.pi), min=0.0)
    tair = 12 + 6 * shift + 7 * torch.sin((hour - 9) / 24 * 2 * math.pi)
    vpd = 0.2 + 0.12 * (tair - 5) * (0.5 + shift)
    wind = 1.0 + 3 * shift + 0.8 * torch.cos(hour / 24 * 2 * math.pi)
    pressure = (97.0 + 4 * shift).expand(rows, steps)
    precip = torch.zeros(rows, steps, dtype=dtype)
    if rain_mm:
        precip = precip + rain_mm * ((hour >= 15) & (hour < 17)).to(dtype)
    lw = 300 + 4 * (tair - 12) if measured_lw else None
    return LsmForcing(sw, tair, vpd, wind, pressure, precip, lw, step_s)


def random_parameters(n: int, *, seed: int = 1, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale_lsm_parameters(
        0.05 + 0.9 * torch.rand(n, N_LSM_PARAMETERS, generator=g, dtype=dtype)
    )


def parameters_of(**values: float) -> torch.Tensor:
    base = default_parameters("GRA", values)
    return torch.tensor([[base[name] for name in LSM_PARAMETER_NAMES]], dtype=torch.float64)


def one_step_forcing(sw=500.0, tair=20.0, vpd=1.0, wind=2.0, pressure=101.3, lw=350.0):
    def col(value):
        return torch.tensor([[value]], dtype=torch.float64)

    return LsmForcing(
        col(sw), col(tair), col(vpd), col(wind), col(pressure), col(0.0), col(lw), 1800.0
    )


@pytest.mark.parametrize("measured_lw", [True, False])
def test_energy_closes_exactly(measured_lw):
    forcing = make_forcing(4, measured_lw=measured_lw, rain_mm=2.0)
    out = simulate(forcing, random_parameters(4), initial_soil_water_fraction=0.5)
    total = out.h_w_m2 + out.le_w_m2 + out.ground_heat_w_m2
    torch.testing.assert_close(total, out.net_radiation_w_m2, rtol=0, atol=1e-10)
    # the test is not vacuous: all terms are substantial somewhere
    assert out.le_w_m2.max() > 50 and out.h_w_m2.abs().max() > 50
    assert out.ground_heat_w_m2.abs().max() > 1


def test_water_balance_with_runoff_and_drying():
    forcing = make_forcing(3, days=4, rain_mm=6.0, seed=3)
    params = random_parameters(3, seed=4)
    params[:, P["soil_water_max_mm"]] = torch.tensor([20.0, 40.0, 300.0], dtype=torch.float64)
    out = simulate(forcing, params, initial_soil_water_fraction=0.6)
    s0 = 0.6 * params[:, P["soil_water_max_mm"]]
    change = out.soil_water_mm[:, -1] - s0
    budget = forcing.precip_mm.sum(1) - out.evaporation_mm.sum(1) - out.runoff_mm.sum(1)
    torch.testing.assert_close(change, budget, rtol=0, atol=1e-10)
    # small buckets overflow, the big one does not; states stay in [0, max]
    assert out.runoff_mm[0].sum() > 1 and out.runoff_mm[2].sum() == 0
    assert torch.all(out.runoff_mm >= 0) and torch.all(out.soil_water_mm >= 0)
    assert torch.all(out.soil_water_mm <= params[:, P["soil_water_max_mm"], None])
    assert torch.all(out.evaporation_mm.sum(1) > 0)


def test_bucket_never_goes_below_empty():
    forcing = make_forcing(1, days=10)
    params = parameters_of(soil_water_max_mm=20.0, stress_onset_fraction=0.1, g_max_mm_s=30.0)
    out = simulate(forcing, params, initial_soil_water_fraction=0.2)
    assert out.soil_water_mm.min() >= 0
    assert out.soil_water_mm[0, -1] < 0.05  # it did run dry
    torch.testing.assert_close(
        out.evaporation_mm.sum(), torch.tensor(4.0, dtype=torch.float64), rtol=0, atol=0.05
    )


def penman_monteith_reference(*, delta, gamma, rho, cp, available, vpd, r_a, r_s):
    """Monteith (1965) as printed in FAO-56 eq. 3, W m-2."""
    return (delta * available + rho * cp * vpd / r_a) / (delta + gamma * (1 + r_s / r_a))


def test_one_step_matches_hand_computed_penman_monteith():
    # light_half = SW and vpd_half = VPD make f_light = f_vpd = 1/2; a full bucket with
    # stress onset at half of it makes f_water = 1
    params = parameters_of(
        albedo=0.2,
        g_max_mm_s=10.0,
        light_half_w_m2=500.0,
        vpd_half_kpa=1.0,
        soil_water_max_mm=200.0,
        stress_onset_fraction=0.5,
        roughness_length_m=0.1,
        ground_heat_fraction=0.1,
    )
    out = simulate(one_step_forcing(), params)
    g_c = 10.0 * 0.5 * 0.5 + 0.1  # mm/s
    torch.testing.assert_close(
        out.canopy_conductance_mm_s, torch.tensor([[g_c]], dtype=torch.float64)
    )
    t_k = 293.15
    rn = 0.8 * 500.0 + 0.98 * (350.0 - SIGMA * t_k**4)
    available = 0.9 * rn
    r_a = math.log(10 / 0.1) * math.log(10 / 0.01) / (0.41**2 * 2.0)
    r_s = 1000.0 / g_c
    torch.testing.assert_close(out.net_radiation_w_m2, torch.tensor([[rn]], dtype=torch.float64))

    # (1) FAO-56 tabulated values at 20 degC and 101.3 kPa: Delta (Table 2.4) 0.145 kPa/K,
    # gamma (Table 2.2, sea level) 0.067 kPa/K; dry air density at 20 degC 1.204 kg m-3
    tabulated = penman_monteith_reference(
        delta=0.145, gamma=0.067, rho=1.204, cp=1013.0, available=available, vpd=1.0,
        r_a=r_a, r_s=r_s,
    )  # fmt: skip
    assert out.le_w_m2.item() == pytest.approx(tabulated, rel=5e-3)

    # (2) the same equations evaluated exactly, in the textbook's own notation
    e_s = 0.6108 * math.exp(17.27 * 20 / (20 + 237.3))
    delta = 4098 * e_s / (20 + 237.3) ** 2
    lam = 2.501e6 - 2361 * 20
    gamma = 1013.0 * 101.3 / (0.622 * lam)
    rho = 101300 / (287.05 * t_k)
    exact = penman_monteith_reference(
        delta=delta, gamma=gamma, rho=rho, cp=1013.0, available=available, vpd=1.0,
        r_a=r_a, r_s=r_s,
    )  # fmt: skip
    assert out.le_w_m2.item() == pytest.approx(exact, rel=1e-12)
    assert out.evaporation_mm.item() == pytest.approx(exact * 1800 / lam, rel=1e-12)
    assert out.h_w_m2.item() == pytest.approx(available - exact, rel=1e-12)
    assert out.soil_water_mm.item() == pytest.approx(200 - exact * 1800 / lam, rel=1e-12)


def test_brutsaert_longwave_estimate():
    tair = torch.tensor([[20.0, 0.0]], dtype=torch.float64)
    vpd = torch.tensor([[0.938, 0.2]], dtype=torch.float64)
    lw = brutsaert_longwave_w_m2(tair, vpd)
    # e_s(20 C) = 2.338 kPa (FAO-56 Table 2.3) -> e_a = 1.4 kPa = 14 hPa
    expected = 1.24 * (14.0 / 293.15) ** (1 / 7) * SIGMA * 293.15**4
    assert lw[0, 0].item() == pytest.approx(expected, rel=2e-4)
    assert 200 < lw[0, 1].item() < lw[0, 0].item()
    # the model uses it when no longwave is measured
    forcing = make_forcing(1, measured_lw=False)
    with_estimate = LsmForcing(
        forcing.sw_in_w_m2, forcing.tair_c, forcing.vpd_kpa, forcing.wind_m_s,
        forcing.pressure_kpa, forcing.precip_mm,
        brutsaert_longwave_w_m2(forcing.tair_c, forcing.vpd_kpa), forcing.time_step_s,
    )  # fmt: skip
    params = random_parameters(1)
    torch.testing.assert_close(
        simulate(forcing, params).le_w_m2, simulate(with_estimate, params).le_w_m2
    )


def test_more_conductance_more_latent_heat_when_water_is_ample():
    forcing = make_forcing(1)
    base = dict(soil_water_max_mm=600.0, stress_onset_fraction=0.1)
    low = simulate(forcing, parameters_of(g_max_mm_s=5.0, **base))
    high = simulate(forcing, parameters_of(g_max_mm_s=20.0, **base))
    day = forcing.sw_in_w_m2 > 10
    assert torch.all(high.le_w_m2[day] > low.le_w_m2[day])
    assert torch.all(high.h_w_m2[day] < low.h_w_m2[day])
    torch.testing.assert_close(high.net_radiation_w_m2, low.net_radiation_w_m2)


def test_higher_albedo_lower_net_radiation():
    forcing = make_forcing(1)
    dark = simulate(forcing, parameters_of(albedo=0.1))
    bright = simulate(forcing, parameters_of(albedo=0.3))
    day = forcing.sw_in_w_m2 > 0
    assert torch.all(bright.net_radiation_w_m2[day] < dark.net_radiation_w_m2[day])
    torch.testing.assert_close(bright.net_radiation_w_m2[~day], dark.net_radiation_w_m2[~day])
    assert bright.le_w_m2.sum() < dark.le_w_m2.sum()


def test_dry_bucket_falls_to_cuticular_conductance():
    forcing = one_step_forcing()
    params = parameters_of(
        soil_water_max_mm=600.0,
        stress_onset_fraction=0.9,
        g_max_mm_s=30.0,
        ground_heat_fraction=0.1,
    )
    fractions = [1.0, 0.5, 0.1, 0.01, 1e-4]
    le = [
        simulate(forcing, params, initial_soil_water_fraction=f).le_w_m2.item() for f in fractions
    ]
    assert all(a > b for a, b in itertools.pairwise(le))
    t_k = 293.15
    rn = (1 - params[0, P["albedo"]].item()) * 500.0 + 0.98 * (350.0 - SIGMA * t_k**4)
    e_s = 0.6108 * math.exp(17.27 * 20 / 257.3)
    lam = 2.501e6 - 2361 * 20
    z0 = params[0, P["roughness_length_m"]].item()
    cuticular = penman_monteith_reference(
        delta=4098 * e_s / 257.3**2, gamma=1013.0 * 101.3 / (0.622 * lam),
        rho=101300 / (287.05 * t_k), cp=1013.0, available=0.9 * rn, vpd=1.0,
        r_a=math.log(10 / z0) * math.log(100 / z0) / (0.41**2 * 2.0), r_s=1000 / 0.1,
    )  # fmt: skip
    # from above, the gap shrinking with the water (f_water = 1.1e-4 leaves 2 % at the end)
    assert cuticular < le[-1] < 1.02 * cuticular
    assert le[-2] - cuticular > 50 * (le[-1] - cuticular)
    assert le[0] > 5 * le[-1]


def test_gradcheck_with_respect_to_parameters():
    forcing = make_forcing(2, days=1, step_s=7200.0, seed=5)  # 12 steps
    params = scale_lsm_parameters(
        torch.tensor(
            [
                [0.4, 0.5, 0.3, 0.4, 0.5, 0.6, 0.4, 0.3],
                [0.6, 0.3, 0.6, 0.5, 0.3, 0.8, 0.6, 0.5],
            ],
            dtype=torch.float64,
        )
    ).requires_grad_(True)

    def run(p):
        out = simulate(forcing, p, initial_soil_water_fraction=0.3)
        return out.h_w_m2, out.le_w_m2, out.soil_water_mm

    # away from the kinks: the bucket stays below the stress onset and far from empty
    out = simulate(forcing, params.detach(), initial_soil_water_fraction=0.3)
    onset = params[:, P["stress_onset_fraction"]] * params[:, P["soil_water_max_mm"]]
    assert torch.all(out.soil_water_mm < onset.detach()[:, None])
    assert torch.all(out.soil_water_mm > 1.0)
    assert torch.autograd.gradcheck(run, (params,), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_batched_equals_loop_over_rows():
    forcing = make_forcing(5, rain_mm=1.5, seed=6)
    params = random_parameters(5, seed=7)
    batched = simulate(forcing, params, initial_soil_water_fraction=0.4)
    for i in range(5):
        row = LsmForcing(
            *(getattr(forcing, name)[i : i + 1] for name in (
                "sw_in_w_m2", "tair_c", "vpd_kpa", "wind_m_s", "pressure_kpa", "precip_mm",
                "lw_in_w_m2",
            )),
            forcing.time_step_s,
        )  # fmt: skip
        single = simulate(row, params[i : i + 1], initial_soil_water_fraction=0.4)
        torch.testing.assert_close(single.fluxes(), batched.fluxes()[i : i + 1], rtol=0, atol=1e-12)
        torch.testing.assert_close(
            single.soil_water_mm, batched.soil_water_mm[i : i + 1], rtol=0, atol=1e-12
        )


@pytest.mark.parametrize("measured_lw", [True, False])
def test_one_forcing_row_broadcasts_like_explicit_repetition(measured_lw):
    forcing = make_forcing(1, rain_mm=3.0, measured_lw=measured_lw)
    params = random_parameters(4, seed=8)
    shared = simulate(forcing, params)
    repeated = LsmForcing(
        *(
            None if getattr(forcing, name) is None else getattr(forcing, name).repeat(4, 1)
            for name in (
                "sw_in_w_m2", "tair_c", "vpd_kpa", "wind_m_s", "pressure_kpa", "precip_mm",
                "lw_in_w_m2",
            )
        ),
        forcing.time_step_s,
    )  # fmt: skip
    explicit = simulate(repeated, params)
    for name in ("h_w_m2", "le_w_m2", "soil_water_mm", "runoff_mm", "net_radiation_w_m2"):
        assert getattr(shared, name).shape == (4, forcing.shape[1])
        torch.testing.assert_close(
            getattr(shared, name), getattr(explicit, name), rtol=0, atol=1e-12
        )
    assert shared.fluxes().shape == (4, 2, forcing.shape[1])
    torch.testing.assert_close(shared.fluxes()[:, 0], shared.h_w_m2)
    torch.testing.assert_close(shared.fluxes()[:, 1], shared.le_w_m2)


def test_float32_parameters_give_float32_output_close_to_float64():
    forcing = make_forcing(1, dtype=torch.float32)
    params = random_parameters(3, seed=9)
    out32 = simulate(forcing, params.float())
    out64 = simulate(forcing, params)
    assert out32.le_w_m2.dtype == torch.float32 and out64.le_w_m2.dtype == torch.float64
    torch.testing.assert_close(out32.le_w_m2.double(), out64.le_w_m2, rtol=1e-3, atol=1e-2)


def test_module_wraps_simulate():
    forcing = make_forcing(2)
    params = random_parameters(2)
    model = LandSurfaceModel(initial_soil_water_fraction=0.5)
    torch.testing.assert_close(
        model(forcing, params).fluxes(),
        simulate(forcing, params, initial_soil_water_fraction=0.5).fluxes(),
    )
    assert model.output_names == ("h_w_m2", "le_w_m2")
    assert model.parameter_names == LSM_PARAMETER_NAMES


def test_bound_rounding_is_tolerated():
    params = parameters_of()
    params[0, P["soil_water_max_mm"]] = 600.0 * (1 + 1e-7)
    simulate(make_forcing(1, days=1), params)


@pytest.mark.parametrize(
    ("column", "value"),
    [("albedo", 0.5), ("g_max_mm_s", 0.5), ("roughness_length_m", float("nan"))],
)
def test_out_of_bounds_parameter_is_refused_by_name(column, value):
    params = random_parameters(3)
    params[1, P[column]] = value
    with pytest.raises(ConfigError, match=column) as info:
        simulate(make_forcing(1, days=1), params)
    assert info.value.field == f"parameters.{column}"
    assert "row 1" in str(info.value)


def test_bad_shapes_and_options_are_refused():
    forcing = make_forcing(1, days=1)
    with pytest.raises(ConfigError) as info:
        simulate(forcing, random_parameters(2)[:, :7])
    assert info.value.field == "parameters"
    with pytest.raises(ConfigError, match="dtype"):
        simulate(forcing, torch.ones(1, N_LSM_PARAMETERS, dtype=torch.int64))
    with pytest.raises(ConfigError) as info:
        simulate(forcing, random_parameters(1), initial_soil_water_fraction=1.5)
    assert info.value.field == "initial_soil_water_fraction"
    with pytest.raises(SampleDataError) as info:
        simulate(make_forcing(3, days=1), random_parameters(2))
    assert info.value.field == "forcing"
