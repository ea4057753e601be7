"""Transfer learning for network spectral models: ``init_from`` a parent artifact, ``freeze``.

A parent learns one property from a set of absorption bands (the "pH" of a library); the
child learns another property of the same bands (the "Pb" of a few local samples) starting
from the parent's weights. Tiny spectra and a few epochs keep each fit near a second.
"""

import logging

import numpy as np
import pytest
import torch

from geosoil.artifacts import (
    Provenance,
    file_sha256,
    load_artifact,
    load_parent_artifact,
    save_artifact,
)
from geosoil.errors import ConfigError, InputFileNotFoundError
from geosoil.models import SpectralCNN, SpectralResNet
from geosoil.specs import OutputSpec
from geosoil.spectra import SpectraError, SpectralAxis

from .test_spectral_base import FEATURES

SOURCE_WEIGHTS = np.array([1.0, 0.0, 0.5, 0.0, 0.0])
TARGET_WEIGHTS = np.array([0.0, 0.3, 1.0, 0.0, 0.5])
# Per class: spectra length and the quickest settings that train.
SETTINGS = {
    SpectralResNet: (64, {"preprocessing": [], "pool": 2, "max_epochs": 5, "threads": 1}),
    SpectralCNN: (250, {"preprocessing": [], "max_epochs": 3, "threads": 1}),
}


def shared_problem(n, n_bands, *, seed, weights, shift=0.0):
    """Spectra of five Gaussian bands with random strengths; a positive target linear in
    the strengths with ``weights`` (source and target problems share the bands)."""
    rng = np.random.default_rng(seed)
    positions = np.linspace(4000.0, 600.0, n_bands)
    strengths = rng.uniform(0.1, 1.0, (n, len(FEATURES)))
    shapes = np.stack([np.exp(-0.5 * ((positions - c) / w) ** 2) for c, w in FEATURES])
    X = strengths @ shapes + 0.2 + shift + rng.normal(0.0, 0.005, (n, n_bands))
    y = 1.0 + strengths @ weights
    return X, y, SpectralAxis.from_values(positions, "cm-1")


def save(model, path):
    return save_artifact(
        model,
        path,
        input_spec=model.input_spec(),
        output_spec=OutputSpec(names=["value"], units=["u"]),
        provenance=Provenance(data_fingerprint="toy", n_samples=model.n_train_, seed=0),
    )


@pytest.fixture(scope="module")
def parents(tmp_path_factory):
    """A pretrained parent artifact per class: the ResNet with two members and a fitted
    band standardization (whose arrays show whether the child refits them)."""
    folder = tmp_path_factory.mktemp("parents")
    out = {}
    for cls, (n_bands, quick) in SETTINGS.items():
        X, y, axis = shared_problem(120, n_bands, seed=0, weights=SOURCE_WEIGHTS)
        extra = {"n_members": 2, "preprocessing": [{"name": "standardize"}]}
        model = cls(**{**quick, **(extra if cls is SpectralResNet else {})}).fit(X, y, axis=axis)
        out[cls] = (save(model, folder / f"{cls.registry_name}.safetensors"), model)
    return out


def target_data(cls, n=60, **kwargs):
    n_bands, _ = SETTINGS[cls]
    return shared_problem(n, n_bands, seed=1, weights=TARGET_WEIGHTS, **kwargs)


def child(cls, path, **extra):
    """A model to fine-tune from the artifact at ``path``, handed over as a workflow does."""
    _, quick = SETTINGS[cls]
    model = cls(**{**quick, "init_from": str(path), **extra})
    return model.attach_parent(load_parent_artifact(path))


# -- what fine-tuning keeps and changes --------------------------------------------------------
@pytest.mark.parametrize("cls", [SpectralResNet, SpectralCNN], ids=lambda c: c.__name__)
def test_frozen_groups_stay_bit_for_bit_and_the_head_learns(parents, cls):
    path, parent = parents[cls]
    X, y, axis = target_data(cls)
    model = child(cls, path, n_members=3).fit(X, y, axis=axis)
    assert model.frozen_groups_ == ["features"]
    assert model.parent_sha256_ == file_sha256(path)
    n_parent = len(parent.networks_)
    for member, network in enumerate(model.networks_):
        source = parent.networks_[member % n_parent].state_dict()
        state = network.state_dict()
        features = [key for key in state if key.startswith("features.")]
        # BatchNorm statistics are among them: eval mode kept them from moving.
        assert any(key.endswith("running_mean") for key in features)
        for key in features:
            assert torch.equal(state[key], source[key]), key
        head_weights = [k for k in state if k.startswith("head.") and k.endswith("weight")]
        assert any(not torch.equal(state[k], source[k]) for k in head_weights)
        assert all(p.requires_grad for p in network.parameters())
    # The target scaling is this fit's, not the parent's.
    assert model.target_scale_ != parent.target_scale_
    assert float(model.networks_[0].target_scale) == pytest.approx(model.target_scale_)


def test_member_k_starts_from_parent_member_k_mod_n(parents):
    path, parent = parents[SpectralResNet]
    X, y, axis = target_data(SpectralResNet)
    model = child(SpectralResNet, path, n_members=3, max_epochs=1).fit(X, y, axis=axis)
    first_conv = "features.1.weight"
    sources = [network.state_dict()[first_conv] for network in parent.networks_]
    assert not torch.equal(sources[0], sources[1])
    for member, network in enumerate(model.networks_):
        assert torch.equal(network.state_dict()[first_conv], sources[member % 2])


def test_nothing_frozen_fine_tunes_every_layer(parents):
    path, parent = parents[SpectralResNet]
    X, y, axis = target_data(SpectralResNet)
    model = child(SpectralResNet, path, freeze=[]).fit(X, y, axis=axis)
    assert model.frozen_groups_ == []
    state, source = model.networks_[0].state_dict(), parent.networks_[0].state_dict()
    assert not torch.equal(state["features.1.weight"], source["features.1.weight"])
    assert model.parent_sha256_ == file_sha256(path)


def test_the_parents_fitted_preprocessing_is_reused(parents, caplog):
    path, parent = parents[SpectralResNet]
    X, y, axis = target_data(SpectralResNet, shift=0.3)  # a refit would move the band means
    with caplog.at_level("WARNING", logger="geosoil.models.spectral.resnet"):
        model = child(SpectralResNet, path).fit(X, y, axis=axis)
    assert model.preprocessing_.to_spec() == [{"name": "standardize"}]
    np.testing.assert_array_equal(model.transform_inputs(X), parent.transform_inputs(X))
    # preprocessing=[] was asked for but is ignored, and the user is told.
    assert any("ignored" in r.getMessage() for r in caplog.records)


def test_transferred_model_predicts(parents):
    path, _ = parents[SpectralResNet]
    X, y, axis = target_data(SpectralResNet)
    model = child(SpectralResNet, path, max_epochs=20, patience=20).fit(X, y, axis=axis)
    X_test, y_test, _ = shared_problem(40, 64, seed=5, weights=TARGET_WEIGHTS)
    prediction = model.predict(X_test)
    assert np.isfinite(prediction).all() and prediction.std() > 0
    assert np.corrcoef(prediction, y_test)[0, 1] > 0


def test_lr_find_starts_from_the_parent(parents):
    path, _ = parents[SpectralResNet]
    X, y, axis = target_data(SpectralResNet)
    model = child(SpectralResNet, path)
    result = model.lr_find(X, y, axis=axis, n_steps=15)
    assert np.isfinite(result.losses).all() and not model.is_fitted


# -- artifacts -------------------------------------------------------------------------------
def test_round_trip_keeps_the_parent(parents, tmp_path):
    path, _ = parents[SpectralResNet]
    X, y, axis = target_data(SpectralResNet)
    model = child(SpectralResNet, path, max_epochs=2).fit(X, y, axis=axis)
    loaded = load_artifact(save(model, tmp_path / "child.safetensors"))
    restored = loaded.estimator
    assert restored.parent_sha256_ == model.parent_sha256_ == file_sha256(path)
    assert restored.frozen_groups_ == ["features"]
    assert loaded.header.hyperparameters["init_from"] == str(path)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


class _BeforeTransfer:
    """Saves a SpectralCNN as geosoil did before transfer learning existed: no ``init_from``
    or ``freeze`` hyperparameters, no parent in the state."""

    registry_name = "spectral_cnn"

    def __init__(self, model):
        self.model = model

    def export_state(self):
        tensors, state = self.model.export_state()
        del state["parent_sha256"], state["frozen_groups"]
        return tensors, state

    def get_params(self):
        params = self.model.get_params()
        del params["init_from"], params["freeze"]
        return params


def test_artifact_from_before_transfer_learning_loads(parents, tmp_path):
    _, model = parents[SpectralCNN]
    X, _, _ = target_data(SpectralCNN, n=10)
    legacy = _BeforeTransfer(model)
    path = save_artifact(
        legacy,
        tmp_path / "old.safetensors",
        input_spec=model.input_spec(),
        output_spec=OutputSpec(names=["kex"], units=["cmol/kg"]),
        provenance=Provenance(data_fingerprint="toy", n_samples=120, seed=0),
    )
    loaded = load_artifact(path)
    assert "init_from" not in loaded.header.hyperparameters
    assert "parent_sha256" not in loaded.header.fitted_state
    restored = loaded.estimator
    assert restored.parent_sha256_ is None and restored.frozen_groups_ == []
    assert any(name.startswith("members.0.features.") for name in model.export_state()[0])
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


# -- refusals --------------------------------------------------------------------------------
def test_unknown_or_all_groups_are_refused(parents):
    path, _ = parents[SpectralResNet]
    X, y, axis = target_data(SpectralResNet)
    with pytest.raises(ConfigError, match="unknown layer group") as err:
        child(SpectralResNet, path, freeze=["features", "convs"]).fit(X, y, axis=axis)
    assert err.value.field == "params.freeze"
    assert "'features'" in err.value.message and "'head'" in err.value.message
    with pytest.raises(ConfigError, match="nothing would be trained") as err:
        child(SpectralResNet, path, freeze=["head", "features"]).fit(X, y, axis=axis)
    assert err.value.field == "params.freeze"
    with pytest.raises(ConfigError, match="list of layer group") as err:
        child(SpectralResNet, path, freeze="features").fit(X, y, axis=axis)
    assert err.value.field == "params.freeze"


def test_freeze_is_ignored_without_a_parent():
    X, y, axis = target_data(SpectralResNet)
    _, quick = SETTINGS[SpectralResNet]
    model = SpectralResNet(**{**quick, "max_epochs": 1}, freeze=["anything"]).fit(X, y, axis=axis)
    assert model.frozen_groups_ == [] and model.parent_sha256_ is None


def test_parent_of_another_class_is_refused(parents):
    path, _ = parents[SpectralCNN]
    X, y, axis = target_data(SpectralResNet)
    with pytest.raises(ConfigError, match="SpectralCNN artifact") as err:
        child(SpectralResNet, path).fit(X, y, axis=axis)
    assert err.value.field == "params.init_from"
    assert "SpectralResNet" in err.value.message


def test_spectra_on_another_axis_are_refused_with_the_parents_axis(parents):
    path, parent = parents[SpectralResNet]
    X, y, axis = target_data(SpectralResNet)
    shifted = SpectralAxis.from_values(axis.values - 2.0, "cm-1")
    with pytest.raises(SpectraError, match="axis of the parent") as err:
        child(SpectralResNet, path).fit(X, y, axis=shifted)
    assert err.value.field == "spectra.resample"
    assert parent.axis_.describe() in err.value.fix and "resample" in err.value.fix


def test_another_architecture_is_refused(parents):
    path, _ = parents[SpectralResNet]
    X, y, axis = target_data(SpectralResNet)
    with pytest.raises(ConfigError, match="does not fit") as err:
        child(SpectralResNet, path, pool=4).fit(X, y, axis=axis)
    assert err.value.field == "params.init_from"


def test_missing_or_badly_typed_parent(tmp_path, parents):
    X, y, axis = target_data(SpectralResNet)
    with pytest.raises(InputFileNotFoundError) as err:
        child(SpectralResNet, tmp_path / "none.safetensors").fit(X, y, axis=axis)
    assert err.value.field == "params.init_from"
    path, _ = parents[SpectralResNet]
    with pytest.raises(ConfigError, match="init_from must be") as err:
        SpectralResNet(init_from=path).fit(X, y, axis=axis)
    assert err.value.field == "params.init_from"
    with pytest.raises(ConfigError, match="none was handed to the model") as err:
        SpectralResNet(init_from=str(path)).fit(X, y, axis=axis)
    assert err.value.field == "params.init_from"


@pytest.mark.parametrize("preprocessing", [None, [{"name": "standardize"}]], ids=str)
def test_no_warning_when_preprocessing_is_the_parents(parents, caplog, preprocessing):
    path, _ = parents[SpectralResNet]
    X, y, axis = target_data(SpectralResNet)
    with caplog.at_level(logging.WARNING, logger="geosoil.models.spectral.resnet"):
        child(SpectralResNet, path, preprocessing=preprocessing, max_epochs=1).fit(X, y, axis=axis)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
