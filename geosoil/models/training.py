"""The training kit shared by every torch family: one early-stopping loop and its helpers.

Each family writes only what one epoch does (``run_epoch``: train on its minibatches, score
the monitored rows, return a history row). :func:`early_stopping` owns the rest: the epoch
count, patience, the checkpoint of the best state, progress bar and per-epoch log, and the
refusal of a run whose monitored score is never finite. :func:`seeded` and
:func:`torch_threads` make a fit deterministic and bound its threads.

The final-fit policy lives here too. A network stopped early on held-out rows has seen only
part of the data; :func:`refit_epochs` says for how many epochs the delivered model is
refitted on all rows (:func:`train_epochs` runs that fixed count), and
:func:`check_final_fit` refuses a final model whose training score falls far below its
cross-validated score (a final fit stopped at epoch 1 by a noisy validation split ships a
model much weaker than the figures in its report).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn
from tqdm import tqdm  # the plain bar: tqdm.auto warns in notebooks without ipywidgets

from geosoil.errors import ConfigError, FinalFitError

if TYPE_CHECKING:
    from geosoil.models.encoding import CovariateEncoder

__all__ = [
    "ROW_MULTIPLE",
    "MLPParameterEncoder",
    "Stopped",
    "batch_slices",
    "check_final_fit",
    "check_threads",
    "early_stopping",
    "encode_padded",
    "frozen",
    "history_from_state",
    "load_encoder_state",
    "load_prefixed",
    "loop_settings",
    "refit_epochs",
    "seeded",
    "state_tensors",
    "torch_threads",
    "train_epochs",
]

# Matrix kernels round a batch's last rows differently from full row panels; padding every
# forward pass to a multiple of this many rows keeps a row's prediction independent of the
# other rows it is predicted with.
ROW_MULTIPLE = 64


# ------------------------------------------------------------------- the loop
@dataclass
class Stopped:
    """What :func:`early_stopping` leaves: the history, and the best epoch and its score."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = math.nan

    @property
    def epochs_run(self) -> int:
        return len(self.history)


def early_stopping(
    module: nn.Module,
    run_epoch: Callable[[int], dict[str, Any]],
    *,
    max_epochs: int,
    patience: int,
    monitor: str,
    mode: Literal["min", "max"] = "min",
    min_delta: float = 0.0,
    diverged: Exception | Callable[[list[dict[str, Any]]], Exception],
    logger: logging.Logger,
    label: str | None = None,
    desc: str = "",
    progress: bool = False,
    postfix: Callable[[dict[str, Any]], dict[str, str]] | None = None,
) -> Stopped:
    """Run epochs until ``patience`` epochs bring no improvement; leave the best state.

    Parameters
    ----------
    module
        The network trained; its state at the best epoch is checkpointed and restored, and
        it is left in evaluation mode.
    run_epoch
        ``run_epoch(epoch)`` trains one epoch (1-based) and returns its history row, which
        holds the monitored score under ``monitor``.
    mode, min_delta
        An epoch improves when its score is finite and lower (``"min"``) or higher
        (``"max"``) than the best so far by more than ``min_delta``.
    diverged
        The error raised when no epoch reached a finite score, or a function building it
        from the history.
    logger, label, desc, progress, postfix
        Each epoch is logged at DEBUG as ``"{label}epoch {n} key=value ..."`` (``label``
        defaults to ``desc`` and a space); with ``progress`` a bar titled ``desc`` shows
        ``postfix(row)``.

    Returns
    -------
    Stopped
        The history (one row per epoch run), the best epoch and its score.
    """
    sign = 1.0 if mode == "min" else -1.0
    stopped = Stopped()
    best_state, stale = None, 0
    for epoch, row in _epochs(run_epoch, max_epochs, logger, label, desc, progress, postfix):
        stopped.history.append(row)
        score = float(row[monitor])
        best = sign * stopped.best_score if best_state is not None else math.inf
        if math.isfinite(score) and sign * score < best - min_delta:
            stopped.best_epoch, stopped.best_score, stale = epoch, score, 0
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    if best_state is None:
        raise diverged if isinstance(diverged, Exception) else diverged(stopped.history)
    module.load_state_dict(best_state)
    module.eval()
    return stopped


def train_epochs(
    module: nn.Module,
    run_epoch: Callable[[int], dict[str, Any]],
    *,
    epochs: int,
    monitor: str,
    diverged: Exception | Callable[[list[dict[str, Any]]], Exception],
    logger: logging.Logger,
    **display: Any,
) -> Stopped:
    """Run exactly ``epochs`` epochs and keep the last state: the final fit on all rows.

    The refit of the final-fit policy has no held-out rows to stop on; it trains for the
    epoch count early stopping chose (:func:`refit_epochs`). ``display`` takes the
    ``label``, ``desc``, ``progress`` and ``postfix`` of :func:`early_stopping`, and the
    epochs are logged as there.

    Returns
    -------
    Stopped
        The history, with ``best_epoch`` the last epoch and ``best_score`` its ``monitor``.

    Raises
    ------
    Exception
        ``diverged`` (or what it builds from the history) when the last epoch's ``monitor``
        is not finite.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a positive integer")
    stopped = Stopped()
    shown = {"label": None, "desc": "", "progress": False, "postfix": None, **display}
    for _, row in _epochs(run_epoch, epochs, logger, **shown):
        stopped.history.append(row)
    stopped.best_epoch, stopped.best_score = epochs, float(stopped.history[-1][monitor])
    if not math.isfinite(stopped.best_score):
        raise diverged if isinstance(diverged, Exception) else diverged(stopped.history)
    module.eval()
    return stopped


def _epochs(
    run_epoch: Callable[[int], dict[str, Any]],
    max_epochs: int,
    logger: logging.Logger,
    label: str | None,
    desc: str,
    progress: bool,
    postfix: Callable[[dict[str, Any]], dict[str, str]] | None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(epoch, history row)`` for epochs 1 to ``max_epochs`` (the caller may stop early),
    each logged at DEBUG and shown on an optional progress bar."""
    if label is None:
        label = f"{desc} " if desc else ""
    with tqdm(total=max_epochs, desc=desc, disable=not progress) as bar:
        for epoch in range(1, max_epochs + 1):
            row = run_epoch(epoch)
            bar.update(1)
            if postfix is not None:
                bar.set_postfix(postfix(row), refresh=False)
            logger.debug("%sepoch %d %s", label, epoch, _described(row))
            yield epoch, row


def loop_settings(settings: Any) -> dict[str, Any]:
    """The limits, title and progress of :func:`early_stopping` from a family's settings.

    ``settings`` has ``max_epochs``, ``patience``, ``label`` and ``progress``; pass the
    result on as ``early_stopping(..., **loop_settings(settings))``.
    """
    return {
        "max_epochs": settings.max_epochs,
        "patience": settings.patience,
        "desc": settings.label,
        "progress": settings.progress,
    }


def _described(row: Mapping[str, Any]) -> str:
    parts = []
    for key, value in row.items():
        if key == "epoch":
            continue
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


# ------------------------------------------------------------- final-fit policy
def refit_epochs(stopped: Stopped) -> int:
    """Epochs of the refit on all rows: the best epoch found on the held-out rows."""
    return max(int(stopped.best_epoch), 1)


def check_final_fit(
    train_score: float,
    cv_score: float,
    *,
    metric: str = "r2",
    tolerance: float = 0.2,
    source: str | None = None,
    field: str = "params.max_epochs",
) -> None:
    """Refuse a final model whose training score falls far below its cross-validated one.

    A model scores better on the rows it was fitted on than on held-out folds; one whose
    in-sample ``metric`` (higher is better) is more than ``tolerance`` below the CV figure
    stopped far too early and is not the model the report describes.

    Raises
    ------
    FinalFitError
        ``train_score < cv_score - tolerance``.
    """
    if not (math.isfinite(train_score) and math.isfinite(cv_score)):
        return
    if train_score < cv_score - tolerance:
        raise FinalFitError(
            f"the final model scores {metric}={train_score:.3f} on its own training rows, "
            f"far below its cross-validated {metric}={cv_score:.3f}: its training stopped "
            "too early and it would not be the model the report describes",
            path=source,
            field=field,
            fix="raise params.patience or params.max_epochs, or lower "
            "params.validation_fraction, and train again",
        )


# ------------------------------------------------------ seeding and threads
@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator (dropout draws from it) and restore it afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def check_threads(threads: Any) -> int | None:
    """``threads`` as given, or a ConfigError unless a positive integer or None."""
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ConfigError(
            f"threads={threads!r} must be a positive integer or null",
            field="params.threads",
            fix="use e.g. 1, or null to keep torch's setting",
        )
    return threads


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch threads, restoring the previous count afterwards."""
    if check_threads(threads) is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """``module`` without gradients and in evaluation mode, restored afterwards."""
    flags = [parameter.requires_grad for parameter in module.parameters()]
    training = module.training
    module.requires_grad_(False)
    module.eval()
    try:
        yield
    finally:
        for parameter, flag in zip(module.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)
        module.train(training)


def batch_slices(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each minibatch of an epoch over ``n`` rows.

    A last minibatch of a single row is merged into the one before it: BatchNorm cannot
    compute a variance in training mode from one row.
    """
    slices = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    if len(slices) > 1 and slices[-1][1] - slices[-1][0] == 1:
        slices[-2:] = [(slices[-2][0], n)]
    return slices


# ------------------------------------------------------------- parameter encoder
class MLPParameterEncoder(nn.Module):
    """Covariates -> k parameters in [0, 1]: embeddings, an MLP and a sigmoid.

    Each categorical column has its own embedding table; an unseen code (index -1) gets the
    frequency-weighted mean of its column's rows. No BatchNorm, so a batch of one works.
    """

    def __init__(
        self,
        n_continuous: int,
        frequency: Sequence[Sequence[float]],
        n_outputs: int,
        *,
        hidden_layers: Sequence[int],
        embedding_dim: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(len(f), embedding_dim) for f in frequency)
        for j, weights in enumerate(frequency):
            self.register_buffer(f"frequency_{j}", torch.tensor(list(weights), dtype=torch.float64))
        layers: list[nn.Module] = []
        width = n_continuous + embedding_dim * len(frequency)
        for hidden in hidden_layers:
            layers += [nn.Linear(width, int(hidden)), nn.SiLU(), nn.Dropout(dropout)]
            width = int(hidden)
        layers.append(nn.Linear(width, n_outputs))
        self.mlp = nn.Sequential(*layers)

    @classmethod
    def for_coding(
        cls, coding: CovariateEncoder, n_outputs: int, settings: Any
    ) -> MLPParameterEncoder:
        """The encoder of a covariate -> parameter model, sized by its coding and settings.

        Parameters
        ----------
        coding
            The fitted coding: its continuous columns and each category's frequencies.
        n_outputs
            Number of learned parameters.
        settings
            The estimator, whose ``hidden_layers``, ``embedding_dim`` and ``dropout`` (names
            shared by the families) shape the network.
        """
        return cls(
            len(coding.continuous),
            [coding.frequency[name] for name in coding.categorical],
            n_outputs,
            hidden_layers=[int(h) for h in settings.hidden_layers],
            embedding_dim=int(settings.embedding_dim),
            dropout=float(settings.dropout),
        )

    def forward(self, continuous: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        """Unit parameters (n, k) in (0, 1)."""
        return torch.sigmoid(self.forward_raw(continuous, categories))

    def forward_raw(self, continuous: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        """Outputs before the sigmoid, (n, k)."""
        parts = [continuous]
        for j, table in enumerate(self.embeddings):
            index = categories[:, j]
            rows = table(index.clamp(min=0))
            weights = getattr(self, f"frequency_{j}").to(table.weight.dtype)
            mean = weights @ table.weight
            parts.append(torch.where((index < 0)[:, None], mean, rows))
        return self.mlp(torch.cat(parts, dim=1))

    def regularization(self, continuous: torch.Tensor) -> torch.Tensor:
        """No extra regularization (weight decay is AdamW's)."""
        return continuous.new_zeros(())


def encode_padded(
    encoder: nn.Module,
    continuous: torch.Tensor,
    categories: torch.Tensor,
    *,
    raw: bool = False,
) -> torch.Tensor:
    """Encoder outputs with the rows padded to :data:`ROW_MULTIPLE` (then cut back)."""
    pad = -len(continuous) % ROW_MULTIPLE
    cont = nn.functional.pad(continuous, (0, 0, 0, pad))
    cats = nn.functional.pad(categories, (0, 0, 0, pad))
    out = encoder.forward_raw(cont, cats) if raw else encoder(cont, cats)
    return out[: len(continuous)]


# ------------------------------------------------------------------- artifacts
def state_tensors(module: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """A module's state dict under ``prefix``."""
    return {f"{prefix}{k}": v for k, v in module.state_dict().items()}


def load_prefixed(module: nn.Module, tensors: Mapping[str, torch.Tensor], prefix: str) -> set:
    """Load ``prefix``-named tensors into ``module`` (strict); returns the names used."""
    weights = {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
    module.load_state_dict(weights, strict=True)
    return {prefix + k for k in weights}


def load_encoder_state(
    encoder: nn.Module, tensors: Mapping[str, torch.Tensor], *, others: set[str]
) -> None:
    """Load the ``encoder.*`` tensors into ``encoder``; every tensor must be one of those or
    of ``others`` (the names the caller reads itself), else a ValueError."""
    used = load_prefixed(encoder, tensors, "encoder.") | others
    if unexpected := sorted(set(tensors) - used):
        raise ValueError(f"tensors {unexpected[:3]} belong to no part of the model")


def history_from_state(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per-epoch history rows as an artifact header stores them, with NaN back in place
    (JSON has no NaN: the header writes a missing validation score as null)."""
    return [{k: math.nan if v is None else v for k, v in row.items()} for row in rows]
