"""``evaluate_from_config`` and ``train_spectra_from_config`` end to end on tiny spectra tables."""

import json

import numpy as np
import pandas as pd
import pytest

from geosoil.artifacts import load_artifact, read_header
from geosoil.config import load_config, validate_config
from geosoil.config.evaluate import EvaluateConfig, LabelledSpectraConfig, SpectralTrainConfig
from geosoil.errors import ConfigError, RegistryError, SampleDataError
from geosoil.models.training import torch_threads
from geosoil.spectra import SpectraError
from geosoil.workflows.evaluate import evaluate_from_config, read_configured_spectra
from geosoil.workflows.train_spectra import train_spectra_from_config

from ..conftest import CONFIGS
from ..spectra_tables import AXIS_CM1, write_spectra_table

FAST_CNN = {"estimator": "spectral_cnn", "params": {"max_epochs": 2, "threads": 1}}
FAST_PLSR = {"estimator": "plsr", "params": {"max_components": 5}}


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return write_spectra_table(tmp_path_factory.mktemp("spectra") / "library.parquet", n=100)


def evaluate_config(table, out, **sections):
    raw = {
        "spectra": {
            "path": str(table),
            "target": "kex_cmol_kg",
            "target_units": "cmol(+)/kg",
            "id_column": "sample_id",
        },
        "models": {"plsr": FAST_PLSR},
        "splits": {
            "scheme": "grouped",
            "group_column": "site_id",
            "n_seeds": 2,
            "test_fraction": 0.2,
            "valid_fraction": 0.15,
        },
        "group_columns": ["soil_order"],
        "output": {"dir": str(out)},
    }
    raw.update(sections)
    return validate_config(raw, EvaluateConfig, source="test")


def test_evaluate_writes_tables_figures_models_and_report(table, tmp_path):
    out = tmp_path / "eval"
    config = evaluate_config(
        table,
        out,
        models={"cnn": FAST_CNN, "plsr": FAST_PLSR},
        learning_curve={"enabled": True, "sizes": [30, 1.0], "n_seeds": 1},
        save_models=True,
    )
    result = evaluate_from_config(config)
    names = {p.name for p in out.iterdir()}
    assert {
        "metrics.csv",
        "metrics_per_seed.csv",
        "predictions.csv",
        "observed_vs_predicted_cnn.png",
        "observed_vs_predicted_plsr.png",
        "learning_curve.png",
        "learning_curve.csv",
        "report.md",
        "config.yaml",
        "models",
    } <= names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging left behind"

    metrics = pd.read_csv(out / "metrics.csv")
    overall = metrics[metrics["by"] == "all"].set_index("model")
    assert set(overall.index) == {"cnn", "plsr"}
    assert (overall["n_seeds"] == 2).all()
    # PLSR learns this near-linear log10 target well, even across held-out sites
    assert overall.loc["plsr", "r2_mean"] > 0.6
    assert set(metrics.loc[metrics["by"] == "soil_order", "group"]) == {"Alfisols", "Mollisols"}
    assert result.summaries["plsr"]["r2_mean"] == pytest.approx(overall.loc["plsr", "r2_mean"])

    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 2 * 2 * 20  # models x seeds x test samples (2 sites of 10)
    # Trust columns: T2/Q and the in-domain flag of each split's training spectra, and the
    # bounds of a split-conformal 90 % interval (only 15 validation spectra: too few, NaN).
    assert {"t2", "q", "in_domain", "lo_90", "hi_90"} <= set(predictions.columns)
    assert (predictions["t2"] >= 0).all() and set(predictions["in_domain"]) <= {0.0, 1.0}
    assert predictions["lo_90"].isna().all()
    assert "Prediction intervals and spectral domain" in (out / "report.md").read_text()
    frame = pd.read_parquet(table)
    assert (predictions["sample_id"] == frame["sample_id"].to_numpy()[predictions["row"]]).all()
    for _, part in predictions.groupby(["model", "seed"]):
        # grouped split: a test site is not in the training data of that seed
        assert part["row"].is_unique
    curve = pd.read_csv(out / "learning_curve.csv")
    assert sorted(curve["size"].unique()) == [30, 80] and set(curve["model"]) == {"cnn", "plsr"}

    saved = sorted(p.name for p in (out / "models").iterdir())
    assert saved == [
        "cnn_seed00.safetensors",
        "cnn_seed01.safetensors",
        "plsr_seed00.safetensors",
        "plsr_seed01.safetensors",
    ]
    header = read_header(out / "models" / "plsr_seed01.safetensors")
    assert header.input_spec.kind == "spectra" and header.input_spec.axis_unit == "cm-1"
    assert np.allclose(header.input_spec.axis, AXIS_CM1)
    assert header.output_spec.back_transform == "log10"
    assert header.output_spec.names == ["kex_cmol_kg"]
    assert header.provenance.seed == 1
    seed1 = pd.read_csv(out / "metrics_per_seed.csv").query("model == 'plsr' and seed == 1")
    assert header.provenance.metrics["test"]["r2"] == pytest.approx(seed1["r2"].iloc[0])
    # the saved model reproduces the evaluation's test predictions
    model = load_artifact(out / "models" / "plsr_seed01.safetensors").estimator
    rows = predictions.query("model == 'plsr' and seed == 1")
    spectra = frame[[f"wn_{v:.1f}" for v in AXIS_CM1]].to_numpy(np.float32)
    assert np.allclose(model.predict(spectra[rows["row"]]), rows["predicted"], rtol=1e-5)

    report = (out / "report.md").read_text()
    for text in (
        "| cnn |",
        "| plsr |",
        "## Per soil_order",
        "observed_vs_predicted_cnn.png",
        "learning_curve.png",
        "whole groups of `site_id`",
    ):
        assert text in report
    # the saved config runs again as it is
    again = load_config(out / "config.yaml", EvaluateConfig)
    assert again == config


def test_random_splits_and_log_free_metrics(table, tmp_path):
    config = evaluate_config(
        table,
        tmp_path / "eval",
        target_transform="none",
        splits={"scheme": "random", "n_seeds": 2},
        group_columns=[],
    )
    result = evaluate_from_config(config)
    assert result.table["by"].tolist() == ["all"]
    per_seed = pd.read_csv(tmp_path / "eval" / "metrics_per_seed.csv")
    assert per_seed["n_test"].tolist() == [10, 10]
    assert "every metric on the target's own scale" in (tmp_path / "eval" / "report.md").read_text()


@pytest.mark.parametrize(
    ("change", "error", "text"),
    [
        ({"group_columns": ["order"]}, SampleDataError, "'order' is not in"),
        ({"splits": {"scheme": "grouped", "group_column": "plot"}}, SampleDataError, "'plot'"),
        ({"models": {"x": {"estimator": "cubist"}}}, RegistryError, "cubist"),
        ({"models": {"x": {"estimator": "covariate_mlp"}}}, ConfigError, "spectra"),
        ({"models": {"x": {"estimator": "plsr", "params": {"n_comp": 3}}}}, ConfigError, "n_comp"),
    ],
)
def test_bad_config_is_refused_before_any_output(table, tmp_path, change, error, text):
    out = tmp_path / "eval"
    with pytest.raises(error, match=text) as err:
        evaluate_from_config(evaluate_config(table, out, **change))
    assert err.value.fix
    assert not out.exists() and not list(tmp_path.iterdir())


def test_missing_group_column_lists_the_available_ones(table, tmp_path):
    with pytest.raises(SampleDataError) as err:
        evaluate_from_config(evaluate_config(table, tmp_path / "e", group_columns=["texture"]))
    assert err.value.field == "group_columns"
    for column in ("site_id", "soil_order", "country", "kex_cmol_kg"):
        assert column in err.value.fix


def test_a_bad_hyperparameter_is_named_by_its_path_in_the_evaluate_config(table, tmp_path):
    # plsr raises on params.max_components while fitting; evaluate names the model entry.
    models = {"fast": {"estimator": "plsr", "params": {"max_components": 0}}}
    with pytest.raises(ConfigError) as err:
        evaluate_from_config(evaluate_config(table, tmp_path / "e", models=models))
    assert err.value.field == "models.fast.params.max_components"
    assert "models.fast.params.max_components" in str(err.value)


def test_zero_targets_under_log10_and_nan_spectra_are_refused(tmp_path):
    zeros = write_spectra_table(
        tmp_path / "zeros.parquet",
        n=60,
        kex_cmol_kg=lambda f: f["kex_cmol_kg"].where(f.index % 7 != 0, 0.0),
    )
    with pytest.raises(SampleDataError, match="zero or negative") as err:
        evaluate_from_config(evaluate_config(zeros, tmp_path / "a"))
    assert err.value.field == "kex_cmol_kg" and "target_transform: none" in err.value.fix
    column = f"wn_{AXIS_CM1[150]:.1f}"
    gaps = write_spectra_table(
        tmp_path / "gaps.parquet", n=60, **{column: lambda f: f[column].where(f.index != 5)}
    )
    with pytest.raises(SpectraError, match="NaN|non-finite"):
        evaluate_from_config(evaluate_config(gaps, tmp_path / "b"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_train_spectra_writes_artifact_and_metrics(table, tmp_path):
    out = tmp_path / "model"
    config = validate_config(
        {
            "spectra": {"path": str(table), "target": "kex_cmol_kg", "target_units": "cmol(+)/kg"},
            "model": {"estimator": "spectral_cnn", "params": {"max_epochs": 3, "threads": 1}},
            "group_column": "site_id",
            "valid_fraction": 0.2,
            "output": {"dir": str(out)},
        },
        SpectralTrainConfig,
        source="test",
    )
    result = train_spectra_from_config(config)
    assert {p.name for p in out.iterdir()} == {
        "model.safetensors",
        "metrics.json",
        "training_history.csv",
        "config.yaml",
    }
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train"] == 80 and metrics["n_valid"] == 20  # two whole sites of 10
    assert set(metrics["valid"]) >= {"r2", "lccc", "rmse", "mape"}
    assert metrics["valid"]["r2"] == pytest.approx(result.metrics["valid"]["r2"])
    history = pd.read_csv(out / "training_history.csv")
    assert history["epoch"].max() <= 3 and {"member", "train_loss", "valid_loss"} <= set(history)
    header = read_header(out / "model.safetensors")
    assert header.estimator == "spectral_cnn" and header.provenance.n_samples == 100
    assert header.input_spec.kind == "spectra" and len(header.input_spec.axis) == 300
    # The trust layer: the training spectra's domain, split-conformal bounds from the 20
    # validation spectra, and the spectral quantity the table declares.
    from geosoil.artifacts import load_artifact

    trust = load_artifact(out / "model.safetensors").trust
    assert trust.spectral_domain.n_train == 80 and trust.spectral_domain.t2_limit > 0
    assert trust.intervals.method == "split" and trust.intervals.n == 20
    assert header.trust["spectral_quantity"] == trust.spectral_quantity
    assert 0.8 <= metrics["trust"]["valid_share_in_domain"] <= 1.0


def test_kex_configs_validate():
    evaluate = load_config(CONFIGS / "kex" / "afsis_evaluate.yaml", EvaluateConfig)
    assert evaluate.splits.scheme == "grouped" and evaluate.splits.group_column == "LOCNAME"
    assert evaluate.spectra.target == "EXKM3S" and set(evaluate.models) == {"cnn", "plsr"}
    synthetic = load_config(CONFIGS / "kex" / "synthetic_evaluate.yaml", EvaluateConfig)
    assert synthetic.splits.n_seeds == 20 and synthetic.learning_curve.enabled
    train = load_config(CONFIGS / "kex" / "afsis_train.yaml", SpectralTrainConfig)
    assert train.model.estimator == "spectral_cnn" and train.group_column == "LOCNAME"


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"splits": {"scheme": "grouped"}}, "needs splits.group_column"),
        ({"splits": {"group_column": "site_id"}}, "only used with splits.scheme: grouped"),
        ({"splits": {"scheme": "predefined"}}, "needs splits.fold_column"),
        ({"splits": {"fold_column": "fold"}}, "only used with splits.scheme: predefined"),
        (
            {
                "splits": {"scheme": "predefined", "fold_column": "site_id"},
                "learning_curve": {"enabled": True},
            },
            "draws its own test set",
        ),
        ({"models": {"cnn/v2": FAST_CNN}}, "it names files"),
        ({"learning_curve": {"enabled": True, "models": ["svm"]}}, "not in models"),
        ({"learning_curve": {"sizes": [0.5, -3]}}, "positive"),
        ({"models": {}}, "models"),
    ],
)
def test_evaluate_config_refuses_inconsistent_sections(table, tmp_path, change, text):
    with pytest.raises(ConfigError, match=text):
        evaluate_config(table, tmp_path / "e", **change)


def test_evaluate_with_predefined_folds(table, tmp_path):
    config = evaluate_config(
        table,
        tmp_path / "eval",
        splits={"scheme": "predefined", "fold_column": "site_id", "n_seeds": 3},
        group_columns=[],
    )
    result = evaluate_from_config(config)
    per_seed = pd.read_csv(tmp_path / "eval" / "metrics_per_seed.csv")
    assert len(per_seed) == 3
    predictions = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    sites = pd.read_parquet(table).set_index("sample_id")["site_id"]
    for _seed, rows in predictions.groupby("seed"):
        assert sites.loc[rows["sample_id"]].nunique() == 1  # each split tests one fold
    assert result is not None


def spectra_section(table, **extra):
    return validate_config(
        {"path": str(table), "target": "kex_cmol_kg", **extra},
        LabelledSpectraConfig,
        source="test",
    )


def test_spectra_are_resampled_onto_a_regular_axis_or_an_artifacts(table, tmp_path):
    regular = read_configured_spectra(
        spectra_section(table, resample={"start": 700, "stop": 3900, "step": 4})
    )
    assert regular.axis.unit == "cm-1" and len(regular.axis) == 801
    assert regular.axis.values[0] == 3900 and regular.axis.values[-1] == 700  # kept descending
    high_to_low = read_configured_spectra(
        spectra_section(table, resample={"start": 3900, "stop": 700, "step": 4})
    )
    np.testing.assert_array_equal(high_to_low.axis.values, regular.axis.values)
    np.testing.assert_array_equal(high_to_low.spectra, regular.spectra)
    out = tmp_path / "plsr"
    train_spectra_from_config(
        validate_config(
            {
                "spectra": {
                    "path": str(table),
                    "target": "kex_cmol_kg",
                    "resample": {"start": 700, "stop": 3900, "step": 4},
                },
                "model": FAST_PLSR,
                "output": {"dir": str(out)},
            },
            SpectralTrainConfig,
            source="test",
        )
    )
    like = read_configured_spectra(
        spectra_section(table, resample={"like": str(out / "model.safetensors")})
    )
    np.testing.assert_array_equal(like.axis.values, regular.axis.values)
    np.testing.assert_allclose(like.spectra, regular.spectra)


def test_resampling_outside_the_table_range_is_refused(table):
    with pytest.raises(SpectraError) as info:
        read_configured_spectra(
            spectra_section(table, resample={"start": 400, "stop": 3900, "step": 4})
        )
    assert "extrapolat" in str(info.value) or "outside" in str(info.value)
    with pytest.raises(ConfigError, match="either like or start/stop/step"):
        spectra_section(table, resample={"like": "m.safetensors", "step": 4})
    with pytest.raises(ConfigError, match="needs start, stop and step"):
        spectra_section(table, resample={"start": 700, "stop": 3900})


def test_evaluate_on_a_fixed_holdout_reports_pooled_metrics(table, tmp_path):
    frame = pd.read_parquet(table)
    frame["set"] = np.where(np.arange(len(frame)) % 4 == 0, "test", "calibration")
    path = tmp_path / "with_set.parquet"
    frame.to_parquet(path)
    config = evaluate_config(
        path,
        tmp_path / "eval",
        splits={"scheme": "holdout", "holdout_column": "set"},
        group_columns=[],
    )
    evaluate_from_config(config)
    predictions = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert sorted(predictions["sample_id"]) == sorted(
        frame.loc[frame["set"] == "test", "sample_id"]
    )
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "one fixed calibration/test split from `set`" in report and "Pooled" in report
    bad = evaluate_config(
        path,
        tmp_path / "bad",
        splits={"scheme": "holdout", "holdout_column": "set", "test_value": "validation"},
        group_columns=[],
    )
    with pytest.raises(SampleDataError, match="no test rows") as err:
        evaluate_from_config(bad)
    assert err.value.field == "splits.holdout_column" and "calibration" in err.value.message
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ConfigError, match="needs splits.holdout_column"):
        evaluate_config(path, tmp_path / "c", splits={"scheme": "holdout"})


def test_predefined_split_note_names_the_folds(table, tmp_path):
    config = evaluate_config(
        table,
        tmp_path / "eval",
        splits={"scheme": "predefined", "fold_column": "site_id", "n_seeds": 2},
        group_columns=[],
    )
    evaluate_from_config(config)
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "2 predefined folds of `site_id` (each fold the test set once" in report


def test_target_scale_and_drop_nonpositive(table, tmp_path):
    from geosoil.workflows.evaluate import load_labelled_spectra

    frame = pd.read_parquet(table)
    frame.loc[:4, "kex_cmol_kg"] = [0.0, -0.1, 0.0, 0.0, 0.0]
    path = tmp_path / "zeros.parquet"
    frame.to_parquet(path)
    scaled = spectra_section(
        path, target_scale={"factor": 391.0, "units": "mg/kg"}, drop_nonpositive=True
    )
    samples, y = load_labelled_spectra(scaled, target_transform="log10")
    assert len(y) == len(frame) - 5 and samples.frame.attrs["n_nonpositive_dropped"] == 5
    np.testing.assert_allclose(y, frame["kex_cmol_kg"].to_numpy()[5:] * 391.0)
    assert scaled.units == "mg/kg"
    with pytest.raises(SampleDataError, match="zero or negative"):
        load_labelled_spectra(spectra_section(path), target_transform="log10")
    with pytest.raises(ConfigError, match="target_scale needs units"):
        spectra_section(path, target_scale={"factor": 391.0})


def test_spectral_skill_configs_validate():
    from geosoil.workflows.evaluate import spectral_estimator_factory

    for path in (
        CONFIGS / "limesoda" / "spectral_auto_soc.yaml",
        CONFIGS / "kex" / "afsis_auto_evaluate.yaml",
    ):
        config = load_config(path, EvaluateConfig)
        assert "auto" in config.models
        for name, model in config.models.items():
            assert spectral_estimator_factory(model, name=name, target_transform="none")(0)
