"""One exception root for everything geosoil refuses to do.

Every message names the file, the field and the fix, so the CLI can print it as it is and
exit non-zero without a traceback: exit code 2 for usage and config errors (a bad key or
value, an output folder taken without ``--overwrite``; click's own usage errors also exit 2),
1 for data errors (missing or unusable files, samples, rasters, artifacts).
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "ArtifactError",
    "CalibrationError",
    "ConfigError",
    "CovariateError",
    "CubeError",
    "ExplainError",
    "FeatureCountError",
    "FinalFitError",
    "GeoSoilError",
    "InputFileNotFoundError",
    "MissingCRSError",
    "NotFittedError",
    "OutputError",
    "OutputExistsError",
    "RegistryError",
    "SampleDataError",
    "SimulatorError",
    "SpectraError",
    "TrainingDivergedError",
    "params_at",
    "sklearn_not_fitted_error",
]


class GeoSoilError(Exception):
    """Root of every error geosoil raises on purpose.

    Parameters
    ----------
    message
        What is wrong, in one sentence.
    path
        The file or folder concerned, if any.
    field
        The config key, column, layer or header field concerned, if any.
    fix
        What the user should do about it.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        self.field = field
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.path is not None:
            where.append(f"file: {self.path}")
        if self.field is not None:
            where.append(f"field: {self.field}")
        text = self.message
        if where:
            text += f" [{'; '.join(where)}]"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class InputFileNotFoundError(GeoSoilError, FileNotFoundError):
    """A file named in a config, a flag or a catalog does not exist."""


class ConfigError(GeoSoilError):
    """A config file is malformed, has unknown keys or invalid values."""

    exit_code = 2


class SampleDataError(GeoSoilError):
    """Sample points are unusable: no CRS, missing or non-numeric target, no valid rows."""


class MissingCRSError(SampleDataError):
    """A vector or raster file carries no coordinate reference system."""


class CovariateError(GeoSoilError):
    """A covariate layer is missing, unreadable, or does not match what a model needs."""


class FeatureCountError(CovariateError, ValueError):
    """An array with another number of columns than the model was fitted on; a ValueError
    too, as scikit-learn expects of its estimators."""


class ArtifactError(GeoSoilError):
    """A model artifact is truncated, malformed or from an incompatible schema."""


class RegistryError(ArtifactError):
    """An estimator name is not in the registry (never imported from a header)."""


class OutputError(GeoSoilError):
    """An output location cannot be written (permissions, disk full)."""


class OutputExistsError(OutputError):
    """The output location is taken and the user did not ask to overwrite it."""

    exit_code = 2


class CalibrationError(GeoSoilError):
    """A trust layer (area of applicability, conformal intervals, spectral domain) cannot be
    fitted or applied: too few calibration residuals, a bad coverage level, an artifact
    trained before the trust layer existed, a spectral quantity mismatch."""


class SpectraError(SampleDataError):
    """Spectra or their axis are unusable: NaN/Inf, a bad axis, another axis than a model's."""


class ExplainError(GeoSoilError):
    """Attributions cannot be computed: an unsupported model, mixed axes, bad baselines."""


class NotFittedError(GeoSoilError):
    """``predict`` or ``save`` was called before ``fit``."""


@functools.cache
def sklearn_not_fitted_error() -> type[NotFittedError]:
    """A NotFittedError that is scikit-learn's too, for estimators to raise (what
    ``cross_val_predict``, ``check_is_fitted`` and the estimator checks catch); scikit-learn
    is imported only when one is raised."""
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    class EstimatorNotFittedError(NotFittedError, SklearnNotFittedError):
        __doc__ = NotFittedError.__doc__

    return EstimatorNotFittedError


class TrainingDivergedError(GeoSoilError):
    """The network's validation loss never became finite: the learning rate is too high."""


class SimulatorError(GeoSoilError):
    """A simulator failed: not found, crashed, timed out, or returned unusable fluxes."""

    exit_code = 1


class CubeError(GeoSoilError):
    """An image cube is unreadable, or its bands cannot be placed on a model's axis."""


class FinalFitError(GeoSoilError):
    """A final model scores far below its cross-validated figures on its own training rows."""


ESTIMATOR_PARAMS = "params"
"""How an estimator names its hyperparameters in errors: ``params.<name>``."""

# ``params.`` at the start of a path, not inside one (``model.params.`` is already placed).
_BARE_PARAMS = re.compile(r"(?<![\w.])" + re.escape(ESTIMATOR_PARAMS) + r"\.")


@contextlib.contextmanager
def params_at(section: str) -> Iterator[None]:
    """Report estimator errors under the config path of their hyperparameters.

    Estimators name a bad hyperparameter ``params.<name>``: they do not know where a
    command keeps them. A workflow runs its estimator inside this block (or decorates its
    entry point with it), which rewrites the field, the fix and the message to
    ``<section>.<name>``: ``model.params`` in ``geosoil train``, ``models.<name>.params``
    in ``geosoil evaluate``, ``generator`` in ``geosoil calibrate``. Nested blocks are
    fine: the innermost one places the path, the others leave it.
    """
    try:
        yield
    except GeoSoilError as err:
        if err.field and err.field.startswith(ESTIMATOR_PARAMS + "."):

            def place(text: str) -> str:
                return _BARE_PARAMS.sub(lambda _: section + ".", text)

            err.field = place(err.field)
            err.message = place(err.message)
            if err.fix:
                err.fix = place(err.fix)
            err.args = (str(err),)
        raise
