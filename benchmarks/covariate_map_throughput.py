"""Mapping throughput of the covariate learners on the engine benchmark's workload.

    python benchmarks/covariate_map_throughput.py --size 1024 --json OUT.json

The 12 float32 covariates of ``map_throughput.py`` (SIZE x SIZE pixels, about 20% nodata),
one output per model. Each learner is fitted on the same 1,000 pixels with a smooth synthetic
target: the engine workload's MLP (12 -> 64 -> 64 -> 1), the random forest (500 trees),
the quantile forest (its mean layer only), LightGBM (400 rounds), ridge and the RBF SVR. Each map is
``predict_map(...).compute()`` on dask's threaded scheduler; repeats are interleaved across
models and the median is reported, in megapixels (all pixels of the grid) per second.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from map_throughput import DEFAULT_WORKDIR, ensure_dataset, synthetic_target, training_table
from provenance import code_state, cpu_name

LEARNERS = {
    "covariate_mlp": {"hidden_layers": (64, 64), "max_epochs": 5, "batch_size": 128},
    "random_forest": {},
    "quantile_forest": {},
    "gbm": {},
    "linear": {},
    "covariate_svr": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args()

    import torch

    from geosoil.artifacts import (
        InputLayer,
        InputSpec,
        OutputSpec,
        Provenance,
        load_artifact,
        save_artifact,
    )
    from geosoil.geo.grid import Grid
    from geosoil.io.catalog import read_catalog
    from geosoil.mapping.engine import predict_map
    from geosoil.mapping.stack import CovariateStack
    from geosoil.models.registry import get_estimator_class

    torch.set_num_threads(1)
    catalog = ensure_dataset(args.workdir, args.size, 0, [])
    layers = read_catalog(catalog).layers
    grid = Grid.from_raster(layers[0].path)
    stack = CovariateStack.from_layers(layers)
    rng = np.random.default_rng(0)
    X = training_table(catalog, 1000, rng)
    y = synthetic_target(X, 1, rng)
    artifacts, fit_s = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, params in LEARNERS.items():
            start = time.perf_counter()
            model = get_estimator_class(name)(**params).fit(X, y)
            fit_s[name] = round(time.perf_counter() - start, 2)
            path = save_artifact(
                model,
                Path(tmp) / f"{name}.safetensors",
                input_spec=InputSpec(
                    kind="covariates", layers=[InputLayer(name=n) for n in X.columns]
                ),
                output_spec=OutputSpec(names=[name], units=[""]),
                provenance=Provenance(data_fingerprint="synthetic", n_samples=len(X), seed=0),
            )
            artifacts[name] = load_artifact(path)
        seconds = {name: [] for name in artifacts}
        for _ in range(args.repeats):
            for name, artifact in artifacts.items():
                start = time.perf_counter()
                predict_map(stack, [artifact], grid, chunks=512).compute(scheduler="threads")
                seconds[name].append(time.perf_counter() - start)
                print(name, round(seconds[name][-1], 2), file=sys.stderr, flush=True)
    pixels = grid.width * grid.height
    models = {
        name: {
            "median_s": round(statistics.median(values), 3),
            "mpx_s": round(pixels / 1e6 / statistics.median(values), 3),
            "fit_s": fit_s[name],
        }
        for name, values in seconds.items()
    }
    result = {
        **code_state(),
        "cpu": cpu_name(),
        "size": args.size,
        "pixels": pixels,
        "repeats": args.repeats,
        "models": models,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
