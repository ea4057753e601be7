"""`geosoil config schema|example|docs` and the exit codes of usage and config errors."""

import json

import yaml

from geosoil.config.reference import markdown_reference

from ..conftest import CONFIGS


def test_schema_prints_json_schema_of_a_command(run_cli):
    result = run_cli("config", "schema", "map")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert {"models", "grid", "output", "covariates"} <= set(schema["properties"])


def test_example_prints_commented_yaml(run_cli):
    result = run_cli("config", "example", "catalog")
    assert result.exit_code == 0, result.output
    assert "# type: int; default: 1" in result.stdout
    assert "layers" in yaml.safe_load(result.stdout)


def test_docs_writes_the_reference(run_cli, tmp_path):
    out = tmp_path / "configs.md"
    assert run_cli("config", "docs", "--out", out).exit_code == 0
    assert out.read_text() == markdown_reference()


def test_unknown_command_is_a_usage_error(run_cli):
    result = run_cli("config", "schema", "mapp")
    assert result.exit_code == 2
    assert "'mapp' is not one of" in result.stderr and "'map'" in result.stderr


def test_config_error_exits_2_and_data_error_exits_1(run_cli, tmp_path):
    bad_key = run_cli("train", CONFIGS / "demo" / "train.yaml", "--set", "samples.pathh=x")
    assert bad_key.exit_code == 2 and "did you mean 'path'" in bad_key.stderr
    missing = run_cli(
        "train",
        CONFIGS / "demo" / "train.yaml",
        "--out",
        tmp_path / "out",
        "--set",
        f"samples.path={tmp_path / 'absent.gpkg'}",
    )
    assert missing.exit_code == 1 and "not found" in missing.stderr
