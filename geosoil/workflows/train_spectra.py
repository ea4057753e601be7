"""``geosoil train`` on spectra: one artifact fitted on a spectra table, and its metrics.

A share of the samples (whole groups when a group column is set) is set aside as the
validation set. Estimators that choose settings by inner cross-validation (the default of
PLSR, SVR, PCA models, spectral_auto) take it back for the inner folds and the final
refit; networks stop early on it and (``final_fit: refit``, their default) are then
retrained on train and valid for the epoch count it chose. Skill on unseen data is what
``geosoil evaluate`` measures; the metrics here only show that the fit went sensibly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from geosoil.artifacts import Provenance, save_artifact
from geosoil.config.evaluate import SpectralTrainConfig
from geosoil.errors import CalibrationError, params_at
from geosoil.evaluate.repeated_splits import holdout_split
from geosoil.evaluate.tables import check_group_columns, paper_metrics
from geosoil.io.writers import staged_directory
from geosoil.specs import OutputSpec
from geosoil.trust import TrustLayer, calibrate, fit_back_transform, fit_spectral_domain
from geosoil.trust.estimators import model_scale
from geosoil.workflows.evaluate import (
    data_fingerprint,
    load_labelled_spectra,
    spectral_estimator_factory,
)
from geosoil.workflows.trained import ARTIFACT_NAME, TrainedModelResult, write_training_record

__all__ = ["SpectralTrainResult", "train_spectra_from_config"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpectralTrainResult(TrainedModelResult):
    """Paths of everything ``train_spectra_from_config`` wrote, and its metrics."""


@params_at("model.params")
def train_spectra_from_config(
    config: SpectralTrainConfig, *, record: BaseModel | None = None
) -> SpectralTrainResult:
    """Fit one spectral model on the table and write artifact, metrics and config.

    The output folder appears only when everything in it is complete. ``record`` is the
    config written beside the outputs and into the artifact when it is not ``config``
    itself (``geosoil finetune`` trains through here).

    Returns
    -------
    SpectralTrainResult
    """
    config.output.required_dir()
    record = config if record is None else record
    make = spectral_estimator_factory(
        config.model, name="", target_transform=config.target_transform
    )
    spectra_cfg = config.spectra
    samples, y = load_labelled_spectra(spectra_cfg, target_transform=config.target_transform)
    groups = None
    if config.group_column is not None:
        columns = [c for c in samples.frame.columns if c != "geometry"]
        check_group_columns(
            [config.group_column], columns, source=spectra_cfg.path, field="group_column"
        )
        groups = samples.groups(config.group_column)
    train, valid = holdout_split(
        len(y), fraction=config.valid_fraction, groups=groups, seed=config.seed
    )
    seed = int(config.model.params.get("seed", config.seed))
    estimator = make(seed)
    X = samples.spectra
    log.info(
        "fitting %s on %d spectra (%d for validation)",
        config.model.estimator,
        train.size,
        valid.size,
    )
    started = time.perf_counter()
    train_groups = {} if groups is None else {"groups": groups[train]}
    valid_groups = {} if groups is None else {"groups_valid": groups[valid]}
    estimator.fit(
        X[train],
        y[train],
        axis=samples.axis,
        X_valid=X[valid],
        y_valid=y[valid],
        **train_groups,
        **valid_groups,
    )
    # With inner-CV selection the validation share joins the training spectra for the
    # final refit: its metrics are then in-sample.
    refitted = estimator.n_train_ == train.size + valid.size
    fit_seconds = time.perf_counter() - started
    transform = estimator.target_transform
    metrics = {
        "estimator": config.model.estimator,
        "target": spectra_cfg.target,
        "target_units": spectra_cfg.units,
        "n_nonpositive_dropped": samples.frame.attrs.get("n_nonpositive_dropped", 0),
        "metric_scale": transform,
        "n_train": int(train.size),
        "n_valid": int(valid.size),
        "fit_seconds": round(fit_seconds, 3),
        "train": paper_metrics(
            y[train], estimator.predict(X[train], axis=samples.axis), target_transform=transform
        ),
        "valid": paper_metrics(
            y[valid], estimator.predict(X[valid], axis=samples.axis), target_transform=transform
        ),
        "note": (
            "settings (for networks: the epoch count, by early stopping on valid) were "
            "chosen and the model refitted on train and valid, so valid metrics are "
            "in-sample; use geosoil evaluate for test skill"
            if refitted
            else "valid steered the fit (early stopping / components), so its metrics are "
            "optimistic; use geosoil evaluate for test skill"
        ),
        "cv_scores": getattr(estimator, "cv_scores_", []),
    }
    if hasattr(estimator, "best_epochs_"):
        # Networks: epochs chosen by early stopping on valid, then (final_fit: refit) the
        # networks retrained on train and valid for that many epochs.
        metrics["final_fit"] = {
            "policy": estimator.final_fit,
            "best_epochs": list(estimator.best_epochs_),
            "refit_epochs": estimator.refit_epochs_,
        }

    calibration_model = estimator
    if refitted and valid.size:
        # The delivered model trained on the validation spectra too, so their residuals are
        # in-sample: the intervals are calibrated on a copy fitted on the training part
        # alone (same settings, its own inner selection), which never saw them.
        log.info("fitting a calibration copy on the %d training spectra alone", train.size)
        calibration_model = make(seed)
        calibration_model.fit(X[train], y[train], axis=samples.axis, **train_groups)
        metrics["interval_calibration_model"] = "a copy fitted on the training part alone"
    trust = spectral_trust(
        estimator,
        samples,
        y,
        train,
        valid,
        config,
        groups=groups,
        calibration_model=calibration_model,
    )
    metrics["trust"] = spectral_trust_summary(trust, estimator, X[valid], y[valid])
    with staged_directory(config.output.dir, overwrite=config.output.overwrite) as staging:
        save_artifact(
            estimator,
            staging / ARTIFACT_NAME,
            input_spec=estimator.input_spec(),
            output_spec=OutputSpec(
                names=[spectra_cfg.target],
                units=[spectra_cfg.units],
                back_transform=transform,
            ),
            provenance=Provenance(
                data_fingerprint=data_fingerprint(samples, y),
                n_samples=len(y),
                seed=seed,
                metrics={"train": metrics["train"], "valid": metrics["valid"]},
                config=record.model_dump(mode="json"),
                parent_sha256=getattr(estimator, "parent_sha256_", None),
            ),
            preprocessing=estimator.preprocessing_.to_spec(),
            trust=trust,
        )
        history = _history_table(getattr(estimator, "history_", None))
        write_training_record(staging, metrics, history, record)
    return SpectralTrainResult.in_folder(Path(config.output.dir), metrics)


def spectral_trust(
    estimator, samples, y, train, valid, config, *, groups, calibration_model
) -> TrustLayer:
    """Spectral domain of the training spectra, split-conformal intervals from the validation
    part, the back-transform and the spectral quantity.

    ``calibration_model`` predicts the validation spectra for the intervals: the estimator
    itself when they only steered its fit (early stopping, components; the intervals may then
    be a little narrow), or a copy that never trained on them when the estimator was
    refitted on all spectra.
    """
    notes = []
    domain = None
    if config.spectral_domain:
        try:
            # Cross-validated limits over whole groups (sites) when the holdout is grouped.
            folds = None
            if groups is not None:
                folds = np.unique(np.asarray(groups)[train], return_inverse=True)[1] % 5
            domain = fit_spectral_domain(
                estimator.transform_inputs(samples.spectra[train]), fold_ids=folds
            )
        except CalibrationError as err:
            notes.append(f"no spectral domain: {err.message}")
    transform = estimator.target_transform
    scale = model_scale(transform)
    predicted = calibration_model.predict(samples.spectra[valid], axis=samples.axis)
    residuals = scale(y[valid]) - scale(predicted)
    calibration = None
    try:
        calibration = calibrate(residuals, method="split", scheme="validation")
    except CalibrationError as err:
        notes.append(f"no prediction intervals: {err.message}")
        log.warning("no prediction intervals: %s", err.message)
    back = fit_back_transform(
        transform, residuals if len(residuals) else None, estimate=config.back_transform
    )
    return TrustLayer(
        back_transform=back,
        intervals=calibration,
        spectral_domain=domain,
        spectral_quantity=samples.quantity,
        notes=tuple(notes),
    )


def spectral_trust_summary(trust: TrustLayer, estimator, X_valid, y_valid) -> dict[str, Any]:
    """What the trust layer says about the validation spectra (share in domain)."""
    out: dict[str, Any] = {
        "spectral_quantity": trust.spectral_quantity,
        "estimate": trust.back_transform.describe(),
        "notes": list(trust.notes),
    }
    if trust.spectral_domain is not None and len(X_valid):
        t2, q = trust.spectral_domain.statistics(estimator.transform_inputs(X_valid))
        out["valid_share_in_domain"] = float(trust.spectral_domain.in_domain(t2, q).mean())
        out["n_components"] = trust.spectral_domain.n_components
    if trust.intervals is not None:
        out["interval_calibration"] = {"method": "split", "n_residuals": trust.intervals.n}
    return out


def _history_table(history: Any) -> pd.DataFrame | None:
    """Per-epoch rows of a CNN's ``history_`` (one list per ensemble member), or None."""
    if not history:
        return None
    rows = [
        {"member": member, **epoch} for member, epochs in enumerate(history) for epoch in epochs
    ]
    return pd.DataFrame(rows) if rows else None
