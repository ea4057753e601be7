"""predict_map with a fitted estimator in memory, and the one-call artifact helper."""

import numpy as np
import pytest

from geosoil.artifacts import artifact_from_estimator, load_artifact
from geosoil.errors import ArtifactError
from geosoil.mapping.engine import predict_map
from geosoil.models import CovariateMLP

from .test_engine import GRID, setup  # noqa: F401  (the module's fixture)


def test_an_estimator_in_memory_maps_like_its_artifact(setup):  # noqa: F811
    stack, artifact, _ = setup
    from_file = predict_map(stack, [artifact], GRID, chunks=20)["target_units"].values
    in_memory = predict_map(stack, [artifact.estimator], GRID, chunks=20)["prediction"].values
    np.testing.assert_array_equal(in_memory, from_file)


def test_artifact_from_estimator_names_the_layer(setup, tmp_path):  # noqa: F811
    stack, artifact, _ = setup
    made = artifact_from_estimator(
        artifact.estimator, output="kex", units="cmol/kg", path=tmp_path / "kex.safetensors"
    )
    assert made.header.input_spec.names == ["a", "c", "g"]
    assert [layer.categorical for layer in made.header.input_spec.layers] == [False, True, False]
    assert load_artifact(tmp_path / "kex.safetensors").sha256 == made.sha256
    dataset = predict_map(stack, [made], GRID, chunks=20)
    assert dataset["kex"].attrs["units"] == "cmol/kg"


def test_an_unfitted_estimator_without_names_is_refused():
    with pytest.raises(ArtifactError, match="input names"):
        artifact_from_estimator(CovariateMLP(), output="kex")
