"""The CLM5 grid (interpolation, stocks, bedrock mask) and the forcing container's checks."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from geosoil.errors import SampleDataError
from geosoil.process.clm5_grid import (
    DZ_M,
    ZISOI_M,
    ZSOI_M,
    active_layers,
    interpolate_to_depths,
    soc_stock_kg_m2,
)

from .clm5_cases import make_forcings


def test_grid_constants_are_consistent():
    tops = [0.0, *ZISOI_M[:-1]]
    for top, bottom, dz, node in zip(tops, ZISOI_M, DZ_M, ZSOI_M, strict=True):
        assert math.isclose(bottom - top, dz, abs_tol=1e-9)
        assert top < node < bottom


def test_active_layers_follow_clm5_nbedrock():
    active = active_layers(torch.tensor([1, 8, 20]))
    assert active.sum(dim=1).tolist() == [1, 8, 20]
    assert active[1, 7] == 1 and active[1, 8] == 0


def _profile(n: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return 1000 + 5000 * torch.rand(n, 20, generator=g, dtype=torch.float64)


def test_interpolation_at_nodes_returns_the_layer_values():
    soc = _profile()
    depths = torch.tensor(ZSOI_M, dtype=torch.float64).expand(2, 20)
    torch.testing.assert_close(interpolate_to_depths(soc, depths), soc)


def test_interpolation_is_linear_between_nodes_flat_at_ends_nan_on_padding():
    soc = _profile(1)
    mid = 0.5 * (ZSOI_M[4] + ZSOI_M[5])
    depths = torch.tensor([[mid, 0.001, 8.5, float("nan")]], dtype=torch.float64)
    out = interpolate_to_depths(soc, depths)
    torch.testing.assert_close(out[0, 0], 0.5 * (soc[0, 4] + soc[0, 5]))
    torch.testing.assert_close(out[0, 1], soc[0, 0])
    torch.testing.assert_close(out[0, 2], soc[0, 19])
    assert torch.isnan(out[0, 3])


def test_interpolation_refuses_depths_below_the_column_or_gives_nan():
    soc = _profile()
    depths = torch.tensor([[0.1, 9.0], [12.3, float("nan")]], dtype=torch.float64)
    with pytest.raises(SampleDataError, match=r"2 observation depth.*deepest is 12\.300") as err:
        interpolate_to_depths(soc, depths)
    assert err.value.field == "depths_m"
    out = interpolate_to_depths(soc, depths, below_column="nan")
    assert torch.isnan(out[0, 1]) and torch.isnan(out[1, 0]) and torch.isfinite(out[0, 0])


def test_interpolation_refuses_mismatched_shapes():
    with pytest.raises(SampleDataError, match="expected") as err:
        interpolate_to_depths(_profile(2), torch.zeros(3, 4))
    assert err.value.field == "depths_m"


def test_stock_of_a_uniform_profile_is_density_times_depth():
    soc = torch.full((1, 20), 8000.0, dtype=torch.float64)  # g C m-3
    torch.testing.assert_close(soc_stock_kg_m2(soc, 0.3), torch.tensor([2.4], dtype=soc.dtype))
    torch.testing.assert_close(soc_stock_kg_m2(soc, 1.0), torch.tensor([8.0], dtype=soc.dtype))
    # only the top 0.1 m of layer 5 (0.20-0.32 m) counts towards 30 cm
    one = torch.zeros(1, 20, dtype=torch.float64)
    one[0, 4] = 1000.0
    torch.testing.assert_close(soc_stock_kg_m2(one, 0.3), torch.tensor([0.1], dtype=soc.dtype))
    with pytest.raises(SampleDataError, match="outside the CLM5 column"):
        soc_stock_kg_m2(soc, 9.0)


def test_forcings_refuse_wrong_shapes_and_name_the_array():
    good = make_forcings([8, 10])
    with pytest.raises(SampleDataError, match=r"xio has shape \(2, 20, 11\).*\(n, 20, 12\)") as err:
        replace(good, xio=good.xio[:, :, :11])
    assert err.value.field == "xio"
    with pytest.raises(SampleDataError, match="holds 1 sites") as err:
        replace(good, input_cwd_gc_m2_month=good.input_cwd_gc_m2_month[:1])
    assert err.value.field == "input_cwd_gc_m2_month"


def test_forcings_refuse_bad_bedrock_and_non_finite_values():
    good = make_forcings([8, 10])
    with pytest.raises(SampleDataError, match="1..20") as err:
        replace(good, nbedrock=torch.tensor([0, 21]))
    assert err.value.field == "nbedrock"
    with pytest.raises(SampleDataError, match="whole layer") as err:
        replace(good, nbedrock=torch.tensor([8.5, 9.0]))
    assert err.value.field == "nbedrock"
    water = good.soil_water_scalar.clone()
    water[1, 3, 4] = float("nan")
    with pytest.raises(SampleDataError, match="1 site.*index 1") as err:
        replace(good, soil_water_scalar=water)
    assert err.value.field == "soil_water_scalar"


def test_float_bedrock_indices_become_integers_and_select_subsets():
    good = make_forcings([8, 10, 12])
    cast = replace(good, nbedrock=torch.tensor([8.0, 10.0, 12.0]))
    assert cast.nbedrock.dtype == torch.int64
    sub = cast.select([2])
    assert sub.n_sites == 1 and sub.nbedrock.tolist() == [12]
    assert cast.to(torch.float32).xio.dtype == torch.float32


def test_forcings_from_named_arrays_take_the_deeper_active_layer():
    import numpy as np

    from geosoil.process.clm5_forcing import Clm5Forcings

    n = 3
    arrays = {
        name: np.full((n, 12), 40.0)
        for name in ("inputs_cwd", "inputs_litter1", "inputs_litter2", "inputs_litter3")
    }
    arrays |= {name: np.full((n, 20, 12), 0.8) for name in ("xio", "xin", "soil_water")}
    arrays |= {"sand": np.full((n, 20, 12), 40.0), "soil_temp_k": np.full((n, 20, 12), 285.0)}
    arrays |= {"nbedrock": np.array([8, 12, 20])}
    arrays["altmax_current"] = np.full((n, 12), 1.0)
    arrays["altmax_lastyear"] = np.full((n, 12), 1.5)
    forcings = Clm5Forcings.from_arrays(arrays, dtype=torch.float32)
    assert forcings.n_sites == 3 and forcings.xio.dtype == torch.float32
    assert torch.all(forcings.altmax_m == 1.5) and forcings.nbedrock.tolist() == [8, 12, 20]
    del arrays["xin"]
    with pytest.raises(SampleDataError, match=r"\['xin'\] are missing") as info:
        Clm5Forcings.from_arrays(arrays)
    assert info.value.field == "forcings"
