"""Exchangeable K from MIR spectra: SpectralCNN against PLSR (issue 4 evidence).

    python benchmarks/kex.py --dataset afsis [--seeds 5] [--learning-curve] [--json OUT]
    python benchmarks/kex.py --dataset synthetic --n 40000 [--seeds 3] [--threads 1] \\
        [--learning-curve | --curve-only] [--design mechanistic|linear] [--json OUT]

For each of ``cnn`` (:class:`~geosoil.models.SpectralCNN`) and ``plsr``
(:class:`~geosoil.models.PLSR`), both with the paper's preprocessing and a log10 target,
fits one model per repeated train/valid/test split
(:func:`~geosoil.evaluate.repeated.train_valid_test_splits`,
:func:`~geosoil.evaluate.repeated.run_repeated`) and writes the mean and sd over splits of
every metric (``r2_mean``, ``r2_sd``, ``lccc_mean``, ``rpd_mean``, ``rpiq_mean``,
``rmse_mean``, ``mae_mean``, ``mape_mean``, ``bias_mean``, ...; R2, LCCC, RPD and RPIQ on
the log10 scale, the others back-transformed), ``train_seconds``, the CNN's training and
inference throughput (spectra per second on this CPU) and, with ``--learning-curve``, test R2
against the number of training spectra (:func:`~geosoil.evaluate.learning_curve`).

Datasets:

- ``afsis``: the 1389 AfSIS horizons in ``$GEOSOIL_REAL_DATA/afsis_mir`` (default
  ``../shared/data/real``), target ``EXKM3S`` (cmol(+)/kg), ``wn_599.8`` dropped. Splits as
  in ``../shared/ANCHORS.md``: grouped by site (``LOCNAME``; 20 % of the sites for test, 10 % of the
  rest for validation) and random (10 % test, then 10 % valid); the peers' figures are
  copied into the output for comparison.
- ``synthetic``: :func:`geosoil.synthetic.library.mir_library` of ``--n`` spectra, target
  ``kex_cmol_kg``, grouped by pedon (``site_id``; 10 % test, 10 % valid), metrics also per
  ``soil_order``. ``--design`` picks the map from composition to Kex
  (:mod:`geosoil.synthetic.library`): ``mechanistic`` (default; ratios and thresholds, it
  favours the CNN by construction) or ``linear`` (ln Kex linear in the constituents: a
  linear model is not handicapped); the output records the design and what it favours.

The CNN trains for at most ``--max-epochs`` epochs (early stopping after ``--patience``
epochs without a better validation loss). In a learning curve a smaller training set may
train longer, up to ``max(--max-epochs, 500000 / n_train)`` epochs and never more than the
paper's 200, so that small sets are not cut short by a cap chosen for 40,000 spectra.

Time: the CNN trains at about 650-1000 spectra per second on one thread of this 2-core
machine (lower while other jobs run), so one fit on 40,000 spectra (32,400 training, at
most 35 epochs) takes 19-29 minutes; ``cnn_throughput`` in the output gives the estimate
from the run's own rate. Ask for ``--threads 2`` only when both cores are free: with another process
on one core, two torch threads wait on each other and training slows down several times.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from provenance import code_state, cpu_name

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("benchmarks.kex")

# Peer figures on data/real/afsis_mir (mirzai's own code, 5 seeds; /work/shared/ANCHORS.md):
# metric -> (mean, sd). R2 and LCCC on log10, MAPE in %.
AFSIS_ANCHORS = {
    "grouped": {
        "cnn": {"r2": (0.38, 0.25), "lccc": (0.62, 0.14), "mape": (76, 18)},
        "plsr": {"r2": (0.47, 0.13), "lccc": (0.67, 0.07), "mape": (72, 15)},
    },
    "random": {
        "cnn": {"r2": (0.74, 0.05), "lccc": (0.85, 0.03), "mape": (47, 4)},
        "plsr": {"r2": (0.72, 0.02), "lccc": (0.84, 0.01), "mape": (49, 6)},
    },
}

# Per dataset: target, group column for grouped splits, columns for per-group tables,
# (test, valid) fractions per scheme, default seeds, CNN epochs/patience, learning-curve sizes.
DATASETS = {
    "afsis": {
        "target": "EXKM3S",
        "site_column": "LOCNAME",
        "table_columns": ["CNTISOC"],
        "schemes": {"grouped": (0.2, 0.1), "random": (0.1, 0.1)},
        "seeds": 5,
        "max_epochs": 200,
        "patience": 20,
        "curve_sizes": [100, 200, 400, 800, 1.0],
    },
    "synthetic": {
        "target": "kex_cmol_kg",
        "site_column": "site_id",
        "table_columns": ["soil_order"],
        "schemes": {"grouped": (0.1, 0.1)},
        "seeds": 3,
        "max_epochs": 35,
        "patience": 10,
        "curve_sizes": [250, 500, 1000, 2000, 5000, 10000, 20000, 1.0],
    },
}
PAPER_MAX_EPOCHS = 200
KEX_DESIGNS = {"mechanistic": "KEX_MODEL", "linear": "LINEAR_KEX_MODEL"}
CURVE_SPECTRA_BUDGET = 500_000  # spectra seen per CNN fit in a learning curve, at least
INFERENCE_ROWS = 8192  # spectra timed for the inference throughput


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.plot is not None:
        return {"figure": str(write_curve_figure(args.plot))}
    if args.dataset is None:
        sys.exit("--dataset is required (or --plot RESULT.json)")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("geosoil.models", "geosoil.spectra", "geosoil.io"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    import torch

    torch.set_num_threads(args.threads)
    settings = DATASETS[args.dataset]
    max_epochs = args.max_epochs or settings["max_epochs"]
    patience = args.patience or settings["patience"]
    n_seeds = args.seeds or settings["seeds"]

    samples = load_dataset(args)
    target = samples.target(settings["target"], positive=True)
    groups = samples.groups(settings["site_column"])
    load_before = os.getloadavg()
    started = time.perf_counter()
    out: dict = {
        "command": " ".join(
            ["python benchmarks/kex.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "dataset": args.dataset,
        "n_samples": len(samples),
        "n_bands": len(samples.axis),
        "target": settings["target"],
        "target_scale": "R2, LCCC, RPD, RPIQ on log10; RMSE, MAE, bias in cmol(+)/kg; MAPE in %",
        "n_sites": len(np.unique(groups)),
        **design_info(args),
        "cnn_settings": {"max_epochs": max_epochs, "patience": patience, "threads": args.threads},
        "machine": machine_info(),
        "code": code_state(),
    }

    schemes = dict(settings["schemes"])
    if args.split != "default":
        schemes = {args.split: settings["schemes"].get(args.split, (0.1, 0.1))}
    primary = "grouped" if "grouped" in schemes else next(iter(schemes))
    out["split"] = primary
    if args.dataset == "afsis":
        out["anchors"] = AFSIS_ANCHORS
    for scheme, (test_fraction, valid_fraction) in schemes.items():
        if args.curve_only:
            break
        out[scheme] = compare(
            samples,
            target,
            groups=groups if scheme == "grouped" else None,
            scheme=scheme,
            n_seeds=n_seeds,
            test_fraction=test_fraction,
            valid_fraction=valid_fraction,
            table_columns=settings["table_columns"],
            max_epochs=max_epochs,
            patience=patience,
            threads=args.threads,
        )
    if primary in out:
        out["cnn"], out["plsr"] = out[primary]["cnn"], out[primary]["plsr"]
        out["r2_margin_cnn_minus_plsr"] = out["cnn"]["r2_mean"] - out["plsr"]["r2_mean"]
        out["cnn_throughput"] = throughput_summary(out["cnn"], max_epochs=max_epochs)

    if args.learning_curve or args.curve_only:
        test_fraction, valid_fraction = schemes[primary]
        out["learning_curve"] = curve(
            samples,
            target,
            groups=groups if primary == "grouped" else None,
            scheme=primary,
            sizes=args.curve_sizes or settings["curve_sizes"],
            n_seeds=args.curve_seeds,
            test_fraction=test_fraction,
            valid_fraction=valid_fraction,
            max_epochs=max_epochs,
            patience=patience,
            threads=args.threads,
        )
    out["wall_seconds"] = time.perf_counter() - started
    out["load_average_1min"] = {"start": load_before[0], "end": os.getloadavg()[0]}

    text = json.dumps(_finite(out), indent=2, default=_json_default)
    print(text)
    if args.json:
        from geosoil.io.writers import write_bytes_atomic

        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(args.json, (text + "\n").encode())
        if "learning_curve" in out:
            write_curve_figure(args.json)
    return out


def write_curve_figure(result_json: Path) -> Path:
    """Draw the learning curve stored in a result JSON beside it, as ``<stem>.png``."""
    import pandas as pd

    from geosoil.evaluate.learning_curve import LearningCurveResult, learning_curve_figure
    from geosoil.io.writers import write_bytes_atomic

    curve = json.loads(Path(result_json).read_text())["learning_curve"]
    result = LearningCurveResult(points=pd.DataFrame(curve["points"]), n_test=curve["n_test"])
    figure = Path(result_json).with_suffix(".png")
    write_bytes_atomic(figure, learning_curve_figure(result, title="Kex learning curve"))
    return figure


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default=None)
    parser.add_argument(
        "--plot", type=Path, default=None, help="only draw the learning curve of a result JSON"
    )
    parser.add_argument("--n", type=int, default=40000, help="synthetic library size")
    parser.add_argument("--library-seed", type=int, default=0, help="synthetic library seed")
    parser.add_argument(
        "--design", choices=sorted(KEX_DESIGNS), default="mechanistic", help="synthetic Kex"
    )
    parser.add_argument("--seeds", type=int, default=None, help="repeated splits per scheme")
    parser.add_argument(
        "--split",
        choices=["default", "grouped", "random"],
        default="default",
        help="default: afsis both (grouped first), synthetic grouped",
    )
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--patience", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--learning-curve", action="store_true", help="also a learning curve")
    parser.add_argument(
        "--curve-only", action="store_true", help="only the learning curve, no repeated splits"
    )
    parser.add_argument(
        "--curve-sizes",
        type=float,
        nargs="+",
        default=None,
        help="training sizes (counts, or shares <= 1 of the pool outside the test set)",
    )
    parser.add_argument("--curve-seeds", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def load_dataset(args: argparse.Namespace):
    """The SampleSet of the chosen dataset."""
    if args.dataset == "synthetic":
        from geosoil.synthetic import library

        started = time.perf_counter()
        model = getattr(library, KEX_DESIGNS[args.design])
        samples = library.mir_library(args.n, seed=args.library_seed, model=model)
        log.info("synthetic library of %d spectra in %.1f s", len(samples), _since(started))
        return samples
    from geosoil.io.spectra import read_spectra

    root = Path(os.environ.get("GEOSOIL_REAL_DATA", REPO.parent / "shared" / "data" / "real"))
    path = root / "afsis_mir" / "afsis_sentinel_mir_wetchem.parquet"
    if not path.is_file():
        sys.exit(f"AfSIS data not found at {path}; set GEOSOIL_REAL_DATA")
    return read_spectra(path, drop_bands=["wn_599.8"])


def design_info(args: argparse.Namespace) -> dict:
    """The synthetic design and what it favours by construction (empty for real data)."""
    if args.dataset != "synthetic":
        return {}
    from geosoil.synthetic import library

    model = getattr(library, KEX_DESIGNS[args.design])
    return {"design": model.name, "design_favours": model.favours}


def make_factories(*, max_epochs: int, patience: int, threads: int) -> dict:
    """Model name -> callable(seed) -> unfitted estimator."""
    from geosoil.models.spectral.cnn import SpectralCNN
    from geosoil.models.spectral.plsr import PLSR

    return {
        "cnn": lambda seed: SpectralCNN(
            seed=seed, max_epochs=max_epochs, patience=patience, threads=threads
        ),
        "plsr": lambda seed: PLSR(seed=seed),
    }


def compare(
    samples,
    target: np.ndarray,
    *,
    groups,
    scheme: str,
    n_seeds: int,
    test_fraction: float,
    valid_fraction: float,
    table_columns: list[str],
    max_epochs: int,
    patience: int,
    threads: int,
) -> dict:
    """Repeated splits of one scheme: both models' summaries and per-group tables."""
    from geosoil.evaluate.repeated import run_repeated, train_valid_test_splits

    splits = train_valid_test_splits(
        len(target),
        scheme=scheme,
        groups=groups,
        n_seeds=n_seeds,
        test_fraction=test_fraction,
        valid_fraction=valid_fraction,
    )
    factories = make_factories(max_epochs=max_epochs, patience=patience, threads=threads)
    section: dict = {
        "scheme": scheme,
        "n_seeds": n_seeds,
        "test_fraction": test_fraction,
        "valid_fraction": valid_fraction,
        "n_train_mean": float(np.mean([s.train.size for s in splits])),
        "n_test_mean": float(np.mean([s.test.size for s in splits])),
    }
    inference_rows = samples.spectra[:INFERENCE_ROWS]
    for name, factory in factories.items():
        fitted_info: list[dict] = []

        def on_fitted(split, estimator, scores, fitted_info=fitted_info):
            info = {"seed": split.seed, "n_train": int(split.train.size)}
            if hasattr(estimator, "history_"):
                info["epochs"] = len(estimator.history_[0])
                info["best_epoch"] = int(estimator.best_epochs_[0])
                started = time.perf_counter()
                estimator.predict(inference_rows, axis=samples.axis)
                info["inference_seconds"] = _since(started)
                info["inference_rows"] = len(inference_rows)
            if hasattr(estimator, "n_components_"):
                info["n_components"] = int(estimator.n_components_)
            fitted_info.append(info)

        log.info("%s, %s splits: fitting %s on %d seed(s)", scheme, name, name, n_seeds)
        result = run_repeated(
            factory,
            samples.spectra,
            target,
            axis=samples.axis,
            splits=splits,
            frame=samples.frame,
            group_columns=table_columns,
            on_fitted=on_fitted,
        )
        section[name] = summarize(result, fitted_info)
        section[name]["by_group"] = {
            column: result.table(by=column).to_dict(orient="records") for column in table_columns
        }
        section[name]["per_seed"] = result.per_seed.to_dict(orient="records")
    return section


def summarize(result, fitted_info: list[dict]) -> dict:
    """Mean and sd of every metric, training time and, for the CNN, throughput."""
    summary = {k: v for k, v in result.summary().items() if not k.startswith("fit_seconds")}
    fit_seconds = result.per_seed["fit_seconds"].to_numpy(dtype=float)
    summary["train_seconds"] = float(fit_seconds.mean())
    summary["train_seconds_sd"] = float(fit_seconds.std(ddof=1)) if fit_seconds.size > 1 else None
    summary["predict_seconds"] = float(result.per_seed["predict_seconds"].mean())
    if fitted_info and "epochs" in fitted_info[0]:
        spectra_seen = np.array([i["n_train"] * i["epochs"] for i in fitted_info], dtype=float)
        inference = np.array([i["inference_rows"] / i["inference_seconds"] for i in fitted_info])
        summary["epochs_mean"] = float(np.mean([i["epochs"] for i in fitted_info]))
        summary["best_epoch_mean"] = float(np.mean([i["best_epoch"] for i in fitted_info]))
        # Throughput counts the training spectra of every epoch over the whole fit, so the
        # per-epoch validation pass is part of the cost, as it is for a user.
        summary["train_throughput_spectra_s"] = float(np.mean(spectra_seen / fit_seconds))
        summary["inference_throughput_spectra_s"] = float(np.mean(inference))
    if fitted_info and "n_components" in fitted_info[0]:
        summary["n_components_mean"] = float(np.mean([i["n_components"] for i in fitted_info]))
    return summary


def throughput_summary(cnn: dict, *, max_epochs: int) -> dict:
    """Measured CNN throughput and the time a 40,000-spectra training would take."""
    rate = cnn.get("train_throughput_spectra_s")
    if not rate:
        return {}
    n_train_40k = 40000 * 0.9 * 0.9  # 10 % test, then 10 % valid, as the paper
    return {
        "train_spectra_s": rate,
        "inference_spectra_s": cnn["inference_throughput_spectra_s"],
        "estimate_40k_minutes_at_max_epochs": n_train_40k * max_epochs / rate / 60.0,
        "estimate_40k_minutes_at_mean_epochs": n_train_40k * cnn["epochs_mean"] / rate / 60.0,
        "max_epochs": max_epochs,
    }


def curve(
    samples,
    target: np.ndarray,
    *,
    groups,
    scheme: str,
    sizes: list[float],
    n_seeds: int,
    test_fraction: float,
    valid_fraction: float,
    max_epochs: int,
    patience: int,
    threads: int,
) -> dict:
    """Learning curve of both models on one fixed test set; where the CNN overtakes PLSR.

    Each size is run on its own so that the CNN's epoch cap can grow for small sets; with
    the same seed, every call draws the same test set and the same pool order, so the points
    are those of one call with all sizes.
    """
    import pandas as pd

    from geosoil.evaluate.learning_curve import LearningCurveResult, learning_curve, resolve_sizes
    from geosoil.evaluate.repeated import train_valid_test_splits

    fixed = train_valid_test_splits(
        len(target),
        scheme=scheme,
        groups=groups,
        n_seeds=1,
        test_fraction=test_fraction,
        valid_fraction=valid_fraction,
    )[0]
    pool = fixed.train.size + fixed.valid.size
    counts = resolve_sizes([s for s in sizes if s <= max(1, pool)], pool)
    parts, n_test = [], 0
    for count in counts:
        n_train = count - max(1, round(valid_fraction * count))
        epochs = min(PAPER_MAX_EPOCHS, max(max_epochs, math.ceil(CURVE_SPECTRA_BUDGET / n_train)))
        result = learning_curve(
            make_factories(max_epochs=epochs, patience=patience, threads=threads),
            samples.spectra,
            target,
            axis=samples.axis,
            sizes=[count],
            n_seeds=n_seeds,
            scheme=scheme,
            groups=groups,
            test_fraction=test_fraction,
            valid_fraction=valid_fraction,
        )
        parts.append(result.points.assign(cnn_max_epochs=epochs))
        n_test = result.n_test
    points = pd.concat(parts, ignore_index=True)
    summary = LearningCurveResult(points=points, n_test=n_test).summary("r2")
    wide = summary.pivot(index="size", columns="model", values="r2_mean")
    ahead = (wide["cnn"] > wide["plsr"]).to_numpy()
    # The crossing: the smallest size from which the CNN stays ahead at every larger size.
    crossover = None
    for i, size in enumerate(wide.index):
        if ahead[i:].all():
            crossover = int(size)
            break
    return {
        "scheme": scheme,
        "n_test": n_test,
        "n_seeds": n_seeds,
        "sizes": [int(c) for c in counts],
        "summary": summary.to_dict(orient="records"),
        "points": points.to_dict(orient="records"),
        "cnn_ahead_from_size": crossover,
    }


def machine_info() -> dict:
    import torch

    cpu = cpu_name()
    return {
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }


def _since(started: float) -> float:
    return time.perf_counter() - started


def _finite(value):
    """NaN and infinities as null, since JSON has no such numbers."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def _json_default(value):
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, np.floating):
        return None if not np.isfinite(value) else float(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


if __name__ == "__main__":
    main()
