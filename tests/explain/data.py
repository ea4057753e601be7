"""Small spectra whose target depends on one band region only, and models trained on them.

Shared by the explain tests and the ``geosoil explain`` command tests. Spectra are 300 bands
(1000-1598 nm); each is a baseline with random offset and slope, three Gaussian features of
random depth and noise. Only the depth of the feature at 1440 nm sets the target, so a model
that learned the task must attribute its predictions to that region.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from geosoil.artifacts import Provenance, save_artifact
from geosoil.specs import OutputSpec
from geosoil.spectra import SpectralAxis

AXIS_NM = np.arange(1000.0, 1600.0, 2.0)
SIGNAL_NM = 1440.0
DISTRACTORS_NM = (1120.0, 1260.0)
REGION_HALF_WIDTH_NM = 40.0
REGION_NM = (SIGNAL_NM - REGION_HALF_WIDTH_NM, SIGNAL_NM + REGION_HALF_WIDTH_NM)
TARGET = "kex_cmol_kg"
GROUPS = ("Alfisols", "Oxisols")


def axis() -> SpectralAxis:
    return axis_of(AXIS_NM)


def axis_of(values_nm: np.ndarray) -> SpectralAxis:
    return SpectralAxis.from_values(values_nm, "nm")


def _feature(centre_nm: float, width_nm: float = 14.0) -> np.ndarray:
    return np.exp(-0.5 * ((AXIS_NM - centre_nm) / width_nm) ** 2)


def one_region_spectra(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectra (n, 300) float32, a positive target (log10-linear in the signal) and groups."""
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.0, 1.0, n)
    slope = (AXIS_NM - AXIS_NM.mean()) / np.ptp(AXIS_NM)
    X = (
        0.6
        + 0.1 * rng.normal(size=(n, 1))
        + 0.1 * rng.normal(size=(n, 1)) * slope
        + depth[:, None] * _feature(SIGNAL_NM)
        + sum(rng.uniform(0.0, 1.0, (n, 1)) * _feature(c) for c in DISTRACTORS_NM)
        + 0.01 * rng.normal(size=(n, AXIS_NM.size))
    )
    y = 10.0 ** (-0.5 + depth + 0.02 * rng.normal(size=n))
    groups = np.array(GROUPS)[np.arange(n) % len(GROUPS)]
    return X.astype(np.float32), y, groups


def fit_cnn(
    X: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    max_epochs: int,
    axis: SpectralAxis | None = None,
    **params,
):
    from geosoil.models.spectral.cnn import SpectralCNN

    settings = {
        "threads": 1,  # restored after fit: the test session keeps its own setting
        "preprocessing": [{"name": "standardize"}],
        "target_transform": "log10",
        "seed": seed,
        "max_epochs": max_epochs,
        "patience": max_epochs,
        "base_lr": 1e-3,
        "max_lr": 1e-2,
        "valid_fraction": 0.15,
        **params,
    }
    return SpectralCNN(**settings).fit(X, y, axis=axis_of(AXIS_NM) if axis is None else axis)


def save(model, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_artifact(
        model,
        path,
        input_spec=model.input_spec(),
        output_spec=OutputSpec(names=[TARGET], units=["cmol(+)/kg"], back_transform="log10"),
        provenance=Provenance(data_fingerprint="sha256:test", n_samples=model.n_train_, seed=0),
    )


def write_table(
    path: Path, X: np.ndarray, y: np.ndarray, groups: np.ndarray, *, axis_nm=AXIS_NM
) -> Path:
    """A wide Parquet table: sample_id, soil_order, the target and nm_<band> columns."""
    frame = pd.DataFrame(
        {"sample_id": [f"s{i:03d}" for i in range(len(y))], "soil_order": groups, TARGET: y}
    )
    bands = pd.DataFrame(X, columns=[f"nm_{v:g}" for v in axis_nm])
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([frame, bands], axis=1).to_parquet(path)
    return path


def write_inputs(folder: Path, *, n: int = 80, max_epochs: int = 3) -> tuple[Path, list[Path]]:
    """A spectra table and two CNN artifacts of different seeds, as ``geosoil evaluate``
    saves them (``models/cnn_seed<NN>.safetensors``); briefly trained, for the plumbing."""
    X, y, groups = one_region_spectra(n, seed=0)
    table = write_table(folder / "spectra.parquet", X, y, groups)
    models = [
        save(
            fit_cnn(X, y, seed=seed, max_epochs=max_epochs),
            folder / f"models/cnn_seed{seed:02d}.safetensors",
        )
        for seed in (0, 1)
    ]
    return table, models
