"""``geosoil synth --profiles soc``: the profile folder, its truth and rasters, refused flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio

from geosoil.io.catalog import read_catalog
from geosoil.io.profiles import ENV_COLUMNS, read_binn_ny
from geosoil.models.training import torch_threads
from geosoil.process import PARAMETER_NAMES
from geosoil.synthetic import soc_profile_set


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def test_profiles_are_written_with_truth_and_a_readme(run_cli, tmp_path):
    out = tmp_path / "soc"
    result = run_cli("synth", "--out", out, "--profiles", "soc", "--n", 12, "--seed", 4)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "Training_Data",
        "truth_parameters.csv",
    ]
    expected, truth = soc_profile_set(12, seed=4)
    back = read_binn_ny(out)
    assert np.array_equal(back.soc, expected.soc, equal_nan=True)
    assert np.array_equal(back.covariate_ranges, expected.covariate_ranges)
    written = pd.read_csv(out / "truth_parameters.csv", index_col="profile_id")
    assert list(written.columns) == list(PARAMETER_NAMES)
    assert np.array_equal(written.to_numpy(), truth.to_numpy())  # 17 digits: exact
    readme = (out / "README.md").read_text()
    assert "12 profiles, seed 4" in readme and "tau4s3" in readme


def test_rasters_come_with_the_profiles(run_cli, tmp_path):
    out = tmp_path / "soc"
    result = run_cli(
        "synth", "--out", out, "--profiles", "soc", "--n", 5, "--with-rasters",
        "--raster-coarsening", 10,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rasters = out / "rasters"
    assert read_catalog(rasters / "covariates.yaml").names() == list(ENV_COLUMNS)
    with rasterio.open(rasters / "truth" / "soc_stock_0_100cm_kg_m2.tif") as src:
        assert src.shape == (20, 20) and src.crs.to_epsg() == 32654
        stock = src.read(1, masked=True)
    assert stock.count() > 0 and np.all(stock.compressed() > 0)
    assert "rasters/README.md" in (out / "README.md").read_text()


def test_default_n_and_an_existing_folder(run_cli, tmp_path, monkeypatch):
    import geosoil.cli.synth as synth

    monkeypatch.setattr(synth, "SOC_DEFAULT_N", 7)
    out = tmp_path / "soc"
    assert run_cli("synth", "--out", out, "--profiles", "soc").exit_code == 0
    assert len(read_binn_ny(out).profile_id) == 7
    again = run_cli("synth", "--out", out, "--profiles", "soc")
    assert again.exit_code != 0 and "--overwrite" in again.output


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--profiles", "soc", "--library", "mir"], "--library"),
        (["--profiles", "soc", "--cube"], "--cube"),
        (["--profiles", "soc", "--size", "medium"], "--size"),
        (["--with-rasters"], "--with-rasters"),
        (["--library", "pb", "--with-rasters"], "--with-rasters"),
        (["--profiles", "soc", "--raster-coarsening", "2"], "--raster-coarsening"),
        (
            ["--profiles", "soc", "--with-rasters", "--raster-coarsening", "0"],
            "--raster-coarsening",
        ),
        (["--profiles", "dirt"], "--profiles"),
        (["--profiles", "soc", "--n", "0"], "--n"),
    ],
)
def test_bad_profile_flags_are_refused(run_cli, tmp_path, args, hint):
    result = run_cli("synth", "--out", tmp_path / "x", *args)
    assert result.exit_code == 2
    assert hint in result.output
    assert not (tmp_path / "x").exists()
