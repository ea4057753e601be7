from pathlib import Path

import pytest

from geosoil.config import MapConfig, TrainConfig, load_config, parse_overrides, save_config
from geosoil.errors import ConfigError, InputFileNotFoundError

from .conftest import CONFIGS


def test_demo_configs_validate():
    train = load_config(CONFIGS / "demo" / "train.yaml", TrainConfig)
    assert train.samples.target == "kex_cmol_kg"
    assert train.model.params["target_transform"] == "log10"
    mapping = load_config(CONFIGS / "demo" / "map.yaml", MapConfig)
    assert mapping.grid.reference == "elevation_m"


def test_overrides_are_typed_and_nested():
    config = load_config(
        CONFIGS / "demo" / "train.yaml",
        TrainConfig,
        ["evaluation.n_splits=7", "model.params.hidden_layers=[8, 4]", "output.dir=/tmp/x"],
    )
    assert config.evaluation.n_splits == 7
    assert config.model.params["hidden_layers"] == [8, 4]
    assert config.output.dir == Path("/tmp/x")


def test_unknown_key_suggests_the_right_one(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text((CONFIGS / "demo" / "train.yaml").read_text().replace("n_splits", "n_split"))
    with pytest.raises(ConfigError) as info:
        load_config(path, TrainConfig)
    message = str(info.value)
    assert "evaluation.n_split" in message and "did you mean 'n_splits'" in message
    assert str(path) in message


def test_unknown_override_key_is_refused():
    with pytest.raises(ConfigError, match="unknown config key 'samples.tagret'"):
        load_config(CONFIGS / "demo" / "train.yaml", TrainConfig, ["samples.tagret=ph"])


def test_invalid_value_names_the_field():
    with pytest.raises(ConfigError, match="evaluation.n_splits"):
        load_config(CONFIGS / "demo" / "train.yaml", TrainConfig, ["evaluation.n_splits=1"])


def test_malformed_override():
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_overrides(["no-equals-sign"])


def test_missing_config_file(tmp_path):
    with pytest.raises(InputFileNotFoundError):
        load_config(tmp_path / "absent.yaml", TrainConfig)


def test_grid_needs_one_definition(tmp_path):
    with pytest.raises(ConfigError, match="grid"):
        load_config(CONFIGS / "demo" / "map.yaml", MapConfig, ["grid.reference=null"])


def test_saved_config_round_trips(tmp_path):
    config = load_config(CONFIGS / "demo" / "train.yaml", TrainConfig, ["evaluation.seed=3"])
    save_config(config, tmp_path / "saved.yaml")
    assert load_config(tmp_path / "saved.yaml", TrainConfig) == config


def test_synth_config_sizes_are_the_world_sizes():
    from typing import get_args

    from geosoil.config import SynthConfig
    from geosoil.synthetic import WORLD_SIZES

    assert set(get_args(SynthConfig.model_fields["size"].annotation)) == set(WORLD_SIZES)


def test_an_error_raised_by_a_validator_names_the_config_file(tmp_path):
    from geosoil.config.pb_risk import RecommendPbRiskConfig

    path = tmp_path / "risk.yaml"
    path.write_text("pb: {layer: pb.tif}\ncovariates: {catalog: c.yaml}\n")
    with pytest.raises(ConfigError, match="no soil pH") as info:
        load_config(path, RecommendPbRiskConfig)
    assert info.value.path == path and info.value.field == "ph"
    assert f"file: {path}" in str(info.value)


def test_a_map_needs_models_or_products(tmp_path):
    from geosoil.config import validate_config

    raw = {"covariates": {"catalog": "c.yaml"}, "grid": {"reference": "dem"}}
    with pytest.raises(ConfigError, match="nothing to map"):
        validate_config(raw, MapConfig, source="test")
    products_only = validate_config(
        {**raw, "products": [{"name": "pb_risk", "params": {}}]}, MapConfig, source="test"
    )
    assert products_only.models == []
