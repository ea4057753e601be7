import json
import struct

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from geosoil.artifacts import Provenance, load_artifact, read_header, save_artifact
from geosoil.errors import ArtifactError, InputFileNotFoundError, RegistryError
from geosoil.models import CovariateMLP
from geosoil.specs import InputLayer, InputSpec, OutputSpec

from .models.test_estimator_contract import toy_table


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, y = toy_table()
    model = CovariateMLP(max_epochs=20, categorical_features=["c"], seed=1).fit(X, y)
    path = tmp_path_factory.mktemp("artifact") / "model.safetensors"
    save_artifact(
        model,
        path,
        input_spec=InputSpec(
            kind="covariates",
            layers=[
                InputLayer(name="a"),
                InputLayer(name="b", units="%"),
                InputLayer(name="c", categorical=True),
            ],
        ),
        output_spec=OutputSpec(names=["y"], units=["mg/kg"]),
        provenance=Provenance(data_fingerprint="sha256:test", n_samples=len(y), seed=1),
    )
    return path, model, X


def rewrite_header(source, target, edit):
    """Copy an artifact with its JSON header changed by ``edit``."""
    header = read_header(source).model_dump(mode="json")
    edit(header)
    save_file(load_file(source), target, metadata={"geosoil": json.dumps(header)})


def test_round_trip_gives_identical_predictions(saved):
    path, model, X = saved
    artifact = load_artifact(path)
    np.testing.assert_array_equal(artifact.estimator.predict(X), model.predict(X))
    assert artifact.header.estimator == "covariate_mlp"
    assert artifact.header.input_spec.names == ["a", "b", "c"]
    assert artifact.header.hyperparameters["categorical_features"] == ["c"]
    assert len(artifact.sha256) == 64


def test_artifact_is_a_plain_safetensors_file(saved):
    path, _, _ = saved
    with open(path, "rb") as handle:
        (header_size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_size))
    assert "geosoil" in header["__metadata__"]
    assert any(name.startswith("network.") for name in header)


def test_truncated_artifact(saved, tmp_path):
    path, _, _ = saved
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ArtifactError, match="truncated"):
        load_artifact(broken)


def test_unknown_estimator_is_refused_without_import(saved, tmp_path):
    path, _, _ = saved
    edited = tmp_path / "edited.safetensors"
    rewrite_header(path, edited, lambda h: h.update(estimator="os.system"))
    with pytest.raises(RegistryError, match="'os.system' is not a registered"):
        load_artifact(edited)


def test_future_schema_version(saved, tmp_path):
    path, _, _ = saved
    edited = tmp_path / "future.safetensors"
    rewrite_header(path, edited, lambda h: h.update(schema_version=99))
    with pytest.raises(ArtifactError, match="schema version 99"):
        load_artifact(edited)


def test_header_with_unknown_field(saved, tmp_path):
    path, _, _ = saved
    edited = tmp_path / "extra.safetensors"
    rewrite_header(path, edited, lambda h: h.update(__reduce__="boom"))
    with pytest.raises(ArtifactError, match="header is invalid"):
        load_artifact(edited)


def test_state_that_does_not_fit_the_network(saved, tmp_path):
    path, _, _ = saved
    edited = tmp_path / "resized.safetensors"
    rewrite_header(path, edited, lambda h: h["hyperparameters"].update(hidden_layers=[3]))
    with pytest.raises(ArtifactError, match="does not fit"):
        load_artifact(edited)


def test_not_a_geosoil_file(tmp_path):
    import torch

    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, path)
    with pytest.raises(ArtifactError, match="no 'geosoil' header"):
        load_artifact(path)


def test_missing_artifact(tmp_path):
    with pytest.raises(InputFileNotFoundError):
        load_artifact(tmp_path / "none.safetensors")


def test_save_is_atomic_on_failure(tmp_path):
    unfitted = CovariateMLP()
    target = tmp_path / "never.safetensors"
    with pytest.raises(Exception, match="not fitted"):
        save_artifact(
            unfitted,
            target,
            input_spec=InputSpec(kind="covariates"),
            output_spec=OutputSpec(names=["y"], units=[""]),
            provenance=Provenance(data_fingerprint="x", n_samples=0, seed=0),
        )
    assert list(tmp_path.iterdir()) == []
