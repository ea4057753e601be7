"""``SpectralCNN``: the Kex seed system's 1-D CNN (:mod:`geosoil.models.cnn1d`) as an estimator.

Training follows the paper (Albinet et al. 2022, ``mirzai``): Adam with a triangular cyclic
learning rate (3e-5 to 1e-3, a full cycle every 10 epochs, one step per minibatch of 32), mean
squared error on the log10 target standardized, and early stopping when the validation loss has
not improved for ``patience`` epochs, keeping the best weights. Uncertainty comes from an
ensemble of independently seeded networks (``n_members``) or from Monte Carlo dropout
(``mc_dropout``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from geosoil.errors import ConfigError, GeoSoilError
from geosoil.models.cnn1d import (
    MIN_INPUT_BANDS,
    SpectralCNNNetwork,
)
from geosoil.models.lr_schedule import LRFinderResult, lr_range_test, triangular_lr
from geosoil.models.registry import register
from geosoil.models.spectral import CO2_REGION_CM1, PreparedData, SpectralEstimator
from geosoil.models.targets import TargetTransform
from geosoil.models.uncertainty import mean_over_members, normal_scores, std_over_members
from geosoil.spectra import SpectraError, SpectralAxis

__all__ = ["SpectralCNN", "TrainingDivergedError"]

log = logging.getLogger(__name__)

# Rows per forward pass at prediction. The first block's activations take 16 channels x
# bands x 4 bytes per row (105 kB for 1641 bands), so 128 rows keep them near 13 MB, within
# cache: on the 2-core development machine 32 to 128 rows ran at 3,500 spectra/s on one
# thread, 256 rows at 2,100 and 1024 rows at 1,300.
_PREDICT_BATCH = 128
# Matrix kernels round a batch's last rows differently from full row panels; padding every
# batch to a multiple of this many rows makes a row's prediction independent of its batch.
_ROW_MULTIPLE = 64


class TrainingDivergedError(GeoSoilError):
    """The network's validation loss never became finite: the learning rate is too high."""


@register
class SpectralCNN(SpectralEstimator):
    """1-D CNN regression on spectra, with optional ensemble or MC-dropout uncertainty.

    Parameters
    ----------
    preprocessing
        Preprocessing steps (see :class:`~geosoil.spectra.SpectralPipeline`). None uses
        the paper's: SNV, then, on a cm-1 axis, the CO2 band 2269-2389 cm-1 dropped.
    target_transform
        ``"log10"`` (the paper, for skewed Kex) or ``"none"``.
    seed
        Seeds the validation split; member ``k`` of an ensemble uses ``seed + k`` for its
        initialization, minibatch order and dropout.
    valid_fraction
        Share of the spectra held out for early stopping when ``fit`` gets no validation set.
    max_epochs, patience
        Epoch limit, and epochs without a lower validation loss before stopping.
    batch_size
        Minibatch size; a last minibatch of one spectrum joins the one before it (a
        BatchNorm layer cannot train on a single row).
    base_lr, max_lr, cycle_epochs
        The triangular cyclic learning rate: from ``base_lr`` to ``max_lr`` and back every
        ``cycle_epochs`` epochs, one step per minibatch.
    dropout
        Dropout probability before the dense head.
    n_members
        Networks in the ensemble; 2 or more enable :meth:`predict_dist`.
    mc_dropout
        Monte Carlo dropout samples for :meth:`predict_dist` of a single network (0: off).
    threads
        Torch threads while fitting (restored afterwards); None keeps the current setting.
    progress
        Show a progress bar over epochs while fitting.

    Notes
    -----
    Learned state: ``networks_`` (in eval mode, see :class:`SpectralCNNNetwork`),
    ``history_`` (per member, one dict per epoch: ``epoch``, ``train_loss``, ``valid_loss``,
    ``valid_r2`` on the transformed scale, ``lr`` of the epoch's last step; not saved in
    artifacts), ``best_epochs_`` (per member), and the shared state of
    :class:`SpectralEstimator`.
    """

    registry_name = "spectral_cnn"
    default_preprocessing = {  # noqa: RUF012 (read-only by convention; copied before use)
        "cm-1": ({"name": "snv"}, {"name": "drop_regions", "regions": [list(CO2_REGION_CM1)]}),
        "nm": ({"name": "snv"},),
    }

    def __init__(
        self,
        *,
        preprocessing: Sequence[dict[str, Any]] | None = None,
        target_transform: Literal["none", "log10"] = "log10",
        seed: int = 0,
        valid_fraction: float = 0.1,
        max_epochs: int = 200,
        patience: int = 20,
        batch_size: int = 32,
        base_lr: float = 3e-5,
        max_lr: float = 1e-3,
        cycle_epochs: int = 10,
        dropout: float = 0.4,
        n_members: int = 1,
        mc_dropout: int = 0,
        threads: int | None = None,
        progress: bool = False,
    ) -> None:
        self.preprocessing = preprocessing
        self.target_transform = target_transform
        self.seed = seed
        self.valid_fraction = valid_fraction
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.base_lr = base_lr
        self.max_lr = max_lr
        self.cycle_epochs = cycle_epochs
        self.dropout = dropout
        self.n_members = n_members
        self.mc_dropout = mc_dropout
        self.threads = threads
        self.progress = progress

    @property
    def supports_dist(self) -> bool:
        """True for an ensemble (``n_members >= 2``) or with MC dropout (``mc_dropout > 0``)."""
        return self.n_members >= 2 or self.mc_dropout > 0

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        for name, minimum in (
            ("max_epochs", 1),
            ("patience", 1),
            ("batch_size", 2),
            ("cycle_epochs", 1),
            ("n_members", 1),
            ("mc_dropout", 0),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(
                    f"{name}={value!r} must be a whole number of at least {minimum}",
                    field=f"model.params.{name}",
                    fix=f"set {name} to an integer >= {minimum}",
                )
        _check_threads(self.threads)
        if not 0 < self.base_lr <= self.max_lr:
            raise ConfigError(
                f"the cyclic learning rate needs 0 < base_lr <= max_lr, got "
                f"base_lr={self.base_lr}, max_lr={self.max_lr}",
                field="model.params.base_lr",
                fix="use the paper's base_lr=3e-5, max_lr=1e-3, or run lr_find",
            )
        if not 0 <= self.dropout < 1:
            raise ConfigError(
                f"dropout={self.dropout} must be in [0, 1)",
                field="model.params.dropout",
                fix="use the paper's 0.4",
            )
        if self.mc_dropout and self.n_members > 1:
            raise ConfigError(
                f"mc_dropout={self.mc_dropout} and n_members={self.n_members} are both set",
                field="model.params.mc_dropout",
                fix="choose one source of uncertainty: an ensemble (n_members >= 2, "
                "mc_dropout: 0) or MC dropout (n_members: 1)",
            )
        if self.mc_dropout == 1:
            raise ConfigError(
                "mc_dropout=1 gives one sample, no spread",
                field="model.params.mc_dropout",
                fix="use 0 (off) or at least 2 samples (30 is usual)",
            )
        if self.mc_dropout and self.dropout == 0:
            raise ConfigError(
                "mc_dropout needs dropout > 0",
                field="model.params.dropout",
                fix="set dropout (the paper: 0.4) or mc_dropout: 0",
            )

    def _fit_prepared(self, data: PreparedData) -> None:
        n_bands = _check_input_length(data)
        train = _as_tensors(data.Z_train, data.t_train)
        valid = _as_tensors(data.Z_valid, data.t_valid)
        networks, histories, best_epochs = [], [], []
        with _torch_threads(self.threads), torch.random.fork_rng(devices=[]):
            # Dropout draws from torch's global generator: the fork keeps the caller's
            # random state untouched and each member's seed makes its draws reproducible.
            for member in range(self.n_members):
                label = f"member {member + 1}/{self.n_members}: " if self.n_members > 1 else ""
                torch.manual_seed(self.seed + member)
                network = _new_network(n_bands, self.dropout, data)
                history = self._train(network, train, valid, seed=self.seed + member, label=label)
                best = min(history, key=lambda row: row["valid_loss"])
                networks.append(network.eval())
                histories.append(history)
                best_epochs.append(int(best["epoch"]))
                log.info(
                    "%strained %d epochs, best %d (validation loss %.4f, R2 %.3f)",
                    label,
                    len(history),
                    best["epoch"],
                    best["valid_loss"],
                    best["valid_r2"],
                )
        self.networks_ = networks
        self.history_ = histories
        self.best_epochs_ = best_epochs

    def _train(
        self,
        network: SpectralCNNNetwork,
        train: tuple[torch.Tensor, torch.Tensor],
        valid: tuple[torch.Tensor, torch.Tensor],
        *,
        seed: int,
        label: str,
    ) -> list[dict[str, float]]:
        """Train ``network`` in place, leave it at its best epoch; return its history."""
        inputs, targets = train
        slices = batch_slices(len(targets), self.batch_size)
        step_size_up = max(1, self.cycle_epochs * len(slices) // 2)
        optimizer = torch.optim.Adam(network.parameters(), lr=self.base_lr)
        shuffler = torch.Generator().manual_seed(seed)
        history: list[dict[str, float]] = []
        best_loss, best_state, stale, step, lr = np.inf, None, 0, 0, self.base_lr
        bar = tqdm(total=self.max_epochs, desc=f"{label}SpectralCNN", disable=not self.progress)
        with bar:
            for epoch in range(1, self.max_epochs + 1):
                network.train()
                order = torch.randperm(len(targets), generator=shuffler)
                total = 0.0
                for start, stop in slices:
                    batch = order[start:stop]
                    lr = triangular_lr(
                        step, base_lr=self.base_lr, max_lr=self.max_lr, step_size_up=step_size_up
                    )
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    optimizer.zero_grad(set_to_none=True)
                    loss = _mse(network.standardized(inputs[batch]), targets[batch])
                    loss.backward()
                    optimizer.step()
                    step += 1
                    total += loss.item() * len(batch)
                valid_loss, valid_r2 = _evaluate(network, *valid)
                row = {
                    "epoch": epoch,
                    "train_loss": total / len(targets),
                    "valid_loss": valid_loss,
                    "valid_r2": valid_r2,
                    "lr": lr,
                }
                history.append(row)
                log.debug(
                    "%sepoch %d train %.4f valid %.4f R2 %.3f lr %.2e",
                    label,
                    epoch,
                    row["train_loss"],
                    valid_loss,
                    valid_r2,
                    lr,
                )
                bar.update()
                bar.set_postfix(valid_loss=f"{valid_loss:.4f}", refresh=False)
                if valid_loss < best_loss:
                    best_loss, stale = valid_loss, 0
                    best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
        if best_state is None:
            raise TrainingDivergedError(
                f"{label}training diverged: the validation loss was never finite "
                f"({len(history)} epochs)",
                field="model.params.max_lr",
                fix="lower max_lr (run lr_find for a suggestion) or check the targets for "
                "extreme values",
            )
        network.load_state_dict(best_state)
        return history

    def lr_find(
        self,
        X: np.ndarray,
        y: Sequence[float] | np.ndarray,
        *,
        axis: SpectralAxis,
        start_lr: float = 1e-7,
        end_lr: float = 1.0,
        n_steps: int = 100,
    ) -> LRFinderResult:
        """Learning-rate range test on a fresh network; the estimator stays as it was.

        Trains a new network (seeded by ``seed``) on the training share of ``X`` for
        ``n_steps`` minibatches while the rate grows exponentially from ``start_lr`` to
        ``end_lr`` (see :func:`~geosoil.models.lr_schedule.lr_range_test`). A usual choice
        is ``max_lr`` near the suggestion and ``base_lr`` some 30 times lower.

        Returns
        -------
        LRFinderResult
            Rates, smoothed losses and ``suggested_lr`` (steepest descent of the loss).
        """
        data = self._prepare(X, y, axis=axis)
        n_bands = _check_input_length(data)
        inputs, targets = _as_tensors(data.Z_train, data.t_train)
        slices = batch_slices(len(targets), self.batch_size)
        with _torch_threads(self.threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            network = _new_network(n_bands, self.dropout, data).train()
            optimizer = torch.optim.Adam(network.parameters(), lr=start_lr)
            batches = _endless_batches(len(targets), slices, seed=self.seed)

            def train_step(lr: float) -> float:
                for group in optimizer.param_groups:
                    group["lr"] = lr
                batch = next(batches)
                optimizer.zero_grad(set_to_none=True)
                loss = _mse(network.standardized(inputs[batch]), targets[batch])
                loss.backward()
                optimizer.step()
                return loss.item()

            result = lr_range_test(train_step, start_lr=start_lr, end_lr=end_lr, n_steps=n_steps)
        log.info("LR finder: suggested learning rate %.2e", result.suggested_lr)
        return result

    # --------------------------------------------------------------- prediction
    def _predict_standardized(self, Z: np.ndarray) -> np.ndarray:
        return mean_over_members(self._member_outputs(Z))

    def _member_outputs(self, Z: np.ndarray) -> np.ndarray:
        """Standardized output of every member, float32 of shape (n_members, N)."""
        out = np.empty((len(self.networks_), len(Z)), dtype=np.float32)
        with torch.inference_mode():
            for start, chunk in _padded_chunks(Z):
                n_rows = min(_PREDICT_BATCH, len(Z) - start)
                for member, network in enumerate(self.networks_):
                    outputs = network.standardized(chunk)[:n_rows, 0]
                    out[member, start : start + n_rows] = outputs.numpy()
        return out

    def _mc_samples(self, Z: np.ndarray) -> np.ndarray:
        """Standardized outputs under ``mc_dropout`` dropout masks, float32 (samples, N).

        Sample ``s`` applies one mask, drawn from a generator seeded by ``seed``, to every
        row: each row still sees a random mask per sample (its distribution is that of MC
        dropout) while its values never depend on which other rows share its batch. The
        convolutions and BatchNorm layers run in eval mode.
        """
        network = self.networks_[0]
        n_features = network.head[1].in_features
        keep = 1.0 - self.dropout
        generator = torch.Generator().manual_seed(self.seed)
        keep_probability = torch.full((self.mc_dropout, n_features), keep)
        masks = torch.bernoulli(keep_probability, generator=generator) / keep
        dense = network.head[1:]  # the head after its Dropout layer
        out = np.empty((self.mc_dropout, len(Z)), dtype=np.float32)
        with torch.inference_mode():
            for start, chunk in _padded_chunks(Z):
                n_rows = min(_PREDICT_BATCH, len(Z) - start)
                features = network.features(chunk)
                for sample, mask in enumerate(masks):
                    outputs = dense(features * mask)[:n_rows, 0]
                    out[sample, start : start + n_rows] = outputs.numpy()
        return out

    def predict_dist(
        self,
        X: np.ndarray,
        *,
        axis: SpectralAxis | None = None,
        levels: Sequence[float] = (0.05, 0.95),
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, spread and quantiles of the prediction, in the target's units.

        Parameters
        ----------
        X, axis
            Spectra and (optionally) their axis, as for :meth:`predict`.
        levels
            Probabilities of the quantiles, each strictly between 0 and 1.

        Returns
        -------
        mean : ndarray of float32, shape (N,)
            Equal to ``predict(X)`` bit for bit (for MC dropout: the network without
            dropout, as ``predict``).
        std : ndarray of float32, shape (N,)
            Standard deviation (``ddof=1``) of the members' (or MC samples')
            back-transformed predictions.
        quantiles : ndarray of float32, shape (len(levels), N)
            Normal quantiles on the transformed scale, centred on ``mean`` with the spread
            of the members (or MC samples), back-transformed: symmetric for ``none``,
            wider above the mean than below for ``log10``.

        Raises
        ------
        ConfigError
            Neither an ensemble nor MC dropout, or a level outside (0, 1).
        """
        if not self.supports_dist:
            raise ConfigError(
                "predict_dist needs an ensemble or MC dropout, but n_members=1 and mc_dropout=0",
                field="model.params.n_members",
                fix="train with n_members >= 2 (5 is usual) or mc_dropout >= 2 (e.g. 30)",
            )
        z_scores = normal_scores(levels)
        Z = self.transform_inputs(X, axis=axis)
        if self.n_members > 1:
            samples = self._member_outputs(Z)
            centre = mean_over_members(samples)  # what predict computes, without a second pass
        else:
            centre = self._predict_standardized(Z)
            samples = self._mc_samples(Z)
        mean = self._to_target_units(centre)
        samples_z = self._to_transformed(samples.astype(np.float64))
        spread_z = std_over_members(samples_z, mean_over_members(samples_z))
        centre_z = self._to_transformed(centre)
        transform = TargetTransform(self.target_transform)
        quantiles = np.empty((len(z_scores), len(Z)), dtype=np.float32)
        for row, z_score in enumerate(z_scores):
            quantiles[row] = transform.inverse(centre_z + z_score * spread_z)
        back = transform.inverse(samples_z)
        std = std_over_members(back, mean_over_members(back)).astype(np.float32)
        return mean, std, quantiles

    # ----------------------------------------------------------------- artifact
    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors ``preprocessing.*`` and ``members.<k>.*`` (each network's state dict);
        JSON state with the axis, pipeline, target scaling and one entry per member."""
        self._check_fitted()
        tensors, state = self._export_common()
        for member, network in enumerate(self.networks_):
            for key, value in network.state_dict().items():
                tensors[f"members.{member}.{key}"] = value
        state["n_bands"] = self.networks_[0].n_bands
        state["members"] = [
            {"seed": self.seed + member, "best_epoch": best, "epochs_run": len(history)}
            for member, (best, history) in enumerate(
                zip(self.best_epochs_, self.history_, strict=True)
            )
        ]
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> SpectralCNN:
        model = cls(**params)
        rest = model._restore_common(tensors, state)
        members = state["members"]
        if len(members) != model.n_members:
            raise ValueError(f"{len(members)} members in the state, n_members={model.n_members}")
        networks, used = [], set()
        for member in range(model.n_members):
            prefix = f"members.{member}."
            weights = {k.removeprefix(prefix): v for k, v in rest.items() if k.startswith(prefix)}
            network = SpectralCNNNetwork(int(state["n_bands"]), dropout=model.dropout)
            network.load_state_dict(weights, strict=True)
            networks.append(network.eval())
            used.update(prefix + k for k in weights)
        if unexpected := sorted(set(rest) - used):
            raise ValueError(f"tensors {unexpected[:3]} belong to no network")
        model.networks_ = networks
        model.best_epochs_ = [int(m["best_epoch"]) for m in members]
        model.history_ = [[] for _ in members]
        return model


# -- training helpers ------------------------------------------------------------------------
def batch_slices(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each minibatch of an epoch over ``n`` rows.

    A last minibatch of a single row is merged into the one before it: BatchNorm cannot
    compute a variance in training mode from one row.
    """
    slices = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    if len(slices) > 1 and slices[-1][1] - slices[-1][0] == 1:
        slices[-2:] = [(slices[-2][0], n)]
    return slices


def _endless_batches(n: int, slices: list[tuple[int, int]], *, seed: int) -> Iterator[torch.Tensor]:
    """Row indices of minibatches, epoch after epoch, reshuffled each epoch (seeded)."""
    shuffler = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=shuffler)
        for start, stop in slices:
            yield order[start:stop]


def _check_input_length(data: PreparedData) -> int:
    n_bands = data.Z_train.shape[1]
    if n_bands < MIN_INPUT_BANDS:
        raise SpectraError(
            f"SpectralCNN needs at least {MIN_INPUT_BANDS} bands after preprocessing (five "
            f"pooling steps divide the length by 3^5), but the preprocessing leaves {n_bands} "
            f"of the {len(data.axis)} input bands ({data.axis.describe()})",
            field="model.params.preprocessing",
            fix="trim less, or add a {'name': 'resample', ...} step to a finer axis; for few "
            "bands use PLSR",
        )
    return n_bands


def _new_network(n_bands: int, dropout: float, data: PreparedData) -> SpectralCNNNetwork:
    network = SpectralCNNNetwork(n_bands, dropout=dropout)
    network.target_mean.fill_(data.target_mean)
    network.target_scale.fill_(data.target_scale)
    return network


def _as_tensors(Z: np.ndarray | None, t: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectra as ``(n, 1, bands)`` float32 and targets as ``(n, 1)`` float32 tensors."""
    inputs = torch.from_numpy(np.ascontiguousarray(Z, dtype=np.float32)).unsqueeze(1)
    targets = torch.from_numpy(np.asarray(t, dtype=np.float32)).unsqueeze(1)
    return inputs, targets


def _mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.square(prediction - target))


def _evaluate(network: SpectralCNNNetwork, inputs: torch.Tensor, targets: torch.Tensor):
    """Validation MSE and R2 (standardized scale, so R2 equals that on the log scale)."""
    network.eval()
    with torch.no_grad():
        prediction = torch.cat(
            [
                network.standardized(inputs[start : start + _PREDICT_BATCH])
                for start in range(0, len(inputs), _PREDICT_BATCH)
            ]
        )
    sse = float(torch.sum(torch.square(prediction - targets), dtype=torch.float64))
    sst = float(torch.sum(torch.square(targets - targets.mean()), dtype=torch.float64))
    return sse / len(targets), (1.0 - sse / sst) if sst > 0 else float("nan")


def _padded_chunks(Z: np.ndarray) -> Iterator[tuple[int, torch.Tensor]]:
    """``(start, (rows, 1, bands) tensor)`` per prediction batch, rows padded with zeros to
    a multiple of ``_ROW_MULTIPLE``."""
    for start in range(0, len(Z), _PREDICT_BATCH):
        chunk = torch.from_numpy(np.ascontiguousarray(Z[start : start + _PREDICT_BATCH]))
        pad = -len(chunk) % _ROW_MULTIPLE
        yield start, nn.functional.pad(chunk, (0, 0, 0, pad)).unsqueeze(1)


def _check_threads(threads: Any) -> int | None:
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ConfigError(
            f"threads={threads!r} must be a positive integer or null",
            field="model.params.threads",
            fix="use e.g. 1, or null to keep torch's setting",
        )
    return threads


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch threads, restoring the previous count afterwards."""
    if _check_threads(threads) is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# -- distribution helpers --------------------------------------------------------------------
