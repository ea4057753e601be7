"""Moisture and instrument correction as fitted preprocessing steps.

* ``epo``: external parameter orthogonalization (Roger et al. 2003; Minasny et al. 2011 for
  soil moisture). Paired scans of the same soils in two states (air-dry and wet) give the
  differences ``D = X_wet - X_dry``; the first ``components`` right singular vectors ``V``
  of ``D`` span what moisture changes, and every spectrum is projected orthogonally to
  them, ``x (I - V^T V)``. A model trained on projected dry spectra then reads projected
  wet spectra almost as dry ones. A pipeline step, fitted from its pairs table.
* ``ds`` / ``pds``: direct and piecewise direct standardization (Wang et al. 1991). A
  transfer set scanned on both instruments gives ``F`` and ``b`` with
  ``x_secondary F + b ~ x_primary``: one regression of every primary band on the whole
  secondary spectrum (DS, truncated SVD) or on a window of ``2 * half_window + 1``
  secondary bands around it (PDS, a banded ``F``). :func:`standardize_instrument` prepends
  the fitted step to a trained model's preprocessing, so its artifact maps spectra of the
  second instrument.

The fitted arrays are saved in the artifact with the rest of the pipeline.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from geosoil.errors import ConfigError, SampleDataError
from geosoil.spectra.axis import SpectraError, SpectralAxis
from geosoil.spectra.step import SpectralStep, StepParams

__all__ = [
    "EPO",
    "InstrumentStandardization",
    "fit_epo_basis",
    "fit_transfer",
    "standardize_instrument",
]


def _paired(A: np.ndarray, B: np.ndarray, *, field: str) -> tuple[np.ndarray, np.ndarray]:
    A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
    if A.ndim != 2 or A.shape != B.shape:
        raise SampleDataError(
            f"the paired sets differ in size: {A.shape} and {B.shape}",
            field=field,
            fix="give the same soils, in the same order, scanned in both states or on both "
            "instruments (one row per soil in each set, same bands)",
        )
    if len(A) < 2:
        raise SampleDataError(
            f"{len(A)} pair(s) are too few", field=field, fix="scan at least a few soils twice"
        )
    return A, B


def fit_epo_basis(X_a: np.ndarray, X_b: np.ndarray, components: int) -> np.ndarray:
    """(components, bands) orthonormal directions of the differences ``X_b - X_a``."""
    X_a, X_b = _paired(X_a, X_b, field="epo.pairs")
    differences = X_b - X_a
    _, _, vt = np.linalg.svd(differences, full_matrices=False)
    return vt[: min(components, len(vt))]


def fit_transfer(
    X_secondary: np.ndarray, X_primary: np.ndarray, *, half_window: int | None, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """``F`` (bands, bands) and ``b`` (bands,) with ``X_secondary F + b ~ X_primary``.

    ``half_window`` None: DS (every band from the whole spectrum); otherwise PDS. Each
    regression is a truncated-SVD least squares keeping singular values above
    ``tolerance`` times the largest.
    """
    S, M = _paired(X_secondary, X_primary, field="transfer")
    s_mean, m_mean = S.mean(axis=0), M.mean(axis=0)
    Sc, Mc = S - s_mean, M - m_mean
    p = S.shape[1]
    if half_window is None:
        F = _truncated_lstsq(Sc, Mc, tolerance)
    else:
        F = np.zeros((p, p))
        for band in range(p):
            lo, hi = max(0, band - half_window), min(p, band + half_window + 1)
            F[lo:hi, band] = _truncated_lstsq(Sc[:, lo:hi], Mc[:, band : band + 1], tolerance)[:, 0]
    return F, m_mean - s_mean @ F


def _truncated_lstsq(A: np.ndarray, B: np.ndarray, tolerance: float) -> np.ndarray:
    u, s, vt = np.linalg.svd(A, full_matrices=False)
    keep = s > tolerance * (s[0] if s.size else 0.0)
    return vt[keep].T @ ((u[:, keep].T @ B) / s[keep, None])


class _EPOParams(StepParams):
    pairs: str = Field(description="spectra table of soils scanned in two states")
    pair_column: str = Field(description="soil id shared by a pair of scans")
    state_column: str = Field(description="the state of each scan, two values")
    components: int = Field(default=2, ge=1)


class EPO(SpectralStep):
    """External parameter orthogonalization from a table of paired scans (first step).

    The table (CSV or Parquet, band columns as any spectra table) has one scan per row,
    ``pair_column`` naming the soil and ``state_column`` its state (two values, e.g.
    ``dry`` and ``wet``), on the pipeline's input axis. The step reads no file: the caller
    reads the table named by ``pairs`` (:func:`geosoil.io.spectra.read_spectra`) and hands it to
    the pipeline in ``tables`` (the workflows do, through the estimator's
    ``attach_tables``); only the fitted directions are kept.
    """

    name = "epo"
    Params = _EPOParams
    fitted_arrays: ClassVar[tuple[str, ...]] = ("basis",)
    table_params: ClassVar[tuple[str, ...]] = ("pairs",)
    example = (
        "{'name': 'epo', 'pairs': 'moisture_pairs.parquet', 'pair_column': 'soil_id', "
        "'state_column': 'state', 'components': 2}"
    )

    def partial_fit(self, X: np.ndarray) -> None:
        """Nothing from the training spectra: EPO learns from its pairs."""

    def finish_fit(self) -> None:
        params = self.params
        pairs = self.tables.get(params.pairs)
        if pairs is None:
            raise ConfigError(
                "the EPO pairs table was not handed to the pipeline",
                path=Path(params.pairs),
                field=f"{self.field}.pairs",
                fix="read it with geosoil.io.spectra.read_spectra(pairs) and pass "
                "tables={pairs: table} to the pipeline, or to the model's attach_tables (the "
                "geosoil workflows do this)",
            )
        _same_axis(
            pairs.axis, self.axis_in_, path=params.pairs, field=f"{self.field}.pairs", what="pairs"
        )
        frame = pairs.frame
        for key in ("pair_column", "state_column"):
            column = getattr(params, key)
            if column not in frame.columns:
                raise SampleDataError(
                    f"the pairs table has no column '{column}'",
                    path=params.pairs,
                    field=f"{self.field}.{key}",
                    fix=f"name one of its columns: {list(frame.columns)[:8]}",
                )
        states = sorted(frame[params.state_column].astype(str).unique())
        if len(states) != 2:
            raise SampleDataError(
                f"the pairs table has {len(states)} states {states[:5]}; EPO needs exactly two",
                path=params.pairs,
                field=f"{self.field}.state_column",
                fix="keep two states (e.g. dry and wet) in the pairs table",
            )
        ids = frame[params.pair_column].astype(str).to_numpy()
        state = frame[params.state_column].astype(str).to_numpy()
        first = {i: n for n, i in enumerate(ids) if state[n] == states[0]}
        second = {i: n for n, i in enumerate(ids) if state[n] == states[1]}
        unpaired = sorted(set(first) ^ set(second))
        if unpaired:
            raise SampleDataError(
                f"{len(unpaired)} soil(s) of the pairs table are scanned in one state only "
                f"(first: {unpaired[0]!r})",
                path=params.pairs,
                field=f"{self.field}.pairs",
                fix="scan every soil in both states, or drop the unpaired scans",
            )
        order = sorted(first)
        A = pairs.spectra[[first[i] for i in order]]
        B = pairs.spectra[[second[i] for i in order]]
        self.basis_ = fit_epo_basis(A, B, params.components)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return X - (X @ self.basis_.T) @ self.basis_


class _TransferParams(StepParams):
    method: Literal["ds", "pds"] = "pds"
    half_window: int = Field(default=5, ge=0, description="PDS: bands each side")
    tolerance: float = Field(default=1e-3, gt=0, lt=1)
    source: str = Field(default="", description="where the transfer set came from")


class InstrumentStandardization(SpectralStep):
    """DS/PDS: maps spectra of a second instrument onto the primary one (fitted by
    :func:`standardize_instrument`, not from training spectra)."""

    name = "instrument_standardization"
    Params = _TransferParams
    fitted_arrays: ClassVar[tuple[str, ...]] = ("transfer", "offset")

    def partial_fit(self, X: np.ndarray) -> None:
        raise ConfigError(
            "instrument_standardization is fitted from a transfer set, not in a training pipeline",
            field=self.field,
            fix="train the model on the primary instrument, then call "
            "geosoil.spectra.correction.standardize_instrument(model, X_secondary, X_primary)",
        )

    def transform(self, X: np.ndarray) -> np.ndarray:
        return X @ self.transfer_ + self.offset_


def standardize_instrument(
    estimator: Any,
    X_secondary: np.ndarray,
    X_primary: np.ndarray,
    *,
    axis: SpectralAxis,
    method: Literal["ds", "pds"] = "pds",
    half_window: int = 5,
    tolerance: float = 1e-3,
    source: str = "",
) -> Any:
    """A copy of a fitted spectral model that reads the second instrument's spectra.

    Parameters
    ----------
    estimator
        A fitted spectral estimator trained on the primary instrument.
    X_secondary, X_primary
        The transfer set: the same soils, in the same order, scanned on the second and on
        the primary instrument, both on ``axis`` (the model's input axis).
    method, half_window, tolerance
        DS (whole spectrum) or PDS (window of ``2 * half_window + 1`` bands), truncated-SVD
        regressions keeping singular values above ``tolerance`` times the largest.
    source
        A note of where the transfer set came from, kept in the step's spec.

    Raises
    ------
    SpectraError
        The transfer set is on another axis than the model's.
    SampleDataError
        The two sets differ in size.
    """
    estimator._check_fitted()
    _same_axis(axis, estimator.axis_, path=None, field="transfer.axis")
    params = _TransferParams(
        method=method, half_window=half_window, tolerance=tolerance, source=source
    )
    F, b = fit_transfer(
        X_secondary,
        X_primary,
        half_window=None if method == "ds" else half_window,
        tolerance=tolerance,
    )
    step = InstrumentStandardization(params, field="preprocessing[0]")
    step.setup(estimator.axis_)
    step.transfer_, step.offset_ = F, b
    model = copy.deepcopy(estimator)
    pipeline = model.preprocessing_
    pipeline.steps.insert(0, step)
    for position, later in enumerate(pipeline.steps):
        later.field = f"preprocessing[{position}]"
    return model


def _same_axis(
    axis: SpectralAxis, expected: SpectralAxis, *, path, field: str, what: str = "transfer set"
) -> None:
    if not axis.same_as(expected):
        raise SpectraError(
            f"the {what} is on another axis ({axis.describe()}) than the model's "
            f"({expected.describe()})",
            path=path,
            field=field,
            fix=f"resample the {what} spectra onto the model's input axis first (spectra.resample "
            "or geosoil.spectra.resample_spectra)",
        )
