import geopandas as gpd
import pytest
from shapely.affinity import translate

from geosoil.config import TrainConfig, load_config
from geosoil.errors import ConfigError, SampleDataError
from geosoil.workflows.train import build_training_table, train_from_config

from ..conftest import CONFIGS, FAST_TRAIN, world_overrides


def config_with_samples(world_dir, samples_path):
    return load_config(
        CONFIGS / "demo" / "train.yaml",
        TrainConfig,
        [*world_overrides(world_dir), f"samples.path={samples_path}"],
    )


def test_rows_off_the_rasters_or_without_target_are_dropped(world_dir, tmp_path, caplog):
    samples = gpd.read_parquet(world_dir / "samples.parquet")
    samples.loc[:9, "geometry"] = samples.loc[:9, "geometry"].apply(translate, xoff=1e6)
    samples.loc[10:14, "kex_cmol_kg"] = float("nan")
    path = tmp_path / "moved.parquet"
    samples.to_parquet(path)
    X, y, xy, layers = build_training_table(config_with_samples(world_dir, path))
    assert len(X) == len(y) == len(xy) == len(samples) - 15
    assert list(X.columns) == [layer.name for layer in layers]
    assert X.notna().all().all()
    assert "dropped 15" in caplog.text


def test_too_few_usable_samples(world_dir, tmp_path):
    samples = gpd.read_parquet(world_dir / "samples.parquet")
    samples["geometry"] = samples.geometry.apply(translate, xoff=1e6)
    samples.loc[:4, "geometry"] = gpd.read_parquet(world_dir / "samples.parquet").geometry[:5]
    path = tmp_path / "far.parquet"
    samples.to_parquet(path)
    with pytest.raises(SampleDataError, match="only 5 samples"):
        build_training_table(config_with_samples(world_dir, path))


def test_a_bad_hyperparameter_is_named_by_its_path_in_the_train_config(world_dir, tmp_path):
    # The estimator raises on params.threads; geosoil train places it under model.params.
    config = load_config(
        CONFIGS / "demo" / "train.yaml",
        TrainConfig,
        [
            *world_overrides(world_dir),
            *FAST_TRAIN,
            "model.params.threads=0",
            f"output.dir={tmp_path}/m",
        ],
    )
    with pytest.raises(ConfigError) as err:
        train_from_config(config)
    assert err.value.field == "model.params.threads"
    assert "model.params.threads" in str(err.value)
    assert not (tmp_path / "m").exists()
