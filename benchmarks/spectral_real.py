"""Spectral skill on real spectra: geosoil's ``spectral_auto`` and its candidates against the
peers a soil scientist would fit instead, under the same folds.

Cases:
* AfSIS MIR, exchangeable K (``EXKM3S``, log10), 20 site-grouped splits (20 % of the 44
  sites held out per split, as ``configs/kex/afsis_evaluate.yaml``); R2 is the mean over
  the splits (pooled R2 reported beside it);
* LimeSoDa ``H.138`` (MIR), ``CV.98`` (in-situ vis-NIR), ``SSP.460`` and ``SC.93`` (vis-NIR),
  SOC, pH and clay, on the published 10 folds; pooled R2 over the folds (per-fold mean
  and sd beside it). vis-NIR spectra are resampled to 400-2450 nm every 5 nm (SSP.460 is
  unevenly spaced; the same spectra go to every model); MIR stays on its own axis.

Models on each split's training part (train + valid of the split; geosoil's selection
joins them):
* ``auto``: ``spectral_auto`` with its defaults (a stack of PLSR, SVR, MBL and PCA+GBM by
  nested inner 5-fold CV, grouped by site for AfSIS). The CNN joins the default candidates
  only from 5,000 training spectra (``spectral_auto.CNN_MIN_SPECTRA``, set by its cost: six
  network fits of 5-10 min each per ``auto`` fit on AfSIS), so no case here includes it;
* ``plsr``, ``svr``, ``mbl``, ``pca_gbm``: each candidate as refitted inside ``auto``;
* ``peer_plsr``: scikit-learn ``PLSRegression`` on SNV + Savitzky-Golay first derivative
  (window 11, order 2), 1-30 components by inner 10-fold CV (grouped for AfSIS), refitted;
* ``peer_pca_gbm``: SNV, scikit-learn PCA (120 components), LightGBM with its defaults.

Also: fit and predict seconds per model, and MBL prediction speed with a 5,000-spectrum
library (AfSIS spectra and mixtures of them) on one thread.

    OMP_NUM_THREADS=1 python benchmarks/spectral_real.py --json OUT.json   # everything
    # or in parts (same commit), then merged:
    python benchmarks/spectral_real.py --cases afsis --afsis-splits 0:10 --json a.json
    python benchmarks/spectral_real.py --cases afsis --afsis-splits 10:20 --json b.json
    python benchmarks/spectral_real.py --cases limesoda --json c.json
    python benchmarks/spectral_real.py --cases speed --json d.json
    python benchmarks/spectral_real.py --merge a.json b.json c.json d.json --json OUT.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from provenance import code_state, cpu_name

REAL = Path(
    os.environ.get("GEOSOIL_REAL_DATA", Path(__file__).resolve().parents[1] / "../shared/data/real")
)
LIMESODA = ("H.138", "CV.98", "SSP.460", "SC.93")
TARGETS = ("SOC_target", "pH_target", "Clay_target")
CANDIDATES = ("plsr", "svr", "mbl", "pca_gbm")


def load_case(dataset: str, target: str):
    """Spectra, target, axis, splits, groups and target transform of one case."""
    from geosoil.evaluate.repeated import train_valid_test_splits
    from geosoil.spectra import SpectralAxis
    from geosoil.spectra.resample import axis_from_range, resample_spectra

    if dataset == "AfSIS":
        frame = pd.read_parquet(REAL / "afsis_mir" / "afsis_sentinel_mir_wetchem.parquet")
        frame = frame[np.isfinite(frame[target]) & (frame[target] > 0)].reset_index(drop=True)
        columns = [c for c in frame.columns if c.startswith("wn_") and c != "wn_599.8"]
        groups = frame["LOCNAME"].to_numpy()
        splits = train_valid_test_splits(
            len(frame), scheme="grouped", groups=groups, n_seeds=20, test_fraction=0.2
        )
        transform = "log10"
    else:
        frame = pd.read_parquet(REAL / "limesoda" / f"{dataset}.parquet")
        columns = [c for c in frame.columns if c.startswith(("wl_", "wn_"))]
        groups = None
        splits = train_valid_test_splits(
            len(frame), scheme="predefined", groups=frame["fold"].to_numpy(), n_seeds=10
        )
        transform = "none"
    unit = "cm-1" if columns[0].startswith("wn_") else "nm"
    axis = SpectralAxis.from_values([float(c[3:]) for c in columns], unit)
    X = frame[columns].to_numpy(np.float64)
    if unit == "nm":
        regular = axis_from_range(400.0, 2450.0, 5.0, "nm")
        X, axis = resample_spectra(X, axis, regular), regular
    return X, frame[target].to_numpy(np.float64), axis, splits, groups, transform


# -- peers ------------------------------------------------------------------------------------
def snv(X):
    return (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)


def peer_plsr(X, t, X_test, groups):
    """scikit-learn PLS on SNV + SG first derivative, 1-30 components by inner 10-fold CV."""
    from scipy.signal import savgol_filter
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.model_selection import GroupKFold, KFold

    def features(A):
        return savgol_filter(snv(A), 11, 2, deriv=1, axis=1)

    Z, Z_test = features(X), features(X_test)
    most = min(30, int(len(t) * 0.8) - 2)
    if groups is None:
        folds = KFold(10, shuffle=True, random_state=0).split(Z)
    else:
        folds = GroupKFold(min(10, len(set(groups))), shuffle=True, random_state=0).split(
            Z, groups=groups
        )
    sse = np.zeros(most)
    for train, valid in folds:
        pls = PLSRegression(most, scale=False).fit(Z[train], t[train])
        centred = Z[valid] - pls._x_mean
        for k in range(1, most + 1):
            coef = pls.x_rotations_[:, :k] @ pls.y_loadings_[:, :k].T
            predicted = (centred @ coef).ravel() + pls._y_mean
            sse[k - 1] += np.sum(np.square(predicted - t[valid]))
    best = int(np.argmin(sse)) + 1
    return PLSRegression(best, scale=False).fit(Z, t).predict(Z_test).ravel()


def peer_pca_gbm(X, t, X_test, _groups):
    """SNV, PCA (120 components), LightGBM with its defaults."""
    import lightgbm
    from sklearn.decomposition import PCA

    pca = PCA(min(120, len(t) - 1)).fit(snv(X))
    model = lightgbm.LGBMRegressor(random_state=0, n_jobs=1, verbose=-1)
    model.fit(pca.transform(snv(X)), t)
    return model.predict(pca.transform(snv(X_test)))


PEERS = {"peer_plsr": peer_plsr, "peer_pca_gbm": peer_pca_gbm}


# -- runs -------------------------------------------------------------------------------------
def run_splits(
    dataset: str,
    target: str,
    chosen: slice = slice(None),
    *,
    raw: dict | None = None,
    on_split=None,
) -> dict:
    """Every model on the chosen splits of one case: raw per-split results, filled into
    ``raw`` split by split (``on_split()`` called after each, e.g. to save progress)."""
    from geosoil.models import SpectralAuto
    from geosoil.models.targets import TargetTransform

    X, y, axis, splits, groups, transform_name = load_case(dataset, target)
    transform = TargetTransform(transform_name)
    names = ["auto", *CANDIDATES, *PEERS]
    raw = {} if raw is None else raw
    raw.update(
        dataset=dataset,
        target=target,
        scale=transform_name,
        n=len(y),
        n_bands=len(axis),
        splits=[],
        observed=y.tolist(),
    )
    for split in splits[chosen]:
        train = np.concatenate([split.train, split.valid])
        test = split.test
        fit_groups = None if groups is None else groups[train]
        row = {"seed": split.seed, "test": test.tolist(), "predicted": {}, "fit": {}, "predict": {}}
        started = time.perf_counter()
        auto = SpectralAuto(target_transform=transform_name, refit_all=True, seed=split.seed)
        auto.fit(X[train], y[train], axis=axis, groups=fit_groups)
        row["fit"]["auto"] = time.perf_counter() - started
        row["weights"] = auto.weights_
        fitted = {"auto": auto, **auto.members_}
        for name in ["auto", *CANDIDATES]:
            started = time.perf_counter()
            row["predicted"][name] = fitted[name].predict(X[test]).astype(float).tolist()
            row["predict"][name] = time.perf_counter() - started
            if name != "auto":
                row["fit"][name] = auto.candidate_scores_[name]["seconds"]
        t_train = transform.forward(y[train])
        for name, peer in PEERS.items():
            started = time.perf_counter()
            predicted = transform.inverse(peer(X[train], t_train, X[test], fit_groups))
            row["fit"][name] = time.perf_counter() - started  # fit and predict together
            row["predict"][name] = 0.0
            row["predicted"][name] = np.asarray(predicted, dtype=float).tolist()
        raw["splits"].append(row)
        if on_split is not None:
            on_split()
        print(
            f"{dataset} {target} split {split.seed}: "
            + " ".join(
                f"{n}={scores(y[test], np.asarray(row['predicted'][n]), transform)['r2']:.3f}"
                for n in names
            ),
            flush=True,
        )
    return raw


def finish_case(parts: list[dict]) -> dict:
    """Metrics of one case from its raw split results (possibly run in several parts)."""
    from geosoil.models.targets import TargetTransform

    first = parts[0]
    transform = TargetTransform(first["scale"])
    y = np.asarray(first["observed"])
    # A split run by two parts (a part restarted elsewhere) counts once.
    unique = {row["seed"]: row for part in reversed(parts) for row in part["splits"]}
    rows = [unique[seed] for seed in sorted(unique)]
    names = list(rows[0]["predicted"])
    grouped = first["dataset"] == "AfSIS"
    models = {}
    for name in names:
        predicted = np.full(len(y), np.nan)
        per_split = []
        for row in rows:
            test = np.asarray(row["test"])
            predicted[test] = row["predicted"][name]
            per_split.append(scores(y[test], np.asarray(row["predicted"][name]), transform))
        pooled = scores(y, predicted, transform)
        r2_splits = [s["r2"] for s in per_split]
        mean_rmse = float(np.mean([s["rmse"] for s in per_split]))
        models[name] = {
            "r2": float(np.mean(r2_splits)) if grouped else pooled["r2"],
            "rmse": mean_rmse if grouped else pooled["rmse"],
            "pooled_r2": pooled["r2"],
            "pooled_rmse": pooled["rmse"],
            "per_split_r2_mean": float(np.mean(r2_splits)),
            "per_split_r2_sd": float(np.std(r2_splits, ddof=1)),
            "fit_seconds": float(sum(row["fit"][name] for row in rows)),
            "predict_seconds": float(sum(row["predict"][name] for row in rows)),
        }
    return {
        "dataset": first["dataset"],
        "target": first["target"],
        "scheme": f"site-grouped, {len(rows)} splits"
        if grouped
        else f"predefined {len(rows)} folds",
        "scale": first["scale"],
        "n": first["n"],
        "n_bands": first["n_bands"],
        "models": models,
        "auto_mean_weights": {
            c: float(np.mean([row["weights"].get(c, 0.0) for row in rows])) for c in CANDIDATES
        },
    }


def scores(observed, predicted, transform) -> dict:
    """R2 and RMSE on the metric scale (log10 for AfSIS K, the units otherwise)."""
    a = transform.forward(np.asarray(observed, dtype=np.float64))
    b = transform.forward(
        np.clip(np.asarray(predicted, dtype=np.float64), 1e-12, None)
        if transform.kind == "log10"
        else np.asarray(predicted, dtype=np.float64)
    )
    r2 = 1.0 - np.sum((a - b) ** 2) / np.sum((a - a.mean()) ** 2)
    return {"r2": float(r2), "rmse": float(np.sqrt(np.mean((a - b) ** 2)))}


def mbl_speed(n_library: int = 5000, n_query: int = 2000, repeats: int = 3) -> dict:
    """MBL spectra/s (median of repeats) with a library of AfSIS spectra and mixtures."""
    from geosoil.models import SpectralMBL

    X, y, axis, *_ = load_case("AfSIS", "EXKM3S")
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(y), (2, n_library + n_query))
    share = rng.uniform(0, 1, n_library + n_query)[:, None]
    mixed = share * X[a] + (1 - share) * X[b]
    target = share[:, 0] * y[a] + (1 - share[:, 0]) * y[b]
    model = SpectralMBL().fit(mixed[:n_library], target[:n_library], axis=axis)
    query = mixed[n_library:]
    model.predict(query[:50])
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        model.predict(query)
        wall.append(n_query / (time.perf_counter() - started))
        cpu.append(n_query / (time.process_time() - started_cpu))
    return {
        "library_spectra": n_library,
        "bands": len(axis),
        "k": int(model.k_),
        "spectra_per_s_wall": float(np.median(wall)),
        "spectra_per_s_cpu": float(np.median(cpu)),
        "load_average_1min": os.getloadavg()[0],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--cases", choices=["all", "afsis", "limesoda", "speed"], default="all")
    parser.add_argument("--afsis-splits", default=":", help="e.g. 0:10 (a part of the 20)")
    parser.add_argument("--datasets", nargs="*", default=list(LIMESODA), help="LimeSoDa sets")
    parser.add_argument("--merge", type=Path, nargs="*", help="merge part JSONs into --json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.merge:
        parts = [json.loads(path.read_text()) for path in args.merge]
        if any(part["uncommitted"] for part in parts):
            raise SystemExit("a part ran on a dirty tree; rerun it from a clean commit")
        merged = {k: v for k, v in parts[0].items() if k != "raw"}
        # Every part ran from a clean commit; each part's commit is kept.
        merged["parts"] = [
            {
                "commit": part["commit"],
                "cases": [f"{c['dataset']} {c['target']}" for c in part.get("raw", [])],
                "speed_and_correction": part.get("mbl_speed") is not None,
            }
            for part in parts
        ]
        raw = [case for part in parts for case in part.get("raw", [])]
        keys = list(dict.fromkeys((c["dataset"], c["target"]) for c in raw))
        # A part already merged (no raw) brings its finished cases, unless rerun in raw.
        finished = {
            (c["dataset"], c["target"]): c
            for part in parts
            if "raw" not in part
            for c in part.get("cases", [])
        }
        merged["parts"] = [
            entry for part in parts if "raw" not in part for entry in part.get("parts", [])
        ] + [entry for entry, part in zip(merged["parts"], parts, strict=True) if "raw" in part]
        merged["cases"] = [case for key, case in finished.items() if key not in keys] + [
            finish_case([c for c in raw if (c["dataset"], c["target"]) == key]) for key in keys
        ]
        for part in parts:
            for key in ("mbl_speed", "mbl_predict_spectra_per_s", "correction"):
                if part.get(key) is not None:
                    merged[key] = part[key]
        args.json.write_text(json.dumps(summarize(merged), indent=2))
        return 0
    state = code_state()
    if state["uncommitted"]:
        print(f"warning: uncommitted changes {state['uncommitted']}", file=sys.stderr)
    out = {**state, "cpu": cpu_name(), "threads": 1, "raw": []}
    cases = []
    start, _, stop = args.afsis_splits.partition(":")
    chosen = slice(int(start) if start else None, int(stop) if stop else None)
    if args.cases in ("all", "afsis"):
        cases.append(("AfSIS", "EXKM3S"))
    if args.cases in ("all", "limesoda"):
        cases += [(d, t) for d in LIMESODA if d in args.datasets for t in TARGETS]
    for dataset, target in cases:
        raw: dict = {}
        out["raw"].append(raw)

        def save() -> None:
            # Written after every split: a run stopped early keeps the splits it finished.
            args.json.write_text(json.dumps(out))

        run_splits(
            dataset,
            target,
            chosen if dataset == "AfSIS" else slice(None),
            raw=raw,
            on_split=save,
        )
        save()
    if args.cases in ("all", "speed"):
        out["mbl_speed"] = mbl_speed()
        out["mbl_predict_spectra_per_s"] = out["mbl_speed"]["spectra_per_s_cpu"]
    if args.cases in ("all", "speed"):
        out["correction"] = correction()
    out["cases"] = [finish_case([case]) for case in out["raw"]]
    if args.cases == "all":
        out = summarize({k: v for k, v in out.items() if k != "raw"})
    args.json.write_text(json.dumps(out, indent=None if "raw" in out else 2))
    return 0


def correction():
    """R2 before and after moisture (EPO) and instrument (DS/PDS) correction, synthetic."""
    try:
        from geosoil.synthetic.spectral_correction import correction_experiment
    except ImportError:
        return None
    return correction_experiment()


def summarize(out: dict) -> dict:
    """Targets of the issue: auto vs the best peer per case, and vs the peer PLSR on average."""
    gaps, over_plsr = [], []
    for case in out["cases"]:
        models = case["models"]
        best_peer = max(models["peer_plsr"]["r2"], models["peer_pca_gbm"]["r2"])
        gaps.append(models["auto"]["r2"] - best_peer)
        over_plsr.append(models["auto"]["r2"] - models["peer_plsr"]["r2"])
        case["auto_minus_best_peer"] = gaps[-1]
    afsis = [c for c in out["cases"] if c["dataset"] == "AfSIS"]
    out["summary"] = {
        "cases_within_0.02_of_best_peer_or_above": int(sum(g >= -0.02 for g in gaps)),
        "n_cases": len(gaps),
        "mean_auto_minus_peer_plsr": float(np.mean(over_plsr)) if over_plsr else None,
        "afsis_auto_r2_mean_of_splits": afsis[0]["models"]["auto"]["r2"] if afsis else None,
        "afsis_scheme": afsis[0]["scheme"] if afsis else None,
    }
    return out


if __name__ == "__main__":
    raise SystemExit(main())
