"""The attribution figure: one panel per group, PNG written atomically, bad tables refused."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from geosoil.explain import ALL_GROUP, attribution_figure_png, write_attribution_figure
from geosoil.explain.plots import _with_gaps

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def table_for(bands: np.ndarray, groups: list[str], *, n_seeds: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frames = []
    for group in groups:
        mean_abs = np.abs(rng.normal(size=bands.size))
        frames.append(
            pd.DataFrame(
                {
                    "band": bands,
                    "group": group,
                    "mean_abs": mean_abs,
                    "sd_over_seeds": 0.1 * mean_abs if n_seeds > 1 else np.nan,
                    "signed_mean": 0.5 * rng.normal(size=bands.size),
                    "n_samples": 10,
                    "n_seeds": n_seeds,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def panel_height(png: bytes) -> int:
    return imread(io.BytesIO(png), format="png").shape[0]


def test_mir_figure_has_one_panel_per_group(tmp_path):
    # a descending MIR axis with the CO2 region removed, as the default CNN preprocessing
    bands = np.arange(4000.0, 598.0, -4.0)
    bands = bands[(bands < 2269) | (bands > 2389)]
    spectra = {ALL_GROUP: (bands, np.linspace(0.2, 1.5, bands.size))}
    one = attribution_figure_png(table_for(bands, [ALL_GROUP]), axis_unit="cm-1")
    three = table_for(bands, [ALL_GROUP, "Alfisols", "Oxisols"])
    path = write_attribution_figure(
        tmp_path / "a.png",
        three,
        axis_unit="cm-1",
        mean_spectra=spectra,
        value_label="log10 Kex",
        title="Kex",
    )
    png = path.read_bytes()
    assert one.startswith(PNG_MAGIC) and png.startswith(PNG_MAGIC)
    assert panel_height(png) > 2 * panel_height(one)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # no temporary left


def test_visnir_figure_with_a_single_seed():
    bands = np.arange(400.0, 2500.0, 5.0)
    png = attribution_figure_png(table_for(bands, ["all"], n_seeds=1), axis_unit="nm")
    assert png.startswith(PNG_MAGIC)


def test_a_table_without_the_attribution_columns_is_refused():
    with pytest.raises(ValueError, match="lacks columns"):
        attribution_figure_png(pd.DataFrame({"band": [1.0], "group": ["a"]}), axis_unit="nm")


def test_dropped_regions_break_the_line_instead_of_bridging_it():
    positions = np.array([10.0, 12.0, 14.0, 30.0, 32.0, 34.0])
    x, y = _with_gaps(positions, np.ones(6))
    assert x.size == 7 and np.isnan(y).sum() == 1
    assert 14.0 < x[np.isnan(y)][0] < 30.0
    same_x, same_y = _with_gaps(positions[:3], np.ones(3))
    assert np.array_equal(same_x, positions[:3]) and not np.isnan(same_y).any()
