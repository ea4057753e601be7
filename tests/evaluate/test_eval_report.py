"""write_cv_report: four files, parseable, written atomically and safely from threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from geosoil.errors import OutputError
from geosoil.evaluate import cross_validate, random_kfold, spatial_block_kfold, write_cv_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_SAMPLES = 80


@pytest.fixture(scope="module")
def results():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_SAMPLES, 3))
    y = X @ np.array([1.0, 2.0, -1.0]) + 20.0 + rng.normal(scale=0.5, size=N_SAMPLES)
    x_m, y_m = rng.uniform(0, 8000, N_SAMPLES), rng.uniform(0, 8000, N_SAMPLES)
    return {
        "random": cross_validate(Ridge, X, y, random_kfold(N_SAMPLES, n_splits=5)),
        "spatial_block": cross_validate(
            Ridge, X, y, spatial_block_kfold(x_m, y_m, block_size_m=2000.0, n_splits=4)
        ),
    }


@pytest.fixture(scope="module")
def report(results, tmp_path_factory):
    """One report shared by the read-only tests: rendering the figure is the slow part."""
    out_dir = tmp_path_factory.mktemp("report")
    return write_cv_report(results, out_dir, target="SOC", units="g/kg", title="SOC test")


def test_writes_the_four_files(report):
    paths = report
    out_dir = paths["report"].parent
    assert set(paths) == {"metrics", "predictions", "figure", "report"}
    assert {p.name for p in paths.values()} == {
        "cv_metrics.csv",
        "cv_predictions.csv",
        "observed_vs_predicted.png",
        "report.md",
    }
    assert all(p.parent == out_dir and p.is_file() for p in paths.values())
    # nothing left behind from the temporary-name-then-rename writes
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(p.name for p in paths.values())


def test_metrics_csv(results, report):
    table = pd.read_csv(report["metrics"])
    assert list(table.columns) == [
        "scheme", "fold", "n_train", "n_test", "r2", "rmse", "mae", "lccc", "bias",
    ]  # fmt: skip
    random_rows = table[table["scheme"] == "random"]
    assert random_rows["fold"].tolist() == ["0", "1", "2", "3", "4", "mean", "sd", "pooled"]
    assert len(table[table["scheme"] == "spatial_block"]) == 4 + 3
    pooled = random_rows.set_index("fold").loc["pooled"]
    assert pooled["n_test"] == N_SAMPLES
    assert pooled["r2"] == pytest.approx(results["random"].summary()["pooled"]["r2"])
    mean = random_rows.set_index("fold").loc["mean"]
    assert mean["rmse"] == pytest.approx(results["random"].per_fold["rmse"].mean())


def test_predictions_csv(results, report):
    table = pd.read_csv(report["predictions"])
    assert list(table.columns) == ["scheme", "row", "fold", "observed", "predicted"]
    for scheme, result in results.items():
        part = table[table["scheme"] == scheme]
        assert sorted(part["row"]) == list(range(N_SAMPLES))
        np.testing.assert_allclose(part["predicted"], result.predictions["predicted"])


def test_png_is_valid(report):
    data = report["figure"].read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000
    assert data.rstrip().endswith(b"IEND\xaeB`\x82")


def test_markdown_report(results, report):
    text = report["report"].read_text(encoding="utf-8")
    assert text.startswith("# SOC test")
    assert "## random" in text and "## spatial_block" in text
    assert "| RMSE (g/kg) |" in text
    assert "](observed_vs_predicted.png)" in text
    pooled_r2 = results["random"].summary()["pooled"]["r2"]
    assert f"{pooled_r2:.3g}" in text


def test_replaces_existing_files(results, tmp_path):
    (tmp_path / "report.md").write_text("old")
    write_cv_report(results, tmp_path, target="SOC", units="g/kg")
    assert (tmp_path / "report.md").read_text(encoding="utf-8") != "old"


def test_thread_safe(results, tmp_path):
    folders = [tmp_path / f"run{i}" for i in range(2)]
    for folder in folders:
        folder.mkdir()
    with ThreadPoolExecutor(max_workers=2) as pool:
        outputs = list(
            pool.map(
                lambda folder: write_cv_report(results, folder, target="SOC", units="g/kg"),
                folders,
            )
        )
    figures = {paths["figure"].read_bytes() for paths in outputs}
    assert len(figures) == 1  # same input, same picture, whichever thread drew it


def test_refuses_missing_folder_and_empty_results(results, tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write_cv_report(results, tmp_path / "missing", target="SOC", units="g/kg")
    with pytest.raises(ValueError, match="empty"):
        write_cv_report({}, tmp_path, target="SOC", units="g/kg")
