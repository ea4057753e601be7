"""BINN evidence for issue 6: parameter recovery, learned functions, speed against PRODA, binn_ny.

    python benchmarks/binn.py --experiment recovery|functions|speed|binn_ny --json OUT \\
        [--n-sites N] [--epochs E] [--threads 1] [--seed 0]

Experiments (synthetic ones use :func:`geosoil.synthetic.soc_profile_set`: 38 covariates,
CLM5 forcings, SOC at 3-8 depths with 10 % log-normal noise, four parameters prescribed
functions of covariates, the other 17 fixed):

- ``recovery``: BINN learns efolding, tau4s3, fs1s3 and w_scaling (the other 17 fixed at the
  truth's fixed values) on 80 % of the sites, selects its epoch on 10 % and is scored on the
  last 10 %: Pearson r of predicted vs true parameter per parameter (target >= 0.9 each),
  and the SOC NSE of those held-out sites.
- ``functions``: ScIReN (one KAN layer) and BINN on the same data. For every prescribed
  (covariate, parameter) relationship, R2 (1 - SSE/SST, physical parameter units, no
  offset removed) of the learned curve (ScIReN ``read_out``, BINN ``partial_dependence``)
  against the prescribed one over the covariate grid. ``r2`` compares with the truth
  conditioned where the read-out is: the other covariates of that parameter at the
  model's reference point (training medians of the scaled covariates), which is what the
  read-out shows; ``r2_truth_curves`` compares with
  ``DEFAULT_PRESCRIBED.truth_curves()`` as published (other covariates at 0.5); the two
  differ only for additive functions (tau4s3). Covariates are scaled by their declared
  ranges (``scale_from="ranges"``) as the truth is, so the grids coincide.
- ``speed``: BINN against PRODA (:class:`geosoil.models.proda.PRODA`: MCMC per site, then a
  network) on the same sites, process model, learned parameters and threads. BINN trains
  until its validation NSE plateaus (early stopping). PRODA runs with a doubling number of
  MCMC steps (burn-in half of them), each run fitted from scratch, until its validation
  NSE reaches BINN's best or ``--proda-budget`` seconds are spent. Both are timed to the
  same validation NSE: the lower of the two best values. ``binn_seconds`` counts BINN's
  epochs until it first reaches it, ``proda_seconds`` the whole of the shortest PRODA run
  that reaches it (MCMC plus network).
- ``binn_ny``: the 1406 New York profiles (``$GEOSOIL_REAL_DATA/binn_ny``, default
  ``../shared/data/real``), incomplete and empty profiles dropped, BINN with all 21
  parameters learned, 10-fold :func:`~geosoil.evaluate.cross_validate_profiles` with
  observations below the 8.6 m column ignored: NSE mean and sd over folds, pooled metrics,
  seconds per epoch. Peer figures (``/work/shared/ANCHORS.md``) are copied beside them.

Every result records its settings, the code state, the CPU and timings. ``OMP_WAIT_POLICY``
defaults to PASSIVE (spinning OpenMP threads on a busy machine cost several times).
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

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from provenance import code_state, cpu_name

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("benchmarks.binn")

SENSITIVE = ("efolding", "tau4s3", "fs1s3", "w_scaling")
# BINN workshop demo on binn_ny (/work/shared/ANCHORS.md)
PEER_BINN_NY = {
    "all_profiles_80_10_10": {"test_nse": 0.32, "valid_nse": 0.53, "seconds_per_epoch": 48.0},
    "demo_200_profiles": {"test_nse": 0.55, "seconds_per_epoch": 7.0},
}
PAPER_SPEEDUP = 50.0  # BINN paper: more than 50x faster than PRODA
DEFAULTS = {  # experiment -> (n_sites, epochs)
    "recovery": (2000, 60),
    "functions": (2000, 60),
    "speed": (300, 300),
    "binn_ny": (None, 20),
}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    torch.set_num_threads(args.threads)
    n_sites, epochs = DEFAULTS[args.experiment]
    args.n_sites = args.n_sites or n_sites
    args.epochs = args.epochs or epochs
    load_before = os.getloadavg()
    started = time.perf_counter()
    run = {
        "recovery": recovery,
        "functions": functions,
        "speed": speed,
        "binn_ny": binn_ny,
    }[args.experiment]
    result = {
        "benchmark": "binn",
        "experiment": args.experiment,
        "command": " ".join(
            ["python benchmarks/binn.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        **run(args),
    }
    result["wall_seconds"] = time.perf_counter() - started
    result["load_average_1min"] = {"start": load_before[0], "end": os.getloadavg()[0]}
    result["machine"] = {
        "cpu": cpu_name(),
        "cores": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    result["code"] = code_state()
    text = json.dumps(_finite(result), indent=2, default=str)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", required=True, choices=sorted(DEFAULTS))
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument("--n-sites", type=int, default=None, help="synthetic sites (speed: train)")
    parser.add_argument("--epochs", type=int, default=None, help="BINN/ScIReN max epochs")
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=None, help="BINN (default 1e-3)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--penalty-weight", type=float, default=1e-3, help="BINN cosh penalty")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.1, help="relative SOC noise")
    parser.add_argument("--sparsity", type=float, default=0.0, help="ScIReN sparsity weight")
    parser.add_argument("--proda-budget", type=float, default=420.0, help="speed: seconds")
    parser.add_argument("--proda-misfit-weight", type=float, default=5.0)
    parser.add_argument("--proda-first-steps", type=int, default=100)
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


# ---------------------------------------------------------------------- synthetic
def synthetic(args: argparse.Namespace, n_sites: int):
    """Profiles, truth and an 80/10/10 site split (train, valid, test positions)."""
    from geosoil.synthetic.soc_profiles import soc_profile_set

    profiles, truth = soc_profile_set(n_sites, seed=args.seed, noise_sd_rel=args.noise)
    order = np.random.default_rng(args.seed).permutation(n_sites)
    n_test = n_valid = max(1, n_sites // 10)
    test, valid = np.sort(order[:n_test]), np.sort(order[n_test : n_test + n_valid])
    train = np.sort(order[n_test + n_valid :])
    return profiles, truth, (train, valid, test)


def binn_settings(args: argparse.Namespace) -> dict:
    """BINN hyperparameters of the synthetic experiments: the four sensitive parameters."""
    from geosoil.synthetic.soc_profiles import DEFAULT_PRESCRIBED

    return {
        "learned_parameters": list(SENSITIVE),
        "fixed_parameters": dict(DEFAULT_PRESCRIBED.fixed),
        "scale_from": "ranges",
        "max_epochs": args.epochs,
        "patience": args.patience,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate or 1e-3,
        "penalty_weight": args.penalty_weight,
        "seed": args.seed,
        "threads": args.threads,
    }


def training_summary(model) -> dict:
    history = model.history_
    seconds = [row["seconds"] for row in history]
    return {
        "epochs_run": len(history),
        "best_epoch": model.best_epoch_,
        "best_valid_nse": max(row["valid_nse"] for row in history),
        "seconds_per_epoch": float(np.mean(seconds)),
        "fit_seconds": float(np.sum(seconds)),
    }


def parameter_correlations(predicted, truth) -> dict:
    """Pearson r, RMSE, mean and sd (physical units) per learned parameter, and the truth's."""
    out = {}
    for name in SENSITIVE:
        p, t = predicted[name].to_numpy(), truth[name].to_numpy()
        out[name] = {
            "pearson_r": float(np.corrcoef(p, t)[0, 1]),
            "rmse": float(np.sqrt(np.mean((p - t) ** 2))),
            "mean": float(np.mean(p)),
            "truth_mean": float(np.mean(t)),
            "sd": float(np.std(p)),
            "truth_sd": float(np.std(t)),
        }
    return out


def recovery(args: argparse.Namespace) -> dict:
    from geosoil.evaluate.profiles import profile_metrics
    from geosoil.models import BINN

    profiles, truth, (train, valid, test) = synthetic(args, args.n_sites)
    held = profiles.subset(test)
    model = BINN(**binn_settings(args))
    started = time.perf_counter()
    model.fit(profiles.subset(train), valid=profiles.subset(valid))
    fit_seconds = time.perf_counter() - started
    correlations = parameter_correlations(
        model.predict_parameters(held), truth.iloc[test].reset_index(drop=True)
    )
    return {
        "n_train": len(train),
        "n_valid": len(valid),
        "n_test": len(test),
        "target_pearson_r": 0.9,
        "parameters": correlations,
        "all_parameters_reach_target": all(v["pearson_r"] >= 0.9 for v in correlations.values()),
        "test_soc": profile_metrics(held.soc, model.predict(held)),
        "training": training_summary(model),
        "fit_seconds": fit_seconds,
    }


def functions(args: argparse.Namespace) -> dict:
    from geosoil.models import BINN, ScIReN
    from geosoil.synthetic.soc_profiles import DEFAULT_PRESCRIBED

    profiles, truth, (train, valid, test) = synthetic(args, args.n_sites)
    held = profiles.subset(test)
    settings = binn_settings(args)
    models = {
        "sciren": ScIReN(
            **{**settings, "learning_rate": args.learning_rate or 1e-2},
            kan_hidden=None,
            sparsity_weight=args.sparsity,
        ),
        "binn": BINN(**settings),
    }
    curves = DEFAULT_PRESCRIBED.truth_curves()
    out: dict = {"n_train": len(train), "n_valid": len(valid), "n_test": len(test)}
    for label, model in models.items():
        started = time.perf_counter()
        model.fit(profiles.subset(train), valid=profiles.subset(valid))
        fit_seconds = time.perf_counter() - started
        learned = learned_curves(model, label, curves)
        rows = {}
        for (covariate, parameter), curve in curves.groupby(["covariate", "parameter"], sort=False):
            fitted = learned[(covariate, parameter)]
            conditioned = conditioned_truth(model, covariate, parameter, curve["x"].to_numpy())
            rows[f"{parameter}~{covariate}"] = {
                "r2": r_squared(conditioned, fitted),
                "r2_truth_curves": r_squared(curve["value_physical"].to_numpy(), fitted),
                "pearson_r": float(np.corrcoef(conditioned, fitted)[0, 1]),
            }
        out[label] = {
            "relationships": rows,
            "test_parameters": parameter_correlations(
                model.predict_parameters(held), truth.iloc[test].reset_index(drop=True)
            ),
            "training": training_summary(model),
            "fit_seconds": fit_seconds,
        }
    out["sciren"]["all_relationships_reach_target"] = all(
        v["r2"] >= 0.9 for v in out["sciren"]["relationships"].values()
    )
    out["target_r2_sciren"] = 0.9
    return out


def learned_curves(model, label: str, curves) -> dict:
    """(covariate, parameter) -> the model's physical parameter over the truth's grid."""
    found = {}
    if label == "sciren":
        table = model.read_out(n_points=101)
    for (covariate, parameter), curve in curves.groupby(["covariate", "parameter"], sort=False):
        if label == "sciren":
            rows = table[(table["covariate"] == covariate) & (table["parameter"] == parameter)]
            rows = rows.sort_values("x_scaled")
            # read_out sweeps x_scaled over linspace(0, 1, 101), the truth's grid
            if not np.allclose(rows["x_scaled"].to_numpy(), curve["x"].to_numpy()):
                raise RuntimeError(f"read-out grid of {covariate} differs from the truth's")
            found[(covariate, parameter)] = rows["value"].to_numpy()
        else:
            pd_table = model.partial_dependence(covariate, parameter, grid=curve["x_physical"])
            found[(covariate, parameter)] = pd_table["value"].to_numpy()
    return found


def conditioned_truth(model, covariate: str, parameter: str, x) -> np.ndarray:
    """The prescribed parameter along ``covariate``, its other covariates at the reference."""
    from geosoil.process import CLM5_PARAMETERS
    from geosoil.synthetic.soc_profiles import DEFAULT_PRESCRIBED

    medians = dict(zip(model.coding_.continuous, model.reference_["medians"], strict=True))
    function = next(f for f in DEFAULT_PRESCRIBED.functions if f.parameter == parameter)
    scaled = {c: np.full(len(x), medians[c]) for c in DEFAULT_PRESCRIBED.covariates}
    scaled[covariate] = np.asarray(x, dtype=np.float64)
    spec = next(p for p in CLM5_PARAMETERS if p.name == parameter)
    return spec.lower + function(scaled) * (spec.upper - spec.lower)


def r_squared(truth, fitted) -> float:
    truth, fitted = np.asarray(truth, dtype=np.float64), np.asarray(fitted, dtype=np.float64)
    total = float(np.sum((truth - truth.mean()) ** 2))
    return 1.0 - float(np.sum((fitted - truth) ** 2)) / total if total > 0 else float("nan")


# -------------------------------------------------------------------------- speed
def speed(args: argparse.Namespace) -> dict:
    from geosoil.evaluate.profiles import profile_metrics
    from geosoil.models import BINN
    from geosoil.models.proda import PRODA

    n_train = args.n_sites
    n_valid = max(10, n_train // 3)
    profiles, _, _ = synthetic(args, n_train + n_valid)
    train = profiles.subset(np.arange(n_train))
    valid = profiles.subset(np.arange(n_train, n_train + n_valid))
    settings = binn_settings(args)

    started = time.perf_counter()
    binn = BINN(**settings).fit(train, valid=valid)
    binn_fit_seconds = time.perf_counter() - started
    history = binn.history_
    binn_best = max(row["valid_nse"] for row in history)

    runs, spent, steps = [], 0.0, args.proda_first_steps
    while True:
        model = PRODA(
            n_steps=steps,
            burn_in=steps // 2,
            misfit_weight=args.proda_misfit_weight,
            learned_parameters=settings["learned_parameters"],
            fixed_parameters=settings["fixed_parameters"],
            scale_from="ranges",
            batch_size=args.batch_size,
            seed=args.seed,
            threads=args.threads,
        )
        started = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - started
        spent += seconds
        nse = profile_metrics(valid.soc, model.predict(valid))["nse"]
        runs.append(
            {
                "n_steps": steps,
                "burn_in": steps // 2,
                "seconds": seconds,
                "mcmc_seconds": model.mcmc_seconds_,
                "network_seconds": model.network_seconds_,
                "acceptance_rate": model.acceptance_rate_,
                "valid_nse": nse,
            }
        )
        log.info("PRODA %d steps: NSE %.3f in %.1f s", steps, nse, seconds)
        # the next run takes about twice as long: stop if it would overrun the budget
        if nse >= binn_best or spent + 2 * seconds > args.proda_budget:
            break
        steps *= 2
    proda_best = max(run["valid_nse"] for run in runs)
    level = min(binn_best, proda_best)
    elapsed, binn_seconds, binn_nse = 0.0, float("nan"), float("nan")
    for row in history:
        elapsed += row["seconds"]
        if row["valid_nse"] >= level:
            binn_seconds, binn_nse = elapsed, row["valid_nse"]
            break
    reaching = next(run for run in runs if run["valid_nse"] >= level)
    return {
        "n_train": n_train,
        "n_valid": n_valid,
        "target_nse": level,
        "binn_seconds": binn_seconds,
        "binn_nse": binn_nse,
        "proda_seconds": reaching["seconds"],
        "proda_nse": reaching["valid_nse"],
        "ratio_proda_over_binn": reaching["seconds"] / binn_seconds,
        "paper_speedup": PAPER_SPEEDUP,
        "binn_best_nse": binn_best,
        "binn_fit_seconds_until_plateau": binn_fit_seconds,
        "binn_training": training_summary(binn),
        "proda_best_nse": proda_best,
        "proda_reached_binn_best": proda_best >= binn_best,
        "proda_runs": runs,
        "proda_seconds_spent": spent,
        "binn_valid_nse_by_epoch": [row["valid_nse"] for row in history],
    }


# ------------------------------------------------------------------------- binn_ny
def binn_ny(args: argparse.Namespace) -> dict:
    from geosoil.evaluate.profiles import cross_validate_profiles
    from geosoil.io.profiles import read_binn_ny
    from geosoil.models import BINN

    root = Path(os.environ.get("GEOSOIL_REAL_DATA", REPO.parent / "shared" / "data" / "real"))
    folder = root / "binn_ny"
    if not folder.is_dir():
        sys.exit(f"binn_ny data not found at {folder}: set GEOSOIL_REAL_DATA to its parent folder")
    profiles = read_binn_ny(folder, drop_incomplete=True, drop_empty=True)
    models: list = []

    def make():
        model = BINN(
            max_epochs=args.epochs,
            patience=args.patience,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate or 1e-3,
            below_column="ignore",
            unseen_categories="mean",
            drop_empty=True,
            seed=args.seed,
            threads=args.threads,
        )
        models.append(model)
        return model

    cv = cross_validate_profiles(make, profiles, n_folds=10, seed=args.seed)
    summary = cv.summary()
    epoch_seconds = [row["seconds"] for m in models for row in m.history_]
    return {
        "folder": str(folder),
        "n_profiles": profiles.n_profiles,
        "n_observations": int(np.isfinite(profiles.soc).sum()),
        "learned_parameters": "all 21",
        "nse_mean": summary["mean"]["nse"],
        "nse_sd": summary["sd"]["nse"],
        "summary": summary,
        "pooled": cv.pooled(),
        "per_fold": cv.per_fold.to_dict(orient="records"),
        "seconds_per_epoch": float(np.mean(epoch_seconds)),
        "epochs_per_fold": [len(m.history_) for m in models],
        "best_epoch_per_fold": [m.best_epoch_ for m in models],
        "n_train_per_epoch": [m.n_train_ for m in models],
        "peer": PEER_BINN_NY,
    }


def _finite(value):
    """NaN and infinities as null, since JSON has no such numbers."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


if __name__ == "__main__":
    main()
