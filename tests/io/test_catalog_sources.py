"""Catalog sources: a multi-band raster, a VRT or a folder of rasters expand to layers."""

import datetime
import json

import numpy as np
import pystac
import pytest
import rasterio
import yaml
from rasterio.transform import from_bounds
from rasterio.warp import transform_bounds

from geosoil.errors import ConfigError, CovariateError, InputFileNotFoundError
from geosoil.geo.grid import Grid
from geosoil.io.catalog import read_catalog
from geosoil.mapping.stack import CovariateStack

from ..rasters import UTM_100M, write_raster


def multiband(path, descriptions, *, count=3):
    values = np.arange(count * 4 * 5, dtype="float32").reshape(count, 4, 5)
    write_raster(path, values)
    with rasterio.open(path, "r+") as dataset:
        for band, text in enumerate(descriptions, start=1):
            dataset.set_band_description(band, text)
    return path


def catalog(folder, *sources):
    path = folder / "covariates.yaml"
    path.write_text(yaml.safe_dump({"sources": list(sources)}))
    return path


def test_band_descriptions_become_layer_names(tmp_path):
    multiband(tmp_path / "stack.tif", ["elevation_m", "slope deg", "geology"])
    source = {"path": "stack.tif", "categorical": ["geology"], "units": {"elevation_m": "m"}}
    layers = read_catalog(catalog(tmp_path, source)).layers
    assert [(layer.name, layer.band) for layer in layers] == [
        ("elevation_m", 1),
        ("slope_deg", 2),
        ("geology", 3),
    ]
    assert layers[2].categorical and not layers[0].categorical and layers[0].units == "m"
    assert layers[0].path == tmp_path / "stack.tif"


def test_names_override_descriptions_and_must_match_the_band_count(tmp_path):
    multiband(tmp_path / "stack.tif", ["a", "b", "c"])
    names = {"path": "stack.tif", "names": ["x", "y", "z"]}
    assert read_catalog(catalog(tmp_path, names)).names() == ["x", "y", "z"]
    with pytest.raises(ConfigError, match="2 names for 3 bands") as info:
        read_catalog(catalog(tmp_path, {"path": "stack.tif", "names": ["x", "y"]}))
    assert info.value.field == "sources.0.names"


def test_bands_without_descriptions_ask_for_names(tmp_path):
    multiband(tmp_path / "plain.tif", [])
    with pytest.raises(ConfigError, match="without a description") as info:
        read_catalog(catalog(tmp_path, {"path": "plain.tif"}))
    assert info.value.path == tmp_path / "plain.tif"
    assert info.value.field == "sources.0.names" and "names:" in info.value.fix


def test_a_vrt_is_a_multiband_source(tmp_path):
    for name in ("a", "b"):
        write_raster(tmp_path / f"{name}.tif", np.ones((4, 5), "float32"))
    bands = "".join(
        f'<VRTRasterBand dataType="Float32" band="{i}"><Description>{name}_layer</Description>'
        f'<SimpleSource><SourceFilename relativeToVRT="1">{name}.tif</SourceFilename>'
        "<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand>"
        for i, name in enumerate(("a", "b"), start=1)
    )
    (tmp_path / "stack.vrt").write_text(
        f'<VRTDataset rasterXSize="5" rasterYSize="4"><SRS>EPSG:32654</SRS>'
        f"<GeoTransform>440000, 100, 0, 4190000, 0, -100</GeoTransform>{bands}</VRTDataset>"
    )
    layers = read_catalog(catalog(tmp_path, {"path": "stack.vrt"})).layers
    assert [layer.name for layer in layers] == ["a_layer", "b_layer"]


def test_folder_in_two_crs_is_warped_onto_the_grid(tmp_path):
    folder = tmp_path / "rasters"
    folder.mkdir()
    write_raster(folder / "elevation.tif", np.full((40, 50), 7.0, "float32"))
    # The same area in geographic coordinates (EPSG:4326), with a margin: warped when read.
    grid = Grid(crs="EPSG:32654", transform=UTM_100M, width=50, height=40)
    west, south, east, north = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds)
    lonlat = from_bounds(west - 0.01, south - 0.01, east + 0.01, north + 0.01, 60, 60)
    rain = np.full((60, 60), 3.0, "float32")
    write_raster(folder / "rain.tif", rain, crs="EPSG:4326", transform=lonlat)
    layers = read_catalog(catalog(tmp_path, {"path": "rasters"})).layers
    assert [layer.name for layer in layers] == ["elevation", "rain"]
    values = CovariateStack.from_layers(layers).read(grid)
    assert values.shape == (2, 40, 50)
    assert np.allclose(values[0], 7.0) and np.allclose(values[1], 3.0)


def test_an_empty_folder_is_refused(tmp_path):
    (tmp_path / "rasters").mkdir()
    with pytest.raises(CovariateError, match="no raster matches"):
        read_catalog(catalog(tmp_path, {"path": "rasters"}))


def stac_item(folder, assets):
    item = pystac.Item(
        id="covariates",
        geometry=None,
        bbox=None,
        datetime=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
        properties={},
    )
    for key, href in assets.items():
        item.add_asset(key, pystac.Asset(href, media_type=pystac.MediaType.COG, roles=["data"]))
    item.add_asset("thumbnail", pystac.Asset("./thumb.png", media_type=pystac.MediaType.PNG))
    path = folder / "item.json"
    path.write_text(json.dumps(item.to_dict(include_self_link=False, transform_hrefs=False)))
    return path


def test_a_stac_item_names_layers_by_asset_key(tmp_path):
    (tmp_path / "data").mkdir()
    write_raster(tmp_path / "data" / "dem.tif", np.ones((4, 5), "float32"))
    multiband(tmp_path / "data" / "climate.tif", ["rain_mm", "temp_c"], count=2)
    stac_item(tmp_path, {"elevation": "./data/dem.tif", "climate": "./data/climate.tif"})
    layers = read_catalog(catalog(tmp_path, {"path": "item.json"})).layers
    assert [layer.name for layer in layers] == ["elevation", "rain_mm", "temp_c"]
    assert layers[0].path == tmp_path / "data" / "dem.tif"


def test_a_stac_item_with_a_missing_asset_is_refused(tmp_path):
    stac_item(tmp_path, {"elevation": "./data/absent.tif"})
    with pytest.raises(InputFileNotFoundError, match="asset 'elevation'") as info:
        read_catalog(catalog(tmp_path, {"path": "item.json"}))
    assert info.value.path.name == "absent.tif" and info.value.field == "sources.0.path"
