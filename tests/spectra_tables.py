"""Tiny wide MIR spectra tables written by code, for the spectral workflow and CLI tests.

Each sample mixes three Gaussian absorption bands with random amounts, plus a baseline
offset and noise; its target (think Kex, cmol(+)/kg) is ``10 ** (0.8 a1 - 0.5 a2 - 0.6)``
times log-normal noise, so a model that reads the bands on a log10 scale can learn it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

AXIS_CM1 = np.round(np.linspace(4000.0, 600.0, 300), 1)  # descending, like Bruker exports


def spectra_frame(n: int = 100, *, n_sites: int = 10, seed: int = 0) -> pd.DataFrame:
    """A wide table: sample_id, site_id, soil_order, country, kex_cmol_kg, then ``wn_<cm-1>`` bands.

    The column names are those of the synthetic MIR library that
    ``configs/kex/synthetic_evaluate.yaml`` reads.
    """
    rng = np.random.default_rng(seed)
    amounts = rng.uniform(0.0, 1.0, (n, 3))
    centres, widths = (3620.0, 1630.0, 1030.0), (40.0, 60.0, 80.0)
    bands = np.stack(
        [np.exp(-0.5 * ((AXIS_CM1 - c) / w) ** 2) for c, w in zip(centres, widths, strict=True)]
    )
    spectra = amounts @ bands + rng.normal(0.3, 0.05, (n, 1)) + rng.normal(0, 0.005, (n, 300))
    kex = 10 ** (0.8 * amounts[:, 0] - 0.5 * amounts[:, 1] - 0.6 + rng.normal(0, 0.05, n))
    site = np.arange(n) % n_sites
    frame = pd.DataFrame(
        {
            "sample_id": [f"s{i:04d}" for i in range(n)],
            "site_id": [f"site{k:02d}" for k in site],
            "soil_order": np.where(site % 3 == 0, "Alfisols", "Mollisols"),
            "country": np.where(site < n_sites // 2, "Kenya", "Ghana"),
            "kex_cmol_kg": kex,
        }
    )
    band_columns = pd.DataFrame(
        spectra.astype(np.float32), columns=[f"wn_{v:.1f}" for v in AXIS_CM1]
    )
    return pd.concat([frame, band_columns], axis=1)


def write_spectra_table(path: Path, n: int = 100, *, seed: int = 0, **changes) -> Path:
    """Write :func:`spectra_frame` as Parquet (or CSV by suffix); ``changes`` edit columns.

    A change is ``column=callable(frame) -> new values``, e.g. to put zeros in the target.
    """
    frame = spectra_frame(n, seed=seed)
    for column, change in changes.items():
        frame[column] = change(frame)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path
