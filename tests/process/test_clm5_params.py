"""The CLM5 parameter table, scaling, bounds checks and learned/fixed merging."""

from __future__ import annotations

import pytest
import torch

from geosoil.errors import ConfigError
from geosoil.process.clm5_params import (
    CLM5_PARAMETERS,
    PARAMETER_NAMES,
    check_parameters,
    merge_parameters,
    scale_parameters,
    unscale_parameters,
)

BINN_ORDER = [
    "diffus",
    "cryo",
    "q10",
    "efolding",
    "taucwd",
    "taul1",
    "taul2",
    "tau4s1",
    "tau4s2",
    "tau4s3",
    "fl1s1",
    "fl2s1",
    "fl3s2",
    "fs1s2",
    "fs1s3",
    "fs2s1",
    "fs2s3",
    "fs3s1",
    "fcwdl2",
    "w_scaling",
    "beta",
]


def test_table_is_binn_order_with_ordered_bounds():
    assert list(PARAMETER_NAMES) == BINN_ORDER
    assert all(p.lower < p.upper and p.unit and p.meaning for p in CLM5_PARAMETERS)


def test_scaling_hits_the_bounds_and_round_trips():
    lower = torch.tensor([p.lower for p in CLM5_PARAMETERS], dtype=torch.float64)
    upper = torch.tensor([p.upper for p in CLM5_PARAMETERS], dtype=torch.float64)
    ends = scale_parameters(torch.stack([torch.zeros(21), torch.ones(21)]).double())
    torch.testing.assert_close(ends[0], lower)
    torch.testing.assert_close(ends[1], upper)
    unit = torch.rand(5, 21, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(unscale_parameters(scale_parameters(unit)), unit)


def test_scaling_refuses_a_wrong_width():
    with pytest.raises(ConfigError, match="21 CLM5 parameters") as err:
        scale_parameters(torch.zeros(3, 20))
    assert err.value.field == "parameters"


def test_check_names_the_parameter_its_value_and_bounds():
    check_parameters({"tau4s3": 100.0, "beta": 0.9})
    with pytest.raises(ConfigError, match=r"tau4s3 = 500 yr is outside .*\[20, 400\]") as err:
        check_parameters({"tau4s3": 500.0})
    assert err.value.field == "parameters.tau4s3"
    with pytest.raises(ConfigError, match="unknown CLM5 parameter") as err:
        check_parameters({"tau5s9": 1.0})
    assert err.value.field == "parameters.tau5s9"
    with pytest.raises(ConfigError, match="outside") as err:
        check_parameters({"q10": float("nan")})
    assert err.value.field == "parameters.q10"


def test_merge_puts_learned_and_fixed_values_in_place():
    fixed = {p.name: 0.5 * (p.lower + p.upper) for p in CLM5_PARAMETERS}
    learned = ["q10", "tau4s3"]
    for name in learned:
        del fixed[name]
    unit = torch.tensor([[0.0, 1.0], [0.5, 0.25]], dtype=torch.float64, requires_grad=True)
    full = merge_parameters(unit, learned, fixed)
    assert full.shape == (2, 21)
    q10, tau4s3 = PARAMETER_NAMES.index("q10"), PARAMETER_NAMES.index("tau4s3")
    torch.testing.assert_close(full[:, q10], torch.tensor([1.2, 2.1], dtype=torch.float64))
    torch.testing.assert_close(full[:, tau4s3], torch.tensor([400.0, 115.0], dtype=torch.float64))
    beta = PARAMETER_NAMES.index("beta")
    assert torch.all(full[:, beta] == fixed["beta"])
    full.sum().backward()
    torch.testing.assert_close(unit.grad[0], torch.tensor([1.8, 380.0], dtype=torch.float64))


def test_merge_refuses_missing_doubled_and_out_of_bounds_parameters():
    fixed = {p.name: p.lower for p in CLM5_PARAMETERS}
    unit = torch.zeros(1, 1)
    with pytest.raises(ConfigError, match="both learned and fixed") as err:
        merge_parameters(unit, ["q10"], fixed)
    assert err.value.field == "parameters.q10"
    del fixed["q10"], fixed["beta"]
    with pytest.raises(ConfigError, match="neither learned nor fixed: beta") as err:
        merge_parameters(unit, ["q10"], fixed)
    assert err.value.field == "parameters.beta"
    fixed["beta"] = 1.5
    with pytest.raises(ConfigError, match="beta") as err:
        merge_parameters(unit, ["q10"], fixed)
    assert err.value.field == "parameters.beta"
    with pytest.raises(ConfigError, match="2 names") as err:
        merge_parameters(unit, ["q10", "beta"], {})
    assert err.value.field == "parameters"
