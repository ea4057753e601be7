"""A trained artifact as a source of map layers: which inputs it reads, what it writes.

Most estimators map their artifact's input and output specs one to one. An estimator whose
mapping inputs differ from its training inputs (BINN reads forcing *arrays* in training but
one raster layer per forcing value in a map) declares the :class:`FlatMapper` interface,
and the engine uses it instead; one that also declares ``map_bounded_outputs()`` and
``predict_flat_bounds()`` (BINN: the SOC stocks) gets conformal ``_lo``/``_hi`` layers for those
outputs. An estimator with a ``prepare_mapping()`` method has it called once when its layers
join a map run (tree ensembles load their compiled evaluator there, or warn which extra to
install).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from geosoil.artifacts import Artifact
from geosoil.errors import ArtifactError, ConfigError, GeoSoilError
from geosoil.geo.outputs import MapClass, OutputVariable
from geosoil.specs import OutputSpec
from geosoil.trust import TrustLayer, check_level
from geosoil.trust.layer import covariate_columns

if TYPE_CHECKING:
    from geosoil.mapping.cube import SpectralResampling

__all__ = [
    "AOA_CLASSES",
    "IN_DOMAIN_CLASSES",
    "UNCERTAINTY_SUFFIXES",
    "FlatMapper",
    "ModelLayers",
    "predict_pixels",
]

# Extra layers written for models with ``predict_dist``: the model's own spread, *uncalibrated*
# (named as spread, not as percentiles: on real data such bands covered 34-80 % for a nominal
# 90 %). Calibrated bounds are the conformal ``_lo``/``_hi`` layers.
UNCERTAINTY_SUFFIXES = ("spread_sd", "spread_lo", "spread_hi")
_LEVELS = (0.05, 0.95)
log = logging.getLogger(__name__)
AOA_CLASSES = (
    MapClass(0, "outside the area of applicability", "#d7191c"),
    MapClass(1, "inside the area of applicability", "#1a9641"),
)
IN_DOMAIN_CLASSES = (
    MapClass(0, "out of the training spectra's domain", "#d7191c"),
    MapClass(1, "in the training spectra's domain", "#1a9641"),
)


@runtime_checkable
class FlatMapper(Protocol):
    """An estimator that maps from a flat (pixels, inputs) matrix of named layers.

    ``map_inputs()`` names the catalog layers of the columns, ``map_outputs()`` the
    columns returned by ``predict_flat(X)`` ((n, k) for (n, len(map_inputs())) inputs).

    Optionally, for interval bounds: ``map_bounded_outputs()`` -> {output name: how its
    bounds are computed}, and ``predict_flat_bounds(X, calibration, *, level)`` -> (n, k + 2m):
    ``predict_flat``'s columns, then the lower and upper bound of each bounded output in turn.
    """

    def map_inputs(self) -> list[str]: ...

    def map_outputs(self) -> OutputSpec: ...

    def predict_flat(self, X: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelLayers:
    """The layers one artifact contributes to a map run.

    Parameters
    ----------
    artifact
        The loaded model.
    name
        Name of the main output layer; the artifact's output name by default. For an
        artifact with several outputs, a prefix of their names (``<name>_<output>``).
    uncertainty
        Also write ``<name>_std``, ``<name>_p05`` and ``<name>_p95`` (models whose estimator
        offers ``predict_dist``).
    resampling
        For a spectral model: the cube's good bands onto the model's axis (set when the job
        is built, see :meth:`with_resampling`).
    aoa
        Write ``<name>_di`` (dissimilarity index) and ``<name>_aoa`` (1 inside the area of
        applicability, 0 outside) for a covariate model, or ``<name>_t2``, ``<name>_q`` and
        ``<name>_in_domain`` for a spectral one.
    interval_level
        Write the conformal bounds ``<name>_lo`` and ``<name>_hi`` at this coverage; None
        for none.
    """

    artifact: Artifact
    name: str
    uncertainty: bool = False
    resampling: SpectralResampling | None = None
    aoa: bool = False
    interval_level: float | None = None

    @classmethod
    def build(
        cls,
        artifact: Artifact,
        *,
        name: str | None = None,
        uncertainty: bool = False,
        aoa: bool | None = None,
        intervals: bool | None = None,
        interval_level: float = 0.9,
    ) -> ModelLayers:
        """The layers of one artifact in a map run.

        ``aoa`` and ``intervals``: True requires them (a clear error for an artifact trained
        without them), False turns them off, None (default) maps them when the artifact has
        them and warns otherwise.
        """
        if uncertainty and not getattr(artifact.estimator, "supports_dist", False):
            raise ConfigError(
                f"model '{artifact.header.estimator}' offers no predictive distribution",
                path=artifact.path,
                field="models.uncertainty",
                fix="set uncertainty: false, or train an ensemble "
                "(e.g. --set model.params.n_members=5)",
            )
        _check_inputs(artifact)
        prepare = getattr(artifact.estimator, "prepare_mapping", None)
        if prepare is not None:
            prepare()
        names = _output_spec(artifact).names
        if uncertainty and len(names) > 1:
            raise ConfigError(
                f"uncertainty layers are mapped for single-output models; this one has {names}",
                path=artifact.path,
                field="models.uncertainty",
                fix="set uncertainty: false for this model",
            )
        default = names[0] if len(names) == 1 else ""
        trust = _trust(artifact)
        spectral = artifact.header.input_spec.kind == "spectra"
        domain_part = "spectral_domain" if spectral else "applicability"
        # A model with several outputs maps no AOA: nothing to warn of unless it is asked for.
        want_aoa = (len(names) == 1 or aoa is True) and _wanted(
            trust, domain_part, aoa, artifact, "models.aoa"
        )
        level = None
        if _wanted(trust, "intervals", intervals, artifact, "models.intervals"):
            level = check_level(interval_level, field="models.interval_level")
        # A model with several outputs maps bounds only of those it declares, and no AOA.
        bounded = bool(_bounded(artifact))
        if len(names) > 1 and (want_aoa or (level is not None and not bounded)):
            want_aoa, level = False, level if bounded else None
            log.warning(
                "%s has several outputs: no %s mapped",
                artifact.path.name,
                "area of applicability" if level is not None else "trust layers",
            )
        return cls(artifact, name or default, uncertainty, None, want_aoa, level)

    @property
    def trust(self) -> TrustLayer:
        return _trust(self.artifact)

    @property
    def bounded_outputs(self) -> dict[str, str]:
        """Outputs of a several-output model that get ``_lo``/``_hi`` layers, each with how
        its bounds are computed; empty when none."""
        if self.interval_level is None or len(_output_spec(self.artifact).names) == 1:
            return {}
        return _bounded(self.artifact)

    def interval_layers(self) -> list[str]:
        """Names of the ``_lo``/``_hi`` layers, in :meth:`outputs` order."""
        if self.interval_level is None:
            return []
        bases = [self._prefixed(n) for n in self.bounded_outputs] or [self.name]
        return [f"{base}{suffix}" for base in bases for suffix in ("_lo", "_hi")]

    def _prefixed(self, output: str) -> str:
        return f"{self.name}_{output}" if self.name else output

    @property
    def is_spectral(self) -> bool:
        """Whether the model reads spectra (from a cube) rather than named covariates."""
        return self.artifact.header.input_spec.kind == "spectra"

    @property
    def is_flat(self) -> bool:
        """Whether the estimator declares its own mapping interface (:class:`FlatMapper`)."""
        return isinstance(self.artifact.estimator, FlatMapper)

    @property
    def inputs(self) -> list[str]:
        """Names of the stack rows it reads: covariates, or the cube's good bands."""
        if self.is_spectral:
            return list(self.resampling.input_names) if self.resampling is not None else []
        if self.is_flat:
            return list(self.artifact.estimator.map_inputs())
        return self.artifact.header.input_spec.names

    @property
    def coordinate_inputs(self) -> tuple[str, ...]:
        """Inputs that are each pixel's easting and northing (a kriging model declares them
        as ``map_coordinates``): the engine computes them from the block's grid."""
        if self.is_spectral or self.is_flat:
            return ()
        return tuple(getattr(self.artifact.estimator, "map_coordinates", ()))

    @property
    def coordinate_crs(self) -> str | None:
        """CRS of :attr:`coordinate_inputs` (the training samples'); None: the grid's."""
        return self.artifact.header.input_spec.crs

    @property
    def covariate_inputs(self) -> list[str]:
        """The inputs read from the stack: :attr:`inputs` less the coordinates."""
        return [name for name in self.inputs if name not in self.coordinate_inputs]

    def with_resampling(self, resampling: SpectralResampling) -> ModelLayers:
        """A copy that reads a cube through ``resampling``."""
        return dataclasses.replace(self, resampling=resampling)

    @property
    def sha256(self) -> str:
        return self.artifact.sha256

    def outputs(self) -> list[OutputVariable]:
        spec = _output_spec(self.artifact)
        source = f"{self.artifact.header.estimator} {self.artifact.sha256[:12]}"
        if len(spec.names) > 1:
            variables = [
                OutputVariable(self._prefixed(name), units, f"{name} predicted by {source}")
                for name, units in zip(spec.names, spec.units, strict=True)
            ]
            units = dict(zip(spec.names, spec.units, strict=True))
            for name, how in self.bounded_outputs.items():
                about = self.trust.describe_intervals(self.interval_level)
                variables += [
                    OutputVariable(
                        self._prefixed(name) + suffix,
                        units[name],
                        f"{end} bound of {name} from the {about}: {how}",
                    )
                    for suffix, end in (("_lo", "lower"), ("_hi", "upper"))
                ]
            return variables
        units = spec.units[0]
        trust = self.trust
        estimate = trust.back_transform.estimate if trust.back_transform.transform != "none" else ""
        what = f"{estimate} of {spec.names[0]}" if estimate else spec.names[0]
        variables = [OutputVariable(self.name, units, f"{what} predicted by {source}")]
        if self.uncertainty:
            described = {
                "spread_sd": "uncalibrated spread (standard deviation of the model's members)",
                "spread_lo": "lower end of the model's uncalibrated 5-95 % spread band",
                "spread_hi": "upper end of the model's uncalibrated 5-95 % spread band",
            }
            variables += [
                OutputVariable(
                    f"{self.name}_{suffix}", units, f"{described[suffix]} of {self.name}"
                )
                for suffix in UNCERTAINTY_SUFFIXES
            ]
        if self.interval_level is not None:
            about = trust.describe_intervals(self.interval_level)
            variables += [
                OutputVariable(f"{self.name}_lo", units, f"lower bound of the {about}"),
                OutputVariable(f"{self.name}_hi", units, f"upper bound of the {about}"),
            ]
        if self.aoa and self.is_spectral:
            variables += [
                OutputVariable(f"{self.name}_t2", "", "Hotelling T2 of the spectrum (PCA model)"),
                OutputVariable(f"{self.name}_q", "", "Q residual of the spectrum (PCA model)"),
                OutputVariable(
                    f"{self.name}_in_domain", "", "spectrum within the T2 and Q limits",
                    "classes", IN_DOMAIN_CLASSES,
                ),
            ]  # fmt: skip
        elif self.aoa:
            variables += [
                OutputVariable(f"{self.name}_di", "", "dissimilarity index (CAST)"),
                OutputVariable(
                    f"{self.name}_aoa", "", f"area of applicability of {self.name}",
                    "classes", AOA_CLASSES,
                ),
            ]  # fmt: skip
        return variables

    def predict(self, features: np.ndarray, *, batch_pixels: int) -> dict[str, np.ndarray]:
        """Maps of every output from float32 (n_inputs, rows, cols) features, NaN = invalid.

        An estimator may ask for larger batches (``map_batch_pixels``): tree walks gain
        nothing from small ones and split each batch over the block's threads.
        """
        batch_pixels = max(batch_pixels, getattr(self.artifact.estimator, "map_batch_pixels", 0))
        outputs = self.outputs()
        transform = None if self.resampling is None else self.resampling.apply
        if self.aoa or self.interval_level is not None or self.trust.back_transform.factor != 1:
            columns = _scatter(
                features,
                len(outputs),
                batch_pixels=batch_pixels,
                transform=transform,
                predict_batch=self._trusted_batch,
            )
        else:
            columns = predict_pixels(
                self.artifact.estimator,
                features,
                n_outputs=len(outputs),
                uncertainty=self.uncertainty,
                batch_pixels=batch_pixels,
                transform=transform,
                method="predict_flat" if self.is_flat else "predict",
            )
        return {var.name: column for var, column in zip(outputs, columns, strict=True)}

    def _trusted_batch(self, pixels: np.ndarray) -> np.ndarray:
        """(n_outputs, n) columns in :meth:`outputs` order for one batch of valid pixels."""
        estimator, trust = self.artifact.estimator, self.trust
        if self.bounded_outputs:
            bounded = estimator.predict_flat_bounds(
                pixels, trust.intervals, level=self.interval_level
            )
            return np.asarray(bounded, dtype=np.float32).T
        method = "predict_flat" if self.is_flat else "predict"
        columns = []
        if self.uncertainty:
            mean, std, quantiles = estimator.predict_dist(pixels, levels=_LEVELS)
            median = np.asarray(mean, dtype=np.float32)
            columns += [trust.back_transform.apply(median), std, *quantiles]
        else:
            median = np.asarray(getattr(estimator, method)(pixels), dtype=np.float32)
            columns.append(trust.back_transform.apply(median))
        di = None
        if self.aoa and not self.is_spectral:
            di, inside = trust.applicability.evaluate(covariate_columns(estimator, pixels))
        if self.interval_level is not None:
            columns += trust.interval(estimator, pixels, median, level=self.interval_level, di=di)
        if self.aoa and self.is_spectral:
            t2, q = trust.spectral_domain.statistics(_preprocessed(estimator, pixels))
            columns += [t2, q, trust.spectral_domain.in_domain(t2, q)]
        elif self.aoa:
            columns += [di, inside]
        return np.stack([np.asarray(c, dtype=np.float32).reshape(-1) for c in columns])


def _trust(artifact: Artifact) -> TrustLayer:
    return artifact.trust if artifact.trust is not None else TrustLayer.from_parts({}, None)


def _wanted(trust: TrustLayer, part: str, asked: bool | None, artifact: Artifact, field) -> bool:
    """Whether to map a trust part: required (True), off (False) or when present (None)."""
    if asked is False:
        return False
    present = getattr(trust, part) is not None
    if asked and not present:
        try:
            trust.require(part, path=artifact.path)
        except GeoSoilError as err:
            key = field.removeprefix("models.")
            err.field, err.fix = field, f"{err.fix} ({key}: false in its entry under models)"
            raise
    if asked is None and not present:
        log.warning(
            "%s has no %s (%s): those layers are not mapped%s",
            artifact.path.name,
            part.replace("_", " "),
            "; ".join(trust.notes) or "trained before the trust layer",
            "; retrain to get them" if trust.retrain_helps else "",
        )
    return present


def _bounded(artifact: Artifact) -> dict[str, str]:
    """A FlatMapper's bounded outputs (``map_bounded_outputs``); empty for other models."""
    declared = getattr(artifact.estimator, "map_bounded_outputs", None)
    return dict(declared()) if isinstance(artifact.estimator, FlatMapper) and declared else {}


def _preprocessed(estimator, pixels: np.ndarray) -> np.ndarray:
    """Spectra as the spectral domain saw them in training: through the model's preprocessing."""
    pipeline = getattr(estimator, "preprocessing_", None)
    return pixels if pipeline is None else pipeline.transform(pixels)


def _check_inputs(artifact: Artifact) -> None:
    """The header's input layers are the columns the fitted estimator was trained on."""
    if artifact.header.input_spec.kind != "covariates" or isinstance(
        artifact.estimator, FlatMapper
    ):
        return
    fitted = getattr(artifact.estimator, "feature_names_in_", None)
    declared = artifact.header.input_spec.names
    if fitted is not None and list(fitted) != declared:
        raise ArtifactError(
            f"the artifact's header lists input layers {declared}, but its model was fitted "
            f"on {list(fitted)}",
            path=artifact.path,
            field="geosoil.input_spec.layers",
            fix="the header was edited or damaged; restore the original file or retrain",
        )


def _output_spec(artifact: Artifact) -> OutputSpec:
    """What a model writes: its flat-mapping outputs if it declares them, else its artifact's."""
    if isinstance(artifact.estimator, FlatMapper):
        return artifact.estimator.map_outputs()
    return artifact.header.output_spec


def predict_pixels(
    estimator,
    features: np.ndarray,
    *,
    n_outputs: int = 1,
    uncertainty: bool = False,
    batch_pixels: int = 8192,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    method: str = "predict",
) -> np.ndarray:
    """Predict the valid pixels of a block: gather, batched predict, scatter back.

    Parameters
    ----------
    estimator
        Fitted estimator; ``predict`` (or ``predict_dist`` with ``uncertainty``) takes an
        (N, n_features) array.
    features
        float32 (n_features, rows, cols); a pixel is valid when all its features are finite.
    n_outputs
        The estimator's outputs (``predict`` returns (N,) for one, (N, n_outputs) for
        several), or 4 with ``uncertainty`` (mean, std, p05, p95).
    batch_pixels
        Pixels per call. Small batches keep activations in the CPU cache and spare the
        allocator from mapping fresh memory for every forward pass: on the 2-core machine,
        an MLP 12-64-64-4 runs 23% faster with 8,192 rows than with 65,536.
    transform
        Applied to each batch of valid pixels (n, n_features) before the estimator sees it
        (the resampling of cube bands onto a spectral model's axis).
    method
        The estimator method that predicts a batch: ``"predict"``, or ``"predict_flat"``
        for a :class:`FlatMapper`.

    Returns
    -------
    numpy.ndarray
        float32 (n_outputs, rows, cols), NaN where any input was invalid.
    """

    def predict_batch(pixels: np.ndarray) -> np.ndarray:
        if uncertainty:
            mean, std, quantiles = estimator.predict_dist(pixels, levels=_LEVELS)
            return np.vstack([mean[None], std[None], quantiles])
        predicted = np.asarray(getattr(estimator, method)(pixels))
        return predicted.reshape(len(pixels), n_outputs).T

    return _scatter(
        features,
        n_outputs,
        batch_pixels=batch_pixels,
        transform=transform,
        predict_batch=predict_batch,
    )


def _scatter(
    features: np.ndarray,
    n_outputs: int,
    *,
    batch_pixels: int,
    transform: Callable[[np.ndarray], np.ndarray] | None,
    predict_batch: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Gather the valid pixels, ``predict_batch`` them ((n, F) -> (n_outputs, n)), scatter."""
    n_features, rows, cols = features.shape
    flat = features.reshape(n_features, -1)
    valid = np.isfinite(flat).all(axis=0)
    out = np.full((n_outputs, rows * cols), np.nan, dtype=np.float32)
    index = np.flatnonzero(valid)
    if index.size:
        # torch models (torch is imported once one is loaded) predict without autograd.
        torch = sys.modules.get("torch")
        with torch.inference_mode() if torch is not None else nullcontext():
            for start in range(0, index.size, batch_pixels):
                stop = min(start + batch_pixels, index.size)
                target = index[start:stop]
                # Gathered per batch, straight into (n, F) rows: with hundreds of cube bands,
                # all valid pixels at once would double the block's memory.
                pixels = flat.T[target]
                if transform is not None:
                    pixels = transform(pixels)
                out[:, target] = predict_batch(pixels)
    return out.reshape(n_outputs, rows, cols)
