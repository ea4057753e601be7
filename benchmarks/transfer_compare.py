"""Library-to-local transfer, the classical way against the network way, on the same folds.

    python benchmarks/transfer_compare.py --json benchmarks/results/transfer_compare.json
    python benchmarks/transfer_compare.py --cases real --targets SOC_target --json OUT

A large library and a small local set; the local set's predefined folds are the test folds,
and the local samples of the other folds are what each method may learn from. Per fold:

* ``mbl_local``: ``spectral_mbl`` on the local samples alone;
* ``mbl_library``: ``spectral_mbl`` on the library alone (no local sample);
* ``mbl_spiked``: the library spiked with the local samples (``fit(..., spiked=...)``),
  weight 1;
* ``mbl_spiked_weighted``: the same, ``spiking_weight`` chosen among 1, 2, 4 and 8 (with
  ``k``) by nearest-neighbour validation on the local samples only (a grid fixed before any
  run);
* ``resnet_finetune``: the Pb workflow's network transfer: a ``spectral_resnet`` pretrained
  on the library (``geosoil train`` of the pretraining config), then fine-tuned on the
  local samples with its ``features`` frozen (the transfer model of the comparison config,
  epoch count by early stopping on 15 % of them, then refitted on all: ``final_fit``);
* ``plsr_local``: geosoil's ``plsr`` on the local samples alone (the no-transfer baseline).

Cases:

* ``real``: LimeSoDa ``SSP.460`` (library) -> ``SC.93`` (local), SOC, pH and clay, the
  ten published folds of SC.93; both resampled onto 400-2498 nm every 1 nm (the ResNet's
  axis in ``configs/limesoda``); the network is pretrained on the same property of SSP.460
  (``configs/limesoda/pretrain_soc.yaml``); no target transform, as there.
* ``synthetic``: the LUCAS-like library (``--n-library`` spectra, 4,000 by default to keep
  the run short; the Pb workflow uses 19,000) -> the 130-sample Pb target set, its ten
  folds, log10 Pb. The network is pretrained on the library's pH, as in the Pb workflow
  (``configs/pb/pretrain_ph.yaml``). The library has no Pb; for MBL it gets the Pb that the
  design's own ``pb_truth`` gives its soils' composition, with their own deposition draws:
  a library analysed for Pb whose soils follow the district's Pb model. That favours MBL by
  construction, as pretraining on pH (a function of the constituents Pb depends on) favours
  the network. The real case is the one to act on.

Scores: R2 and RMSE of the pooled out-of-fold predictions (on log10 for Pb, in units
otherwise), per-fold R2 mean and sd beside them, and fit seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import yaml
from provenance import code_state, cpu_name

REPO = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("GEOSOIL_REAL_DATA", REPO.parent / "shared" / "data" / "real"))
TARGETS = ("SOC_target", "pH_target", "Clay_target")
UNITS = {"SOC_target": "%", "pH_target": "pH", "Clay_target": "%"}
SPIKING_WEIGHTS = (1.0, 2.0, 4.0, 8.0)
MODELS = (
    "mbl_local",
    "mbl_library",
    "mbl_spiked",
    "mbl_spiked_weighted",
    "resnet_finetune",
    "plsr_local",
)
log = logging.getLogger("benchmarks.transfer_compare")


# ------------------------------------------------------------------------------ data
def real_case(target: str, work: Path, args) -> dict:
    """SSP.460 -> SC.93 on 400-2498 nm every 1 nm; the ResNet pretrained on SSP.460."""
    import pandas as pd
    from pb_transfer import pretrain_source

    from geosoil.spectra import SpectralAxis
    from geosoil.spectra.resample import axis_from_range, resample_spectra

    regular = axis_from_range(400.0, 2498.0, 1.0, "nm")

    def read(name: str):
        frame = pd.read_parquet(REAL / "limesoda" / f"{name}.parquet")
        columns = [c for c in frame.columns if c.startswith("wl_")]
        axis = SpectralAxis.from_values([float(c[3:]) for c in columns], "nm")
        X = resample_spectra(frame[columns].to_numpy(np.float64), axis, regular)
        return frame, X

    library, X_lib = read("SSP.460")
    local, X_loc = read("SC.93")
    sets = [
        f"spectra.path={REAL / 'limesoda' / 'SSP.460.parquet'}",
        f"spectra.target={target}",
        f"spectra.target_units={UNITS[target]}",
    ]
    pretrain = pretrain_source("configs/limesoda/pretrain_soc.yaml", work / "pretrain", args, sets)
    return {
        "library": (X_lib, library[target].to_numpy(np.float64)),
        "local": (X_loc, local[target].to_numpy(np.float64), local["fold"].to_numpy()),
        "axis": regular,
        "transform": "none",
        "parent": work / "pretrain" / "model.safetensors",
        "finetune_config": "configs/limesoda/compare_soc.yaml",
        "pretrain": pretrain,
        "description": f"SSP.460 (460) -> SC.93 (93), {target}",
    }


def synthetic_case(work: Path, args) -> dict:
    """The LUCAS-like library (pH for the network, Pb by the design's truth for MBL) -> the
    Pb target set."""
    from pb_transfer import pretrain_source

    from geosoil.synthetic.library import write_library
    from geosoil.synthetic.visnir_library import (
        pb_target_set,
        pb_truth,
        truth_composition,
        visnir_library,
    )

    library = visnir_library(args.n_library, seed=0)
    target = pb_target_set(130, seed=0)
    path = work / "library" / "library_visnir.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_library(library, path)
    pretrain = pretrain_source(
        "configs/pb/pretrain_ph.yaml", work / "pretrain", args, [f"spectra.path={path}"]
    )
    deposition = np.random.default_rng(20261207).standard_normal(len(library.frame))
    library_pb = pb_truth(truth_composition(library.frame), deposition=deposition)
    return {
        "library": (library.spectra, library_pb),
        "local": (
            target.spectra,
            target.frame["pb_mg_kg"].to_numpy(np.float64),
            target.frame["fold"].to_numpy(),
        ),
        "axis": target.axis,
        "transform": "log10",
        "parent": work / "pretrain" / "model.safetensors",
        "finetune_config": "configs/pb/compare.yaml",
        "pretrain": pretrain,
        "description": f"synthetic library ({args.n_library}, pH; Pb by pb_truth for MBL) "
        "-> Pb target set (130)",
    }


# ------------------------------------------------------------------------------ models
def fit_predict(name: str, case: dict, train: np.ndarray, test: np.ndarray, args) -> np.ndarray:
    """Model ``name`` fitted on the local rows ``train`` (and the library), predicting
    the local rows ``test``."""
    from geosoil.artifacts import load_parent_artifact
    from geosoil.models import PLSR, SpectralMBL, SpectralResNet

    X_lib, y_lib = case["library"]
    X_loc, y_loc, _ = case["local"]
    axis, transform = case["axis"], case["transform"]
    if name == "plsr_local":
        model = PLSR(target_transform=transform, max_components=20)
        return model.fit(X_loc[train], y_loc[train], axis=axis).predict(X_loc[test])
    if name == "resnet_finetune":
        config = yaml.safe_load((REPO / case["finetune_config"]).read_text())
        params = {
            **config["models"]["transfer"]["params"],
            "init_from": str(case["parent"]),
            "threads": args.threads,
            "target_transform": transform,
            "valid_fraction": 0.15,  # the comparison config's splits.valid_fraction
        }
        if args.smoke:
            params["max_epochs"] = 2
        model = SpectralResNet(**params).attach_parent(load_parent_artifact(case["parent"]))
        return model.fit(X_loc[train], y_loc[train], axis=axis).predict(X_loc[test])
    settings = {"target_transform": transform}
    if name == "mbl_local":
        model = SpectralMBL(**settings).fit(X_loc[train], y_loc[train], axis=axis)
    elif name == "mbl_library":
        model = SpectralMBL(**settings).fit(X_lib, y_lib, axis=axis)
    else:
        if name == "mbl_spiked_weighted":
            settings["spiking_weight"] = list(SPIKING_WEIGHTS)
        X = np.concatenate([X_lib, X_loc[train]])
        y = np.concatenate([y_lib, y_loc[train]])
        spiked = np.arange(len(X_lib), len(X))
        model = SpectralMBL(**settings).fit(X, y, axis=axis, spiked=spiked)
        case.setdefault("chosen", []).append(
            {"model": name, "k": model.k_, "spiking_weight": model.spiking_weight_}
        )
    return model.predict(X_loc[test])


def run_case(case: dict, args) -> dict:
    """Every model over the local set's folds: pooled and per-fold scores, fit seconds."""
    _, y_loc, folds = case["local"]
    forward = np.log10 if case["transform"] == "log10" else (lambda v: v)
    predicted = {name: np.full(len(y_loc), np.nan) for name in MODELS}
    per_fold = {name: [] for name in MODELS}
    seconds = dict.fromkeys(MODELS, 0.0)
    for fold in np.unique(folds)[: 2 if args.smoke else None]:
        test = np.flatnonzero(folds == fold)
        train = np.flatnonzero(folds != fold)
        for name in MODELS:
            started = time.perf_counter()
            values = np.asarray(fit_predict(name, case, train, test, args), dtype=np.float64)
            seconds[name] += time.perf_counter() - started
            predicted[name][test] = values
            per_fold[name].append(scores(forward(y_loc[test]), forward(values))["r2"])
        log.info("fold %s done", fold)
    models = {}
    observed = forward(y_loc)
    scored = np.isfinite(predicted[MODELS[0]])
    for name in MODELS:
        pooled = scores(observed[scored], forward(predicted[name][scored]))
        models[name] = {
            "r2": pooled["r2"],
            "rmse": pooled["rmse"],
            "per_fold_r2_mean": float(np.mean(per_fold[name])),
            "per_fold_r2_sd": float(np.std(per_fold[name], ddof=1)),
            "fit_seconds": round(seconds[name], 2),
        }
    best = max(MODELS, key=lambda name: models[name]["r2"])
    return {
        "case": case["description"],
        "scale": case["transform"],
        "n_library": len(case["library"][1]),
        "n_local": len(y_loc),
        "folds": len(per_fold[MODELS[0]]),
        "pretrain": case["pretrain"],
        "models": models,
        "best": best,
        "spiked_weighted_minus_finetune_r2": models["mbl_spiked_weighted"]["r2"]
        - models["resnet_finetune"]["r2"],
        "spiked_minus_local_mbl_r2": models["mbl_spiked"]["r2"] - models["mbl_local"]["r2"],
        "chosen_per_fold": case.get("chosen", []),
    }


def scores(observed: np.ndarray, predicted: np.ndarray) -> dict:
    residual = observed - predicted
    r2 = 1.0 - np.sum(residual**2) / np.sum((observed - observed.mean()) ** 2)
    return {"r2": float(r2), "rmse": float(np.sqrt(np.mean(residual**2)))}


# ------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--cases", nargs="*", choices=("real", "synthetic"), default=None)
    parser.add_argument("--targets", nargs="*", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--n-library", type=int, default=4000, help="synthetic library size")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per fit")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--smoke", action="store_true", help="2 epochs, 2 folds: a code check")
    args = parser.parse_args(argv)
    args.pretrain_epochs = 2 if args.smoke else None  # else the pretraining configs' own
    if args.smoke:
        args.n_library = min(args.n_library, 400)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    os.chdir(REPO)  # the configs' relative paths are read from the repository root
    state = code_state()
    out = {**state, "cpu": cpu_name(), "threads": args.threads, "cases": []}
    out["command"] = " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])])
    out["spiking_weights_tried"] = list(SPIKING_WEIGHTS)
    out["smoke"] = args.smoke
    cases = args.cases or ["real", "synthetic"]
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        started = time.perf_counter()
        if "real" in cases:
            for target in args.targets:
                case = real_case(target, work / f"real_{target}", SimpleNamespace(**vars(args)))
                out["cases"].append(
                    {"dataset": "LimeSoDa", "target": target, **run_case(case, args)}
                )
                args.json.write_text(json.dumps(out, indent=2, default=float) + "\n")
        if "synthetic" in cases:
            case = synthetic_case(work / "synthetic", SimpleNamespace(**vars(args)))
            out["cases"].append(
                {"dataset": "synthetic", "target": "pb_mg_kg", **run_case(case, args)}
            )
        out["wall_seconds"] = round(time.perf_counter() - started, 1)
        out["load_average_1min_at_end"] = os.getloadavg()[0]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
