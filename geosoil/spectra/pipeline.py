"""A chain of fitted preprocessing steps, saved inside the model artifact.

The pipeline remembers the axis it was fitted on and refuses spectra on any other; it
works in float64 on batches of rows (so memory stays bounded for large libraries) and
returns float32. Every output row depends on its own input row only.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geosoil.errors import ArtifactError, ConfigError, NotFittedError
from geosoil.spectra.axis import SpectraError, SpectralAxis
from geosoil.spectra.correction import EPO, InstrumentStandardization
from geosoil.spectra.resample import Resample
from geosoil.spectra.savgol import SavitzkyGolay
from geosoil.spectra.selection import DropRegions, Trim
from geosoil.spectra.step import BadRowsError, SpectralStep
from geosoil.spectra.transforms import (
    AbsorbanceToReflectance,
    ReflectanceToAbsorbance,
    Standardize,
    StandardNormalVariate,
)

if TYPE_CHECKING:  # torch is needed for the artifact state only; reading spectra skips it
    import torch

__all__ = ["STEP_TYPES", "SpectralPipeline", "check_spectra"]

STEP_TYPES: dict[str, type[SpectralStep]] = {
    cls.name: cls
    for cls in (
        StandardNormalVariate,
        SavitzkyGolay,
        Trim,
        DropRegions,
        Resample,
        ReflectanceToAbsorbance,
        AbsorbanceToReflectance,
        Standardize,
        EPO,
        InstrumentStandardization,
    )
}

# Rows per float64 working block: 4096 x ~2000 bands x 8 bytes is ~65 MB per copy.
_BATCH_ROWS = 4096

_PREFIX = "preprocessing."


class SpectralPipeline:
    """Preprocessing steps from specs such as ``[{"name": "snv"}, {"name": "savgol", ...}]``.

    Parameters
    ----------
    steps
        Step specs, each a mapping with ``name`` and the step's parameters (a bare string
        is short for ``{"name": ...}``). Known steps: ``snv``; ``savgol`` (``window`` 11,
        ``polyorder`` 1, ``deriv`` 0); ``trim`` (``min``, ``max``); ``drop_regions``
        (``regions``: ``[[lo, hi], ...]``); ``resample`` (``to``: positions or
        ``{start, stop, step}``, ``unit``); ``reflectance_to_absorbance`` and
        ``absorbance_to_reflectance`` (``percent``); ``standardize``.
    field
        Where the steps come from in a config, named in errors.
    tables
        The spectra tables that steps are fitted from (EPO's ``pairs``), keyed by the path
        as the step's spec writes it: the caller reads them (:meth:`table_paths` lists
        them) with :func:`geosoil.io.spectra.read_spectra`; the pipeline reads no file.

    Raises
    ------
    ConfigError
        Unknown step name (with a suggestion), unknown or invalid parameters.
    """

    def __init__(
        self,
        steps: Sequence[Mapping[str, Any] | str] = (),
        *,
        field: str = "preprocessing",
        tables: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(steps, str | Mapping):
            raise ConfigError(
                "preprocessing must be a list of steps",
                field=field,
                fix="write e.g. [{'name': 'snv'}, {'name': 'savgol', 'deriv': 1, 'polyorder': 2}]",
            )
        self.field = field
        self.steps: list[SpectralStep] = [
            _build_step(spec, field=f"{field}[{i}]", tables=tables) for i, spec in enumerate(steps)
        ]

    def __repr__(self) -> str:
        return f"SpectralPipeline({self.to_spec()!r})"

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "axis_out_")

    def to_spec(self) -> list[dict[str, Any]]:
        """The steps as JSON-able dicts with every parameter spelled out."""
        return [step.spec() for step in self.steps]

    def table_paths(self) -> list[str]:
        """Paths of the spectra tables that steps are fitted from, to hand in as ``tables``."""
        return [path for step in self.steps for path in step.table_paths()]

    def used_input_bands(self, axis: SpectralAxis) -> np.ndarray:
        """Boolean per band of ``axis``: False for bands the leading selections drop.

        Bands removed by ``trim`` or ``drop_regions`` steps at the start of the pipeline
        never reach any other step, so their values cannot change a prediction (an image
        cube need not cover them). Selections after another step (e.g. after SNV, which
        reads every band) do not count.
        """
        from geosoil.spectra.selection import BandSelection

        used = np.ones(len(axis), dtype=bool)
        for step in self.steps:
            if not isinstance(step, BandSelection):
                break
            kept = np.flatnonzero(used)
            keep = step.keep_mask(SpectralAxis.from_values(axis.values[kept], axis.unit))
            used[kept[~keep]] = False
        return used

    # -- fitting ------------------------------------------------------------------------
    def fit(self, X: np.ndarray, axis: SpectralAxis) -> SpectralPipeline:
        """Fix the input axis, derive each step's axis, learn the data-fitted arrays.

        Raises
        ------
        SpectraError
            ``X`` does not match ``axis``, holds NaN/Inf, or a step cannot handle it.
        ConfigError
            A step does not fit the axis (e.g. a Savitzky-Golay window longer than it).
        """
        X = check_spectra(X, axis, field=self.field)
        # A failed refit must not leave the previous fit looking valid.
        for name in ("axis_in_", "axis_out_"):
            self.__dict__.pop(name, None)
        current = axis
        for position, step in enumerate(self.steps):
            current = step.setup(current)
            if step.needs_data:
                for _, block in self._blocks(X, upto=position):
                    step.partial_fit(block)
                step.finish_fit()
        self.axis_in_ = axis
        self.axis_out_ = current
        return self

    def transform(self, X: np.ndarray, axis: SpectralAxis | None = None) -> np.ndarray:
        """Preprocess spectra on the fitted axis; float32 ``(n, len(axis_out_))``.

        Parameters
        ----------
        X
            Spectra, one row each, on ``axis`` (default: the fitted axis).
        axis
            The axis of ``X``; anything else than the fitted axis is refused.

        Raises
        ------
        SpectraError
            Another axis than the fitted one (fix: resample explicitly), NaN/Inf (naming how
            many rows and the first), or rows a step cannot transform.
        """
        self._check_fitted()
        if axis is not None:
            self.axis_in_.check_matches(axis, field="axis")
        X = check_spectra(X, self.axis_in_, field=self.field)
        out = np.empty((X.shape[0], len(self.axis_out_)), dtype=np.float32)
        for start, block in self._blocks(X, upto=len(self.steps)):
            out[start : start + len(block)] = block
        return out

    def fit_transform(self, X: np.ndarray, axis: SpectralAxis) -> np.ndarray:
        """:meth:`fit`, then :meth:`transform` of the same spectra."""
        return self.fit(X, axis).transform(X)

    def _blocks(self, X: np.ndarray, *, upto: int) -> Iterator[tuple[int, np.ndarray]]:
        """Blocks of rows run through the first ``upto`` steps, in float64."""
        for start in range(0, X.shape[0], _BATCH_ROWS):
            block = np.asarray(X[start : start + _BATCH_ROWS], dtype=np.float64)
            for step in self.steps[:upto]:
                try:
                    block = step.transform(block)
                except BadRowsError as problem:
                    raise self._count_rows(X, start, problem, step, upto) from None
            yield start, block

    def _count_rows(
        self, X: np.ndarray, start: int, problem: BadRowsError, step: SpectralStep, upto: int
    ) -> SpectraError:
        """Count the rows of the whole input with the same problem, for one clear error."""
        rows = [problem.rows + start]
        for later in range(start + _BATCH_ROWS, X.shape[0], _BATCH_ROWS):
            block = np.asarray(X[later : later + _BATCH_ROWS], dtype=np.float64)
            for other in self.steps[:upto]:
                try:
                    block = other.transform(block)
                except BadRowsError as again:
                    if other is step:
                        rows.append(again.rows + later)
                    break
        rows = np.concatenate(rows)
        n_rows = X.shape[0]
        return SpectraError(
            f"{len(rows)} of {n_rows} spectra fail at step '{step.name}': {problem.what} "
            f"(first at row {int(rows[0])})",
            field=step.field,
            fix=problem.fix,
        )

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                "SpectralPipeline is not fitted", fix="call fit(X, axis) before transform"
            )

    # -- artifact state -----------------------------------------------------------------
    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors (float64) and JSON state that :meth:`from_state` restores exactly.

        Tensor names all start with ``preprocessing.``: the input and output axes, and
        ``preprocessing.<i>.<array>`` for arrays learnt from data (e.g. standardize's
        ``mean`` and ``scale``), so they can sit beside a network's weights in one file.
        """
        import torch

        self._check_fitted()
        tensors = {
            f"{_PREFIX}axis_in": torch.from_numpy(self.axis_in_.values.copy()),
            f"{_PREFIX}axis_out": torch.from_numpy(self.axis_out_.values.copy()),
        }
        for i, step in enumerate(self.steps):
            for key, array in step.export_arrays().items():
                tensors[f"{_PREFIX}{i}.{key}"] = torch.from_numpy(np.array(array, dtype=np.float64))
        state = {"axis_in_unit": self.axis_in_.unit, "axis_out_unit": self.axis_out_.unit}
        return tensors, state

    @classmethod
    def from_state(
        cls,
        steps: Sequence[Mapping[str, Any]],
        tensors: Mapping[str, torch.Tensor],
        state: Mapping[str, Any],
        *,
        source: str | Path | None = None,
    ) -> SpectralPipeline:
        """A fitted pipeline from :meth:`to_spec` and :meth:`export_state`.

        ``tensors`` may hold other entries (a network's weights); only those starting with
        ``preprocessing.`` are read.

        Raises
        ------
        ArtifactError
            Missing tensors or an output axis that the steps no longer reproduce.
        """
        try:
            pipeline = cls(steps, field="preprocessing")
            axis = SpectralAxis.from_values(
                _array(tensors, "axis_in", source), state["axis_in_unit"], source=source
            )
            expected_out = SpectralAxis.from_values(
                _array(tensors, "axis_out", source), state["axis_out_unit"], source=source
            )
        except (ConfigError, SpectraError, KeyError) as err:
            raise ArtifactError(
                f"the artifact's preprocessing cannot be restored ({err})",
                path=source,
                field="preprocessing",
                fix="the file is damaged or from another geosoil version; retrain the model",
            ) from err
        current = axis
        for i, step in enumerate(pipeline.steps):
            current = step.setup(current)
            step.load_arrays(
                {key: _array(tensors, f"{i}.{key}", source) for key in step.fitted_arrays}
            )
        if not expected_out.same_as(current, tol=0.0):
            raise ArtifactError(
                "the artifact's preprocessing steps do not reproduce its stored output axis",
                path=source,
                field="preprocessing",
                fix="the file is damaged or from another geosoil version; retrain the model",
            )
        pipeline.axis_in_ = axis
        pipeline.axis_out_ = expected_out
        return pipeline


def check_spectra(X, axis: SpectralAxis, *, field: str = "spectra", source=None) -> np.ndarray:
    """Refuse arrays that are not ``(n, len(axis))`` or hold NaN/Inf; return ``X`` as an array.

    Raises
    ------
    SpectraError
        Wrong shape, or NaN/Inf (naming how many rows and the first row index).
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != len(axis):
        raise SpectraError(
            f"spectra of shape {X.shape} do not match the axis ({axis.describe()})",
            path=source,
            field=field,
            fix="pass a 2-D array (n_samples, n_bands) with one column per band of the axis",
        )
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise SpectraError(
            f"{rows.size} of {X.shape[0]} spectra hold NaN or Inf (first at row {rows[0]})",
            path=source,
            field=field,
            fix="drop these rows, or the mostly-empty band columns behind them, before "
            "preprocessing",
        )
    return X


def _build_step(
    spec: Mapping[str, Any] | str, *, field: str, tables: Mapping[str, Any] | None = None
) -> SpectralStep:
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ConfigError(
            f"a preprocessing step must be a mapping with a 'name', got {spec!r}",
            field=field,
            fix=f"write e.g. {{'name': 'snv'}}; steps: {', '.join(STEP_TYPES)}",
        )
    name = spec["name"]
    cls = STEP_TYPES.get(name)
    if cls is None:
        close = difflib.get_close_matches(str(name), list(STEP_TYPES), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(
            f"unknown preprocessing step '{name}'",
            field=f"{field}.name",
            fix=f"{hint}known steps: {', '.join(STEP_TYPES)}",
        )
    return cls.from_spec({k: v for k, v in spec.items() if k != "name"}, field=field, tables=tables)


def _array(tensors: Mapping[str, torch.Tensor], key: str, source) -> np.ndarray:
    name = f"{_PREFIX}{key}"
    if name not in tensors:
        raise ArtifactError(
            f"the artifact has no tensor '{name}'",
            path=source,
            field="preprocessing",
            fix="the file is damaged or from another geosoil version; retrain the model",
        )
    return tensors[name].detach().cpu().numpy().astype(np.float64, copy=False)
