"""The 21 parameters of the CLM5 matrix soil-carbon model, declared as data.

The table follows BINN (Xu et al. 2025) and PRODA (Tao et al. 2020): the same names, order and
bounds. A network emits values in [0, 1]; :func:`scale_parameters` maps them linearly onto the
bounds, as BINN does. Time is in years throughout (turnover times in yr, diffusivities in
m2/yr).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from geosoil.errors import ConfigError
from geosoil.process.parameters import (
    ParameterSpec,
    bounds_of,
    check_within_bounds,
    scale_to_bounds,
    unscale_from_bounds,
)

__all__ = [
    "CLM5_PARAMETERS",
    "N_PARAMETERS",
    "PARAMETER_NAMES",
    "ParameterSpec",
    "check_parameters",
    "merge_parameters",
    "parameter_bounds",
    "scale_parameters",
    "unscale_parameters",
]


CLM5_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("diffus", "m2/yr", 3e-5, 5e-4, "bioturbation diffusivity"),
    ParameterSpec("cryo", "m2/yr", 3e-5, 1.6e-3, "cryoturbation diffusivity"),
    ParameterSpec("q10", "1", 1.2, 3.0, "temperature sensitivity of decomposition"),
    ParameterSpec("efolding", "m", 0.1, 1.0, "depth e-folding of decomposition rates"),
    ParameterSpec("taucwd", "yr", 1.0, 6.0, "base turnover time of coarse woody debris"),
    ParameterSpec("taul1", "yr", 1e-4, 0.11, "base turnover time of litter 1 (metabolic)"),
    ParameterSpec("taul2", "yr", 0.1, 0.3, "base turnover time of litter 2 and 3"),
    ParameterSpec("tau4s1", "yr", 1e-4, 0.5, "base turnover time of SOM 1 (fast)"),
    ParameterSpec("tau4s2", "yr", 1.0, 10.0, "base turnover time of SOM 2 (slow)"),
    ParameterSpec("tau4s3", "yr", 20.0, 400.0, "base turnover time of SOM 3 (passive)"),
    ParameterSpec("fl1s1", "1", 0.1, 0.8, "fraction of litter 1 decomposition to SOM 1"),
    ParameterSpec("fl2s1", "1", 0.2, 0.8, "fraction of litter 2 decomposition to SOM 1"),
    ParameterSpec("fl3s2", "1", 0.2, 0.8, "fraction of litter 3 decomposition to SOM 2"),
    ParameterSpec("fs1s2", "1", 1e-4, 0.4, "fraction of SOM 1 decomposition to SOM 2"),
    ParameterSpec("fs1s3", "1", 1e-4, 0.1, "fraction of SOM 1 decomposition to SOM 3"),
    ParameterSpec("fs2s1", "1", 0.1, 0.74, "fraction of SOM 2 decomposition to SOM 1"),
    ParameterSpec("fs2s3", "1", 1e-4, 0.1, "fraction of SOM 2 decomposition to SOM 3"),
    ParameterSpec("fs3s1", "1", 1e-4, 0.9, "fraction of SOM 3 decomposition to SOM 1"),
    ParameterSpec("fcwdl2", "1", 0.5, 1.0, "fraction of CWD fragmentation to litter 2"),
    ParameterSpec("w_scaling", "1", 1e-4, 5.0, "multiplier of the soil water scalar"),
    ParameterSpec("beta", "1", 0.5, 0.9999, "root-profile shape (Jackson et al. 1996)"),
)

PARAMETER_NAMES: tuple[str, ...] = tuple(p.name for p in CLM5_PARAMETERS)
N_PARAMETERS = len(CLM5_PARAMETERS)
_INDEX = {name: i for i, name in enumerate(PARAMETER_NAMES)}


def parameter_bounds(
    *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper bounds as two tensors of shape (21,), in table order."""
    return bounds_of(CLM5_PARAMETERS, dtype=dtype, device=device)


def scale_parameters(unit01: torch.Tensor) -> torch.Tensor:
    """Map values in [0, 1] linearly onto the physical bounds.

    Parameters
    ----------
    unit01
        Tensor (..., 21) in table order; 0 gives the lower bound, 1 the upper bound.
        Values outside [0, 1] are extrapolated, not clipped (the caller's network or penalty
        keeps them inside).

    Returns
    -------
    torch.Tensor
        Physical values (..., 21), same dtype and device.
    """
    return scale_to_bounds(unit01, CLM5_PARAMETERS, model="CLM5")


def unscale_parameters(physical: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`scale_parameters`: physical values (..., 21) -> [0, 1]."""
    return unscale_from_bounds(physical, CLM5_PARAMETERS, model="CLM5")


def check_parameters(values: Mapping[str, float]) -> None:
    """Refuse hand-given physical values that are unknown or outside their bounds.

    Raises
    ------
    ConfigError
        For an unknown name, a non-finite value or a value outside the bounds; ``field`` is
        ``parameters.<name>``.
    """
    check_within_bounds(values, CLM5_PARAMETERS, model="CLM5")


def merge_parameters(
    learned_unit: torch.Tensor,
    learned_names: Sequence[str],
    fixed_physical: Mapping[str, float],
) -> torch.Tensor:
    """Full physical parameter tensor from learned unit values and fixed physical values.

    Parameters
    ----------
    learned_unit
        Tensor (batch, k) in [0, 1], one column per name in ``learned_names``.
    learned_names
        The k learned parameters, in the column order of ``learned_unit``.
    fixed_physical
        Physical values of every other parameter (checked against the bounds).

    Returns
    -------
    torch.Tensor
        Physical values (batch, 21) in table order; gradients flow to ``learned_unit``.

    Raises
    ------
    ConfigError
        When a name is unknown, learned and fixed at once, or neither learned nor fixed, or
        when the number of columns differs from the number of names.
    """
    learned_names = list(learned_names)
    if learned_unit.ndim != 2 or learned_unit.shape[1] != len(learned_names):
        raise ConfigError(
            f"learned parameters have shape {tuple(learned_unit.shape)} but "
            f"{len(learned_names)} names were given",
            field="parameters",
            fix="pass a (batch, k) tensor with one column per learned parameter name",
        )
    for name in learned_names:
        if name not in _INDEX:
            raise ConfigError(
                f"unknown CLM5 parameter {name!r}",
                field=f"parameters.{name}",
                fix=f"use one of: {', '.join(PARAMETER_NAMES)}",
            )
        if name in fixed_physical:
            raise ConfigError(
                f"CLM5 parameter {name} is both learned and fixed",
                field=f"parameters.{name}",
                fix=f"either learn {name} or give it a fixed value, not both",
            )
    check_parameters(fixed_physical)
    missing = [n for n in PARAMETER_NAMES if n not in learned_names and n not in fixed_physical]
    if missing:
        raise ConfigError(
            f"CLM5 parameters neither learned nor fixed: {', '.join(missing)}",
            field=f"parameters.{missing[0]}",
            fix="learn them or give each a fixed physical value",
        )
    lower, upper = parameter_bounds(dtype=learned_unit.dtype, device=learned_unit.device)
    columns = []
    for i, name in enumerate(PARAMETER_NAMES):
        if name in fixed_physical:
            value = torch.as_tensor(
                float(fixed_physical[name]), dtype=learned_unit.dtype, device=learned_unit.device
            )
            columns.append(value.expand(learned_unit.shape[0]))
        else:
            j = learned_names.index(name)
            columns.append(lower[i] + learned_unit[:, j] * (upper[i] - lower[i]))
    return torch.stack(columns, dim=1)
