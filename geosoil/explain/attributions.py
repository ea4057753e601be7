"""Wavelength attributions of spectral models: which bands move a prediction, and which way.

For a network ``f`` over preprocessed spectra, GradientShap (Lundberg and Lee 2017, as
implemented by captum) estimates, for every band ``j`` of a spectrum ``x``,

    phi_j(x) = E_{b, a} [ (x_j - b_j) * df/dx_j (b + a (x - b)) ]

over baselines ``b`` drawn from a reference set and points ``a ~ U(0, 1)`` on the straight
path from ``b`` to ``x``. The attributions of a spectrum add up, in expectation, to
``f(x) - E_b[f(b)]`` (completeness), so they are in the units of the network's output: the
transformed target (log10 Kex for a log10 target transform). For an ensemble the attributions
and outputs of the members are averaged, which is the attribution of the ensemble mean.

Models without networks are explained exactly when they are linear in the preprocessed
inputs (PLSR): ``phi_j(x) = coef_j (x_j - E[b_j])``, which satisfies completeness exactly.
A model that is neither is refused with :class:`ExplainError`.

captum draws its random numbers from numpy's and torch's global generators; each call here
seeds them from ``seed`` (and the member and batch index) and restores them afterwards, so
the attributions are a function of the inputs, the seed and ``batch_size`` only, and the
caller's random state is left alone.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from geosoil.errors import ExplainError
from geosoil.spectra.axis import SpectralAxis

__all__ = [
    "Attributions",
    "ExplainError",
    "gradient_shap",
    "spectral_attributions",
]

log = logging.getLogger(__name__)

BaselineSpec = Literal["mean"] | int | np.ndarray


@dataclass(frozen=True)
class Attributions:
    """Per-sample, per-band attributions of one model (an ensemble counts as one model).

    Attributes
    ----------
    values
        float32 (n_samples, n_bands): contribution of each band to the model output, in the
        output's units (the transformed target).
    axis
        The axis of the attributed bands: the model's preprocessed axis (``axis_out_``).
    inputs
        float32 (n_samples, n_bands): the preprocessed spectra that were explained.
    outputs
        float64 (n_samples,): model output for each spectrum, in the transformed target scale
        (ensemble mean).
    baseline_output
        ``E_b[f(b)]`` over the baselines, same scale.
    method
        ``"gradient_shap"`` (networks) or ``"linear"`` (exact, linear models).
    target_transform
        Scale of ``outputs`` and ``values``: ``"none"`` or ``"log10"``.
    n_members
        Networks averaged (1 for a single network or a linear model).
    """

    values: np.ndarray
    axis: SpectralAxis
    inputs: np.ndarray
    outputs: np.ndarray
    baseline_output: float
    method: Literal["gradient_shap", "linear"]
    target_transform: str = "none"
    n_members: int = 1

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def completeness_gap(self) -> np.ndarray:
        """``f(x) - E[f(b)] - sum_j phi_j(x)`` per sample: Monte-Carlo error (0 if linear)."""
        return self.outputs - self.baseline_output - self.values.sum(axis=1, dtype=np.float64)


# ----------------------------------------------------------------------------- the core
def gradient_shap(
    forwards: Sequence[nn.Module],
    inputs: np.ndarray,
    baselines: np.ndarray,
    *,
    n_samples: int = 50,
    stdevs: float = 0.0,
    seed: int = 0,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray, float]:
    """GradientShap attributions of an ensemble of torch modules, averaged over members.

    Parameters
    ----------
    forwards
        Modules mapping float32 ``(n, n_bands)`` to ``(n,)`` or ``(n, 1)``. They are run in
        eval mode (their training flags are restored afterwards).
    inputs
        float (n, n_bands): the inputs to explain.
    baselines
        float (m, n_bands): the reference distribution; ``m == 1`` for a single reference.
    n_samples
        Random draws (baseline row, point on the path) per input.
    stdevs
        Standard deviation of Gaussian noise added to the inputs (SmoothGrad); 0 for none.
    seed
        Seeds the draws; the same seed and ``batch_size`` give the same attributions.
    batch_size
        Forward rows per pass: ``max(1, batch_size // n_samples)`` inputs are explained at a
        time, each expanded ``n_samples`` times, which bounds memory.

    Returns
    -------
    values, outputs, baseline_output
        float32 (n, n_bands) attributions, float64 (n,) outputs ``f(x)`` and the float
        ``E_b[f(b)]``, all averaged over members.
    """
    with warnings.catch_warnings():
        # captum imports tqdm.auto, which warns in a notebook without ipywidgets; geosoil
        # shows no captum progress bar, so the warning says nothing useful there
        warnings.filterwarnings("ignore", message="IProgress not found")
        from captum.attr import GradientShap

    if not forwards:
        raise ExplainError("no network to explain", fix="pass at least one torch module")
    inputs = _as_matrix(inputs, "inputs")
    baselines = _as_matrix(baselines, "baselines")
    if baselines.shape[1] != inputs.shape[1]:
        raise ExplainError(
            f"baselines have {baselines.shape[1]} bands, the inputs {inputs.shape[1]}",
            field="baselines",
            fix="give baselines on the same axis as the explained spectra",
        )
    if n_samples < 1 or batch_size < 1:
        raise ExplainError(
            f"n_samples ({n_samples}) and batch_size ({batch_size}) must be at least 1",
            field="n_samples",
            fix="use positive counts",
        )
    per_pass = max(1, batch_size // n_samples)
    values = np.zeros(inputs.shape, dtype=np.float64)
    outputs = np.zeros(inputs.shape[0], dtype=np.float64)
    baseline_output = 0.0
    with _eval_mode(forwards):
        for member, module in enumerate(forwards):
            forward = _ScalarOutput(module)
            device = _device_of(module)
            reference = torch.from_numpy(baselines).to(device)
            explainer = GradientShap(forward)
            for batch, start in enumerate(range(0, inputs.shape[0], per_pass)):
                chunk = torch.from_numpy(inputs[start : start + per_pass]).to(device)
                with _seeded_global_rngs(_draw_seed(seed, member, batch)):
                    attr = explainer.attribute(
                        chunk, baselines=reference, n_samples=n_samples, stdevs=stdevs
                    )
                values[start : start + per_pass] += attr.detach().cpu().numpy()
            outputs += _predict(forward, inputs, device, batch_size)
            baseline_output += float(_predict(forward, baselines, device, batch_size).mean())
    n = len(forwards)
    return (values / n).astype(np.float32), outputs / n, baseline_output / n


def spectral_attributions(
    estimator: Any,
    X: np.ndarray,
    *,
    axis: SpectralAxis | None = None,
    baselines: BaselineSpec = "mean",
    n_samples: int = 50,
    stdevs: float = 0.0,
    seed: int = 0,
    batch_size: int = 256,
) -> Attributions:
    """Attributions of a fitted spectral estimator over its preprocessed bands.

    Parameters
    ----------
    estimator
        A fitted spectral estimator: one with ``networks_`` (``SpectralCNN``: GradientShap,
        averaged over the ensemble members) or one linear in its preprocessed inputs with
        ``coef_`` and ``intercept_`` (``PLSR``: exact linear attributions).
    X
        Raw spectra (n, n_bands_in) on ``axis``.
    axis
        Axis of ``X``; the estimator refuses spectra on another axis than it was fitted on
        (resample explicitly). None trusts that ``X`` is on the fitted axis.
    baselines
        The reference: ``"mean"`` (the mean preprocessed spectrum of ``X``), an int ``k``
        (``k`` spectra of ``X`` drawn at random with ``seed``; all of them if ``k >= n``),
        or an array of raw spectra (m, n_bands_in) on the same axis as ``X``, preprocessed
        like it.
    n_samples, stdevs, seed, batch_size
        See :func:`gradient_shap`; unused by linear models except ``seed`` for baselines.

    Returns
    -------
    Attributions
        On the estimator's preprocessed axis (``preprocessing_.axis_out_``).

    Raises
    ------
    ExplainError
        The estimator has neither networks nor linear coefficients, or bad baselines.
    SpectraError
        ``X`` is on another axis than the estimator (from the spectral pipeline).
    """
    _check_fitted(estimator)
    X = np.asarray(X)
    inputs = _as_matrix(estimator.transform_inputs(X, axis=axis), "X")
    reference = _baseline_inputs(estimator, X, inputs, baselines, axis=axis, seed=seed)
    axis_out = estimator.preprocessing_.axis_out_
    transform = str(getattr(estimator, "target_transform", "none"))
    networks = getattr(estimator, "networks_", None)
    if networks:
        forwards = [_ChannelFirst(network) for network in networks]
        values, outputs, baseline_output = gradient_shap(
            forwards,
            inputs,
            reference,
            n_samples=n_samples,
            stdevs=stdevs,
            seed=seed,
            batch_size=batch_size,
        )
        method, n_members = "gradient_shap", len(forwards)
    else:
        coef, intercept = _linear_coefficients(estimator, n_bands=inputs.shape[1])
        outputs = inputs.astype(np.float64) @ coef + intercept
        _check_linear_outputs(estimator, X, axis, outputs, transform)
        centred = inputs.astype(np.float64) - reference.astype(np.float64).mean(axis=0)
        values = (centred * coef).astype(np.float32)
        baseline_output = float((reference.astype(np.float64) @ coef + intercept).mean())
        method, n_members = "linear", 1
    return Attributions(
        values=values,
        axis=axis_out,
        inputs=inputs,
        outputs=outputs,
        baseline_output=baseline_output,
        method=method,
        target_transform=transform,
        n_members=n_members,
    )


# ----------------------------------------------------------------------------- helpers
class _ScalarOutput(nn.Module):
    """One output per row: captum attributes a scalar per example."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x).reshape(x.shape[0])


class _ChannelFirst(nn.Module):
    """Spectral networks take (n, 1, n_bands); attributions are per band, (n, n_bands)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x.unsqueeze(1))


def _as_matrix(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ExplainError(
            f"{name} must be a non-empty 2-D array (samples x bands), got shape {array.shape}",
            field=name,
            fix="pass one spectrum per row",
        )
    if not np.isfinite(array).all():
        raise ExplainError(
            f"{name} holds NaN or Inf values",
            field=name,
            fix="drop or repair the spectra with missing values before explaining",
        )
    return np.ascontiguousarray(array)


def _check_fitted(estimator: Any) -> None:
    for name in ("transform_inputs", "preprocessing_"):
        if not hasattr(estimator, name):
            raise ExplainError(
                f"{type(estimator).__name__} is not a fitted spectral estimator (no {name})",
                field="estimator",
                fix="pass a fitted SpectralCNN or PLSR, e.g. load_artifact(path).estimator",
            )


def _baseline_inputs(
    estimator: Any,
    X: np.ndarray,
    inputs: np.ndarray,
    baselines: BaselineSpec,
    *,
    axis: SpectralAxis | None,
    seed: int,
) -> np.ndarray:
    if isinstance(baselines, str):
        if baselines != "mean":
            raise ExplainError(
                f"unknown baselines {baselines!r}",
                field="baselines",
                fix="use 'mean', a number of random spectra, or an array of spectra",
            )
        return inputs.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    if isinstance(baselines, (int, np.integer)) and not isinstance(baselines, bool):
        if baselines < 1:
            raise ExplainError(
                f"baselines must draw at least one spectrum, got {baselines}",
                field="baselines",
                fix="use a positive number of random spectra, or 'mean'",
            )
        if baselines >= inputs.shape[0]:
            return inputs
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(inputs.shape[0], size=int(baselines), replace=False))
        return inputs[rows]
    reference = np.asarray(baselines)
    if reference.dtype.kind not in "fiu":
        raise ExplainError(
            f"baselines of type {type(baselines).__name__} are not understood",
            field="baselines",
            fix="use 'mean', a number of random spectra, or an array of spectra",
        )
    if reference.ndim == 1:
        reference = reference[None, :]
    if reference.ndim != 2 or reference.shape[1] != X.shape[-1]:
        raise ExplainError(
            f"baseline spectra have shape {reference.shape}, the spectra {X.shape}",
            field="baselines",
            fix="give baseline spectra on the same axis (same band columns) as X",
        )
    return _as_matrix(estimator.transform_inputs(reference, axis=axis), "baselines")


def _linear_coefficients(estimator: Any, *, n_bands: int) -> tuple[np.ndarray, float]:
    """Regression vector and intercept over the preprocessed bands, on the transformed scale.

    Spectral estimators fit on the standardized transformed target (``target_mean_``,
    ``target_scale_``), and PLSR keeps ``coef_``/``intercept_`` on that scale; they are
    rescaled here so that attributions are in transformed-target units like the CNN's.
    """
    coef = getattr(estimator, "coef_", None)
    intercept = getattr(estimator, "intercept_", None)
    if coef is None or intercept is None:
        raise ExplainError(
            f"{type(estimator).__name__} has neither networks nor linear coefficients to attribute",
            field="estimator",
            fix="explain a SpectralCNN (GradientShap) or a PLSR (linear attributions)",
        )
    coef = np.asarray(coef, dtype=np.float64).reshape(-1)
    if coef.size != n_bands:
        raise ExplainError(
            f"{type(estimator).__name__}.coef_ has {coef.size} values for {n_bands} "
            "preprocessed bands",
            field="estimator.coef_",
            fix="the estimator's linear coefficients must act on its preprocessed inputs",
        )
    intercept = float(np.asarray(intercept, dtype=np.float64).reshape(-1)[0])
    scale = float(getattr(estimator, "target_scale_", 1.0))
    mean = float(getattr(estimator, "target_mean_", 0.0))
    return coef * scale, intercept * scale + mean


def _check_linear_outputs(
    estimator: Any, X: np.ndarray, axis: SpectralAxis | None, outputs: np.ndarray, transform: str
) -> None:
    """Refuse linear attributions that would not add up to the model's own predictions."""
    from geosoil.models.targets import TargetTransform

    rows = slice(0, min(len(outputs), 64))
    predicted = TargetTransform(transform).forward(
        np.asarray(estimator.predict(X[rows], axis=axis), dtype=np.float64)
    )
    tolerance = 1e-4 * max(1.0, float(np.abs(predicted).max()))
    if not np.allclose(outputs[rows], predicted, rtol=1e-4, atol=tolerance):
        raise ExplainError(
            f"{type(estimator).__name__}'s coef_ and intercept_ do not reproduce its "
            "predictions on the transformed target scale",
            field="estimator.coef_",
            fix="linear attributions need coef_/intercept_ over the preprocessed bands on the "
            "standardized target scale (as PLSR keeps them)",
        )


def _draw_seed(seed: int, member: int, batch: int) -> int:
    # One independent stream per (seed, member, batch): members get their own draws, which
    # averages Monte-Carlo noise out of the ensemble mean.
    return int(np.random.SeedSequence([seed, member, batch]).generate_state(1)[0])


@contextmanager
def _seeded_global_rngs(seed: int) -> Iterator[None]:
    """Seed numpy's and torch's global generators (captum uses both), then restore them."""
    # captum draws from the legacy global numpy generator; there is no Generator to pass it.
    state = np.random.get_state()  # noqa: NPY002
    try:
        with torch.random.fork_rng(devices=[]):
            np.random.seed(seed)  # noqa: NPY002
            torch.manual_seed(seed)
            yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


@contextmanager
def _eval_mode(modules: Sequence[nn.Module]) -> Iterator[None]:
    """Dropout off and BatchNorm on its running statistics; the modes are restored after."""
    saved = [(m, m.training) for module in modules for m in module.modules()]
    try:
        for module in modules:
            module.eval()
        yield
    finally:
        for m, training in saved:
            m.training = training


def _device_of(module: nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _predict(
    forward: nn.Module, inputs: np.ndarray, device: torch.device, batch_size: int
) -> np.ndarray:
    out = np.empty(inputs.shape[0], dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, inputs.shape[0], batch_size):
            chunk = torch.from_numpy(inputs[start : start + batch_size]).to(device)
            out[start : start + batch_size] = forward(chunk).double().cpu().numpy()
    return out
