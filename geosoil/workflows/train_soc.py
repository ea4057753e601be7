"""``geosoil train`` on SOC profiles: a BINN or ScIReN artifact, its metrics and CV report.

Output folder (written whole or not at all):

``model.safetensors``
    The fitted model; inputs: the covariates, then the forcings (``forcings.<name>``);
    output: SOC density (g C m-3) at depth.
``metrics.json``
    Fit on all profiles (pooled over every observation), the best validation NSE of the
    training run, sizes and times; with ``cv.enabled`` the CV summary too.
``training_history.csv``
    One row per epoch.
``cv_metrics.csv``, ``cv_predictions.csv``, ``report.md``
    With ``cv.enabled``: per-fold metrics, out-of-fold predictions and a Markdown report.
    With ``cv.intervals`` (default) the artifact's trust layer stores a conformal calibration
    of the out-of-fold residuals (:mod:`geosoil.trust.profiles`), the predictions table
    gains ``predicted_lo``/``predicted_hi`` (each fold's bounds calibrated on the other
    folds) and the report and ``metrics.json`` (``cv.intervals``) give their PICP and mean
    width.
``readout.csv``, ``readout.png``
    ScIReN only: every learned (covariate -> parameter) function, and a figure of the
    continuous covariates with the largest effect.
``config.yaml``
    The config that was run.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geosoil.artifacts import Provenance, save_artifact
from geosoil.config.soc_cells import SocTrainConfig
from geosoil.errors import (
    CalibrationError,
    ConfigError,
    GeoSoilError,
    InputFileNotFoundError,
    params_at,
)
from geosoil.evaluate.profiles import ProfileCVResult, cross_validate_profiles, profile_metrics
from geosoil.io.profiles import FORCING_SHAPES, ProfileSet, read_binn_ny
from geosoil.io.writers import staged_directory, write_bytes_atomic
from geosoil.models.registry import get_estimator_class
from geosoil.trust.layer import TrustLayer
from geosoil.workflows.trained import ARTIFACT_NAME, TrainedModelResult, write_training_record

__all__ = [
    "SocTrainResult",
    "profile_fingerprint",
    "read_profile_folder",
    "train_soc_from_config",
]

log = logging.getLogger(__name__)

READOUT_FIGURE_COVARIATES = 8  # columns of readout.png: the strongest continuous covariates


@dataclass(frozen=True)
class SocTrainResult(TrainedModelResult):
    """Paths of everything ``train_soc_from_config`` wrote, and its metrics."""

    report: Path | None


def read_profile_folder(
    folder: Path,
    *,
    part: str,
    drop_incomplete: bool,
    drop_empty: bool = False,
    section: str = "profiles",
) -> ProfileSet:
    """:func:`~geosoil.io.profiles.read_binn_ny` with errors that name the config keys.

    ``section`` is the config section holding ``path``, ``drop_incomplete`` and
    ``drop_empty`` (``profiles`` or ``cells``).

    Raises
    ------
    InputFileNotFoundError
        The folder, its part folder or one of its files is missing.
    SampleDataError
        As ``read_binn_ny``; rows with missing values or without observations name
        ``<section>.drop_incomplete`` / ``<section>.drop_empty``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileNotFoundError(
            "profile folder not found",
            path=folder,
            field=f"{section}.path",
            fix="point it at a folder in the binn_ny layout (Training_Data/, "
            "Prediction_Data/), e.g. one written by `geosoil synth --profiles soc`",
        )
    try:
        return read_binn_ny(
            folder, part=part, drop_incomplete=drop_incomplete, drop_empty=drop_empty
        )
    except GeoSoilError as err:
        raise _with_config_field(err, section) from err


def _with_config_field(err: GeoSoilError, section: str) -> GeoSoilError:
    """The reader's error, its field and fix restated as keys of the config section."""
    fix = err.fix or ""
    for option in ("drop_empty", "drop_incomplete"):
        if f"{option}=True" in fix:
            return type(err)(
                err.message,
                path=err.path,
                field=f"{section}.{option}",
                fix=fix.replace(f"pass {option}=True", f"set {section}.{option}: true"),
            )
    if err.field == "part":  # the part's folder is missing: the path is wrong
        return type(err)(err.message, path=err.path, field=f"{section}.path", fix=err.fix)
    return err


@params_at("model.params")
def train_soc_from_config(config: SocTrainConfig) -> SocTrainResult:
    """Read the profiles, optionally cross-validate, fit, and write the output folder.

    Returns
    -------
    SocTrainResult

    Raises
    ------
    ConfigError
        No output folder, unknown hyperparameters or more folds than profiles.
    InputFileNotFoundError, SampleDataError
        The profile folder is missing, incomplete or unusable (see
        :func:`read_profile_folder`).
    """
    config.output.required_dir()
    estimator_cls = get_estimator_class(config.model.estimator, field="model.estimator")
    params = dict(config.model.params)
    estimator_cls.from_params(params)  # refuse unknown hyperparameters before reading
    cfg = config.profiles
    profiles = read_profile_folder(
        cfg.path, part=cfg.part, drop_incomplete=cfg.drop_incomplete, drop_empty=cfg.drop_empty
    )
    if config.cv.enabled and config.cv.n_folds > profiles.n_profiles:
        raise ConfigError(
            f"{config.cv.n_folds} folds for {profiles.n_profiles} profiles",
            field="cv.n_folds",
            fix=f"use at most {profiles.n_profiles} folds, or disable cv",
        )

    def make_estimator():
        return estimator_cls.from_params(params)

    with staged_directory(config.output.dir, overwrite=config.output.overwrite) as staging:
        cv = None
        trust, intervals = TrustLayer(notes=(_NO_CV,)), None
        if config.cv.enabled:
            log.info("cross-validation: %d folds", config.cv.n_folds)
            cv = cross_validate_profiles(
                make_estimator, profiles, n_folds=config.cv.n_folds, seed=config.cv.seed
            )
            baselines = _cross_validate_baselines(config, profiles)
            comparison = compare_with_baselines(config.model.estimator, cv, baselines)
            if config.cv.intervals:
                trust, intervals = _fit_intervals(cv, level=config.cv.interval_level)
            else:
                trust = TrustLayer(notes=("no prediction intervals: cv.intervals was off",))
            _write_cv(
                cv,
                staging,
                title=f"SOC: {config.model.estimator} cross-validation",
                comparison=comparison,
                intervals=intervals,
            )
        log.info("fitting %s on %d profiles", config.model.estimator, profiles.n_profiles)
        started = time.perf_counter()
        model = make_estimator().fit(profiles)
        fit_seconds = time.perf_counter() - started
        metrics = _metrics(config, model, profiles, fit_seconds, cv)
        if cv is not None:
            metrics["cv"]["comparison"] = comparison
            if intervals is not None:
                metrics["cv"]["intervals"] = intervals[0]
        save_artifact(
            model,
            staging / ARTIFACT_NAME,
            provenance=Provenance(
                data_fingerprint=profile_fingerprint(profiles),
                n_samples=profiles.n_profiles,
                seed=int(params.get("seed", 0)),
                metrics={"fit": metrics["fit"], **({"cv": metrics["cv"]} if cv else {})},
                config=config.model_dump(mode="json"),
            ),
            trust=trust,
        )
        if hasattr(model, "read_out") and model.encoder == "kan":
            _write_readout(model, staging)
        write_training_record(staging, metrics, pd.DataFrame(model.history_), config)

    out_dir = Path(config.output.dir)
    report = out_dir / "report.md" if cv is not None else None
    return SocTrainResult.in_folder(out_dir, metrics, report=report)


_NO_CV = "no prediction intervals: they are calibrated on the cross-validation (cv.enabled)"


def _fit_intervals(cv: ProfileCVResult, *, level: float):
    """The trust layer from the out-of-fold residuals, and (report, low, high) of each
    observation's cross-conformal bounds; an empty layer that says why, and None, when
    there are too few residuals."""
    from geosoil.trust.profiles import (
        ProfileOutOfFold,
        fit_profile_trust,
        profile_interval_report,
    )

    oof = ProfileOutOfFold.from_table(cv.predictions)
    try:
        trust = fit_profile_trust(oof, level=level)
    except CalibrationError as err:
        log.warning("no prediction intervals: %s", err.message)
        return TrustLayer(notes=(f"no prediction intervals: {err.message}",)), None
    return trust, profile_interval_report(oof, trust, level=level)


def profile_fingerprint(profiles: ProfileSet) -> str:
    """SHA-256 of a profile set's ids, covariates, forcings and observations."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(profiles.profile_id, dtype=np.int64).tobytes())
    digest.update("\x1f".join(map(str, profiles.covariates.columns)).encode())
    digest.update(np.ascontiguousarray(profiles.covariates.to_numpy(np.float64)).tobytes())
    for name in FORCING_SHAPES:
        digest.update(np.ascontiguousarray(profiles.forcings[name], dtype=np.float64).tobytes())
    for values in (profiles.soc, profiles.depth_m):
        if values is not None:
            digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return "sha256:" + digest.hexdigest()


def _metrics(
    config: SocTrainConfig,
    model,
    profiles: ProfileSet,
    fit_seconds: float,
    cv: ProfileCVResult | None,
) -> dict[str, Any]:
    monitored = [row["monitor_nse"] for row in model.history_ if np.isfinite(row["monitor_nse"])]
    metrics: dict[str, Any] = {
        "estimator": config.model.estimator,
        "units": "g C m-3",
        "n_profiles": profiles.n_profiles,
        "n_observations": int(profiles.observation_counts().sum()),
        "n_train": model.n_train_,
        "n_valid": model.n_valid_,
        "epochs": len(model.history_),
        "best_epoch": model.best_epoch_,
        "fit_seconds": round(fit_seconds, 3),
        "best_monitor_nse": max(monitored) if monitored else float("nan"),
        "monitor": "validation" if model.n_valid_ else "training",
        "fit": profile_metrics(profiles.soc, model.predict(profiles)),
        "note": "fit pools every profile (training and validation parts); use cv for test skill",
    }
    if cv is not None:
        metrics["cv"] = {"n_folds": cv.n_folds, **cv.summary()}
    return metrics


def _cross_validate_baselines(
    config: SocTrainConfig, profiles: ProfileSet
) -> dict[str, ProfileCVResult]:
    """The configured baselines under the model's folds (same ``n_folds`` and ``seed``)."""
    from geosoil.baselines.soc import DepthMeanSOC, ProfileGBM

    makers = {"depth_only": DepthMeanSOC, "gbm": lambda: ProfileGBM(seed=config.cv.seed)}
    results = {}
    for name in config.cv.baselines:
        log.info("baseline %s under the same %d folds", name, config.cv.n_folds)
        results[name] = cross_validate_profiles(
            makers[name], profiles, n_folds=config.cv.n_folds, seed=config.cv.seed
        )
    return results


def compare_with_baselines(
    model_name: str, cv: ProfileCVResult, baselines: dict[str, ProfileCVResult]
) -> dict[str, Any]:
    """Per model: NSE mean, sd and pooled, RMSE, share of profiles beating the depth baseline.

    Returns
    -------
    dict
        ``models`` (name -> figures) and ``winner`` (highest mean NSE over folds).
    """
    from geosoil.baselines.soc import share_beating

    results = {model_name: cv, **baselines}
    depth = baselines.get("depth_only")
    models = {}
    for name, result in results.items():
        summary = result.summary()
        figures = {
            "nse_mean": summary["mean"]["nse"],
            "nse_sd": summary["sd"]["nse"],
            "nse_pooled": summary["pooled"]["nse"],
            "rmse_mean": summary["mean"]["rmse"],
            "rmse_pooled": summary["pooled"]["rmse"],
        }
        if depth is not None:
            table = result.predictions
            figures["share_profiles_beating_depth_only"] = share_beating(
                table["observed"],
                table["predicted"],
                depth.predictions["predicted"],
                table["profile_id"],
            )
        models[name] = figures
    winner = max(models, key=lambda name: models[name]["nse_mean"])
    return {"models": models, "winner": winner}


def _comparison_markdown(comparison: dict[str, Any]) -> str:
    header = "| model | NSE mean +- sd | pooled NSE | RMSE (pooled) | profiles beating depth-only |"
    lines = [header, "|---|---|---|---|---|"]
    for name, f in comparison["models"].items():
        share = f.get("share_profiles_beating_depth_only", float("nan"))
        lines.append(
            f"| {name} | {f['nse_mean']:.3f} +- {f['nse_sd']:.3f} | {f['nse_pooled']:.3f} | "
            f"{f['rmse_pooled']:.1f} | {share:.0%} |"
        )
    lines.append("")
    lines.append(f"Best by mean NSE over folds: **{comparison['winner']}**.")
    return "\n".join(lines)


def _write_cv(
    cv: ProfileCVResult,
    staging: Path,
    *,
    title: str,
    comparison: dict[str, Any] | None = None,
    intervals: tuple[dict, np.ndarray, np.ndarray] | None = None,
) -> None:
    write_bytes_atomic(staging / "cv_metrics.csv", cv.per_fold.to_csv(index=False).encode())
    table = cv.predictions
    if intervals is not None:
        table = table.assign(predicted_lo=intervals[1], predicted_hi=intervals[2])
    write_bytes_atomic(staging / "cv_predictions.csv", table.to_csv(index=False).encode())
    pooled = cv.pooled()
    text = (
        f"# {title}\n\n"
        f"{cv.n_folds} folds over whole profiles; SOC density in g C m-3. NSE and R2 pool "
        "every observation of a fold's test profiles (see geosoil.evaluate.profiles).\n\n"
        f"{cv.to_markdown()}\n\n"
        f"Pooled out-of-fold NSE {pooled['nse']:.3f} over {pooled['n']} observations.\n"
    )
    if comparison is not None and len(comparison["models"]) > 1:
        text += (
            "\n## Against baselines under the same folds\n\n"
            "depth_only: mean SOC per depth interval, no covariates; gbm: LightGBM on the "
            "covariates plus depth (geosoil.baselines.soc).\n\n"
            f"{_comparison_markdown(comparison)}\n"
        )
    if intervals is not None:
        text += _intervals_markdown(intervals[0])
    write_bytes_atomic(staging / "report.md", text.encode())


def _intervals_markdown(report: dict[str, Any]) -> str:
    scale = {
        "log10": "log10 SOC density (multiplicative bounds)",
        "model": "SOC density (width in g C m-3, lower bound cut at 0)",
    }[report["scale"]]
    norm = {
        "none": "the same everywhere",
        "depth": "scaled by the residual spread of the observation's depth interval",
    }[report["normalisation"]]
    lines = [
        f"\n## Prediction intervals ({report['level']:.0%}, conformal)\n",
        f"Calibrated on {report['n_residuals']} out-of-fold residuals of {scale}, {norm}; "
        "scale and normaliser chosen on this CV by the narrowest cross-conformal interval "
        "(geosoil.trust.profiles). Scored with each fold's bounds calibrated on the other "
        "folds:\n",
        f"PICP **{report['picp']:.3f}** (nominal {report['level']:.2f}), mean width "
        f"**{report['mean_width']:.0f}** g C m-3 over {report['n']} observations.\n",
        "| depth (m) | n | PICP | mean width (g C m-3) |",
        "|---|---|---|---|",
    ]
    for row in report["by_depth"]:
        bottom = "" if row["bottom_m"] is None else f"{row['bottom_m']:g}"
        width = "inf" if row["mean_width"] is None else f"{row['mean_width']:.0f}"
        lines.append(f"| {row['top_m']:g}-{bottom} | {row['n']} | {row['picp']:.3f} | {width} |")
    return "\n".join(lines) + "\n"


def _write_readout(model, staging: Path) -> None:
    from geosoil.models.soc.kan import plot_read_out

    table = model.read_out()
    write_bytes_atomic(staging / "readout.csv", table.to_csv(index=False).encode())
    continuous = table[table["covariate"].isin(model.coding_.continuous)]
    if continuous.empty:
        return
    # The KAN's contribution (before squashing) is comparable across parameters.
    span = continuous.groupby(["covariate", "parameter"])["contribution"].agg(np.ptp)
    strongest = span.groupby("covariate").max().sort_values(ascending=False)
    chosen = list(strongest.index[:READOUT_FIGURE_COVARIATES])
    figure = continuous.assign(x=continuous["x_scaled"]).rename(columns={"parameter": "output"})
    plot_read_out(
        figure, staging / "readout.png", covariates=chosen, outputs=model.learned_parameters_
    )
