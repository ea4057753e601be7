"""``geosoil train``: sample points + covariate rasters -> artifact + evaluation report."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from geosoil.artifacts import Provenance, save_artifact
from geosoil.config import TrainConfig, TrustConfig, save_config
from geosoil.errors import ConfigError, SampleDataError, params_at
from geosoil.evaluate import cross_validate, random_kfold, spatial_block_kfold, write_cv_report
from geosoil.evaluate.metrics import r2
from geosoil.io.catalog import CovariateLayer, read_catalog
from geosoil.io.rasters import extract_at_points
from geosoil.io.samples import read_samples, target_values
from geosoil.io.writers import staged_directory
from geosoil.models.registry import get_estimator_class
from geosoil.models.training import check_final_fit
from geosoil.specs import InputLayer, InputSpec, OutputSpec
from geosoil.trust import TrustLayer
from geosoil.trust.estimators import spread_of
from geosoil.trust.fitting import (
    OutOfFold,
    fit_covariate_trust,
    importance_weights,
    interval_report,
)

__all__ = [
    "TrainResult",
    "build_training_table",
    "fit_trust_from_cv",
    "spread_recorder",
    "train_from_config",
]

log = logging.getLogger(__name__)

ARTIFACT_NAME = "model.safetensors"


@dataclass(frozen=True)
class TrainResult:
    """Paths of everything ``train_from_config`` wrote, and the CV summary."""

    out_dir: Path
    artifact: Path
    config: Path
    report: dict[str, Path]
    cv_summary: dict[str, dict]


def build_training_table(
    config: TrainConfig,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[CovariateLayer]]:
    """Covariates extracted at the sample points, the target, and point coordinates.

    Rows without a target value or on covariate nodata are dropped (and logged).

    Returns
    -------
    X, y, xy, layers
        Covariate table (one column per layer, catalog order), target, (n, 2) coordinates in
        the samples' CRS, and the layers used.
    """
    catalog = read_catalog(config.covariates.catalog)
    layers = catalog.select(
        config.covariates.names, source=config.covariates.catalog, field="covariates.names"
    )
    samples_cfg = config.samples
    points = read_samples(
        samples_cfg.path,
        layer=samples_cfg.layer,
        crs=samples_cfg.crs,
        x_column=samples_cfg.x_column,
        y_column=samples_cfg.y_column,
    )
    y = target_values(points, samples_cfg.target, source=samples_cfg.path)
    X = extract_at_points(layers, points.geometry)
    keep = np.isfinite(y) & X.notna().all(axis=1).to_numpy()
    n_dropped = int((~keep).sum())
    if n_dropped:
        log.warning(
            "dropped %d of %d samples without a target value or on covariate nodata",
            n_dropped,
            len(keep),
        )
    if keep.sum() < 10:
        raise SampleDataError(
            f"only {int(keep.sum())} samples have a target and valid covariates",
            path=samples_cfg.path,
            field="samples",
            fix="check that the samples lie inside the covariate rasters",
        )
    xy = np.column_stack([points.geometry.x, points.geometry.y])[keep]
    return X[keep].reset_index(drop=True), y[keep], xy, layers


@params_at("model.params")
def train_from_config(config: TrainConfig) -> TrainResult:
    """Cross-validate, fit on all samples and write artifact, report and config.

    The output folder appears only when everything in it is complete.
    """
    if config.output.dir is None:
        raise ConfigError(
            "no output folder", field="output.dir", fix="pass --out DIR or set output.dir"
        )
    estimator_cls = get_estimator_class(config.model.estimator, field="model.estimator")
    estimator_cls.from_params(config.model.params)  # refuse unknown hyperparameters early

    X, y, xy, layers = build_training_table(config)
    params = dict(config.model.params)
    categorical = [layer.name for layer in layers if layer.categorical]
    if "categorical_features" in estimator_cls.param_names():
        params.setdefault("categorical_features", categorical)

    def make_estimator():
        return estimator_cls.from_params(params)

    evaluation = config.evaluation
    fold_sets = {
        "random": lambda: random_kfold(len(y), n_splits=evaluation.n_splits, seed=evaluation.seed),
        "spatial_block": lambda: spatial_block_kfold(
            xy[:, 0],
            xy[:, 1],
            block_size_m=evaluation.spatial_block_size_m,
            n_splits=evaluation.n_splits,
            seed=evaluation.seed,
        ),
    }
    target = config.samples.target
    units = config.samples.target_units

    transform = params.get("target_transform", "none")
    with staged_directory(config.output.dir, overwrite=config.output.overwrite) as staging:
        results, spreads = {}, {}
        for scheme in evaluation.schemes:
            log.info("cross-validation: %s, %d folds", scheme, evaluation.n_splits)
            spreads[scheme] = np.full(len(y), np.nan)
            results[scheme] = cross_validate(
                make_estimator,
                X,
                y,
                fold_sets[scheme](),
                on_fold=spread_recorder(X, spreads[scheme], transform),
            )
        summary = {scheme: result.summary() for scheme, result in results.items()}

        log.info("final fit on all %d samples", len(y))
        model = make_estimator().fit(X, y)
        _check_final_model(model, X, y, summary)
        trust, trust_reports = fit_trust_from_cv(
            model, X, y, results, spreads, config.trust, categorical=categorical,
            transform=transform, seed=int(params.get("seed", 0)),
        )  # fmt: skip
        (staging / "report").mkdir()
        report = write_cv_report(
            results,
            staging / "report",
            target=target,
            units=units,
            title=f"{target}: {config.model.estimator} cross-validation",
            trust=trust_reports,
        )
        pd.DataFrame(getattr(model, "history_", [])).to_csv(
            staging / "training_history.csv", index=False
        )
        save_artifact(
            model,
            staging / ARTIFACT_NAME,
            input_spec=InputSpec(
                kind="covariates",
                layers=[
                    InputLayer(name=layer.name, units=layer.units, categorical=layer.categorical)
                    for layer in layers
                ],
            ),
            output_spec=OutputSpec(
                names=[target],
                units=[units],
                back_transform=transform,
            ),
            provenance=Provenance(
                data_fingerprint=table_fingerprint(X, y),
                n_samples=len(y),
                seed=int(params.get("seed", 0)),
                metrics=summary,
                config=config.model_dump(mode="json"),
            ),
            trust=trust,
        )
        save_config(config, staging / "config.yaml")

    out_dir = Path(config.output.dir)
    return TrainResult(
        out_dir=out_dir,
        artifact=out_dir / ARTIFACT_NAME,
        config=out_dir / "config.yaml",
        report={name: out_dir / "report" / path.name for name, path in report.items()},
        cv_summary=summary,
    )


def spread_recorder(X: pd.DataFrame, into: np.ndarray, transform: str):
    """An ``on_fold`` callback keeping each fold model's spread on its test rows."""

    def record(fold: int, model, test_idx: np.ndarray) -> None:
        spread = spread_of(model, X.iloc[test_idx], transform=transform)
        if spread is not None:
            into[test_idx] = spread

    return record


def fit_trust_from_cv(
    model,
    X: pd.DataFrame,
    y: np.ndarray,
    results: dict,
    spreads: dict[str, np.ndarray],
    trust_config: TrustConfig,
    *,
    categorical: list[str],
    transform: str,
    seed: int = 0,
) -> tuple[TrustLayer | None, dict[str, dict]]:
    """The trust layer to store (from the calibration scheme) and a report per CV scheme.

    Every scheme gets its own AOA threshold and calibration for its report; the artifact keeps
    the one of ``trust.calibration_scheme`` (spatial blocks when they ran: the honest choice
    when maps extrapolate in space).
    """
    if not results:
        return None, {}
    weights = None
    if trust_config.aoa and trust_config.importance_weighted:
        weights = importance_weights(model, X.to_numpy(dtype=np.float64), y, seed=seed)
    layers, reports = {}, {}
    for scheme, result in results.items():
        rows = result.predictions
        if len(rows) != len(y) or not np.array_equal(rows["row"].to_numpy(), np.arange(len(y))):
            log.warning("scheme %s does not predict every sample once: no trust layer", scheme)
            continue
        spread = spreads.get(scheme)
        oof = OutOfFold(
            scheme=scheme,
            observed=rows["observed"].to_numpy(),
            predicted=rows["predicted"].to_numpy(),
            fold=rows["fold"].to_numpy(),
            spread=spread if spread is not None and np.isfinite(spread).all() else None,
        )
        layers[scheme] = fit_covariate_trust(
            X.to_numpy(dtype=np.float64), oof, feature_names=list(X.columns), weights=weights,
            categorical=categorical, transform=transform,
            estimate=trust_config.back_transform, mean_method=trust_config.mean_method,
            aoa=trust_config.aoa, intervals=trust_config.intervals, level=trust_config.level,
            min_weight_share=trust_config.min_weight_share,
            range_margin=trust_config.range_margin, seed=seed,
        )  # fmt: skip
        reports[scheme] = interval_report(oof, layers[scheme], level=trust_config.level)
    chosen = trust_config.calibration_scheme
    if chosen == "auto":
        chosen = "spatial_block" if "spatial_block" in layers else next(iter(layers), None)
    if chosen not in layers:
        raise ConfigError(
            f"trust.calibration_scheme '{chosen}' did not run",
            field="trust.calibration_scheme",
            fix=f"use one of evaluation.schemes ({', '.join(results)}) or auto",
        )
    return layers[chosen], reports


def _check_final_model(model, X: pd.DataFrame, y: np.ndarray, summary: dict) -> None:
    """Refuse a final model that scores far below its CV figures on its own samples."""
    cv_r2 = [s["pooled"].get("r2", np.nan) for s in summary.values()]
    finite = [v for v in cv_r2 if np.isfinite(v)]
    if finite:
        check_final_fit(r2(y, model.predict(X)), max(finite), metric="r2")


def table_fingerprint(X: pd.DataFrame, y: np.ndarray) -> str:
    """SHA-256 of a covariate table (names and values) and its targets, for provenance."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(X.columns).encode())
    digest.update(np.ascontiguousarray(X.to_numpy(dtype=np.float64)).tobytes())
    digest.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    return "sha256:" + digest.hexdigest()
