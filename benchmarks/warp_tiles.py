"""Warped covariates: window-dependence of GDAL's warp, and the cost of fixed-tile reads.

GDAL's warper approximates the coordinate transformation over the window it is asked for, so
a pixel read through two windows can differ. ``geosoil.mapping.stack`` reads warped layers in
fixed tiles of the grid instead. This script measures both on the synthetic small world:

1. elevation reprojected to EPSG:4326, read back onto the world's grid through windows of
   16, 37, 64 and 100 pixels, against one whole-grid read: pixels that differ, with direct
   window reads (the old way) and with fixed tiles;
2. the time to read every block of a 2000 x 2000 grid (10 m over the small world, all 12
   covariates warped) with window reads and with fixed tiles, interleaved, median of repeats.

    python benchmarks/warp_tiles.py --repeats 3 --json warp_tiles.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from provenance import code_state, cpu_name
from rasterio.warp import Resampling, calculate_default_transform, reproject

import geosoil.mapping.stack as stack_module
from geosoil.geo.grid import Grid
from geosoil.io.catalog import CovariateLayer, read_catalog
from geosoil.mapping.stack import CovariateStack
from geosoil.synthetic import synthesize, write_world

TILED = stack_module._TiledLayerReader


def use_tiles(enabled: bool) -> None:
    stack_module._TiledLayerReader = TILED if enabled else stack_module._LayerReader


def read_blocks(stack: CovariateStack, grid: Grid, chunk: int) -> np.ndarray:
    out = np.empty((len(stack.layers), grid.height, grid.width), np.float32)
    with stack.open(grid) as reader:
        for block in grid.blocks(chunk):
            rows, cols = block.window.toslices()
            out[:, rows, cols] = reader.read(block.window)
    return out


def lonlat_copy(source: Path, target: Path) -> Path:
    with rasterio.open(source) as dataset:
        transform, width, height = calculate_default_transform(
            dataset.crs, "EPSG:4326", dataset.width, dataset.height, *dataset.bounds
        )
        profile = {**dataset.profile, "crs": "EPSG:4326", "transform": transform}
        profile.update(width=width, height=height)
        with rasterio.open(target, "w", **profile) as out:
            reproject(rasterio.band(dataset, 1), rasterio.band(out, 1), Resampling.bilinear)
    return target


def window_dependence(world: Path, tiles: bool) -> dict[str, int | float]:
    use_tiles(tiles)
    grid = Grid.from_raster(world / "covariates" / "elevation_m.tif")
    layer = CovariateLayer(
        name="elevation_m",
        path=lonlat_copy(world / "covariates" / "elevation_m.tif", world / "lonlat.tif"),
    )
    stack = CovariateStack.from_layers([layer])
    whole = read_blocks(stack, grid, max(grid.shape))
    result = {}
    for chunk in (16, 37, 64, 100):
        values = read_blocks(stack, grid, chunk)
        same = (values == whole) | (np.isnan(values) & np.isnan(whole))
        result[f"chunk_{chunk}_pixels_differing"] = int((~same).sum())
        result[f"chunk_{chunk}_max_abs_difference_m"] = float(np.nanmax(np.abs(values - whole)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        world = Path(folder) / "world"
        world.mkdir()
        write_world(synthesize(size="small", seed=0), world)
        record = {
            "window_reads": window_dependence(world, tiles=False),
            "fixed_tiles": window_dependence(world, tiles=True),
        }
        stack = CovariateStack.from_layers(read_catalog(world / "covariates.yaml").layers)
        fine = Grid.from_bounds("EPSG:32654", (440000, 4170000, 460000, 4190000), 10)
        timings = {}
        for chunk in (1024, 256):
            seconds = {"window_reads": [], "fixed_tiles": []}
            for _ in range(args.repeats):
                for name, tiles in (("window_reads", False), ("fixed_tiles", True)):
                    use_tiles(tiles)
                    start = time.perf_counter()
                    read_blocks(stack, fine, chunk)
                    seconds[name].append(time.perf_counter() - start)
            timings[f"chunk_{chunk}"] = {
                name: {"median_s": statistics.median(values), "all_s": values}
                for name, values in seconds.items()
            }
        use_tiles(True)
    record["read_2000x2000_12_warped_layers"] = timings
    record.update({"code": code_state(), "cpu": cpu_name(), "repeats": args.repeats})
    text = json.dumps(record, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
