"""Real data: the CLM5 model on the binn_ny forcings (New York WoSIS profiles, CESM2 forcings)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geosoil.errors import SampleDataError
from geosoil.process import Clm5Forcings, interpolate_to_depths, scale_parameters, steady_state

from ..conftest import real_data_dir

TRAINING = real_data_dir() / "binn_ny" / "Training_Data"
N_SITES = 40

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(not TRAINING.exists(), reason=f"binn_ny data not found at {TRAINING}"),
]


def _text(name: str, rows: int | None = N_SITES) -> np.ndarray:
    return np.loadtxt(TRAINING / name, delimiter=",", max_rows=rows)


def _arrays(rows: int | None = N_SITES) -> dict[str, np.ndarray]:
    layered = {
        "xio": "xio",
        "xin": "xin",
        "sand_pct": "sand_vector",
        "soil_temp_k": "soil_temp_profile",
        "soil_water_scalar": "soil_water_profile",
    }
    arrays = {
        f"input_{pool}_gc_m2_month": _text(f"model_force_input_vector_{pool}.txt", rows)
        for pool in ("cwd", "litter1", "litter2", "litter3")
    }
    arrays["altmax_m"] = np.maximum(
        _text("model_force_altmax_current_profile.txt", rows),
        _text("model_force_altmax_lastyear_profile.txt", rows),
    )
    arrays["nbedrock"] = _text("model_force_nbedrock.txt", rows)[:, 0]
    for field, name in layered.items():
        arrays[field] = np.load(TRAINING / f"model_force_{name}.npy")[:rows]
    return arrays


def test_real_forcings_give_a_balanced_finite_steady_state():
    arrays = _arrays()
    finite = np.all([np.isfinite(a.reshape(N_SITES, -1)).all(axis=1) for a in arrays.values()], 0)
    forcings = Clm5Forcings(**{k: torch.as_tensor(v[finite]) for k, v in arrays.items()})
    n = forcings.n_sites
    assert n > N_SITES // 2
    unit = torch.rand(n, 21, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    state = steady_state(scale_parameters(0.2 + 0.6 * unit), forcings)
    torch.testing.assert_close(
        state.respiration_gc_m2_yr.sum(dim=(1, 2)), state.inputs_gc_m2_yr.sum(dim=(1, 2))
    )
    top = state.soc_gc_m3[:, 0]
    assert torch.all(torch.isfinite(state.soc_gc_m3)) and torch.all(top > 0)
    depths = torch.as_tensor(_text("obs_soc_depth.txt")[finite])
    sim = interpolate_to_depths(state.soc_gc_m3, depths, below_column="nan")
    assert torch.equal(torch.isnan(sim), torch.isnan(depths) | (depths > 8.6))


def test_real_sites_with_missing_forcings_are_refused_by_name():
    arrays = _arrays(rows=None)
    with pytest.raises(SampleDataError, match="non-finite") as err:
        Clm5Forcings(**{k: torch.as_tensor(v) for k, v in arrays.items()})
    assert err.value.field in arrays
