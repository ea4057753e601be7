"""What each read setting does to the engine's covariate read, on the throughput benchmark's stack.

    python benchmarks/read_settings.py --size 4096 --json OUT.json

The stack is ``map_throughput.py``'s: 12 float32 layers of SIZE x SIZE, tiled 512, ZSTD
level 1 with the floating-point predictor, nodata on about 20% of pixels (generated once and
cached in ``--workdir``). Each setting reads the whole grid once, window by window, through
the engine's reader (``CovariateStack.open(grid).read(window)``: decode, then NaN where
nodata), and records CPU and wall seconds and the decompressed bytes per CPU second:

- ``window_<N>``: windows of N x N pixels (the engine reads one per block: ``chunk``);
- ``gdal_threads_<T>_window_<N>``: datasets opened with ``GDAL_NUM_THREADS=T`` (GDAL decodes
  the tiles of one read on T threads);
- ``layers_parallel_<T>_window_<N>``: each window's layers read on T threads at once (each
  layer's dataset is used by one thread at a time);
- ``decode_only_window_<N>``: ``DatasetReader.read`` alone, without the NaN step.

Settings run in rounds (every setting once, then again), so a busy machine slows each alike;
figures are medians over ``--repeat`` rounds, with ``os.getloadavg`` before and after.

``encodings`` says where the decode time goes: the first layer re-encoded (ZSTD level 1 with
the floating-point predictor as in the stack, with the horizontal predictor, without a
predictor, uncompressed) and read whole from a freshly opened dataset each time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from map_throughput import N_LAYERS, ensure_dataset
from provenance import code_state, cpu_name

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_WORKDIR = Path("/tmp/geosoil-read-settings")


def settings(windows: list[int], threads: int) -> list[dict]:
    out = [{"name": f"window_{n}", "window": n} for n in windows]
    for n in windows:
        out.append({"name": f"gdal_threads_{threads}_window_{n}", "window": n, "gdal": threads})
    for n in windows:
        out.append({"name": f"layers_parallel_{threads}_window_{n}", "window": n, "pool": threads})
    out.append({"name": f"decode_only_window_{windows[0]}", "window": windows[0], "raw": True})
    return out


def read_pass(catalog: Path, setting: dict) -> dict:
    """Read the whole grid once with ``setting``; CPU and wall seconds of the reads alone."""
    import rasterio

    from geosoil.geo.grid import Grid
    from geosoil.io.catalog import read_catalog
    from geosoil.mapping.stack import CovariateStack

    layers = read_catalog(catalog).layers
    grid = Grid.from_raster(layers[0].path)
    stack = CovariateStack.from_layers(layers)
    env = rasterio.Env(GDAL_NUM_THREADS=str(setting["gdal"])) if "gdal" in setting else None
    pool = ThreadPoolExecutor(setting["pool"]) if "pool" in setting else None
    cpu = wall = 0.0
    with env or nullcontext(), stack.open(grid) as reader:
        for block in grid.blocks(setting["window"]):
            window = block.window
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            if setting.get("raw"):
                out = np.empty((int(window.height), int(window.width)), np.float32)
                for layer in reader._readers:
                    layer.source.read(layer.layer.band, window=window, out=out)
            elif pool is not None:
                out = np.empty((N_LAYERS, int(window.height), int(window.width)), np.float32)
                jobs = [
                    pool.submit(layer.read_into, out[i], window)
                    for i, layer in enumerate(reader._readers)
                ]
                for job in jobs:
                    job.result()
            else:
                reader.read(window)
            cpu += time.process_time() - start_cpu
            wall += time.perf_counter() - start_wall
    if pool is not None:
        pool.shutdown()
    nbytes = N_LAYERS * grid.width * grid.height * 4
    return {
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "gb_s_per_core": round(nbytes / cpu / 1e9, 3),
        "gb_s_wall": round(nbytes / wall / 1e9, 3),
    }


ENCODINGS = {
    "zstd1_predictor3": {"compress": "zstd", "zstd_level": 1, "predictor": 3},
    "zstd1_predictor2": {"compress": "zstd", "zstd_level": 1, "predictor": 2},
    "zstd1_no_predictor": {"compress": "zstd", "zstd_level": 1, "predictor": 1},
    "uncompressed": {"compress": "none"},
}


def encodings(catalog: Path, folder: Path, repeat: int) -> dict:
    """Decode speed of the first layer under each encoding (CPU s per whole-layer read)."""
    import rasterio

    from geosoil.io.catalog import read_catalog

    source = read_catalog(catalog).layers[0].path
    with rasterio.open(source) as dataset:
        values, profile = dataset.read(1), dataset.profile
    paths = {}
    for name, options in ENCODINGS.items():
        paths[name] = folder / f"{name}.tif"
        profile = {**profile, **options}
        profile.pop("num_threads", None)
        with rasterio.open(paths[name], "w", **profile) as target:
            target.write(values, 1)
    out = np.empty_like(values)
    times: dict[str, list[float]] = {name: [] for name in ENCODINGS}
    for _ in range(repeat):
        for name, path in paths.items():
            with rasterio.open(path) as dataset:  # fresh: nothing in GDAL's block cache
                start = time.process_time()
                dataset.read(1, out=out)
                times[name].append(time.process_time() - start)
    figures = {}
    for name, path in paths.items():
        cpu = statistics.median(times[name])
        figures[name] = {
            "cpu_s": round(cpu, 4),
            "gb_s_per_core": round(values.nbytes / cpu / 1e9, 3),
            "file_mb": round(path.stat().st_size / 1e6, 1),
        }
        path.unlink()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--windows", type=int, nargs="+", default=[1024, 512, 2048])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    code = code_state()  # at the start: the code measured, not the tree at the end
    catalog = ensure_dataset(args.workdir, args.size, 0, [])
    load_before = os.getloadavg()
    chosen = settings(args.windows, args.threads)
    rounds: dict[str, list[dict]] = {s["name"]: [] for s in chosen}
    for index in range(args.repeat):
        for setting in chosen:
            run = read_pass(catalog, setting)
            run["load_1min"] = round(os.getloadavg()[0], 2)
            rounds[setting["name"]].append(run)
            print(index, setting["name"], run, flush=True)
    medians = {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for name, runs in rounds.items()
    }
    by_encoding = encodings(catalog, args.workdir, max(args.repeat, 5))
    base = medians[f"window_{args.windows[0]}"]
    for figures in medians.values():
        figures["cpu_vs_engine"] = round(figures["cpu_s"] / base["cpu_s"], 3)
        figures["wall_vs_engine"] = round(figures["wall_s"] / base["wall_s"], 3)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "code": code,
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count()},
        "machine_load": {"before": load_before, "after": os.getloadavg()},
        "workload": {
            "size": args.size,
            "layers": N_LAYERS,
            "decompressed_gb": N_LAYERS * args.size**2 * 4 / 1e9,
            "stack": "float32, tiled 512, ZSTD level 1, predictor 3, nodata -9999",
        },
        "medians": medians,
        "encodings": by_encoding,
        "runs": rounds,
    }
    print(json.dumps({"medians": medians, "encodings": by_encoding}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
