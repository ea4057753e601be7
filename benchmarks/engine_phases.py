"""Where the engine's CPU seconds go, phase by phase, for several checkouts side by side.

    python benchmarks/engine_phases.py --size 4096 --repeat 3 --artifact OLD_MLP \\
        --checkout old=/work/run_old --checkout new=/work/run_new --json OUT.json

The ``map_throughput.py`` workload (12 float32 covariates, MLP 12 -> 64 -> 64 -> 4, four COGs,
chunk 1024) is mapped by ``map_from_config`` in a fresh process for each checkout (each one
imports its own geosoil: ``PYTHONPATH=<checkout>``), in interleaved rounds (A, B, A, B), so a
busy machine slows every side alike. CPU seconds are the figures to compare on a shared
machine; elapsed seconds are recorded beside them.

Per run:

- ``phase_blocks_{wall,cpu}_s``, ``phase_cog_{wall,cpu}_s``: elapsed and process CPU seconds
  of the block phase (``run_map``) and of the COG copies (``write_cog``, counted once while
  any runs);
- ``block_<stage>_cpu_s``: CPU seconds of the calling threads in each block stage (read,
  predict, Zarr write, marker), summed over the block threads; ``block_<stage>_s`` their
  elapsed seconds. CPU that a stage hands to other threads (zarr's codec threads, BLAS
  threads) is not in its thread CPU: ``blocks_helper_threads_cpu_s`` is the block phase's
  process CPU less the block threads' own.

A ``label=path:no-block-overviews`` checkout maps with the store's overview levels turned off
(GDAL computes every overview level in the COG phase, as before the levels came from the
blocks).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from map_throughput import (  # noqa: E402
    CHUNK,
    StageClock,
    ensure_dataset,
    layer_names,
    train_artifact,
)
from provenance import code_state, cpu_name  # noqa: E402

STAGES = {
    "read": ("geosoil.mapping.stack", "StackReader", "read"),
    "predict": ("geosoil.mapping.execution", None, "compute_block"),
    "zarr_write": ("geosoil.mapping.store", "BlockStore", "write_block"),
    "mark_done": ("geosoil.mapping.store", "BlockStore", "mark_done"),
    "total": ("geosoil.mapping.execution", None, "run_block"),
}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--checkout",
        action="append",
        required=True,
        help="LABEL=PATH[:no-block-overviews] (repeatable; a clean checkout of a commit)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/geosoil-engine-phases"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--artifact",
        type=Path,
        default=None,
        help="the MLP artifact to map (default: trained here); give one written by the oldest "
        "checkout, which newer ones read",
    )
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    catalog = ensure_dataset(args.workdir, args.size, 0, [])
    artifact = args.artifact or args.workdir / f"mlp4_{args.size}.safetensors"
    if not artifact.is_file():
        train_artifact(catalog, artifact, 4, 0)
    checkouts = [parse_checkout(text) for text in args.checkout]
    runs: dict[str, list[dict]] = {c["label"]: [] for c in checkouts}
    for round_ in range(args.repeat):
        for checkout in checkouts:
            report = run_once(checkout, catalog, artifact, args.workdir, round_)
            runs[checkout["label"]].append(report)
            print(checkout["label"], json.dumps(headline(report)), flush=True)
    result = {
        "measured_with": code_state(),
        "command": " ".join(["python", *sys.argv]),
        "cpu": cpu_name(),
        "cores": len(os.sched_getaffinity(0)),
        "size": args.size,
        "chunk": CHUNK,
        "artifact": str(artifact),
        "checkouts": {c["label"]: {**c, "code": checkout_state(c["path"])} for c in checkouts},
        "median": {label: median_of(reports) for label, reports in runs.items()},
        "runs": runs,
    }
    print(json.dumps(result["median"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def parse_checkout(text: str) -> dict:
    label, _, rest = text.partition("=")
    path, _, option = rest.partition(":")
    if option not in ("", "no-block-overviews"):
        raise SystemExit(f"unknown checkout option {option!r}")
    return {"label": label, "path": str(Path(path).resolve()), "block_overviews": not option}


def checkout_state(path: str) -> dict:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True)
        return done.stdout.strip()

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line.strip()]
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(changed), "uncommitted": changed}


def run_once(checkout: dict, catalog: Path, artifact: Path, workdir: Path, round_: int) -> dict:
    out = workdir / f"{checkout['label']}_out"
    spec = {
        "catalog": str(catalog),
        "artifact": str(artifact),
        "out": str(out),
        "grid": layer_names()[0],
        "chunk": CHUNK,
        "block_overviews": checkout["block_overviews"],
    }
    spec_path = workdir / f"{checkout['label']}.spec.json"
    report_path = workdir / f"{checkout['label']}.report.json"
    spec_path.write_text(json.dumps(spec))
    report_path.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": checkout["path"]}
    load = os.getloadavg()
    os.sync()
    subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "_child", str(spec_path), str(report_path)],
        cwd=checkout["path"],
        env=env,
        check=True,
    )
    report = json.loads(report_path.read_text())
    report["round"] = round_
    report["loadavg_1min"] = {"before": round(load[0], 2), "after": round(os.getloadavg()[0], 2)}
    return report


def headline(report: dict) -> dict:
    keys = ("wall_s", "cpu_s", "phase_blocks_cpu_s", "phase_cog_cpu_s", "block_predict_cpu_s")
    return {key: report.get(key) for key in keys}


def median_of(reports: list[dict]) -> dict:
    keys = sorted({k for r in reports for k, v in r.items() if isinstance(v, (int, float))})
    return {
        key: round(statistics.median(r[key] for r in reports if key in r), 3)
        for key in keys
        if key != "round"
    }


# --------------------------------------------------------------------------- the child
class Clock(StageClock):
    """``map_throughput``'s stage clock, with each stage's calling-thread CPU seconds too."""

    def wrap(self, name: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(f"block_{name}_s", time.perf_counter() - wall)
                self.add(f"block_{name}_cpu_s", time.thread_time() - cpu)

        return timed


def child(spec_path: Path, report_path: Path) -> None:
    import importlib

    spec = json.loads(spec_path.read_text())
    from geosoil.config import MapConfig
    from geosoil.workflows import map_from_config

    clock = Clock()
    for name, (module_name, owner, attribute) in STAGES.items():
        module = importlib.import_module(module_name)
        target = getattr(module, owner) if owner else module
        setattr(target, attribute, clock.wrap(name, getattr(target, attribute)))
    import geosoil.mapping.store as store
    import geosoil.workflows.map as workflow

    workflow.run_map = clock.wrap_phase("blocks", workflow.run_map)
    workflow.write_cog = clock.wrap_phase("cog", workflow.write_cog)
    if not spec["block_overviews"]:
        create = store.BlockStore.create.__func__

        def create_without_levels(cls, *args, **kwargs):
            kwargs["overviews"] = False
            return create(cls, *args, **kwargs)

        store.BlockStore.create = classmethod(create_without_levels)
    config = MapConfig.model_validate(
        {
            "models": [spec["artifact"]],
            "covariates": {"catalog": spec["catalog"]},
            "grid": {"reference": spec["grid"]},
            "output": {"dir": spec["out"], "format": "cog", "overwrite": True},
            "chunk": spec["chunk"],
            "execution": {"progress": False},
        }
    )
    wall, cpu = time.perf_counter(), time.process_time()
    map_from_config(config)
    report = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    report.update(clock._busy)
    own = clock._busy.get("block_total_cpu_s", 0.0)
    report["blocks_helper_threads_cpu_s"] = report.get("phase_blocks_cpu_s", 0.0) - own
    report = {k: round(v, 3) for k, v in report.items()}
    report_path.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
