"""The base of every preprocessing step: parameters, axis bookkeeping and fitted arrays.

A step is declared, not programmed around: a name, a pydantic model of its parameters, the
names of the arrays it learns from data (if any), how it changes the axis, and what it does
to a block of spectra. :class:`~geosoil.spectra.pipeline.SpectralPipeline` does the rest
(validation of specs, batching, error reporting with row numbers, the artifact state).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from geosoil.errors import ConfigError
from geosoil.spectra.axis import SpectralAxis

__all__ = ["BadRowsError", "NoParams", "SpectralStep", "StepParams"]


class StepParams(BaseModel):
    """Base of step parameters: unknown keys refused, values immutable once validated.

    Strict like :class:`geosoil.config.base.StrictModel`, but defined here so that config
    modules may import :mod:`geosoil.spectra` to validate preprocessing lists without an
    import cycle.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(StepParams):
    """Parameters of a step that has none."""


class BadRowsError(Exception):
    """Raised by a step for rows it cannot transform; the pipeline turns it into a
    :class:`~geosoil.spectra.axis.SpectraError` that counts the rows over the whole input
    and names the first one (a step only sees one batch).
    """

    def __init__(self, rows: np.ndarray, what: str, fix: str) -> None:
        self.rows = np.asarray(rows, dtype=np.int64)
        self.what = what
        self.fix = fix
        super().__init__(what)


class SpectralStep:
    """One fitted, stateful preprocessing step.

    Subclasses set :attr:`name`, :attr:`Params` and, when they learn from data,
    :attr:`fitted_arrays` (names of float64 arrays stored as ``<name>_``), and implement
    :meth:`transform`; steps that change the axis override :meth:`output_axis`. A step
    fitted from a spectra table of its own (EPO's pairs) names the parameter that holds
    the table's path in :attr:`table_params`: steps never read files, the caller reads
    each table (:func:`geosoil.io.spectra.read_spectra`) and hands it in as ``tables`` (path as
    written -> the table: ``axis``, ``spectra``, ``frame`` and ``source``).
    """

    name: ClassVar[str]
    Params: ClassVar[type[StepParams]] = NoParams
    fitted_arrays: ClassVar[tuple[str, ...]] = ()
    table_params: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, params: StepParams, *, field: str = "step", tables: Mapping[str, Any] | None = None
    ) -> None:
        self.params = params
        self.field = field
        self.tables: Mapping[str, Any] = dict(tables or {})
        self.check_params()

    @classmethod
    def from_spec(
        cls, raw: Mapping[str, Any], *, field: str, tables: Mapping[str, Any] | None = None
    ) -> SpectralStep:
        """Validate ``raw`` (the spec without its ``name``) into a step."""
        try:
            params = cls.Params.model_validate(dict(raw))
        except ValidationError as err:
            raise _param_error(err, cls, field) from err
        return cls(params, field=field, tables=tables)

    def table_paths(self) -> list[str]:
        """The paths of the tables this step is fitted from, as written in its spec."""
        return [getattr(self.params, name) for name in self.table_params]

    # -- declared behaviour -------------------------------------------------------------
    def check_params(self) -> None:
        """Cross-field checks of the parameters; raise ConfigError naming ``self.field``."""

    def output_axis(self, axis: SpectralAxis) -> SpectralAxis:
        """The axis after this step, knowing only the input axis (no data)."""
        return axis

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Transform a float64 block of spectra on ``axis_in_``; return float64."""
        raise NotImplementedError

    def partial_fit(self, X: np.ndarray) -> None:
        """Accumulate statistics from one block (only steps with fitted arrays)."""

    def finish_fit(self) -> None:
        """Turn the accumulated statistics into the fitted arrays."""

    # -- shared machinery ---------------------------------------------------------------
    @property
    def needs_data(self) -> bool:
        return bool(self.fitted_arrays)

    def setup(self, axis: SpectralAxis) -> SpectralAxis:
        """Record the input axis and compute the output axis; returns the output axis."""
        self.axis_in_ = axis
        self.axis_out_ = self.output_axis(axis)
        return self.axis_out_

    def spec(self) -> dict[str, Any]:
        """``{"name": ..., **params}`` with every parameter spelled out (JSON-able)."""
        return {"name": self.name, **self.params.model_dump(mode="json")}

    def export_arrays(self) -> dict[str, np.ndarray]:
        return {key: np.asarray(getattr(self, f"{key}_")) for key in self.fitted_arrays}

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        for key in self.fitted_arrays:
            setattr(self, f"{key}_", np.asarray(arrays[key], dtype=np.float64))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.model_dump().items())
        return f"{type(self).__name__}({args})"


def _param_error(err: ValidationError, cls: type[SpectralStep], field: str) -> ConfigError:
    errors = err.errors()
    # A misspelt key also shows up as a missing one; the misspelling is the useful report.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = ".".join(str(part) for part in first["loc"])
    allowed = sorted(cls.Params.model_fields)
    if first["type"] == "extra_forbidden":
        close = difflib.get_close_matches(loc, allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return ConfigError(
            f"preprocessing step '{cls.name}' has no parameter '{loc}'",
            field=f"{field}.{loc}",
            fix=f"{hint}parameters of '{cls.name}': {', '.join(allowed) or 'none'}",
        )
    if first["type"] == "missing":
        return ConfigError(
            f"preprocessing step '{cls.name}' needs the parameter '{loc}'",
            field=f"{field}.{loc}",
            fix=f"add '{loc}' to the step, e.g. {_example(cls)}",
        )
    return ConfigError(
        f"invalid value for '{loc}' of preprocessing step '{cls.name}': {first['msg']}",
        field=f"{field}.{loc}",
        fix=f"correct the step, e.g. {_example(cls)}",
    )


def _example(cls: type[SpectralStep]) -> str:
    return getattr(cls, "example", f"{{'name': '{cls.name}'}}")
