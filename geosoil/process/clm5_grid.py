"""The CLM5 vertical grid of 20 soil layers, bedrock masking, and depth read-outs.

Layer ``j`` (1-based) spans the interfaces ``ZISOI_M[j-1]`` to ``ZISOI_M[j]`` (the surface is
0 m), has its node at ``ZSOI_M[j-1]`` and thickness ``DZ_M[j-1]``. The column bottom is
8.60 m.

**Bedrock.** ``nbedrock`` follows CLM5's ``col%nbedrock``: it is the 1-based index of the layer
that contains the bedrock surface, the deepest layer that still holds soil. Layers
``1..nbedrock`` are active; layers ``nbedrock+1..20`` are bedrock: they receive no input,
nothing crosses the interface at depth ``ZISOI_M[nbedrock-1]`` and they hold no carbon. So
``nbedrock = 20`` is a full column and ``nbedrock = 8`` an active column of 0.92 m.
"""

from __future__ import annotations

from typing import Literal

import torch

from geosoil.errors import SampleDataError

__all__ = [
    "COLUMN_BOTTOM_M",
    "DZ_M",
    "N_LAYERS",
    "ZISOI_M",
    "ZSOI_M",
    "active_layers",
    "grid_tensors",
    "interpolate_to_depths",
    "soc_stock_kg_m2",
]

N_LAYERS = 20
ZSOI_M: tuple[float, ...] = (
    0.01, 0.04, 0.09, 0.16, 0.26, 0.40, 0.58, 0.80, 1.06, 1.36,
    1.70, 2.08, 2.50, 2.99, 3.58, 4.27, 5.06, 5.95, 6.94, 8.03,
)  # fmt: skip
ZISOI_M: tuple[float, ...] = (
    0.02, 0.06, 0.12, 0.20, 0.32, 0.48, 0.68, 0.92, 1.20, 1.52,
    1.88, 2.28, 2.72, 3.26, 3.90, 4.64, 5.48, 6.42, 7.46, 8.60,
)  # fmt: skip
DZ_M: tuple[float, ...] = (
    0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.20, 0.24, 0.28, 0.32,
    0.36, 0.40, 0.44, 0.54, 0.64, 0.74, 0.84, 0.94, 1.04, 1.14,
)  # fmt: skip
COLUMN_BOTTOM_M = ZISOI_M[-1]


def grid_tensors(
    *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Node depths, bottom-interface depths and thicknesses (m), each of shape (20,)."""
    return tuple(torch.tensor(v, dtype=dtype, device=device) for v in (ZSOI_M, ZISOI_M, DZ_M))


def active_layers(nbedrock: torch.Tensor, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Mask (n, 20) of soil layers above bedrock: 1 for layers ``1..nbedrock``, else 0."""
    layer = torch.arange(1, N_LAYERS + 1, device=nbedrock.device)
    return (layer[None, :] <= nbedrock[:, None]).to(dtype)


def interpolate_to_depths(
    soc_layers: torch.Tensor,
    depths_m: torch.Tensor,
    *,
    below_column: Literal["error", "nan"] = "error",
) -> torch.Tensor:
    """Linear interpolation of a layer profile to observation depths.

    Between two node depths the value is linear in depth; above the first node (0-0.01 m) it
    is the first layer's value and between the last node and the column bottom (8.03-8.60 m)
    the last layer's value. Below bedrock the profile is zero, so values there come out zero
    or tapering towards zero.

    Parameters
    ----------
    soc_layers
        Tensor (n, 20), e.g. SOC density in g C m-3 per layer.
    depths_m
        Tensor (n, m) of depths in m, NaN-padded.
    below_column
        ``"error"`` (default) refuses depths below the column bottom (8.60 m); ``"nan"`` gives
        NaN there.

    Returns
    -------
    torch.Tensor
        (n, m), NaN where the depth is NaN; differentiable in ``soc_layers``.

    Raises
    ------
    SampleDataError
        For mismatched shapes, negative depths, or depths below the column with
        ``below_column="error"``.
    """
    if soc_layers.ndim != 2 or soc_layers.shape[1] != N_LAYERS:
        raise SampleDataError(
            f"soc_layers has shape {tuple(soc_layers.shape)}, expected (n, {N_LAYERS})",
            field="soc_layers",
            fix="pass one value per CLM5 layer and site",
        )
    if depths_m.ndim != 2 or depths_m.shape[0] != soc_layers.shape[0]:
        raise SampleDataError(
            f"depths_m has shape {tuple(depths_m.shape)}, expected ({soc_layers.shape[0]}, m)",
            field="depths_m",
            fix="pass one row of NaN-padded depths (m) per site",
        )
    if below_column not in ("error", "nan"):
        raise SampleDataError(
            f"below_column={below_column!r} is not one of 'error', 'nan'",
            field="below_column",
            fix="choose 'error' or 'nan'",
        )
    depths_m = depths_m.to(soc_layers.dtype)
    valid = ~torch.isnan(depths_m)
    if bool((depths_m[valid] < 0).any()):
        raise SampleDataError(
            "observation depths must be positive (m below the surface)",
            field="depths_m",
            fix="give depths in m, positive downwards",
        )
    below = valid & (depths_m > COLUMN_BOTTOM_M)
    n_below = int(below.sum())
    if n_below and below_column == "error":
        raise SampleDataError(
            f"{n_below} observation depth(s) lie below the CLM5 column bottom "
            f"({COLUMN_BOTTOM_M} m); the deepest is {float(depths_m[below].max()):.3f} m",
            field="depths_m",
            fix="drop those observations or call interpolate_to_depths(..., below_column='nan')",
        )
    zsoi, _, _ = grid_tensors(dtype=soc_layers.dtype, device=soc_layers.device)
    # Clamping to the node range gives the constant ends; NaN depths get a dummy depth.
    z = torch.where(valid, depths_m, zsoi[0]).clamp(zsoi[0], zsoi[-1])
    upper = torch.searchsorted(zsoi, z.contiguous(), right=False).clamp(1, N_LAYERS - 1)
    lower = upper - 1
    weight = (z - zsoi[lower]) / (zsoi[upper] - zsoi[lower])
    value = (
        torch.gather(soc_layers, 1, lower) * (1 - weight)
        + torch.gather(soc_layers, 1, upper) * weight
    )
    nan = torch.full_like(value, float("nan"))
    return torch.where(valid & ~below, value, nan)


def soc_stock_kg_m2(soc_layers_gc_m3: torch.Tensor, depth_m: float) -> torch.Tensor:
    """SOC stock from the surface to ``depth_m`` (kg C m-2), counting partial layers.

    Parameters
    ----------
    soc_layers_gc_m3
        SOC density per layer, (n, 20), g C m-3 (uniform within each layer).
    depth_m
        Integration depth in m, 0 < depth_m <= 8.60.

    Returns
    -------
    torch.Tensor
        (n,) stock in kg C m-2.
    """
    if not 0 < depth_m <= COLUMN_BOTTOM_M:
        raise SampleDataError(
            f"stock depth {depth_m} m is outside the CLM5 column (0, {COLUMN_BOTTOM_M}] m",
            field="depth_m",
            fix=f"choose a depth between 0 and {COLUMN_BOTTOM_M} m",
        )
    _, zisoi, dz = grid_tensors(dtype=soc_layers_gc_m3.dtype, device=soc_layers_gc_m3.device)
    top = zisoi - dz
    overlap_m = (torch.clamp(zisoi, max=depth_m) - top).clamp(min=0)
    return (soc_layers_gc_m3 * overlap_m).sum(dim=1) / 1000.0
