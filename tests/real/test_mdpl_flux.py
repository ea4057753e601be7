"""Real data: ``configs/mdpl/flux.yaml`` runs on the four tower records (small settings)."""

import json

import pandas as pd
import pytest
import torch

from geosoil.config import CalibrateConfig, load_config
from geosoil.workflows import calibrate_from_config

from ..conftest import REPO, real_data_dir

FLUX = real_data_dir() / "flux"

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (FLUX / "reddyproc_DETha_1998_halfhourly.csv").is_file(),
        reason=f"real flux data not found at {FLUX}",
    ),
]


def test_the_flux_config_calibrates_every_tower_record(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    text = (REPO / "configs" / "mdpl" / "flux.yaml").read_text()
    config = tmp_path / "flux.yaml"
    config.write_text(text.replace("../shared/data/real", str(real_data_dir())))
    cfg = load_config(
        config,
        CalibrateConfig,
        [
            f"output.dir={tmp_path / 'out'}",
            "surrogate.n_parameter_sets=8",
            "surrogate.n_valid_sets=4",
            "surrogate.params.epochs=2",
            "generator.max_epochs=3",
            "generator.steps_per_sample=64",
        ],
    )
    try:
        result = calibrate_from_config(cfg)
    finally:
        torch.set_num_threads(threads)
    summary = json.loads(result.summary.read_text())
    assert summary["n_samples"] == 15  # DE-Tha 1998 by month + three site-months
    assert set(summary["rmse_change"]) == {
        "DE-Tha 1998",
        "AT-Neu 2010-07",
        "DE-Tha 2014-06",
        "FR-Pue 2012-05",
    }
    table = pd.read_csv(result.taylor)
    assert set(table["run"]) == {"default", "calibrated", "loso"}
    # 2,500 of DE-Tha's 17,520 half-hours have no observed H: they are left out, not filled
    tharandt = table[(table.site == "DE-Tha 1998") & (table.flux == "h_w_m2")]
    assert (tharandt["n"] == 17520 - 2500).all()
