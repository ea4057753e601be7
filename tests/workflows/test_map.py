import numpy as np
import pytest
import rasterio

from geosoil.config import MapConfig, load_config
from geosoil.errors import ConfigError
from geosoil.workflows import map_from_config

from ..conftest import CONFIGS


def config_for(world_dir, trained_dir, out, *extra):
    return load_config(
        CONFIGS / "demo" / "map.yaml",
        MapConfig,
        [
            f"model={trained_dir / 'model.safetensors'}",
            f"covariates.catalog={world_dir / 'covariates.yaml'}",
            f"output.dir={out}",
            *extra,
        ],
    )


def test_map_onto_an_explicit_coarser_grid(world_dir, trained_dir, tmp_path):
    # Part of the region at 250 m: every layer is warped onto a grid none of them has.
    bounds = "[445000, 4175000, 455000, 4185000]"
    explicit = config_for(
        world_dir,
        trained_dir,
        tmp_path / "coarse",
        "grid.reference=null",
        "grid.crs=EPSG:32654",
        "grid.resolution_m=250",
        f"grid.bounds={bounds}",
    )
    result = map_from_config(explicit)
    with rasterio.open(result.cog) as dataset:
        assert dataset.shape == (40, 40) and dataset.res == (250.0, 250.0)
        assert dataset.bounds.left == 445000 and dataset.bounds.top == 4185000
        coarse = dataset.read(1, masked=True)
    assert coarse.count() > 0.5 * coarse.size

    full = map_from_config(config_for(world_dir, trained_dir, tmp_path / "full"))
    with rasterio.open(full.cog) as dataset:
        fine = dataset.read(1, masked=True)
    # The coarse map agrees with the 100 m map in distribution over the same area.
    window = fine[50:150, 50:150]
    assert abs(np.ma.median(coarse) - np.ma.median(window)) < 0.2 * np.ma.median(window)


def test_reference_that_is_neither_layer_nor_file(world_dir, trained_dir, tmp_path):
    config = config_for(world_dir, trained_dir, tmp_path / "m", "grid.reference=elevation")
    with pytest.raises(ConfigError, match="neither a catalog layer nor a file"):
        map_from_config(config)
    assert not (tmp_path / "m").exists()


def test_reference_raster_path(world_dir, trained_dir, tmp_path):
    reference = world_dir / "covariates" / "mat_degc.tif"  # the 200 m layer
    result = map_from_config(
        config_for(world_dir, trained_dir, tmp_path / "m", f"grid.reference={reference}")
    )
    with rasterio.open(result.cog) as dataset, rasterio.open(reference) as ref:
        assert dataset.transform == ref.transform and dataset.shape == ref.shape
