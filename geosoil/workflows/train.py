"""``geosoil train``: sample points + covariate rasters -> artifact + evaluation report."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from geosoil.artifacts import Provenance, save_artifact
from geosoil.config import TrainConfig, TrustConfig, save_config
from geosoil.errors import ConfigError, GeoSoilError, params_at
from geosoil.evaluate import cross_validate, on_common_rows, write_cv_report
from geosoil.evaluate.metrics import r2
from geosoil.io.writers import staged_directory
from geosoil.models.covariate.auto import COORDINATE_COLUMNS, GROUP_COLUMN, AutoCovariate
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
from geosoil.trust.layer import NOT_FOR_KRIGING
from geosoil.workflows.trained import ARTIFACT_NAME
from geosoil.workflows.training_data import (
    TrainingTable,
    build_folds,
    fold_groups,
    read_training_table,
    selection_scheme,
)

__all__ = [
    "TrainResult",
    "build_training_table",
    "estimator_factory",
    "fit_trust_from_cv",
    "spread_recorder",
    "train_from_config",
    "with_coordinates",
    "with_fold_groups",
]

log = logging.getLogger(__name__)


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
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[InputLayer]]:
    """Covariates at the sample points, the target, coordinates and input layers.

    See :func:`~geosoil.workflows.training_data.read_training_table`, which also returns
    ids, fold labels and duplicate groups.
    """
    table = read_training_table(config)
    return table.X, table.y, table.xy, table.layers


def estimator_factory(config: TrainConfig, table: TrainingTable):
    """``() -> unfitted estimator`` for the config's model (``auto``: nested selection)."""
    params = dict(config.model.params)
    categorical = [layer.name for layer in table.layers if layer.categorical]
    if config.model.estimator == "auto":
        options = {
            key: params.pop(key)
            for key in (
                "candidates",
                "candidate_params",
                "inner_splits",
                "stack",
                "krige_residuals",
                "seed",
            )
            if key in params
        }
        shared = {"categorical_features": categorical, **params}
        AutoCovariate(params=shared, **options)  # unknown candidates fail now
        return lambda: AutoCovariate(params=shared, **options)
    estimator_cls = get_estimator_class(config.model.estimator, field="model.estimator")
    if "categorical_features" in estimator_cls.param_names():
        params.setdefault("categorical_features", categorical)
    estimator_cls.from_params(params)  # refuse unknown hyperparameters early
    return lambda: estimator_cls.from_params(params)


@params_at("model.params")
def train_from_config(config: TrainConfig) -> TrainResult:
    """Cross-validate, fit on all samples and write artifact, report and config.

    With ``model.estimator: auto`` every candidate learner is also cross-validated on the
    same folds and reported beside ``auto`` (whose own score is nested), and the artifact
    holds the learner chosen on all samples. The output folder appears only when everything
    in it is complete.
    """
    if config.output.dir is None:
        raise ConfigError(
            "no output folder", field="output.dir", fix="pass --out DIR or set output.dir"
        )
    if config.model.estimator != "auto":
        get_estimator_class(config.model.estimator, field="model.estimator")
    table = read_training_table(config)
    make_estimator = estimator_factory(config, table)
    fold_sets = build_folds(config, table)
    groups = fold_groups(config, table)
    y = table.y
    X = with_coordinates(make_estimator(), table)
    target = config.samples.target
    units = config.samples.target_units
    is_auto = config.model.estimator == "auto"
    transform = config.model.params.get("target_transform", "none")
    samples = pd.DataFrame({"sample_id": table.ids, "x": table.xy[:, 0], "y": table.xy[:, 1]})

    with staged_directory(config.output.dir, overwrite=config.output.overwrite) as staging:
        results, candidates, spreads = {}, {}, {}
        for scheme, folds in fold_sets.items():
            log.info("cross-validation: %s, %d folds", scheme, len(folds))
            spreads[scheme] = np.full(len(y), np.nan)
            grouped = with_fold_groups(make_estimator(), X, groups[scheme])
            results[scheme] = cross_validate(
                make_estimator,
                grouped,
                y,
                folds,
                intervals=True,
                on_fold=spread_recorder(grouped, spreads[scheme], transform),
            )
            if is_auto:
                candidates[scheme] = candidate_results(make_estimator(), X, y, folds)
        (staging / "report").mkdir()
        summary = {scheme: result.summary() for scheme, result in results.items()}
        extra = duplicates_section(table.duplicates)
        if is_auto:
            # auto and its candidates on the same rows (a learner may abstain on a class)
            compared = {
                scheme: on_common_rows({NESTED: results[scheme], **by_name})
                for scheme, by_name in candidates.items()
            }
            extra += candidates_section(compared, len(y))
            for scheme, (by_name, _) in compared.items():
                summary[scheme]["candidates"] = {
                    name: result.pooled() for name, result in by_name.items() if name != NESTED
                }
        final_scheme = selection_scheme(fold_sets)
        log.info("final fit on all %d samples (%s groups)", len(y), final_scheme)
        final = make_estimator()
        fitted = final.fit(with_fold_groups(final, X, groups[final_scheme]), y)
        _check_final_model(fitted, X, y, summary)
        model = fitted.best_estimator_ if is_auto else fitted
        if is_auto:
            extra += selection_section(fitted, units)
        categorical = [layer.name for layer in table.layers if layer.categorical]
        trust_config = config.trust
        if model.registry_name == "ordinary_kriging":
            # no covariates, no AOA (the trust layer says why, not its age); the intervals and
            # the back-transform come from its CV residuals as for any model
            trust_config = trust_config.model_copy(update={"aoa": False})
        trust, trust_reports = fit_trust_from_cv(
            model, table.X, y, results, spreads, trust_config, categorical=categorical,
            transform=transform, seed=int(config.model.params.get("seed", 0)),
        )  # fmt: skip
        if trust is not None and model.registry_name == "ordinary_kriging":
            trust = replace(trust, notes=(*trust.notes, NOT_FOR_KRIGING))
        # a log10 model is kriged on the log scale: its variogram is in log10 units
        scale_units = units if transform != "log10" else f"log10({units or 'target'})"
        extra += variogram_section(model, scale_units)
        report = write_cv_report(
            results,
            staging / "report",
            target=target,
            units=units,
            title=f"{target}: {config.model.estimator} cross-validation",
            samples=samples,
            extra_sections=extra,
            trust=trust_reports,
        )
        pd.DataFrame(getattr(model, "history_", [])).to_csv(
            staging / "training_history.csv", index=False
        )
        metrics = dict(summary)
        if is_auto:
            metrics["selection"] = {
                "chosen": fitted.best_name_,
                "inner_folds": (
                    f"grouped as the {final_scheme} folds" if fitted.inner_grouped_ else "random"
                ),
                "delivered_as": model.registry_name,
                "inner_pooled": fitted.inner_scores_,
                "stack_weights": getattr(fitted, "weights_", None),
                "failures": fitted.failures_,
            }
        importance = getattr(model, "feature_importance", None)
        if importance is not None:
            metrics["feature_importance"] = importance()
        save_artifact(
            model,
            staging / ARTIFACT_NAME,
            input_spec=InputSpec(
                kind="covariates",
                layers=_input_layers(model, table),
                # kriging models read coordinates: the map engine moves pixels into this CRS
                crs=table.crs if getattr(model, "map_coordinates", ()) else None,
            ),
            output_spec=OutputSpec(
                names=[target],
                units=[units],
                back_transform=config.model.params.get("target_transform", "none"),
            ),
            provenance=Provenance(
                data_fingerprint=table_fingerprint(X, y),
                n_samples=len(y),
                seed=int(config.model.params.get("seed", 0)),
                metrics=metrics,
                config=config.model_dump(mode="json"),
            ),
            preprocessing=[
                {"step": "class_codes", "column": name, "codes": codes}
                for name, codes in table.class_codes.items()
            ],
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


def with_coordinates(estimator, table: TrainingTable) -> pd.DataFrame:
    """The covariates, plus the sample coordinates for an estimator that reads them
    (kriging; the other candidates of ``auto`` never see them)."""
    if not getattr(estimator, "uses_coordinates", False):
        return table.X
    return table.X.assign(**dict(zip(COORDINATE_COLUMNS, table.xy.T, strict=True)))


def with_fold_groups(estimator, X: pd.DataFrame, groups: np.ndarray | None) -> pd.DataFrame:
    """``X`` plus the outer scheme's fold groups for an estimator that selects on inner
    folds (``auto``), so that its inner folds keep the same groups whole."""
    if groups is None or not getattr(estimator, "uses_fold_groups", False):
        return X
    return X.assign(**{GROUP_COLUMN: np.asarray(groups, dtype=np.int64)})


def _input_layers(model, table: TrainingTable) -> list[InputLayer]:
    """The artifact's inputs: the covariates, or the coordinates for a kriging model."""
    coordinates = [InputLayer(name=name, units="m") for name in COORDINATE_COLUMNS]
    if model.registry_name == "ordinary_kriging":
        return coordinates
    if getattr(model, "uses_coordinates", False):
        return [*table.layers, *coordinates]
    return table.layers


def candidate_results(auto: AutoCovariate, X, y, folds) -> dict:
    """Each candidate of ``auto`` cross-validated on ``folds`` (failures left out)."""
    results = {}
    for name in auto.candidates:
        try:
            results[name] = cross_validate(lambda name=name: auto.make(name), X, y, folds)
        except (GeoSoilError, ValueError, RuntimeError) as err:
            log.warning("candidate %s failed in cross-validation: %s", name, err)
    return results


NESTED = "auto (nested)"


def candidates_section(compared: dict, n_samples: int) -> str:
    """Markdown: ``auto`` (nested) and every candidate side by side, pooled and per fold;
    ``compared`` maps each scheme to (results by learner, on the same rows; their count)."""
    lines = ["", "## Candidate learners on the same folds", ""]
    lines.append(
        "`auto` chooses a learner inside each training set (inner cross-validation on folds "
        "of the same kind: whole spatial blocks, fold ids or duplicate sets), so its score "
        "includes the choice; the candidates' rows are each learner alone."
    )
    for scheme, (rows, n_scored) in compared.items():
        n_folds = rows[NESTED].n_splits
        lines += ["", f"### {scheme}", ""]
        if n_scored < n_samples:
            lines += [
                f"Scored on the {n_scored} of {n_samples} samples every learner predicted: "
                "the others hold a class their training fold lacked, where the tree, linear "
                "and SVR learners give no prediction.",
                "",
            ]
        lines += [
            "| Learner | pooled R² | pooled RMSE | "
            + " | ".join(f"R² fold {k}" for k in range(n_folds))
            + " |",
            "|---|---|---|" + "---|" * n_folds,
        ]
        for name, result in rows.items():
            pooled = result.pooled()
            folds = " | ".join(f"{v:.3g}" for v in result.per_fold["r2"])
            lines.append(f"| {name} | {pooled['r2']:.3g} | {pooled['rmse']:.3g} | {folds} |")
    return "\n".join(lines) + "\n"


def selection_section(auto: AutoCovariate, units: str) -> str:
    """Markdown: the inner scores ``auto`` chose the delivered model by, on all samples."""
    unit = f" ({units})" if units else ""
    lines = [
        "",
        "## Choice of the delivered model (inner folds, all samples)",
        "",
        f"Inner {auto.inner_splits}-fold pooled scores "
        f"({'grouped as the outer folds' if auto.inner_grouped_ else 'random rows'}). "
        "`stack` is the blend of the candidates; `+kriged_residuals` adds ordinary kriging "
        "of that learner's residuals, kriged in each inner fold from the other folds' "
        "out-of-fold residuals (slightly optimistic: those came from models that saw this "
        "fold).",
        "",
        f"| Candidate | inner R² | inner RMSE{unit} | chosen |",
        "|---|---|---|---|",
    ]
    for name, pooled in auto.inner_scores_.items():
        chosen = "**yes**" if name == auto.best_name_ else ""
        lines.append(f"| {name} | {pooled['r2']:.3g} | {pooled['rmse']:.3g} | {chosen} |")
    for name, failure in auto.failures_.items():
        reason = failure.replace("|", "/").splitlines()[0] if failure else ""
        lines.append(f"| {name} | failed: {reason} | | |")
    return "\n".join(lines) + "\n"


def variogram_section(model, units: str) -> str:
    """Markdown: the variogram of a kriging model (or of a learner's residuals), if any."""
    kriging = getattr(model, "kriging_", model)
    variogram = getattr(kriging, "variogram_", None)
    if variogram is None:
        return ""
    what = "residuals of the learner (out of fold)" if kriging is not model else "target"
    psill, range_m, nugget = variogram["parameters"]
    lines = [
        "",
        f"## Variogram of the {what}",
        "",
        f"Model chosen automatically: **{variogram['model']}** (lowest leave-one-out cR "
        "among the models tried). Partial sill {:.4g}, range {:.4g} m, nugget {:.4g}{}.".format(
            psill, range_m, nugget, f" ({units} squared)" if units else ""
        ),
        "",
        "| Model | cR | Q1 | Q2 |",
        "|---|---|---|---|",
    ]
    for name, fit in kriging.variogram_fits_.items() if hasattr(kriging, "variogram_fits_") else []:
        lines.append(f"| {name} | {fit['cr']:.4g} | {fit['q1']:.3g} | {fit['q2']:.3g} |")
    return "\n".join(lines) + "\n"


def duplicates_section(duplicates: dict) -> str:
    """Markdown note on duplicated samples, empty when there are none."""
    n_xy, n_rows = (
        duplicates.get("n_duplicate_coordinates", 0),
        duplicates.get("n_duplicate_rows", 0),
    )
    if not (n_xy or n_rows):
        return ""
    return (
        f"\n## Duplicated samples\n\n{n_xy} sample(s) repeat the coordinates and {n_rows} "
        "repeat a whole row of another sample. They were kept together on one side of every "
        "split.\n"
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
        # regression kriging: the covariates' importance is its learner's (``base_``)
        learner = getattr(model, "base_", model)
        weights = importance_weights(learner, X.to_numpy(dtype=np.float64), y, seed=seed)
    layers, reports = {}, {}
    for scheme, result in results.items():
        rows = result.predictions
        if len(rows) != len(y) or not np.array_equal(rows["row"].to_numpy(), np.arange(len(y))):
            log.warning("scheme %s does not predict every sample once: no trust layer", scheme)
            continue
        # a spread normaliser needs the delivered model's spread at map time too
        spread = spreads.get(scheme) if getattr(model, "supports_dist", False) else None
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
