"""The five bulk processes of Xu et al. (2025), read off a CLM5 steady state.

Each is one number per site, defined in :func:`bulk_processes`; maps of them show *why* SOC
differs between places (transfer, decomposition, environment, input depth, transport).
"""

from __future__ import annotations

import torch

from geosoil.process.clm5 import SOIL_POOLS, Clm5SteadyState
from geosoil.process.clm5_grid import grid_tensors

__all__ = ["BULK_PROCESS_NAMES", "TOP_DEPTH_M", "bulk_processes"]

TOP_DEPTH_M = 0.3
BULK_PROCESS_NAMES = (
    "carbon_transfer_efficiency",
    "baseline_decomposition_per_yr",
    "environmental_modifier",
    "input_allocation_top30cm",
    "vertical_transport",
)


def bulk_processes(state: Clm5SteadyState) -> dict[str, torch.Tensor]:
    """The five bulk processes of Xu et al. (2025), one value per site (each (n,)).

    - ``carbon_transfer_efficiency``: share of all decomposed carbon (all pools and layers)
      passed to another pool rather than respired, ``1 - sum(respiration) / sum(xi K X)``.
    - ``baseline_decomposition_per_yr``: SOC-weighted mean base rate,
      ``sum(K_p X_pj) / sum(X_pj)`` over litter and SOM pools (the inverse of the base
      residence time of soil carbon, with all environmental scalars at 1).
    - ``environmental_modifier``: SOC-weighted mean of xi (depth scalar included),
      ``sum(xi_pj X_pj) / sum(X_pj)`` over litter and SOM pools.
    - ``input_allocation_top30cm``: share of the annual input (all four input pools) that
      enters the top 0.3 m, counting the layer that straddles 0.3 m pro rata.
    - ``vertical_transport``: net downward diffusive flux of soil carbon across 0.32 m (the
      layer interface nearest 0.3 m) as a share of the annual input.
    """
    soil = state.pools_gc_m2[:, SOIL_POOLS]
    soil_total = soil.sum(dim=(1, 2))
    decomposed = state.decomposition_gc_m2_yr.sum(dim=(1, 2))
    respired = state.respiration_gc_m2_yr.sum(dim=(1, 2))
    base = state.base_rate_per_yr[:, SOIL_POOLS, None]
    _, zisoi, dz = grid_tensors(dtype=soil.dtype, device=soil.device)
    top_share = ((torch.clamp(zisoi, max=TOP_DEPTH_M) - (zisoi - dz)).clamp(min=0)) / dz
    total_input = state.inputs_gc_m2_yr.sum(dim=(1, 2))
    top_input = (state.inputs_gc_m2_yr.sum(dim=1) * top_share).sum(dim=1)
    interface = int(torch.argmin((zisoi - TOP_DEPTH_M).abs()))
    return {
        "carbon_transfer_efficiency": 1 - respired / decomposed,
        "baseline_decomposition_per_yr": (base * soil).sum(dim=(1, 2)) / soil_total,
        "environmental_modifier": (state.xi[:, SOIL_POOLS] * soil).sum(dim=(1, 2)) / soil_total,
        "input_allocation_top30cm": top_input / total_input,
        "vertical_transport": state.transport_flux_gc_m2_yr[:, interface] / total_input,
    }
