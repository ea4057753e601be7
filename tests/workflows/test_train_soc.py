"""``geosoil train`` on SOC profiles: complete output folder, ScIReN read-out, bad input."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from geosoil.artifacts import load_artifact
from geosoil.config import SocTrainConfig, load_config
from geosoil.errors import ConfigError, InputFileNotFoundError, SampleDataError
from geosoil.io.profiles import FORCING_SHAPES, write_profile_folder
from geosoil.models.training import torch_threads
from geosoil.synthetic.soc_profiles import soc_profile_set
from geosoil.workflows import train_soc_from_config
from geosoil.workflows.train_soc import read_profile_folder

from ..conftest import CONFIGS

N_PROFILES = 24
FAST = [
    "model.params.max_epochs=2",
    "model.params.hidden_layers=[8]",
    "model.params.threads=1",
    "cv.enabled=false",
]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def simulated():
    return soc_profile_set(N_PROFILES, seed=4)


@pytest.fixture(scope="module")
def profile_dir(simulated, tmp_path_factory):
    folder = tmp_path_factory.mktemp("soc") / "profiles"
    write_profile_folder(simulated.profiles, folder)
    return folder


def soc_config(profiles, out, *extra: str) -> SocTrainConfig:
    """The synthetic example config, pointed at ``profiles`` and made quick."""
    return load_config(
        CONFIGS / "soc" / "synthetic_train.yaml",
        SocTrainConfig,
        [f"profiles.path={profiles}", f"output.dir={out}", *FAST, *extra],
    )


def test_cli_trains_binn_with_cv_into_a_complete_folder(run_cli, profile_dir, simulated, tmp_path):
    out = tmp_path / "binn"
    result = run_cli(
        "train",
        CONFIGS / "soc" / "synthetic_train.yaml",
        "--out",
        out,
        *[a for s in FAST[:-1] for a in ("--set", s)],
        "--set",
        f"profiles.path={profile_dir}",
        "--set",
        "cv.n_folds=2",
    )
    assert result.exit_code == 0, result.output
    assert "cv (2 folds)" in result.output and "artifact:" in result.output
    assert "intervals (90%, conformal, other folds): PICP" in result.output
    names = {p.name for p in out.iterdir()}
    assert names == {
        "model.safetensors",
        "metrics.json",
        "training_history.csv",
        "cv_metrics.csv",
        "cv_predictions.csv",
        "report.md",
        "config.yaml",
    }
    artifact = load_artifact(out / "model.safetensors")
    spec = artifact.header.input_spec.names
    covariates = spec[: -len(FORCING_SHAPES)]
    assert sorted(covariates) == sorted(simulated.profiles.covariates.columns)
    assert spec[len(covariates) :] == [f"forcings.{name}" for name in FORCING_SHAPES]
    categorical = {layer.name for layer in artifact.header.input_spec.layers if layer.categorical}
    assert categorical == set(simulated.profiles.categorical)
    assert artifact.header.output_spec.units == ["g C m-3"]
    assert artifact.header.provenance.n_samples == N_PROFILES

    metrics = json.loads((out / "metrics.json").read_text())
    n_obs = int(np.isfinite(simulated.profiles.soc).sum())
    assert metrics["n_observations"] == metrics["fit"]["n"] == n_obs
    assert metrics["epochs"] == 2 and metrics["cv"]["n_folds"] == 2
    assert -10 < metrics["fit"]["nse"] <= 1
    assert len(pd.read_csv(out / "training_history.csv")) == 2
    per_fold = pd.read_csv(out / "cv_metrics.csv")
    assert per_fold["n_test"].sum() == N_PROFILES and len(per_fold) == 2
    assert len(pd.read_csv(out / "cv_predictions.csv")) == n_obs
    report = (out / "report.md").read_text()
    assert "| pooled |" in report
    # the baselines ran under the same folds and the report names the winner
    comparison = metrics["cv"]["comparison"]
    assert set(comparison["models"]) == {"binn", "depth_only", "gbm"}
    assert comparison["models"]["binn"]["nse_mean"] == pytest.approx(metrics["cv"]["mean"]["nse"])
    assert comparison["models"]["depth_only"]["share_profiles_beating_depth_only"] == 0.0
    assert comparison["winner"] in comparison["models"]
    assert "Against baselines under the same folds" in report
    assert f"**{comparison['winner']}**" in report
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["model"]["params"]["max_epochs"] == 2 and saved["cv"]["n_folds"] == 2

    # The artifact predicts what the metrics were computed from.
    predicted = artifact.estimator.predict(simulated.profiles)
    assert np.isfinite(predicted[np.isfinite(simulated.profiles.soc)]).all()

    # Conformal intervals: calibrated on the out-of-fold residuals, stored, scored
    cal = artifact.trust.intervals
    assert cal is not None and cal.n == n_obs and cal.scheme == "profile_kfold"
    assert cal.scale in ("model", "log10") and cal.normalisation in ("none", "depth")
    intervals = metrics["cv"]["intervals"]
    assert intervals["level"] == 0.9 and intervals["n"] == n_obs
    assert 0.5 <= intervals["picp"] <= 1 and intervals["mean_width"] > 0
    assert sum(row["n"] for row in intervals["by_depth"]) == n_obs
    assert "Prediction intervals (90%, conformal)" in report
    assert f"PICP **{intervals['picp']:.3f}**" in report
    oof = pd.read_csv(out / "cv_predictions.csv")
    inside = (oof["observed"] >= oof["predicted_lo"]) & (oof["observed"] <= oof["predicted_hi"])
    assert inside.mean() == pytest.approx(intervals["picp"])
    assert (oof["predicted_lo"] <= oof["predicted"]).all()
    assert (oof["predicted"] < oof["predicted_hi"]).all()
    # and the stored calibration bounds the final model's predictions
    from geosoil.trust.profiles import profile_bounds

    valid = np.isfinite(predicted)
    depth = simulated.profiles.depth_m[valid]
    low, high = profile_bounds(cal, predicted[valid], depth, level=0.9)
    assert (low < predicted[valid]).all() and (predicted[valid] < high).all()


def test_sciren_writes_its_read_out(profile_dir, tmp_path):
    config = soc_config(profile_dir, tmp_path / "sciren", "model.estimator=sciren")
    result = train_soc_from_config(config)
    table = pd.read_csv(result.out_dir / "readout.csv")
    learned = {"efolding", "tau4s3", "fs1s3", "w_scaling"}
    assert set(table["parameter"]) == learned
    assert (result.out_dir / "readout.png").read_bytes()[:4] == b"\x89PNG"
    assert load_artifact(result.artifact).header.estimator == "sciren"
    assert result.report is None and not (result.out_dir / "cv_metrics.csv").exists()


# ------------------------------------------------------------------------------ bad input
def _nothing_written(out):
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


def test_missing_folder(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(InputFileNotFoundError, match="profile folder not found") as info:
        train_soc_from_config(soc_config(tmp_path / "nowhere", out))
    assert info.value.field == "profiles.path"
    _nothing_written(out)


def test_folder_without_training_data(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileNotFoundError, match="Training_Data") as info:
        train_soc_from_config(soc_config(tmp_path / "empty", tmp_path / "out"))
    assert info.value.field == "profiles.path"


def test_missing_file_is_named(simulated, tmp_path):
    write_profile_folder(simulated.profiles, tmp_path / "p")
    (tmp_path / "p" / "Training_Data" / "model_force_xio.npy").unlink()
    with pytest.raises(InputFileNotFoundError, match="model_force_xio.npy"):
        train_soc_from_config(soc_config(tmp_path / "p", tmp_path / "out"))


def test_profiles_without_observation_name_drop_empty(simulated, tmp_path):
    profiles = simulated.profiles
    soc, depth = profiles.soc.copy(), profiles.depth_m.copy()
    soc[[2, 5]] = depth[[2, 5]] = np.nan
    write_profile_folder(dataclasses.replace(profiles, soc=soc, depth_m=depth), tmp_path / "p")
    out = tmp_path / "out"
    with pytest.raises(SampleDataError, match=f"2 of {N_PROFILES} profiles without") as info:
        train_soc_from_config(soc_config(tmp_path / "p", out))
    assert info.value.field == "profiles.drop_empty"
    assert "profiles.drop_empty: true" in info.value.fix
    _nothing_written(out)
    kept = read_profile_folder(
        tmp_path / "p", part="training", drop_incomplete=False, drop_empty=True
    )
    assert kept.n_profiles == N_PROFILES - 2


def test_incomplete_profiles_name_drop_incomplete(simulated, tmp_path):
    covariates = simulated.profiles.covariates.copy()
    covariates.loc[3, "BIO1"] = np.nan
    write_profile_folder(
        dataclasses.replace(simulated.profiles, covariates=covariates), tmp_path / "p"
    )
    with pytest.raises(SampleDataError, match="missing values") as info:
        train_soc_from_config(soc_config(tmp_path / "p", tmp_path / "out"))
    assert info.value.field == "profiles.drop_incomplete"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("model.estimator=random_forest", "model.estimator"),
        ("profiles.part=prediction", "profiles.part"),
        ("profiles.colour=red", "profiles.colour"),
        ("cv.interval_level=1.5", "cv.interval_level"),
        ("cv.interval_level=0", "cv.interval_level"),
    ],
)
def test_config_errors_name_the_key(profile_dir, tmp_path, override, field):
    with pytest.raises(ConfigError) as info:
        soc_config(profile_dir, tmp_path / "out", override)
    assert info.value.field == field


def test_without_cv_the_artifact_says_why_it_has_no_intervals(profile_dir, tmp_path):
    result = train_soc_from_config(soc_config(profile_dir, tmp_path / "out"))
    trust = load_artifact(result.artifact).trust
    assert trust.intervals is None
    assert any("cv.enabled" in note for note in trust.notes)
    assert "intervals" not in result.metrics.get("cv", {})


def test_unknown_hyperparameter_and_too_many_folds(profile_dir, tmp_path):
    with pytest.raises(ConfigError, match="no hyperparameter") as info:
        train_soc_from_config(soc_config(profile_dir, tmp_path / "a", "model.params.depth=3"))
    assert info.value.field == "model.params.depth"
    too_many = soc_config(profile_dir, tmp_path / "b", "cv.enabled=true", "cv.n_folds=99")
    with pytest.raises(ConfigError, match="99 folds") as info:
        train_soc_from_config(too_many)
    assert info.value.field == "cv.n_folds"


def test_failure_during_the_fit_leaves_nothing(profile_dir, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as info:
        train_soc_from_config(soc_config(profile_dir, out, "model.params.dtype=float16"))
    assert info.value.field == "model.params.dtype"
    _nothing_written(out)
