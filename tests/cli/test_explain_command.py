"""``geosoil explain`` end to end with the example config, paths redirected with --set."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from geosoil.cli.explain import command
from geosoil.cli.main import GeoSoilGroup

from ..conftest import CONFIGS
from ..explain import data

CONFIG = CONFIGS / "kex" / "afsis_explain.yaml"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return data.write_inputs(tmp_path_factory.mktemp("explain_cli"))


@pytest.fixture
def explain(inputs):
    """Run ``geosoil explain`` on the example config pointed at the test table and models."""
    # A group of its own: the command is registered in geosoil.cli.main by the integrator,
    # and the group is what turns a GeoSoilError into a message and an exit code.
    group = GeoSoilGroup(commands={"explain": command})
    table, models = inputs
    pattern = models[0].parent / "cnn_seed*.safetensors"
    redirect = [
        f"models=[{pattern}]",
        f"spectra.path={table}",
        "spectra.id_column=sample_id",
        "spectra.drop_bands=[]",
        "group_column=soil_order",
        "max_samples_per_group=6",
        "n_samples=3",
    ]

    def run(*args, extra=()):
        sets = [f"--set={item}" for item in (*redirect, *extra)]
        return CliRunner().invoke(group, ["explain", str(CONFIG), *map(str, args), *sets])

    return run


def test_explain_writes_the_outputs_and_says_where(explain, tmp_path):
    out = tmp_path / "explained"
    result = explain("--out", out)
    assert result.exit_code == 0, result.output
    assert "models: 2" in result.output and f"table: {out / 'attributions.csv'}" in result.output
    table = pd.read_csv(out / "attributions.csv")
    assert set(table["group"]) == {"(all)", *data.GROUPS} and (table["n_seeds"] == 2).all()
    assert (out / "attributions.png").is_file() and (out / "config.yaml").is_file()


def test_a_missing_group_column_is_a_clear_error(explain, tmp_path):
    out = tmp_path / "explained"
    result = explain("--out", out, extra=["group_column=order"])
    assert result.exit_code == 1
    assert "group column 'order'" in result.stderr and "soil_order" in result.stderr
    assert "Traceback" not in result.output and not out.exists()


def test_no_matching_model_is_a_clear_error(explain, tmp_path):
    result = explain("--out", tmp_path / "x", extra=[f"models={tmp_path}/none_*.safetensors"])
    assert result.exit_code == 1
    assert "no model artifact matched" in result.stderr and "field: models" in result.stderr


def test_an_existing_output_needs_overwrite(explain, tmp_path):
    out = tmp_path / "explained"
    out.mkdir()
    (out / "old.txt").write_text("x")
    refused = explain("--out", out)
    assert refused.exit_code == 2 and "--overwrite" in refused.stderr
    replaced = explain("--out", out, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert not (out / "old.txt").exists() and (out / "attributions.csv").is_file()


def test_an_unknown_config_key_is_refused(explain, tmp_path):
    result = explain("--out", tmp_path / "x", extra=["n_sample=5"])
    assert result.exit_code == 2 and "did you mean 'n_samples'" in result.stderr
