"""``geosoil evaluate``: spectral models compared over repeated splits, with a report.

Every model is fitted on each split's training set (early stopping or the choice of PLS
components on its validation set) and scored on its test set; the report gives the mean and
sd over splits of each metric, overall and per group, observed-vs-predicted figures, and
optionally a learning curve. Per-seed models can be kept as artifacts for ``geosoil explain``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geosoil.artifacts import Provenance, load_parent_artifact, read_header, save_artifact
from geosoil.config import save_config
from geosoil.config.evaluate import (
    EvaluateConfig,
    LabelledSpectraConfig,
    SpectraConfig,
    SpectralModelConfig,
)
from geosoil.errors import ConfigError, SampleDataError, params_at
from geosoil.evaluate.learning_curve import LearningCurveResult, learning_curve
from geosoil.evaluate.repeated import RepeatedResult, run_repeated
from geosoil.evaluate.repeated_splits import Split, train_valid_test_splits
from geosoil.evaluate.spectral_report import comparison_table, write_spectral_report
from geosoil.evaluate.tables import check_group_columns
from geosoil.io.spectra import SampleSet, read_spectra
from geosoil.io.writers import staged_directory
from geosoil.models.registry import get_estimator_class
from geosoil.specs import OutputSpec
from geosoil.spectra import SpectraError, SpectralAxis
from geosoil.spectra.resample import axis_from_range

__all__ = [
    "EvaluateResult",
    "data_fingerprint",
    "evaluate_from_config",
    "load_labelled_spectra",
    "read_configured_spectra",
    "spectral_estimator_factory",
]

log = logging.getLogger(__name__)

MODELS_DIR = "models"


@dataclass(frozen=True)
class EvaluateResult:
    """What ``evaluate_from_config`` wrote and measured.

    Attributes
    ----------
    out_dir
        The output folder.
    report
        Report file key -> path (see :data:`~geosoil.evaluate.spectral_report.REPORT_FILES`).
    config
        The saved, resolved config.
    table
        Mean and sd per metric for each model, overall and per group.
    summaries
        Model -> flat overall figures (``r2_mean``, ``r2_sd``, ..., ``fit_seconds_mean``).
    models
        Model -> saved per-seed artifacts (empty without ``save_models``).
    """

    out_dir: Path
    report: dict[str, Path]
    config: Path
    table: pd.DataFrame
    summaries: dict[str, dict[str, float]]
    models: dict[str, list[Path]] = field(default_factory=dict)


def spectral_estimator_factory(
    model: SpectralModelConfig, *, name: str, target_transform: str
) -> Callable[[int], Any]:
    """A callable ``seed -> unfitted estimator`` for a model entry of a config.

    The config's ``target_transform`` is the default of the model's own; its ``seed``
    hyperparameter is replaced by the split's. Unknown estimators, non-spectral ones and
    unknown hyperparameters are refused here, before any data is read.

    Raises
    ------
    RegistryError
        The estimator name is not registered.
    ConfigError
        The estimator does not take spectra, or a hyperparameter is unknown.
    """
    from geosoil.models.spectral.base import SpectralEstimator

    where = f"models.{name}" if name else "model"
    cls = get_estimator_class(model.estimator, field=f"{where}.estimator")
    if not issubclass(cls, SpectralEstimator):
        raise ConfigError(
            f"estimator '{model.estimator}' does not learn from spectra",
            field=f"{where}.estimator",
            fix="use a spectral estimator: spectral_auto, plsr, svr, spectral_mbl, spectral_pca, "
            "spectral_cnn or spectral_resnet",
        )
    params = {"target_transform": target_transform, **model.params}
    checked = cls.from_params(params, source=f"{where}.params")  # unknown keys fail now
    # A fine-tuned network's parent, and the spectra tables that preprocessing steps are
    # fitted from (EPO's pairs), are read here, once, and handed to every fit.
    init_from = params.get("init_from")
    parent = (
        load_parent_artifact(init_from, field=f"{where}.params.init_from") if init_from else None
    )
    tables = {path: read_spectra(Path(path)) for path in dict.fromkeys(checked.table_paths())}

    def make(seed: int) -> Any:
        estimator = cls.from_params({**params, "seed": int(seed)}, source=f"{where}.params")
        estimator.attach_tables(tables)
        return estimator.attach_parent(parent) if parent is not None else estimator

    return make


def read_configured_spectra(config: SpectraConfig) -> SampleSet:
    """Read a spectra table as its config section says, resampled when it asks for it."""
    samples = read_spectra(config.path, **config.read_options())
    if config.resample is None:
        return samples
    resample = config.resample
    if resample.like is not None:
        spec = read_header(resample.like).input_spec
        if spec.axis is None:
            raise ConfigError(
                f"artifact {resample.like.name} does not take spectra",
                path=resample.like,
                field="spectra.resample.like",
                fix="name a spectral model's artifact, or give start, stop and step",
            )
        target = SpectralAxis.from_values(spec.axis, spec.axis_unit, source=resample.like)
        if target.unit != samples.axis.unit:
            raise SpectraError(
                f"the table's axis is in {samples.axis.unit} but {resample.like.name} takes "
                f"{target.unit}",
                path=config.path,
                field="spectra.resample.like",
                fix="use a model trained on the same kind of spectra (vis-NIR or MIR)",
            )
    else:
        # start/stop may run either way (4000 -> 600 cm-1 or 600 -> 4000); the resampled
        # table keeps the direction of the table's own axis.
        positions = axis_from_range(
            resample.start,
            resample.stop,
            resample.step,
            samples.axis.unit,
            field="spectra.resample",
        ).values
        descending = samples.axis.values[0] > samples.axis.values[-1]
        if (positions[0] > positions[-1]) != descending:
            positions = positions[::-1]
        target = SpectralAxis.from_values(
            positions, samples.axis.unit, source=config.path, field="spectra.resample"
        )
    log.info("resampling %s onto %s", samples.axis.describe(), target.describe())
    return samples.resample(target)


def load_labelled_spectra(
    config: LabelledSpectraConfig, *, target_transform: str
) -> tuple[SampleSet, np.ndarray]:
    """Read the spectra table and its target (positive under log10), as the config says:
    samples without a target or (``drop_nonpositive``) with a target <= 0 left out, the
    target multiplied by ``target_scale.factor``. The count left out as non-positive is
    in ``samples.frame.attrs["n_nonpositive_dropped"]``."""
    samples = read_configured_spectra(config)
    if config.drop_missing_target:
        samples = samples.drop_missing(config.target)
    dropped = 0
    if config.drop_nonpositive:
        values = samples.target(config.target)
        keep = values > 0
        dropped = int(np.count_nonzero(~keep))
        if dropped == len(values):
            raise SampleDataError(
                f"every value of '{config.target}' is zero or negative",
                path=config.path,
                field="spectra.drop_nonpositive",
                fix="check the target column and its units",
            )
        if dropped:
            log.warning(
                "%s: %d of %d samples have '%s' <= 0 and are left out (drop_nonpositive)",
                config.path.name,
                dropped,
                len(values),
                config.target,
            )
            samples = samples.subset(np.flatnonzero(keep))
    y = samples.target(config.target, positive=target_transform == "log10")
    if config.target_scale is not None:
        y = y * config.target_scale.factor
    samples.frame.attrs["n_nonpositive_dropped"] = dropped
    return samples, y


def data_fingerprint(samples: SampleSet, y: np.ndarray) -> str:
    """SHA-256 of the axis, the spectra and the target: which data a model saw."""
    digest = hashlib.sha256()
    digest.update(samples.axis.unit.encode())
    digest.update(np.ascontiguousarray(samples.axis.values, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(samples.spectra, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    return "sha256:" + digest.hexdigest()


def evaluate_from_config(config: EvaluateConfig) -> EvaluateResult:
    """Run every model over the repeated splits and write the report folder.

    The folder (report files, ``config.yaml``, and ``models/`` with ``save_models``)
    appears only once complete. Bad inputs are refused before the first fit: an unknown
    estimator or hyperparameter, a missing target, group or id column, NaN spectra, and
    non-positive targets under log10.

    Returns
    -------
    EvaluateResult
    """
    config.output.required_dir()
    transform = config.target_transform
    factories = {
        name: spectral_estimator_factory(model, name=name, target_transform=transform)
        for name, model in config.models.items()
    }
    spectra_cfg = config.spectra
    samples, y = load_labelled_spectra(spectra_cfg, target_transform=transform)
    columns = [c for c in samples.frame.columns if c != "geometry"]
    group_columns = check_group_columns(config.group_columns, columns, source=spectra_cfg.path)
    splits_cfg = config.splits
    groups = None
    if splits_cfg.scheme == "grouped":
        check_group_columns(
            [splits_cfg.group_column], columns, source=spectra_cfg.path, field="splits.group_column"
        )
        groups = samples.groups(splits_cfg.group_column)
    elif splits_cfg.scheme == "predefined":
        check_group_columns(
            [splits_cfg.fold_column], columns, source=spectra_cfg.path, field="splits.fold_column"
        )
        groups = samples.groups(splits_cfg.fold_column)
    elif splits_cfg.scheme == "holdout":
        check_group_columns(
            [splits_cfg.holdout_column],
            columns,
            source=spectra_cfg.path,
            field="splits.holdout_column",
        )
        groups = samples.frame[splits_cfg.holdout_column].to_numpy()
    splits = train_valid_test_splits(
        len(y),
        scheme=splits_cfg.scheme,
        groups=groups,
        n_seeds=splits_cfg.n_seeds,
        test_fraction=splits_cfg.test_fraction,
        valid_fraction=splits_cfg.valid_fraction,
        seed=splits_cfg.seed,
        test_value=splits_cfg.test_value,
    )
    fingerprint = data_fingerprint(samples, y)
    ids = samples.frame[spectra_cfg.id_column] if spectra_cfg.id_column else None

    with staged_directory(config.output.dir, overwrite=config.output.overwrite) as staging:
        results: dict[str, RepeatedResult] = {}
        saved: dict[str, list[Path]] = {}
        for name, make in factories.items():
            log.info("evaluating %s over %d splits", name, len(splits))
            saver = None
            if config.save_models:
                saved[name] = []
                saver = _model_saver(
                    staging / MODELS_DIR, name, config, fingerprint, saved[name], len(y)
                )
            with params_at(f"models.{name}.params"):
                results[name] = run_repeated(
                    make,
                    samples.spectra,
                    y,
                    axis=samples.axis,
                    splits=splits,
                    frame=samples.frame,
                    group_columns=group_columns,
                    target_transform=transform,
                    on_fitted=saver,
                    # inner cross-validation holds out whole groups as the outer split does
                    groups=groups if splits_cfg.scheme == "grouped" else None,
                )
        curve = _learning_curve(config, factories, samples, y, groups)
        report = write_spectral_report(
            results,
            staging,
            target=spectra_cfg.target,
            units=spectra_cfg.units,
            group_columns=group_columns,
            min_test_samples=config.min_group_test_samples,
            learning_curve=curve,
            sample_ids=ids,
            data_note=_data_note(samples, y, spectra_cfg),
            split_note=_split_note(config, splits),
            title=f"{spectra_cfg.target}: spectral model evaluation",
        )
        save_config(config, staging / "config.yaml")

    out_dir = Path(config.output.dir)
    return EvaluateResult(
        out_dir=out_dir,
        report={key: out_dir / path.name for key, path in report.items()},
        config=out_dir / "config.yaml",
        table=comparison_table(
            results,
            group_columns=group_columns,
            min_test_samples=config.min_group_test_samples,
        ),
        summaries={name: result.summary() for name, result in results.items()},
        models={
            name: [out_dir / MODELS_DIR / path.name for path in paths]
            for name, paths in saved.items()
        },
    )


def _model_saver(
    folder: Path,
    name: str,
    config: EvaluateConfig,
    fingerprint: str,
    written: list[Path],
    n_samples: int,
) -> Callable[[Split, Any, dict[str, float]], None]:
    """Save each split's fitted model as ``<name>_seed<NN>.safetensors`` in ``folder``."""
    folder.mkdir(exist_ok=True)
    spectra_cfg = config.spectra

    def save(split: Split, estimator: Any, scores: dict[str, float]) -> None:
        path = folder / f"{name}_seed{split.seed:02d}.safetensors"
        save_artifact(
            estimator,
            path,
            input_spec=estimator.input_spec(),
            output_spec=OutputSpec(
                names=[spectra_cfg.target],
                units=[spectra_cfg.units],
                back_transform=estimator.target_transform,
            ),
            provenance=Provenance(
                data_fingerprint=fingerprint,
                n_samples=int(split.train.size),
                seed=int(split.seed),
                metrics={
                    "split": {
                        "scheme": config.splits.scheme,
                        "seed": int(split.seed),
                        "n_train": int(split.train.size),
                        "n_valid": int(split.valid.size),
                        "n_test": int(split.test.size),
                        "n_samples": n_samples,
                    },
                    "test": scores,
                },
                config=config.model_dump(mode="json"),
                parent_sha256=getattr(estimator, "parent_sha256_", None),
            ),
            preprocessing=estimator.preprocessing_.to_spec(),
        )
        written.append(path)

    return save


def _learning_curve(
    config: EvaluateConfig,
    factories: dict[str, Callable[[int], Any]],
    samples: SampleSet,
    y: np.ndarray,
    groups: np.ndarray | None,
) -> LearningCurveResult | None:
    curve_cfg = config.learning_curve
    if not curve_cfg.enabled:
        return None
    names = curve_cfg.models or list(factories)
    log.info("learning curve: %s at sizes %s", ", ".join(names), curve_cfg.sizes)
    return learning_curve(
        {name: factories[name] for name in names},
        samples.spectra,
        y,
        axis=samples.axis,
        sizes=curve_cfg.sizes,
        n_seeds=curve_cfg.n_seeds,
        scheme=config.splits.scheme,
        groups=groups,
        test_fraction=config.splits.test_fraction,
        valid_fraction=config.splits.valid_fraction,
        seed=config.splits.seed,
        target_transform=config.target_transform,
    )


def _data_note(samples: SampleSet, y: np.ndarray, config: LabelledSpectraConfig) -> str:
    units = f" {config.units}" if config.units else ""
    quantity = f" of {samples.quantity}" if samples.quantity else ""
    note = (
        f"`{config.path.name}`, {len(y)} samples, spectra{quantity} on "
        f"{samples.axis.describe()}; {config.target} median {np.median(y):.3g}{units}, "
        f"range {y.min():.3g} to {y.max():.3g}{units}."
    )
    if config.target_scale is not None:
        note += f" Target multiplied by {config.target_scale.factor:g} into {config.units}."
    dropped = samples.frame.attrs.get("n_nonpositive_dropped", 0)
    if config.drop_nonpositive:
        note += f" {dropped} sample(s) with a target <= 0 left out (drop_nonpositive)."
    return note


def _split_note(config: EvaluateConfig, splits: list[Split]) -> str:
    cfg = config.splits
    first = splits[0]
    if cfg.scheme == "predefined":
        return (
            f"{len(splits)} predefined folds of `{cfg.fold_column}` (each fold the test set "
            f"once, valid {cfg.valid_fraction:.0%} drawn from the other folds; first fold: "
            f"{first.train.size} train, {first.valid.size} valid, {first.test.size} test)."
        )
    if cfg.scheme == "holdout":
        return (
            f"one fixed calibration/test split from `{cfg.holdout_column}` (test rows: "
            f"{cfg.test_value!r}): {first.train.size} train, {first.valid.size} valid, "
            f"{first.test.size} test."
        )
    how = (
        f"whole groups of `{cfg.group_column}` held out (no group in two sets)"
        if cfg.scheme == "grouped"
        else "random samples"
    )
    return (
        f"{len(splits)} {cfg.scheme} train/valid/test splits (seeds {splits[0].seed} to "
        f"{splits[-1].seed}; {how}): test {cfg.test_fraction:.0%} of the samples, valid "
        f"{cfg.valid_fraction:.0%} of the rest (first split: {first.train.size} train, "
        f"{first.valid.size} valid, {first.test.size} test)."
    )
