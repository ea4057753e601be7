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
            f"models=[{trained_dir / 'model.safetensors'}]",
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
    with rasterio.open(result.cogs["kex_cmol_kg"]) as dataset:
        assert dataset.shape == (40, 40) and dataset.res == (250.0, 250.0)
        assert dataset.bounds.left == 445000 and dataset.bounds.top == 4185000
        coarse = dataset.read(1, masked=True)
    assert coarse.count() > 0.5 * coarse.size

    full = map_from_config(config_for(world_dir, trained_dir, tmp_path / "full"))
    with rasterio.open(full.cogs["kex_cmol_kg"]) as dataset:
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
    with rasterio.open(result.cogs["kex_cmol_kg"]) as dataset, rasterio.open(reference) as ref:
        assert dataset.transform == ref.transform and dataset.shape == ref.shape


def test_aoi_crops_and_masks(world_dir, trained_dir, tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    # A 3 km disc in the middle of the region, delivered in another CRS.
    disc = gpd.GeoSeries([Point(450000, 4180000).buffer(3000)], crs="EPSG:32654")
    aoi = tmp_path / "aoi.gpkg"
    gpd.GeoDataFrame(geometry=disc.to_crs("EPSG:4326")).to_file(aoi)
    clipped = map_from_config(
        config_for(world_dir, trained_dir, tmp_path / "clip", f"grid.aoi={aoi}")
    )
    full = map_from_config(config_for(world_dir, trained_dir, tmp_path / "full"))
    with (
        rasterio.open(clipped.cogs["kex_cmol_kg"]) as small,
        rasterio.open(full.cogs["kex_cmol_kg"]) as big,
    ):
        assert small.res == big.res and 55 <= small.width <= 62
        values = small.read(1, masked=True)
        col, row = ~big.transform @ (small.bounds.left, small.bounds.top)
        window = big.read(1, masked=True)[
            int(row) : int(row) + small.height, int(col) : int(col) + small.width
        ]
        xs = small.bounds.left + (np.arange(small.width) + 0.5) * 100
        ys = small.bounds.top - (np.arange(small.height) + 0.5) * 100
        distance = np.hypot(xs[None, :] - 450000, ys[:, None] - 4180000)
    assert values.mask[distance > 3100].all()
    inside = (distance < 2900) & ~window.mask
    assert inside.sum() > 0.6 * np.pi * 29**2
    # Same pixels, same model; only the reprojected layer (map_mm, EPSG:4326) is warped over
    # another extent, where GDAL's approximate transformer (1/8 px) shifts values slightly.
    np.testing.assert_allclose(values.data[inside], window.data[inside], rtol=1e-2)


def test_aoi_defines_the_extent_of_an_explicit_grid(world_dir, trained_dir, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    aoi = tmp_path / "aoi.geojson"
    gpd.GeoDataFrame(geometry=[box(446000, 4176000, 452000, 4182000)], crs="EPSG:32654").to_file(
        aoi
    )
    config = config_for(
        world_dir,
        trained_dir,
        tmp_path / "m",
        "grid.reference=null",
        "grid.crs=EPSG:32654",
        "grid.resolution_m=200",
        f"grid.aoi={aoi}",
    )
    with rasterio.open(map_from_config(config).cogs["kex_cmol_kg"]) as dataset:
        assert dataset.shape == (30, 30) and dataset.bounds.left == 446000
