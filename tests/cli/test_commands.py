"""The CLI end to end with the same YAML configs users run (paths redirected with --set)."""

import hashlib

import numpy as np
import rasterio
from rio_cogeo.cogeo import cog_validate

from geosoil.artifacts import read_header

from ..conftest import CONFIGS, FAST_TRAIN, world_overrides


def checksums(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_synth_is_byte_identical_for_a_seed(run_cli, tmp_path):
    for name in ("a", "b"):
        result = run_cli("synth", "--out", tmp_path / name, "--size", "small", "--seed", "0")
        assert result.exit_code == 0, result.output
    first, second = checksums(tmp_path / "a"), checksums(tmp_path / "b")
    assert first == second
    assert {"samples.parquet", "covariates.yaml", "README.md", "config.yaml"} <= set(first)
    assert any(name.startswith("covariates/") and name.endswith(".tif") for name in first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no staging left behind


def test_synth_refuses_an_unknown_size(run_cli, tmp_path):
    result = run_cli("synth", "--out", tmp_path / "w", "--size", "huge")
    assert result.exit_code != 0 and "size" in result.stderr
    assert not (tmp_path / "w").exists()


def test_train_writes_artifact_report_and_config(run_cli, world_dir, tmp_path):
    out = tmp_path / "model"
    args = [f"--set={o}" for o in (*world_overrides(world_dir), *FAST_TRAIN)]
    result = run_cli("train", CONFIGS / "demo" / "train.yaml", "--out", out, *args)
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file() and (out / "config.yaml").is_file()
    for name in ("cv_metrics.csv", "cv_predictions.csv", "observed_vs_predicted.png", "report.md"):
        assert (out / "report" / name).is_file(), name
    assert "cv random (pooled)" in result.output and "cv spatial_block (pooled)" in result.output
    header = read_header(out / "model.safetensors")
    assert header.provenance.config["samples"]["target"] == "kex_cmol_kg"
    assert {"random", "spatial_block"} <= set(header.provenance.metrics)
    # The saved config reproduces the run: same data, same seed, same model.
    again = run_cli("train", out / "config.yaml", "--out", tmp_path / "again")
    assert again.exit_code == 0, again.output
    rerun = read_header(tmp_path / "again" / "model.safetensors")
    assert rerun.provenance.data_fingerprint == header.provenance.data_fingerprint
    assert rerun.fitted_state == header.fitted_state


def test_info_summarizes_the_artifact(run_cli, trained_dir):
    result = run_cli("info", trained_dir / "model.safetensors")
    assert result.exit_code == 0, result.output
    for text in (
        "covariate_mlp",
        "kex_cmol_kg",
        "elevation_m",
        "(categorical)",
        "sha256",
        "cv random",
    ):
        assert text in result.output
    as_json = run_cli("info", "--json", trained_dir / "model.safetensors")
    assert '"schema_version": 1' in as_json.output


def test_map_writes_a_valid_cog(run_cli, world_dir, trained_dir, tmp_path):
    out = tmp_path / "map"
    result = run_cli(
        "map",
        CONFIGS / "demo" / "map.yaml",
        "--model",
        trained_dir / "model.safetensors",
        "--out",
        out,
        f"--set=covariates.catalog={world_dir / 'covariates.yaml'}",
        "--chunk",
        "64",
    )
    assert result.exit_code == 0, result.output
    cog = out / "kex_cmol_kg.tif"
    assert cog_validate(str(cog))[0]
    with (
        rasterio.open(cog) as dataset,
        rasterio.open(world_dir / "covariates" / "elevation_m.tif") as ref,
    ):
        values = dataset.read(1, masked=True)
        assert dataset.crs == ref.crs and dataset.transform == ref.transform
        assert dataset.descriptions == ("kex_cmol_kg",)
        assert dataset.nodata is not None and values.mask.any() and (~values.mask).mean() > 0.5
        assert values.min() > 0 and values.max() < 10  # plausible cmol(+)/kg
        # Nodata where the reference layer (a lake, say) is nodata.
        assert values.mask[ref.read_masks(1) == 0].all()
        assert dataset.tags()["artifact_estimator"] == "covariate_mlp"
    assert (out / "config.yaml").is_file()
    assert np.isfinite(float(result.output.split("mean ")[1].split(",")[0]))
