"""``calibrate_from_config``: surrogate -> g_z -> calibrated vs default, on tiny towers."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from geosoil.artifacts import load_artifact
from geosoil.config import CalibrateConfig, validate_config
from geosoil.errors import ConfigError, SampleDataError
from geosoil.io.alma import read_alma
from geosoil.models.training import torch_threads
from geosoil.process.lsm_params import LSM_PARAMETER_NAMES
from geosoil.synthetic import make_flux_sites
from geosoil.workflows.calibrate import (
    add_site_attributes,
    alma_pairs,
    calibrate_from_config,
    split_samples,
)

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def towers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flux") / "towers"
    sites = make_flux_sites(4, n_days=6, seed=3)
    sites.write(folder)
    return folder, sites


def tiny_config(folder, out, **extra) -> CalibrateConfig:
    raw = {
        "sites": [{"folder": str(folder)}],
        "site_table": str(folder / "sites.csv"),
        "period": "record",
        "simulator": {"kind": "lsm", "initial_soil_water_fraction": 0.5},
        "surrogate": {"n_parameter_sets": 8, "n_valid_sets": 4, "params": {"epochs": 3}},
        "generator": {
            "attribute_names": ["latitude_deg", "sand_fraction"],
            "max_epochs": 4,
            "patience": 4,
            "steps_per_sample": 64,
        },
        "evaluation": {"leave_one_site_out": True, "truth": str(folder / "truth.csv")},
        "output": {"dir": str(out)},
        **extra,
    }
    return validate_config(raw, CalibrateConfig, source="test")


@pytest.fixture(scope="module")
def run(towers, tmp_path_factory):
    folder, _ = towers
    out = tmp_path_factory.mktemp("run") / "mdpl"
    return calibrate_from_config(tiny_config(folder, out))


def test_every_output_is_written(run):
    names = sorted(p.name for p in run.out_dir.iterdir())
    assert names == sorted(
        [
            "config.yaml",
            "model.safetensors",
            "parameters.csv",
            "report.md",
            "summary.json",
            "surrogate.safetensors",
            "surrogate_accuracy.json",
            "taylor.csv",
            "taylor.png",
        ]
    )
    assert (run.out_dir / "taylor.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_taylor_rows_cover_every_site_flux_and_run(run, towers):
    _, sites = towers
    table = pd.read_csv(run.taylor)
    assert len(table) == len(sites.sites) * 2 * 3
    assert set(table["run"]) == {"default", "calibrated", "loso"}
    assert set(table["flux"]) == {"h_w_m2", "le_w_m2"}
    assert (table["n"] > 100).all()
    summary = json.loads(run.summary.read_text())
    for site, fluxes in summary["rmse_change"].items():
        for flux, entry in fluxes.items():
            row = table[(table.site == site) & (table.flux == flux) & (table.run == "default")]
            assert entry["rmse_default"] == pytest.approx(float(row["rmse"].iloc[0]), abs=1e-3)
            expected = (
                100 * (entry["rmse_calibrated"] - entry["rmse_default"]) / entry["rmse_default"]
            )
            assert entry["change_pct"] == pytest.approx(expected, abs=0.05)


def test_defaults_are_the_igbp_table_and_calibrated_rows_are_the_artifact(run, towers):
    folder, sites = towers
    parameters = pd.read_csv(run.out_dir / "parameters.csv")
    names = list(LSM_PARAMETER_NAMES)
    default = parameters[parameters.run == "default"].set_index("station")
    for site in sites.sites:
        from geosoil.process.lsm_params import default_parameters

        expected = default_parameters(site.attributes["igbp"])
        assert default.loc[site.site, names].tolist() == pytest.approx([expected[n] for n in names])
    model = load_artifact(run.model).estimator
    records = add_site_attributes(
        [read_alma(met, flux) for met, flux in alma_pairs(folder)], folder / "sites.csv"
    )
    calibrated = parameters[parameters.run == "calibrated"]
    np.testing.assert_allclose(
        model.predict(records), calibrated[names].to_numpy(), rtol=1e-6, atol=1e-9
    )


def test_recovery_is_scored_against_the_truth_table(run):
    summary = json.loads(run.summary.read_text())
    recovery = summary["recovery"]
    assert recovery["n_stations"] == 4
    assert set(recovery["calibrated"]) == set(LSM_PARAMETER_NAMES)
    assert "loso" in recovery


def test_the_config_is_saved_beside_the_outputs(run):
    text = (run.out_dir / "config.yaml").read_text()
    assert "initial_soil_water_fraction: 0.5" in text


def test_monthly_periods_split_records(towers):
    _, sites = towers
    records = [s.to_record() for s in sites.sites]
    assert len(split_samples(records, period="record", min_period_days=1)) == 4
    with pytest.raises(ConfigError, match="min_period_days"):
        split_samples(records, period="month", min_period_days=20)


def test_a_missing_variable_without_a_fill_is_refused_before_writing(tmp_path):
    csv = tmp_path / "tower.csv"
    rows = ["site,lat,lon,Year,DoY,Hour,NEE,LE,H,Rg,Tair,Tsoil,rH,VPD,Ustar"]
    for step in range(96):  # two days; REddyProc's Hour marks the end of each half-hour
        end_h = (step + 1) * 0.5
        doy = 1 + int((end_h - 1e-9) // 24)
        hour = end_h - 24 * (doy - 1)
        rows.append(f"XX-Tst,50,10,2000,{doy},{hour},0,20,30,100,10,8,60,5,0.3")
    csv.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    cfg = validate_config(
        {
            "sites": [{"path": str(csv), "attributes": {"igbp": "GRA"}}],
            "period": "record",
            "output": {"dir": str(out)},
        },
        CalibrateConfig,
        source="test",
    )
    with pytest.raises(SampleDataError) as err:
        calibrate_from_config(cfg)
    assert "wind_m_s" in str(err.value) and "fill" in str(err.value)
    assert not out.exists()


def test_unknown_surrogate_settings_are_refused(towers, tmp_path):
    folder, _ = towers
    cfg = tiny_config(folder, tmp_path / "out")
    cfg.surrogate.params = {"epoch": 3}
    with pytest.raises(ConfigError) as err:
        calibrate_from_config(cfg)
    assert err.value.field == "surrogate.params.epoch"
    assert not (tmp_path / "out").exists()


def test_a_bad_generator_setting_is_named_by_its_path_in_the_calibrate_config(towers, tmp_path):
    # The generator raises on params.hidden_layers; calibrate keeps it under generator.
    folder, _ = towers
    cfg = tiny_config(folder, tmp_path / "out")
    cfg.generator["hidden_layers"] = 16
    with pytest.raises(ConfigError) as err:
        calibrate_from_config(cfg)
    assert err.value.field == "generator.hidden_layers"
    assert "generator.hidden_layers" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_a_site_table_that_contradicts_the_files_is_refused(towers, tmp_path):
    folder, _ = towers
    table = pd.read_csv(folder / "sites.csv")
    table.loc[0, "latitude_deg"] += 1.0
    bad = tmp_path / "sites.csv"
    table.to_csv(bad, index=False)
    records = [read_alma(met, flux) for met, flux in alma_pairs(folder)]
    with pytest.raises(SampleDataError) as err:
        add_site_attributes(records, bad)
    assert err.value.field == "latitude_deg"
    with pytest.raises(SampleDataError, match="no row"):
        add_site_attributes(records, _drop_first_row(folder / "sites.csv", tmp_path))


def _drop_first_row(path, tmp_path):
    out = tmp_path / "fewer.csv"
    pd.read_csv(path).iloc[1:].to_csv(out, index=False)
    return out


def test_a_users_own_model_plugs_in_as_a_python_callable(towers, tmp_path, monkeypatch):
    folder, _ = towers
    module = tmp_path / "my_bucket_model.py"
    module.write_text(
        textwrap.dedent(
            """
            import numpy as np

            def run(forcing, parameters):
                # H and LE as fixed shares of the absorbed shortwave
                sw = forcing.sw_in_w_m2.numpy()
                p = parameters.numpy()
                le = p[:, :1] * sw
                h = (1.0 - p[:, :1]) * 0.5 * sw
                return np.stack([h, le], axis=1)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    simulator = {
        "kind": "python",
        "callable": "my_bucket_model:run",
        "parameters": [
            {"name": "evaporative_share", "unit": "1", "lower": 0.05, "upper": 0.8, "default": 0.3}
        ],
    }
    cfg = tiny_config(folder, tmp_path / "out", simulator=simulator)
    cfg.evaluation.truth = None
    cfg.evaluation.leave_one_site_out = False
    result = calibrate_from_config(cfg)
    parameters = pd.read_csv(result.out_dir / "parameters.csv")
    assert list(parameters.columns[-1:]) == ["evaporative_share"]
    default = parameters[parameters.run == "default"]["evaporative_share"]
    assert (default == 0.3).all()
    table = pd.read_csv(result.taylor)
    assert set(table["run"]) == {"default", "calibrated"}


def test_a_failing_external_simulator_stops_the_run_with_its_message(towers, tmp_path):
    import sys

    from geosoil.models.lsm.simulators import SimulatorError

    folder, _ = towers
    script = tmp_path / "broken_model.py"
    script.write_text(
        "import sys\nsys.stderr.write('licence server unreachable\\n')\nsys.exit(2)\n"
    )
    simulator = {
        "kind": "command",
        "command": [sys.executable, str(script), "{forcing}", "{parameters}", "{output}"],
        "parameters": [
            {"name": "evaporative_share", "unit": "1", "lower": 0.05, "upper": 0.8, "default": 0.3}
        ],
    }
    cfg = tiny_config(folder, tmp_path / "out", simulator=simulator)
    with pytest.raises(SimulatorError) as err:
        calibrate_from_config(cfg)
    assert "licence server unreachable" in str(err.value)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.partial-*"))
