"""SpectralCNN: architecture, training loop, LR schedule and finder, uncertainty, artifact.

Tiny data (120 spectra x 300 bands) and a handful of epochs keep each fit near a second.
"""

import itertools

import numpy as np
import pytest
import torch

from geosoil.artifacts import Provenance, load_artifact, save_artifact
from geosoil.errors import ConfigError, TrainingDivergedError
from geosoil.models import SpectralCNN
from geosoil.models.spectral.cnn1d import (
    MIN_INPUT_BANDS,
    AvgPool1d3,
    SpectralCNNNetwork,
    flattened_features,
)
from geosoil.models.spectral.lr_schedule import lr_range_test, suggest_lr, triangular_lr
from geosoil.models.training import batch_slices
from geosoil.specs import OutputSpec
from geosoil.spectra import SpectraError, SpectralAxis, SpectralPipeline

from .test_spectral_base import toy_spectra

# No SNV: the toy target depends on absolute band strengths, which SNV would divide out.
QUICK = {"preprocessing": [], "max_epochs": 6, "patience": 6, "threads": 1}


@pytest.fixture(scope="module")
def data():
    return toy_spectra()


@pytest.fixture(scope="module")
def fitted(data):
    X, y, axis = data
    return SpectralCNN(**QUICK).fit(X, y, axis=axis)


# -- architecture ----------------------------------------------------------------------------
def test_lengths_shrink_only_by_pooling():
    # 1701 bands (600-4000 cm-1 every 2): 567, 189, 63, 21, 7 positions x 256 channels.
    assert flattened_features(1701) == 256 * 7
    assert flattened_features(243) == 256 and flattened_features(242) == 0
    network = SpectralCNNNetwork(1701)
    x = torch.zeros(3, 1, 1701)
    lengths = []
    for layer in network.features[:-1]:  # all but Flatten
        x = layer(x)
        if isinstance(layer, torch.nn.AvgPool1d):
            lengths.append(x.shape[-1])
    assert lengths == [567, 189, 63, 21, 7]
    network.eval()
    assert network(torch.zeros(3, 1, 1701)).shape == (3, 1)


@pytest.mark.parametrize("length", [3, 10, 17, 243])
def test_fast_pooling_equals_avg_pool(length):
    x = torch.randn(4, 5, length, dtype=torch.float64, requires_grad=True)
    reference = torch.nn.AvgPool1d(3)(x)
    fast = AvgPool1d3()(x)
    torch.testing.assert_close(fast, reference)
    weights = torch.randn_like(reference)
    (grad_reference,) = torch.autograd.grad((reference * weights).sum(), x)
    (grad_fast,) = torch.autograd.grad((fast * weights).sum(), x)
    torch.testing.assert_close(grad_fast, grad_reference)


def test_default_preprocessing_of_the_synthetic_mir_axis():
    # 600-4000 cm-1 every 2: the CO2 region 2269-2389 takes 60 bands, 1641 remain.
    axis = SpectralAxis.from_values(np.arange(600.0, 4001.0, 2.0), "cm-1")
    spectra = np.random.default_rng(0).uniform(0.1, 1.0, (3, len(axis)))
    pipeline = SpectralPipeline(SpectralCNN.default_preprocessing["cm-1"]).fit(spectra, axis)
    assert len(axis) == 1701 and len(pipeline.axis_out_) == 1641
    assert flattened_features(1641) == 256 * 6


def test_architecture_and_initialization():
    torch.manual_seed(0)
    network = SpectralCNNNetwork(400)
    convs = [m for m in network.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [c.out_channels for c in convs] == [16, 32, 64, 128, 256]
    assert all(c.bias is None and c.kernel_size == (3,) for c in convs)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in network.modules()) == 6
    head = network.head
    assert isinstance(head[0], torch.nn.Dropout) and head[0].p == 0.4
    assert (head[1].out_features, head[4].in_features, head[4].out_features) == (20, 20, 1)
    assert torch.all(head[1].bias == 0) and torch.all(head[4].bias == 0)
    # Kaiming normal for LeakyReLU(0.1): std = gain / sqrt(fan_in).
    weight = convs[-1].weight
    gain = (2.0 / (1 + 0.1**2)) ** 0.5
    assert weight.std().item() == pytest.approx(gain / (128 * 3) ** 0.5, rel=0.05)


def test_too_short_input_is_refused(data):
    X, y, axis = data
    trim = [{"name": "trim", "min": 2000, "max": 4000}]  # about 176 of the 300 bands
    with pytest.raises(SpectraError, match="at least 243 bands") as err:
        SpectralCNN(preprocessing=trim).fit(X, y, axis=axis)
    assert err.value.field == "params.preprocessing"
    assert "resample" in err.value.fix and "PLSR" in err.value.fix
    with pytest.raises(ValueError, match="243"):
        SpectralCNNNetwork(MIN_INPUT_BANDS - 1)


# -- learning-rate schedule and finder ---------------------------------------------------------
def test_triangular_lr_at_known_steps():
    lr = lambda step: triangular_lr(step, base_lr=3e-5, max_lr=1e-3, step_size_up=20)  # noqa: E731
    assert lr(0) == pytest.approx(3e-5)
    assert lr(10) == pytest.approx((3e-5 + 1e-3) / 2)
    assert lr(20) == pytest.approx(1e-3)
    assert lr(30) == pytest.approx((3e-5 + 1e-3) / 2)
    assert lr(40) == pytest.approx(3e-5)
    assert lr(60) == pytest.approx(1e-3)


def test_triangular_lr_matches_torch_cyclic_lr():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = torch.optim.lr_scheduler.CyclicLR(
        optimizer, base_lr=3e-5, max_lr=1e-3, step_size_up=7, cycle_momentum=False
    )
    for step in range(40):
        expected = optimizer.param_groups[0]["lr"]
        assert triangular_lr(step, base_lr=3e-5, max_lr=1e-3, step_size_up=7) == pytest.approx(
            expected
        )
        optimizer.step()
        scheduler.step()


def test_training_follows_the_cycle(data):
    X, y, axis = data
    # 108 training rows, batch 32: 4 minibatches, so the rate peaks after 20 (epoch 5).
    model = SpectralCNN(**{**QUICK, "max_epochs": 10, "patience": 10}).fit(X, y, axis=axis)
    lrs = [row["lr"] for row in model.history_[0]]
    expected = [
        triangular_lr(4 * epoch - 1, base_lr=3e-5, max_lr=1e-3, step_size_up=20)
        for epoch in range(1, 11)
    ]
    np.testing.assert_allclose(lrs, expected)
    assert max(lrs) == pytest.approx(triangular_lr(19, base_lr=3e-5, max_lr=1e-3, step_size_up=20))


def test_lr_range_test_on_a_known_problem():
    # A quadratic bowl trained by plain gradient steps falls fastest near lr 1 and diverges
    # beyond lr 2: the suggestion must lie inside the sweep, below the divergence.
    state = {"x": 5.0}

    def train_step(lr):
        loss = state["x"] ** 2
        state["x"] -= lr * 2 * state["x"]
        return loss

    result = lr_range_test(train_step, start_lr=1e-4, end_lr=10.0, n_steps=60)
    assert np.all(np.diff(result.lrs) > 0)
    assert len(result.lrs) < 60  # stopped at divergence
    assert 1e-2 < result.suggested_lr < 2.0
    assert suggest_lr(np.array([1.0, 2.0]), np.array([1.0, 0.5])) == 1.0
    with pytest.raises(ConfigError, match="start_lr"):
        lr_range_test(train_step, start_lr=1.0, end_lr=0.1)


def test_lr_find_suggests_a_rate_and_leaves_the_model_unfitted(data):
    X, y, axis = data
    model = SpectralCNN(**QUICK)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    result = model.lr_find(X, y, axis=axis, start_lr=1e-6, end_lr=1.0, n_steps=30)
    assert torch.equal(torch.rand(1), before)  # caller's random state untouched
    assert 1e-6 <= result.suggested_lr <= 1.0
    assert len(result.lrs) == len(result.losses) >= 10
    assert np.all(np.isfinite(result.losses))
    assert not model.is_fitted
    assert not [k for k in vars(model) if k.endswith("_")]


# -- training loop ---------------------------------------------------------------------------
def test_minibatches_never_leave_a_single_row():
    for n in range(2, 200):
        slices = batch_slices(n, 32)
        sizes = [stop - start for start, stop in slices]
        assert sum(sizes) == n and min(sizes) >= 2
        assert slices[0][0] == 0 and all(a[1] == b[0] for a, b in itertools.pairwise(slices))
    assert [b - a for a, b in batch_slices(65, 32)] == [32, 33]


def test_training_with_a_last_batch_of_one_logs_and_shows_progress(data, caplog, capsys):
    X, y, axis = data
    # 65 training rows in batches of 32 would leave one row: it joins the second batch.
    with caplog.at_level("DEBUG", logger="geosoil.models.spectral.cnn"):
        model = SpectralCNN(
            **{**QUICK, "max_epochs": 2, "progress": True, "final_fit": "validated"}
        ).fit(X[:65], y[:65], axis=axis, X_valid=X[65:75], y_valid=y[65:75])
    assert model.n_train_ == 65 and len(model.history_[0]) == 2
    epochs = [r for r in caplog.records if r.levelname == "DEBUG" and "epoch" in r.getMessage()]
    assert [r.getMessage().split()[1] for r in epochs] == ["1", "2"]
    assert "SpectralCNN" in capsys.readouterr().err  # the tqdm bar
    SpectralCNN(**{**QUICK, "max_epochs": 1}).fit(X, y, axis=axis)
    assert "SpectralCNN" not in capsys.readouterr().err  # no bar unless asked


def test_fit_learns_and_records_history(data, fitted):
    X, y, axis = data
    model = SpectralCNN(**{**QUICK, "max_epochs": 25, "patience": 25}).fit(X, y, axis=axis)
    history = model.history_[0]
    assert set(history[0]) == {"epoch", "train_loss", "valid_loss", "valid_r2", "lr"}
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    best = min(history, key=lambda row: row["valid_loss"])
    assert model.best_epochs_ == [best["epoch"]]
    X_test, y_test, _ = toy_spectra(seed=7)
    z_pred, z_test = np.log10(model.predict(X_test)), np.log10(y_test)
    r2 = 1 - np.sum((z_pred - z_test) ** 2) / np.sum((z_test - z_test.mean()) ** 2)
    assert r2 > 0.8
    assert len(fitted.networks_) == 1 and not fitted.networks_[0].training


def test_early_stopping_keeps_the_best_weights(data):
    X, y, axis = data
    X_valid, y_valid = X[:30], y[:30]
    model = SpectralCNN(
        **{**QUICK, "max_epochs": 200, "patience": 3, "max_lr": 3e-2}, final_fit="validated"
    )
    model.fit(X[30:], y[30:], axis=axis, X_valid=X_valid, y_valid=y_valid)
    assert model.refit_epochs_ is None and model.n_train_ == 90
    history = model.history_[0]
    best = model.best_epochs_[0]
    assert len(history) == best + 3 < 200  # stopped 3 epochs after the best
    # The kept network is the best epoch's: its validation loss is the recorded minimum.
    standardized = (np.log10(model.predict(X_valid)) - model.target_mean_) / model.target_scale_
    t_valid = (np.log10(y_valid) - model.target_mean_) / model.target_scale_
    valid_loss = np.mean((standardized - t_valid) ** 2)
    assert valid_loss == pytest.approx(history[best - 1]["valid_loss"], rel=1e-4)


def test_final_fit_refits_on_every_spectrum_for_the_best_epoch_count(data, caplog):
    X, y, axis = data
    settings = {**QUICK, "max_epochs": 12, "patience": 4, "n_members": 2}
    valid = {"X_valid": X[:20], "y_valid": y[:20]}
    with caplog.at_level("INFO", logger="geosoil.models.spectral.cnn"):
        refit = SpectralCNN(**settings).fit(X[20:], y[20:], axis=axis, **valid)
    validated = SpectralCNN(**settings, final_fit="validated")
    validated.fit(X[20:], y[20:], axis=axis, **valid)
    # The same early-stopping runs choose the epochs; the refit trains on all 120 spectra.
    assert refit.history_ == validated.history_
    assert refit.best_epochs_ == validated.best_epochs_
    assert refit.refit_epochs_ == refit.best_epochs_ and validated.refit_epochs_ is None
    assert (refit.n_train_, refit.n_valid_) == (120, 0)
    assert (validated.n_train_, validated.n_valid_) == (100, 20)
    # Target scaling (and preprocessing) are those of all spectra.
    assert refit.target_mean_ == pytest.approx(np.log10(y).mean())
    refits = [r.getMessage() for r in caplog.records if "refitted on all" in r.getMessage()]
    assert len(refits) == 2 and all("120 spectra" in m for m in refits)
    assert not np.array_equal(refit.predict(X), validated.predict(X))
    again = SpectralCNN(**settings).fit(X[20:], y[20:], axis=axis, **valid)
    np.testing.assert_array_equal(again.predict(X), refit.predict(X))
    with pytest.raises(ConfigError, match="final_fit") as err:
        SpectralCNN(final_fit="last").fit(X, y, axis=axis)
    assert err.value.field == "params.final_fit"


def test_fit_is_deterministic_and_restores_threads(data):
    X, y, axis = data
    threads = torch.get_num_threads()
    first = SpectralCNN(**QUICK, seed=4).fit(X, y, axis=axis)
    assert torch.get_num_threads() == threads
    second = SpectralCNN(**QUICK, seed=4).fit(X, y, axis=axis)
    other = SpectralCNN(**QUICK, seed=5).fit(X, y, axis=axis)
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    assert first.history_ == second.history_
    assert not np.array_equal(first.predict(X), other.predict(X))


def test_networks_output_the_transformed_target(data, fitted):
    X, _, _ = data
    Z = torch.from_numpy(fitted.transform_inputs(X[:10])).unsqueeze(1)
    with torch.no_grad():
        log10_kex = fitted.networks_[0](Z)[:, 0].numpy()
    np.testing.assert_allclose(10.0**log10_kex, fitted.predict(X[:10]), rtol=1e-5)


def test_prediction_does_not_depend_on_batching(data, fitted):
    X, _, _ = data
    many = np.concatenate([X] * 3)  # 360 rows: three prediction blocks of up to 128
    full = fitted.predict(many)
    assert full.dtype == np.float32 and full.shape == (360,)
    np.testing.assert_array_equal(full[:120], fitted.predict(X))
    np.testing.assert_array_equal(full[:7], fitted.predict(X[:7]))
    np.testing.assert_array_equal(full[120:190], fitted.predict(many[120:190]))
    np.testing.assert_array_equal(full[250:263], fitted.predict(many[250:263]))
    np.testing.assert_array_equal(full[:120], full[240:360])


def test_bad_hyperparameters(data):
    X, y, axis = data
    with pytest.raises(ConfigError, match="choose one source"):
        SpectralCNN(n_members=2, mc_dropout=10).fit(X, y, axis=axis)
    with pytest.raises(ConfigError, match="mc_dropout=1"):
        SpectralCNN(mc_dropout=1).fit(X, y, axis=axis)
    with pytest.raises(ConfigError, match="base_lr"):
        SpectralCNN(base_lr=1e-2, max_lr=1e-3).fit(X, y, axis=axis)
    with pytest.raises(ConfigError, match="threads"):
        SpectralCNN(**{**QUICK, "threads": 0}).fit(X, y, axis=axis)
    with pytest.raises(ConfigError, match="predict_dist needs"):
        SpectralCNN().predict_dist(X)


# -- uncertainty -----------------------------------------------------------------------------
@pytest.mark.parametrize("extra", [{"n_members": 2}, {"mc_dropout": 16}], ids=["ensemble", "mc"])
def test_predict_dist(data, extra):
    X, y, axis = data
    model = SpectralCNN(**QUICK, **extra)
    assert model.supports_dist
    model.fit(X, y, axis=axis)
    mean, std, quantiles = model.predict_dist(X, levels=(0.05, 0.5, 0.95))
    np.testing.assert_array_equal(mean, model.predict(X))
    assert mean.dtype == std.dtype == quantiles.dtype == np.float32
    assert quantiles.shape == (3, len(y)) and (std > 0).all()
    assert (np.diff(quantiles, axis=0) > 0).all()
    np.testing.assert_allclose(quantiles[1], mean, rtol=1e-6)
    # log10 target: the interval is wider above the mean than below it.
    assert np.all(quantiles[2] - mean > mean - quantiles[0])
    # Rows are independent of their batch and repeated calls agree.
    again = model.predict_dist(X[5:9], levels=(0.05, 0.5, 0.95))
    np.testing.assert_array_equal(again[1], std[5:9])
    np.testing.assert_array_equal(again[2], quantiles[:, 5:9])
    with pytest.raises(ConfigError, match="levels"):
        model.predict_dist(X, levels=(0.0, 0.5))


def test_ensemble_members_differ(data):
    X, y, axis = data
    model = SpectralCNN(**QUICK, n_members=2).fit(X, y, axis=axis)
    assert len(model.networks_) == 2 and len(model.history_) == 2
    assert not torch.equal(model.networks_[0].head[1].weight, model.networks_[1].head[1].weight)
    # Member 0 is trained exactly as a single network with the same seed.
    single = SpectralCNN(**QUICK).fit(X, y, axis=axis)
    assert model.history_[0] == single.history_[0]


# -- artifact --------------------------------------------------------------------------------
@pytest.mark.parametrize("extra", [{}, {"n_members": 2}, {"mc_dropout": 4}], ids=str)
def test_artifact_round_trip_is_bit_identical(tmp_path, data, extra):
    X, y, axis = data
    model = SpectralCNN(**{**QUICK, "max_epochs": 2}, **extra).fit(X, y, axis=axis)
    path = save_artifact(
        model,
        tmp_path / "cnn.safetensors",
        input_spec=model.input_spec(),
        output_spec=OutputSpec(names=["kex"], units=["cmol/kg"], back_transform="log10"),
        provenance=Provenance(data_fingerprint="toy", n_samples=len(y), seed=0),
        preprocessing=model.preprocessing_.to_spec(),
    )
    loaded = load_artifact(path)
    restored = loaded.estimator
    assert isinstance(restored, SpectralCNN)
    assert loaded.header.input_spec.kind == "spectra"
    assert loaded.header.input_spec.axis == axis.to_list()
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    if model.supports_dist:
        for a, b in zip(restored.predict_dist(X), model.predict_dist(X), strict=True):
            np.testing.assert_array_equal(a, b)
    assert restored.best_epochs_ == model.best_epochs_
    assert restored.refit_epochs_ == model.refit_epochs_ == model.best_epochs_
    members = loaded.header.fitted_state["members"]
    assert [m["refit_epochs"] for m in members] == model.best_epochs_
    assert loaded.header.fitted_state["final_fit"] == "refit"
    assert all(not network.training for network in restored.networks_)
    shifted = SpectralAxis.from_values(axis.values + 1.0, "cm-1")
    with pytest.raises(SpectraError, match="another axis"):
        restored.predict(X, axis=shifted)


def test_divergence_is_an_error_not_a_model(data):
    X, y, axis = data
    with pytest.raises(TrainingDivergedError, match="never finite") as err:
        SpectralCNN(**{**QUICK, "max_epochs": 3, "base_lr": 1e30, "max_lr": 1e30}).fit(
            X, y, axis=axis
        )
    assert "lower max_lr" in err.value.fix
