"""The forcings of the CLM5 matrix model: a typed, batch-first container with shape checks.

The arrays are those exported from CESM2/CLM5 for BINN (see
``data/real/binn_ny/README.md``): monthly carbon inputs, active-layer depth, bedrock index and
per-layer monthly environmental scalars. The model uses their annual means (the steady state
of the annually averaged system; see :mod:`geosoil.process.clm5`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from geosoil.errors import SampleDataError
from geosoil.process.clm5_grid import N_LAYERS

__all__ = ["N_MONTHS", "Clm5Forcings"]

N_MONTHS = 12

# field name -> expected shape after the batch axis
_SHAPES: dict[str, tuple[int, ...]] = {
    "input_cwd_gc_m2_month": (N_MONTHS,),
    "input_litter1_gc_m2_month": (N_MONTHS,),
    "input_litter2_gc_m2_month": (N_MONTHS,),
    "input_litter3_gc_m2_month": (N_MONTHS,),
    "altmax_m": (N_MONTHS,),
    "nbedrock": (),
    "xio": (N_LAYERS, N_MONTHS),
    "xin": (N_LAYERS, N_MONTHS),
    "sand_pct": (N_LAYERS, N_MONTHS),
    "soil_temp_k": (N_LAYERS, N_MONTHS),
    "soil_water_scalar": (N_LAYERS, N_MONTHS),
}


@dataclass(frozen=True)
class Clm5Forcings:
    """Forcings for ``n`` sites, batch first.

    Attributes
    ----------
    input_cwd_gc_m2_month, input_litter1_gc_m2_month, input_litter2_gc_m2_month, \
input_litter3_gc_m2_month
        (n, 12) carbon input to coarse woody debris and litter 1-3 per month, integrated over
        the column, g C m-2 per month; their sum over months is the annual input.
    altmax_m
        (n, 12) maximum active-layer depth, m (41.998 m, CLM5's ground column bottom, means no
        permafrost).
    nbedrock
        (n,) integer, 1-based index of the deepest soil layer (CLM5's ``nbedrock``), 1..20;
        see :mod:`geosoil.process.clm5_grid`.
    xio, xin
        (n, 20, 12) oxygen and nitrogen scalars of decomposition, in [0, 1].
    sand_pct
        (n, 20, 12) sand content, %. Carried for completeness; the model does not use it.
    soil_temp_k
        (n, 20, 12) soil temperature, K.
    soil_water_scalar
        (n, 20, 12) CLM5 soil water scalar of decomposition, in [0, 1].

    Raises
    ------
    SampleDataError
        On construction, when an array has the wrong shape, a batch size that differs from the
        others, non-finite values, or ``nbedrock`` outside 1..20.
    """

    input_cwd_gc_m2_month: torch.Tensor
    input_litter1_gc_m2_month: torch.Tensor
    input_litter2_gc_m2_month: torch.Tensor
    input_litter3_gc_m2_month: torch.Tensor
    altmax_m: torch.Tensor
    nbedrock: torch.Tensor
    xio: torch.Tensor
    xin: torch.Tensor
    sand_pct: torch.Tensor
    soil_temp_k: torch.Tensor
    soil_water_scalar: torch.Tensor

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            expected = _SHAPES[f.name]
            if not isinstance(value, torch.Tensor):
                raise SampleDataError(
                    f"forcing {f.name} is a {type(value).__name__}, not a torch tensor",
                    field=f.name,
                    fix="convert it with torch.as_tensor(...)",
                )
            if value.ndim != 1 + len(expected) or tuple(value.shape[1:]) != expected:
                want = ", ".join(["n", *map(str, expected)])
                raise SampleDataError(
                    f"forcing {f.name} has shape {tuple(value.shape)}, expected ({want})",
                    field=f.name,
                    fix=f"pass {f.name} as a batch-first array of shape ({want})",
                )
        # nbedrock, one entry per site, sets the batch size the others must match
        n = self.nbedrock.shape[0]
        for f in fields(self):
            value = getattr(self, f.name)
            if value.shape[0] != n:
                raise SampleDataError(
                    f"forcing {f.name} holds {value.shape[0]} sites, nbedrock {n}",
                    field=f.name,
                    fix="give every forcing array the same sites in the same order",
                )
            if value.is_floating_point():
                bad = (
                    ~torch.isfinite(value).flatten(1).all(dim=1)
                    if value.ndim > 1
                    else ~torch.isfinite(value)
                )
                if bool(bad.any()):
                    raise SampleDataError(
                        f"forcing {f.name} has non-finite values at {int(bad.sum())} site(s), "
                        f"the first at index {int(bad.nonzero()[0, 0])}",
                        field=f.name,
                        fix="drop those sites before running the model",
                    )
        nb = self.nbedrock
        if nb.is_floating_point() or nb.is_complex():
            whole = torch.isfinite(nb) & (nb == torch.round(nb))
            if not bool(whole.all()):
                raise SampleDataError(
                    "nbedrock must hold whole layer indices",
                    field="nbedrock",
                    fix="pass the 1-based layer index as integers (e.g. .round().long())",
                )
            object.__setattr__(self, "nbedrock", nb.long())
        if bool(((self.nbedrock < 1) | (self.nbedrock > N_LAYERS)).any()):
            raise SampleDataError(
                f"nbedrock must lie in 1..{N_LAYERS}, got {int(self.nbedrock.min())}.."
                f"{int(self.nbedrock.max())}",
                field="nbedrock",
                fix="pass CLM5's 1-based index of the deepest soil layer",
            )

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], *, dtype: torch.dtype = torch.float64
    ) -> Clm5Forcings:
        """Forcings from arrays named as the binn_ny files (``geosoil.io.profiles``).

        ``inputs_cwd``, ``inputs_litter1..3``, ``altmax_current``, ``altmax_lastyear``,
        ``nbedrock``, ``xio``, ``xin``, ``sand``, ``soil_temp_k``, ``soil_water``. The
        active-layer depth is the larger of the current and last year's, month by month, as
        CLM5 takes it when it decides on cryoturbation.

        Raises
        ------
        SampleDataError
            A named array is missing, mis-shaped or not finite.
        """
        names = {
            "input_cwd_gc_m2_month": "inputs_cwd",
            "input_litter1_gc_m2_month": "inputs_litter1",
            "input_litter2_gc_m2_month": "inputs_litter2",
            "input_litter3_gc_m2_month": "inputs_litter3",
            "xio": "xio",
            "xin": "xin",
            "sand_pct": "sand",
            "soil_temp_k": "soil_temp_k",
            "soil_water_scalar": "soil_water",
        }
        needed = [*names.values(), "altmax_current", "altmax_lastyear", "nbedrock"]
        missing = [name for name in needed if name not in arrays]
        if missing:
            raise SampleDataError(
                f"forcing arrays {missing} are missing",
                field="forcings",
                fix=f"give every forcing of the binn_ny layout: {', '.join(needed)}",
            )

        def tensor(values) -> torch.Tensor:
            return torch.as_tensor(np.asarray(values, dtype=np.float64)).to(dtype)

        altmax = np.maximum(arrays["altmax_current"], arrays["altmax_lastyear"])
        return cls(
            **{field: tensor(arrays[name]) for field, name in names.items()},
            altmax_m=tensor(altmax),
            nbedrock=torch.as_tensor(np.asarray(arrays["nbedrock"], dtype=np.int64)),
        )

    @property
    def n_sites(self) -> int:
        """Number of sites in the batch."""
        return int(self.nbedrock.shape[0])

    def to(
        self, dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> Clm5Forcings:
        """A copy with floating arrays cast to ``dtype`` and every array moved to ``device``."""
        changes = {}
        for f in fields(self):
            value = getattr(self, f.name)
            cast = dtype if value.is_floating_point() else None
            changes[f.name] = value.to(device=device, dtype=cast)
        return replace(self, **changes)

    def select(self, index: torch.Tensor | slice | list[int]) -> Clm5Forcings:
        """The forcings of a subset of sites (index along the batch axis)."""
        return replace(self, **{f.name: getattr(self, f.name)[index] for f in fields(self)})
