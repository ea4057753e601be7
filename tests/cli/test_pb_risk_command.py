"""``geosoil recommend pb-risk``: the shipped configs, a run end to end through the CLI, and bad
input refused with the field and the fix, a non-zero exit and nothing at the output path."""

import click
import pytest
import yaml
from click.testing import CliRunner

from geosoil.cli.main import GeoSoilGroup
from geosoil.cli.recommend import command as recommend_command
from geosoil.config import TrainConfig, load_config
from geosoil.config.pb_risk import RecommendPbRiskConfig

from ..conftest import CONFIGS

RISK = CONFIGS / "pb" / "demo_risk.yaml"


@click.group(cls=GeoSoilGroup)
def cli() -> None:
    """The top-level group, with the recommend command registered as main.py does."""


cli.add_command(recommend_command)


def run(world_dir, out, *flags, config=RISK):
    truth = world_dir / "truth"
    args = [
        "recommend",
        "pb-risk",
        config,
        "--out",
        out,
        f"--set=covariates.catalog={world_dir / 'covariates.yaml'}",
        "--set=pb.model=null",
        f"--set=pb.layer={truth / 'pb_mg_kg.tif'}",
        "--set=ph.model=null",
        f"--set=ph.layer={truth / 'ph.tif'}",
        "--set=execution.threads=1",
        "--set=execution.progress=false",
        *flags,
    ]
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_clean_failure(result, out, *expected):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ")
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert "fix:" in result.stderr
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.partial*"))


def test_shipped_configs_validate():
    risk = load_config(RISK, RecommendPbRiskConfig)
    assert risk.pb.model.name == "model.safetensors" and risk.ph.source == "model"
    assert risk.paddy_codes == [2] and risk.other_codes == [1]
    meuse = load_config(CONFIGS / "pb" / "meuse_risk.yaml", RecommendPbRiskConfig)
    assert meuse.ph.source == "constant" and 6.5 < meuse.ph.constant <= 7.5
    assert "no pH" in meuse.ph.reason
    for name, target in (("pb", "pb_mg_kg"), ("ph", "ph")):
        train = load_config(CONFIGS / "pb" / f"demo_train_{name}.yaml", TrainConfig)
        assert train.samples.target == target
        assert train.output.dir.parent == risk.pb.model.parent.parent


def test_rasters_end_to_end(world_dir, tmp_path):
    out = tmp_path / "risk"
    result = run(world_dir, out)
    assert result.exit_code == 0, result.output
    assert f"pb_risk_class: {out / 'map' / 'pb_risk_class.tif'}" in result.output
    assert "thresholds: GB 15618-2018" in result.output
    assert "class 2 (above intervention: high risk, strict control):" in result.output
    assert (out / "risk_summary.csv").exists() and (out / "config.yaml").exists()
    again = run(world_dir, out)
    assert again.exit_code != 0 and "--overwrite" in again.stderr
    assert run(world_dir, out, "--overwrite").exit_code == 0


def test_constant_ph_is_reported_with_its_reason(world_dir, tmp_path):
    out = tmp_path / "risk"
    result = run(
        world_dir,
        out,
        "--set=ph.layer=null",
        "--set=ph.constant=7.0",
        "--set=ph.reason=no pH was measured here",
    )
    assert result.exit_code == 0, result.output
    assert "pH: assumed 7 everywhere: no pH was measured here" in result.output
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["ph"]["reason"] == "no pH was measured here"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--set=ph=null"], ["field: ph", "no soil pH", "constant", "reason", "model"]),
        (
            ["--set=ph.layer=null", "--set=ph.constant=7"],
            ["field: ph", "needs ph.reason"],
        ),
        (["--set=ph.constant=7", "--set=ph.reason=x"], ["field: ph", "layer and constant"]),
        (["--set=ph.layer=missing_ph.tif"], ["field: ph.layer", "neither a covariate"]),
        (["--set=pb.layer=null"], ["field: pb", "neither of pb.model and pb.layer"]),
        (["--set=paddy_codes=[]"], ["field: land_use_layer", "needs paddy_codes"]),
        (["--set=land_use=paddy"], ["field: land_use_layer", "exclude each other"]),
        (["--set=thresholds=TABLE"], ["field: screening.paddy[2]", "not a finite number"]),
        (["--set=output_prefix=pb risk"], ["field: output_prefix"]),
        (["--resume", "--overwrite"], ["output.resume and output.overwrite"]),
    ],
)
def test_bad_input_fails_cleanly(world_dir, tmp_path, flags, expected):
    table = tmp_path / "table.yaml"
    table.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "bad",
                "citation": "x",
                "element": "Pb",
                "units": "mg/kg",
                "ph_edges": [6.5],
                "screening": {"other": [1, 2], "paddy": [1, 2, "x"]},
                "intervention": {"other": [4, 5], "paddy": [4, 5]},
            }
        )
    )
    out = tmp_path / "risk"
    flags = [flag.replace("TABLE", str(table)) for flag in flags]
    assert_clean_failure(run(world_dir, out, *flags), out, *expected)
