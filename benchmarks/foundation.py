"""Time the foundation workflows per world size: synth, train (demo config), map.

    python benchmarks/foundation.py --sizes small medium --json benchmarks/results/foundation.json

Prints the figures quoted in README.md as JSON (and writes them with --json). The map of
each world is also scored against that world's true Kex map. Each stage runs in this process,
one after the other, on whatever cores the machine has.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from provenance import code_state, cpu_name

REPO = Path(__file__).resolve().parents[1]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def map_vs_truth_r2(map_path: Path, truth_path: Path) -> float:
    """R2 of the mapped values against the world's true property map, over shared pixels."""
    import numpy as np
    import rasterio

    with rasterio.open(map_path) as mapped, rasterio.open(truth_path) as truth:
        predicted, true = mapped.read(1, masked=True), truth.read(1, masked=True)
    both = ~(np.ma.getmaskarray(predicted) | np.ma.getmaskarray(true))
    p, t = predicted.data[both].astype(float), true.data[both].astype(float)
    return float(1 - np.sum((p - t) ** 2) / np.sum((t - t.mean()) ** 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "medium"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from geosoil.config import MapConfig, TrainConfig, load_config
    from geosoil.synthetic import synthesize, write_world
    from geosoil.workflows import map_from_config, train_from_config

    figures: dict = {
        **code_state(),  # before anything runs: what was measured
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "synth": {},
        "map": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for size in args.sizes:
            out = tmp / f"world_{size}"
            out.mkdir()
            world, t_gen = timed(lambda size=size: synthesize(size=size, seed=args.seed))
            _, t_write = timed(lambda world=world, out=out: write_world(world, out))
            figures["synth"][size] = {
                "generate_s": round(t_gen, 2),
                "write_s": round(t_write, 2),
                "mib": round(folder_mib(out), 1),
                "n_samples": len(world.samples),
            }
            del world

        figures["train"] = {}
        for size in args.sizes:
            world = tmp / f"world_{size}"
            train_cfg = load_config(
                REPO / "configs" / "demo" / "train.yaml",
                TrainConfig,
                [
                    f"samples.path={world / 'samples.parquet'}",
                    f"covariates.catalog={world / 'covariates.yaml'}",
                    f"output.dir={tmp / f'train_{size}'}",
                ],
            )
            trained, t_train = timed(lambda train_cfg=train_cfg: train_from_config(train_cfg))
            figures["train"][size] = {
                "seconds": round(t_train, 1),
                "cv_pooled": {
                    scheme: {k: round(v, 3) for k, v in summary["pooled"].items()}
                    for scheme, summary in trained.cv_summary.items()
                },
            }
            map_cfg = load_config(
                REPO / "configs" / "demo" / "map.yaml",
                MapConfig,
                [
                    f"models=[{trained.artifact}]",
                    f"covariates.catalog={world / 'covariates.yaml'}",
                    f"output.dir={tmp / f'map_{size}'}",
                    "output.format=cog",
                    "execution.progress=false",
                ],
            )
            mapped, t_map = timed(lambda map_cfg=map_cfg: map_from_config(map_cfg))
            n_px = mapped.n_pixels
            figures["map"][size] = {
                "pixels": n_px,
                "seconds": round(t_map, 2),
                "mpx_s": round(n_px / t_map / 1e6, 3),
                "r2_vs_truth": round(
                    map_vs_truth_r2(
                        mapped.cogs["kex_cmol_kg"], world / "truth" / "kex_cmol_kg.tif"
                    ),
                    3,
                ),
            }
    figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)

    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
