"""Does the trust layer tell the truth? Interval coverage, AOA and throughput on real data.

    python benchmarks/trust.py --json benchmarks/results/trust.json

Every case is a *nested* cross-validation: outer folds give the test points; on each outer
training part, an inner CV (same kind of folds) gives the out-of-fold residuals that fit the
trust layer (AOA threshold, conformal calibration, normaliser choice) exactly as
``geosoil train`` does, and the model refitted on the whole outer training part predicts the
test fold. So no test point ever informs its own interval or AOA. Cases:

- Meuse Pb and Zn (155 points, 12 raster covariates), 600 m spatial blocks, 5 folds;
- LimeSoDa BB.250 SOC (250 points, 17 covariates), its 10 published folds;
- AfSIS exchangeable K (MIR, 1389 horizons, 44 sites), site-grouped 5 folds, PLSR on SNV
  spectra (components chosen on inner folds); "AOA" there is the spectral domain (T2/Q);

each with geosoil's covariate MLP and the peer a user would pick (scikit-learn random forest),
reporting PICP and mean width of the 90 % interval, the share of test points inside the AOA
and the RMSE inside and outside it. Then the synthetic world: a model trained on the small
world mapped over the medium world, and the share of medium-world pixels with a covariate
outside the small world's training range that the AOA flags; and the engine's throughput
with and without the AOA and interval layers (the map_throughput workload at ``--size``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from provenance import code_state, cpu_name

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geosoil.evaluate.splits import (  # noqa: E402
    grouped_kfold,
    random_kfold,
    spatial_block_kfold,
)
from geosoil.trust import calibrate, fit_spectral_domain  # noqa: E402
from geosoil.trust.estimators import model_scale, spread_of  # noqa: E402
from geosoil.trust.fitting import OutOfFold, fit_covariate_trust, importance_weights  # noqa: E402

log = logging.getLogger("trust")
LEVEL = 0.9
MEUSE_COVARIATES = [
    "r_chnl_dist", "r_dem", "r_dist", "r_ffreq", "r_landimg2", "r_landimg3", "r_landimg4",
    "r_mrvbf", "r_rsp", "r_slope", "r_soil", "r_twi",
]  # fmt: skip
MEUSE_CATEGORICAL = ["r_ffreq", "r_soil"]


def real_data() -> Path:
    return Path(os.environ.get("GEOSOIL_REAL_DATA", REPO.parent / "shared" / "data" / "real"))


# ------------------------------------------------------------------------------- learners
class ForestPeer:
    """scikit-learn random forest behind the generic interface (predict, importance)."""

    def __init__(self, *, transform: str, seed: int = 0):
        self.transform, self.seed = transform, seed

    def fit(self, X, y):
        from sklearn.ensemble import RandomForestRegressor

        self.model_ = RandomForestRegressor(
            n_estimators=300, min_samples_leaf=2, n_jobs=2, random_state=self.seed
        )
        z = np.log10(y) if self.transform == "log10" else y
        self.model_.fit(np.asarray(X, dtype=np.float64), z)
        self.feature_importances_ = self.model_.feature_importances_
        return self

    def predict(self, X):
        z = self.model_.predict(np.asarray(X, dtype=np.float64))
        return (10.0**z if self.transform == "log10" else z).astype(np.float32)


def make_learner(name: str, *, transform: str, categorical: list[str], seed: int = 0):
    if name == "random_forest":
        return lambda: ForestPeer(transform=transform, seed=seed)
    from geosoil.models.covariate.mlp import CovariateMLP

    return lambda: CovariateMLP(
        hidden_layers=(32, 32), max_epochs=200, patience=20, target_transform=transform,
        categorical_features=categorical, seed=seed,
    )  # fmt: skip


# ------------------------------------------------------------------------ nested CV, tables
def nested_covariate_case(
    X: pd.DataFrame,
    y: np.ndarray,
    outer: list,
    inner_folds,
    *,
    learner: str,
    transform: str,
    categorical: list[str],
) -> dict:
    """Pooled test-fold PICP/width, AOA share and RMSE inside/outside (see module doc)."""
    make = make_learner(learner, transform=transform, categorical=categorical)
    scale = model_scale(transform)
    rows = []
    for train, test in outer:
        X_train, y_train = X.iloc[train].reset_index(drop=True), y[train]
        predicted = np.full(len(train), np.nan)
        spread = np.full(len(train), np.nan)
        fold_id = np.full(len(train), -1)
        for k, (fit_idx, oof_idx) in enumerate(inner_folds(train)):
            model = make().fit(X_train.iloc[fit_idx], y_train[fit_idx])
            predicted[oof_idx] = model.predict(X_train.iloc[oof_idx])
            s = spread_of(model, X_train.iloc[oof_idx], transform=transform)
            if s is not None:
                spread[oof_idx] = s
            fold_id[oof_idx] = k
        final = make().fit(X_train, y_train)
        oof = OutOfFold(
            "inner", y_train, predicted, fold_id, spread if np.isfinite(spread).all() else None
        )
        weights = importance_weights(final, X_train.to_numpy(np.float64), y_train)
        trust = fit_covariate_trust(
            X_train.to_numpy(np.float64), oof, feature_names=list(X.columns), weights=weights,
            categorical=categorical, transform=transform, level=LEVEL,
        )  # fmt: skip
        X_test = X.iloc[test].to_numpy(np.float32)
        out = trust.predict(final, X_test, level=LEVEL)
        rows.append(
            pd.DataFrame(
                {
                    "observed": y[test],
                    "predicted": out.point,
                    "low": out.low,
                    "high": out.high,
                    "inside": out.inside_aoa,
                    "di": out.di,
                    "normalisation": trust.intervals.normalisation,
                }
            )
        )
    table = pd.concat(rows, ignore_index=True)
    return summarise(table, scale)


def summarise(table: pd.DataFrame, scale) -> dict:
    observed, predicted = table["observed"].to_numpy(), table["predicted"].to_numpy()
    inside = table["inside"].fillna(False).to_numpy(bool)
    covered = (observed >= table["low"]) & (observed <= table["high"])
    error = observed - predicted

    log_error = np.log10(observed) - np.log10(np.maximum(predicted, 1e-12))

    def rmse(mask, values=error):
        return float(np.sqrt(np.mean(values[mask] ** 2))) if mask.any() else None

    by_di = {}
    if "di" in table:
        # Does the error grow with the DI at all? Rank correlation of the absolute log10 error
        # with the DI, and the log10 RMSE in DI terciles (low to high), over all test points.
        from scipy.stats import spearmanr

        di = table["di"].to_numpy(np.float64)
        terciles = np.quantile(di, [1 / 3, 2 / 3])
        bins = np.digitize(di, terciles)
        by_di = {
            "spearman_abs_log10_error_vs_di": float(spearmanr(di, np.abs(log_error))[0]),
            "rmse_log10_by_di_tercile": [rmse(bins == k, log_error) for k in range(3)],
        }
    return {
        **by_di,
        "n_test": len(table),
        "picp_90": float(covered.mean()),
        "width_90": float((table["high"] - table["low"]).mean()),
        "picp_90_inside_aoa": float(covered[inside].mean()) if inside.any() else None,
        "picp_90_outside_aoa": float(covered[~inside].mean()) if (~inside).any() else None,
        "aoa_share": float(inside.mean()),
        "n_outside_aoa": int((~inside).sum()),
        "rmse": rmse(np.ones_like(inside)),
        "rmse_inside_aoa": rmse(inside),
        "rmse_outside_aoa": rmse(~inside),
        "rmse_log10_inside_aoa": rmse(inside, log_error),
        "rmse_log10_outside_aoa": rmse(~inside, log_error),
        # Where the points outside sit: their observed mean against the inside points'.
        "mean_observed_inside_aoa": float(observed[inside].mean()) if inside.any() else None,
        "mean_observed_outside_aoa": float(observed[~inside].mean()) if (~inside).any() else None,
        "normalisations": table["normalisation"].value_counts().to_dict(),
    }


def meuse_cases(learners: list[str]) -> list[dict]:
    data = pd.read_csv(real_data() / "meuse" / "meuse_with_raster_covariates.csv")
    data = data.dropna(subset=MEUSE_COVARIATES).reset_index(drop=True)
    X = data[MEUSE_COVARIATES].astype(np.float64)
    x, yy = data["x"].to_numpy(), data["y"].to_numpy()
    outer = spatial_block_kfold(x, yy, block_size_m=600, n_splits=5, seed=0)

    def inner(train):
        return spatial_block_kfold(x[train], yy[train], block_size_m=600, n_splits=5, seed=1)

    cases = []
    for target in ("lead", "zinc"):
        for learner in learners:
            started = time.perf_counter()
            result = nested_covariate_case(
                X, data[target].to_numpy(np.float64), outer, inner, learner=learner,
                transform="log10", categorical=MEUSE_CATEGORICAL,
            )  # fmt: skip
            cases.append(
                {"dataset": "meuse", "target": target, "units": "mg/kg",
                 "scheme": "spatial_block_600m_5fold", "learner": learner, **result,
                 "seconds": round(time.perf_counter() - started, 1)}
            )  # fmt: skip
            log.info("%s", cases[-1])
    return cases


def limesoda_cases(learners: list[str]) -> list[dict]:
    data = pd.read_parquet(real_data() / "limesoda" / "BB.250.parquet")
    covariates = [
        c for c in data.columns
        if c not in {"sample_id", "fold", "x", "y", "SOC_target", "pH_target", "Clay_target"}
    ]  # fmt: skip
    X = data[covariates].astype(np.float64)
    y = data["SOC_target"].to_numpy(np.float64)
    folds = data["fold"].to_numpy()
    outer = [(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in np.unique(folds)]

    def inner(train):
        return grouped_kfold(folds[train], n_splits=5, seed=1)  # the published folds, merged

    cases = []
    for learner in learners:
        started = time.perf_counter()
        result = nested_covariate_case(
            X, y, outer, inner, learner=learner, transform="log10", categorical=[]
        )
        cases.append(
            {"dataset": "limesoda_BB.250", "target": "SOC", "units": "%",
             "scheme": "published_10fold", "learner": learner, **result,
             "seconds": round(time.perf_counter() - started, 1)}
        )  # fmt: skip
        log.info("%s", cases[-1])
    return cases


def afsis_case(max_components: int = 20) -> dict:
    """PLSR on SNV MIR spectra, log10 K; conformal from inner site-grouped folds."""
    from sklearn.cross_decomposition import PLSRegression

    data = pd.read_parquet(real_data() / "afsis_mir" / "afsis_sentinel_mir_wetchem.parquet")
    bands = [c for c in data.columns if c.startswith("wn_") and c != "wn_599.8"][::4]
    data = data[np.isfinite(data["EXKM3S"]) & (data["EXKM3S"] > 0)].reset_index(drop=True)
    spectra = data[bands].to_numpy(np.float64)
    keep = np.isfinite(spectra).all(axis=1)
    data, spectra = data[keep].reset_index(drop=True), spectra[keep]
    spectra = (spectra - spectra.mean(1, keepdims=True)) / spectra.std(1, keepdims=True)
    y = data["EXKM3S"].to_numpy(np.float64)
    z = np.log10(y)
    sites = data["LOCNAME"].astype(str).to_numpy()
    started = time.perf_counter()
    rows = []
    for train, test in grouped_kfold(sites, n_splits=5, seed=0):
        inner = grouped_kfold(sites[train], n_splits=5, seed=1)
        oof = np.full((len(train), max_components), np.nan)
        fold_id = np.full(len(train), -1)
        for k, (fit_idx, oof_idx) in enumerate(inner):
            pls = PLSRegression(n_components=max_components, scale=False)
            pls.fit(spectra[train][fit_idx], z[train][fit_idx])
            # Predictions with 1..max components from one fit: scores times the y loadings.
            scores = pls.transform(spectra[train][oof_idx])
            for c in range(1, max_components + 1):
                oof[oof_idx, c - 1] = (
                    scores[:, :c] @ pls.y_loadings_[:, :c].T
                ).ravel() + pls._y_mean
            fold_id[oof_idx] = k
        rmse_by_c = np.sqrt(np.mean((oof - z[train][:, None]) ** 2, axis=0))
        n_comp = int(np.argmin(rmse_by_c) + 1)
        residuals = z[train] - oof[:, n_comp - 1]
        cal = calibrate(residuals, method="cv", scheme="site_grouped")
        final = PLSRegression(n_components=n_comp, scale=False).fit(spectra[train], z[train])
        site_folds = np.unique(sites[train], return_inverse=True)[1] % 5
        domain = fit_spectral_domain(spectra[train], fold_ids=site_folds)
        centre = final.predict(spectra[test]).ravel()
        half = cal.half_width(LEVEL, 1.0)
        t2, q = domain.statistics(spectra[test])
        rows.append(
            pd.DataFrame(
                {
                    "observed": y[test],
                    "predicted": 10.0**centre,
                    "low": 10.0 ** (centre - half),
                    "high": 10.0 ** (centre + half),
                    "inside": domain.in_domain(t2, q),
                    "normalisation": f"none ({n_comp} components)",
                }
            )
        )
    result = summarise(pd.concat(rows, ignore_index=True), model_scale("log10"))
    return {
        "dataset": "afsis_mir", "target": "exchangeable_K", "units": "cmol(+)/kg",
        "scheme": "site_grouped_5fold", "learner": "plsr_snv", **result,
        "aoa_kind": "spectral domain (PCA T2 and Q at 0.99)",
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip


# ------------------------------------------------------------------------ synthetic world
def synthetic_extrapolation(workdir: Path) -> dict:
    """Share of medium-world pixels with a covariate outside the small world's training range
    that the small-world model's AOA puts outside."""
    import rasterio

    from geosoil.artifacts import load_artifact
    from geosoil.config import MapConfig, TrainConfig, load_config
    from geosoil.geo.grid import Grid
    from geosoil.io.catalog import read_catalog
    from geosoil.mapping.stack import CovariateStack
    from geosoil.synthetic import synthesize, write_world
    from geosoil.workflows import map_from_config, train_from_config
    from geosoil.workflows.train import build_training_table

    small, medium = workdir / "small", workdir / "medium"
    for folder, size in ((small, "small"), (medium, "medium")):
        folder.mkdir(parents=True, exist_ok=True)
        write_world(synthesize(size=size, seed=0), folder)
    layers = read_catalog(medium / "covariates.yaml").layers
    by_name = {layer.name: layer for layer in layers}
    shares = {}
    for floor in (0.25,):  # the default floor on DI weights (0 is CAST's pure weighting)
        config = load_config(
            REPO / "configs" / "demo" / "train.yaml",
            TrainConfig,
            [
                f"samples.path={small / 'samples.parquet'}",
                f"covariates.catalog={small / 'covariates.yaml'}",
                "model.params.max_epochs=100",
                f"trust.min_weight_share={floor}",
                f"output.dir={workdir / 'model'}",
                "output.overwrite=true",
            ],
        )
        train_from_config(config)
        X, _, _, _ = build_training_table(config)
        out = workdir / "map"
        map_config = MapConfig.model_validate(
            {
                "models": [str(workdir / "model" / "model.safetensors")],
                "covariates": {"catalog": str(medium / "covariates.yaml")},
                "grid": {"reference": "elevation_m"},
                "output": {"dir": str(out), "overwrite": True},
                "execution": {"progress": False},
            }
        )
        map_from_config(map_config)
        with rasterio.open(out / "kex_cmol_kg_aoa.tif") as dataset:
            aoa = dataset.read(1, masked=True)
            grid = Grid.from_raster(out / "kex_cmol_kg_aoa.tif")
        with rasterio.open(out / "kex_cmol_kg_di.tif") as dataset:
            di = dataset.read(1, masked=True)
        threshold = load_artifact(workdir / "model" / "model.safetensors").trust.applicability
        di_outside = di.filled(0) > threshold.threshold
        stack = CovariateStack.from_layers([by_name[name] for name in X.columns])
        with stack.open(grid) as reader:
            features = reader.read(rasterio.windows.Window(0, 0, grid.width, grid.height))
        low, high = X.min().to_numpy()[:, None, None], X.max().to_numpy()[:, None, None]
        outside_range = ((features < low) | (features > high)).any(axis=0)
        mapped = ~np.ma.getmaskarray(aoa)
        beyond = outside_range & mapped
        flagged = (aoa.filled(255) == 0) & beyond
        shares[floor] = {
            "share_flagged": float(flagged.sum() / beyond.sum()) if beyond.any() else None,
            "share_flagged_by_di_alone": float((di_outside & beyond).sum() / beyond.sum()),
            "share_of_map_outside_aoa": float((aoa.filled(255) == 0).sum() / mapped.sum()),
            "share_flagged_inside_range": float(
                ((aoa.filled(255) == 0) & ~outside_range & mapped).sum()
                / (~outside_range & mapped).sum()
            ),
        }
    per_layer = {
        name: float(((features[i] < low[i]) | (features[i] > high[i]))[mapped].mean())
        for i, name in enumerate(X.columns)
    }
    return {
        **shares[0.25],
        "range_margin": threshold.range_margin,
        "n_pixels_outside_range": int(beyond.sum()),
        "share_of_map_outside_range": float(beyond.sum() / mapped.sum()),
        "share_outside_range_per_covariate": per_layer,
    }


# ----------------------------------------------------------------------------- throughput
def throughput(workdir: Path, size: int, repeats: int, n_rows: int) -> dict:
    """Engine wall time with and without the AOA and interval layers, interleaved runs, for a
    model trained on ``n_rows`` samples (the AOA keeps every one: its search cost grows with
    them)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import map_throughput as mt

    from geosoil.artifacts import InputLayer, InputSpec, OutputSpec, Provenance, save_artifact
    from geosoil.models.covariate.mlp import CovariateMLP
    from geosoil.workflows import map_from_config

    catalog = mt.ensure_dataset(workdir, size, 0, [])
    rng = np.random.default_rng(0)
    X = mt.training_table(catalog, n_rows, rng)
    y = mt.synthetic_target(X, 1, rng)

    def make():
        return CovariateMLP(hidden_layers=(64, 64), max_epochs=5, batch_size=128, patience=5)

    predicted, fold_id = np.full(len(y), np.nan), np.zeros(len(y), int)
    for k, (fit_idx, oof_idx) in enumerate(random_kfold(len(y), n_splits=3, seed=0)):
        predicted[oof_idx] = make().fit(X.iloc[fit_idx], y[fit_idx]).predict(X.iloc[oof_idx])
        fold_id[oof_idx] = k
    model = make().fit(X, y)
    trust = fit_covariate_trust(
        X.to_numpy(np.float64), OutOfFold("random", y, predicted, fold_id),
        feature_names=list(X.columns), weights=importance_weights(model, X.to_numpy(), y),
    )  # fmt: skip
    artifact = save_artifact(
        model,
        workdir / f"trust_model_{n_rows}.safetensors",
        input_spec=InputSpec(kind="covariates", layers=[InputLayer(name=n) for n in X.columns]),
        output_spec=OutputSpec(names=["target"], units=[""]),
        provenance=Provenance(data_fingerprint="synthetic", n_samples=len(X), seed=0),
        trust=trust,
    )
    variants = (
        ("without", {"aoa": False, "intervals": False}),
        ("with", {}),
        ("aoa_only", {"intervals": False}),
        ("intervals_only", {"aoa": False}),
    )
    times: dict[str, list[float]] = {label: [] for label, _ in variants}
    cpu: dict[str, list[float]] = {label: [] for label, _ in variants}
    load = []
    configs = {}
    for label, flags in variants:
        configs[label] = mt.engine_config(catalog, artifact, workdir / f"out_{label}", None)
        configs[label].models[0] = configs[label].models[0].model_copy(update=flags)
        # One untimed run of each first: the first run of a process pays for imports, thread
        # pools and GDAL's caches, and would otherwise count against whichever variant is first.
        map_from_config(configs[label])
    for _ in range(repeats):
        for label, _flags in variants:
            config = configs[label]
            load.append(os.getloadavg()[0])
            started, started_cpu = time.perf_counter(), _cpu_seconds()
            map_from_config(config)
            times[label].append(time.perf_counter() - started)
            cpu[label].append(_cpu_seconds() - started_cpu)
    median = {label: statistics.median(values) for label, values in times.items()}
    median_cpu = {label: statistics.median(values) for label, values in cpu.items()}
    # Where the AOA's cost goes: its DI (standardisation and nearest-row search) and the whole
    # evaluation (with the range and class checks) on the map's valid pixels, in the engine's
    # batches; the rest of the AOA run's extra time is its two layers (statistics, writes).
    pixels = _valid_pixels(catalog)
    applicability = trust.applicability
    split: dict[str, list[float]] = {"dissimilarity": [], "evaluate": []}
    for _ in range(repeats):
        for label, method in (("dissimilarity", applicability.dissimilarity),
                              ("evaluate", applicability.evaluate)):  # fmt: skip
            started_cpu = _cpu_seconds()
            for start in range(0, len(pixels), 8192):
                method(pixels[start : start + 8192])
            split[label].append(_cpu_seconds() - started_cpu)
    return {
        "size_px": size,
        "n_training_rows_in_aoa": len(X),
        "untimed_warm_up_runs_per_variant": 1,
        "seconds": {k: [round(v, 3) for v in values] for k, values in times.items()},
        "median_s": {k: round(v, 3) for k, v in median.items()},
        "ratio": round(median["with"] / median["without"], 3),
        "ratio_aoa_only": round(median["aoa_only"] / median["without"], 3),
        "ratio_intervals_only": round(median["intervals_only"] / median["without"], 3),
        "cpu_seconds": {k: [round(v, 3) for v in values] for k, values in cpu.items()},
        "median_cpu_s": {k: round(v, 3) for k, v in median_cpu.items()},
        "cpu_ratio": round(median_cpu["with"] / median_cpu["without"], 3),
        "cpu_ratio_aoa_only": round(median_cpu["aoa_only"] / median_cpu["without"], 3),
        "load_1min": {"min": min(load), "median": statistics.median(load), "max": max(load)},
        "aoa_cpu_s_on_valid_pixels": {
            "pixels": len(pixels),
            **{label: round(statistics.median(values), 3) for label, values in split.items()},
        },
    }


def _valid_pixels(catalog: Path) -> np.ndarray:
    """float32 (n, 12): the stack's valid pixels in raster order, as the engine hands them."""
    from rasterio.windows import Window

    from geosoil.geo.grid import Grid
    from geosoil.io.catalog import read_catalog
    from geosoil.mapping.stack import CovariateStack

    layers = read_catalog(catalog).layers
    grid = Grid.from_raster(layers[0].path)
    with CovariateStack.from_layers(layers).open(grid) as reader:
        features = reader.read(Window(0, 0, grid.width, grid.height)).reshape(len(layers), -1)
    return np.ascontiguousarray(features[:, np.isfinite(features).all(axis=0)].T)


def _cpu_seconds() -> float:
    """CPU seconds of this process, every thread (robust to other load on a shared machine)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--learners", nargs="+", default=["covariate_mlp", "random_forest"])
    parser.add_argument("--size", type=int, default=1024, help="throughput grid side (px)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--aoa-rows", type=int, nargs="+", default=[500, 2000],
        help="training set sizes for the throughput runs; the first gives the headline ratio",
    )  # fmt: skip
    parser.add_argument("--skip", nargs="*", default=[], choices=PARTS, help="parts not to run")
    parser.add_argument(
        "--merge", action="store_true",
        help="keep the skipped parts' figures from the existing --json file, each with the "
        "commit it was measured on (the JSON's 'parts')",
    )  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("geosoil", "rasterio", "distributed"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import torch

    torch.set_num_threads(1)
    state = code_state()
    if state["uncommitted"]:
        log.warning("uncommitted changes: %s (the JSON records them)", state["uncommitted"])
    result: dict = {**state, "cpu": cpu_name(), "level": LEVEL, "cases": []}
    if real_data().is_dir():
        if "meuse" not in args.skip:
            result["cases"] += meuse_cases(args.learners)
        if "limesoda" not in args.skip:
            result["cases"] += limesoda_cases(args.learners)
        if "afsis" not in args.skip:
            result["cases"].append(afsis_case())
    else:
        result["skipped_real"] = f"no real data at {real_data()}"
    work = Path(tempfile.mkdtemp(prefix="geosoil-trust-"))
    try:
        if "synthetic" not in args.skip:
            synthetic = synthetic_extrapolation(work / "synthetic")
            result["synthetic"] = synthetic
            result["synthetic_extrapolation_outside_aoa"] = synthetic["share_flagged"]
        if "throughput" not in args.skip:
            runs = [
                throughput(work / "throughput", args.size, args.repeats, n_rows)
                for n_rows in args.aoa_rows
            ]
            result["throughput"] = runs
            # The ratio: the run with the AOA layers over the run without them (wall
            # time); the interval layers' cost is reported beside it, and so is the ratio of
            # the run with every trust layer.
            result["aoa_throughput_ratio"] = runs[0]["ratio_aoa_only"]
            result["trust_layers_throughput_ratio"] = runs[0]["ratio"]
            result["aoa_throughput_cpu_ratio"] = runs[0]["cpu_ratio_aoa_only"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ran = [part for part in PARTS if part not in args.skip]
    previous = json.loads(args.json.read_text()) if args.merge and args.json.is_file() else {}
    result = merged(result, previous, ran)
    result["targets"] = targets(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["targets"], indent=2))


PARTS = ("meuse", "limesoda", "afsis", "synthetic", "throughput")
# The top-level keys each part writes, besides its cases.
_PART_KEYS = {
    "synthetic": ("synthetic", "synthetic_extrapolation_outside_aoa"),
    "throughput": (
        "throughput", "aoa_throughput_ratio", "trust_layers_throughput_ratio",
        "aoa_throughput_cpu_ratio",
    ),
}  # fmt: skip
_STATE_KEYS = ("commit", "dirty", "uncommitted", "cpu")


def merged(result: dict, previous: dict, ran: list[str]) -> dict:
    """``result`` with the parts it did not run taken from ``previous`` (an earlier JSON; empty:
    nothing taken), and ``parts``: the code state each part was measured on. The top-level
    ``commit`` is the run that wrote the file."""
    own = {key: result[key] for key in _STATE_KEYS}
    parts = {}
    for part in PARTS:
        if part in ran:
            parts[part] = own
            continue
        if not previous:
            continue
        parts[part] = previous.get("parts", {}).get(part) or {
            key: previous.get(key) for key in _STATE_KEYS
        }
        if part in _PART_KEYS:
            result |= {key: previous[key] for key in _PART_KEYS[part] if key in previous}
        else:
            result["cases"] += [c for c in previous.get("cases", []) if _part_of(c) == part]
    result["cases"].sort(key=lambda case: PARTS.index(_part_of(case)))
    result["parts"] = parts
    return result


def _part_of(case: dict) -> str:
    """The part a case belongs to: its dataset's first word (meuse, limesoda_BB.250, ...)."""
    return case["dataset"].split("_")[0]


def targets(result: dict) -> dict:
    cases = result["cases"]
    return {
        "coverage_0.85_0.95_every_case": all(0.85 <= c["picp_90"] <= 0.95 for c in cases),
        "rmse_outside_above_inside_where_10_outside": all(
            c["rmse_outside_aoa"] > c["rmse_inside_aoa"]
            for c in cases
            if c["n_outside_aoa"] >= 10 and c["rmse_inside_aoa"] is not None
        ),
        # Not the target, beside it: the same comparison on the log10 scale the models fit.
        "log10_rmse_outside_above_inside_where_10_outside": all(
            c["rmse_log10_outside_aoa"] > c["rmse_log10_inside_aoa"]
            for c in cases
            if c["n_outside_aoa"] >= 10 and c["rmse_log10_inside_aoa"] is not None
        ),
        "synthetic_flagged_at_least_0.95": (result.get("synthetic_extrapolation_outside_aoa") or 0)
        >= 0.95,
        "aoa_throughput_within_1.3": (result.get("aoa_throughput_ratio") or 99) <= 1.3,
    }


if __name__ == "__main__":
    main()
