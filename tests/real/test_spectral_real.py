"""Real data: LimeSoDa H.138 (MIR, 138 soils), SOC on its published 10 folds.

Pins the pooled R2 measured for geosoil's PLSR (components by inner 10-fold CV, refitted)
and memory-based learning with their defaults. The full comparison with the peers is
`python benchmarks/spectral_real.py` (README, "Spectral skill on real spectra").
"""

import numpy as np
import pandas as pd
import pytest
import torch

from geosoil.models import PLSR, SpectralMBL
from geosoil.spectra import SpectralAxis

from ..conftest import real_data_dir

TABLE = real_data_dir() / "limesoda" / "H.138.parquet"

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.slow,
    pytest.mark.skipif(not TABLE.exists(), reason=f"LimeSoDa not found at {TABLE.parent}"),
]


@pytest.fixture(scope="module")
def soc():
    torch.set_num_threads(1)
    frame = pd.read_parquet(TABLE)
    columns = [c for c in frame.columns if c.startswith("wn_")]
    axis = SpectralAxis.from_values([float(c[3:]) for c in columns], "cm-1")
    return frame[columns].to_numpy(float), frame["SOC_target"].to_numpy(float), axis, frame["fold"]


def pooled_r2(make, X, y, axis, folds):
    predicted = np.empty_like(y)
    for fold in np.unique(folds):
        test = (folds == fold).to_numpy()
        predicted[test] = make().fit(X[~test], y[~test], axis=axis).predict(X[test])
    return 1 - np.sum((predicted - y) ** 2) / np.sum((y - y.mean()) ** 2)


@pytest.mark.parametrize(
    ("make", "measured"),
    [
        (lambda: PLSR(target_transform="none"), 0.940),
        (lambda: SpectralMBL(target_transform="none", k=[40, 60, 80]), 0.935),
    ],
    ids=["plsr", "mbl"],
)
def test_soc_on_the_published_folds(soc, make, measured):
    assert pooled_r2(make, *soc) == pytest.approx(measured, abs=0.01)
