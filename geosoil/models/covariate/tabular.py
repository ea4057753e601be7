"""Covariate tables as the numeric matrices the tree and linear learners read.

Continuous columns pass through unchanged; each categorical column becomes one indicator
column per class seen in training. A class that training never saw has no indicator, and
encoding it as all zeros would silently predict the average class: rows holding one are
reported instead (``unseen`` mask), and the learners return NaN for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from geosoil.errors import CovariateError, FeatureCountError, SampleDataError
from geosoil.models.covariate.dense import checked_float64
from geosoil.models.encoding import is_data_frame
from geosoil.models.targets import TargetTransform

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "StandardizedInputs",
    "TabularEncoding",
    "adopt_encoding",
    "check_training_target",
    "prediction_matrix",
    "training_table",
]


@dataclass(frozen=True)
class TabularEncoding:
    """Feature order and the classes of each categorical feature, as learned from a table.

    Parameters
    ----------
    feature_names
        Covariate names in the order of the columns of an input array.
    categories
        Categorical feature name -> sorted integer class codes seen in training.
    """

    feature_names: tuple[str, ...]
    categories: dict[str, tuple[int, ...]]

    @classmethod
    def learn(cls, X: pd.DataFrame, categorical: Sequence[str]) -> TabularEncoding:
        """Learn the feature order and class codes from a training table."""
        import pandas as pd

        if not isinstance(X, pd.DataFrame):
            raise TypeError("fit expects a pandas DataFrame with named covariates")
        missing = [c for c in categorical if c not in X.columns]
        if missing:
            raise CovariateError(
                f"categorical_features {missing} are not columns of the table",
                field="categorical_features",
                fix=f"choose among {list(X.columns)}",
            )
        text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        if text:
            raise CovariateError(
                f"covariate(s) {text} hold text, not numbers",
                field="covariates",
                fix="declare them categorical (covariates.categorical) so that each class is "
                "given an integer code, or drop them",
            )
        values = X.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise SampleDataError("covariates must be finite", fix="drop rows with missing values")
        categories = {}
        for name in categorical:
            codes = np.unique(X[name].to_numpy(dtype=np.float64))
            if not np.array_equal(codes, np.round(codes)):
                raise CovariateError(
                    f"categorical covariate '{name}' has non-integer values",
                    field=name,
                    fix="give classes as integer codes",
                )
            categories[str(name)] = tuple(int(c) for c in codes)
        return cls(tuple(str(c) for c in X.columns), categories)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TabularEncoding:
        names = [str(n) for n in state["feature_names_in"]]
        categories = {str(k): tuple(int(c) for c in v) for k, v in state["categories"].items()}
        if unknown := sorted(set(categories) - set(names)):
            raise ValueError(f"categorical features {unknown} are not among the features")
        return cls(tuple(names), categories)

    def to_state(self) -> dict[str, Any]:
        return {
            "feature_names_in": list(self.feature_names),
            "categories": {k: list(v) for k, v in self.categories.items()},
        }

    @property
    def continuous(self) -> list[str]:
        return [n for n in self.feature_names if n not in self.categories]

    @property
    def encoded_names(self) -> list[str]:
        """Names of the encoded columns: continuous ones, then ``<name>=<class>``."""
        return self.continuous + [f"{n}={c}" for n, codes in self.categories.items() for c in codes]

    @property
    def n_encoded(self) -> int:
        return len(self.continuous) + sum(len(c) for c in self.categories.values())

    def groups(self) -> dict[str, list[int]]:
        """Original feature -> positions of its encoded columns (one-hot classes together)."""
        position = {name: i for i, name in enumerate(self.encoded_names)}
        out = {name: [position[name]] for name in self.continuous}
        for name, codes in self.categories.items():
            out[name] = [position[f"{name}={c}"] for c in codes]
        return {name: out[name] for name in self.feature_names}

    def matrix(self, X: pd.DataFrame | np.ndarray, *, owner: str = "model") -> np.ndarray:
        """Float64 (N, F) matrix in feature order from a table or an array
        (see :func:`prediction_matrix`)."""
        return prediction_matrix(X, self.feature_names, owner=owner)

    def encode(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Encoded float64 (N, n_encoded) matrix and a boolean (N,) mask of rows with a class
        training never saw (their indicator columns are all zero; do not trust them)."""
        names = list(self.feature_names)
        cont_idx = [names.index(n) for n in self.continuous]
        parts = [matrix[:, cont_idx]]
        unseen = np.zeros(len(matrix), dtype=bool)
        for name, codes in self.categories.items():
            column = matrix[:, names.index(name)]
            indicators = column[:, None] == np.asarray(codes, dtype=np.float64)[None, :]
            unseen |= ~indicators.any(axis=1) & np.isfinite(column)
            parts.append(indicators.astype(np.float64))
        return np.concatenate(parts, axis=1), unseen

    def unseen_classes(self, X: pd.DataFrame | np.ndarray) -> dict[str, list[int]]:
        """Categorical feature -> class codes in ``X`` that training never saw."""
        matrix = self.matrix(X)
        names = list(self.feature_names)
        out = {}
        for name, codes in self.categories.items():
            column = matrix[:, names.index(name)]
            new = sorted({int(v) for v in column[np.isfinite(column)]} - set(codes))
            if new:
                out[name] = new
        return out


def adopt_encoding(model: Any, encoding: TabularEncoding) -> None:
    """Give a fitted or loaded learner its ``encoding_`` and scikit-learn's
    ``feature_names_in_``/``n_features_in_`` (the covariates in input order)."""
    model.encoding_ = encoding
    model.feature_names_in_ = list(encoding.feature_names)
    model.n_features_in_ = len(model.feature_names_in_)


class StandardizedInputs:
    """Mixin of the learners that read one-hot encoded, standardized covariates (ridge, SVR).

    Sets and uses ``encoding_``, ``center_`` and ``scale_``, and with ``clamp_inputs`` the
    training range ``low_``/``high_`` of the continuous covariates, which new values are
    clipped to before encoding (a plane or kernel then reads a cell beyond the range as the
    edge value instead of extrapolating). The class provides ``categorical_features``,
    ``target_transform`` and ``clamp_inputs``.
    """

    categorical_features: Sequence[str]
    target_transform: str
    clamp_inputs: bool
    low_: np.ndarray | None = None
    high_: np.ndarray | None = None

    def _standardized_training(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Standardized encoded rows and the transformed target of a training table."""
        X, y = training_table(X, y)
        encoding = TabularEncoding.learn(X, list(self.categorical_features))
        y = check_training_target(y, len(X))
        matrix = encoding.matrix(X)
        adopt_encoding(self, encoding)
        self.low_ = self.high_ = None
        if self.clamp_inputs:
            continuous = matrix[:, self._continuous_columns()]
            self.low_, self.high_ = continuous.min(axis=0), continuous.max(axis=0)
        encoded, _ = encoding.encode(matrix)
        center = encoded.mean(axis=0)
        scale = encoded.std(axis=0)
        self.center_, self.scale_ = center, np.where(scale > 0, scale, 1.0)
        z = TargetTransform(self.target_transform).forward(y)
        return (encoded - self.center_) / self.scale_, z

    def _standardized_rows(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Standardized encoded rows of new covariates (invalid rows zero-filled, continuous
        values clamped to the training range with ``clamp_inputs``) and the mask of rows with
        a missing covariate or a class unseen in training."""
        matrix = self.encoding_.matrix(X, owner=type(self).__name__)
        missing = ~np.isfinite(matrix).all(axis=1)
        matrix = np.where(missing[:, None], 0.0, matrix)
        if self.low_ is not None:
            columns = self._continuous_columns()
            matrix[:, columns] = np.clip(matrix[:, columns], self.low_, self.high_)
        encoded, unseen = self.encoding_.encode(matrix)
        return (encoded - self.center_) / self.scale_, missing | unseen

    def _continuous_columns(self) -> list[int]:
        names = list(self.encoding_.feature_names)
        return [names.index(name) for name in self.encoding_.continuous]

    def _in_target_units(self, z: np.ndarray, invalid: np.ndarray) -> np.ndarray:
        """Float32 predictions from the transformed scale, NaN where ``invalid``."""
        z[invalid] = np.nan
        return TargetTransform(self.target_transform).inverse(z).astype(np.float32)

    def _float64_tensors(self, names: Sequence[str]) -> dict[str, Any]:
        """The fitted arrays ``<name>_`` as float64 torch tensors, for the artifact, and the
        clamping range ``low``/``high`` where there is one."""
        import torch

        if self.low_ is not None:
            names = [*names, "low", "high"]
        return {
            name: torch.from_numpy(np.asarray(getattr(self, f"{name}_"), dtype=np.float64))
            for name in names
        }

    def _restore_inputs(self, state: dict[str, Any], tensors: dict[str, Any]) -> None:
        """Encoding from ``state``; ``center``/``scale`` (float64, one per encoded column) and,
        with ``clamp_inputs``, ``low``/``high`` (one per continuous covariate)."""
        adopt_encoding(self, TabularEncoding.from_state(state))
        n = self.encoding_.n_encoded
        self.center_ = checked_float64(tensors["center"], "center", (n,))
        self.scale_ = checked_float64(tensors["scale"], "scale", (n,))
        if self.clamp_inputs:
            n_continuous = len(self.encoding_.continuous)
            self.low_ = checked_float64(tensors["low"], "low", (n_continuous,))
            self.high_ = checked_float64(tensors["high"], "high", (n_continuous,))


def training_table(X: Any, y: Any, *, multi_output: bool = False) -> tuple[pd.DataFrame, Any]:
    """A training table and its target: a DataFrame as it is, an array as columns ``x0``,
    ``x1``, ... .

    Arrays are checked with ``y`` by scikit-learn's ``check_X_y`` (2-D, numeric, finite,
    dense, at least 4 rows, as many targets as rows), so they fail with scikit-learn's own
    messages and errors. Names matter beyond fitting: an artifact maps each covariate to a
    raster layer by name, so fit a DataFrame for anything that is mapped.
    """
    if is_data_frame(X):
        return X.rename(columns=str), y
    import pandas as pd
    from sklearn.utils import check_X_y

    matrix, y = check_X_y(
        X, y, dtype=np.float64, y_numeric=True, multi_output=multi_output, ensure_min_samples=4
    )
    return pd.DataFrame(matrix, columns=[f"x{i}" for i in range(matrix.shape[1])]), y


def prediction_matrix(
    X: Any, names: Sequence[str], *, dtype: type = np.float64, owner: str = "model"
) -> np.ndarray:
    """The (N, F) matrix of ``X`` in the order of ``names``: a table's columns by name, an
    array's as they come (NaN allowed: a missing covariate predicts NaN).

    Raises
    ------
    CovariateError
        A table lacks a named column.
    FeatureCountError
        An array has another number of columns than ``names``.
    ValueError
        An array is not 2-D or not numeric, or holds infinities (scikit-learn's check_array).
    """
    names = list(names)
    if is_data_frame(X):
        import pandas as pd

        X = X.rename(columns=str)
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise CovariateError(
                f"covariates {missing} needed by the model are missing",
                field="covariates",
                fix=f"provide columns {names}",
            )
        text = [c for c in names if not pd.api.types.is_numeric_dtype(X[c])]
        if text:
            raise CovariateError(
                f"covariate(s) {text} hold text, not numbers",
                field="covariates",
                fix="give categorical classes as the integer codes used in training",
            )
        return X[names].to_numpy(dtype=dtype)
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] and X.dtype.kind in "fiu":
        # A numeric matrix (what a map's blocks pass): checked here, as check_array would,
        # without importing scikit-learn (with scipy, over a second of a small map's start).
        matrix = X.astype(dtype, copy=False)
        if X.dtype.kind == "f" and np.isinf(matrix).any():
            raise ValueError(
                f"Input X contains infinity or a value too large for {matrix.dtype!r}."
            )
    else:
        from sklearn.utils import check_array

        matrix = check_array(X, dtype=dtype, ensure_all_finite="allow-nan", ensure_min_samples=0)
    if matrix.shape[1] != len(names):
        raise FeatureCountError(
            f"X has {matrix.shape[1]} features, but {owner} is expecting {len(names)} "
            "features as input",
            field="covariates",
            fix=f"columns in this order: {names}",
        )
    return matrix


def check_training_target(y: Any, n_rows: int) -> np.ndarray:
    """Float64 (n,) target, finite, one value per row; at least 4 rows."""
    try:
        values = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise SampleDataError(f"y must be numeric ({err})", fix="pass numeric targets") from err
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise SampleDataError(
            f"y must be one target of shape (n,), got {values.shape}",
            fix="fit one model per soil property",
        )
    if len(values) != n_rows:
        raise SampleDataError(f"y has {len(values)} rows but X has {n_rows}", fix="align them")
    if not np.isfinite(values).all():
        raise SampleDataError("y must be finite", fix="drop rows with a missing target")
    if len(values) < 4:
        raise SampleDataError(f"only {len(values)} training rows", fix="provide at least 4")
    return values
