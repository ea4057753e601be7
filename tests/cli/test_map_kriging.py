"""Regression kriging mapped: the engine gives a residual-kriging model each pixel's centre,
so the kriged residual is on the map (and on points with ``geosoil predict``)."""

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import yaml

from geosoil.artifacts import load_artifact, read_header
from geosoil.geo.grid import Grid
from geosoil.io.catalog import read_catalog
from geosoil.mapping.job import pixel_centres
from geosoil.mapping.stack import CovariateStack
from geosoil.trust.layer import NOT_FOR_KRIGING

from ..conftest import CONFIGS, world_overrides

KRIGING = {
    "base": "linear",
    "target_transform": "log10",
    "variogram_models": ["spherical", "exponential"],
    "seed": 0,
}


def train_kriging(run_cli, world_dir, tmp_path):
    """Residual kriging (ridge + kriging) on every third sample of the world (kriging's
    leave-one-out statistics grow fast with the samples)."""
    samples = gpd.read_parquet(world_dir / "samples.parquet").iloc[::3]
    samples.to_parquet(tmp_path / "samples.parquet")
    out = tmp_path / "model"
    result = run_cli(
        "train", CONFIGS / "demo" / "train.yaml", "--out", out,
        *(f"--set={o}" for o in world_overrides(world_dir)),
        f"--set=samples.path={tmp_path / 'samples.parquet'}",
        "--set=model.estimator=residual_kriging",
        f"--set=model.params={yaml.safe_dump(KRIGING, default_flow_style=True).strip()}",
        "--set=evaluation.n_splits=3",
        "--set=evaluation.schemes=[spatial_block]",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out / "model.safetensors", samples


def test_the_map_of_a_residual_kriging_model_holds_the_kriged_residual(
    run_cli, world_dir, tmp_path
):
    kriging_model, samples = train_kriging(run_cli, world_dir, tmp_path)
    header = read_header(kriging_model)
    assert header.input_spec.names[-2:] == ["sample_x", "sample_y"]
    assert header.input_spec.crs == samples.crs.to_string()
    out = tmp_path / "map"
    result = run_cli(
        "map", CONFIGS / "demo" / "map.yaml", "--model", kriging_model, "--out", out,
        f"--set=covariates.catalog={world_dir / 'covariates.yaml'}",
        "--set=products=[]", "--chunk", "48",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # Regression kriging gets the trust layers of its learner's covariates.
    assert header.trust["notes"] == []
    assert header.trust["back_transform"]["transform"] == "log10"
    report = (kriging_model.parent / "report" / "report.md").read_text()
    assert "(log10(cmol(+)/kg) squared)" in report  # the residual variogram's scale
    assert NOT_FOR_KRIGING not in result.stderr and "trained before" not in result.stderr
    with rasterio.open(out / "kex_cmol_kg.tif") as dataset:
        mapped = dataset.read(1, masked=True)
        grid = Grid(dataset.crs.to_string(), dataset.transform, dataset.width, dataset.height)
    rows, cols = np.nonzero(~mapped.mask)
    pick = np.random.default_rng(0).choice(len(rows), 12, replace=False)
    rows, cols = rows[pick], cols[pick]
    easting, northing = pixel_centres(grid)
    model = load_artifact(kriging_model).estimator
    covariates = header.input_spec.names[:-2]
    layers = read_catalog(world_dir / "covariates.yaml").select(
        covariates, source="test", field="covariates"
    )
    stack = CovariateStack.from_layers(layers).read(grid).astype(np.float64)
    X = pd.DataFrame(
        dict(zip(covariates, stack[:, rows, cols], strict=True))
        | {"sample_x": easting[rows, cols], "sample_y": northing[rows, cols]}
    )
    direct = model.predict(X)
    np.testing.assert_allclose(mapped[rows, cols], direct, rtol=1e-5)
    # The AOA is in covariate space: the pixel coordinates are not among its inputs.
    trust = load_artifact(kriging_model).trust
    assert trust.applicability.feature_names == tuple(covariates)
    di, inside = trust.applicability.evaluate(X[covariates].to_numpy())
    with rasterio.open(out / "kex_cmol_kg_di.tif") as dataset:
        np.testing.assert_allclose(dataset.read(1)[rows, cols], di, rtol=1e-5)
    with rasterio.open(out / "kex_cmol_kg_aoa.tif") as dataset:
        np.testing.assert_array_equal(dataset.read(1)[rows, cols], inside.astype(np.uint8))
    with rasterio.open(out / "kex_cmol_kg_lo.tif") as dataset:
        assert (dataset.read(1)[rows, cols] < direct).all()
    with rasterio.open(out / "kex_cmol_kg_hi.tif") as dataset:
        assert (direct < dataset.read(1)[rows, cols]).all()
    # The map is the learner's trend plus the kriged residual, which is not zero.
    residual = model.kriging_.predict(X)
    trend = model.base_.predict(X[covariates])
    # Both on the learner's log10 scale, back-transformed after the sum.
    np.testing.assert_allclose(mapped[rows, cols], 10 ** (np.log10(trend) + residual), rtol=1e-4)
    assert np.abs(residual).max() > 1e-3 and mapped.min() > 0

    # geosoil predict at points: the coordinates come from the points' geometry.
    points = tmp_path / "points.gpkg"
    samples.head(15).drop(columns=[header.output_spec.names[0]]).to_file(points)
    predicted = tmp_path / "predicted.csv"
    assert run_cli("predict", kriging_model, points, "--out", predicted,
                   "--catalog", world_dir / "covariates.yaml").exit_code == 0  # fmt: skip
    at_points = pd.read_csv(predicted)
    expected = at_points.assign(
        sample_x=samples.geometry.x.head(15).to_numpy(),
        sample_y=samples.geometry.y.head(15).to_numpy(),
    )[header.input_spec.names]
    np.testing.assert_allclose(at_points["kex_cmol_kg_pred"], model.predict(expected), rtol=1e-6)
    di, _ = trust.applicability.evaluate(expected[covariates].to_numpy())
    np.testing.assert_allclose(at_points["kex_cmol_kg_di"], di, rtol=1e-5)
    assert (at_points["kex_cmol_kg_lo"] < at_points["kex_cmol_kg_hi"]).all()
