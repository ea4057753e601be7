"""SpectralResNet: the network of He et al. (2025), ReLU target scaling, uncertainty, artifact.

Tiny data (120 spectra x 64 bands, pool 2) and a few epochs keep each fit well under a second.
"""

import numpy as np
import pytest
import torch

from geosoil.artifacts import Provenance, load_artifact, save_artifact
from geosoil.errors import ConfigError, SampleDataError
from geosoil.explain import spectral_attributions
from geosoil.models import SpectralResNet
from geosoil.models.spectral.resnet1d import (
    ResidualBlock1d,
    SpectralResNetNetwork,
    min_input_bands,
    resnet_flattened_features,
)
from geosoil.specs import OutputSpec
from geosoil.spectra import SpectraError

from .test_spectral_base import toy_spectra

# No preprocessing: the toy target lies in absolute band strengths.
QUICK = {"preprocessing": [], "pool": 2, "max_epochs": 6, "patience": 6, "threads": 1}


@pytest.fixture(scope="module")
def data():
    return toy_spectra(n_bands=64)


@pytest.fixture(scope="module")
def fitted(data):
    X, y, axis = data
    return SpectralResNet(**QUICK).fit(X, y, axis=axis)


# -- architecture ----------------------------------------------------------------------------
def test_lengths_of_the_paper_input():
    # 2100 bands (400-2499 nm): 210 after the average pooling, 105 and 52 after the max pools.
    network = SpectralResNetNetwork(2100)
    x = torch.zeros(2, 1, 2100)
    lengths = []
    for layer in network.features[:-1]:  # all but Flatten
        x = layer(x)
        if isinstance(layer, torch.nn.AvgPool1d | torch.nn.MaxPool1d):
            lengths.append(x.shape[-1])
    assert lengths == [210, 105, 52]
    assert x.shape[1] == 32 and resnet_flattened_features(2100, 10) == 32 * 52
    assert network.head[0].in_features == 32 * 52
    network.eval()
    assert network(torch.randn(3, 1, 2100)).shape == (3, 1)


def test_layers_follow_the_paper_table():
    torch.manual_seed(0)
    network = SpectralResNetNetwork(400)
    convs = [m for m in network.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [c.out_channels for c in convs] == [48, 48, 48, 48, 48, 32]
    assert all(c.kernel_size == (3,) and c.padding == (1,) for c in convs)
    assert sum(isinstance(m, ResidualBlock1d) for m in network.modules()) == 2
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in network.modules()) == 4
    slopes = {m.negative_slope for m in network.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.01}
    linears = [m for m in network.head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(32 * 10, 16), (16, 10), (10, 1)]
    assert isinstance(network.head[-1], torch.nn.ReLU)
    assert isinstance(
        SpectralResNetNetwork(400, output_activation="identity").head[-1], torch.nn.Identity
    )
    assert set(network.layer_groups()) == {"features", "head"}
    # Kaiming normal for LeakyReLU(0.01): std = gain / sqrt(fan_in).
    gain = (2.0 / (1 + 0.01**2)) ** 0.5
    assert convs[2].weight.std().item() == pytest.approx(gain / (48 * 3) ** 0.5, rel=0.05)
    assert all(torch.all(m.bias == 0) for m in linears)


def test_residual_block_adds_its_input():
    block = ResidualBlock1d(4).eval()
    x = torch.randn(2, 4, 9)
    with torch.no_grad():
        block.conv2.weight.zero_()  # the residual branch adds nothing: output = act(x)
        torch.testing.assert_close(block(x), torch.nn.functional.leaky_relu(x, 0.01))
        block.conv2.weight.normal_()
        assert not torch.allclose(block(x), torch.nn.functional.leaky_relu(x, 0.01))


def test_relu_output_is_never_negative():
    torch.manual_seed(1)
    network = SpectralResNetNetwork(64, pool=2).eval()
    with torch.no_grad():
        out = network.standardized(torch.randn(50, 1, 64))
    assert (out >= 0).all() and (out > 0).any()


def test_mc_dropout_split_equals_the_network_without_mask():
    torch.manual_seed(2)
    network = SpectralResNetNetwork(64, pool=2, dropout=0.3).eval()
    x = torch.randn(5, 1, 64)
    with torch.no_grad():
        h = network.pre_dropout(x)
        assert h.shape == (5, network.dropout_width)
        torch.testing.assert_close(network.post_dropout(h), network.standardized(x))
        assert not torch.equal(network.post_dropout(h * 0.0), network.standardized(x))


def test_too_short_input_is_refused(data):
    X, y, axis = data
    assert min_input_bands(10) == 40
    trim = [{"name": "trim", "min": 2400, "max": 4000}]  # about 30 of the 64 bands
    with pytest.raises(SpectraError, match="at least 40 bands") as err:
        SpectralResNet(**{**QUICK, "pool": 10, "preprocessing": trim}).fit(X, y, axis=axis)
    assert err.value.field == "params.preprocessing"
    assert "pool" in err.value.fix
    with pytest.raises(ValueError, match="at least 40"):
        SpectralResNetNetwork(39)


def test_default_preprocessing_is_snv_on_both_axes():
    for unit in ("nm", "cm-1"):
        assert SpectralResNet.default_preprocessing[unit] == ({"name": "snv"},)


def test_a_fresh_relu_output_starts_at_the_mean_target():
    network = SpectralResNetNetwork(64, pool=2)
    network.start_output_at(1.7)
    out = network.eval().standardized(100.0 * torch.randn(5, 1, 64))
    torch.testing.assert_close(out, torch.full((5, 1), 1.7))


def test_percent_reflectance_trains_a_live_network(data):
    X, y, axis = data
    fitted = SpectralResNet(**{**QUICK, "preprocessing": None}).fit(100.0 * X, y, axis=axis)
    predictions = fitted.predict(100.0 * X)
    assert (predictions > 0).mean() > 0.8 and np.unique(predictions).size > len(y) // 2


# -- target scaling with a ReLU output ---------------------------------------------------------
def test_relu_target_is_scaled_not_centred(data, fitted):
    X, y, axis = data
    z = y  # refitted on all spectra (final_fit: refit), so scaled on all of them
    assert fitted.target_mean_ == 0.0
    assert fitted.target_scale_ == pytest.approx(np.sqrt(np.mean(z**2)))
    assert (fitted.predict(X) >= 0).all()
    identity = SpectralResNet(**{**QUICK, "max_epochs": 1}, output_activation="identity").fit(
        X, y, axis=axis
    )
    assert identity.target_mean_ == pytest.approx(z.mean())
    assert identity.target_scale_ == pytest.approx(z.std())


def test_negative_targets_are_refused_under_relu(data):
    X, y, axis = data
    with pytest.raises(SampleDataError, match="below 0") as err:
        SpectralResNet(**QUICK).fit(X, y - 5.0, axis=axis)
    assert err.value.field == "params.output_activation"
    assert "identity" in err.value.fix
    # log10 of values below 1 is negative too; identity takes them.
    with pytest.raises(SampleDataError, match="below 0"):
        SpectralResNet(**QUICK, target_transform="log10").fit(X, y / 100.0, axis=axis)
    SpectralResNet(**{**QUICK, "max_epochs": 1}, output_activation="identity").fit(
        X, y - 5.0, axis=axis
    )


def test_bad_hyperparameters(data):
    X, y, axis = data
    with pytest.raises(ConfigError, match="pool") as err:
        SpectralResNet(**{**QUICK, "pool": 0}).fit(X, y, axis=axis)
    assert err.value.field == "params.pool"
    with pytest.raises(ConfigError, match="output_activation") as err:
        SpectralResNet(**QUICK, output_activation="tanh").fit(X, y, axis=axis)
    assert err.value.field == "params.output_activation"
    with pytest.raises(ConfigError, match="mc_dropout needs dropout") as err:
        SpectralResNet(**QUICK, mc_dropout=4).fit(X, y, axis=axis)
    assert err.value.field == "params.dropout"


# -- training, uncertainty, artifact ---------------------------------------------------------
def test_fit_learns_and_stays_batch_independent(data):
    X, y, axis = data
    model = SpectralResNet(**{**QUICK, "max_epochs": 25, "patience": 25}).fit(X, y, axis=axis)
    X_test, y_test, _ = toy_spectra(n_bands=64, seed=7)
    prediction = model.predict(X_test)
    r2 = 1 - np.sum((prediction - y_test) ** 2) / np.sum((y_test - y_test.mean()) ** 2)
    assert r2 > 0.8
    many = np.concatenate([X_test] * 3)
    full = model.predict(many)
    np.testing.assert_array_equal(full[:120], prediction)
    np.testing.assert_array_equal(full[130:141], model.predict(many[130:141]))


def test_mc_dropout_gives_a_spread(data):
    X, y, axis = data
    model = SpectralResNet(**QUICK, output_activation="identity", dropout=0.3, mc_dropout=8).fit(
        X, y, axis=axis
    )
    mean, std, quantiles = model.predict_dist(X, levels=(0.1, 0.9))
    np.testing.assert_array_equal(mean, model.predict(X))
    assert (std > 0).all() and (quantiles[1] > quantiles[0]).all()
    again = model.predict_dist(X[3:9], levels=(0.1, 0.9))
    np.testing.assert_array_equal(again[1], std[3:9])


def test_artifact_round_trip_is_bit_identical(tmp_path, data):
    X, y, axis = data
    model = SpectralResNet(**{**QUICK, "max_epochs": 2}, n_members=2).fit(X, y, axis=axis)
    path = save_artifact(
        model,
        tmp_path / "resnet.safetensors",
        input_spec=model.input_spec(),
        output_spec=OutputSpec(names=["pb"], units=["mg/kg"]),
        provenance=Provenance(data_fingerprint="toy", n_samples=len(y), seed=0),
    )
    restored = load_artifact(path).estimator
    assert isinstance(restored, SpectralResNet) and restored.pool == 2
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    for a, b in zip(restored.predict_dist(X), model.predict_dist(X), strict=True):
        np.testing.assert_array_equal(a, b)
    assert restored.parent_sha256_ is None and restored.frozen_groups_ == []


def test_gradient_shap_attributions(data, fitted):
    X, _, _ = data
    attributions = spectral_attributions(fitted, X[:4], baselines=8, n_samples=8, seed=0)
    assert attributions.method == "gradient_shap"
    assert attributions.values.shape == (4, 64) and np.isfinite(attributions.values).all()
    assert np.abs(attributions.values).sum() > 0
    # The explained outputs are the model's own predictions (no transform: target units).
    np.testing.assert_allclose(attributions.outputs, fitted.predict(X[:4]), rtol=1e-5)
