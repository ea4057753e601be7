"""Configs of the spectral workflows: ``geosoil evaluate`` and ``geosoil train`` on spectra.

The ``spectra:`` section mirrors the options of :func:`geosoil.io.spectra.read_spectra`, so a
table is read the same way by every workflow (evaluate, train, explain).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from geosoil.config.base import StrictModel
from geosoil.config.common import EstimatorConfig, OutputConfig

__all__ = [
    "EvaluateConfig",
    "LabelledSpectraConfig",
    "LearningCurveConfig",
    "ResampleConfig",
    "SpectraConfig",
    "SpectralModelConfig",
    "SpectralTrainConfig",
    "SplitsConfig",
    "TargetScaleConfig",
]


TARGET_TRANSFORM = "scale the target is learned on: log10 for skewed properties (Kex, Pb)"
VALID_FRACTION = "share of the samples held out for early stopping or the choice of components"
SEED = "seed of the validation split and of the model"


class ResampleConfig(StrictModel):
    """Spectra interpolated linearly onto another axis: never silent, never extrapolated.

    Either a regular axis ``start``..``stop`` every ``step`` (in the table's unit), or
    ``like``: the input axis of an artifact (e.g. the parent model of a fine-tune).
    """

    start: float | None = Field(
        default=None, description="first band of the new axis, in the table's unit (cm-1 or nm)"
    )
    stop: float | None = Field(
        default=None, description="last band of the new axis (included), in the table's unit"
    )
    step: float | None = Field(
        default=None, gt=0, description="band spacing of the new axis, in the table's unit"
    )
    like: Path | None = Field(default=None, description="artifact whose input axis to use")

    @model_validator(mode="after")
    def _one_target(self) -> ResampleConfig:
        regular = (self.start, self.stop, self.step)
        if self.like is not None and any(v is not None for v in regular):
            raise ValueError("spectra.resample takes either like or start/stop/step, not both")
        if self.like is None and any(v is None for v in regular):
            raise ValueError("spectra.resample needs start, stop and step (or like: ARTIFACT)")
        return self


class SpectraConfig(StrictModel):
    """A wide spectra table (CSV or Parquet) and how to read it.

    Every key except ``path`` and ``resample`` is passed unchanged to
    :func:`geosoil.io.spectra.read_spectra`; see :meth:`read_options`. ``resample`` is
    applied to what was read.
    """

    path: Path = Field(description="spectra table: CSV or Parquet, one row per scan")
    id_column: str | None = Field(
        default=None, description="sample id; replicate scans of one id are averaged"
    )
    average_replicates: bool = Field(
        default=True, description="average the scans of one id_column value into one spectrum"
    )
    axis_unit: Literal["cm-1", "nm"] | None = Field(
        default=None, description="unit of bare numeric band columns (e.g. KSSL '4000')"
    )
    drop_bands: list[str | float] = Field(
        default_factory=list,
        description="band columns to leave out, by name ('wn_599.8') or position (599.8)",
    )
    drop_nan_bands: bool = Field(
        default=False, description="leave out band columns that are mostly NaN"
    )
    x_column: str | None = Field(
        default=None, description="easting/longitude column: the spectra become points"
    )
    y_column: str | None = Field(default=None, description="northing/latitude column")
    crs: str | None = Field(default=None, description="CRS of x/y columns, e.g. EPSG:4326")
    quantity: Literal["absorbance", "reflectance"] | None = Field(
        default=None, description="what the values are, when the column names do not tell"
    )
    resample: ResampleConfig | None = Field(
        default=None, description="interpolate the spectra onto another axis after reading"
    )
    convert_quantity: bool = Field(
        default=False,
        description="convert absorbance <-> reflectance to the model's quantity instead of "
        "refusing spectra of the other quantity",
    )

    @model_validator(mode="after")
    def _both_coordinates(self) -> SpectraConfig:
        if (self.x_column is None) != (self.y_column is None):
            raise ValueError("set both spectra.x_column and spectra.y_column, or neither")
        return self

    def read_options(self) -> dict[str, Any]:
        """Keyword arguments of ``read_spectra`` (not ``path``, ``resample``); unset omitted."""
        options: dict[str, Any] = {"average_replicates": self.average_replicates}
        for name in ("id_column", "axis_unit", "x_column", "y_column", "crs", "quantity"):
            value = getattr(self, name)
            if value is not None:
                options[name] = value
        if self.drop_bands:
            options["drop_bands"] = list(self.drop_bands)
        if self.drop_nan_bands:
            options["drop_nan_bands"] = True
        return options


class TargetScaleConfig(StrictModel):
    """The target column multiplied by ``factor`` on reading, then in ``units``.

    E.g. exchangeable K in mg/kg to cmol(+)/kg: ``{factor: 0.002557, units: cmol(+)/kg}``
    (1 cmol(+)/kg of K is 391 mg/kg).
    """

    factor: float = Field(gt=0, description="multiplier applied to the target column")
    units: str = Field(default="", description="units of the scaled target (required)")

    @model_validator(mode="after")
    def _units_given(self) -> TargetScaleConfig:
        if not self.units.strip():
            raise ValueError(
                "spectra.target_scale needs units: the units of the target after scaling "
                "(e.g. units: cmol(+)/kg), so reports and maps are labelled correctly"
            )
        return self


class LabelledSpectraConfig(SpectraConfig):
    """A spectra table with the target column to learn."""

    target: str = Field(description="column holding the soil property to learn")
    target_units: str = Field(default="", description="units of the target, written to outputs")
    drop_missing_target: bool = Field(
        default=False, description="leave out (and log) samples without a target value"
    )
    target_scale: TargetScaleConfig | None = Field(
        default=None, description="convert the target's units on reading: factor and units"
    )
    drop_nonpositive: bool = Field(
        default=False,
        description="leave out samples whose target is zero or negative (e.g. below "
        "detection) so that a log10 target can be learned; the count is reported",
    )

    @property
    def units(self) -> str:
        """Units of the target as learned: ``target_scale.units`` or ``target_units``."""
        return self.target_scale.units if self.target_scale else self.target_units


class SpectralModelConfig(EstimatorConfig):
    """A spectral estimator: ``spectral_auto``, ``plsr``, ``svr``, ``spectral_mbl``,
    ``spectral_pca``, ``spectral_cnn`` or ``spectral_resnet``."""


class SplitsConfig(StrictModel):
    """Repeated train/valid/test splits (the paper: 20 random splits, 10 % test, 10 % valid).

    ``valid_fraction`` is a share of what remains after the test set is taken, as in the
    paper. With ``scheme: grouped`` whole groups of ``group_column`` (a site, a profile) go to
    test and to valid, so no group straddles train and test. With ``scheme: predefined`` the
    folds of ``fold_column`` (a published cross-validation) are the test sets in turn, one
    split per fold up to ``n_seeds``, and valid is drawn from the other folds. With
    ``scheme: holdout`` one fixed calibration/test split (an external test set): the rows
    whose ``holdout_column`` equals ``test_value`` are the test set, all others train.
    """

    scheme: Literal["random", "grouped", "predefined", "holdout"] = Field(
        default="random",
        description="random rows, whole groups of group_column, published folds, or one "
        "fixed calibration/test split",
    )
    group_column: str | None = Field(
        default=None, description="with scheme 'grouped': the group (site, profile) column"
    )
    fold_column: str | None = Field(
        default=None, description="with scheme 'predefined': the published fold of each sample"
    )
    holdout_column: str | None = Field(
        default=None, description="with scheme 'holdout': marks each sample calibration or test"
    )
    test_value: str = Field(
        default="test", description="with scheme 'holdout': the value marking test rows"
    )
    n_seeds: int = Field(default=20, ge=1, description="number of repeated splits")
    test_fraction: float = Field(
        default=0.1, gt=0, lt=1, description="share of the samples (or groups) in each test set"
    )
    valid_fraction: float = Field(
        default=0.1, gt=0, lt=1, description="share of what remains after test, for validation"
    )
    seed: int = Field(default=0, ge=0, description="seed of the first split; split i uses seed+i")

    @model_validator(mode="after")
    def _grouping(self) -> SplitsConfig:
        if self.scheme == "grouped" and self.group_column is None:
            raise ValueError("splits.scheme 'grouped' needs splits.group_column (e.g. a site id)")
        if self.scheme != "grouped" and self.group_column is not None:
            raise ValueError("splits.group_column is only used with splits.scheme: grouped")
        if self.scheme == "predefined" and self.fold_column is None:
            raise ValueError("splits.scheme 'predefined' needs splits.fold_column (e.g. 'fold')")
        if self.scheme != "predefined" and self.fold_column is not None:
            raise ValueError("splits.fold_column is only used with splits.scheme: predefined")
        if self.scheme == "holdout" and self.holdout_column is None:
            raise ValueError(
                "splits.scheme 'holdout' needs splits.holdout_column (e.g. 'set', with "
                "'test' on the test rows)"
            )
        if self.scheme != "holdout" and self.holdout_column is not None:
            raise ValueError("splits.holdout_column is only used with splits.scheme: holdout")
        return self


class LearningCurveConfig(StrictModel):
    """R2 on one fixed test set against the number of training spectra, per model."""

    enabled: bool = Field(default=False, description="compute the learning curve")
    sizes: list[float] = Field(
        default_factory=lambda: [0.1, 0.25, 0.5, 1.0],
        description="training sizes: counts (> 1) or shares of the non-test pool (<= 1)",
    )
    n_seeds: int = Field(default=3, ge=1, description="repeats of each training size")
    models: list[str] | None = Field(
        default=None, description="names from models:; every model when null"
    )

    @field_validator("sizes")
    @classmethod
    def _positive_sizes(cls, sizes: list[float]) -> list[float]:
        if not sizes:
            raise ValueError("learning_curve.sizes needs at least one size")
        if any(size <= 0 for size in sizes):
            raise ValueError("learning_curve.sizes must be positive counts or shares")
        return sizes


class EvaluateConfig(StrictModel):
    """``geosoil evaluate``: spectral models compared over repeated splits, report written.

    ``target_transform`` is the scale of the skill metrics (R2, LCCC, RPD, RPIQ on log10,
    RMSE, MAE, MAPE and bias back-transformed, as the paper) and the default
    ``target_transform`` hyperparameter of every model that does not set its own.
    """

    spectra: LabelledSpectraConfig
    models: dict[str, SpectralModelConfig] = Field(
        min_length=1, description="name -> estimator and params; names become file names"
    )
    target_transform: Literal["none", "log10"] = Field(
        default="log10",
        description="scale of R2, LCCC, RPD, RPIQ, and the target_transform of every model "
        "that sets none",
    )
    splits: SplitsConfig = Field(default_factory=SplitsConfig)
    group_columns: list[str] = Field(
        default_factory=list, description="columns for per-group tables (soil order, site)"
    )
    min_group_test_samples: int = Field(
        default=10, ge=2, description="groups with fewer test samples per seed are flagged"
    )
    learning_curve: LearningCurveConfig = Field(default_factory=LearningCurveConfig)
    save_models: bool = Field(
        default=False, description="save each seed's model as models/<name>_seed<NN>.safetensors"
    )
    output: OutputConfig = Field(default_factory=OutputConfig)

    @field_validator("models")
    @classmethod
    def _file_safe_names(
        cls, models: dict[str, SpectralModelConfig]
    ) -> dict[str, SpectralModelConfig]:
        for name in models:
            # names become file names (models/<name>_seed00.safetensors, figures)
            if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
                raise ValueError(
                    f"model name {name!r} must be letters, digits, '-' or '_' (it names files)"
                )
        return models

    @model_validator(mode="after")
    def _curve_models_exist(self) -> EvaluateConfig:
        if self.learning_curve.enabled and self.splits.scheme in ("predefined", "holdout"):
            raise ValueError(
                "a learning curve draws its own test set; use splits.scheme random or grouped "
                "for it, or disable learning_curve with predefined folds or a holdout"
            )
        unknown = sorted(set(self.learning_curve.models or ()) - set(self.models))
        if unknown:
            raise ValueError(
                f"learning_curve.models names {unknown}, not in models: {sorted(self.models)}"
            )
        return self


class SpectralTrainConfig(StrictModel):
    """``geosoil train`` on spectra: one artifact fitted on all samples.

    A share ``valid_fraction`` of the samples (whole groups of ``group_column`` when set) is
    held out for early stopping or the choice of PLS components; the metrics JSON reports
    the fit on it (optimistic: it steered the fit) and on the training part.
    """

    spectra: LabelledSpectraConfig
    model: SpectralModelConfig
    target_transform: Literal["none", "log10"] = Field(
        default="log10", description=TARGET_TRANSFORM
    )
    valid_fraction: float = Field(default=0.1, gt=0, lt=1, description=VALID_FRACTION)
    group_column: str | None = Field(
        default=None, description="hold out whole groups (sites) for validation"
    )
    seed: int = Field(default=0, ge=0, description=SEED)
    output: OutputConfig = Field(default_factory=OutputConfig)
    spectral_domain: bool = Field(
        default=True, description="store a PCA model with T2/Q limits of the training spectra"
    )
    back_transform: Literal["median", "mean"] = Field(
        default="median", description="for log10 targets: predict the median or the mean"
    )
