"""Real data: LimeSoDa vis-NIR, pretrain on SSP.460, transfer to SC.93 over its own folds.

Tiny settings (a few epochs, 2 folds) so that the test checks the whole path of
configs/limesoda on real spectra in seconds: explicit resampling of both sets onto the
parent's axis, the predefined folds, the parent's hash in the fine-tuned model. The full
comparison is `python benchmarks/pb_transfer.py --dataset limesoda`.
"""

import numpy as np
import pandas as pd
import pytest

from geosoil.artifacts import file_sha256, load_artifact
from geosoil.config import load_config
from geosoil.config.evaluate import EvaluateConfig, SpectralTrainConfig
from geosoil.models.training import torch_threads
from geosoil.workflows.evaluate import evaluate_from_config
from geosoil.workflows.train_spectra import train_spectra_from_config

from ..conftest import CONFIGS, real_data_dir

SOURCE = real_data_dir() / "limesoda" / "SSP.460.parquet"
TARGET = real_data_dir() / "limesoda" / "SC.93.parquet"

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(
        not (SOURCE.exists() and TARGET.exists()), reason=f"LimeSoDa not found at {SOURCE.parent}"
    ),
]


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def test_pretrain_on_ssp_and_transfer_to_sc_over_its_folds(tmp_path):
    parent_dir = tmp_path / "pretrain"
    pretrain = load_config(
        CONFIGS / "limesoda" / "pretrain_soc.yaml",
        SpectralTrainConfig,
        [f"spectra.path={SOURCE}", "model.params.max_epochs=3", f"output.dir={parent_dir}"],
    )
    trained = train_spectra_from_config(pretrain)
    parent = load_artifact(trained.artifact)
    axis = parent.header.input_spec.axis
    assert (axis[0], axis[-1], len(axis)) == (400.0, 2498.0, 2099)  # resampled explicitly

    out = tmp_path / "compare"
    config = load_config(
        CONFIGS / "limesoda" / "compare_soc.yaml",
        EvaluateConfig,
        [
            f"spectra.path={TARGET}",
            f"spectra.resample.like={trained.artifact}",
            f"models.transfer.params.init_from={trained.artifact}",
            "models.direct.params.max_epochs=3",
            "models.transfer.params.max_epochs=3",
            "save_models=true",
            "splits.n_seeds=2",
            f"output.dir={out}",
        ],
    )
    result = evaluate_from_config(config)
    folds = pd.read_parquet(TARGET, columns=["sample_id", "fold"]).set_index("sample_id")["fold"]
    predictions = pd.read_csv(out / "predictions.csv")
    for _, part in predictions.groupby(["model", "seed"]):
        assert folds.loc[part["sample_id"]].nunique() == 1  # one published fold per split
    assert set(result.summaries) == {"direct", "transfer", "plsr", "svr"}
    for summary in result.summaries.values():
        assert np.isfinite(summary["rmse_mean"]) and summary["rmse_mean"] > 0
    child = load_artifact(sorted((out / "models").glob("transfer_*.safetensors"))[0])
    assert child.header.provenance.parent_sha256 == file_sha256(trained.artifact)
    assert child.estimator.frozen_groups_ == ["features"]
