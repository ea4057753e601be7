"""Training from a table of samples that already carry their covariates, with predefined
folds, duplicates kept together, CV outputs a user can map, and the bad-input cases."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml

from geosoil.artifacts import load_artifact, read_header
from geosoil.trust.layer import NOT_FOR_KRIGING

FAST_AUTO = {
    "candidates": ["random_forest", "gbm", "linear"],
    "inner_splits": 3,
    "candidate_params": {"random_forest": {"n_estimators": 30}, "gbm": {"n_estimators": 60}},
}


def sample_table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "site": [f"s{i:03d}" for i in range(n)],
            "x": rng.uniform(500000, 510000, n),
            "y": rng.uniform(4100000, 4110000, n),
            "elev": rng.normal(100, 10, n),
            "ndvi": rng.uniform(0, 1, n),
            "landuse": rng.choice(["arable", "forest", "grass"], n),
            "fold": np.arange(n) % 4 + 1,
        }
    )
    table["soc"] = (
        0.05 * table["elev"] + 2 * table["ndvi"] + (table["landuse"] == "forest") * 1.5
    ) + rng.normal(scale=0.1, size=n)
    return table


def write_table(table, path):
    if path.suffix == ".csv":
        table.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        table.to_parquet(path)
    else:
        points = gpd.GeoDataFrame(
            table, geometry=gpd.points_from_xy(table.x, table.y), crs="EPSG:32654"
        )
        points.to_file(path)
    return path


def config(tmp_path, samples, **changes):
    raw = {
        "samples": {
            "path": str(samples),
            "target": "soc",
            "target_units": "g/kg",
            "crs": "EPSG:32654",
            "id_column": "site",
        },
        "covariates": {"columns": ["elev", "ndvi", "landuse"], "categorical": ["landuse"]},
        "model": {"estimator": "auto", "params": FAST_AUTO},
        "evaluation": {"schemes": ["predefined", "random"], "fold_column": "fold", "n_splits": 3},
        "output": {"dir": str(tmp_path / "out")},
    }
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            raw[section][name] = value
        else:
            raw[section] = value
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".gpkg"])
def test_train_from_a_table(run_cli, tmp_path, suffix):
    samples = write_table(sample_table(), tmp_path / f"samples{suffix}")
    result = run_cli("train", config(tmp_path, samples))
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    header = read_header(out / "model.safetensors")
    assert header.input_spec.names == ["elev", "ndvi", "landuse"]
    assert [layer.categorical for layer in header.input_spec.layers] == [False, False, True]
    codes = {"step": "class_codes", "column": "landuse"}
    assert header.preprocessing == [{**codes, "codes": {"arable": 1, "forest": 2, "grass": 3}}]
    selection = header.provenance.metrics["selection"]
    assert selection["chosen"] in [*FAST_AUTO["candidates"], "stack"]
    assert set(header.provenance.metrics["predefined"]["candidates"]) == set(
        FAST_AUTO["candidates"]
    )
    predictions = pd.read_csv(out / "report" / "cv_predictions.csv")
    assert list(predictions.columns[:8]) == [
        "scheme", "sample_id", "x", "y", "row", "fold", "observed", "predicted",
    ]  # fmt: skip
    predefined = predictions[predictions.scheme == "predefined"]
    table = sample_table()
    # Predefined folds are the fold column's ids, in sorted order.
    np.testing.assert_array_equal(predefined["fold"], table["fold"] - 1)
    assert (predefined["sample_id"] == table["site"]).all()
    assert (out / "report" / "cv_residuals.png").stat().st_size > 1000
    report = (out / "report" / "report.md").read_text()
    assert "| auto (nested) |" in report and "| linear |" in report
    model = load_artifact(out / "model.safetensors").estimator
    assert model.registry_name == selection["delivered_as"]


def test_a_class_that_one_fold_holds_whole_is_scored_alike_for_every_learner(run_cli, tmp_path):
    # "wetland" only in fold 1: trained without it, the tree and linear learners abstain on
    # those samples. auto (grouped inner folds) still scores every candidate, and the report
    # compares all learners on the samples every one of them predicted.
    table = sample_table()
    wetland = (table["fold"] == 1) & (np.arange(len(table)) < 20)
    table.loc[wetland, "landuse"] = "wetland"
    samples = write_table(table, tmp_path / "samples.csv")
    result = run_cli("train", config(tmp_path, samples, evaluation__schemes=["predefined"]))
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    metrics = read_header(out / "model.safetensors").provenance.metrics
    assert set(metrics["predefined"]["candidates"]) == set(FAST_AUTO["candidates"])
    report = (out / "report" / "report.md").read_text()
    n_kept = len(table) - wetland.sum()
    assert f"Scored on the {n_kept} of {len(table)} samples every learner predicted" in report
    assert "failed" not in report.split("## Choice of the delivered model")[1]


def test_quantile_forest_cv_writes_interval_columns(run_cli, tmp_path):
    samples = write_table(sample_table(), tmp_path / "samples.csv")
    params = {"n_estimators": 30}
    path = config(tmp_path, samples, model__estimator="quantile_forest", model__params=params)
    assert run_cli("train", path).exit_code == 0
    predictions = pd.read_csv(tmp_path / "out" / "report" / "cv_predictions.csv")
    assert (predictions["lower_90"] <= predictions["upper_90"]).all()
    inside = predictions["observed"].between(predictions["lower_90"], predictions["upper_90"])
    assert inside.mean() > 0.6


def test_duplicates_are_reported_and_kept_together(run_cli, tmp_path):
    table = sample_table()
    twins = table.iloc[:6].copy()
    twins["site"] = twins["site"] + "b"
    table = pd.concat([table, twins], ignore_index=True)
    samples = write_table(table, tmp_path / "samples.csv")
    path = config(
        tmp_path, samples, evaluation__schemes=["random", "spatial_block"], evaluation__n_splits=4
    )
    result = run_cli("train", path)
    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(tmp_path / "out" / "report" / "cv_predictions.csv")
    for _, part in predictions.groupby("scheme"):
        assert (part.groupby(["x", "y"])["fold"].nunique() == 1).all()
    report = (tmp_path / "out" / "report" / "report.md").read_text()
    assert "6 sample(s) repeat the coordinates" in report


def refused(run_cli, tmp_path, path, *needles):
    result = run_cli("train", path)
    assert result.exit_code != 0
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_covariate_column_missing_from_the_table(run_cli, tmp_path):
    samples = write_table(sample_table().drop(columns="ndvi"), tmp_path / "samples.csv")
    refused(run_cli, tmp_path, config(tmp_path, samples), "['ndvi']", "covariates.columns")


def test_a_text_covariate_not_declared_categorical(run_cli, tmp_path):
    samples = write_table(sample_table(), tmp_path / "samples.csv")
    path = config(tmp_path, samples, covariates__categorical=[])
    refused(run_cli, tmp_path, path, "'landuse' holds text", "covariates.categorical")


def test_a_fold_column_with_a_single_fold(run_cli, tmp_path):
    samples = write_table(sample_table().assign(fold=1), tmp_path / "samples.csv")
    refused(run_cli, tmp_path, config(tmp_path, samples), "single fold", "fold_column")


def test_auto_with_every_candidate_failing(run_cli, tmp_path):
    table = sample_table()
    table["soc"] -= 100  # log10 of a negative target fails in every candidate
    samples = write_table(table, tmp_path / "samples.csv")
    params = {**FAST_AUTO, "target_transform": "log10"}
    path = config(tmp_path, samples, model__params=params)
    refused(run_cli, tmp_path, path, "every candidate learner failed", "linear")


def test_kriging_from_coordinate_columns(run_cli, tmp_path):
    samples = write_table(sample_table(), tmp_path / "samples.csv")
    path = config(
        tmp_path,
        samples,
        model__estimator="ordinary_kriging",
        model__params={},
        covariates__columns=["x", "y"],
        covariates__categorical=[],
    )
    result = run_cli("train", path)
    assert result.exit_code == 0, result.output
    report = (tmp_path / "out" / "report" / "cv_metrics.csv").read_text()
    assert "predefined" in report


def test_a_kriging_request_without_coordinates(run_cli, tmp_path):
    samples = write_table(sample_table(), tmp_path / "samples.csv")
    path = config(tmp_path, samples, model__estimator="ordinary_kriging", model__params={})
    refused(run_cli, tmp_path, path, "kriging needs the coordinate columns")


def test_a_kriging_request_with_duplicated_coordinates(run_cli, tmp_path):
    table = sample_table()
    table.loc[1, ["x", "y"]] = table.loc[0, ["x", "y"]].to_numpy()
    table.loc[1, "fold"] = table.loc[0, "fold"]
    samples = write_table(table, tmp_path / "samples.csv")
    path = config(
        tmp_path,
        samples,
        model__estimator="ordinary_kriging",
        model__params={},
        covariates__columns=["x", "y"],
        covariates__categorical=[],
    )
    refused(run_cli, tmp_path, path, "repeat the coordinates")


def test_auto_with_kriging_as_a_candidate(run_cli, tmp_path):
    table = sample_table(80)
    # A target that is a smooth surface of the coordinates only: kriging should win.
    table["soc"] = np.sin((table["x"] - 500000) / 2000) + np.cos((table["y"] - 4100000) / 2500)
    samples = write_table(table, tmp_path / "samples.csv")
    params = {
        "candidates": ["ordinary_kriging", "linear"],
        "inner_splits": 3,
        "candidate_params": {"ordinary_kriging": {"variogram_models": ["spherical", "gaussian"]}},
    }
    result = run_cli("train", config(tmp_path, samples, model__params=params))
    assert result.exit_code == 0, result.output
    header = read_header(tmp_path / "out" / "model.safetensors")
    assert header.provenance.metrics["selection"]["chosen"] == "ordinary_kriging"
    assert header.input_spec.names == ["sample_x", "sample_y"]
    assert header.fitted_state["variogram"]["model"] in {"spherical", "gaussian"}
    assert header.provenance.metrics["predefined"]["pooled"]["r2"] > 0.8
    # geosoil predict reads the coordinates of the points for a kriging model.
    rows = write_table(table.drop(columns="soc").head(10), tmp_path / "rows.csv")
    out = tmp_path / "kriged.csv"
    model = tmp_path / "out" / "model.safetensors"
    assert run_cli("predict", model, rows, "--out", out, "--crs", "EPSG:32654").exit_code == 0
    coordinates = pd.DataFrame({"sample_x": table["x"].head(10), "sample_y": table["y"].head(10)})
    expected = load_artifact(model).estimator.predict(coordinates)
    predicted = pd.read_csv(out)
    np.testing.assert_allclose(predicted["soc_pred"], expected, rtol=1e-6)
    # No AOA without covariates, but conformal intervals from the CV residuals.
    trust = load_artifact(model).trust
    assert trust.applicability is None and NOT_FOR_KRIGING in trust.notes
    assert trust.intervals is not None and trust.intervals.normalisation == "none"
    assert "soc_di" not in predicted
    assert (predicted["soc_lo"] < expected).all() and (expected < predicted["soc_hi"]).all()


def test_residual_kriging_is_scored_under_the_same_folds(run_cli, tmp_path):
    table = sample_table(80)
    # Covariate trend plus a smooth spatial field the covariates do not explain.
    table["soc"] += 2 * np.sin((table["x"] - 500000) / 2000)
    samples = write_table(table, tmp_path / "samples.csv")
    path = config(
        tmp_path,
        samples,
        model__estimator="residual_kriging",
        model__params={"base": "linear", "variogram_models": ["spherical", "gaussian"]},
    )
    result = run_cli("train", path)
    assert result.exit_code == 0, result.output
    header = read_header(tmp_path / "out" / "model.safetensors")
    assert header.input_spec.names == ["elev", "ndvi", "landuse", "sample_x", "sample_y"]
    kriging = header.fitted_state["kriging"]["state"]["variogram"]
    assert kriging["model"] in {"spherical", "gaussian"} and len(kriging["parameters"]) == 3
    loaded = load_artifact(tmp_path / "out" / "model.safetensors").estimator
    rows = table.assign(sample_x=table["x"], sample_y=table["y"])
    rows["landuse"] = rows["landuse"].map({"arable": 1, "forest": 2, "grass": 3})
    fitted_values = loaded.predict(rows[header.input_spec.names])
    assert np.corrcoef(fitted_values, table["soc"])[0, 1] > 0.95
    report = (tmp_path / "out" / "report" / "report.md").read_text()
    assert "## Variogram of the residuals" in report and f"**{kriging['model']}**" in report
    with_kriging = header.provenance.metrics["predefined"]["pooled"]["r2"]
    path = config(tmp_path, samples, model__estimator="linear", model__params={},
                  output__dir=str(tmp_path / "plain"))  # fmt: skip
    assert run_cli("train", path).exit_code == 0
    plain = read_header(tmp_path / "plain" / "model.safetensors")
    assert with_kriging > plain.provenance.metrics["predefined"]["pooled"]["r2"] + 0.1


def test_auto_selects_on_inner_blocks_under_spatial_block_cv(run_cli, tmp_path, monkeypatch):
    from geosoil.evaluate.splits import spatial_block_ids
    from geosoil.models.covariate.auto import GROUP_COLUMN, AutoCovariate

    seen = []
    original = AutoCovariate.inner_folds

    def spy(self, X):
        folds = original(self, X)
        seen.append((X[GROUP_COLUMN].to_numpy(), folds))
        return folds

    monkeypatch.setattr(AutoCovariate, "inner_folds", spy)
    table = sample_table(80)
    samples = write_table(table, tmp_path / "samples.csv")
    evaluation = {"schemes": ["spatial_block"], "spatial_block_size_m": 2000, "n_splits": 3}
    result = run_cli("train", config(tmp_path, samples, evaluation=evaluation))
    assert result.exit_code == 0, result.output
    blocks = spatial_block_ids(table["x"], table["y"], block_size_m=2000)
    assert len(seen) == 3 + 1  # each outer training set, then the final fit on all samples
    assert len(seen[-1][0]) == len(table)
    np.testing.assert_array_equal(seen[-1][0], blocks)
    for groups, folds in seen:
        for train_idx, test_idx in folds:
            assert not set(groups[train_idx]) & set(groups[test_idx])
    selection = read_header(tmp_path / "out" / "model.safetensors").provenance.metrics["selection"]
    assert selection["inner_folds"] == "grouped as the spatial_block folds"


def test_auto_delivers_regression_kriging_when_its_inner_score_wins(run_cli, tmp_path):
    """A smooth field in space the covariates miss: the kriged variant of the learner wins
    on inner folds, and the artifact is that learner plus kriging of its residuals."""
    table = sample_table(90)
    table["soc"] += 3 * np.sin((table["x"] - 500000) / 1500) * np.cos((table["y"] - 4100000) / 2000)
    samples = write_table(table, tmp_path / "samples.csv")
    params = {"candidates": ["linear"], "krige_residuals": True, "inner_splits": 3}
    path = config(tmp_path, samples, model__params=params, evaluation__schemes=["random"])
    result = run_cli("train", path)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    header = read_header(out / "model.safetensors")
    assert header.estimator == "residual_kriging"
    assert header.input_spec.names == ["elev", "ndvi", "landuse", "sample_x", "sample_y"]
    assert header.input_spec.crs == "EPSG:32654"
    selection = header.provenance.metrics["selection"]
    assert selection["chosen"] == "linear+kriged_residuals"
    assert selection["delivered_as"] == "residual_kriging"
    report = (out / "report" / "report.md").read_text()
    assert "## Choice of the delivered model" in report
    assert "| linear+kriged_residuals |" in report and "**yes**" in report
    assert "Variogram of the residuals" in report
    model = load_artifact(out / "model.safetensors").estimator
    assert model.base == "linear"
    # the trust layers of the learner's covariates: AOA without the coordinates, intervals
    trust = load_artifact(out / "model.safetensors").trust
    assert trust.applicability.feature_names == ("elev", "ndvi", "landuse")
    assert trust.intervals is not None and trust.notes == ()
