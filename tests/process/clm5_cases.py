"""Small CLM5 forcings built in memory for the process-model tests."""

from __future__ import annotations

import torch

from geosoil.process.clm5_forcing import Clm5Forcings

NO_PERMAFROST_M = 41.998


def make_forcings(
    nbedrock: list[int],
    *,
    seed: int = 0,
    altmax_m: list[float] | None = None,
    dtype: torch.dtype = torch.float64,
) -> Clm5Forcings:
    """Random but plausible forcings for ``len(nbedrock)`` sites."""
    n = len(nbedrock)
    g = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g, dtype=dtype)

    alt = NO_PERMAFROST_M if altmax_m is None else torch.tensor(altmax_m, dtype=dtype)[:, None]
    return Clm5Forcings(
        input_cwd_gc_m2_month=5 + 10 * rand(n, 12),
        input_litter1_gc_m2_month=3 + 8 * rand(n, 12),
        input_litter2_gc_m2_month=4 + 12 * rand(n, 12),
        input_litter3_gc_m2_month=2 + 6 * rand(n, 12),
        altmax_m=torch.ones(n, 12, dtype=dtype) * alt,
        nbedrock=torch.tensor(nbedrock),
        xio=0.8 + 0.2 * rand(n, 20, 12),
        xin=0.3 + 0.7 * rand(n, 20, 12),
        sand_pct=100 * rand(n, 20, 12),
        soil_temp_k=272 + 20 * rand(n, 20, 12),
        soil_water_scalar=0.1 + 0.9 * rand(n, 20, 12),
    )
