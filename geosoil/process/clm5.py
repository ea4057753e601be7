"""Vertically resolved CLM5 soil carbon in matrix form, as a pure differentiable torch model.

Seven pools (coarse woody debris, litter 1-3, SOM 1-3) in each of the 20 CLM5 layers give
140 states per site. The state ``X`` is the carbon *stock per layer* (g C m-2 of ground in
that layer; density = stock / thickness), ordered pool-major (``pool * 20 + layer``). It obeys

    dX/dt = B I - A xi K X - V X

and the model returns the steady state ``X* = (A xi K + V)^-1 B I`` of the *annually averaged*
system: inputs are annual sums of the monthly forcings, and xi and V are means over the 12
monthly matrices (what BINN and PRODA solve). Time is in years: ``K = 1/tau`` in yr-1,
inputs in g C m-2 yr-1, diffusivities in m2 yr-1. One batched ``torch.linalg.solve`` per
call; everything is differentiable in the physical parameters, with no numpy and no I/O.

Modelling choices (CLM5 tech note, Koven et al. 2013, Lu et al. 2020, BINN):

- **K**: base rates 1/tau per pool: taucwd, taul1, taul2 (litter 2 and 3 share it), tau4s1,
  tau4s2, tau4s3.
- **xi** per pool and layer = annual mean over months of ``xi_T * xi_W * xi_O`` (times
  ``xi_N`` for the three litter pools), times the depth scalar ``exp(-z_node / efolding)``:

  - ``xi_T = q10 ** ((T - 298.15 K) / 10)``: CLM5's Q10 form with reference 25 C; BINN uses
    the same q10 below freezing, so one formula holds at all temperatures;
  - ``xi_W = min(w_scaling * soil_water_scalar, 1)``;
  - ``xi_O`` = ``xio`` for every pool; ``xi_N`` = ``xin`` (CLM5's ``fpi``, nitrogen
    limitation of immobilising steps) only for litter 1-3, whose decomposition into SOM
    immobilises nitrogen; CWD fragmentation and SOM turnover are not limited.
- **A** = I - T, with T the transfer fractions listed in :data:`TRANSFERS`; what a pool
  does not pass on is respired. The sand forcing is not used: BINN learns fs1s2 and fs1s3
  directly instead of CLM5's texture-dependent SOM 1 respiration.
- **B I**: the annual input of each of CWD and litter 1-3 is spread over the active layers
  by the Jackson et al. (1996) root profile, cumulative fraction ``1 - beta ** (100 z)``
  with z in m: layer j gets ``beta ** (100 z_top) - beta ** (100 z_bottom)``, normalised
  over the layers above bedrock. CWD uses the same profile (as BINN/PRODA; CLM5 puts CWD
  on the stem profile).
- **V**: diffusion of every pool except CWD, finite volumes on the layer grid. The flux
  across the interface below layer k is ``D_k (c_k - c_k+1) / (z_node,k+1 - z_node,k)`` with
  ``c = X / dz`` the density, so ``sum_i V[i, j] = 0`` (mass conserving), zero at the surface,
  at the column bottom and across the bedrock interface and below. ``D`` follows CLM5:
  where the active-layer depth ``alt`` of a month satisfies ``0 < alt <= 2 m`` (permafrost),
  ``D = cryo`` above ``alt`` and tapers linearly to 0 at 3 m; otherwise ``D = diffus``.
  V is the mean of the 12 monthly matrices (i.e. built from the monthly-mean D).
- **Bedrock**: layers below ``nbedrock`` hold no carbon (their rows of the system are the
  identity, with zero input); see :mod:`geosoil.process.clm5_grid`.
- **SOC** is litter 1-3 plus SOM 1-3; CWD is not soil carbon (BINN compares the same sum).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from geosoil.errors import ConfigError
from geosoil.process.clm5_forcing import Clm5Forcings
from geosoil.process.clm5_grid import N_LAYERS, active_layers, grid_tensors, soc_stock_kg_m2
from geosoil.process.clm5_params import CLM5_PARAMETERS, N_PARAMETERS, PARAMETER_NAMES

__all__ = [
    "N_POOLS",
    "POOL_NAMES",
    "TRANSFERS",
    "Clm5Matrix",
    "Clm5SteadyState",
    "assemble_system",
    "decomposition_rates_per_yr",
    "diffusivity_m2_yr",
    "input_profile",
    "respired_fractions",
    "steady_state",
    "transfer_fractions",
    "transport_matrix",
]

POOL_NAMES = ("cwd", "litter1", "litter2", "litter3", "som1", "som2", "som3")
N_POOLS = len(POOL_NAMES)
N_STATES = N_POOLS * N_LAYERS
SOIL_POOLS = slice(1, N_POOLS)  # what counts as SOC: all but CWD
LITTER_POOLS = (1, 2, 3)
T_REF_K = 298.15
CRYOTURBATION_MAX_ALT_M = 2.0  # CLM5 max_altdepth_cryoturbation
CRYOTURBATION_MAX_DEPTH_M = 3.0  # CLM5 max_depth_cryoturb

# (receiving pool, donor pool, fraction name); "1-fcwdl2" is the complement of fcwdl2.
TRANSFERS: tuple[tuple[int, int, str], ...] = (
    (2, 0, "fcwdl2"),
    (3, 0, "1-fcwdl2"),
    (4, 1, "fl1s1"),
    (4, 2, "fl2s1"),
    (5, 3, "fl3s2"),
    (5, 4, "fs1s2"),
    (6, 4, "fs1s3"),
    (4, 5, "fs2s1"),
    (6, 5, "fs2s3"),
    (4, 6, "fs3s1"),
)

_P = {name: i for i, name in enumerate(PARAMETER_NAMES)}
_TAU_OF_POOL = ("taucwd", "taul1", "taul2", "taul2", "tau4s1", "tau4s2", "tau4s3")


def transfer_fractions(params: torch.Tensor) -> torch.Tensor:
    """Fractions (n, 10) of each donor's decomposition passed on, in :data:`TRANSFERS` order."""
    cols = []
    for _, _, name in TRANSFERS:
        if name.startswith("1-"):
            cols.append(1 - params[:, _P[name[2:]]])
        else:
            cols.append(params[:, _P[name]])
    return torch.stack(cols, dim=1)


def respired_fractions(fractions: torch.Tensor) -> torch.Tensor:
    """Share (n, 7) of each pool's decomposition that is respired (1 - what it passes on)."""
    passed = fractions.new_zeros(fractions.shape[0], N_POOLS)
    for t, (_, donor, _) in enumerate(TRANSFERS):
        passed[:, donor] = passed[:, donor] + fractions[:, t]
    return 1 - passed


def decomposition_rates_per_yr(
    params: torch.Tensor, forcings: Clm5Forcings
) -> tuple[torch.Tensor, torch.Tensor]:
    """Base rates K (n, 7) in yr-1 and environmental scalars xi (n, 7, 20), unmasked."""
    zsoi, _, _ = grid_tensors(dtype=params.dtype, device=params.device)
    base = torch.stack([1 / params[:, _P[name]] for name in _TAU_OF_POOL], dim=1)
    q10 = params[:, _P["q10"], None, None]
    w_scaling = params[:, _P["w_scaling"], None, None]
    xi_t = q10 ** ((forcings.soil_temp_k - T_REF_K) / 10)
    xi_w = torch.clamp(w_scaling * forcings.soil_water_scalar, max=1.0)
    monthly = xi_t * xi_w * forcings.xio  # (n, 20, 12)
    xi_plain = monthly.mean(dim=2)
    xi_litter = (monthly * forcings.xin).mean(dim=2)
    depth = torch.exp(-zsoi[None, :] / params[:, _P["efolding"], None])
    per_pool = [xi_litter if p in LITTER_POOLS else xi_plain for p in range(N_POOLS)]
    xi = torch.stack(per_pool, dim=1) * depth[:, None, :]
    return base, xi


def diffusivity_m2_yr(params: torch.Tensor, forcings: Clm5Forcings) -> torch.Tensor:
    """Annual-mean diffusivity (n, 20) at the bottom interface of each layer, m2 yr-1.

    Zero at the interface below layer ``nbedrock`` and deeper (no flux into bedrock, and the
    last entry is the column bottom).
    """
    _, zisoi, _ = grid_tensors(dtype=params.dtype, device=params.device)
    alt = forcings.altmax_m[:, None, :]  # (n, 1, 12)
    z = zisoi[None, :, None]
    cryo = params[:, _P["cryo"], None, None]
    diffus = params[:, _P["diffus"], None, None]
    # the clamp only matters outside permafrost (taper unused there) and avoids 0/0 at 3 m
    span = torch.clamp(CRYOTURBATION_MAX_DEPTH_M - alt, min=1.0)
    taper = torch.clamp(1 - (z - alt) / span, min=0)
    permafrost = (alt > 0) & (alt <= CRYOTURBATION_MAX_ALT_M)
    d_cryo = torch.where(z < alt, cryo, cryo * taper)
    monthly = torch.where(permafrost, d_cryo, diffus.expand_as(d_cryo))
    layer = torch.arange(1, N_LAYERS + 1, device=params.device)
    open_interface = (layer[None, :] < forcings.nbedrock[:, None]).to(params.dtype)
    return monthly.mean(dim=2) * open_interface


def transport_matrix(diffusivity: torch.Tensor) -> torch.Tensor:
    """Tridiagonal V (n, 20, 20) of one pool, so that dX/dt = -V X for stocks X (g C m-2).

    Parameters
    ----------
    diffusivity
        (n, 20) diffusivity (m2 yr-1) at the bottom interface of each layer; the last entry
        (column bottom) is ignored.
    """
    zsoi, _, dz = grid_tensors(dtype=diffusivity.dtype, device=diffusivity.device)
    # conductance across interface k, m yr-1
    g = diffusivity[:, :-1] / (zsoi[1:] - zsoi[:-1])
    zero = g.new_zeros(g.shape[0], 1)
    main = (torch.cat([g, zero], dim=1) + torch.cat([zero, g], dim=1)) / dz
    upper = -g / dz[1:]
    lower = -g / dz[:-1]
    return torch.diag_embed(main) + torch.diag_embed(upper, 1) + torch.diag_embed(lower, -1)


def input_profile(beta: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Share (n, 20) of inputs entering each layer: the beta root profile over active layers."""
    _, zisoi, dz = grid_tensors(dtype=beta.dtype, device=beta.device)
    ztop = zisoi - dz
    log_beta = torch.log(beta)[:, None]
    share = torch.exp(100 * ztop * log_beta) - torch.exp(100 * zisoi * log_beta)
    share = share * active
    return share / share.sum(dim=1, keepdim=True)


def assemble_system(
    decomposition_rate: torch.Tensor,
    fractions: torch.Tensor,
    transport: torch.Tensor,
    active: torch.Tensor,
) -> torch.Tensor:
    """The steady-state matrix ``A xi K + V`` (n, 140, 140), pool-major, from raw values.

    Parameters
    ----------
    decomposition_rate
        (n, 7, 20) effective rates ``xi * K`` (yr-1).
    fractions
        (n, 10) transfer fractions in :data:`TRANSFERS` order (not bounds-checked, so analytic
        cases may use zeros).
    transport
        (n, 20, 20) V of one pool (from :func:`transport_matrix`), applied to every pool but
        CWD.
    active
        (n, 20) 1 for soil layers, 0 for bedrock; bedrock states get identity rows.
    """
    n = decomposition_rate.shape[0]
    rate = decomposition_rate * active[:, None, :]
    rows, cols = _system_pattern(rate.device)
    values = [
        (rate + (1 - active[:, None, :])).reshape(n, N_STATES),
        (-fractions[:, :, None] * rate[:, [donor for _, donor, _ in TRANSFERS], :]).reshape(n, -1),
    ]
    for offset in (0, 1, -1):
        band = torch.diagonal(transport, offset=offset, dim1=1, dim2=2)
        values.append(band.repeat(1, N_POOLS - 1))
    # One scatter of the ~700 non-zeros into a zero matrix: the backward pass is a gather,
    # where in-place block writes would copy the whole (n, 140, 140) tensor once per write.
    flat = rate.new_zeros(n, N_STATES * N_STATES)
    flat = flat.index_add(1, rows * N_STATES + cols, torch.cat(values, dim=1))
    return flat.reshape(n, N_STATES, N_STATES)


def _system_pattern(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices of the non-zeros, in the order :func:`assemble_system` fills."""
    layers = torch.arange(N_LAYERS, device=device)
    states = torch.arange(N_STATES, device=device)
    rows, cols = [states], [states]
    to = torch.tensor([t for t, _, _ in TRANSFERS], device=device)
    donor = torch.tensor([d for _, d, _ in TRANSFERS], device=device)
    rows.append((to[:, None] * N_LAYERS + layers).reshape(-1))
    cols.append((donor[:, None] * N_LAYERS + layers).reshape(-1))
    soil = torch.arange(1, N_POOLS, device=device)[:, None] * N_LAYERS
    for offset in (0, 1, -1):
        first = layers[: N_LAYERS - abs(offset)] + max(-offset, 0)
        rows.append((soil + first).reshape(-1))
        cols.append((soil + first + offset).reshape(-1))
    return torch.cat(rows), torch.cat(cols)


@dataclass(frozen=True)
class Clm5SteadyState:
    """Steady state of a batch of sites and the pieces it was solved from.

    Attributes
    ----------
    pools_gc_m2
        (n, 7, 20) carbon stock per pool and layer, g C m-2 (zero in bedrock layers).
    inputs_gc_m2_yr
        (n, 7, 20) inputs ``B I`` per pool and layer, g C m-2 yr-1.
    base_rate_per_yr
        (n, 7) base decomposition rates 1/tau, yr-1.
    xi
        (n, 7, 20) annual-mean environmental scalar, depth scalar included.
    respired_fraction
        (n, 7) share of each pool's decomposition respired.
    diffusivity_m2_yr
        (n, 20) diffusivity at the bottom interface of each layer.
    active
        (n, 20) 1 for soil layers, 0 for bedrock.
    """

    pools_gc_m2: torch.Tensor
    inputs_gc_m2_yr: torch.Tensor
    base_rate_per_yr: torch.Tensor
    xi: torch.Tensor
    respired_fraction: torch.Tensor
    diffusivity_m2_yr: torch.Tensor
    active: torch.Tensor

    @property
    def decomposition_gc_m2_yr(self) -> torch.Tensor:
        """(n, 7, 20) decomposition flux ``xi K X`` per pool and layer."""
        rate = self.base_rate_per_yr[:, :, None] * self.xi * self.active[:, None, :]
        return rate * self.pools_gc_m2

    @property
    def respiration_gc_m2_yr(self) -> torch.Tensor:
        """(n, 7, 20) heterotrophic respiration per pool and layer."""
        return self.respired_fraction[:, :, None] * self.decomposition_gc_m2_yr

    @property
    def soc_gc_m3(self) -> torch.Tensor:
        """(n, 20) SOC density per layer (litter + SOM, no CWD), g C m-3."""
        _, _, dz = grid_tensors(dtype=self.pools_gc_m2.dtype, device=self.pools_gc_m2.device)
        return self.pools_gc_m2[:, SOIL_POOLS].sum(dim=1) / dz

    def soc_stock_kg_m2(self, depth_m: float) -> torch.Tensor:
        """(n,) SOC stock from the surface to ``depth_m`` (e.g. 0.3 or 1.0), kg C m-2."""
        return soc_stock_kg_m2(self.soc_gc_m3, depth_m)

    @property
    def transport_flux_gc_m2_yr(self) -> torch.Tensor:
        """(n, 20) net downward diffusive flux of soil carbon across each layer's bottom."""
        zsoi, _, dz = grid_tensors(dtype=self.pools_gc_m2.dtype, device=self.pools_gc_m2.device)
        density = self.pools_gc_m2[:, SOIL_POOLS].sum(dim=1) / dz
        g = self.diffusivity_m2_yr[:, :-1] / (zsoi[1:] - zsoi[:-1])
        flux = g * (density[:, :-1] - density[:, 1:])
        return torch.cat([flux, flux.new_zeros(flux.shape[0], 1)], dim=1)


def _check_params(params: torch.Tensor, n_sites: int) -> None:
    if params.ndim != 2 or params.shape != (n_sites, N_PARAMETERS):
        raise ConfigError(
            f"CLM5 parameters have shape {tuple(params.shape)}, expected ({n_sites}, "
            f"{N_PARAMETERS}) to match the forcings",
            field="parameters",
            fix="pass one row of physical parameters per site (see scale_parameters)",
        )
    if not params.is_floating_point():
        raise ConfigError(
            "CLM5 parameters must be a floating-point tensor",
            field="parameters",
            fix="use float32 or float64",
        )


def steady_state(params: torch.Tensor, forcings: Clm5Forcings) -> Clm5SteadyState:
    """Solve the annually averaged CLM5 matrix model for its steady state.

    Parameters
    ----------
    params
        Physical parameters (n, 21) in :data:`~geosoil.process.clm5_params.PARAMETER_NAMES`
        order (from :func:`~geosoil.process.clm5_params.scale_parameters` or
        :func:`~geosoil.process.clm5_params.merge_parameters`). Not bounds-checked here, so
        gradients flow freely; check hand-given values with ``check_parameters``.
    forcings
        Forcings of the same n sites; cast to the dtype and device of ``params``.

    Returns
    -------
    Clm5SteadyState
        Pools, inputs and the rates they came from; ``.soc_gc_m3`` is the SOC profile.
    """
    _check_params(params, forcings.n_sites)
    forcings = forcings.to(dtype=params.dtype, device=params.device)
    active = active_layers(forcings.nbedrock, dtype=params.dtype)
    base, xi = decomposition_rates_per_yr(params, forcings)
    fractions = transfer_fractions(params)
    diffusivity = diffusivity_m2_yr(params, forcings)
    system = assemble_system(
        base[:, :, None] * xi, fractions, transport_matrix(diffusivity), active
    )
    annual = torch.stack(
        [
            forcings.input_cwd_gc_m2_month.sum(dim=1),
            forcings.input_litter1_gc_m2_month.sum(dim=1),
            forcings.input_litter2_gc_m2_month.sum(dim=1),
            forcings.input_litter3_gc_m2_month.sum(dim=1),
        ],
        dim=1,
    )
    profile = input_profile(params[:, _P["beta"]], active)
    inputs = params.new_zeros(params.shape[0], N_POOLS, N_LAYERS)
    inputs[:, :4] = annual[:, :, None] * profile[:, None, :]
    pools = torch.linalg.solve(system, inputs.reshape(-1, N_STATES, 1))
    return Clm5SteadyState(
        pools_gc_m2=pools.reshape(-1, N_POOLS, N_LAYERS),
        inputs_gc_m2_yr=inputs,
        base_rate_per_yr=base,
        xi=xi,
        respired_fraction=respired_fractions(fractions),
        diffusivity_m2_yr=diffusivity,
        active=active,
    )


class Clm5Matrix(nn.Module):
    """The CLM5 matrix soil-carbon model as a module: physical parameters -> steady state.

    It has no trainable weights; it declares its parameters, states and outputs as data so
    a hybrid model (network + process) can compose it. Inputs and outputs are those of
    :func:`steady_state`.
    """

    parameter_specs = CLM5_PARAMETERS
    parameter_names = PARAMETER_NAMES
    state_names = tuple(f"{pool}_layer{j + 1}" for pool in POOL_NAMES for j in range(N_LAYERS))
    output_names = ("soc_gc_m3",)

    def forward(self, params: torch.Tensor, forcings: Clm5Forcings) -> Clm5SteadyState:
        """Steady state of the sites in ``forcings`` under physical ``params`` (n, 21)."""
        return steady_state(params, forcings)
