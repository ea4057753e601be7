"""The estimator contract shared by every geosoil model (DESIGN 4.2).

``__init__`` stores keyword hyperparameters unchanged; ``fit`` validates, learns and returns
``self``; learned state ends in ``_``; ``predict`` returns values in the target's units.
Each estimator also says how its learned state splits into tensors and JSON, which is all
the artifact needs to save and restore it without pickle.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from geosoil.errors import ConfigError, NotFittedError, sklearn_not_fitted_error

__all__ = [
    "GeoSoilEstimator",
    "NotFittedError",
    "check_choice",
    "check_whole",
    "pack_inner",
    "unpack_inner",
]

log = logging.getLogger(__name__)


# Hyperparameters that count something a fit cannot do zero times.
_POSITIVE_COUNTS = frozenset({"max_epochs", "batch_size", "n_members"})


class GeoSoilEstimator:
    """Base class: hyperparameter handling, fitted checks and the artifact state hooks.

    Estimators with uncertainty (DESIGN 4.2) also offer ``predict_dist`` and return True
    from :attr:`supports_dist`; callers such as the mapping engine check the property first
    rather than catching ``AttributeError``. The contract::

        predict_dist(X, *, levels=(0.05, 0.95)) -> (mean, std, quantiles)

    ``mean`` equals ``predict(X)`` bit for bit; ``std`` is a standard deviation in the
    target's units; ``quantiles`` has one row per probability in ``levels``. ``mean`` and
    ``std`` have shape ``(N,)``, ``quantiles`` ``(len(levels), N)``, all float32, and, like
    ``predict``, every value depends only on its own row, never on how rows are batched.
    """

    registry_name: ClassVar[str]
    #: Old hyperparameter name -> its current name: configs and artifacts written with the
    #: old name still load, with a deprecation message.
    renamed_params: ClassVar[dict[str, str]] = {}

    @classmethod
    def param_names(cls) -> list[str]:
        """Keyword hyperparameters of ``__init__``."""
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY]

    def _store_params(self, arguments: dict[str, Any]) -> None:
        """Store every keyword hyperparameter of ``__init__`` unchanged.

        Call it as ``self._store_params(locals())`` as the whole body of ``__init__``: the
        scikit-learn convention (``__init__`` only stores its arguments) in one place.
        """
        for name in self.param_names():
            setattr(self, name, arguments[name])

    @classmethod
    def from_params(cls, params: dict[str, Any], *, source: str = "params"):
        """Build an estimator, refusing hyperparameters it does not have."""
        params = cls.upgrade_params(params, source=source)
        allowed = cls.param_names()
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ConfigError(
                f"estimator '{cls.registry_name}' has no hyperparameter(s) {unknown}",
                field=f"{source}.{unknown[0]}",
                fix=f"allowed: {', '.join(allowed)}",
            )
        for name in _POSITIVE_COUNTS & set(params):
            value = params[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    f"hyperparameter '{name}' must be a whole number of at least 1, got {value!r}",
                    field=f"{source}.{name}",
                    fix=f"set {source}.{name} to 1 or more",
                )
        return cls(**params)

    @classmethod
    def upgrade_params(cls, params: dict[str, Any], *, source: str = "params") -> dict:
        """``params`` with deprecated names (:attr:`renamed_params`) renamed, each with a
        deprecation message; a ConfigError where both the old and the new name are given."""
        params = dict(params)
        for old, new in cls.renamed_params.items():
            if old not in params:
                continue
            if new in params:
                raise ConfigError(
                    f"both {old} (deprecated) and {new} are given",
                    field=f"{source}.{old}",
                    fix=f"keep only {new}",
                )
            message = f"{source}.{old} is deprecated: it is now called {new}"
            log.warning("%s", message)
            warnings.warn(message, DeprecationWarning, stacklevel=3)
            params[new] = params.pop(old)
        return params

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyperparameters as given to ``__init__`` (scikit-learn's contract; no nesting)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params: Any) -> GeoSoilEstimator:
        """Set hyperparameters (scikit-learn's contract); unknown names are refused."""
        unknown = sorted(set(params) - set(self.param_names()))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no hyperparameter(s) {unknown}; "
                f"valid: {', '.join(self.param_names())}"
            )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        """A regressor that needs y, so ``clone``, ``cross_val_predict`` and ``Pipeline``
        treat it as one."""
        from sklearn.utils import RegressorTags, Tags, TargetTags

        return Tags(
            estimator_type="regressor",
            target_tags=TargetTags(required=True),
            regressor_tags=RegressorTags(),
        )

    def score(self, X, y, sample_weight=None) -> float:
        """R2 of ``predict(X)`` against ``y`` (scikit-learn's regressor score)."""
        from sklearn.metrics import r2_score

        return float(r2_score(y, self.predict(X), sample_weight=sample_weight))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def is_fitted(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    @property
    def supports_dist(self) -> bool:
        """Whether ``predict_dist`` is available with these hyperparameters.

        False here; estimators that offer ``predict_dist`` return True. Known before ``fit``,
        so a workflow can refuse an uncertainty product before training or mapping.
        """
        return False

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise sklearn_not_fitted_error()(
                f"{type(self).__name__} is not fitted", fix="call fit(X, y) first"
            )

    # Artifact hooks: learned state as named tensors plus a JSON-serializable dict.
    def export_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        raise NotImplementedError

    @classmethod
    def from_state(
        cls, params: dict[str, Any], tensors: dict[str, Any], state: dict[str, Any]
    ) -> GeoSoilEstimator:
        raise NotImplementedError

    def fit(self, X, y) -> GeoSoilEstimator:
        raise NotImplementedError

    def predict(self, X) -> np.ndarray:
        raise NotImplementedError


def check_choice(value: Any, allowed: Sequence[Any], field: str) -> Any:
    """Refuse a hyperparameter outside ``allowed`` with a ConfigError on ``field``."""
    if value not in allowed:
        raise ConfigError(
            f"{field.rsplit('.', 1)[-1]}={value!r} is not one of {list(allowed)}",
            field=field,
            fix=f"choose one of {list(allowed)}",
        )
    return value


def check_whole(value: Any, name: str, *, minimum: int = 1) -> None:
    """Refuse a hyperparameter ``name`` that is not a whole number >= ``minimum``.

    Raises
    ------
    ConfigError
        On ``params.<name>``; booleans and floats are refused too.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(
            f"{name}={value!r} is not a whole number of at least {minimum}",
            field=f"params.{name}",
            fix="use a positive integer" if minimum == 1 else f"use an integer >= {minimum}",
        )


def pack_inner(
    prefix: str, estimator: GeoSoilEstimator, *, params: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A composite's inner estimator (a stack member, the learner under regression kriging)
    for the artifact: its tensors under ``<prefix>.`` and its ``{"params", "state"}`` entry
    (``params``: JSON-ready parameters, by default ``get_params()``)."""
    tensors, state = estimator.export_state()
    entry = {"params": estimator.get_params() if params is None else params, "state": state}
    return {f"{prefix}.{key}": value for key, value in tensors.items()}, entry


def unpack_inner(
    cls: type[GeoSoilEstimator], prefix: str, tensors: dict[str, Any], entry: dict[str, Any]
) -> tuple[GeoSoilEstimator, set[str]]:
    """The estimator :func:`pack_inner` stored under ``prefix``, and the tensor keys it used."""
    start = f"{prefix}."
    own = {key.removeprefix(start): v for key, v in tensors.items() if key.startswith(start)}
    estimator = cls.from_state(dict(entry["params"]), own, entry["state"])
    return estimator, {start + key for key in own}
