"""KAN layers and encoder: the basis, the fit of an additive function, read-out and plot."""

import numpy as np
import pandas as pd
import pytest
import torch

from geosoil.errors import ConfigError
from geosoil.models.soc.kan import BSplineBasis, KANEncoder, KANLayer, plot_read_out, read_out

torch.set_num_threads(1)


def r2_up_to_constant(estimate: np.ndarray, truth: np.ndarray) -> float:
    estimate, truth = estimate - estimate.mean(), truth - truth.mean()
    return 1.0 - ((estimate - truth) ** 2).sum() / (truth**2).sum()


@pytest.mark.parametrize(
    ("grid_size", "order", "input_range"), [(5, 3, (0, 1)), (4, 1, (-2, 3)), (7, 2, (0, 1))]
)
def test_basis_is_a_partition_of_unity_inside_the_range(grid_size, order, input_range):
    basis = BSplineBasis(grid_size, order, input_range)
    x = torch.linspace(*input_range, 201, dtype=torch.float64)
    values = basis(x)
    assert values.shape == (201, grid_size + order)
    assert (values >= 0).all()
    torch.testing.assert_close(values.sum(-1), torch.ones(201, dtype=torch.float64))
    # Greville abscissae reproduce the identity: what the near-linear initialization uses.
    torch.testing.assert_close(values @ basis.greville_abscissae(), x)


def test_basis_matches_the_closed_form_of_the_linear_hat():
    basis = BSplineBasis(grid_size=4, order=1)
    x = torch.tensor([0.125, 0.5, 0.8], dtype=torch.float64)
    # order 1: hats centred on the knots 0, 0.25, ..., 1
    expected = torch.clamp(1 - (x[:, None] - 0.25 * torch.arange(5)).abs() / 0.25, min=0)
    torch.testing.assert_close(basis(x), expected.to(torch.float64))


def test_inputs_outside_the_range_are_clamped():
    basis = BSplineBasis(5, 3)
    x = torch.tensor([-0.7, 0.0, 1.0, 2.5], dtype=torch.float64)
    values = basis(x)
    torch.testing.assert_close(values[0], values[1])
    torch.testing.assert_close(values[3], values[2])


def test_one_layer_recovers_the_terms_of_an_additive_function():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(256, 2, generator=generator)
    y = torch.sin(2 * torch.pi * x[:, 0]) + x[:, 1] ** 2
    encoder = KANEncoder(2, 1, grid_size=6, output="identity", seed=0)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=0.03)
    for _ in range(250):
        optimizer.zero_grad()
        loss = ((encoder(x)[:, 0] - y) ** 2).mean()
        loss.backward()
        optimizer.step()
    table = read_out(encoder, n_points=51, covariate_names=["x1", "x2"], output_names=["y"])
    truths = {"x1": lambda u: np.sin(2 * np.pi * u), "x2": lambda u: u**2}
    for name, truth in truths.items():
        part = table[table["covariate"] == name]
        assert r2_up_to_constant(part["value"].to_numpy(), truth(part["x"].to_numpy())) >= 0.95


def test_gradients_reach_the_inputs_and_every_parameter():
    encoder = KANEncoder(3, 2, hidden=4, seed=1)
    x = torch.rand(8, 3, dtype=torch.float32, requires_grad=True)
    encoder(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in encoder.parameters())


def test_layer_passes_gradcheck_in_float64():
    layer = KANLayer(2, 2, grid_size=3, generator=torch.Generator().manual_seed(2)).double()
    x = torch.rand(4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


def test_forward_is_the_sum_of_edge_activations_plus_bias():
    layer = KANLayer(3, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.3, -0.2]))
    x = torch.rand(10, 3)
    torch.testing.assert_close(layer(x), layer.edge_activations(x).sum(-1) + layer.bias)


def test_read_out_of_one_layer_matches_the_layer():
    encoder = KANEncoder(3, 2, output="identity", seed=4)
    table = read_out(encoder, n_points=11, covariate_names=["a", "b", "c"], output_names=["p", "q"])
    assert list(table.columns) == ["covariate", "output", "x", "value"]
    assert len(table) == 3 * 2 * 11
    # the outputs are the edge values summed over covariates, plus the bias
    x = torch.linspace(0, 1, 11)
    summed = table.groupby(["output", "x"], sort=False)["value"].sum().unstack("output")
    with torch.no_grad():
        direct = encoder(x[:, None].expand(-1, 3)).numpy()
        bias = encoder.layers[0].bias.numpy()
    np.testing.assert_allclose(summed[["p", "q"]].to_numpy() + bias, direct, atol=1e-5)
    single = table[(table["covariate"] == "b") & (table["output"] == "q")]["value"].to_numpy()
    with torch.no_grad():
        edges = encoder.layers[0].edge_functions(x).numpy()
    np.testing.assert_allclose(single, edges[1, 1], atol=1e-6)


def test_two_layer_read_out_is_the_partial_dependence():
    encoder = KANEncoder(3, 2, hidden=5, seed=5)
    reference = np.array([0.2, 0.4, 0.9])
    table = read_out(encoder, n_points=7, reference=reference)
    part = table[(table["covariate"] == "x2") & (table["output"] == "y1")]
    inputs = np.tile(reference, (7, 1))
    inputs[:, 2] = part["x"].to_numpy()
    with torch.no_grad():
        raw = encoder.forward_raw(torch.tensor(inputs, dtype=torch.float32))[:, 1].numpy()
    np.testing.assert_allclose(part["value"].to_numpy(), raw, atol=1e-6)
    with pytest.raises(ConfigError, match="reference must hold 3") as err:
        read_out(encoder, reference=[0.5, 0.5])
    assert err.value.field == "reference"


def test_sparsity_loss_decreases_when_weights_shrink():
    encoder = KANEncoder(4, 3, seed=6)
    before = encoder.sparsity_loss(weight_l1=1.0).item()
    with torch.no_grad():
        for layer in encoder.layers:
            layer.base_weight.mul_(0.5)
            layer.spline_weight.mul_(0.5)
    after = encoder.sparsity_loss(weight_l1=1.0).item()
    assert after == pytest.approx(before / 2, rel=1e-5)
    assert encoder.sparsity_loss(weight_l1=0.0, weight_entropy=1.0).item() > 0


def test_entropy_is_lower_when_one_edge_carries_the_signal():
    layer = KANLayer(3, 1, generator=torch.Generator().manual_seed(7))
    spread = layer.entropy_regularization().item()
    with torch.no_grad():
        layer.base_weight[:, 1:] = 0
        layer.spline_weight[:, 1:] = 0
    assert layer.entropy_regularization().item() < spread


def test_seed_makes_encoders_identical_and_leaves_global_state_alone():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a, b = KANEncoder(3, 2, hidden=4, seed=11), KANEncoder(3, 2, hidden=4, seed=11)
    assert torch.equal(torch.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    c = KANEncoder(3, 2, hidden=4, seed=12)
    assert not torch.equal(a.layers[0].spline_coef, c.layers[0].spline_coef)


@pytest.mark.parametrize("output", ["sigmoid", "hard_sigmoid"])
def test_outputs_are_squashed_into_the_unit_interval(output):
    encoder = KANEncoder(2, 3, output=output, seed=8)
    with torch.no_grad():
        for layer in encoder.layers:
            layer.base_weight.mul_(50)
            layer.bias.copy_(torch.tensor([-20.0, 0.0, 20.0]))
        x = torch.rand(64, 2) * 3 - 1  # also outside the input range
        values = encoder(x)
    assert values.min() >= 0 and values.max() <= 1
    if output == "hard_sigmoid":
        # unlike a sigmoid, the hard sigmoid reaches its bounds
        assert (values == 0).any() and (values == 1).any()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"output": "tanh"}, "params.output"),
        ({"grid_size": 0}, "params.grid_size"),
        ({"order": 0}, "params.order"),
        ({"hidden": 0}, "params.hidden"),
        ({"input_range": (1, 0)}, "params.input_range"),
    ],
)
def test_bad_settings_name_their_field(kwargs, field):
    with pytest.raises(ConfigError) as err:
        KANEncoder(2, 1, **kwargs)
    assert err.value.field == field
    assert err.value.fix


def test_wrong_input_width_is_refused():
    with pytest.raises(ConfigError, match=r"shape \(N, 3\)") as err:
        KANEncoder(3, 1)(torch.rand(4, 2))
    assert err.value.field == "covariates"
    with pytest.raises(ConfigError, match="2 names for 3 columns") as err:
        read_out(KANEncoder(3, 1), covariate_names=["a", "b"])
    assert err.value.field == "covariate_names"


def test_plot_read_out_writes_a_png(tmp_path):
    table = read_out(KANEncoder(3, 2, seed=9), n_points=21)
    path = plot_read_out(table, tmp_path / "read_out.png", covariates=["x0", "x2"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(ConfigError, match="not in the read-out table") as err:
        plot_read_out(table, tmp_path / "bad.png", outputs=["nope"])
    assert err.value.field == "outputs"
    with pytest.raises(ConfigError, match="lacks columns"):
        plot_read_out(pd.DataFrame({"x": [0.0]}), tmp_path / "bad.png")
