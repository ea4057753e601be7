"""A user's multi-band GeoTIFF: `catalog build` -> train -> map -> predict, through the CLI."""

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import yaml

from geosoil.geo.grid import Grid
from geosoil.geo.outputs import MapClass, OutputVariable
from geosoil.io.catalog import read_catalog
from geosoil.io.cog import write_categories
from geosoil.mapping.stack import CovariateStack

from ..conftest import CONFIGS, FAST_TRAIN


def stack_world(world_dir, path):
    """The world's covariates as one float32 GeoTIFF whose band descriptions are the names."""
    layers = read_catalog(world_dir / "covariates.yaml").layers
    reference = next(layer for layer in layers if layer.name == "elevation_m")
    grid = Grid.from_raster(reference.path)
    values = CovariateStack.from_layers(layers).read(grid)
    with rasterio.open(reference.path) as dataset:
        profile = dataset.profile
    profile.update(count=len(layers), dtype="float32", nodata=-9999.0, driver="GTiff")
    with rasterio.open(path, "w", **profile) as out:
        out.write(np.where(np.isfinite(values), values, -9999.0).astype("float32"))
        for index, layer in enumerate(layers, start=1):
            out.set_band_description(index, layer.name)
    return [layer.name for layer in layers if layer.categorical]


def test_multiband_geotiff_to_catalog_train_map_and_predict(run_cli, world_dir, tmp_path):
    classes = stack_world(world_dir, tmp_path / "stack.tif")
    catalog = tmp_path / "covariates.yaml"
    built = run_cli(
        "catalog", "build", tmp_path / "stack.tif", "--out", catalog,
        "--categorical", ",".join(classes),
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    written = yaml.safe_load(catalog.read_text())
    assert written["layers"][0]["path"] == "stack.tif"
    assert read_catalog(catalog).names() == read_catalog(world_dir / "covariates.yaml").names()

    model_dir = tmp_path / "train"
    trained = run_cli(
        "train", CONFIGS / "demo" / "train.yaml", "--out", model_dir,
        f"--set=samples.path={world_dir / 'samples.parquet'}",
        f"--set=covariates.catalog={catalog}",
        *[f"--set={o}" for o in FAST_TRAIN],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    reference = read_catalog(catalog).names()[0]
    mapped = run_cli(
        "map", CONFIGS / "demo" / "map.yaml", "--model", model_dir / "model.safetensors",
        "--covariates", catalog, "--out", tmp_path / "map", "--format", "cog",
        f"--set=grid.reference={reference}", "--set=products=[]",
    )  # fmt: skip
    assert mapped.exit_code == 0, mapped.output
    with rasterio.open(tmp_path / "map" / "kex_cmol_kg.tif") as dataset:
        values = dataset.read(1, masked=True)
    assert values.count() > 0.5 * values.size and float(values.min()) > 0

    # Points predicted from the same multi-band catalog equal the map at their pixels.
    samples = gpd.read_parquet(world_dir / "samples.parquet").iloc[:20]
    points = tmp_path / "points.gpkg"
    samples[["geometry"]].to_file(points)
    predicted = run_cli(
        "predict", model_dir / "model.safetensors", points, "--catalog", catalog,
        "--out", tmp_path / "predicted.csv",
    )  # fmt: skip
    assert predicted.exit_code == 0, predicted.output
    table = pd.read_csv(tmp_path / "predicted.csv")
    with rasterio.open(tmp_path / "map" / "kex_cmol_kg.tif") as dataset:
        at_points = [
            value[0]
            for value in dataset.sample(zip(samples.geometry.x, samples.geometry.y, strict=True))
        ]
    np.testing.assert_allclose(table["kex_cmol_kg_pred"], at_points, rtol=1e-4)


def test_build_without_descriptions_asks_for_names(run_cli, tmp_path):
    path = tmp_path / "plain.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=4, height=3, count=2, dtype="float32",
        crs="EPSG:32654", transform=rasterio.transform.from_origin(0, 300, 100, 100),
    ) as out:  # fmt: skip
        out.write(np.ones((2, 3, 4), "float32"))
    result = run_cli("catalog", "build", path, "--out", tmp_path / "c.yaml")
    assert result.exit_code == 2
    assert "without a description" in result.stderr and "names:" in result.stderr
    named = run_cli("catalog", "build", path, "--out", tmp_path / "c.yaml", "--names", "a,b")
    assert named.exit_code == 0 and read_catalog(tmp_path / "c.yaml").names() == ["a", "b"]


def test_build_flags_integer_layers_with_category_names(run_cli, tmp_path):
    folder = tmp_path / "rasters"
    folder.mkdir()
    profile = {
        "driver": "GTiff", "width": 4, "height": 3, "count": 1, "crs": "EPSG:32654",
        "transform": rasterio.transform.from_origin(0, 300, 100, 100),
    }  # fmt: skip
    for name, dtype in (("geology", "uint8"), ("slope", "float32"), ("zone", "int16")):
        with rasterio.open(folder / f"{name}.tif", "w", dtype=dtype, **profile) as out:
            out.write(np.ones((1, 3, 4), dtype))
    variable = OutputVariable("geology", kind="classes", classes=(MapClass(0, "clay", "#aa0000"),))
    write_categories(folder / "geology.tif", variable)
    result = run_cli("catalog", "build", folder, "--out", tmp_path / "c.yaml")
    assert result.exit_code == 0, result.output
    assert "layer geology has category names" in result.output
    assert "layer zone is integer" in result.output and "layer slope" not in result.output
    assert not any(layer.categorical for layer in read_catalog(tmp_path / "c.yaml").layers)
