"""Artifacts written before the issue-14 redesign still load and predict what they did.

``tests/data/artifacts`` holds one small artifact of each registered estimator, written by
``make_artifacts.py`` at commit bf55634, with the fixed inputs and the predictions they gave.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geosoil.artifacts import load_artifact
from geosoil.io.profiles import ProfileSet
from geosoil.models.registry import registered_names
from geosoil.spectra.axis import SpectralAxis

DATA = Path(__file__).parent / "data" / "artifacts"
PROFILE_DEPTHS_M = np.array([0.05, 0.3, 1.0])


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    with np.load(DATA / "inputs.npz", allow_pickle=False) as stored:
        return dict(stored)


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    with np.load(DATA / "expected.npz", allow_pickle=False) as stored:
        return dict(stored)


def grouped(inputs: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k.removeprefix(prefix): v for k, v in inputs.items() if k.startswith(prefix)}


def predict(name: str, estimator, inputs: dict[str, np.ndarray]) -> np.ndarray:
    if name == "covariate_mlp":
        return estimator.predict(pd.DataFrame(grouped(inputs, "table.")))
    if name in ("plsr", "svr", "spectral_cnn", "spectral_resnet"):
        axis = SpectralAxis.from_values(inputs["spectra.axis"], "cm-1")
        return estimator.predict(inputs["spectra"], axis=axis)
    if name in ("binn", "sciren"):
        table = grouped(inputs, "profiles.")
        forcings = grouped(table, "forcing.")
        table = {k: v for k, v in table.items() if not k.startswith("forcing.")}
        profile_id = table.pop("profile_id")
        cells = ProfileSet(
            profile_id=profile_id,
            covariates=pd.DataFrame(table),
            forcings=forcings,
            categorical=["landuse"],
        )
        return estimator.predict(cells, depths=PROFILE_DEPTHS_M)
    if name == "mdpl":
        return estimator.predict_flat(inputs["mdpl.flat"])
    raise AssertionError(f"no old artifact test for estimator '{name}'")


# Estimators added after the redesign have no artifact from before it.
NEWER = {
    "spectral_auto",
    "spectral_mbl",
    "spectral_pca",
    "covariate_svr",
    "gbm",
    "linear",
    "ordinary_kriging",
    "quantile_forest",
    "random_forest",
    "residual_kriging",
    "stack",
}


def test_every_registered_estimator_has_an_old_artifact():
    names = sorted(p.stem for p in DATA.glob("*.safetensors"))
    assert names == sorted(set(registered_names()) - NEWER)


@pytest.mark.parametrize("name", sorted(p.stem for p in DATA.glob("*.safetensors")))
def test_old_artifact_loads_and_predicts_as_when_written(name, inputs, expected):
    artifact = load_artifact(DATA / f"{name}.safetensors")
    assert artifact.header.estimator == name
    np.testing.assert_allclose(
        predict(name, artifact.estimator, inputs), expected[name], rtol=1e-6, atol=1e-9
    )
