"""``geosoil explain`` for covariate models: importance under CV folds, partial dependence.

The output folder holds::

    importance.csv            feature, importance (RMSE increase), importance_sd, share, ...
    partial_dependence.csv    feature, value, mean_prediction, categorical
    partial_dependence.png    one panel per covariate
    report.md                 both, with the folds used
    config.yaml               the resolved config

It appears only once complete.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from geosoil.artifacts import load_artifact
from geosoil.config import TrainConfig, load_config, save_config
from geosoil.config.explain import CovariateExplainConfig
from geosoil.errors import ConfigError, CovariateError
from geosoil.explain.covariates import (
    partial_dependence,
    partial_dependence_png,
    permutation_importance,
)
from geosoil.io.writers import staged_directory, write_bytes_atomic
from geosoil.models.registry import get_estimator_class
from geosoil.workflows.training_data import build_folds, read_training_table, selection_scheme

__all__ = ["CovariateExplainResult", "explain_covariates_from_config"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CovariateExplainResult:
    out_dir: Path
    importance: pd.DataFrame
    partial_dependence: pd.DataFrame
    scheme: str


def explain_covariates_from_config(config: CovariateExplainConfig) -> CovariateExplainResult:
    """Permutation importance and partial dependence of a covariate artifact.

    Raises
    ------
    ConfigError
        No output folder, a spectral artifact, or a scheme the training config cannot build.
    CovariateError
        The training data's covariates differ from the artifact's inputs.
    """
    if config.output.dir is None:
        raise ConfigError("no output folder", field="output.dir", fix="pass --out DIR")
    artifact = load_artifact(config.artifact)
    header = artifact.header
    if header.input_spec.kind != "covariates":
        raise ConfigError(
            "this artifact reads spectra, not covariates",
            path=config.artifact,
            field="artifact",
            fix="explain spectral models with a config holding `models:` and `spectra:`",
        )
    training = load_config(config.training, TrainConfig)
    table = read_training_table(training)
    names = header.input_spec.names
    X = with_map_coordinates(artifact.estimator, table, names)
    if list(X.columns) != names:
        raise CovariateError(
            f"the training data give covariates {list(X.columns)}, the model reads {names}",
            path=config.training,
            field="covariates",
            fix="name the config the artifact was trained with (config.yaml beside it)",
        )
    schemes = list(training.evaluation.schemes)
    scheme = config.scheme or selection_scheme(schemes)
    training = training.model_copy(
        update={"evaluation": training.evaluation.model_copy(update={"schemes": [scheme]})}
    )
    folds = build_folds(training, table)[scheme]
    cls = get_estimator_class(header.estimator, source=config.artifact)
    params = header.hyperparameters
    log.info("permutation importance over %d %s folds", len(folds), scheme)
    importance = permutation_importance(
        lambda: cls.from_params(params),
        X,
        table.y,
        folds,
        n_repeats=config.n_repeats,
        seed=config.seed,
    )
    categorical = [layer.name for layer in header.input_spec.layers if layer.categorical]
    curves = partial_dependence(
        artifact.estimator, X, categorical=categorical, n_points=config.pdp_points
    )
    target, units = header.output_spec.names[0], header.output_spec.units[0]
    with staged_directory(config.output.dir, overwrite=config.output.overwrite) as staging:
        write_bytes_atomic(staging / "importance.csv", importance.to_csv(index=False).encode())
        write_bytes_atomic(staging / "partial_dependence.csv", curves.to_csv(index=False).encode())
        write_bytes_atomic(
            staging / "partial_dependence.png",
            partial_dependence_png(curves, target=target, units=units),
        )
        report = _report(importance, target, units, scheme, len(folds), header.estimator)
        write_bytes_atomic(staging / "report.md", report.encode())
        save_config(config, staging / "config.yaml")
    return CovariateExplainResult(Path(config.output.dir), importance, curves, scheme)


def with_map_coordinates(estimator, table, names: list[str]) -> pd.DataFrame:
    """The training covariates, plus the sample coordinates as the inputs a kriging model
    reads them (``map_coordinates``; only those when the model reads nothing else)."""
    coordinates = list(getattr(estimator, "map_coordinates", ()))
    if not coordinates:
        return table.X
    X = table.X.assign(**dict(zip(coordinates, table.xy.T, strict=True)))
    return X[coordinates] if names == coordinates else X


def _report(importance, target, units, scheme, n_folds, estimator) -> str:
    unit = f" ({units})" if units else ""
    lines = [
        f"# What the {estimator} model of {target} learned",
        "",
        f"Permutation importance: the increase of held-out RMSE{unit} when one covariate is "
        f"shuffled within the test rows, over {n_folds} {scheme} folds (each fold's model "
        "refit on its training rows). Categorical covariates are shuffled as a whole "
        "(all their classes together).",
        "",
        "| Covariate | RMSE increase | sd over folds | share |",
        "|---|---|---|---|",
    ]
    for row in importance.itertuples(index=False):
        lines.append(
            f"| {row.feature} | {row.importance:.3g} | {row.importance_sd:.3g} | {row.share:.1%} |"
        )
    lines += [
        "",
        "## Partial dependence",
        "",
        "Mean prediction over the training rows with one covariate set to each value.",
        "",
        "![Partial dependence](partial_dependence.png)",
        "",
        "Tables: [importance.csv](importance.csv), "
        "[partial_dependence.csv](partial_dependence.csv).",
        "",
    ]
    return "\n".join(lines)
