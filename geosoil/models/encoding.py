"""One covariate encoder for every family: continuous scaling and categorical codes.

:class:`CovariateEncoder` learns, from a training table, how each continuous column is
scaled (z-scores, or min-max to [0, 1] from the training or declared ranges) and which
classes each categorical column holds (with their shares), and encodes new tables as scaled
values plus category indices (for embeddings) or one-hot columns. What a class unseen in
training does is declared once, as ``unseen``:

- ``"error"``: refuse it (a :class:`~geosoil.errors.CovariateError` naming the column, the
  classes and the rows);
- ``"mean"``: index -1, which embeddings read as the training mix of the column's classes;
- ``"nan"``: index -1 and the row marked unusable (no prediction);
- ``"zero"``: an all-zero one-hot code (the network's reference, its average class).

The covariate MLP, the SOC profile models (BINN, ScIReN, PRODA) and MdPL use it; tree
learners can take its scaled and one-hot matrix as they are.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from geosoil.errors import CovariateError, SampleDataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["UNSEEN_POLICIES", "CovariateEncoder", "is_data_frame"]

UNSEEN_POLICIES = ("error", "mean", "nan", "zero")
_SHOWN = 10


def is_data_frame(value) -> bool:
    """Whether ``value`` is a pandas DataFrame, without importing pandas (a process that has
    not imported it holds none): predicting from arrays, as a map does, needs no pandas."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


@dataclass
class CovariateEncoder:
    """How a table of covariates becomes a network's inputs.

    Attributes
    ----------
    continuous, categorical
        Column names, in the order the network reads them (continuous first).
    scaling
        ``"standard"``: ``(x - center) / scale``; ``"minmax"``: ``(x - low) / (high - low)``
        clipped to [0, 1] (a cell outside the ranges gets the edge value).
    clamp
        With ``"standard"`` scaling: clip each value to ``[low, high]`` (the training range)
        before scaling, so a network reads a cell beyond the range as the edge value instead
        of extrapolating from it (``"minmax"`` always clips).
    center, scale
        (n_continuous,) training mean and standard deviation (1 where a column was
        constant), for ``"standard"``.
    low, high
        (n_continuous,) range each column is scaled from, for ``"minmax"``; the range values
        are clipped to, for ``clamp``.
    labels
        Column -> sorted classes seen in training (whole numbers, or strings with
        ``label_kind="str"``); class ``labels[c][i]`` gets index ``i``.
    frequency
        Column -> share of the training rows holding each class (the ``"mean"`` fallback).
    unseen
        What a class unseen in training does (see the module docstring).
    label_kind
        ``"int"`` (raster class codes) or ``"str"`` (labels such as IGBP classes).
    """

    continuous: list[str]
    categorical: list[str]
    labels: dict[str, list[Any]]
    frequency: dict[str, list[float]]
    unseen: str = "error"
    scaling: Literal["standard", "minmax"] = "standard"
    label_kind: Literal["int", "str"] = "int"
    center: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))
    low: np.ndarray = field(default_factory=lambda: np.zeros(0))
    high: np.ndarray = field(default_factory=lambda: np.ones(0))
    clamp: bool = False

    @property
    def names(self) -> list[str]:
        """Every column the encoder reads, continuous first."""
        return [*self.continuous, *self.categorical]

    @property
    def n_one_hot(self) -> int:
        """Width of the one-hot block: one column per class seen in training."""
        return sum(len(self.labels[name]) for name in self.categorical)

    # ------------------------------------------------------------------ learning
    @classmethod
    def learn(
        cls,
        table: pd.DataFrame,
        continuous: Sequence[str],
        categorical: Sequence[str],
        *,
        unseen: str = "error",
        scaling: Literal["standard", "minmax"] = "standard",
        label_kind: Literal["int", "str"] = "int",
        ranges: tuple[np.ndarray, np.ndarray] | None = None,
        clamp: bool = False,
    ) -> CovariateEncoder:
        """Learn scaling and classes from the training rows of ``table``.

        ``ranges`` gives (low, high) per continuous column for ``scaling="minmax"``
        instead of the training minimum and maximum. ``clamp`` (``"standard"`` scaling)
        clips new values to the training minimum and maximum before scaling.
        """
        if unseen not in UNSEEN_POLICIES:
            raise ValueError(f"unseen={unseen!r} is not one of {UNSEEN_POLICIES}")
        continuous, categorical = list(continuous), list(categorical)
        values = table[continuous].to_numpy(dtype=np.float64)
        labels, frequency = {}, {}
        for name in categorical:
            column = table[name].to_numpy()
            if label_kind == "str":
                column = column.astype(object).astype(str)
            seen, counts = np.unique(column, return_counts=True)
            if label_kind == "int":
                _check_whole(seen, name)
            labels[name] = [int(v) if label_kind == "int" else str(v) for v in seen]
            frequency[name] = (counts / counts.sum()).tolist()
        encoder = cls(continuous, categorical, labels, frequency, unseen, scaling, label_kind)
        if scaling == "minmax" and ranges is not None:
            encoder.low, encoder.high = (np.asarray(r, dtype=np.float64) for r in ranges)
        elif scaling == "minmax" or clamp:
            encoder.low, encoder.high = values.min(axis=0), values.max(axis=0)
        encoder.clamp = clamp and scaling == "standard"
        if scaling == "standard":
            sd = values.std(axis=0)
            encoder.center, encoder.scale = values.mean(axis=0), np.where(sd > 0, sd, 1.0)
        return encoder

    # ------------------------------------------------------------------ encoding
    def scaled(self, values: np.ndarray) -> np.ndarray:
        """Continuous columns (n, c), in the dtype numpy's promotion with float64 gives."""
        if self.scaling == "minmax":
            span = np.where(self.high > self.low, self.high - self.low, 1.0)
            return np.clip((values - self.low) / span, 0.0, 1.0)
        if self.clamp:
            values = np.clip(values, self.low, self.high)
        return (values - self.center) / self.scale

    def indices(
        self,
        table: pd.DataFrame | np.ndarray,
        *,
        describe: Callable[[str, list[Any], np.ndarray], CovariateError] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Class indices (n, k), -1 for an unseen class, and the rows holding one.

        ``table`` is a DataFrame with the categorical columns, or an (n, k) array of class
        codes in :attr:`categorical` order. A ``None`` (a raster class without a label) is
        unseen.

        Raises
        ------
        CovariateError
            An unseen class with ``unseen="error"``; ``describe(column, classes, rows)``
            builds the message (the default names the column and the classes).
        """
        n = len(table)
        index = np.zeros((n, len(self.categorical)), dtype=np.int64)
        new_rows = np.zeros(n, dtype=bool)
        for j, name in enumerate(self.categorical):
            column = table[name].to_numpy() if is_data_frame(table) else np.asarray(table)[:, j]
            index[:, j] = self._lookup(name, column)
            new = index[:, j] < 0
            if new.any() and self.unseen == "error":
                classes = sorted({self._label(v) for v in column[new] if v is not None} - {None})
                raise (describe or self._unseen_error)(name, classes, np.flatnonzero(new))
            new_rows |= new
        return index, new_rows

    def _lookup(self, name: str, column: np.ndarray) -> np.ndarray:
        labels = self.labels[name]
        if self.label_kind == "int" and column.dtype.kind in "iuf":
            # Vectorised for maps: a value equal to no class (or not whole) stays -1.
            index = np.full(len(column), -1, dtype=np.int64)
            for i, label in enumerate(labels):
                index[column == label] = i
            return index
        lookup = {label: i for i, label in enumerate(labels)}
        return np.array(
            [-1 if v is None else lookup.get(self._label(v), -1) for v in column.tolist()],
            dtype=np.int64,
        )

    def one_hot(self, index: np.ndarray) -> np.ndarray:
        """One-hot columns (n, :attr:`n_one_hot`) of class indices; -1 is all zero."""
        parts = [
            index[:, j, None] == np.arange(len(self.labels[name]))[None, :]
            for j, name in enumerate(self.categorical)
        ]
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(index), 0), dtype=bool)

    def modes(self) -> np.ndarray:
        """Index of the most frequent training class of each categorical column."""
        return np.array(
            [int(np.argmax(self.frequency[n])) for n in self.categorical], dtype=np.int64
        )

    def _label(self, value: Any) -> Any:
        if self.label_kind == "str":
            return str(value)
        number = float(value)
        return int(number) if number.is_integer() else None

    def _unseen_error(self, name: str, classes: list[Any], rows: np.ndarray) -> CovariateError:
        return CovariateError(
            f"categorical covariate {name} has classes {classes[:_SHOWN]} in {len(rows)} "
            f"row(s) that training never saw (seen: {self.labels[name]})",
            field=f"covariates.{name}",
            fix="drop those rows, or train on data that holds those classes",
        )


def _check_whole(codes: np.ndarray, name: str) -> None:
    if not np.all(codes == np.round(codes)):
        raise SampleDataError(
            f"categorical covariate {name} holds non-integer codes",
            field=f"covariates.{name}",
            fix="use integer class codes, or leave the column out of profiles.categorical",
        )
