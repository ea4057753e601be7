"""Real data: PLSR attributions of AfSIS MIR spectra per country, through the workflow.

PLSR keeps this in seconds (its attributions are exact, so completeness is checked to
rounding); the CNN path is the same code and is covered on synthetic spectra.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geosoil.config import load_config
from geosoil.config.explain import ExplainConfig
from geosoil.explain import ALL_GROUP, MIR_BANDS_CM1, bands_in_range
from geosoil.io.spectra import read_spectra
from geosoil.models.spectral.plsr import PLSR
from geosoil.workflows.explain import explain_from_config

from ..conftest import CONFIGS, real_data_dir
from . import data

TABLE = real_data_dir() / "afsis_mir" / "afsis_sentinel_mir_wetchem.parquet"

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.slow,
    pytest.mark.skipif(not TABLE.exists(), reason=f"real AfSIS data not found at {TABLE}"),
]


def test_plsr_attributions_per_country_on_afsis(tmp_path):
    samples = read_spectra(TABLE, id_column="SAMPLEID", drop_bands=["wn_599.8"])
    samples = samples.drop_missing("EXKM3S")
    plsr = PLSR(n_components=10, target_transform="log10")  # default: SNV, SG 1st deriv, CO2
    plsr.fit(samples.spectra, samples.target("EXKM3S", positive=True), axis=samples.axis)
    model = data.save(plsr, tmp_path / "models" / "plsr_seed00.safetensors")
    config = load_config(
        CONFIGS / "kex" / "afsis_explain.yaml",
        ExplainConfig,
        [
            f"models=[{model}]",
            f"spectra.path={TABLE}",
            "max_samples_per_group=15",
            f"output.dir={tmp_path / 'explained'}",
        ],
    )
    result = explain_from_config(config)
    table = pd.read_csv(result.table)
    countries = set(samples.frame["CNTISOC"].astype(str))
    assert set(table["group"]) == {ALL_GROUP, *countries} and len(countries) == 14
    # the default preprocessing removed the CO2 band: no attribution is reported there
    bands = table["band"].unique()
    assert not ((bands > 2269) & (bands < 2389)).any()
    assert bands.size == len(plsr.preprocessing_.axis_out_)
    # every tabulated MIR band lies inside the AfSIS axis and is marked on the figure
    assert len(bands_in_range(samples.axis.values, "cm-1")) == len(MIR_BANDS_CM1)
    summary = pd.read_json(result.summary, typ="series")
    assert summary["models"][0]["method"] == "linear"
    assert summary["models"][0]["completeness_gap_rel"] < 1e-5
    assert np.isfinite(table["mean_abs"]).all() and (table["mean_abs"] > 0).mean() > 0.9
