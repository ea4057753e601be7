"""``geosoil evaluate`` and spectral ``geosoil train`` through click, with the configs users run."""

import pytest
from click.testing import CliRunner

from geosoil.artifacts import read_header
from geosoil.cli.evaluate import command as evaluate_command
from geosoil.cli.main import GeoSoilGroup
from geosoil.cli.train import command as train_command
from geosoil.models.training import torch_threads

from ..conftest import CONFIGS
from ..spectra_tables import AXIS_CM1, write_spectra_table

# The synthetic config, shrunk: 2 splits, a 2-epoch CNN, PLSR up to 5 components.
FAST = [
    "--seeds",
    "2",
    "--set",
    "models.cnn.params.max_epochs=2",
    "--set",
    "models.cnn.params.threads=1",
    "--set",
    "models.plsr.params.max_components=5",
    "--set",
    "learning_curve.enabled=false",
]


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return write_spectra_table(tmp_path_factory.mktemp("cli") / "library.parquet", n=100)


@pytest.fixture
def geosoil():
    """The geosoil group with these commands, as main.py registers them."""
    group = GeoSoilGroup(name="geosoil", commands=[evaluate_command, train_command])
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(group, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_evaluate_runs_the_synthetic_config(geosoil, table, tmp_path):
    out = tmp_path / "eval"
    config = CONFIGS / "kex" / "synthetic_evaluate.yaml"
    result = geosoil("evaluate", config, "--out", out, "--set", f"spectra.path={table}", *FAST)
    assert result.exit_code == 0, result.output
    assert "cnn: R2 " in result.output and "plsr: R2 " in result.output
    assert "(2 splits)" in result.output
    assert (out / "report.md").is_file() and (out / "observed_vs_predicted_plsr.png").is_file()
    saved = (out / "config.yaml").read_text()
    assert "n_seeds: 2" in saved and str(table) in saved

    again = geosoil("evaluate", config, "--out", out, "--set", f"spectra.path={table}", *FAST)
    assert again.exit_code != 0 and "not empty" in again.stderr and "--overwrite" in again.stderr
    forced = geosoil(
        "evaluate", config, "--out", out, "--overwrite", "--set", f"spectra.path={table}", *FAST
    )
    assert forced.exit_code == 0, forced.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "group_columns=[texture]"], "group column 'texture' is not in"),
        (["--set", "models.cnn.estimator=svm"], "estimator 'svm' is not a registered"),
        (["--set", "models.plsr.params.components=3"], "has no hyperparameter(s) ['components']"),
        (["--set", "splits.scheme=grouped"], "needs splits.group_column"),
        (["--seeds", "0"], "--seeds"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(geosoil, table, tmp_path, extra, message):
    out = tmp_path / "eval"
    result = geosoil(
        "evaluate",
        CONFIGS / "kex" / "synthetic_evaluate.yaml",
        "--out",
        out,
        "--set",
        f"spectra.path={table}",
        *FAST,
        *extra,
    )
    assert result.exit_code != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_zero_targets_and_nan_spectra_name_the_fix(geosoil, tmp_path):
    zeros = write_spectra_table(
        tmp_path / "zeros.csv", n=40, kex_cmol_kg=lambda f: f["kex_cmol_kg"] * (f.index != 3)
    )
    result = geosoil(
        "evaluate", CONFIGS / "kex" / "synthetic_evaluate.yaml", "--out", tmp_path / "a",
        "--set", f"spectra.path={zeros}", *FAST,
    )  # fmt: skip
    assert result.exit_code != 0
    assert "zero or negative" in result.stderr and "target_transform: none" in result.stderr
    band = f"wn_{AXIS_CM1[100]:.1f}"
    gaps = write_spectra_table(
        tmp_path / "gaps.csv", n=40, **{band: lambda f: f[band].where(f.index != 3)}
    )
    result = geosoil(
        "evaluate", CONFIGS / "kex" / "synthetic_evaluate.yaml", "--out", tmp_path / "b",
        "--set", f"spectra.path={gaps}", *FAST,
    )  # fmt: skip
    assert result.exit_code != 0
    assert "NaN" in result.stderr and "s0003" in result.stderr and "fix:" in result.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_train_picks_the_spectral_workflow_for_a_spectra_config(geosoil, table, tmp_path):
    out = tmp_path / "model"
    result = geosoil(
        "train",
        CONFIGS / "kex" / "afsis_train.yaml",
        "--out",
        out,
        "--set",
        f"spectra.path={table}",
        "--set",
        "spectra.target=kex_cmol_kg",
        "--set",
        "spectra.id_column=sample_id",
        "--set",
        "spectra.drop_bands=[]",
        "--set",
        "group_column=site_id",
        "--set",
        "model.params.max_epochs=2",
        "--set",
        "model.params.threads=1",
    )
    assert result.exit_code == 0, result.output
    assert "artifact:" in result.output and "valid (" in result.output
    header = read_header(out / "model.safetensors")
    assert header.estimator == "spectral_cnn" and header.input_spec.kind == "spectra"
    assert header.provenance.config["group_column"] == "site_id"
    assert (out / "metrics.json").is_file() and (out / "config.yaml").is_file()


def test_train_validates_a_spectral_config_as_one(geosoil, table, tmp_path):
    result = geosoil(
        "train",
        CONFIGS / "kex" / "afsis_train.yaml",
        "--out",
        tmp_path / "m",
        "--set",
        f"spectra.path={table}",
        "--set",
        "evaluation.n_splits=3",
    )
    # a covariate-only key in a spectral config is an unknown key of the spectral config
    assert result.exit_code != 0 and "unknown config key 'evaluation'" in result.stderr
