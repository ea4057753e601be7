"""``geosoil explain`` on a covariate artifact: importance under spatial folds, PDP."""

import numpy as np
import pandas as pd
import yaml

from .test_train_table import config, sample_table, write_table


def test_explain_a_covariate_model(run_cli, tmp_path):
    table = sample_table(80)
    table["noise"] = np.random.default_rng(9).normal(size=len(table))
    samples = write_table(table, tmp_path / "samples.csv")
    path = config(
        tmp_path,
        samples,
        model__estimator="random_forest",
        model__params={"n_estimators": 40},
        evaluation__schemes=["random", "spatial_block"],
        evaluation__n_splits=3,
        evaluation__spatial_block_size_m=2500,
        covariates__columns=["elev", "ndvi", "landuse", "noise"],
    )
    assert run_cli("train", path).exit_code == 0
    trained = tmp_path / "out"
    explain = tmp_path / "explain.yaml"
    explain.write_text(
        yaml.safe_dump(
            {
                "artifact": str(trained / "model.safetensors"),
                "training": str(trained / "config.yaml"),
                "n_repeats": 3,
                "pdp_points": 8,
                "output": {"dir": str(tmp_path / "explained")},
            }
        )
    )
    result = run_cli("explain", explain)
    assert result.exit_code == 0, result.output
    assert "spatial_block folds" in result.output
    out = tmp_path / "explained"
    importance = pd.read_csv(out / "importance.csv").set_index("feature")
    assert set(importance.index) == {"elev", "ndvi", "landuse", "noise"}
    assert importance.loc["noise", "importance"] < importance.loc["elev", "importance"]
    assert importance.loc["landuse", "importance"] > 0
    curves = pd.read_csv(out / "partial_dependence.csv")
    ndvi = curves[curves.feature == "ndvi"]
    assert len(ndvi) == 8 and ndvi["mean_prediction"].iloc[-1] > ndvi["mean_prediction"].iloc[0]
    assert set(curves[curves.feature == "landuse"]["value"]) == {1.0, 2.0, 3.0}
    assert (out / "partial_dependence.png").stat().st_size > 1000
    assert "| landuse |" in (out / "report.md").read_text()


def test_explain_refuses_mismatched_training_data(run_cli, tmp_path):
    samples = write_table(sample_table(), tmp_path / "samples.csv")
    path = config(tmp_path, samples, model__estimator="linear", model__params={})
    assert run_cli("train", path).exit_code == 0
    other = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    other["covariates"]["columns"] = ["elev", "ndvi"]
    other["covariates"]["categorical"] = []
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    explain = tmp_path / "explain.yaml"
    explain.write_text(
        yaml.safe_dump(
            {
                "artifact": str(tmp_path / "out" / "model.safetensors"),
                "training": str(tmp_path / "other.yaml"),
                "output": {"dir": str(tmp_path / "explained")},
            }
        )
    )
    result = run_cli("explain", explain)
    assert result.exit_code != 0 and "the model reads" in result.stderr
    assert not (tmp_path / "explained").exists()


def test_explain_a_regression_kriging_model_reads_the_sample_coordinates(run_cli, tmp_path):
    """What ``auto`` delivers when its kriged variant wins: the coordinates are inputs."""
    samples = write_table(sample_table(60), tmp_path / "samples.csv")
    path = config(
        tmp_path,
        samples,
        model__estimator="residual_kriging",
        model__params={"base": "linear", "variogram_models": ["exponential"]},
        evaluation__schemes=["random"],
        evaluation__n_splits=3,
    )
    assert run_cli("train", path).exit_code == 0
    explain = tmp_path / "explain.yaml"
    explain.write_text(
        yaml.safe_dump(
            {
                "artifact": str(tmp_path / "out" / "model.safetensors"),
                "training": str(tmp_path / "out" / "config.yaml"),
                "n_repeats": 2,
                "pdp_points": 4,
                "output": {"dir": str(tmp_path / "explained")},
            }
        )
    )
    result = run_cli("explain", explain)
    assert result.exit_code == 0, result.output
    importance = pd.read_csv(tmp_path / "explained" / "importance.csv")
    assert {"sample_x", "sample_y", "elev"} <= set(importance["feature"])
