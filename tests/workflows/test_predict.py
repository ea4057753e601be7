"""``geosoil predict``: table rows and points in, the same rows with predictions out."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geosoil.artifacts import load_artifact
from geosoil.io.catalog import read_catalog
from geosoil.io.rasters import extract_at_points
from geosoil.models.covariate.linear import CovariateLinear
from geosoil.workflows.predict import predict_points

from .test_train_table import config, sample_table, write_table


@pytest.fixture(scope="module")
def qrf_model(tmp_path_factory, run_cli_module):
    folder = tmp_path_factory.mktemp("qrf")
    samples = write_table(sample_table(), folder / "samples.csv")
    path = config(
        folder,
        samples,
        model__estimator="quantile_forest",
        model__params={"n_estimators": 30},
        evaluation__schemes=["predefined"],
    )
    assert run_cli_module("train", path).exit_code == 0
    return folder / "out" / "model.safetensors"


@pytest.fixture(scope="module")
def run_cli_module():
    from click.testing import CliRunner

    from geosoil.cli.main import cli

    runner = CliRunner()
    return lambda *args: runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".gpkg"])
def test_predict_a_table_with_covariate_columns(run_cli, qrf_model, tmp_path, suffix):
    rows = sample_table(12, seed=5).drop(columns=["soc", "fold"])
    rows.loc[3, "landuse"] = "wetland"  # a class training never saw
    table = write_table(rows, tmp_path / "rows.csv")
    out = tmp_path / f"predicted{suffix}"
    result = run_cli("predict", qrf_model, table, "--out", out, "--crs", "EPSG:32654")
    assert result.exit_code == 0, result.output
    written = (
        gpd.read_file(out)
        if suffix == ".gpkg"
        else (pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out))
    )
    assert list(written["site"]) == list(rows["site"])
    codes = rows["landuse"].map({"arable": 1, "forest": 2, "grass": 3})
    X = rows[["elev", "ndvi"]].assign(landuse=codes.fillna(-1))
    expected = load_artifact(qrf_model).estimator.predict(X)
    np.testing.assert_allclose(written["soc_pred"], expected, rtol=1e-6)
    assert np.isnan(written["soc_pred"][3]) and written["unseen_class"][3]
    assert not written["unseen_class"].drop(index=3).any()
    valid = written.drop(index=3)
    assert (valid["soc_p05"] <= valid["soc_pred"]).all() and (
        valid["soc_pred"] <= valid["soc_p95"]
    ).all()
    # the artifact's trust layer travels with the rows, as the map layers do
    trust = load_artifact(qrf_model).trust
    assert trust.applicability is not None and trust.intervals is not None
    assert (valid["soc_lo"] < valid["soc_hi"]).all()
    assert ((valid["soc_lo"] <= valid["soc_pred"]) & (valid["soc_pred"] <= valid["soc_hi"])).all()
    assert (valid["soc_di"] >= 0).all() and set(valid["soc_aoa"]) <= {0, 1}
    assert written["soc_aoa"][3] == 0 and np.isnan(written["soc_lo"][3])


def test_predict_points_with_a_catalog(run_cli, world_dir, trained_dir, tmp_path):
    points = gpd.read_parquet(world_dir / "samples.parquet").head(15)[["geometry"]]
    points["name"] = [f"p{i}" for i in range(15)]
    path = tmp_path / "points.gpkg"
    points.to_file(path)
    out = tmp_path / "predicted.csv"
    catalog = world_dir / "covariates.yaml"
    artifact = trained_dir / "model.safetensors"
    result = run_cli("predict", artifact, path, "--out", out, "--catalog", catalog)
    assert result.exit_code == 0, result.output
    model = load_artifact(artifact)
    layers = read_catalog(catalog).select(model.header.input_spec.names, source=catalog, field="x")
    expected = model.estimator.predict(extract_at_points(layers, points.geometry))
    written = pd.read_csv(out)
    np.testing.assert_allclose(written["kex_cmol_kg_pred"], expected, rtol=1e-6)


def test_predict_on_a_table_missing_a_covariate(run_cli, qrf_model, tmp_path):
    table = write_table(sample_table(8).drop(columns=["ndvi"]), tmp_path / "rows.csv")
    out = tmp_path / "predicted.csv"
    result = run_cli("predict", qrf_model, table, "--out", out, "--crs", "EPSG:32654")
    assert result.exit_code != 0
    assert "['ndvi']" in result.stderr and "--catalog" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


def test_predict_refuses_to_overwrite_and_unknown_formats(qrf_model, tmp_path):
    from geosoil.errors import OutputError, OutputExistsError

    table = write_table(sample_table(8), tmp_path / "rows.csv")
    (tmp_path / "exists.csv").write_text("keep me")
    with pytest.raises(OutputExistsError):
        predict_points(qrf_model, table, tmp_path / "exists.csv")
    assert (tmp_path / "exists.csv").read_text() == "keep me"
    with pytest.raises(OutputError, match="unsupported output format"):
        predict_points(qrf_model, table, tmp_path / "out.xlsx")


def test_predict_points_with_a_fitted_estimator_in_memory(tmp_path):
    train = sample_table(60, seed=1)
    estimator = CovariateLinear().fit(train[["elev", "ndvi"]], train["soc"])
    rows = sample_table(10, seed=6)[["site", "x", "y", "elev", "ndvi"]]
    table = write_table(rows, tmp_path / "rows.csv")
    written = predict_points(estimator, table, tmp_path / "out.csv", crs="EPSG:32654")
    expected = estimator.predict(rows[["elev", "ndvi"]])
    np.testing.assert_allclose(written["prediction_pred"], expected, rtol=1e-6)
    assert list(written["site"]) == list(rows["site"])
