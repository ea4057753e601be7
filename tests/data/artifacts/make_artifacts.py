"""Write one small artifact of each registered estimator, and its predictions on fixed inputs.

Run once, from a checkout of the commit the artifacts stand for (bf55634, the last layout
before the issue-14 redesign), with that checkout's test helpers importable::

    PYTHONPATH=<old checkout> python tests/data/artifacts/make_artifacts.py <out folder>

``tests/test_old_artifacts.py`` loads each file with today's code and checks that it
predicts what it predicted when written. The fixed inputs (``inputs.npz``) and the
predictions (``expected.npz``) are plain arrays (no pickle).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tests.models.test_binn import synthetic_profiles
from tests.models.test_mdpl import FAST as MDPL_FAST
from tests.models.test_mdpl import ClosedFormSurrogate, flat_inputs, world
from tests.models.test_spectral_base import toy_spectra

from geosoil.artifacts import InputLayer, InputSpec, OutputSpec, Provenance, save_artifact
from geosoil.io.profiles import ProfileSet
from geosoil.models.registry import get_estimator_class, registered_names

SMALL = {
    "covariate_mlp": {
        "hidden_layers": (8,),
        "max_epochs": 15,
        "patience": 15,
        "categorical_features": ["c"],
        "n_members": 2,
    },
    "plsr": {"max_components": 6},
    "svr": {},
    "spectral_cnn": {"max_epochs": 3, "patience": 3, "threads": 1},
    "spectral_resnet": {"pool": 2, "max_epochs": 3, "patience": 3, "threads": 1},
    "binn": {
        "learned_parameters": ["efolding", "tau4s3"],
        "hidden_layers": (8,),
        "embedding_dim": 2,
        "batch_size": 8,
        "max_epochs": 3,
        "patience": 3,
        "threads": 1,
    },
    "sciren": {
        "learned_parameters": ["efolding", "tau4s3"],
        "batch_size": 8,
        "max_epochs": 3,
        "patience": 3,
        "threads": 1,
    },
    "mdpl": {**MDPL_FAST, "epochs": 3, "patience": 3},
}
FORCING_PREFIX = "forcing."
PROFILE_DEPTHS_M = np.array([0.05, 0.3, 1.0])


def tabular(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.uniform(0, 1, n), "c": rng.integers(1, 4, n)}
    )
    y = 4.0 + X["a"] + 3 * X["b"] ** 2 + (X["c"] == 2) * 1.5 + rng.normal(scale=0.05, size=n)
    return X, y.to_numpy()


def main(out: Path) -> None:
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    assert sorted(SMALL) == registered_names(), registered_names()
    inputs: dict[str, np.ndarray] = {}
    expected: dict[str, np.ndarray] = {}
    provenance = Provenance(data_fingerprint="tiny", n_samples=0, seed=0)

    def save(name: str, model) -> None:
        # Spectral estimators and the tabular MLP give no output spec (the train workflow
        # writes it); the process-model estimators give both.
        save_artifact(
            model,
            out / f"{name}.safetensors",
            input_spec=model.input_spec() if hasattr(model, "input_spec") else spec[name],
            output_spec=model.output_spec() if hasattr(model, "output_spec") else out_spec,
            provenance=provenance,
        )

    out_spec = OutputSpec(names=["y"], units=["-"])
    spec: dict[str, InputSpec] = {}

    # Tabular: the covariate MLP.
    X, y = tabular(60, seed=0)
    X_new, _ = tabular(7, seed=1)
    for column in X_new:
        inputs[f"table.{column}"] = X_new[column].to_numpy()
    model = get_estimator_class("covariate_mlp")(**SMALL["covariate_mlp"]).fit(X, y)
    spec["covariate_mlp"] = InputSpec(
        kind="covariates", layers=[InputLayer(name=c, categorical=c == "c") for c in X]
    )
    save("covariate_mlp", model)
    expected["covariate_mlp"] = model.predict(X_new)

    # Spectra: PLSR, SVR, CNN, ResNet with their default preprocessing.
    S, t, axis = toy_spectra(40, n_bands=300, seed=0)
    S_new, _, _ = toy_spectra(5, n_bands=300, seed=1)
    inputs["spectra"] = S_new
    inputs["spectra.axis"] = np.asarray(axis.values)
    for name in ("plsr", "svr", "spectral_cnn", "spectral_resnet"):
        model = get_estimator_class(name)(**SMALL[name]).fit(S, t, axis=axis)
        save(name, model)
        expected[name] = model.predict(S_new)

    # SOC profiles: BINN and ScIReN, predicted at fixed depths.
    profiles = synthetic_profiles(16, seed=0)
    cells = synthetic_profiles(4, seed=1)
    for column in cells.covariates:
        inputs[f"profiles.{column}"] = cells.covariates[column].to_numpy()
    for key, values in cells.forcings.items():
        inputs[f"profiles.{FORCING_PREFIX}{key}"] = np.asarray(values)
    inputs["profiles.profile_id"] = np.asarray(cells.profile_id)
    shell = ProfileSet(
        profile_id=cells.profile_id,
        covariates=cells.covariates,
        forcings=cells.forcings,
        categorical=["landuse"],
    )
    for name in ("binn", "sciren"):
        model = get_estimator_class(name)(**SMALL[name]).fit(profiles)
        save(name, model)
        expected[name] = model.predict(shell, depths=PROFILE_DEPTHS_M)

    # MdPL through a closed-form surrogate, predicted from flat map inputs.
    surrogate = ClosedFormSurrogate()
    records = world(surrogate, n_sites=6, days=3)
    model = get_estimator_class("mdpl")(**SMALL["mdpl"]).fit(records, surrogate)
    save("mdpl", model)
    flat = flat_inputs(model, records)
    inputs["mdpl.flat"] = flat
    expected["mdpl"] = model.predict_flat(flat)

    np.savez(out / "inputs.npz", **inputs)
    np.savez(out / "expected.npz", **expected)
    for path in sorted(out.glob("*.safetensors")):
        print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
