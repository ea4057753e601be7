"""Conformal intervals of the SOC family on the real binn_ny profiles (issue 19's SOC case).

    python benchmarks/trust_soc.py --json benchmarks/results/trust_soc.json \\
        [--models binn,sciren,depth_only,gbm] [--level 0.9] [--threads 1] [--oof OOF.csv]

The folds, seed and BINN settings of the committed ``benchmarks/binn.py --experiment binn_ny``
result (10 random folds of the 1,360 usable profiles, seed 0; BINN max 40 epochs, patience
10, lr 1e-3, cosh penalty 1e-3, dropout 0.1, batch 32, all 21 parameters learned; ScIReN
with the ``cosine`` schedule chosen on inner splits, as in ``binn_binn_ny_3seeds.json``). The
out-of-fold observations of each model are calibrated as ``geosoil train`` on profiles
calibrates them (:func:`geosoil.trust.profiles.fit_profile_trust`: the scale and the depth
normaliser chosen on the CV by cross-conformal width), and the PICP and mean width of the
interval are cross-conformal: each fold's intervals come from the scores of the other nine,
so no observation is covered by a quantile its own residual entered. The two baselines
(depth-only mean, LightGBM on covariates plus depth) run under the same folds for context.

The JSON follows ``benchmarks/trust.py``'s case shape (``dataset``, ``target``, ``scheme``,
``picp_90``, ``width_90``); the SOC family has no area of applicability, so the AOA keys are
null. ``--oof`` also writes every observation's out-of-fold prediction and bounds (outside
the repository).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import binn  # benchmarks/binn.py: the binn_ny models and settings
import numpy as np
import pandas as pd
import torch
from provenance import code_state, cpu_name, write_result

log = logging.getLogger("benchmarks.trust_soc")

MODELS = ("binn", "sciren", "depth_only", "gbm")
TARGET = (0.85, 0.95)
BINN_SETTINGS = (
    "epochs", "patience", "learning_rate", "penalty_weight", "dropout", "batch_size",
    "threads", "seed", "sciren_candidate",
)  # fmt: skip  # issue 19: 90 % coverage within this range


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    torch.set_num_threads(args.threads)
    settings = binn_ny_settings(args)
    load_before = os.getloadavg()
    started = time.perf_counter()
    cases, tables = run(args, settings)
    if args.oof is not None:
        pd.concat(tables, ignore_index=True).to_csv(args.oof, index=False)
    result = {
        "benchmark": "trust_soc",
        "command": " ".join(
            ["python benchmarks/trust_soc.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "level": args.level,
        "target_picp": list(TARGET),
        "binn_settings": {k: getattr(settings, k) for k in BINN_SETTINGS},
        "cases": cases,
        "wall_seconds": time.perf_counter() - started,
        "load_average_1min": {"start": load_before[0], "end": os.getloadavg()[0]},
        "machine": {
            "cpu": cpu_name(),
            "cores": len(os.sched_getaffinity(0)),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "code": code_state(),
    }
    write_result(result, args.json)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument("--models", default=",".join(MODELS), help="subset of " + ",".join(MODELS))
    parser.add_argument("--level", type=float, default=0.9, help="interval coverage level")
    parser.add_argument("--threads", type=int, default=1, help="torch and LightGBM threads")
    parser.add_argument("--oof", type=Path, default=None, help="out-of-fold table (CSV)")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models or set(models) - set(MODELS):
        parser.error(f"--models takes a comma-separated subset of {','.join(MODELS)}")
    args.models = models
    return args


def binn_ny_settings(args: argparse.Namespace) -> argparse.Namespace:
    """``benchmarks/binn.py``'s arguments of the committed binn_ny result."""
    settings = binn.parse_args(
        [
            "--experiment", "binn_ny", "--epochs", "40", "--patience", "10",
            "--threads", str(args.threads), "--seed", "0", "--seeds", "1",
            "--binn-ny-models", ",".join(args.models), "--sciren-candidate", "cosine",
        ]
    )  # fmt: skip
    for name, value in binn.TRAINING["other"].items():
        if getattr(settings, name) is None:
            setattr(settings, name, value)
    return settings


def run(args: argparse.Namespace, settings: argparse.Namespace):
    """One case per model: its 10-fold CV, the calibration and the cross-conformal scores."""
    from geosoil.evaluate.profiles import cross_validate_profiles
    from geosoil.trust.profiles import (
        ProfileOutOfFold,
        fit_profile_trust,
        profile_interval_report,
    )

    profiles, makers = binn.binn_ny_models(settings)
    cases, tables = [], []
    for name in args.models:
        started = time.perf_counter()
        cv = cross_validate_profiles(
            lambda name=name: makers[name](settings.seed),
            profiles,
            n_folds=10,
            seed=settings.seed,
        )
        seconds = time.perf_counter() - started
        oof = ProfileOutOfFold.from_table(cv.predictions)
        trust = fit_profile_trust(oof, level=args.level)
        report, low, high = profile_interval_report(oof, trust, level=args.level)
        summary = cv.summary()
        log.info("%s: PICP %.3f, width %.0f g C m-3", name, report["picp"], report["mean_width"])
        cases.append(
            {
                "dataset": "binn_ny",
                "target": "SOC density (g C m-3) at the observation depths",
                "model": name,
                "scheme": "10 random folds of whole profiles, seed 0 (benchmarks/binn.py)",
                "picp_90": report["picp"] if args.level == 0.9 else None,
                "width_90": report["mean_width"] if args.level == 0.9 else None,
                "aoa_share": None,
                "n_outside_aoa": None,
                "rmse_inside_aoa": None,
                "rmse_outside_aoa": None,
                "within_target": bool(TARGET[0] <= report["picp"] <= TARGET[1]),
                "intervals": report,
                "nse_mean": summary["mean"]["nse"],
                "nse_pooled": summary["pooled"]["nse"],
                "rmse_pooled": summary["pooled"]["rmse"],
                "mean_observed": float(np.nanmean(oof.observed)),
                "cv_seconds": seconds,
            }
        )
        tables.append(cv.predictions.assign(model=name, low=low, high=high))
    return cases, tables


if __name__ == "__main__":
    main()
