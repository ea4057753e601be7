"""``geosoil synth --library visnir|pb`` and ``--cube``: files, README, refused combinations."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio

from geosoil.io.spectra import read_spectra
from geosoil.synthetic import pb_target_set, visnir_library


def test_visnir_library_is_written_with_a_readme(run_cli, tmp_path):
    out = tmp_path / "lib"
    result = run_cli("synth", "--out", out, "--library", "visnir", "--n", 30, "--seed", 2)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "library_visnir.parquet"]
    back = read_spectra(out / "library_visnir.parquet")
    expected = visnir_library(30, seed=2)
    assert np.array_equal(back.spectra, expected.spectra)
    assert back.frame["country"].tolist() == expected.frame["country"].tolist()
    header = json.loads(pq.read_schema(out / "library_visnir.parquet").metadata[b"geosoil"])
    assert header["library"] == "visnir" and header["n_samples"] == 30 and header["seed"] == 2
    readme = (out / "README.md").read_text()
    assert "ph_h2o" in readme and "30 topsoil samples" in readme


def test_pb_set_defaults_to_130_samples(run_cli, tmp_path):
    out = tmp_path / "pb"
    result = run_cli("synth", "--out", out, "--library", "pb")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "pb_target.parquet"]
    header = json.loads(pq.read_schema(out / "pb_target.parquet").metadata[b"geosoil"])
    back = read_spectra(out / "pb_target.parquet", x_column="x", y_column="y", crs=header["crs"])
    assert len(back) == 130
    assert back.frame.crs.to_epsg() == 32654
    assert np.array_equal(back.target("pb_mg_kg"), pb_target_set(seed=0).target("pb_mg_kg"))
    assert "pb_mg_kg" in (out / "README.md").read_text()


def test_n_overrides_the_size_of_the_pb_set(run_cli, tmp_path):
    result = run_cli("synth", "--out", tmp_path / "pb", "--library", "pb", "--n", 20)
    assert result.exit_code == 0, result.output
    assert len(read_spectra(tmp_path / "pb" / "pb_target.parquet")) == 20


def test_cube_is_written_with_truth_and_a_readme(run_cli, tmp_path):
    out = tmp_path / "cube"
    result = run_cli(
        "synth", "--out", out, "--cube", "--cube-size", 12, "--band-step", 20, "--seed", 1
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "cube.hdr",
        "cube.img",
        "cube.tif",
        "truth_pb_mg_kg.tif",
        "truth_ph.tif",
        "truth_soc_g_kg.tif",
    ]
    with rasterio.open(out / "cube.tif") as src:
        assert (src.width, src.height, src.count) == (12, 12, 106)
        assert src.tags(2)["wavelength"] == "420"
    again = run_cli("synth", "--out", out, "--cube", "--cube-size", 12)
    assert again.exit_code != 0
    assert "--overwrite" in again.output


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--library", "visnir", "--cube"], "--cube"),
        (["--library", "pb", "--size", "medium"], "--size"),
        (["--cube", "--size", "small"], "--size"),
        (["--cube", "--n", "10"], "--n"),
        (["--cube-size", "16"], "--cube-size"),
        (["--library", "visnir", "--band-step", "5"], "--band-step"),
        (["--cube", "--cube-size", "4"], "--cube-size"),
    ],
)
def test_mixed_flags_are_refused(run_cli, tmp_path, args, hint):
    result = run_cli("synth", "--out", tmp_path / "x", *args)
    assert result.exit_code == 2
    assert hint in result.output
    assert not (tmp_path / "x").exists()
