"""``geosoil train`` and ``geosoil map`` with the trust layer: what the artifact stores, the
report's interval table, and every bad input of the trust layer through the CLI."""

import json

import geopandas as gpd
import numpy as np
import pytest

from geosoil.artifacts import load_artifact

from ..conftest import CONFIGS, FAST_TRAIN, artifact_without_trust, world_overrides
from .test_bad_input import assert_clean_failure

MAP = CONFIGS / "demo" / "map.yaml"


def map_args(world_dir, out, model=None):
    flags = ["--model", model] if model is not None else []
    return [
        "map", MAP, *flags, "--covariates", world_dir / "covariates.yaml", "--out", out,
        "--set=products=[]",
    ]  # fmt: skip


def test_the_trained_artifact_stores_its_trust_layer(trained_dir):
    artifact = load_artifact(trained_dir / "model.safetensors")
    trust = artifact.trust
    names = artifact.header.input_spec.names
    assert trust.applicability.feature_names == tuple(names)
    assert trust.applicability.n_rows_total == artifact.header.provenance.n_samples
    assert len(trust.applicability.train_rows) == trust.applicability.n_rows_total
    assert trust.intervals.scheme == "spatial_block" and trust.intervals.n >= 20
    assert trust.back_transform.transform == "log10" and trust.back_transform.estimate == "median"
    assert artifact.header.trust["applicability"]["threshold"] > 0
    report = (trained_dir / "report" / "report.md").read_text()
    assert "Conformal PICP" in report and "Share inside AOA" in report
    per_scheme = json.loads((trained_dir / "report" / "trust.json").read_text())
    assert set(per_scheme) == {"random", "spatial_block"}
    for scheme in per_scheme.values():
        assert 0.75 <= scheme["conformal"]["picp"] <= 1.0
        assert scheme["conformal"]["mean_width"] > 0
        assert 0.5 <= scheme["aoa"]["share_inside"] <= 1.0


def test_intervals_or_aoa_from_an_artifact_trained_before_the_trust_layer(
    run_cli, world_dir, trained_dir, tmp_path
):
    old = artifact_without_trust(trained_dir / "model.safetensors", tmp_path / "old.safetensors")
    for part, field in (("aoa", "models.aoa"), ("intervals", "models.intervals")):
        out = tmp_path / f"m_{part}"
        result = run_cli(*map_args(world_dir, out), f"--set=models=[{{path: {old}, {part}: true}}]")
        assert_clean_failure(result, out, field, "trained before", "retrain")
    # Not asked for explicitly: the map is made without them, with a warning.
    out = tmp_path / "m"
    result = run_cli(*map_args(world_dir, out, old))
    assert result.exit_code == 0, result.output
    assert not (out / "kex_cmol_kg_aoa.tif").exists() and (out / "kex_cmol_kg.tif").exists()
    assert "retrain to get them" in result.stderr


def test_a_coverage_level_outside_zero_one(run_cli, world_dir, trained_dir, tmp_path):
    model = trained_dir / "model.safetensors"
    for level in ("1.5", "0", "1"):
        out = tmp_path / f"m{level}"
        result = run_cli(
            *map_args(world_dir, out),
            f"--set=models=[{{path: {model}, interval_level: {level}}}]",
        )
        assert_clean_failure(result, out, "models.interval_level", "strictly between 0 and 1")


def test_fewer_than_20_residuals_flag_the_artifact_and_refuse_intervals(
    run_cli, world_dir, tmp_path
):
    samples = gpd.read_parquet(world_dir / "samples.parquet").iloc[:16]
    small = tmp_path / "small.parquet"
    samples.to_parquet(small)
    train_out = tmp_path / "model"
    sets = [*world_overrides(world_dir), *FAST_TRAIN, f"samples.path={small}"]
    trained = run_cli(
        "train", CONFIGS / "demo" / "train.yaml", "--out", train_out,
        *[f"--set={s}" for s in sets], "--set=evaluation.schemes=[random]",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    model = train_out / "model.safetensors"
    trust = load_artifact(model).trust
    assert trust.intervals is None and "only 16 out-of-fold residuals" in trust.notes[0]
    assert trust.applicability is not None
    out = tmp_path / "m"
    result = run_cli(
        *map_args(world_dir, out), f"--set=models=[{{path: {model}, intervals: true}}]"
    )
    assert_clean_failure(result, out, "models.intervals", "only 16 out-of-fold residuals")


def test_mapped_intervals_bracket_the_median_and_aoa_flags_extrapolation(
    run_cli, world_dir, trained_dir, tmp_path
):
    import rasterio

    model = trained_dir / "model.safetensors"
    out = tmp_path / "m"
    assert run_cli(*map_args(world_dir, out, model)).exit_code == 0
    layers = {}
    for name in (
        "kex_cmol_kg",
        "kex_cmol_kg_lo",
        "kex_cmol_kg_hi",
        "kex_cmol_kg_di",
        "kex_cmol_kg_aoa",
    ):
        with rasterio.open(out / f"{name}.tif") as dataset:
            layers[name] = dataset.read(1, masked=True).astype(np.float64)
    kex, low, high = layers["kex_cmol_kg"], layers["kex_cmol_kg_lo"], layers["kex_cmol_kg_hi"]
    assert (low < kex).all() and (kex < high).all()
    # Symmetric on the log10 scale around the median.
    np.testing.assert_allclose(np.ma.sqrt(low * high).compressed(), kex.compressed(), rtol=1e-4)
    threshold = load_artifact(model).trust.applicability.threshold
    di, aoa = layers["kex_cmol_kg_di"], layers["kex_cmol_kg_aoa"]
    # Inside means a DI at or under the threshold (and every covariate within its range).
    assert ((aoa == 1) <= (di <= threshold)).all() and (aoa == 1).any()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trust"]["kex_cmol_kg"]["share_inside_aoa"] == pytest.approx(np.ma.mean(aoa))
    assert "conformal 90%" in summary["trust"]["kex_cmol_kg"]["interval"]["description"]
