"""What a map folder tells other tools: STAC item, class names, Zarr class flags, one
colour stretch per model, absolute provenance."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import xarray as xr
import yaml
from pystac.validation import validate_dict

from geosoil.geo.outputs import OutputVariable
from geosoil.io.maps import open_map_zarr
from geosoil.mapping.statistics import BandStatistics
from geosoil.workflows import map_from_config
from geosoil.workflows.map import shared_stretches

from .test_map import config_for


@pytest.fixture(scope="module")
def mapped(world_dir, trained_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("metadata") / "map"
    config = config_for(world_dir, trained_dir, out, "grid.bounds=null")
    return map_from_config(config)


def test_stac_item_links_every_file_and_validates(mapped):
    path = mapped.out_dir / "item.json"
    data = json.loads(path.read_text())
    # The core schema ships with pystac and is checked offline; the projection and raster
    # extension schemas would be fetched over the network, so their fields are checked here.
    assert validate_dict(data, extensions=[]) is not None
    assert any("projection" in ext for ext in data["stac_extensions"])
    assert any("raster" in ext for ext in data["stac_extensions"])
    item = pystac.Item.from_file(str(path))
    assets = item.get_assets()
    assert {"kex_cmol_kg", "kex_cmol_kg_style", "zarr", "config"} <= set(assets)
    for asset in assets.values():
        assert (mapped.out_dir / asset.href).exists(), asset.href
    with rasterio.open(mapped.cogs["kex_cmol_kg"]) as cog:
        assert item.properties["proj:shape"] == [cog.height, cog.width]
        assert item.properties["proj:code"] == cog.crs.to_string()
    band = assets["kex_cmol_kg"].extra_fields["raster:bands"][0]
    assert band["data_type"] == "float32" and band["statistics"]["minimum"] > 0
    classes = next(a for key, a in assets.items() if key.endswith("_class"))
    names = [c.get("title") for c in classes.extra_fields["classification:classes"]]
    assert names == ["low", "below target", "at or above target", None]
    artifact = item.properties["geosoil:artifacts"][0]
    assert Path(artifact["path"]).is_absolute() and len(artifact["sha256"]) == 64
    catalog = item.properties["geosoil:config"]["covariates"]["catalog"]
    assert Path(catalog).is_absolute() and Path(catalog).is_file()


def test_class_layer_names_its_categories(mapped):
    name = "kex_cmol_kg_class"
    sidecar = mapped.cogs[name].with_name(mapped.cogs[name].name + ".aux.xml")
    root = ET.parse(sidecar).getroot()
    categories = [c.text for c in root.iter("Category")]
    assert categories == ["low", "below target", "at or above target"]
    rows = [[f.text for f in row] for row in root.iter("Row")]
    assert rows[0] == ["0", "low", "215", "25", "28"]


def test_zarr_classes_keep_integer_codes_with_flags(mapped):
    # xarray masks a fill value by turning integers into floats; without masking the codes
    # stay integers and flag_values/flag_meanings name them (255 is nodata).
    dataset = xr.open_zarr(mapped.zarr, consolidated=True, mask_and_scale=False)
    name = "kex_cmol_kg_class"
    layer = dataset[name]
    assert layer.dtype == "uint8"
    assert list(layer.attrs["flag_values"]) == [0, 1, 2]
    assert layer.attrs["flag_meanings"] == "low below_target at_or_above_target"
    opened = open_map_zarr(mapped.zarr)
    assert opened[name].dtype == "uint8" and opened["kex_cmol_kg"].dtype == "float32"
    assert bool(opened["kex_cmol_kg"].isnull().any()) == bool((opened[name] == 255).any())


def test_provenance_tags_hold_absolute_paths(mapped):
    with rasterio.open(mapped.cogs["kex_cmol_kg"]) as cog:
        recorded = yaml.safe_load(cog.tags()["geosoil_config"])
    assert Path(recorded["covariates"]["catalog"]).is_absolute()
    assert all(Path(model["path"]).is_absolute() for model in recorded["models"])


def stats(low, high):
    return BandStatistics.of(np.linspace(low, high, 101))


def test_mean_and_interval_layers_share_one_stretch():
    names = ["kex", "kex_spread_sd", "kex_spread_lo", "kex_spread_hi", "kex_lo", "kex_hi", "ph"]
    ranges = [(1, 2), (0.1, 0.3), (0.5, 1.5), (1.5, 3), (0.2, 1.4), (1.6, 3.5), (5, 7)]
    variables = [OutputVariable(name) for name in names]
    statistics = {name: stats(*bounds) for name, bounds in zip(names, ranges, strict=True)}
    stretches = shared_stretches(variables, statistics)
    shared = {stretches[name] for name in ("kex", "kex_spread_lo", "kex_spread_hi", "kex_lo")}
    assert len(shared) == 1 and stretches["kex_hi"] in shared
    assert stretches["kex"][0] < statistics["kex"].display_range()[0]
    assert stretches["kex"][1] > statistics["kex"].display_range()[1]
    assert stretches["kex_spread_sd"] == statistics["kex_spread_sd"].display_range()
    assert stretches["ph"] == statistics["ph"].display_range()
