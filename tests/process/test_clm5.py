"""The CLM5 matrix model tested like numerical code: balances, analytic cases, gradients."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from geosoil.errors import ConfigError
from geosoil.process.clm5 import (
    N_POOLS,
    Clm5Matrix,
    assemble_system,
    steady_state,
    transport_matrix,
)
from geosoil.process.clm5_bulk import BULK_PROCESS_NAMES, bulk_processes
from geosoil.process.clm5_grid import N_LAYERS, ZISOI_M, interpolate_to_depths
from geosoil.process.clm5_params import PARAMETER_NAMES, scale_parameters

from .clm5_cases import make_forcings

torch.set_num_threads(1)
P = {name: i for i, name in enumerate(PARAMETER_NAMES)}


def unit_params(n: int, *, seed: int = 0, low: float = 0.2, high: float = 0.8) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(n, 21, generator=g, dtype=torch.float64)


def test_inputs_equal_respiration_at_steady_state():
    forcings = make_forcings([8, 12, 20, 15], altmax_m=[41.998, 1.0, 41.998, 1.7])
    state = steady_state(scale_parameters(unit_params(4)), forcings)
    inputs = state.inputs_gc_m2_yr.sum(dim=(1, 2))
    respired = state.respiration_gc_m2_yr.sum(dim=(1, 2))
    assert torch.all(inputs > 0)
    torch.testing.assert_close(respired, inputs, rtol=1e-8, atol=0)
    # inputs are the annual sums of the monthly forcings
    annual = sum(
        getattr(forcings, f"input_{pool}_gc_m2_month").sum(dim=1)
        for pool in ("cwd", "litter1", "litter2", "litter3")
    )
    torch.testing.assert_close(inputs, annual)


def test_bedrock_layers_hold_nothing_and_nothing_crosses_into_them():
    nbedrock = [8, 11, 20]
    forcings = make_forcings(nbedrock)
    state = steady_state(scale_parameters(unit_params(3, seed=1)), forcings)
    for i, nb in enumerate(nbedrock):
        assert torch.all(state.pools_gc_m2[i, :, nb:] == 0)
        assert torch.all(state.inputs_gc_m2_yr[i, :, nb:] == 0)
        assert torch.all(state.diffusivity_m2_yr[i, nb - 1 :] == 0)
        assert torch.all(state.diffusivity_m2_yr[i, : nb - 1] > 0)
        assert torch.all(state.pools_gc_m2[i, :, :nb] > 0)


def test_transport_conserves_mass_and_is_cut_at_bedrock():
    g = torch.Generator().manual_seed(2)
    diffusivity = 1e-4 + 1e-3 * torch.rand(3, N_LAYERS, generator=g, dtype=torch.float64)
    diffusivity[1, 9:] = 0  # bedrock below layer 10
    v = transport_matrix(diffusivity)
    scale = v.abs().max()
    torch.testing.assert_close(
        v.sum(dim=1), torch.zeros(3, N_LAYERS, dtype=v.dtype), atol=1e-14 * scale, rtol=0
    )
    assert torch.all(v[1, 10:, :10] == 0) and torch.all(v[1, :10, 10:] == 0)
    # an off-diagonal pattern that is tridiagonal, with non-positive couplings
    off = v - torch.diag_embed(torch.diagonal(v, dim1=1, dim2=2))
    assert torch.all(off <= 0)
    assert torch.all(torch.triu(v, 2) == 0) and torch.all(torch.tril(v, -2) == 0)


def test_diffusivity_is_bioturbation_or_cryoturbation_as_in_clm5():
    forcings = make_forcings([20, 20], altmax_m=[41.998, 1.0])
    params = scale_parameters(unit_params(2, seed=3))
    d = steady_state(params, forcings).diffusivity_m2_yr
    diffus, cryo = params[:, P["diffus"]], params[:, P["cryo"]]
    torch.testing.assert_close(d[0, :19], diffus[0].expand(19))
    z = torch.tensor(ZISOI_M, dtype=torch.float64)
    expected = torch.where(z < 1.0, 1.0, (1 - (z - 1.0) / 2.0).clamp(min=0)) * cryo[1]
    expected[-1] = 0
    torch.testing.assert_close(d[1], expected)


def _one_layer_case():
    """One soil layer above bedrock (no transport), constant scalars: a hand-solvable chain."""
    forcings = make_forcings([1], seed=4)
    n12 = (1, 20, 12)
    forcings = replace(
        forcings,
        soil_temp_k=torch.full(n12, 288.15, dtype=torch.float64),
        soil_water_scalar=torch.full(n12, 0.4, dtype=torch.float64),
        xio=torch.full(n12, 0.9, dtype=torch.float64),
        xin=torch.full(n12, 0.5, dtype=torch.float64),
    )
    return forcings, scale_parameters(unit_params(1, seed=5))[0]


def test_one_layer_steady_state_matches_the_hand_solution():
    forcings, p = _one_layer_case()
    v = {name: float(p[i]) for i, name in enumerate(PARAMETER_NAMES)}
    i_cwd, i_l1, i_l2, i_l3 = (
        float(getattr(forcings, f"input_{pool}_gc_m2_month").sum())
        for pool in ("cwd", "litter1", "litter2", "litter3")
    )
    xi_t = v["q10"] ** -1.0  # 10 K below the 25 C reference
    xi = xi_t * min(v["w_scaling"] * 0.4, 1.0) * 0.9 * math.exp(-0.01 / v["efolding"])

    k = {
        "cwd": xi / v["taucwd"],
        "l1": 0.5 * xi / v["taul1"],
        "l2": 0.5 * xi / v["taul2"],
        "s1": xi / v["tau4s1"],
        "s2": xi / v["tau4s2"],
        "s3": xi / v["tau4s3"],
    }
    to_l2, to_l3 = v["fcwdl2"] * i_cwd, (1 - v["fcwdl2"]) * i_cwd
    f1 = v["fl1s1"] * i_l1 + v["fl2s1"] * (i_l2 + to_l2)
    f2 = v["fl3s2"] * (i_l3 + to_l3)
    d1 = (f1 + (v["fs2s1"] + v["fs3s1"] * v["fs2s3"]) * f2) / (
        1 - v["fs2s1"] * v["fs1s2"] - v["fs3s1"] * (v["fs1s3"] + v["fs2s3"] * v["fs1s2"])
    )
    d2 = f2 + v["fs1s2"] * d1
    d3 = v["fs1s3"] * d1 + v["fs2s3"] * d2
    expected = torch.tensor(
        [
            i_cwd / k["cwd"],
            i_l1 / k["l1"],
            (i_l2 + to_l2) / k["l2"],
            (i_l3 + to_l3) / k["l2"],
            d1 / k["s1"],
            d2 / k["s2"],
            d3 / k["s3"],
        ],
        dtype=torch.float64,
    )
    state = steady_state(p[None], forcings)
    torch.testing.assert_close(state.pools_gc_m2[0, :, 0], expected, rtol=1e-11, atol=0)
    assert torch.all(state.pools_gc_m2[0, :, 1:] == 0)


def test_system_without_transfers_or_transport_gives_input_over_rate():
    # zero transfer fractions lie outside the parameter bounds: test the raw matrix builder
    g = torch.Generator().manual_seed(6)
    rate = 0.01 + torch.rand(2, N_POOLS, N_LAYERS, generator=g, dtype=torch.float64)
    inputs = torch.rand(2, N_POOLS, N_LAYERS, generator=g, dtype=torch.float64)
    system = assemble_system(
        rate,
        torch.zeros(2, 10, dtype=torch.float64),
        torch.zeros(2, N_LAYERS, N_LAYERS, dtype=torch.float64),
        torch.ones(2, N_LAYERS, dtype=torch.float64),
    )
    x = torch.linalg.solve(system, inputs.reshape(2, -1, 1)).reshape(2, N_POOLS, N_LAYERS)
    torch.testing.assert_close(x, inputs / rate, rtol=1e-13, atol=0)


def test_batched_solve_equals_a_loop_over_sites():
    forcings = make_forcings([8, 9, 14, 20, 17], seed=7, altmax_m=[41.998, 1.2, 41.998, 0.5, 2.5])
    params = scale_parameters(unit_params(5, seed=8))
    batched = steady_state(params, forcings).pools_gc_m2
    for i in range(5):
        single = steady_state(params[i : i + 1], forcings.select([i])).pools_gc_m2
        torch.testing.assert_close(batched[i : i + 1], single, rtol=1e-12, atol=1e-12)


def test_soc_gradients_match_finite_differences():
    forcings = make_forcings([8, 10], seed=9, altmax_m=[41.998, 1.0])
    depths = torch.tensor([[0.05, 0.3, float("nan")], [0.1, 0.5, 0.9]], dtype=torch.float64)

    def soc(unit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        state = steady_state(scale_parameters(unit), forcings)
        return state.soc_gc_m3 / 1e3, interpolate_to_depths(state.soc_gc_m3, depths)[:, :2] / 1e3

    unit = unit_params(2, seed=10).requires_grad_(True)
    assert torch.autograd.gradcheck(soc, (unit,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_float32_agrees_with_float64():
    forcings = make_forcings([9, 13], seed=11)
    unit = unit_params(2, seed=12)
    soc64 = steady_state(scale_parameters(unit), forcings).soc_gc_m3
    soc32 = steady_state(scale_parameters(unit.float()), forcings).soc_gc_m3
    assert soc32.dtype == torch.float32
    torch.testing.assert_close(soc32.double(), soc64, rtol=1e-3, atol=1e-3)


def test_bulk_processes_have_their_documented_limits():
    forcings = make_forcings([1, 4, 20], seed=13)
    state = steady_state(scale_parameters(unit_params(3, seed=14)), forcings)
    bulk = bulk_processes(state)
    assert tuple(bulk) == BULK_PROCESS_NAMES
    cte = bulk["carbon_transfer_efficiency"]
    assert torch.all((cte > 0) & (cte < 1))
    # one active layer: all input in the top 2 cm; 4 layers (0.20 m): all in the top 30 cm
    torch.testing.assert_close(
        bulk["input_allocation_top30cm"][:2], torch.ones(2, dtype=torch.float64)
    )
    assert bulk["input_allocation_top30cm"][2] < 1
    # no open interface at 0.32 m above bedrock in the shallow columns
    assert torch.all(bulk["vertical_transport"][:2] == 0) and bulk["vertical_transport"][2] > 0
    # the SOC-weighted base rate lies between the slowest and fastest soil pool
    k = state.base_rate_per_yr[:, 1:]
    base = bulk["baseline_decomposition_per_yr"]
    assert torch.all((base > k.min(dim=1).values) & (base < k.max(dim=1).values))
    assert torch.all(bulk["environmental_modifier"] > 0)


def test_module_declares_its_interface_and_refuses_mismatched_parameters():
    model = Clm5Matrix()
    assert model.parameter_names == PARAMETER_NAMES and len(model.state_names) == 140
    forcings = make_forcings([10, 12], seed=15)
    params = scale_parameters(unit_params(2, seed=16))
    torch.testing.assert_close(
        model(params, forcings).soc_gc_m3, steady_state(params, forcings).soc_gc_m3
    )
    with pytest.raises(ConfigError, match=r"expected \(2, 21\)") as err:
        model(params[:1], forcings)
    assert err.value.field == "parameters"


def test_system_places_transport_on_every_pool_but_cwd():
    g = torch.Generator().manual_seed(17)
    diffusivity = 1e-4 + 1e-3 * torch.rand(2, N_LAYERS, generator=g, dtype=torch.float64)
    v = transport_matrix(diffusivity)
    zeros = torch.zeros(2, N_POOLS, N_LAYERS, dtype=torch.float64)
    ones = torch.ones(2, N_LAYERS, dtype=torch.float64)
    system = assemble_system(zeros, torch.rand(2, 10, dtype=torch.float64), v, ones)
    blocks = system.reshape(2, N_POOLS, N_LAYERS, N_POOLS, N_LAYERS)
    for p in range(N_POOLS):
        for q in range(N_POOLS):
            expected = v if p == q and p > 0 else torch.zeros_like(v)
            torch.testing.assert_close(blocks[:, p, :, q, :], expected, rtol=0, atol=0)


def test_gradients_stay_finite_at_the_cryoturbation_depth_limit():
    forcings = make_forcings([20], seed=18, altmax_m=[3.0])
    unit = unit_params(1, seed=19).requires_grad_(True)
    steady_state(scale_parameters(unit), forcings).soc_gc_m3.sum().backward()
    assert torch.all(torch.isfinite(unit.grad)) and unit.grad[0, P["diffus"]] != 0
