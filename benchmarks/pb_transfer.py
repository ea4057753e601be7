"""Lead by transfer learning from vis-NIR spectra (issue 5 evidence, He et al. 2025).

    python benchmarks/pb_transfer.py --dataset synthetic [--n-library 19000] --json OUT
    python benchmarks/pb_transfer.py --dataset limesoda [--property SOC|pH] --json OUT
    python benchmarks/pb_transfer.py --dataset synthetic --designs sorption_edge exchange \
        --target-seeds 0 1 2 [--n-library N] --json OUT

Runs the configs users run (``configs/pb`` and ``configs/limesoda``), with only paths, epochs
and threads overridden:

1. pretrain a :class:`~geosoil.models.SpectralResNet` on the large source set
   (``geosoil train``);
2. compare on the small target set, over its 10 predefined folds (``geosoil evaluate``): the
   ResNet trained directly (``direct``), the ResNet fine-tuned from the pretrained one with its
   convolutional and residual layers frozen (``transfer``), ``plsr`` and ``svr``;
3. synthetic only: fine-tune on the whole target set (``geosoil finetune``), explain source
   and transferred models side by side (``geosoil explain``), and map both over a synthetic
   bare-soil hyperspectral cube (``geosoil map`` with a ``cube:`` section) against its truth.

With ``--designs`` (synthetic only) the source is pretrained once and step 2 runs on the
target set of each Pb design (:mod:`geosoil.synthetic.visnir_library`: ``sorption_edge``,
which favours transfer from pH by construction, and ``exchange``, where Pb is unrelated to
pH) and each of ``--target-seeds``; steps 3 are skipped. The JSON's ``designs`` holds, per
design, what it favours and each model's R2 (mean over folds, then mean, min and max over
seeds), and ``transfer_minus_direct_r2`` likewise.

Each of ``direct``, ``transfer``, ``plsr`` and ``svr`` in the JSON holds ``r2_mean``,
``r2_sd``, ``rmse_mean``, ``rpd_mean`` (and every other metric of ``geosoil evaluate``): R2
and RPD on the scale of the config's ``target_transform`` (log10 Pb; SOC and pH as they are),
RMSE back-transformed to the target's units.

Datasets:

- ``synthetic``: source :func:`~geosoil.synthetic.visnir_library` (``--n-library`` spectra,
  pH), target :func:`~geosoil.synthetic.visnir_library.pb_target_set` (130 samples, Pb in
  mg/kg, linked to iron-oxide and organic features).
- ``limesoda``: source ``SSP.460`` and target ``SC.93`` of LimeSoDa in
  ``$GEOSOIL_REAL_DATA/limesoda`` (default ``../shared/data/real``), both resampled onto
  400-2498 nm every 1 nm; ``--property`` SOC (default) or pH for both.

Time (one thread of the 2-core development machine): pretraining runs at about 1,300 spectra
per second, 13 s per epoch on 17,000 training spectra; the comparison takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from provenance import code_state, cpu_name

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("benchmarks.pb_transfer")

MODELS = ("direct", "transfer", "plsr", "svr")
PB_DESIGNS = {"sorption_edge": "PB_MODEL", "exchange": "EXCHANGE_PB_MODEL"}
PROPERTIES = {"SOC": ("SOC_target", "%"), "pH": ("pH_target", "pH")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("synthetic", "limesoda"), required=True)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--work", type=Path, help="working folder (default out/bench_pb_<ds>)")
    parser.add_argument("--n-library", type=int, default=19_000, help="synthetic source size")
    parser.add_argument("--property", choices=sorted(PROPERTIES), default="SOC")
    parser.add_argument("--pretrain-epochs", type=int, default=None, help="config's if unset")
    parser.add_argument("--target-epochs", type=int, default=None, help="config's if unset")
    parser.add_argument("--folds", type=int, default=10, help="predefined folds to test on")
    parser.add_argument("--cube-size", type=int, default=128, help="synthetic cube side (px)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per fit")
    parser.add_argument(
        "--designs", nargs="+", choices=sorted(PB_DESIGNS), default=None, help="synthetic Pb"
    )
    parser.add_argument("--target-seeds", type=int, nargs="+", default=[0], help="--designs")
    args = parser.parse_args(argv)
    if args.designs and args.dataset != "synthetic":
        parser.error("--designs runs with --dataset synthetic only")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.chdir(REPO)  # the configs' relative paths are read from the repository root
    work = (args.work or REPO / "out" / f"bench_pb_{args.dataset}").resolve()
    work.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    run = run_synthetic if args.dataset == "synthetic" else run_limesoda
    if args.designs:
        run = run_designs
    result = run(args, work)
    result.update(
        dataset=args.dataset,
        wall_seconds=round(time.perf_counter() - started, 1),
        threads=args.threads,
        cpu=cpu_name(),
        python=platform.python_version(),
        code=code_state(),
        command=" ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
    )
    text = json.dumps(result, indent=2, default=float)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)
    return 0


# ------------------------------------------------------------------------------ datasets
def run_synthetic(args, work: Path) -> dict:
    from geosoil.synthetic.library import write_library
    from geosoil.synthetic.visnir_library import pb_target_set, visnir_library

    library = work / "library" / "library_visnir.parquet"
    target = work / "target" / "pb_target.parquet"
    library.parent.mkdir(exist_ok=True)
    target.parent.mkdir(exist_ok=True)
    write_library(visnir_library(args.n_library, seed=0), library)
    write_library(pb_target_set(130, seed=0), target)

    pretrain = pretrain_source(
        "configs/pb/pretrain_ph.yaml", work / "pretrain", args, [f"spectra.path={library}"]
    )
    parent = work / "pretrain" / "model.safetensors"
    comparison = compare_on_target(
        "configs/pb/compare.yaml",
        work / "compare",
        args,
        [f"spectra.path={target}", f"models.transfer.params.init_from={parent}"],
    )
    finetuned = run_finetune(parent, target, work / "finetune", args)
    explained = run_explain(parent, finetuned, target, work / "explain")
    cube = map_cube(parent, finetuned, work / "cube", size=args.cube_size)
    return {
        "source": {"spectra": args.n_library, "property": "ph_h2o", **pretrain},
        "target": {"samples": 130, "property": "pb_mg_kg", "scale": "log10"},
        **comparison,
        "explain": explained,
        "cube": cube,
    }


def run_designs(args, work: Path) -> dict:
    """Pretrain on the pH library once; compare on each Pb design and target seed."""
    from importlib import import_module

    from geosoil.synthetic.library import write_library

    # the module, not the package's function of the same name
    designs = import_module("geosoil.synthetic.visnir_library")

    library = work / "library" / "library_visnir.parquet"
    library.parent.mkdir(exist_ok=True)
    write_library(designs.visnir_library(args.n_library, seed=0), library)
    pretrain = pretrain_source(
        "configs/pb/pretrain_ph.yaml", work / "pretrain", args, [f"spectra.path={library}"]
    )
    parent = work / "pretrain" / "model.safetensors"
    out: dict = {}
    for name in args.designs:
        model = getattr(designs, PB_DESIGNS[name])
        runs = []
        for seed in args.target_seeds:
            target = work / f"target_{name}_{seed}" / "pb_target.parquet"
            target.parent.mkdir(exist_ok=True)
            write_library(designs.pb_target_set(130, seed=seed, model=model), target)
            comparison = compare_on_target(
                "configs/pb/compare.yaml",
                work / f"compare_{name}_{seed}",
                args,
                [f"spectra.path={target}", f"models.transfer.params.init_from={parent}"],
            )
            runs.append({"target_seed": seed, **comparison})
        summary = {key: _seed_spread([run[key]["r2_mean"] for run in runs]) for key in MODELS}
        summary["transfer_minus_direct_r2"] = _seed_spread(
            [run["transfer_minus_direct_r2"] for run in runs]
        )
        out[name] = {"favours": model.favours, "r2_mean": summary, "runs": runs}
    return {
        "source": {"spectra": args.n_library, "property": "ph_h2o", **pretrain},
        "target": {"samples": 130, "property": "pb_mg_kg", "scale": "log10"},
        "designs": out,
    }


def _seed_spread(values: list[float]) -> dict:
    return {
        "mean": round(float(np.mean(values)), 4),
        "min": round(float(np.min(values)), 4),
        "max": round(float(np.max(values)), 4),
    }


def run_limesoda(args, work: Path) -> dict:
    root = Path(os.environ.get("GEOSOIL_REAL_DATA", REPO.parent / "shared" / "data" / "real"))
    source, target = root / "limesoda" / "SSP.460.parquet", root / "limesoda" / "SC.93.parquet"
    if not (source.is_file() and target.is_file()):
        sys.exit(f"LimeSoDa not found under {root / 'limesoda'}; set GEOSOIL_REAL_DATA")
    column, units = PROPERTIES[args.property]
    sets = [f"spectra.target={column}", f"spectra.target_units={units}"]
    pretrain = pretrain_source(
        "configs/limesoda/pretrain_soc.yaml",
        work / "pretrain",
        args,
        [f"spectra.path={source}", *sets],
    )
    parent = work / "pretrain" / "model.safetensors"
    comparison = compare_on_target(
        "configs/limesoda/compare_soc.yaml",
        work / "compare",
        args,
        [
            f"spectra.path={target}",
            f"spectra.resample.like={parent}",
            f"models.transfer.params.init_from={parent}",
            *sets,
        ],
    )
    return {
        "source": {"file": "SSP.460.parquet", "samples": 460, "property": column, **pretrain},
        "target": {"file": "SC.93.parquet", "samples": 93, "property": column, "scale": "none"},
        **comparison,
    }


# ------------------------------------------------------------------------------ steps
def pretrain_source(config: str, out: Path, args, sets: list[str]) -> dict:
    """``geosoil train`` of the pretraining config; its fit time and validation skill."""
    from geosoil.config import load_config
    from geosoil.config.evaluate import SpectralTrainConfig
    from geosoil.workflows.train_spectra import train_spectra_from_config

    sets = [*sets, f"output.dir={out}", "output.overwrite=true"]
    sets.append(f"model.params.threads={args.threads}")
    if args.pretrain_epochs:
        sets.append(f"model.params.max_epochs={args.pretrain_epochs}")
    result = train_spectra_from_config(load_config(REPO / config, SpectralTrainConfig, sets))
    metrics = result.metrics
    history = json.loads((out / "metrics.json").read_text())
    return {
        "config": config,
        "n_train": metrics["n_train"],
        "n_valid": metrics["n_valid"],
        "fit_seconds": metrics["fit_seconds"],
        "train_spectra_per_second": round(
            metrics["n_train"] * _epochs_run(out) / max(metrics["fit_seconds"], 1e-9), 1
        ),
        "epochs": _epochs_run(out),
        "valid": history["valid"],
    }


def compare_on_target(config: str, out: Path, args, sets: list[str]) -> dict:
    """``geosoil evaluate`` of the comparison config: the four models' summaries."""
    from geosoil.config import load_config
    from geosoil.config.evaluate import EvaluateConfig
    from geosoil.workflows.evaluate import evaluate_from_config

    sets = [*sets, f"output.dir={out}", "output.overwrite=true", f"splits.n_seeds={args.folds}"]
    for name in ("direct", "transfer"):
        sets.append(f"models.{name}.params.threads={args.threads}")
        if args.target_epochs:
            sets.append(f"models.{name}.params.max_epochs={args.target_epochs}")
    evaluate = load_config(REPO / config, EvaluateConfig, sets)
    result = evaluate_from_config(evaluate)
    out_models = {name: _rounded(result.summaries[name]) for name in MODELS}
    # Ten folds of 9-13 samples make per-fold R2 noisy; LimeSoDa reports skill on the pooled
    # out-of-fold predictions, so both are given.
    pooled = _pooled_scores(out / "predictions.csv", evaluate.target_transform)
    for name in MODELS:
        out_models[name].update(pooled[name])
    best = max(MODELS, key=lambda name: out_models[name]["r2_mean"])
    return {
        "comparison_config": config,
        "protocol": f"{args.folds} predefined folds (test), 15 % of the rest for validation",
        **out_models,
        "best_r2": best,
        "transfer_minus_direct_r2": round(
            out_models["transfer"]["r2_mean"] - out_models["direct"]["r2_mean"], 4
        ),
        "report": str(out / "report.md"),
    }


def run_finetune(parent: Path, target: Path, out: Path, args) -> Path:
    from geosoil.config import load_config
    from geosoil.config.finetune import FinetuneConfig
    from geosoil.workflows.finetune import finetune_from_config

    sets = [
        f"parent={parent}",
        f"spectra.path={target}",
        f"output.dir={out}",
        "output.overwrite=true",
        f"params.threads={args.threads}",
    ]
    if args.target_epochs:
        sets.append(f"params.max_epochs={args.target_epochs}")
    return finetune_from_config(
        load_config(REPO / "configs/pb/finetune_pb.yaml", FinetuneConfig, sets)
    ).artifact


def run_explain(parent: Path, child: Path, target: Path, out: Path) -> dict:
    from geosoil.config import load_config
    from geosoil.config.explain import ExplainConfig
    from geosoil.workflows.explain import explain_from_config

    sets = [
        f"models.source={parent}",
        f"models.transferred={child}",
        f"spectra.path={target}",
        f"output.dir={out}",
        "output.overwrite=true",
    ]
    result = explain_from_config(load_config(REPO / "configs/pb/explain.yaml", ExplainConfig, sets))
    summary = json.loads(result.summary.read_text())
    return {"figure": str(result.figure), "agreement": summary["agreement"]}


def map_cube(parent: Path, child: Path, folder: Path, *, size: int) -> dict:
    """Both models over a synthetic bare-soil cube, scored against the cube's truth."""
    import rasterio

    from geosoil.config import load_config
    from geosoil.config.map import MapConfig
    from geosoil.synthetic.cube import bare_soil_cube
    from geosoil.workflows.map import map_from_config

    paths = bare_soil_cube(folder / "scene", size=size, seed=0)
    out = folder / "map"
    sets = [
        f"models=[{{path: {child}, name: pb_mg_kg}}, {{path: {parent}, name: ph}}]",
        f"cube.path={paths['cube_tif']}",
        f"output.dir={out}",
        "output.overwrite=true",
    ]
    started = time.perf_counter()
    map_from_config(load_config(REPO / "configs/pb/cube_map.yaml", MapConfig, sets))
    seconds = time.perf_counter() - started
    scores = {}
    for layer, truth, log10 in (("pb_mg_kg", "truth_pb_mg_kg", True), ("ph", "truth_ph", False)):
        with rasterio.open(out / f"{layer}.tif") as src:
            predicted = src.read(1, masked=True).filled(np.nan).astype(np.float64)
        with rasterio.open(paths[truth]) as src:
            observed = src.read(1, masked=True).filled(np.nan).astype(np.float64)
        valid = np.isfinite(predicted) & np.isfinite(observed)
        p, o = predicted[valid], observed[valid]
        if log10:
            p, o = np.log10(np.maximum(p, 1e-6)), np.log10(o)
        scores[layer] = {
            "r2": round(1.0 - np.sum((o - p) ** 2) / np.sum((o - o.mean()) ** 2), 4),
            "rmse": round(float(np.sqrt(np.mean((o - p) ** 2))), 4),
            "scale": "log10" if log10 else "pH",
            "pixels": int(valid.sum()),
        }
    with rasterio.open(out / "pb_risk_class.tif") as src:
        classes = src.read(1, masked=True).compressed()
    shares = {str(c): round(float(np.mean(classes == c)), 4) for c in (0, 1, 2)}
    return {
        "size_px": size,
        "bands": "400-2500 nm every 10 nm, water-vapour windows dropped, linear to 1 nm",
        "map_seconds": round(seconds, 2),
        "truth": scores,
        "pb_risk_class_shares": shares,
    }


def _pooled_scores(predictions: Path, target_transform: str) -> dict[str, dict[str, float]]:
    """R2 (on the metric scale) and RMSE (in units) of each model's pooled test predictions."""
    import pandas as pd

    table = pd.read_csv(predictions)
    scores = {}
    for name, rows in table.groupby("model"):
        observed, predicted = rows["observed"].to_numpy(), rows["predicted"].to_numpy()
        o, p = observed, predicted
        if target_transform == "log10":
            o, p = np.log10(observed), np.log10(np.maximum(predicted, 1e-9))
        scores[str(name)] = {
            "r2_pooled": round(float(1.0 - np.sum((o - p) ** 2) / np.sum((o - o.mean()) ** 2)), 4),
            "rmse_pooled": round(float(np.sqrt(np.mean((observed - predicted) ** 2))), 4),
        }
    return scores


def _epochs_run(out: Path) -> int:
    import pandas as pd

    history = out / "training_history.csv"
    return int(pd.read_csv(history)["epoch"].max()) if history.is_file() else 1


def _rounded(summary: dict) -> dict:
    return {key: round(float(value), 4) for key, value in summary.items()}


if __name__ == "__main__":
    sys.exit(main())
