"""``geosoil explain``: wavelength attributions of spectral artifacts, per group and over seeds.

Every artifact (e.g. each seed's model saved by ``geosoil evaluate`` with
``save_models: true``) is explained on the same samples of a spectra table with
:func:`geosoil.explain.spectral_attributions`; the per-sample attributions are reduced to
mean absolute and signed attributions per band and group, then averaged over the artifacts
(mean and sd across seeds). The output folder holds::

    attributions.csv   band, group, mean_abs, sd_over_seeds, signed_mean, ...
    attributions.png   one panel per group over its mean spectrum, known bands marked
    explain.json       units, models (path, SHA-256, seed), groups, completeness check
    config.yaml        the resolved config

It appears only once complete.
"""

from __future__ import annotations

import glob
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geosoil.artifacts import Artifact, load_artifact, read_header
from geosoil.config import save_config
from geosoil.config.explain import ExplainConfig
from geosoil.errors import InputFileNotFoundError, SampleDataError
from geosoil.explain.aggregate import (
    AGGREGATE_COLUMNS,
    ALL_GROUP,
    aggregate_attributions,
    attribution_agreement,
)
from geosoil.explain.attributions import (
    Attributions,
    BaselineSpec,
    ExplainError,
    spectral_attributions,
)
from geosoil.explain.plots import write_attribution_figure, write_comparison_figure
from geosoil.io.writers import staged_directory, write_bytes_atomic

__all__ = [
    "ExplainResult",
    "Explanation",
    "explain_from_config",
    "explain_spectra",
    "load_spectral_artifacts",
    "resolve_model_paths",
    "select_rows",
]

log = logging.getLogger(__name__)

TABLE_NAME = "attributions.csv"
FIGURE_NAME = "attributions.png"
SUMMARY_NAME = "explain.json"
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class ExplainResult:
    """Paths of everything :func:`explain_from_config` wrote."""

    out_dir: Path
    table: Path
    figure: Path
    summary: Path
    config: Path
    models: list[Path]


@dataclass
class Explanation:
    """Attributions of several artifacts on one set of samples, aggregated per group.

    Attributes
    ----------
    table
        Per group and band: ``mean_abs``, ``sd_over_seeds``, ``signed_mean``,
        ``signed_sd_over_seeds``, ``n_samples``, ``n_seeds`` (see
        :func:`geosoil.explain.aggregate_attributions`).
    runs
        The per-sample attributions of each artifact, in artifact order.
    rows
        Indices of the explained samples in the spectra table.
    groups
        Group label of each explained sample (None without a group column).
    mean_spectra
        Per group (and :data:`~geosoil.explain.ALL_GROUP`), the mean raw spectrum of its
        explained samples as ``(positions, values)`` on the table's axis (the mean
        preprocessed spectrum when preprocessing changed the axis unit).
    axis_unit, target, target_transform
        Unit of the bands, name of the predicted property, scale of the attributions.
    """

    table: pd.DataFrame
    runs: list[Attributions]
    rows: np.ndarray
    groups: np.ndarray | None
    mean_spectra: dict[str, tuple[np.ndarray, np.ndarray]]
    axis_unit: str
    target: str
    target_transform: str
    models: list[Path] = field(default_factory=list)

    @property
    def value_label(self) -> str:
        """The unit text of the attributions, e.g. ``'log10 EXKM3S'``."""
        return f"log10 {self.target}" if self.target_transform == "log10" else self.target


# ----------------------------------------------------------------------------- pieces
def resolve_model_paths(
    patterns: Sequence[str | Path], *, source: Path | None = None, field: str = "models"
) -> list[Path]:
    """Artifact paths from paths and glob patterns, sorted within a pattern, no duplicates.

    Raises
    ------
    InputFileNotFoundError
        A pattern matches no file, or a plain path does not exist (nothing is skipped
        quietly: a typo would otherwise drop seeds from the aggregate).
    """
    paths: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        if _GLOB_CHARS & set(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
            matches = [p for p in matches if p.is_file()]
        else:
            matches = [Path(text)] if Path(text).is_file() else []
        if not matches:
            raise InputFileNotFoundError(
                f"no model artifact matched {text!r}",
                path=source,
                field=field,
                fix="check the path or pattern (relative to the folder geosoil runs in); "
                "`geosoil evaluate` saves per-seed models with save_models: true",
            )
        paths += [p for p in matches if p not in paths]
    return paths


def load_spectral_artifacts(paths: Sequence[str | Path]) -> list[Artifact]:
    """Load artifacts of spectral models that all read the same axis and predict one target.

    Raises
    ------
    ExplainError
        An artifact of a covariate model, or artifacts of different axes, estimators,
        targets or target transforms mixed in one set (they would be averaged as seeds).
    ArtifactError, RegistryError
        An unreadable artifact (from :func:`geosoil.artifacts.load_artifact`).
    """
    if not paths:
        raise ExplainError("no model artifact to explain", field="models", fix="list artifacts")
    headers = [read_header(p) for p in paths]
    for path, header in zip(paths, headers, strict=True):
        if header.input_spec.kind != "spectra" or header.input_spec.axis is None:
            raise ExplainError(
                f"artifact of estimator '{header.estimator}' reads {header.input_spec.kind}, "
                "not spectra",
                path=path,
                field="input_spec.kind",
                fix="geosoil explain attributes spectral models (spectral_cnn, spectral_resnet, "
                "plsr); "
                "remove covariate models from models",
            )
    first_path, first = paths[0], headers[0]
    first_axis = np.asarray(first.input_spec.axis, dtype=np.float64)
    for path, header in zip(paths[1:], headers[1:], strict=True):
        axis = np.asarray(header.input_spec.axis, dtype=np.float64)
        same_axis = (
            header.input_spec.axis_unit == first.input_spec.axis_unit
            and axis.shape == first_axis.shape
            and bool(np.all(np.abs(axis - first_axis) <= 1e-6))
        )
        if not same_axis:
            raise ExplainError(
                f"artifacts of different spectral axes are mixed: {path} reads "
                f"{_describe(header.input_spec)}, {first_path} reads "
                f"{_describe(first.input_spec)}",
                path=path,
                field="models",
                fix="explain models of one axis at a time (one run per instrument), or "
                "resample the spectra and retrain on a common axis",
            )
        if header.estimator != first.estimator:
            raise ExplainError(
                f"artifacts of different estimators are mixed: {path} is "
                f"'{header.estimator}', {first_path} is '{first.estimator}'",
                path=path,
                field="models",
                fix="aggregate the seeds of one model at a time, e.g. "
                "models/cnn_seed*.safetensors, then models/plsr_seed*.safetensors",
            )
        if (header.output_spec.names, header.output_spec.back_transform) != (
            first.output_spec.names,
            first.output_spec.back_transform,
        ):
            raise ExplainError(
                f"artifacts predict different targets: {path} gives "
                f"{header.output_spec.names} ({header.output_spec.back_transform}), "
                f"{first_path} gives {first.output_spec.names} "
                f"({first.output_spec.back_transform})",
                path=path,
                field="models",
                fix="aggregate only models of one target and target transform",
            )
    return [load_artifact(p) for p in paths]


def select_rows(
    groups: np.ndarray | None, n_rows: int, *, max_per_group: int | None, seed: int
) -> np.ndarray:
    """Indices of at most ``max_per_group`` rows per group, drawn with ``seed``, sorted.

    Without groups, all rows form one group.
    """
    if max_per_group is None:
        return np.arange(n_rows)
    labels = np.zeros(n_rows, dtype=np.int64) if groups is None else np.asarray(groups)
    rng = np.random.default_rng(seed)
    keep = []
    for label in sorted(set(labels.tolist()), key=str):
        rows = np.flatnonzero(labels == label)
        if rows.size > max_per_group:
            rows = rng.choice(rows, size=max_per_group, replace=False)
        keep.append(rows)
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)


def explain_spectra(
    artifacts: Sequence[Artifact],
    samples: Any,
    *,
    group_column: str | None = None,
    max_samples_per_group: int | None = 200,
    n_samples: int = 50,
    baselines: BaselineSpec = "mean",
    stdevs: float = 0.0,
    seed: int = 0,
    batch_size: int = 256,
) -> Explanation:
    """Attribute every artifact on the same samples and aggregate per group and over seeds.

    Parameters
    ----------
    artifacts
        Loaded spectral artifacts of one axis and target (see
        :func:`load_spectral_artifacts`).
    samples
        A :class:`geosoil.io.spectra.SampleSet` (``frame``, ``spectra``, ``axis``).
    group_column
        Column of ``samples.frame`` to group by; None: all samples in one group.
    max_samples_per_group
        Samples drawn (with ``seed``) from each group; None: all. The same samples are
        explained for every artifact, so the spread over seeds is the models' own.
    n_samples, baselines, stdevs, seed, batch_size
        Passed to :func:`geosoil.explain.spectral_attributions`; the baselines are drawn from
        all explained samples, one reference for every group.

    Raises
    ------
    SampleDataError
        The group column does not exist (the message lists the columns), or no samples.
    SpectraError
        The table is on another axis than the models (resample explicitly).
    """
    if not artifacts:
        raise ExplainError("no model artifact to explain", field="models", fix="list artifacts")
    source = getattr(samples, "source", None)
    labels = None
    if group_column is not None:
        columns = [str(c) for c in samples.frame.columns if c != "geometry"]
        if group_column not in samples.frame.columns:
            raise SampleDataError(
                f"group column '{group_column}' is not in the spectra table",
                path=source,
                field="group_column",
                fix=f"use one of the non-band columns: {', '.join(columns)}",
            )
        labels = np.asarray(samples.groups(group_column)).astype(str)
    rows = select_rows(labels, len(samples), max_per_group=max_samples_per_group, seed=seed)
    if rows.size == 0:
        raise SampleDataError(
            "the spectra table has no samples to explain", path=source, fix="check the table"
        )
    X = np.asarray(samples.spectra)[rows]
    groups = None if labels is None else labels[rows]
    runs = []
    for artifact in artifacts:
        log.info("attributions of %s on %d spectra", artifact.path.name, len(rows))
        runs.append(
            spectral_attributions(
                artifact.estimator,
                X,
                axis=samples.axis,
                baselines=baselines,
                n_samples=n_samples,
                stdevs=stdevs,
                seed=seed,
                batch_size=batch_size,
            )
        )
    table = aggregate_attributions(runs, groups=groups)
    # The raw mean spectrum is what a soil scientist recognizes; when preprocessing changed
    # the unit (a resample to another unit) the mean preprocessed spectrum is drawn instead.
    if samples.axis.unit == runs[0].axis.unit:
        positions, shown = np.asarray(samples.axis.values, dtype=np.float64), X
    else:
        positions, shown = np.asarray(runs[0].axis.values, dtype=np.float64), runs[0].inputs
    mean_spectra = {ALL_GROUP: (positions, shown.mean(axis=0, dtype=np.float64))}
    if groups is not None:
        for label in sorted(set(groups.tolist())):
            mean_spectra[label] = (positions, shown[groups == label].mean(axis=0, dtype=np.float64))
    output = artifacts[0].header.output_spec
    return Explanation(
        table=table,
        runs=runs,
        rows=rows,
        groups=groups,
        mean_spectra=mean_spectra,
        axis_unit=runs[0].axis.unit,
        target=output.names[0] if output.names else "target",
        target_transform=output.back_transform,
        models=[a.path for a in artifacts],
    )


# ----------------------------------------------------------------------------- workflow
def explain_from_config(config: ExplainConfig, *, source: Path | None = None) -> ExplainResult:
    """Explain the configured artifacts and write table, figure, summary and config.

    The output folder appears only when everything in it is complete; inputs are checked
    (artifacts found and consistent, group column present) before anything is computed.
    """
    from geosoil.workflows.evaluate import read_configured_spectra

    config.output.required_dir()
    sets = {
        name: resolve_model_paths(
            patterns,
            source=source,
            field="models" if isinstance(config.models, list) else f"models.{name}",
        )
        for name, patterns in config.model_sets().items()
    }
    artifacts = {name: load_spectral_artifacts(paths) for name, paths in sets.items()}
    samples = read_configured_spectra(config.spectra)
    quantity = getattr(samples, "quantity", None)
    spectrum_label = f"mean {quantity}" if quantity else "mean spectrum"
    out_dir = Path(config.output.dir)
    with staged_directory(out_dir, overwrite=config.output.overwrite) as staging:
        explanations = {
            name: explain_spectra(
                loaded,
                samples,
                group_column=config.group_column,
                max_samples_per_group=config.max_samples_per_group,
                n_samples=config.n_samples,
                baselines=config.baselines,
                stdevs=config.stdevs,
                seed=config.seed,
                batch_size=config.batch_size,
            )
            for name, loaded in artifacts.items()
        }
        if isinstance(config.models, list):
            (explanation,) = explanations.values()
            (loaded,) = artifacts.values()
            explanation.table.to_csv(staging / TABLE_NAME, index=False)
            write_attribution_figure(
                staging / FIGURE_NAME,
                explanation.table,
                axis_unit=explanation.axis_unit,
                mean_spectra=explanation.mean_spectra,
                value_label=explanation.value_label,
                spectrum_label=spectrum_label,
                title=_title(explanation, loaded),
            )
            summary = _summary(explanation, loaded, config)
        else:
            _write_comparison(staging, explanations, spectrum_label)
            summary = {
                "sets": {
                    name: _summary(explanations[name], artifacts[name], config)
                    for name in explanations
                },
                "agreement": _agreement(explanations),
            }
        write_bytes_atomic(staging / SUMMARY_NAME, json.dumps(summary, indent=2).encode())
        save_config(config, staging / "config.yaml")
    return ExplainResult(
        out_dir=out_dir,
        table=out_dir / TABLE_NAME,
        figure=out_dir / FIGURE_NAME,
        summary=out_dir / SUMMARY_NAME,
        config=out_dir / "config.yaml",
        models=[path for paths in sets.values() for path in paths],
    )


def _write_comparison(
    staging: Path, explanations: dict[str, Explanation], spectrum_label: str
) -> None:
    """One table with a ``model_set`` column, and the sets side by side in one figure."""
    table = pd.concat(
        [e.table.assign(model_set=name) for name, e in explanations.items()], ignore_index=True
    )
    table[["model_set", *AGGREGATE_COLUMNS]].to_csv(staging / TABLE_NAME, index=False)
    first = next(iter(explanations.values()))
    write_comparison_figure(
        staging / FIGURE_NAME,
        {name: e.table for name, e in explanations.items()},
        axis_unit=first.axis_unit,
        mean_spectra=first.mean_spectra,
        value_labels={name: e.value_label for name, e in explanations.items()},
        spectrum_label=spectrum_label,
        title="attributions compared: "
        + " | ".join(f"{name} ({e.target})" for name, e in explanations.items()),
    )


def _agreement(explanations: dict[str, Explanation]) -> list[dict[str, Any]]:
    """Rank agreement of each pair of sets over all explained samples."""
    names = list(explanations)
    pairs = []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            pairs.append(
                {
                    "first": first,
                    "second": second,
                    **attribution_agreement(explanations[first].table, explanations[second].table),
                }
            )
    return pairs


def _title(explanation: Explanation, artifacts: Sequence[Artifact]) -> str:
    estimators = sorted({a.header.estimator for a in artifacts})
    return (
        f"{explanation.target}: {', '.join(estimators)} attributions "
        f"({len(artifacts)} model(s), {explanation.runs[0].method})"
    )


def _summary(
    explanation: Explanation, artifacts: Sequence[Artifact], config: ExplainConfig
) -> dict[str, Any]:
    groups = explanation.table.groupby("group", sort=False)["n_samples"].first()
    return {
        "target": explanation.target,
        "target_transform": explanation.target_transform,
        "attribution_units": explanation.value_label,
        "axis_unit": explanation.axis_unit,
        "n_bands": len(explanation.runs[0].axis),
        "group_column": config.group_column,
        "n_samples_by_group": {str(k): int(v) for k, v in groups.items()},
        "models": [
            {
                "path": str(a.path),
                "sha256": a.sha256,
                "estimator": a.header.estimator,
                "seed": a.header.provenance.seed,
                "method": run.method,
                "n_members": run.n_members,
                # GradientShap's completeness: sum of attributions ~ f(x) - E[f(b)]; the
                # ratio says how well n_samples draws converged (0 for linear models).
                "completeness_gap_rel": _relative_gap(run),
            }
            for a, run in zip(artifacts, explanation.runs, strict=True)
        ],
        "gradient_shap": {
            "n_samples": config.n_samples,
            "baselines": config.baselines,
            "stdevs": config.stdevs,
            "seed": config.seed,
        },
    }


def _relative_gap(run: Attributions) -> float:
    scale = float(np.mean(np.abs(run.outputs - run.baseline_output)))
    gap = float(np.mean(np.abs(run.completeness_gap)))
    return gap / scale if scale > 0 else gap


def _describe(spec) -> str:
    axis = spec.axis or []
    if not axis:
        return "no axis"
    return f"{len(axis)} bands, {axis[0]:g}-{axis[-1]:g} {spec.axis_unit}"
