"""CPU seconds of the map write path with COG overviews from the blocks, against GDAL's own.

    python benchmarks/cog_overviews.py --size 8192 --json OUT.json

Writes ``--layers`` float32 map layers of SIZE x SIZE (smooth fields with fine noise, nodata
on about 20% of pixels, like the throughput benchmark's outputs) block by block into a map
store, then one COG per layer (``write_cog``, one GDAL thread, so CPU seconds count cleanly):

- ``gdal``: a store without overview levels; GDAL's COG driver computes the overviews;
- ``blocks``: the engine's store, whose blocks also write their overview levels; the COG
  driver copies them.

The two runs alternate (gdal, blocks, gdal, blocks, ...) so that a busy machine slows both
alike; each figure is the median over ``--repeat`` runs, with the machine load
(``os.getloadavg``) before and after. Both give the same COG bytes (checked).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import code_state, cpu_name

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHUNK = 1024


def layer_block(index: int, rows: slice, cols: slice, size: int) -> np.ndarray:
    """Layer ``index`` over a block: smooth field + fine noise, NaN in a few discs."""
    y, x = np.mgrid[rows, cols].astype(np.float32) / size
    rng = np.random.default_rng(rows.start * size + cols.start + index)
    values = np.sin(6 * x + index) + np.cos(4 * y - index) + x * y
    values = (values + rng.normal(0, 0.01, values.shape)).astype(np.float32)
    holes = np.zeros(values.shape, bool)
    for cx, cy in ((0.3, 0.3), (0.7, 0.6), (0.2, 0.8), (0.8, 0.15)):
        holes |= (x - cx) ** 2 + (y - cy) ** 2 < 0.125**2
    values[holes | (rng.random(values.shape) < 0.002)] = np.nan
    return values


def one_run(folder: Path, size: int, n_layers: int, *, overviews: bool) -> dict:
    from affine import Affine

    from geosoil.geo.grid import Grid
    from geosoil.geo.outputs import OutputVariable
    from geosoil.io.cog import write_cog
    from geosoil.mapping.store import BlockStore

    grid = Grid("EPSG:32654", Affine(20.0, 0, 300000.0, 0, -20.0, 4100000.0), size, size)
    variables = [OutputVariable(f"t{i}", "u") for i in range(n_layers)]
    folder.mkdir()
    blocks = list(grid.blocks(CHUNK))
    zarr_cpu = 0.0
    store = BlockStore.create(
        folder / "map.zarr", grid, variables, chunk=CHUNK, fingerprint="b", overviews=overviews
    )
    for block in blocks:
        rows, cols = block.window.toslices()
        arrays = {
            var.name: var.to_storage(layer_block(i, rows, cols, size))
            for i, var in enumerate(variables)
        }
        start = time.process_time()
        store.write_block(block, arrays)
        zarr_cpu += time.process_time() - start
    cog_cpu, cog_wall = 0.0, 0.0
    for var in variables:
        start, wall = time.process_time(), time.perf_counter()
        write_cog(
            store.gdal_path(var.name),
            folder / f"{var.name}.tif",
            grid,
            var,
            threads=1,
            overviews=store.overview_sources(var.name),
        )
        cog_cpu += time.process_time() - start
        cog_wall += time.perf_counter() - wall
    return {
        "zarr_write_cpu_s": round(zarr_cpu, 2),
        "cog_cpu_s": round(cog_cpu, 2),
        "cog_wall_s": round(cog_wall, 2),
        "write_path_cpu_s": round(zarr_cpu + cog_cpu, 2),
        "cog_bytes": sum((folder / f"{var.name}.tif").stat().st_size for var in variables),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    code = code_state()  # at the start: the code measured, not the tree at the end
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {"gdal": [], "blocks": []}
    same_bytes = True
    with tempfile.TemporaryDirectory(prefix="geosoil-cog-overviews-") as tmp:
        for rep in range(args.repeat):
            for name in ("gdal", "blocks"):
                folder = Path(tmp) / f"{name}{rep}"
                run = one_run(folder, args.size, args.layers, overviews=name == "blocks")
                run["load_1min"] = round(os.getloadavg()[0], 2)
                runs[name].append(run)
                print(name, rep, run, flush=True)
            for i in range(args.layers):
                a = (Path(tmp) / f"gdal{rep}" / f"t{i}.tif").read_bytes()
                same_bytes &= a == (Path(tmp) / f"blocks{rep}" / f"t{i}.tif").read_bytes()
            for name in ("gdal", "blocks"):
                shutil.rmtree(Path(tmp) / f"{name}{rep}")
    medians = {
        name: {
            key: statistics.median(run[key] for run in found)
            for key in ("zarr_write_cpu_s", "cog_cpu_s", "cog_wall_s", "write_path_cpu_s")
        }
        for name, found in runs.items()
    }
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "code": code,
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count()},
        "machine_load": {"before": load_before, "after": os.getloadavg()},
        "workload": {"size": args.size, "layers": args.layers, "chunk": CHUNK},
        "same_cog_bytes": same_bytes,
        "medians": medians,
        "cog_cpu_ratio_blocks_vs_gdal": round(
            medians["blocks"]["cog_cpu_s"] / medians["gdal"]["cog_cpu_s"], 3
        ),
        "write_path_cpu_ratio_blocks_vs_gdal": round(
            medians["blocks"]["write_path_cpu_s"] / medians["gdal"]["write_path_cpu_s"], 3
        ),
        "runs": runs,
    }
    print(json.dumps({k: result[k] for k in ("medians", "same_cog_bytes")}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
