"""Throughput and peak memory of the mapping engine, against its components and a naive loop.

    python benchmarks/map_throughput.py --size 8192 --json OUT.json

The workload of the engine issue: 12 float32 covariates of SIZE x SIZE pixels (EPSG:32654,
20 m, tiled 512, ZSTD level 1, predictor 3, nodata -9999 on about 20% of pixels) and an MLP
artifact 12 -> 64 -> 64 -> 4 (``--outputs``). One run measures

(a) the components, each alone: reading the stack on one thread (``CovariateStack``), the
    model on one torch thread (``estimator.predict`` in batches of the engine's
    ``batch_pixels`` rows, or ``--model-batch``) and the engine's write path (Zarr block
    writes, then one COG copy per layer with ``write_cog``); their CPU seconds summed and
    divided by the cores give the bound ``bound_mpx_s``;
(b) the engine end to end (``map_from_config``, threaded scheduler, COG out), and again with
    ``execution.workers=2``;
(c) a naive baseline the way most users write it: a rasterio loop over 512 windows (read,
    predict, write a tiled GTiff), then a GTiff -> COG copy with default options;
(d) the engine's peak RSS at each of ``--rss-sizes``.

Engine and naive runs are separate processes (the ``_engine`` and ``_naive`` entries of this
script), so each reports its own peak RSS; the components run in a third (``_components``)
with the engine's allocator setting.

Robust to a busy machine: the components, the naive loop and the engine run ``--repeat``
times (3 by default) in rounds (components, naive, engine; then again), so that load from
other processes hits every side alike; each figure is the median over the rounds (the
component figures leaf by leaf). ``machine_load`` records ``os.getloadavg`` before and after
the whole run and around every child run. ``--parts`` chooses what runs; parts registered in
``EXTRA_PARTS`` (tree ensembles, the pyspatialml peer, the Meuse map) add their own JSON keys
(``HOOK_KEYS``; None when not run). README's table comes from the result through
``benchmarks/readme_tables.py``. Generated rasters are cached in ``--workdir`` by size:
those a run generates are removed at its end unless ``--keep``, and a later run reuses kept
ones. Each run's ``machine_cpu`` says whether other processes used the cores meanwhile.
Prints a table, the ratios and the targets' pass/fail; ``--json`` writes all of it. Quick:

    python benchmarks/map_throughput.py --size 1024 --rss-sizes 512 1024 --skip-workers --repeat 1
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import logging
import math
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from provenance import code_state, cpu_name

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WORKDIR = Path("/tmp/geosoil-map-throughput")

N_LAYERS = 12
CRS = "EPSG:32654"
PIXEL_M = 20.0
ORIGIN = (300_000.0, 4_100_000.0)  # upper-left corner, UTM 54N
TILE = 512
NODATA = -9999.0
GEN_ROWS = 1024  # rows generated and written at a time
CHUNK = 1024  # engine block side; also the read component's window
POOL_ROWS = 8 * 65_536  # real feature rows cycled through by the model part
DATA_VERSION = 1  # bump when the generated rasters change

# Nodata: a few large discs shared by all layers (~15% of the grid), plus per layer two small
# discs and a random sprinkling, so the union over the 12 layers is about 20%.
SHARED_DISCS = 4
SHARED_RADIUS = 0.115
LAYER_DISCS = 2
LAYER_RADIUS = 0.02
SPRINKLE = 0.002

TARGET_VS_NAIVE = 3.0
TARGET_ENGINE_MPX_S = 4.0
TARGET_VS_BOUND = 0.75
TARGET_RSS_MIB = 1.5 * 1024
TARGET_RSS_GROWTH = 0.20
TARGET_WORKERS = 0.85
# Half the COG phase's CPU seconds at 8192^2 before overviews came from the blocks (16.2 s);
# scaled by the pixels at other sizes.
COG_CPU_S_BEFORE_8192 = 16.2

log = logging.getLogger("map_throughput")


# --------------------------------------------------------------------------- small helpers
def mpx_per_s(pixels: int, seconds: float) -> float:
    return pixels / seconds / 1e6 if seconds > 0 else float("nan")


def rounded(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def self_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def usage_cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s() -> float:
    """CPU seconds of this whole process so far, imports included, and of its children."""
    return rounded(usage_cpu_s(resource.RUSAGE_SELF) + usage_cpu_s(resource.RUSAGE_CHILDREN), 2)


class Clock:
    """Wall and process CPU seconds (all threads) of a ``with`` block, accumulated."""

    def __init__(self) -> None:
        self.wall_s = 0.0
        self.cpu_s = 0.0

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall_s += time.perf_counter() - self._wall
        self.cpu_s += time.process_time() - self._cpu

    def figures(self, pixels: int) -> dict[str, float]:
        return {
            "wall_s": rounded(self.wall_s),
            "cpu_s": rounded(self.cpu_s),
            "mpx_s": rounded(mpx_per_s(pixels, self.wall_s)),
        }


def output_names(n_outputs: int) -> list[str]:
    return [f"t{k}" for k in range(n_outputs)]


def layer_names() -> list[str]:
    return [f"cov{k:02d}" for k in range(N_LAYERS)]


# --------------------------------------------------------------------------- data generation
def dataset_dir(workdir: Path, size: int) -> Path:
    return workdir / f"data_{size}"


def ensure_dataset(workdir: Path, size: int, seed: int, created: list[Path]) -> Path:
    """The catalog of the SIZE x SIZE covariates, generated unless a complete copy is cached."""
    folder = dataset_dir(workdir, size)
    marker = folder / "complete.json"
    expected = {"version": DATA_VERSION, "size": size, "seed": seed}
    if marker.is_file() and json.loads(marker.read_text()) == expected:
        log.info("covariates %d^2: cached in %s", size, folder)
        return folder / "covariates.yaml"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    created.append(folder)
    start = time.perf_counter()
    generate_rasters(folder, size, seed)
    catalog = write_covariate_catalog(folder)
    write_json(marker, expected)
    log.info("covariates %d^2: generated in %.1f s", size, time.perf_counter() - start)
    return catalog


def raster_profile(size: int) -> dict:
    from affine import Affine

    return {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": CRS,
        "transform": Affine(PIXEL_M, 0.0, ORIGIN[0], 0.0, -PIXEL_M, ORIGIN[1]),
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": TILE,
        "blockysize": TILE,
        "compress": "zstd",
        "zstd_level": 1,
        "predictor": 3,
        "bigtiff": "IF_SAFER",
        "num_threads": "ALL_CPUS",
    }


def generate_rasters(folder: Path, size: int, seed: int) -> None:
    """Write the 12 layers strip by strip (GEN_ROWS rows), so memory stays small at any size."""
    import rasterio
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    shared = random_discs(rng, SHARED_DISCS, SHARED_RADIUS, size)
    fields = [random_field(rng) for _ in range(N_LAYERS)]
    own_discs = [random_discs(rng, LAYER_DISCS, LAYER_RADIUS, size) for _ in range(N_LAYERS)]
    profile = raster_profile(size)
    cols = np.arange(size, dtype=np.float64)
    datasets = [rasterio.open(folder / f"{name}.tif", "w", **profile) for name in layer_names()]
    try:
        for row0 in range(0, size, GEN_ROWS):
            rows = np.arange(row0, min(row0 + GEN_ROWS, size), dtype=np.float64)
            shared_mask = disc_mask(shared, rows, size)
            for k, dataset in enumerate(datasets):
                strip_rng = np.random.default_rng([seed, k, row0])
                values = field_values(fields[k], rows, cols, strip_rng)
                invalid = shared_mask | disc_mask(own_discs[k], rows, size)
                sprinkle(invalid, strip_rng)
                values[invalid] = NODATA
                dataset.write(values, 1, window=Window(0, row0, size, len(rows)))
    finally:
        for dataset in datasets:
            dataset.close()


def random_field(rng: np.random.Generator) -> dict:
    """A smooth field: offset + scale * (three separable sinusoid products) + low noise."""
    return {
        "offset": float(rng.uniform(-50, 500)),
        "scale": float(rng.uniform(1, 200)),
        "amplitudes": rng.uniform(0.3, 1.0, 3),
        "wave_x": rng.uniform(150, 3000, 3),  # wavelengths in pixels (3 km to 60 km)
        "wave_y": rng.uniform(150, 3000, 3),
        "phase_x": rng.uniform(0, 2 * np.pi, 3),
        "phase_y": rng.uniform(0, 2 * np.pi, 3),
        "noise": 0.01,
    }


def field_values(
    field: dict, rows: np.ndarray, cols: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """float32 (len(rows), len(cols)) of one layer's field."""
    out = rng.standard_normal((len(rows), len(cols)), dtype=np.float32)
    out *= field["noise"]
    for a, wx, wy, px, py in zip(
        field["amplitudes"],
        field["wave_x"],
        field["wave_y"],
        field["phase_x"],
        field["phase_y"],
        strict=True,
    ):
        across = np.sin(2 * np.pi * cols / wx + px).astype(np.float32)
        down = (a * np.cos(2 * np.pi * rows / wy + py)).astype(np.float32)
        out += down[:, None] * across[None, :]
    out *= np.float32(field["scale"])
    out += np.float32(field["offset"])
    return out


def random_discs(rng: np.random.Generator, count: int, radius: float, size: int) -> np.ndarray:
    """(count, 3) discs as (centre row, centre col, radius) in pixels."""
    centres = rng.uniform(0, size, (count, 2))
    radii = rng.uniform(0.7, 1.3, (count, 1)) * radius * size
    return np.hstack([centres, radii])


def disc_mask(discs: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    """Boolean (len(rows), size): pixels inside any disc, filled row span by row span."""
    mask = np.zeros((len(rows), size), dtype=bool)
    for centre_row, centre_col, radius in discs:
        dy = rows + 0.5 - centre_row
        half = np.sqrt(np.clip(radius**2 - dy**2, 0, None))
        for i in np.flatnonzero(half > 0):
            lo = max(math.ceil(centre_col - half[i] - 0.5), 0)
            hi = min(math.floor(centre_col + half[i] - 0.5) + 1, size)
            mask[i, lo:hi] = True
    return mask


def sprinkle(mask: np.ndarray, rng: np.random.Generator) -> None:
    """Set a random SPRINKLE share of pixels in ``mask``."""
    flat = mask.reshape(-1)
    flat[rng.integers(0, flat.size, rng.binomial(flat.size, SPRINKLE))] = True


def write_covariate_catalog(folder: Path) -> Path:
    from geosoil.io.catalog import CovariateCatalog, CovariateLayer, write_catalog

    layers = [
        CovariateLayer(name=name, path=folder / f"{name}.tif", description="synthetic field")
        for name in layer_names()
    ]
    path = folder / "covariates.yaml"
    write_catalog(CovariateCatalog(crs=CRS, layers=layers), path)
    return path


# --------------------------------------------------------------------------- the model
def multi_output_supported() -> bool:
    """Whether CovariateMLP fits a 2-D target and predicts one column per output."""
    import pandas as pd

    from geosoil.models.covariate.mlp import CovariateMLP

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    y = rng.normal(size=(40, 2))
    try:
        model = CovariateMLP(hidden_layers=(4,), max_epochs=1).fit(X, y)
        predicted = np.asarray(model.predict(X.to_numpy(np.float32)))
    except (ValueError, TypeError, RuntimeError) as err:
        log.info("CovariateMLP refuses a 2-D target: %s", err)
        return False
    return predicted.shape == (40, 2)


def training_table(catalog: Path, n_rows: int, rng: np.random.Generator):
    """Covariates at ``n_rows`` random valid pixels of the stack, as a DataFrame."""
    import pandas as pd
    from rasterio.windows import Window

    from geosoil.geo.grid import Grid
    from geosoil.io.catalog import read_catalog
    from geosoil.mapping.stack import CovariateStack

    layers = read_catalog(catalog).layers
    grid = Grid.from_raster(layers[0].path)
    side = min(256, grid.width, grid.height)
    rows = []
    with CovariateStack.from_layers(layers).open(grid) as reader:
        for _ in range(8):
            col, row = (
                rng.integers(0, grid.width - side + 1),
                rng.integers(0, grid.height - side + 1),
            )
            features = reader.read(Window(int(col), int(row), side, side)).reshape(N_LAYERS, -1)
            rows.append(features[:, np.isfinite(features).all(axis=0)].T)
    table = np.concatenate(rows)
    table = table[rng.permutation(len(table))[:n_rows]]
    return pd.DataFrame(table.astype(np.float64), columns=layer_names())


def synthetic_target(X, n_outputs: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth nonlinear targets of the standardized covariates, (n,) or (n, n_outputs)."""
    z = ((X - X.mean()) / X.std()).to_numpy()
    w = rng.normal(size=(N_LAYERS, n_outputs)) / np.sqrt(N_LAYERS)
    v = rng.normal(size=(N_LAYERS, n_outputs)) / np.sqrt(N_LAYERS)
    y = np.tanh(z @ w) + 0.5 * np.sin(z @ v) + 0.05 * rng.normal(size=(len(z), n_outputs))
    return y[:, 0] if n_outputs == 1 else y


def train_artifact(catalog: Path, path: Path, n_outputs: int, seed: int) -> Path:
    """Fit the 12 -> 64 -> 64 -> n_outputs MLP on a few thousand pixels and save it."""
    from geosoil.artifacts import Provenance, save_artifact
    from geosoil.models.covariate.mlp import CovariateMLP
    from geosoil.specs import InputLayer, InputSpec, OutputSpec

    rng = np.random.default_rng(seed)
    X = training_table(catalog, 4000, rng)
    y = synthetic_target(X, n_outputs, rng)
    model = CovariateMLP(
        hidden_layers=(64, 64), max_epochs=5, batch_size=128, patience=5, seed=seed
    ).fit(X, y)
    names = output_names(n_outputs)
    return save_artifact(
        model,
        path,
        input_spec=InputSpec(kind="covariates", layers=[InputLayer(name=n) for n in X.columns]),
        output_spec=OutputSpec(names=names, units=[""] * n_outputs),
        provenance=Provenance(data_fingerprint="synthetic", n_samples=len(X), seed=seed),
    )


def mapped_outputs(artifact: Path) -> list[str]:
    """The layer names the engine will write for the artifact."""
    from geosoil.artifacts import load_artifact
    from geosoil.mapping.predictors import ModelLayers

    return [var.name for var in ModelLayers.build(load_artifact(artifact)).outputs()]


# --------------------------------------------------------------------------- child processes
def run_child(entry: str, args: list[str], log_path: Path) -> dict:
    """Run an entry of this script in a fresh process; its report plus the polled tree RSS."""
    import psutil

    report_path = log_path.with_suffix(".report.json")
    report_path.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), entry, *args, str(report_path)]
    os.sync()  # earlier stages' files reach the disk now, not during this measurement
    cores_before = cores_available()
    load_before = os.getloadavg()
    machine = MachineCpu()
    start = time.perf_counter()
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        poller = TreeRssPoller(psutil.Process(process.pid))
        poller.start()
        code = process.wait()
        poller.stop()
    if code != 0 or not report_path.is_file():
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-40:])
        raise RuntimeError(f"{entry} {' '.join(args)} failed (exit {code}):\n{tail}")
    report = json.loads(report_path.read_text())
    report["process_s"] = rounded(time.perf_counter() - start, 2)
    report["tree_rss_peak_mib"] = rounded(poller.peak / 2**20, 1)
    report["machine_cpu"] = machine.since()
    report["machine_cpu"]["other_s"] = rounded(
        report["machine_cpu"]["busy_s"] - report["process_cpu_s"], 2
    )
    report["cores_available"] = {"before": cores_before, "after": cores_available()}
    report["load_avg"] = {
        "before": [rounded(v, 2) for v in load_before],
        "after": [rounded(v, 2) for v in os.getloadavg()],
    }
    return report


_BURN = """import time
wall, cpu = time.perf_counter(), time.process_time()
while time.perf_counter() - wall < {seconds}:
    pass
print(time.process_time() - cpu)
"""


def cores_available(seconds: float = 0.5) -> float:
    """CPU seconds per second that one busy process per core gets right now.

    Equal to the cores on an idle machine; less when other processes, or other virtual
    machines on the same host (invisible in ``/proc/stat`` here), take CPU time.
    """
    code = _BURN.format(seconds=seconds)
    burners = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(machine_cores())
    ]
    return rounded(sum(float(p.communicate()[0]) for p in burners) / seconds, 2)


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class MachineCpu:
    """Busy and stolen CPU seconds of the whole machine (``/proc/stat``) since creation.

    Busy seconds well above the measured process's own CPU seconds mean something else ran
    meanwhile; steal means the hypervisor took the cores away.
    """

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> list[int]:
        try:
            with open("/proc/stat") as handle:
                return [int(v) for v in handle.readline().split()[1:9]]
        except OSError:
            return [0] * 8

    def since(self) -> dict[str, float]:
        delta = [b - a for a, b in zip(self._start, self._read(), strict=True)]
        tick = os.sysconf("SC_CLK_TCK")
        user, nice, system, _idle, iowait, irq, softirq, steal = delta
        return {
            "busy_s": rounded((user + nice + system + irq + softirq) / tick, 2),
            "iowait_s": rounded(iowait / tick, 2),
            "steal_s": rounded(steal / tick, 2),
        }


class TreeRssPoller:
    """Polls the summed RSS of a process and its descendants every 0.1 s in a thread.

    Shared pages (libraries) count once per process, so for several processes this is an
    upper bound; a peak shorter than 0.1 s can be missed.
    """

    def __init__(self, process) -> None:
        self.process = process
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                processes = [self.process, *self.process.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for proc in processes:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(0.1)


# ---- (b, d) the engine
def engine_config(catalog: Path, artifact: Path, out: Path, workers: int | None):
    from geosoil.config import MapConfig

    return MapConfig.model_validate(
        {
            "models": [str(artifact)],
            "covariates": {"catalog": str(catalog)},
            "grid": {"reference": layer_names()[0]},
            "output": {"dir": str(out), "format": "cog", "overwrite": True},
            "chunk": CHUNK,
            "execution": {"progress": False, "workers": workers},
        }
    )


def run_engine(
    catalog: Path, artifact: Path, run_dir: Path, label: str, workers: int | None, size: int
) -> dict:
    """One engine run in its own process; outputs checked, then removed."""
    from geosoil.config import save_config

    out = run_dir / f"{label}_out"
    config_path = run_dir / f"{label}.yaml"
    save_config(engine_config(catalog, artifact, out, workers), config_path)
    report = run_child("_engine", [str(config_path)], run_dir / f"{label}.log")
    summary = json.loads((out / "summary.json").read_text())
    report["valid_pixels"] = {name: v["valid_pixels"] for name, v in summary["layers"].items()}
    report["cogs"] = sorted(p.name for p in out.glob("*.tif"))
    report["pixels"] = size * size
    report["mpx_s"] = rounded(mpx_per_s(size * size, report["wall_s"]))
    report["out"] = str(out)
    return report


def child_engine(config_path: str, report_path: str) -> None:
    """``_engine CONFIG REPORT``: map_from_config, timed, with per-stage busy seconds."""
    from geosoil.config import MapConfig, load_config
    from geosoil.workflows import map_from_config

    config = load_config(config_path, MapConfig)
    stages = StageClock()
    if config.execution.workers is None:
        stages.install()  # the stages of a distributed run happen in the worker processes
    wall, cpu = time.perf_counter(), time.process_time()
    map_from_config(config)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    report = {
        "wall_s": rounded(wall),
        "cpu_s": rounded(cpu),
        "children_cpu_s": rounded(usage_cpu_s(resource.RUSAGE_CHILDREN)),
        "peak_rss_mib": rounded(self_peak_rss_mib(), 1),
        "children_peak_rss_mib": rounded(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
        "workers": config.execution.workers,
        "stages": stages.figures(),
    }
    report["process_cpu_s"] = process_cpu_s()
    write_json(Path(report_path), report)


class StageClock:
    """Busy seconds of the engine's stages, by wrapping its functions in this process only.

    ``block_*`` are summed over the block threads (busy seconds, not elapsed); ``phase_*``
    are the elapsed and process CPU seconds of the block phase (run_map) and of the COG
    copies.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self._busy[name] = self._busy.get(name, 0.0) + seconds

    def wrap(self, name: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - start)

        return timed

    def wrap_phase(self, name: str, fn):
        """Elapsed and process CPU seconds while at least one call of ``fn`` runs.

        Concurrent calls (COGs written side by side) count once, not once per call.
        """
        running = {"count": 0, "wall": 0.0, "cpu": 0.0}

        def enter() -> None:
            with self._lock:
                if running["count"] == 0:
                    running["wall"], running["cpu"] = time.perf_counter(), time.process_time()
                running["count"] += 1

        def leave() -> None:
            with self._lock:
                running["count"] -= 1
                if running["count"] == 0:
                    for key, now in (("wall", time.perf_counter()), ("cpu", time.process_time())):
                        total = f"phase_{name}_{key}_s"
                        self._busy[total] = self._busy.get(total, 0.0) + now - running[key]

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            enter()
            try:
                return fn(*args, **kwargs)
            finally:
                leave()

        return timed

    def install(self) -> None:
        import geosoil.mapping.execution as execution
        import geosoil.mapping.stack as stack
        import geosoil.mapping.store as store
        import geosoil.workflows.map as workflow

        execution.run_block = self.wrap("block_total_s", execution.run_block)
        execution.compute_block = self.wrap("block_predict_s", execution.compute_block)
        stack.StackReader.read = self.wrap("block_read_s", stack.StackReader.read)
        store.BlockStore.write_block = self.wrap("block_zarr_write_s", store.BlockStore.write_block)
        store.BlockStore.mark_done = self.wrap("block_mark_done_s", store.BlockStore.mark_done)
        workflow.run_map = self.wrap_phase("blocks", workflow.run_map)
        workflow.write_cog = self.wrap_phase("cog", workflow.write_cog)

    def figures(self) -> dict[str, float]:
        figures = {name: rounded(value) for name, value in sorted(self._busy.items())}
        if "block_total_s" in figures:
            named = sum(
                v for k, v in figures.items() if k.startswith("block_") and k != "block_total_s"
            )
            figures["block_other_s"] = rounded(figures["block_total_s"] - named)
        return figures


# ---- (c) the naive loop
def run_naive(catalog: Path, artifact: Path, run_dir: Path, size: int) -> dict:
    spec = {"catalog": str(catalog), "artifact": str(artifact), "out": str(run_dir / "naive")}
    spec_path = run_dir / "naive.spec.json"
    write_json(spec_path, spec)
    report = run_child("_naive", [str(spec_path)], run_dir / "naive.log")
    report["pixels"] = size * size
    report["mpx_s"] = rounded(mpx_per_s(size * size, report["wall_s"]))
    return report


def child_naive(spec_path: str, report_path: str) -> None:
    """``_naive SPEC REPORT``: the window loop most users write, timed end to end."""
    # It runs with the libraries' defaults, not those importing geosoil sets (a 128 MB GDAL
    # cache, passive OpenMP waiting): torch loads before geosoil in naive_window_loop.
    os.environ["GDAL_CACHEMAX"] = "5%"
    os.environ.pop("OMP_WAIT_POLICY", None)
    omp_wait_policy = os.environ.get("OMP_WAIT_POLICY")  # what OpenMP reads as torch loads
    spec = json.loads(Path(spec_path).read_text())
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    wall, cpu = time.perf_counter(), time.process_time()
    stages = naive_window_loop(Path(spec["catalog"]), Path(spec["artifact"]), out)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    report = {
        "wall_s": rounded(wall),
        "cpu_s": rounded(cpu),
        "peak_rss_mib": rounded(self_peak_rss_mib(), 1),
        "stages": {name: rounded(value) for name, value in stages.items()},
        "cog": str(out / "prediction_cog.tif"),
        "settings": naive_settings(omp_wait_policy),
    }
    report["process_cpu_s"] = process_cpu_s()
    write_json(Path(report_path), report)


def naive_settings(omp_wait_policy: str | None) -> dict:
    """What the naive loop ran with (None: the library's default)."""
    import torch
    from rasterio.env import get_gdal_config

    return {
        "GDAL_CACHEMAX": get_gdal_config("GDAL_CACHEMAX"),
        "OMP_WAIT_POLICY": omp_wait_policy,
        "torch_threads": torch.get_num_threads(),
    }


def naive_window_loop(catalog: Path, artifact: Path, out: Path) -> dict[str, float]:
    """Read 512 windows of every layer, predict the valid pixels, write a GTiff, make a COG."""
    import rasterio
    import rasterio.shutil
    import torch
    import yaml

    from geosoil.artifacts import load_artifact

    stages = dict.fromkeys(("load", "read", "predict", "write", "cog"), 0.0)
    start = time.perf_counter()
    loaded = load_artifact(artifact)
    estimator = loaded.estimator
    n_outputs = len(loaded.header.output_spec.names)
    entries = yaml.safe_load(catalog.read_text())["layers"]
    paths = [catalog.parent / entry["path"] for entry in entries]
    stages["load"] += time.perf_counter() - start
    tif, cog = out / "prediction.tif", out / "prediction_cog.tif"
    sources = [rasterio.open(path) for path in paths]
    first = sources[0]
    profile = {
        "driver": "GTiff",
        "width": first.width,
        "height": first.height,
        "count": n_outputs,
        "dtype": "float32",
        "crs": first.crs,
        "transform": first.transform,
        "nodata": NODATA,
        "tiled": True,
    }
    with rasterio.open(tif, "w", **profile) as target:
        for _, window in first.block_windows(1):
            t0 = time.perf_counter()
            stack = np.stack([src.read(1, window=window) for src in sources])
            t1 = time.perf_counter()
            valid = np.all(stack != NODATA, axis=0) & np.all(np.isfinite(stack), axis=0)
            result = np.full((n_outputs, *valid.shape), NODATA, dtype=np.float32)
            if valid.any():
                with torch.no_grad():
                    predicted = np.asarray(estimator.predict(stack[:, valid].T))
                result[:, valid] = predicted.reshape(len(predicted), n_outputs).T
            t2 = time.perf_counter()
            target.write(result, window=window)
            t3 = time.perf_counter()
            stages["read"] += t1 - t0
            stages["predict"] += t2 - t1
            stages["write"] += t3 - t2
    for src in sources:
        src.close()
    t0 = time.perf_counter()
    rasterio.shutil.copy(tif, cog, driver="COG")
    stages["cog"] += time.perf_counter() - t0
    return stages


# ---- (a) the components
def run_components(
    catalog: Path, artifact: Path, run_dir: Path, size: int, batch_rows: int
) -> dict:
    shutil.rmtree(run_dir / "parts", ignore_errors=True)  # an earlier round's outputs
    spec = {
        "catalog": str(catalog),
        "artifact": str(artifact),
        "out": str(run_dir / "parts"),
        "batch_rows": batch_rows,
    }
    spec_path = run_dir / "components.spec.json"
    write_json(spec_path, spec)
    report = run_child("_components", [str(spec_path)], run_dir / "components.log")
    report["pixels"] = size * size
    return report


def child_components(spec_path: str, report_path: str) -> None:
    """``_components SPEC REPORT``: read, model and write alone, under the engine's settings."""
    import torch

    from geosoil.artifacts import load_artifact
    from geosoil.geo.grid import Grid
    from geosoil.io.catalog import read_catalog
    from geosoil.mapping.runtime import keep_heap_memory
    from geosoil.mapping.stack import CovariateStack

    spec = json.loads(Path(spec_path).read_text())
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    keep_heap_memory()  # as the engine does in every process that computes blocks
    torch.set_num_threads(1)
    layers = read_catalog(spec["catalog"]).layers
    grid = Grid.from_raster(layers[0].path)
    stack = CovariateStack.from_layers(layers)
    artifact = load_artifact(spec["artifact"])
    pixels = grid.width * grid.height

    read, n_valid, pool = measure_read(stack, grid)
    batch_rows = int(spec["batch_rows"])
    model = measure_model(artifact.estimator, pool, n_valid, batch_rows)
    zarr_write, cog_write = measure_write(stack, grid, artifact, out)
    write = Clock()
    write.wall_s = zarr_write.wall_s + cog_write.wall_s
    write.cpu_s = zarr_write.cpu_s + cog_write.cpu_s
    report = {
        "valid_pixels": n_valid,
        "read": read.figures(pixels),
        "model": {**model.figures(pixels), "rows": n_valid, "batch_rows": batch_rows},
        "write_zarr": zarr_write.figures(pixels),
        "write_cog": cog_write.figures(pixels),
        "write": write.figures(pixels),
        "peak_rss_mib": rounded(self_peak_rss_mib(), 1),
        "torch_threads": torch.get_num_threads(),
    }
    report["process_cpu_s"] = process_cpu_s()
    write_json(Path(report_path), report)


def measure_read(stack, grid) -> tuple[Clock, int, np.ndarray]:
    """Read every layer over the grid in CHUNK windows on one thread.

    Returns the clock, the number of valid pixels (all layers finite) and a pool of real
    feature rows for the model part; counting and sampling are outside the clock.
    """
    clock = Clock()
    n_valid = 0
    blocks = list(grid.blocks(CHUNK))
    per_block = math.ceil(POOL_ROWS / len(blocks))
    rng = np.random.default_rng(0)
    samples = []
    with stack.open(grid) as reader:
        for block in blocks:
            with clock:
                features = reader.read(block.window)
            flat = features.reshape(len(features), -1)
            valid = np.flatnonzero(np.isfinite(flat).all(axis=0))
            n_valid += valid.size
            chosen = rng.choice(valid, min(per_block, valid.size), replace=False)
            samples.append(flat[:, chosen].T)
    pool = np.concatenate(samples)
    n_pool = POOL_ROWS if n_valid >= POOL_ROWS else max(len(pool), 1)
    return clock, n_valid, np.ascontiguousarray(np.resize(pool, (n_pool, pool.shape[1])))


def measure_model(estimator, pool: np.ndarray, n_rows: int, batch: int) -> Clock:
    """``estimator.predict`` over ``n_rows`` rows in ``batch``-row batches cycled from ``pool``."""
    import torch

    clock = Clock()
    starts = range(0, max(len(pool) - batch, 0) + 1, batch)
    with clock, torch.inference_mode():
        for index, start in enumerate(range(0, n_rows, batch)):
            offset = starts[index % len(starts)]
            estimator.predict(pool[offset : offset + min(batch, n_rows - start)])
    return clock


def measure_write(stack, grid, artifact, out: Path) -> tuple[Clock, Clock]:
    """The engine's write path: Zarr block writes (BlockStore), then write_cog per layer.

    The values written are smooth functions of the covariates (computed outside the clocks),
    with the covariates' nodata, so they compress like a real map.
    """
    from geosoil.io.cog import write_cog
    from geosoil.mapping.predictors import ModelLayers
    from geosoil.mapping.statistics import BandStatistics
    from geosoil.mapping.store import BlockStore

    variables = ModelLayers.build(artifact).outputs()
    # Overview levels from the blocks where the store can hold them (as the engine does).
    levels = "overviews" in inspect.signature(BlockStore.create).parameters
    store = BlockStore.create(
        out / "parts.zarr",
        grid,
        variables,
        chunk=CHUNK,
        fingerprint="benchmark",
        **({"overviews": True} if levels else {}),
    )
    weights = stand_in_weights(artifact.estimator, len(variables))
    zarr_clock, cog_clock = Clock(), Clock()
    with stack.open(grid) as reader:
        for block in grid.blocks(CHUNK):
            values = stand_in_outputs(reader.read(block.window), *weights)
            stored = {var.name: var.to_storage(v) for var, v in zip(variables, values, strict=True)}
            stats = {
                var.name: BandStatistics.of(v).to_dict()
                for var, v in zip(variables, values, strict=True)
            }
            with zarr_clock:
                store.write_block(block, stored)
                store.mark_done(block, stats)
    # One GDAL thread per copy where write_cog takes a thread count, to count CPU cleanly.
    threads = {"threads": 1} if "threads" in inspect.signature(write_cog).parameters else {}
    for var in variables:
        with cog_clock:
            sources = {"overviews": store.overview_sources(var.name)} if levels else {}
            write_cog(
                store.gdal_path(var.name), out / f"{var.name}.tif", grid, var, **threads, **sources
            )
    return zarr_clock, cog_clock


def stand_in_weights(estimator, n_outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """Random weights on standardized covariates (the model's own centring and scaling)."""
    rng = np.random.default_rng(1)
    coding = getattr(estimator, "coding_", None)  # the encoder since issue 14; before: on it
    center = np.asarray(coding.center if coding is not None else estimator.center_)
    scale = np.asarray(coding.scale if coding is not None else estimator.scale_)
    w = rng.normal(size=(n_outputs, N_LAYERS)) / scale[None, :]
    bias = -(w @ center)
    return w.astype(np.float32), bias.astype(np.float32)


def stand_in_outputs(features: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(n_outputs, rows, cols): tanh of a linear map of the features; NaN where any is NaN."""
    values = np.tensordot(w, features, axes=1) + bias[:, None, None]
    return np.tanh(values, out=values)


# --------------------------------------------------------------------------- comparison
def naive_vs_engine_diff(naive_cog: Path, engine_out: Path, names: list[str]) -> float:
    """Largest absolute difference between the naive and engine maps over a central window."""
    import rasterio
    from rasterio.windows import Window

    worst = 0.0
    with rasterio.open(naive_cog) as naive:
        side = min(1024, naive.width)
        window = Window((naive.width - side) // 2, (naive.height - side) // 2, side, side)
        for band, name in enumerate(names, start=1):
            with rasterio.open(engine_out / f"{name}.tif") as engine:
                a = naive.read(band, window=window, masked=True)
                b = engine.read(1, window=window, masked=True)
            if (np.ma.getmaskarray(a) != np.ma.getmaskarray(b)).any():
                return float("inf")
            if a.count():
                worst = max(worst, float(np.abs(a - b).max()))
    return worst


def summarize(figures: dict, size: int, cores: int) -> None:
    """Add the headline figures, ratios and targets to ``figures``."""
    parts = figures["components"]
    pixels = size * size
    figures["bound_mpx_s"] = figures["cog_cpu_s"] = None
    if parts:
        cpu = parts["read"]["cpu_s"] + parts["model"]["cpu_s"] + parts["write"]["cpu_s"]
        figures["bound_mpx_s"] = rounded(mpx_per_s(pixels, cpu / cores))
        # The COG phase alone: every layer's COG copy, one GDAL thread, overviews included.
        figures["cog_cpu_s"] = parts["write_cog"]["cpu_s"]
    figures["engine_mpx_s"] = figures["runs"]["engine"]["mpx_s"]
    figures["naive_mpx_s"] = figures["runs"].get("naive", {}).get("mpx_s")
    figures["workers2_mpx_s"] = figures["runs"].get("workers2", {}).get("mpx_s") or figures.get(
        "workers2_mpx_s"
    )
    figures["peak_rss_mib"] = {
        str(s): run["peak_rss_mib"] for s, run in sorted(figures["runs"]["rss"].items())
    }
    ratios = {}
    if figures["bound_mpx_s"]:
        ratios["engine_vs_bound"] = figures["engine_mpx_s"] / figures["bound_mpx_s"]
    if figures["naive_mpx_s"]:
        ratios["engine_vs_naive"] = figures["engine_mpx_s"] / figures["naive_mpx_s"]
    if figures["workers2_mpx_s"]:
        ratios["workers2_vs_engine"] = figures["workers2_mpx_s"] / figures["engine_mpx_s"]
    rss = [figures["runs"]["rss"][s]["peak_rss_mib"] for s in sorted(figures["runs"]["rss"])]
    if len(rss) >= 2:
        ratios["rss_growth"] = rss[-1] / rss[0] - 1
    figures["ratios"] = {k: rounded(v) for k, v in ratios.items()}
    cog_target = rounded(COG_CPU_S_BEFORE_8192 / 2 * pixels / 8192**2, 2)
    figures["targets"] = check_targets(
        figures["ratios"],
        max(rss) if rss else None,
        figures["engine_mpx_s"],
        (figures["cog_cpu_s"], cog_target),
    )


def check_targets(
    ratios: dict,
    peak_rss: float | None,
    engine_mpx_s: float | None = None,
    cog: tuple[float | None, float] = (None, COG_CPU_S_BEFORE_8192 / 2),
) -> dict:
    cog_cpu_s, cog_target = cog
    checks = {
        "engine_mpx_s": (engine_mpx_s, f">= {TARGET_ENGINE_MPX_S}"),
        "cog_cpu_s": (cog_cpu_s, f"<= {cog_target}"),
        "engine_vs_naive": (ratios.get("engine_vs_naive"), f">= {TARGET_VS_NAIVE}"),
        "engine_vs_bound": (ratios.get("engine_vs_bound"), f">= {TARGET_VS_BOUND}"),
        "peak_rss_mib": (peak_rss, f"<= {TARGET_RSS_MIB:.0f}"),
        "rss_growth": (ratios.get("rss_growth"), f"< {TARGET_RSS_GROWTH}"),
        "workers2_vs_engine": (ratios.get("workers2_vs_engine"), f">= {TARGET_WORKERS}"),
    }
    passed = {
        "engine_mpx_s": lambda v: v >= TARGET_ENGINE_MPX_S,
        "cog_cpu_s": lambda v: v <= cog_target,
        "engine_vs_naive": lambda v: v >= TARGET_VS_NAIVE,
        "engine_vs_bound": lambda v: v >= TARGET_VS_BOUND,
        "peak_rss_mib": lambda v: v <= TARGET_RSS_MIB,
        "rss_growth": lambda v: v < TARGET_RSS_GROWTH,
        "workers2_vs_engine": lambda v: v >= TARGET_WORKERS,
    }
    return {
        name: {
            "value": value,
            "target": target,
            "pass": None if value is None else bool(passed[name](value)),
        }
        for name, (value, target) in checks.items()
    }


def machine_info(cores: int) -> dict:
    import rasterio
    import torch
    import zarr

    cpu = cpu_name()
    return {
        "cores": cores,
        "cpu": cpu,
        "memory_gib": rounded(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_default_threads": torch.get_num_threads(),
        "gdal": rasterio.__gdal_version__,
        "rasterio": rasterio.__version__,
        "zarr": zarr.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


# --------------------------------------------------------------------------- the table
def print_table(figures: dict) -> None:
    work = figures["workload"]
    print(
        f"\nmap_throughput: {work['size']}^2 px ({work['pixels'] / 1e6:.1f} Mpx, "
        f"{100 * work['valid_fraction']:.1f}% valid), {N_LAYERS} layers -> "
        f"{work['outputs']} outputs, {figures['machine']['cores']} cores"
    )
    print(f"{'part':<34}{'wall s':>9}{'CPU s':>9}{'Mpx/s':>9}{'peak RSS MiB':>14}")
    parts = figures["components"]
    for label, key in (
        ("read (1 thread)", "read"),
        ("model (1 torch thread)", "model"),
        ("write: Zarr blocks", "write_zarr"),
        ("write: COG copies", "write_cog"),
    ):
        if parts:
            row(label, parts[key]["wall_s"], parts[key]["cpu_s"], parts[key]["mpx_s"], None)
    row("bound (sum of CPU s / cores)", None, None, figures["bound_mpx_s"], None)
    runs = figures["runs"]
    for label, key in (
        ("naive window loop", "naive"),
        ("engine, threaded", "engine"),
        ("engine, --workers 2", "workers2"),
    ):
        if key in runs:
            run = runs[key]
            rss = run["peak_rss_mib"] if key != "workers2" else run["tree_rss_peak_mib"]
            row(label, run["wall_s"], run.get("cpu_s"), run["mpx_s"], rss)
    for size, run in sorted(runs["rss"].items()):
        row(
            f"engine RSS run, {size}^2",
            run["wall_s"],
            run["cpu_s"],
            run["mpx_s"],
            run["peak_rss_mib"],
        )
    print_interference(figures)
    print("\ntarget                     value        target       result")
    for name, check in figures["targets"].items():
        value = "-" if check["value"] is None else f"{check['value']:.3f}"
        verdict = {True: "PASS", False: "FAIL", None: "not run"}[check["pass"]]
        print(f"{name:<27}{value:<13}{check['target']:<13}{verdict}")


def print_interference(figures: dict) -> None:
    """Name the runs during which other processes used a noticeable share of the cores."""
    runs = {f"components_{i}": run for i, run in enumerate(figures["components_runs"], 1)}
    runs.update(figures["runs"])
    runs.update({f"engine_{size}": run for size, run in figures["runs"]["rss"].items()})
    for name, run in runs.items():
        other = run.get("machine_cpu", {}).get("other_s") if isinstance(run, dict) else None
        # A second or so is the parent's RSS polling, the kernel and the child's exit.
        if other is not None and other > max(2.0, 0.1 * run["process_s"]):
            print(
                f"note: other processes used {other:.1f} CPU s during the {name} run "
                f"({run['process_s']:.1f} s): its figures are pessimistic"
            )
        available = run.get("cores_available") if isinstance(run, dict) else None
        cores = figures["machine"]["cores"]
        if available and min(available.values()) < 0.9 * cores:
            print(
                f"note: only {min(available.values()):.2f} of {cores} cores were available "
                f"around the {name} run (other load on the host): its figures are pessimistic"
            )


def row(label: str, wall, cpu, mpx, rss) -> None:
    def cell(value, width: int, fmt: str) -> str:
        return f"{'-' if value is None else format(value, fmt):>{width}}"

    cells = cell(wall, 9, ".1f") + cell(cpu, 9, ".1f") + cell(mpx, 9, ".2f") + cell(rss, 14, ".0f")
    print(f"{label:<34}{cells}")


# --------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=8192, help="raster side for (a), (b), (c)")
    parser.add_argument(
        "--rss-sizes", type=int, nargs="*", default=[2048, 8192, 16384], help="(d) raster sides"
    )
    parser.add_argument("--outputs", type=int, default=4, help="model outputs (t0, t1, ...)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--keep", action="store_true", help="keep generated rasters and outputs")
    parser.add_argument("--skip-naive", action="store_true", help="leave out the naive part")
    parser.add_argument("--skip-workers", action="store_true", help="leave out --workers 2")
    parser.add_argument(
        "--parts",
        nargs="+",
        default=None,
        help=f"parts to run (default: {' '.join(DEFAULT_PARTS)}, then every extra part); "
        "extra parts: " + (" ".join(EXTRA_PARTS) or "none registered"),
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds of the components, the naive loop and the engine (medians)",
    )
    parser.add_argument(
        "--model-batch",
        type=int,
        default=None,
        help="rows per forward pass of the model part (default: the engine's batch_pixels)",
    )
    return parser.parse_args()


def engine_batch_pixels() -> int:
    """Pixels per forward pass that the engine uses by default (MapConfig.batch_pixels)."""
    from geosoil.config import MapConfig

    return int(MapConfig.model_fields["batch_pixels"].default)


def resolve_outputs(requested: int) -> int:
    if requested > 1 and not multi_output_supported():
        print(
            f"WARNING: CovariateMLP does not accept a 2-D target yet; mapping 1 output "
            f"instead of {requested}",
            file=sys.stderr,
        )
        return 1
    return requested


def interleaved(times: int, runners: dict[str, Callable[[], dict]]) -> dict[str, list[dict]]:
    """Run every runner once per round (A, B, A, B, ...), ``times`` rounds; runs by name.

    Load from other processes then falls on every side alike, and ratios between them hold.
    """
    runs: dict[str, list[dict]] = {name: [] for name in runners}
    for index in range(times):
        for name, runner in runners.items():
            start = time.perf_counter()
            runs[name].append(runner())
            log.info("%s, round %d: %.1f s", name, index + 1, time.perf_counter() - start)
    return runs


def median_run(runs: list[dict]) -> dict:
    """The run of median wall time, with every run's wall time."""
    chosen = dict(sorted(runs, key=lambda run: run["wall_s"])[len(runs) // 2])
    chosen["repeat_wall_s"] = [run["wall_s"] for run in runs]
    return chosen


def median_leaves(runs: list[dict]) -> dict:
    """Leaf by leaf: the median of numbers over ``runs``, other values from the first run."""
    first = runs[0]
    out = {}
    for key, value in first.items():
        if isinstance(value, dict):
            out[key] = median_leaves([run[key] for run in runs])
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = rounded(statistics.median(run[key] for run in runs))
        else:
            out[key] = value
    return out


def timed_stage(seconds: dict, name: str, fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    seconds[name] = rounded(time.perf_counter() - start, 1)
    log.info("%s: %.1f s", name, seconds[name])
    return result


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    load_before = os.getloadavg()
    code = code_state()  # at the start: the code measured, not the tree at the end
    cores = machine_cores()
    workdir = args.workdir
    run_dir = workdir / f"run_{os.getpid()}"
    run_dir.mkdir(parents=True)
    created: list[Path] = [run_dir]
    seconds: dict[str, float] = {}
    try:
        figures = benchmark(args, cores, run_dir, created, seconds)
        figures["code"] = code
    finally:
        if not args.keep:
            for path in created:
                shutil.rmtree(path, ignore_errors=True)
    figures["stage_seconds"] = seconds
    figures["machine_load"] = machine_load(figures, load_before)
    print_table(figures)
    print(json.dumps({k: figures[k] for k in HEADLINE}, indent=2))
    if args.json:
        write_json(args.json, figures)


HEADLINE = (
    "naive_mpx_s",
    "engine_mpx_s",
    "bound_mpx_s",
    "workers2_mpx_s",
    "peak_rss_mib",
    "cog_cpu_s",
    "machine_load",
)

DEFAULT_PARTS = ("components", "naive", "engine", "workers", "rss")

#: Figures that extra parts fill (issue 20's tree ensembles, peer and small-map runs); every
#: result carries them, None where the part did not run.
HOOK_KEYS = (
    "engine_rf_mpx_s",
    "engine_gbm_mpx_s",
    "peer_pyspatialml_rf_mpx_s",
    "meuse_map_warm_s",
    "workers2_mpx_s",
)


@dataclass
class PartContext:
    """What an extra part gets: the workload, where to write, and the shared stage clock."""

    args: argparse.Namespace
    size: int
    catalog: Path
    artifact: Path
    run_dir: Path
    cores: int
    seconds: dict
    created: list[Path] = field(default_factory=list)


#: Extra parts by name: a function of the context returning JSON keys (``HOOK_KEYS`` among
#: them) and anything else to record under ``runs[<name>]``. Registered from other modules
#: of this folder, so that each part lives behind one function boundary.
EXTRA_PARTS: dict[str, Callable[[PartContext], dict]] = {}


def chosen_parts(args) -> list[str]:
    parts = list(args.parts or (*DEFAULT_PARTS, *EXTRA_PARTS))
    if args.skip_naive and "naive" in parts:
        parts.remove("naive")
    if args.skip_workers and "workers" in parts:
        parts.remove("workers")
    unknown = sorted(set(parts) - set(DEFAULT_PARTS) - set(EXTRA_PARTS))
    if unknown:
        raise SystemExit(
            f"unknown parts {unknown}; choose from {DEFAULT_PARTS + tuple(EXTRA_PARTS)}"
        )
    if "engine" not in parts:
        raise SystemExit("the engine part is the reference of every ratio: keep it")
    return parts


def machine_load(figures: dict, before: tuple[float, ...]) -> dict:
    """os.getloadavg (1, 5, 15 min) before and after the whole run, and around each child."""
    around = []
    runs = figures["runs"]
    for name, found in [("components", figures.get("components_runs", []))] + [
        (name, runs[name].get("rounds", [runs[name]]))
        for name in ("naive", "engine", "workers2")
        if name in runs
    ]:
        for run in found:
            if "load_avg" in run:
                around.append({"run": name, **run["load_avg"]})
    cores = figures["machine"]["cores"]
    return {
        "cores": cores,
        "before": [rounded(v, 2) for v in before],
        "after": [rounded(v, 2) for v in os.getloadavg()],
        "around_runs": around,
        "max_1min_per_core": rounded(max([v["after"][0] for v in around] + [before[0]]) / cores, 2),
    }


def benchmark(args, cores: int, run_dir: Path, created: list[Path], seconds: dict) -> dict:
    size = args.size
    n_outputs = timed_stage(seconds, "check_outputs", resolve_outputs, args.outputs)
    catalog = timed_stage(
        seconds, f"generate_{size}", ensure_dataset, args.workdir, size, args.seed, created
    )
    artifact = timed_stage(
        seconds,
        "train",
        train_artifact,
        catalog,
        run_dir / "model.safetensors",
        n_outputs,
        args.seed,
    )
    names = mapped_outputs(artifact)
    batch_rows = args.model_batch or engine_batch_pixels()
    parts = chosen_parts(args)
    runners = {}
    if "components" in parts:
        runners["components"] = functools.partial(
            run_components, catalog, artifact, run_dir, size, batch_rows
        )
    if "naive" in parts:
        runners["naive"] = functools.partial(run_naive, catalog, artifact, run_dir, size)
    runners["engine"] = functools.partial(
        run_engine, catalog, artifact, run_dir, "engine", None, size
    )
    rounds = timed_stage(seconds, "rounds", interleaved, args.repeat, runners)
    components_runs = rounds.pop("components", [])
    components = median_leaves(components_runs) if components_runs else None
    runs: dict = {}
    for name, found in rounds.items():
        runs[name] = median_run(found)
        runs[name]["rounds"] = found
    if "naive" in runs:
        runs["naive"]["max_abs_diff_vs_engine"] = naive_vs_engine_diff(
            Path(runs["naive"]["cog"]), Path(runs["engine"]["out"]), names
        )
    for done in (run_dir / "naive", run_dir / "parts", Path(runs["engine"]["out"])):
        shutil.rmtree(done, ignore_errors=True)
    if "workers" in parts:
        runs["workers2"] = timed_stage(
            seconds, "workers2", run_engine, catalog, artifact, run_dir, "workers2", 2, size
        )
        shutil.rmtree(Path(runs["workers2"]["out"]), ignore_errors=True)
    runs["rss"] = {}
    for rss_size in args.rss_sizes if "rss" in parts else ():
        if rss_size == size:
            runs["rss"][rss_size] = runs["engine"]
            continue
        rss_catalog = timed_stage(
            seconds,
            f"generate_{rss_size}",
            ensure_dataset,
            args.workdir,
            rss_size,
            args.seed,
            created,
        )
        runs["rss"][rss_size] = timed_stage(
            seconds,
            f"engine_{rss_size}",
            run_engine,
            rss_catalog,
            artifact,
            run_dir,
            f"engine_{rss_size}",
            None,
            rss_size,
        )
        shutil.rmtree(Path(runs["rss"][rss_size]["out"]), ignore_errors=True)
    hooks = dict.fromkeys(HOOK_KEYS)
    context = PartContext(args, size, catalog, artifact, run_dir, cores, seconds, created)
    for name in parts:
        if name in EXTRA_PARTS:
            runs[name] = timed_stage(seconds, name, EXTRA_PARTS[name], context)
            hooks.update({key: runs[name][key] for key in HOOK_KEYS if key in runs[name]})
    figures = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_info(cores),
        "workload": {
            "size": size,
            "pixels": size * size,
            "layers": N_LAYERS,
            "valid_pixels": components["valid_pixels"] if components else None,
            "valid_fraction": rounded(components["valid_pixels"] / (size * size), 4)
            if components
            else None,
            "outputs_requested": args.outputs,
            "outputs": n_outputs,
            "output_layers": names,
            "model": f"MLP {N_LAYERS} -> 64 -> 64 -> {n_outputs}",
            "chunk": CHUNK,
            "model_part_batch_rows": batch_rows,
            "engine_batch_pixels": engine_batch_pixels(),
            "covariates": "float32, tiled 512, ZSTD level 1, predictor 3, nodata -9999",
        },
        "parts": parts,
        "repeat": args.repeat,
        "components": components,
        "components_runs": components_runs,
        "runs": runs,
        **hooks,
    }
    summarize(figures, size, cores)
    return figures


CHILD_ENTRIES = {"_engine": child_engine, "_naive": child_naive, "_components": child_components}


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in CHILD_ENTRIES:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        CHILD_ENTRIES[sys.argv[1]](*sys.argv[2:])
    else:
        main()
