"""``geosoil train`` on spectra: intervals calibrated on spectra the calibrating model never saw."""

import json

import numpy as np
import pandas as pd

from geosoil.artifacts import load_artifact
from geosoil.config import validate_config
from geosoil.config.evaluate import SpectralTrainConfig
from geosoil.evaluate.repeated_splits import holdout_split
from geosoil.workflows import train_spectra
from geosoil.workflows.train_spectra import train_spectra_from_config

from ..spectra_tables import write_spectra_table


def train(tmp_path, params):
    table = write_spectra_table(tmp_path / "spectra.parquet", n=120, seed=3)
    config = validate_config(
        {
            "spectra": {"path": str(table), "target": "kex_cmol_kg"},
            "model": {"estimator": "plsr", "params": params},
            "valid_fraction": 0.25,
            "output": {"dir": str(tmp_path / "out")},
        },
        SpectralTrainConfig,
        source="test",
    )
    return train_spectra_from_config(config)


def test_a_refitted_model_is_calibrated_by_a_copy_fitted_on_the_training_part(
    tmp_path, monkeypatch
):
    seen = {}
    original = train_spectra.spectral_trust

    def spy(estimator, *args, calibration_model=None, **kwargs):
        seen["delivered"], seen["calibration"] = estimator, calibration_model
        return original(estimator, *args, calibration_model=calibration_model, **kwargs)

    monkeypatch.setattr(train_spectra, "spectral_trust", spy)
    result = train(tmp_path, {"max_components": 8})
    metrics = json.loads(result.metrics_file.read_text())
    n_train, n_valid = metrics["n_train"], metrics["n_valid"]
    # The delivered model was refitted on every spectrum; the copy only on the training part.
    assert seen["delivered"].n_train_ == n_train + n_valid
    assert seen["calibration"] is not seen["delivered"]
    assert seen["calibration"].n_train_ == n_train
    assert metrics["interval_calibration_model"].startswith("a copy fitted on the training part")
    intervals = load_artifact(result.artifact).trust.intervals
    assert intervals is not None and intervals.n == n_valid
    # The stored quantile is that of the copy's residuals on the validation spectra, which
    # are larger than the delivered model's in-sample residuals there.
    frame = pd.read_parquet(tmp_path / "spectra.parquet")
    spectra = frame.filter(like="wn_").to_numpy()
    log_kex = np.log10(frame["kex_cmol_kg"].to_numpy())
    _, valid = holdout_split(len(frame), fraction=0.25, groups=None, seed=0)
    axis = seen["delivered"].axis_

    def residuals(model):
        return np.abs(log_kex[valid] - np.log10(model.predict(spectra[valid], axis=axis)))

    out_of_sample, in_sample = residuals(seen["calibration"]), residuals(seen["delivered"])
    assert np.mean(out_of_sample) > np.mean(in_sample)
    assert intervals.quantile(0.9) >= np.quantile(in_sample, 0.9)


def test_the_workflow_reads_the_epo_pairs_table_and_hands_it_to_the_model(tmp_path):
    """EPO's pairs are read by the workflow (the step reads no file); config unchanged."""
    from ..spectra_tables import AXIS_CM1, spectra_frame

    dry = spectra_frame(30, seed=5)
    bands = [f"wn_{v:.1f}" for v in AXIS_CM1]
    water = np.exp(-0.5 * ((AXIS_CM1 - 1630.0) / 80.0) ** 2) + 0.3
    wetted = dry[bands].to_numpy() + np.linspace(0.1, 1.0, 30)[:, None] * water
    wet = pd.concat([dry.drop(columns=bands), pd.DataFrame(wetted, columns=bands)], axis=1)
    pairs = pd.concat([dry.assign(state="dry"), wet.assign(state="wet")], ignore_index=True)
    pairs_path = tmp_path / "pairs.parquet"
    pairs.to_parquet(pairs_path, index=False)
    epo = {
        "name": "epo",
        "pairs": str(pairs_path),
        "pair_column": "sample_id",
        "state_column": "state",
        "components": 1,
    }
    result = train(tmp_path, {"max_components": 8, "preprocessing": [epo, {"name": "snv"}]})
    model = load_artifact(result.artifact)
    assert model.header.preprocessing[0] == epo
    spectra = dry[bands].to_numpy()
    axis = model.estimator.axis_
    np.testing.assert_allclose(
        model.estimator.predict(wet[bands].to_numpy(), axis=axis),
        model.estimator.predict(spectra, axis=axis),
        rtol=0.05,
    )
