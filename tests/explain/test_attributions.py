"""GradientShap over plain torch modules and the aggregation over seeds and groups."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from geosoil.explain import (
    ALL_GROUP,
    Attributions,
    ExplainError,
    aggregate_attributions,
    gradient_shap,
)
from geosoil.spectra import SpectralAxis

N_BANDS = 24


def linear(weights: np.ndarray, bias: float = 0.5) -> nn.Linear:
    module = nn.Linear(weights.size, 1)
    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(weights, dtype=torch.float32)[None, :])
        module.bias.fill_(bias)
    return module


def small_network(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(N_BANDS, 16), nn.Tanh(), nn.Dropout(0.3), nn.Linear(16, 8), nn.Tanh(),
        nn.Linear(8, 1),
    )  # fmt: skip


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(12, N_BANDS)).astype(np.float32)
    reference = rng.normal(size=(30, N_BANDS)).astype(np.float32)
    return inputs, reference


def test_linear_model_gets_weight_times_distance_to_the_baseline(data):
    inputs, _ = data
    weights = np.linspace(-1.0, 2.0, N_BANDS)
    baseline = inputs.mean(axis=0, keepdims=True)
    values, outputs, baseline_output = gradient_shap(
        [linear(weights)], inputs, baseline, n_samples=3, seed=4
    )
    # The gradient of a linear model is constant, so every draw gives the exact Shapley value.
    np.testing.assert_allclose(values, weights * (inputs - baseline), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs, inputs @ weights + 0.5, rtol=1e-5)
    assert baseline_output == pytest.approx(float(baseline[0] @ weights + 0.5), rel=1e-5)


def test_ensemble_attributions_are_the_mean_of_the_members(data):
    inputs, _ = data
    w1, w2 = np.linspace(0.0, 1.0, N_BANDS), np.linspace(2.0, -3.0, N_BANDS)
    baseline = np.zeros((1, N_BANDS), dtype=np.float32)
    values, outputs, _ = gradient_shap([linear(w1), linear(w2)], inputs, baseline, n_samples=2)
    np.testing.assert_allclose(values, inputs * (w1 + w2) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs, inputs @ ((w1 + w2) / 2) + 0.5, rtol=1e-5)


def test_attributions_add_up_to_output_minus_expected_baseline_output(data):
    inputs, reference = data
    network = small_network(1)
    values, outputs, baseline_output = gradient_shap(
        [network], inputs, reference, n_samples=3000, seed=0, batch_size=4096
    )
    expected = outputs - baseline_output
    gap = expected - values.sum(axis=1)
    # Monte-Carlo expectation over baselines and path points: loose, but far below the signal
    assert np.abs(gap).mean() < 0.08 * np.abs(expected).mean()
    # with few draws the same estimate is visibly noisier: the test can tell the two apart
    few, _, _ = gradient_shap([network], inputs, reference, n_samples=2, seed=0)
    assert np.abs(expected - few.sum(axis=1)).mean() > np.abs(gap).mean()


def test_same_seed_same_values_and_the_callers_random_state_is_untouched(data):
    inputs, reference = data
    network = small_network(2)
    # captum draws from numpy's legacy global generator: that is the state to protect
    np.random.seed(123)  # noqa: NPY002
    torch.manual_seed(123)
    numpy_state = np.random.get_state()[1].copy()  # noqa: NPY002
    torch_state = torch.get_rng_state().clone()
    first, _, _ = gradient_shap([network], inputs, reference, n_samples=7, seed=5, batch_size=20)
    assert np.array_equal(np.random.get_state()[1], numpy_state)  # noqa: NPY002
    assert torch.equal(torch.get_rng_state(), torch_state)
    again, _, _ = gradient_shap([network], inputs, reference, n_samples=7, seed=5, batch_size=20)
    other, _, _ = gradient_shap([network], inputs, reference, n_samples=7, seed=6, batch_size=20)
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)


def test_modules_run_in_eval_mode_and_keep_their_training_flag(data):
    inputs, reference = data
    network = small_network(3).train()
    first, outputs, _ = gradient_shap([network], inputs, reference, n_samples=4, seed=1)
    assert network.training and all(m.training for m in network.modules())
    again, outputs_again, _ = gradient_shap([network], inputs, reference, n_samples=4, seed=1)
    # dropout was off: same draws give the same numbers
    assert np.array_equal(first, again) and np.array_equal(outputs, outputs_again)


@pytest.mark.parametrize(
    ("inputs", "baselines", "match"),
    [
        (np.full((2, N_BANDS), np.nan), np.zeros((1, N_BANDS)), "inputs holds NaN"),
        (np.zeros((2, N_BANDS)), np.zeros((1, N_BANDS + 1)), "baselines have"),
        (np.zeros((0, N_BANDS)), np.zeros((1, N_BANDS)), "non-empty"),
    ],
)
def test_bad_inputs_are_refused_with_the_field(inputs, baselines, match):
    with pytest.raises(ExplainError, match=match) as info:
        gradient_shap([linear(np.ones(N_BANDS))], inputs, baselines)
    assert info.value.field in {"inputs", "baselines"} and info.value.fix


def test_no_module_is_refused():
    with pytest.raises(ExplainError, match="no network"):
        gradient_shap([], np.zeros((1, 3)), np.zeros((1, 3)))


# ----------------------------------------------------------------------------- aggregation
def run(values, axis) -> Attributions:
    values = np.asarray(values, dtype=np.float32)
    return Attributions(
        values=values,
        axis=axis,
        inputs=np.zeros_like(values),
        outputs=values.sum(axis=1).astype(np.float64),
        baseline_output=0.0,
        method="linear",
    )


@pytest.fixture
def axis():
    return SpectralAxis.from_values([3000.0, 2000.0, 1000.0], "cm-1")


def test_aggregate_means_over_samples_then_over_seeds(axis):
    seed0 = run([[1.0, -2.0, 0.0], [3.0, 2.0, 0.0], [-1.0, 0.0, 4.0]], axis)
    seed1 = run([[3.0, -2.0, 0.0], [5.0, 2.0, 0.0], [1.0, 0.0, 2.0]], axis)
    table = aggregate_attributions([seed0, seed1], groups=["b", "a", "b"])
    assert list(table.columns[:5]) == ["band", "group", "mean_abs", "sd_over_seeds", "signed_mean"]
    assert list(dict.fromkeys(table["group"])) == [ALL_GROUP, "a", "b"]
    b = table[table["group"] == "b"].reset_index(drop=True)
    np.testing.assert_array_equal(b["band"], [3000.0, 2000.0, 1000.0])
    # seed 0, group b: |.| means (1, 1, 2), signed (0, -1, 2); seed 1: (2, 1, 1), (2, -1, 1)
    np.testing.assert_allclose(b["mean_abs"], [1.5, 1.0, 1.5])
    np.testing.assert_allclose(b["signed_mean"], [1.0, -1.0, 1.5])
    np.testing.assert_allclose(b["sd_over_seeds"], np.std([[1, 1, 2], [2, 1, 1]], 0, ddof=1))
    assert (b["n_samples"] == 2).all() and (b["n_seeds"] == 2).all()
    everything = table[table["group"] == ALL_GROUP]
    assert (everything["n_samples"] == 3).all()
    # mean |phi| is never below |mean phi|
    assert (table["mean_abs"] >= table["signed_mean"].abs() - 1e-12).all()


def test_one_run_without_groups_has_one_group_and_no_spread(axis):
    table = aggregate_attributions([run([[1.0, 2.0, 3.0]], axis)])
    assert set(table["group"]) == {ALL_GROUP} and len(table) == 3
    assert table["sd_over_seeds"].isna().all()


def test_runs_on_different_axes_or_samples_are_refused(axis):
    other = SpectralAxis.from_values([3000.0, 2000.0, 1001.0], "cm-1")
    with pytest.raises(ExplainError, match="another axis"):
        aggregate_attributions([run([[1, 2, 3]], axis), run([[1, 2, 3]], other)])
    with pytest.raises(ExplainError, match="samples"):
        aggregate_attributions([run([[1, 2, 3]], axis), run([[1, 2, 3], [1, 2, 3]], axis)])
    with pytest.raises(ExplainError, match="labels"):
        aggregate_attributions([run([[1, 2, 3]], axis)], groups=["a", "b"])
    with pytest.raises(ExplainError, match="no attributions"):
        aggregate_attributions([])
