"""Tree-ensemble maps against the peer a user would otherwise run, and the small-map start-up.

    python benchmarks/map_peers.py --size 4096 --repeats 3 --json OUT.json

On the 12 float32 covariates of ``map_throughput.py`` (SIZE x SIZE, about 20% nodata), a
random forest (500 trees, the learner's defaults) and a gradient-boosting model (500 rounds)
are fitted on the same 1,000 pixels with a smooth synthetic target. Each run is its own
process, and the runs are interleaved (engine RF, peer RF, engine GBM, then again), so a busy
machine slows both sides alike; medians of ``--repeats`` runs are reported, in megapixels of
the grid per second, with the machine's load around each run.

- **engine**: ``map_from_config`` (threaded scheduler, every core, COG out), timed from the
  artifact load to the finished COGs;
- **peer**: what pyspatialml's ``Raster.predict`` does, as a rasterio window loop, with the
  same scikit-learn forest (refitted with the same settings and seed on the same table,
  checked to hold the artifact's trees, ``n_jobs=-1``): 256 x 256 windows of the 12 layers,
  read masked, the forest's ``predict`` on the window's pixels, a float32 GTiff, then a COG
  copy with ``rasterio.shutil.copy``. pyspatialml itself cannot run here: 0.22.1 requires
  numpy < 2 and both 0.21 and 0.22.1 call ``np.find_common_type``, removed in numpy 2. Unlike
  pyspatialml, which predicts nodata pixels too (filled with 0) and masks them afterwards,
  the loop predicts only the valid pixels: a faster peer than the real one;
- **accuracy**: the largest absolute difference between the two maps where both are valid,
  and the pixels valid in one map only;
- **Meuse** (``--meuse-model``): ``geosoil map configs/meuse/map_pb.yaml`` end to end, as a
  command: cold is the first run after geosoil's bytecode and numba caches are removed (the
  libraries' bytecode and the OS page cache stay: dropping those needs root), warm the
  median of ``--meuse-repeats`` runs after it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from map_throughput import (
    DEFAULT_WORKDIR,
    NODATA,
    MachineCpu,
    ensure_dataset,
    layer_names,
    synthetic_target,
    training_table,
    usage_cpu_s,
)
from provenance import REPO, code_state, cpu_name

N_TREES = 500
N_TRAIN = 1000
TARGET_RF_VS_PEER = 2.0
TARGET_MEUSE_WARM_S = 2.0


# --------------------------------------------------------------------------- parent
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-trees", action="store_true", help="only the Meuse runs")
    parser.add_argument(
        "--meuse-model", type=Path, default=None, help="artifact of configs/meuse/train_pb.yaml"
    )
    parser.add_argument("--meuse-repeats", type=int, default=5)
    parser.add_argument(
        "--merge", action="store_true", help="update --json's keys instead of replacing the file"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    state = code_state()
    result = {
        **state,
        "cpu": cpu_name(),
        "cores": len(os.sched_getaffinity(0)),
        "command": " ".join(["python", *sys.argv]),
    }
    args.workdir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="map_peers_", dir=args.workdir))
    try:
        result["parts"] = {}
        if not args.skip_trees:
            result.update(tree_runs(args, run_dir))
            result["parts"]["trees"] = state
        if args.meuse_model is not None:
            result.update(meuse_runs(args.meuse_model, run_dir, args.meuse_repeats))
            result["parts"]["meuse"] = state
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    headline = {
        key: result.get(key)
        for key in (
            "engine_rf_mpx_s",
            "peer_pyspatialml_rf_mpx_s",
            "rf_vs_peer",
            "rf_vs_peer_cpu",
            "engine_gbm_mpx_s",
            "meuse_map_cold_s",
            "meuse_map_warm_s",
            "meuse_map_warm_cpu_s",
            "targets",
        )
    }
    print(json.dumps(headline, indent=2))
    if args.json:
        if args.merge and args.json.is_file():
            # Keys of this run replace the file's; each part keeps the code state it ran on.
            earlier = json.loads(args.json.read_text())
            parts = {**earlier.get("parts", {}), **result.get("parts", {})}
            result = {**earlier, **result, "parts": parts}
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def tree_runs(args, run_dir: Path) -> dict:
    catalog = ensure_dataset(args.workdir, args.size, args.seed, [])
    rng = np.random.default_rng(args.seed)
    X = training_table(catalog, N_TRAIN, rng)
    y = synthetic_target(X, 1, rng)
    table = run_dir / "train.npz"
    np.savez(table, X=X.to_numpy(), y=y)
    artifacts = {
        "rf": fit_artifact("random_forest", {"n_estimators": N_TREES}, X, y, run_dir),
        "gbm": fit_artifact("gbm", {"n_estimators": N_TREES}, X, y, run_dir),
    }
    names = (
        ["engine_rf", "engine_gbm"] if args.skip_peer else ["engine_rf", "peer_rf", "engine_gbm"]
    )
    runs: dict[str, list[dict]] = {name: [] for name in names}
    pixels = args.size * args.size
    for repeat in range(args.repeats):
        for name in runs:
            out = run_dir / f"{name}_{repeat}"
            side, learner = name.split("_")
            spec = {"catalog": str(catalog), "artifact": str(artifacts[learner]), "out": str(out)}
            if side == "peer":
                spec["table"] = str(table)
            report = run_child(f"_{side}", spec, run_dir)
            report["mpx_s"] = round(pixels / 1e6 / report["wall_s"], 4)
            runs[name].append(report)
            print(name, repeat, report["wall_s"], "s", report["load"], file=sys.stderr, flush=True)
            if repeat == 0 and name == "peer_rf":
                accuracy = compare_maps(Path(runs["engine_rf"][0]["cog"]), Path(report["cog"]))
            keep = repeat == 0 and name in ("engine_rf", "peer_rf")
            if not keep:
                shutil.rmtree(out, ignore_errors=True)
    medians = {
        name: statistics.median(r["wall_s"] for r in reports) for name, reports in runs.items()
    }
    figures = {
        "size": args.size,
        "pixels": pixels,
        "repeats": args.repeats,
        "n_trees": N_TREES,
        "n_train": N_TRAIN,
        "runs": runs,
        "median_s": {k: round(v, 3) for k, v in medians.items()},
        # CPU seconds of the timed part (all threads): on a machine shared with other work,
        # wall time measures the share of the cores a run got as much as the run itself.
        "median_cpu_s": {
            name: round(statistics.median(r["cpu_s"] for r in reports), 2)
            for name, reports in runs.items()
        },
        "engine_rf_mpx_s": round(pixels / 1e6 / medians["engine_rf"], 4),
        "engine_gbm_mpx_s": round(pixels / 1e6 / medians["engine_gbm"], 4),
        "machine_load": {name: [r["load"] for r in reports] for name, reports in runs.items()},
    }
    if "peer_rf" in runs:
        figures["peer_pyspatialml_rf_mpx_s"] = round(pixels / 1e6 / medians["peer_rf"], 4)
        figures["rf_vs_peer"] = round(medians["peer_rf"] / medians["engine_rf"], 3)
        # Each repeat's engine and peer ran back to back: their ratios, and the median ratio.
        paired = [
            p["wall_s"] / e["wall_s"]
            for e, p in zip(runs["engine_rf"], runs["peer_rf"], strict=True)
        ]
        figures["rf_vs_peer_paired"] = [round(r, 3) for r in paired]
        figures["rf_vs_peer_cpu"] = round(
            figures["median_cpu_s"]["peer_rf"] / figures["median_cpu_s"]["engine_rf"], 3
        )
        figures["accuracy_vs_peer"] = accuracy
        figures["targets"] = {"rf_vs_peer_at_least_2": figures["rf_vs_peer"] >= TARGET_RF_VS_PEER}
    return figures


def fit_artifact(name: str, params: dict, X, y, run_dir: Path) -> Path:
    from geosoil.artifacts import InputLayer, InputSpec, OutputSpec, Provenance, save_artifact
    from geosoil.models.registry import get_estimator_class

    model = get_estimator_class(name)(**params).fit(X, y)
    model.prepare_mapping()  # compiles the evaluator into numba's cache before any timed run
    return save_artifact(
        model,
        run_dir / f"{name}.safetensors",
        input_spec=InputSpec(kind="covariates", layers=[InputLayer(name=n) for n in X.columns]),
        output_spec=OutputSpec(names=["prediction"], units=[""]),
        provenance=Provenance(data_fingerprint="synthetic", n_samples=len(X), seed=0),
    )


def run_child(entry: str, spec: dict, run_dir: Path) -> dict:
    """One timed run in a fresh process, with the machine's load around it."""
    spec_path = run_dir / "spec.json"
    report_path = run_dir / "report.json"
    spec_path.write_text(json.dumps(spec))
    report_path.unlink(missing_ok=True)
    load_before = os.getloadavg()[0]
    machine = MachineCpu()
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), entry, str(spec_path), str(report_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{entry} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    report = json.loads(report_path.read_text())
    busy = machine.since()
    report["load"] = {
        "loadavg_1min_before": round(load_before, 2),
        "loadavg_1min_after": round(os.getloadavg()[0], 2),
        "machine_busy_s": busy["busy_s"],
        "other_processes_cpu_s": round(busy["busy_s"] - report["process_cpu_s"], 2),
        "steal_s": busy["steal_s"],
    }
    return report


def compare_maps(engine_cog: Path, peer_cog: Path) -> dict:
    """Largest absolute difference where both maps are valid; pixels valid in one only."""
    import rasterio

    with rasterio.open(engine_cog) as src:
        engine = src.read(1, masked=True)
    with rasterio.open(peer_cog) as src:
        peer = src.read(1, masked=True)
    engine_ok = ~np.ma.getmaskarray(engine) & np.isfinite(engine.filled(np.nan))
    peer_ok = ~np.ma.getmaskarray(peer) & np.isfinite(peer.filled(np.nan))
    both = engine_ok & peer_ok
    diff = np.abs(engine.data[both].astype(np.float64) - peer.data[both].astype(np.float64))
    return {
        "pixels_compared": int(both.sum()),
        "max_abs_diff": float(diff.max()) if diff.size else None,
        "mean_abs_diff": float(diff.mean()) if diff.size else None,
        "valid_in_engine_only": int((engine_ok & ~peer_ok).sum()),
        "valid_in_peer_only": int((peer_ok & ~engine_ok).sum()),
    }


# --------------------------------------------------------------------------- Meuse
def meuse_runs(model: Path, run_dir: Path, repeats: int) -> dict:
    """``geosoil map configs/meuse/map_pb.yaml`` as a user runs it: cold once, then warm."""
    config = REPO / "configs" / "meuse" / "map_pb.yaml"
    out = run_dir / "meuse_map"
    command = [
        sys.executable,
        "-m",
        "geosoil.cli.main",
        "-q",
        "map",
        str(config),
        "--model",
        str(model.resolve()),
        "--out",
        str(out),
        "--overwrite",
    ]
    # Bytecode is written as a user's install does (a shell may disable it): the cold run
    # compiles geosoil's modules, the warm runs load them.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def once() -> dict:
        load = os.getloadavg()[0]
        cpu = usage_cpu_s(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
        return {
            "wall_s": round(time.perf_counter() - start, 3),
            # The command's CPU seconds (user + system): robust to a busy machine, unlike wall.
            "cpu_s": round(usage_cpu_s(resource.RUSAGE_CHILDREN) - cpu, 3),
            "loadavg_1min": round(load, 2),
        }

    # Cold: no bytecode cache of geosoil and no numba cache (the Python libraries' own
    # bytecode and the OS page cache stay; clearing those needs root).
    for cache in REPO.joinpath("geosoil").rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    cold = once()
    warm = [once() for _ in range(repeats)]
    median = statistics.median(r["wall_s"] for r in warm)
    return {
        "meuse_map_cold_s": cold["wall_s"],
        "meuse_map_warm_s": round(median, 3),
        "meuse_map_warm_cpu_s": round(statistics.median(r["cpu_s"] for r in warm), 3),
        "meuse_runs": {
            "cold": cold,
            "warm": warm,
            "command": " ".join(command[1:]),
            "bytecode": "written by the cold run, loaded by the warm runs",
        },
        "meuse_target_warm_at_most_2_s": median <= TARGET_MEUSE_WARM_S,
    }


# --------------------------------------------------------------------------- children
def child_engine(spec: dict, report_path: Path) -> None:
    """``_engine SPEC REPORT``: map_from_config to COG, timed from the artifact load."""
    from geosoil.config import MapConfig
    from geosoil.workflows import map_from_config

    out = Path(spec["out"])
    config = MapConfig.model_validate(
        {
            "models": [spec["artifact"]],
            "covariates": {"catalog": spec["catalog"]},
            "grid": {"reference": layer_names()[0]},
            "output": {"dir": str(out), "format": "cog", "overwrite": True},
            "execution": {"progress": False},
        }
    )
    wall, cpu = time.perf_counter(), time.process_time()
    map_from_config(config)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    report = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 2), "cog": str(out / "prediction.tif")}
    write_report(report_path, report)


def child_peer(spec: dict, report_path: Path) -> None:
    """``_peer SPEC REPORT``: the same forest in pyspatialml's window loop, then a COG copy."""
    import rasterio
    import rasterio.shutil
    import yaml
    from rasterio.windows import Window
    from sklearn.ensemble import RandomForestRegressor

    from geosoil.artifacts import load_artifact
    from geosoil.models.covariate.forest_arrays import ForestArrays

    model = load_artifact(Path(spec["artifact"])).estimator
    data = np.load(spec["table"])
    encoded = model.encoding_.encode(data["X"])[0].astype(np.float32).astype(np.float64)
    forest = RandomForestRegressor(**{**model._forest_settings(model.max_features_), "n_jobs": -1})
    forest.fit(encoded, data["y"])
    same = ForestArrays.from_sklearn(forest.estimators_, encoded.shape[1])
    for name in ("left", "right", "feature", "threshold", "value"):
        if not np.array_equal(getattr(same, name), getattr(model.forest_, name)):
            raise RuntimeError(f"the refitted forest differs from the artifact's ({name})")
    catalog = Path(spec["catalog"])
    entries = yaml.safe_load(catalog.read_text())["layers"]
    paths = [catalog.parent / entry["path"] for entry in entries]
    out = Path(spec["out"])
    out.mkdir(parents=True)
    tif, cog = out / "prediction_gtiff.tif", out / "prediction.tif"
    side = 256  # pyspatialml's default block_shape
    wall, cpu = time.perf_counter(), time.process_time()
    sources = [rasterio.open(path) for path in paths]
    first = sources[0]
    profile = {
        **first.meta,
        "driver": "GTiff",
        "count": 1,
        "dtype": "float32",
        "nodata": NODATA,
    }
    with rasterio.open(tif, "w", **profile) as target:
        for col in range(0, first.width, side):
            for row in range(0, first.height, side):
                window = Window(
                    col, row, min(side, first.width - col), min(side, first.height - row)
                )
                stack = np.ma.stack([src.read(1, window=window, masked=True) for src in sources])
                stack = np.ma.masked_invalid(stack)
                flat = stack.reshape(len(sources), -1).T
                valid = ~np.ma.getmaskarray(flat).any(axis=1)
                result = np.full(flat.shape[0], NODATA, dtype=np.float32)
                if valid.any():
                    result[valid] = forest.predict(flat.data[valid])
                target.write(result.reshape(1, window.height, window.width), window=window)
    for src in sources:
        src.close()
    predicted_s = time.perf_counter() - wall
    rasterio.shutil.copy(tif, cog, driver="COG")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    report = {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 2),
        "predict_gtiff_s": round(predicted_s, 3),
        "cog": str(cog),
        "same_trees_as_artifact": True,
    }
    write_report(report_path, report)


def write_report(path: Path, report: dict) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report["process_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    report["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)
    path.write_text(json.dumps(report))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] in ("_engine", "_peer"):
        entry = {"_engine": child_engine, "_peer": child_peer}[sys.argv[1]]
        entry(json.loads(Path(sys.argv[2]).read_text()), Path(sys.argv[3]))
    else:
        main()
