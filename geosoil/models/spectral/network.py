"""``NetworkSpectralEstimator``: training, uncertainty and transfer for networks on spectra.

Everything a torch network on preprocessed spectra needs besides the network itself lives
here, so that :class:`~geosoil.models.spectral.cnn.SpectralCNN` and
:class:`~geosoil.models.spectral.resnet.SpectralResNet` only declare their network:

* training: Adam with a triangular cyclic learning rate (one step per minibatch), mean
  squared error on the standardized target, early stopping on the validation loss keeping
  the best weights, and :class:`TrainingDivergedError` when the loss is never finite;
* the final fit (``final_fit``): by default each network is then trained afresh on all
  training spectra, validation share included, for the epoch count early stopping chose
  (the kit's :func:`~geosoil.models.training.refit_epochs`); ``validated`` keeps the
  early-stopped network, which never saw the validation share;
* uncertainty: an ensemble of independently seeded members (``n_members``) or Monte Carlo
  dropout (``mc_dropout``), both through :meth:`NetworkSpectralEstimator.predict_dist`;
* transfer learning: ``init_from`` (a parent artifact of the same class) and ``freeze``
  (layer groups kept fixed while the others are fine-tuned).

The network protocol (:class:`SpectralNetwork`) is what the estimator relies on: ``n_bands``,
``standardized(x)``, buffers ``target_mean`` and ``target_scale``, ``layer_groups()`` and
the split at its dropout layer used by MC dropout (``dropout_width``, ``pre_dropout``,
``post_dropout``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from geosoil.errors import ConfigError, GeoSoilError, TrainingDivergedError
from geosoil.models.base import check_choice
from geosoil.models.spectral.base import (
    PreparedData,
    SpectralEstimator,
    check_axis,
    unpack_samples,
)
from geosoil.models.spectral.lr_schedule import LRFinderResult, lr_range_test, triangular_lr
from geosoil.models.spectral.selection import join_validation
from geosoil.models.targets import TargetTransform
from geosoil.models.training import (
    Stopped,
    batch_slices,
    check_threads,
    early_stopping,
    refit_epochs,
    torch_threads,
    train_epochs,
)
from geosoil.models.uncertainty import mean_over_members, normal_scores, std_over_members
from geosoil.spectra import SpectraError, SpectralAxis, SpectralPipeline

__all__ = [
    "NetworkSpectralEstimator",
    "SpectralNetwork",
]

# Rows per forward pass at prediction. The first block's activations of the Kex CNN take
# 16 channels x bands x 4 bytes per row (105 kB for 1641 bands), so 128 rows keep them near
# 13 MB, within cache: on the 2-core development machine 32 to 128 rows ran at 3,500
# spectra/s on one thread, 256 rows at 2,100 and 1024 rows at 1,300.
_PREDICT_BATCH = 128
# Matrix kernels round a batch's last rows differently from full row panels; padding every
# batch to a multiple of this many rows makes a row's prediction independent of its batch.
_ROW_MULTIPLE = 64


class SpectralNetwork(Protocol):
    """What :class:`NetworkSpectralEstimator` needs from a network (an ``nn.Module``).

    Attributes
    ----------
    n_bands
        Length of the preprocessed spectra it takes, as ``(n, 1, n_bands)`` float32.
    target_mean, target_scale
        Buffers: ``forward(x) = standardized(x) * target_scale + target_mean`` is on the
        transformed target scale (e.g. log10).
    dropout_width
        Units entering the dropout layer that MC dropout masks.
    """

    n_bands: int
    target_mean: torch.Tensor
    target_scale: torch.Tensor
    dropout_width: int

    def standardized(self, x: torch.Tensor) -> torch.Tensor:
        """Output ``(n, 1)`` on the standardized target scale (the training loss's)."""

    def layer_groups(self) -> dict[str, nn.Module]:
        """Named groups of layers (``features``, ``head``) that transfer learning freezes."""

    def pre_dropout(self, x: torch.Tensor) -> torch.Tensor:
        """Activations ``(n, dropout_width)`` entering the dropout layer."""

    def post_dropout(self, h: torch.Tensor) -> torch.Tensor:
        """Standardized output ``(n, 1)`` from (masked) activations at the dropout layer."""


@dataclass(frozen=True)
class _Parent:
    """A loaded transfer-learning parent, its file's SHA-256 and the groups to freeze."""

    estimator: NetworkSpectralEstimator
    sha256: str
    frozen: tuple[str, ...]


class NetworkSpectralEstimator(SpectralEstimator):
    """Shared machinery of the torch networks on spectra; subclasses supply the network.

    A subclass implements :meth:`_build_network` (a fresh, randomly initialized network for
    ``n_bands`` preprocessed bands, following :class:`SpectralNetwork`) and
    :meth:`_check_prepared` (refusing inputs its network cannot take), and stores the
    hyperparameters below in its ``__init__`` with its own defaults.

    Hyperparameters
    ---------------
    preprocessing, target_transform, seed, valid_fraction
        As for :class:`~geosoil.models.spectral.base.SpectralEstimator`.
    max_epochs, patience
        Epoch limit, and epochs without a lower validation loss before stopping.
    batch_size
        Minibatch size; a last minibatch of one spectrum joins the one before it (a
        BatchNorm layer cannot train on a single row).
    base_lr, max_lr, cycle_epochs
        The triangular cyclic learning rate: from ``base_lr`` to ``max_lr`` and back every
        ``cycle_epochs`` epochs, one step per minibatch.
    dropout
        Dropout probability of the network's dropout layer.
    n_members
        Networks in the ensemble; 2 or more enable :meth:`predict_dist`.
    mc_dropout
        Monte Carlo dropout samples for :meth:`predict_dist` of a single network (0: off).
    threads
        Torch threads while fitting (restored afterwards); None keeps the current setting.
    progress
        Show a progress bar over epochs while fitting.
    init_from
        Path of a parent artifact of the same class to start from (transfer learning), or
        None to train from scratch. The parent's fitted preprocessing is reused as it is
        (the ``preprocessing`` hyperparameter is then ignored), the spectra must be on the
        parent's axis, and member ``k`` starts from the parent's member ``k % n``; the
        target scaling is refit on the new target.
    freeze
        Layer groups kept fixed while fine-tuning (weights unchanged, BatchNorm statistics
        frozen); ignored without ``init_from``.
    final_fit
        ``"refit"`` (default): after early stopping on the validation spectra, each member
        is trained afresh (from its seed, or from the parent) on all spectra, validation
        ones included, for its best epoch count, with the preprocessing and target scaling
        refitted on all of them; ``"validated"``: the early-stopped networks are delivered.

    Notes
    -----
    Learned state: ``networks_`` (in eval mode), ``history_`` (per member, one dict per
    epoch of the early-stopping run: ``epoch``, ``train_loss``, ``valid_loss``,
    ``valid_r2`` on the transformed scale, ``lr`` of the epoch's last step; not saved in
    artifacts), ``best_epochs_`` (per member, chosen on the validation spectra),
    ``refit_epochs_`` (per member, the epochs of the refit on all spectra; None with
    ``final_fit: validated``),
    ``parent_sha256_`` (SHA-256 of the ``init_from`` artifact, None from scratch),
    ``frozen_groups_`` (the groups frozen while fine-tuning, [] from scratch), and the shared
    state of :class:`~geosoil.models.spectral.base.SpectralEstimator`.
    """

    max_epochs: int
    patience: int
    batch_size: int
    base_lr: float
    max_lr: float
    cycle_epochs: int
    dropout: float
    n_members: int
    mc_dropout: int
    threads: int | None
    progress: bool
    init_from: str | None
    freeze: Sequence[str]
    final_fit: str = "refit"

    # -- hooks ---------------------------------------------------------------------------
    def _build_network(self, n_bands: int) -> nn.Module:
        """A new network (:class:`SpectralNetwork`) for ``n_bands`` preprocessed bands,
        initialized from torch's global generator (seeded by the caller)."""
        raise NotImplementedError

    def _check_prepared(self, data: PreparedData) -> None:
        """Refuse prepared data the network cannot learn from (e.g. a too short input)."""

    @property
    def supports_dist(self) -> bool:
        """True for an ensemble (``n_members >= 2``) or with MC dropout (``mc_dropout > 0``)."""
        return self.n_members >= 2 or self.mc_dropout > 0

    @property
    def _log(self) -> logging.Logger:
        # The concrete model's module logger, so that its records carry its name.
        return logging.getLogger(type(self).__module__)

    # ------------------------------------------------------------------ checks
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
                    field=f"params.{name}",
                    fix=f"set {name} to an integer >= {minimum}",
                )
        check_threads(self.threads)
        check_choice(self.final_fit, ("refit", "validated"), "params.final_fit")
        if not 0 < self.base_lr <= self.max_lr:
            raise ConfigError(
                f"the cyclic learning rate needs 0 < base_lr <= max_lr, got "
                f"base_lr={self.base_lr}, max_lr={self.max_lr}",
                field="params.base_lr",
                fix=f"keep base_lr below max_lr (the defaults of {type(self).__name__} are a "
                "tested choice), or run lr_find",
            )
        if not 0 <= self.dropout < 1:
            raise ConfigError(
                f"dropout={self.dropout} must be in [0, 1)",
                field="params.dropout",
                fix="use a probability below 1, e.g. 0.4 (the Kex CNN) or 0 (no dropout)",
            )
        if self.mc_dropout and self.n_members > 1:
            raise ConfigError(
                f"mc_dropout={self.mc_dropout} and n_members={self.n_members} are both set",
                field="params.mc_dropout",
                fix="choose one source of uncertainty: an ensemble (n_members >= 2, "
                "mc_dropout: 0) or MC dropout (n_members: 1)",
            )
        if self.mc_dropout == 1:
            raise ConfigError(
                "mc_dropout=1 gives one sample, no spread",
                field="params.mc_dropout",
                fix="use 0 (off) or at least 2 samples (30 is usual)",
            )
        if self.mc_dropout and self.dropout == 0:
            raise ConfigError(
                "mc_dropout needs dropout > 0",
                field="params.dropout",
                fix="set dropout (e.g. 0.4) or mc_dropout: 0",
            )
        if self.init_from is not None and not isinstance(self.init_from, str):
            raise ConfigError(
                f"init_from must be the path of an artifact as a string, got "
                f"{type(self.init_from).__name__}",
                field="params.init_from",
                fix="pass str(path), or null to train from scratch",
            )
        if isinstance(self.freeze, str) or not isinstance(self.freeze, list | tuple):
            raise ConfigError(
                f"freeze={self.freeze!r} must be a list of layer group names",
                field="params.freeze",
                fix="write e.g. freeze: [features], or [] to fine-tune every layer",
            )

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: np.ndarray,
        y: Sequence[float] | np.ndarray | str,
        *,
        axis: SpectralAxis | None = None,
        X_valid: np.ndarray | None = None,
        y_valid: Sequence[float] | np.ndarray | None = None,
        groups: np.ndarray | None = None,
        groups_valid: np.ndarray | None = None,
    ) -> NetworkSpectralEstimator:
        """Train the network(s) on spectra ``X`` on ``axis`` and targets ``y``; returns self.

        As :meth:`SpectralEstimator.fit <geosoil.models.spectral.base.SpectralEstimator.fit>`;
        with ``init_from`` the networks start from the parent artifact's. The epoch count
        is chosen by early stopping on the validation set (``X_valid``, or ``valid_fraction``
        of ``X``); with ``final_fit: refit`` the networks are then retrained on ``X`` and
        ``X_valid`` together for that count (``groups`` are accepted for a common signature
        and not used).

        Raises
        ------
        ConfigError
            Invalid hyperparameters; a parent of another class or network; a bad ``freeze``.
        SpectraError
            Bad spectra, spectra too short for the network, or (with ``init_from``) spectra
            on another axis than the parent's (field ``spectra.resample``).
        SampleDataError
            Bad targets or too few samples.
        TrainingDivergedError
            The validation loss never became finite.
        """
        self._check_params()
        X, y, axis = unpack_samples(X, y, axis)
        parent = self._load_parent(check_axis(axis))
        data = self._prepare(
            X,
            y,
            axis=axis,
            X_valid=X_valid,
            y_valid=y_valid,
            pipeline=None if parent is None else parent.estimator.preprocessing_,
        )
        self._fit_networks(data, parent)
        self.refit_epochs_ = None
        if self.final_fit == "refit":
            X_all, y_all, _ = join_validation(X, y, X_valid, y_valid, None, None)
            data = self._prepare(
                X_all,
                y_all,
                axis=axis,
                pipeline=None if parent is None else parent.estimator.preprocessing_,
                hold_out=False,
            )
            self._refit_networks(data, parent)
        self._set_prepared_state(data)
        self.parent_sha256_ = None if parent is None else parent.sha256
        self.frozen_groups_ = [] if parent is None else list(parent.frozen)
        return self

    def _fit_networks(self, data: PreparedData, parent: _Parent | None) -> None:
        self._check_prepared(data)
        frozen = () if parent is None else parent.frozen
        train = _as_tensors(data.Z_train, data.t_train)
        valid = _as_tensors(data.Z_valid, data.t_valid)
        networks, histories, best_epochs = [], [], []
        with torch_threads(self.threads), torch.random.fork_rng(devices=[]):
            # Dropout draws from torch's global generator: the fork keeps the caller's
            # random state untouched and each member's seed makes its draws reproducible.
            for member in range(self.n_members):
                label = f"member {member + 1}/{self.n_members}: " if self.n_members > 1 else ""
                torch.manual_seed(self.seed + member)
                network = self._start_network(data, parent, member)
                stopped = self._train(
                    network, train, valid, seed=self.seed + member, label=label, frozen=frozen
                )
                best = stopped.history[stopped.best_epoch - 1]
                networks.append(network.eval())
                histories.append(stopped.history)
                best_epochs.append(stopped.best_epoch)
                self._log.info(
                    "%strained %d epochs, best %d (validation loss %.4f, R2 %.3f)",
                    label,
                    stopped.epochs_run,
                    stopped.best_epoch,
                    best["valid_loss"],
                    best["valid_r2"],
                )
        self.networks_ = networks
        self.history_ = histories
        self.best_epochs_ = best_epochs

    def _refit_networks(self, data: PreparedData, parent: _Parent | None) -> None:
        """Train each member afresh on all of ``data`` for its best epoch count."""
        self._check_prepared(data)
        frozen = () if parent is None else parent.frozen
        train = _as_tensors(data.Z_train, data.t_train)
        networks, epochs = [], []
        with torch_threads(self.threads), torch.random.fork_rng(devices=[]):
            for member, best_epoch in enumerate(self.best_epochs_):
                label = f"member {member + 1}/{self.n_members}: " if self.n_members > 1 else ""
                torch.manual_seed(self.seed + member)
                network = self._start_network(data, parent, member)
                count = refit_epochs(Stopped(best_epoch=best_epoch))
                self._train(
                    network,
                    train,
                    None,
                    seed=self.seed + member,
                    label=f"{label}refit: ",
                    frozen=frozen,
                    epochs=count,
                )
                networks.append(network.eval())
                epochs.append(count)
                self._log.info(
                    "%srefitted on all %d spectra for %d epochs", label, len(data.t_train), count
                )
        self.networks_ = networks
        self.refit_epochs_ = epochs

    def _start_network(self, data: PreparedData, parent: _Parent | None, member: int) -> nn.Module:
        """Member ``member``'s initial network: fresh, or a copy of the parent's member
        ``member % n``; its target buffers hold this fit's scaling."""
        n_bands = data.Z_train.shape[1]
        network = self._build_network(n_bands)
        if parent is not None:
            sources = parent.estimator.networks_
            source = sources[member % len(sources)]
            if source.n_bands != n_bands:
                raise ConfigError(
                    f"the parent network takes {source.n_bands} bands, this one {n_bands}",
                    path=self.init_from,
                    field="params.init_from",
                    fix="fine-tune from a parent trained on the same axis and preprocessing",
                )
            try:
                network.load_state_dict(source.state_dict(), strict=True)
            except RuntimeError as err:
                first_line = str(err).strip().splitlines()[-1].strip()
                raise ConfigError(
                    f"the parent's network does not fit this model's architecture ({first_line})",
                    path=self.init_from,
                    field="params.init_from",
                    fix="use the parent's architecture hyperparameters (see its header: "
                    "geosoil info PARENT)",
                ) from None
        elif hasattr(network, "start_output_at"):
            network.start_output_at(float(np.mean(data.t_train)))
        network.target_mean.fill_(data.target_mean)
        network.target_scale.fill_(data.target_scale)
        return network

    def _train(
        self,
        network: nn.Module,
        train: tuple[torch.Tensor, torch.Tensor],
        valid: tuple[torch.Tensor, torch.Tensor] | None,
        *,
        seed: int,
        label: str,
        frozen: Sequence[str] = (),
        epochs: int | None = None,
    ) -> Stopped:
        """Train ``network`` in place and return the run: with ``valid``, early stopping
        leaves it at its best epoch; without, it trains for exactly ``epochs`` epochs."""
        inputs, targets = train
        slices = batch_slices(len(targets), self.batch_size)
        step_size_up = max(1, self.cycle_epochs * len(slices) // 2)
        optimizer = torch.optim.Adam(_trainable(network, frozen), lr=self.base_lr)
        shuffler = torch.Generator().manual_seed(seed)
        step = 0

        def run_epoch(epoch: int) -> dict[str, float]:
            nonlocal step
            _train_mode(network, frozen)
            order = torch.randperm(len(targets), generator=shuffler)
            total, lr = 0.0, self.base_lr
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
            row = {"epoch": epoch, "train_loss": total / len(targets)}
            if valid is not None:
                row["valid_loss"], row["valid_r2"] = _evaluate(network, *valid)
            return {**row, "lr": lr}

        monitor = "train_loss" if valid is None else "valid_loss"

        def diverged(history: list[dict[str, float]]) -> TrainingDivergedError:
            which = (
                "training loss of the last epoch was not finite"
                if valid is None
                else "validation loss was never finite"
            )
            return TrainingDivergedError(
                f"{label}training diverged: the {which} ({len(history)} epochs)",
                field="params.max_lr",
                fix="lower max_lr (run lr_find for a suggestion) or check the targets for "
                "extreme values",
            )

        loop = {
            "monitor": monitor,
            "diverged": diverged,
            "logger": self._log,
            "label": label,
            "desc": f"{label}{type(self).__name__}",
            "progress": self.progress,
            "postfix": lambda row: {monitor: f"{row[monitor]:.4f}"},
        }
        try:
            if valid is None:
                return train_epochs(network, run_epoch, epochs=epochs, **loop)
            return early_stopping(
                network, run_epoch, max_epochs=self.max_epochs, patience=self.patience, **loop
            )
        finally:
            # A fitted network is like a loaded one: every parameter differentiable (for
            # attributions), whatever was frozen while training.
            network.requires_grad_(True)

    # ------------------------------------------------------------ transfer
    def attach_parent(self, artifact: Any) -> NetworkSpectralEstimator:
        """Hand over the loaded ``init_from`` artifact; returns self.

        The workflow reads the file (:func:`geosoil.artifacts.load_parent_artifact`): a
        model never loads artifacts itself. The artifact is not a hyperparameter; ``fit``
        checks it against this model and the spectra.
        """
        self._parent_artifact = artifact
        return self

    def _load_parent(self, axis: SpectralAxis) -> _Parent | None:
        """The ``init_from`` artifact, checked against this model and ``axis``; None
        without ``init_from``."""
        if self.init_from is None:
            return None
        artifact = getattr(self, "_parent_artifact", None)
        if artifact is None:
            raise ConfigError(
                "init_from names a parent artifact, but none was handed to the model",
                path=self.init_from,
                field="params.init_from",
                fix="load it with geosoil.artifacts.load_parent_artifact(init_from) and pass "
                "it to attach_parent() before fit (the geosoil workflows do this)",
            )
        parent = artifact.estimator
        if type(parent) is not type(self):
            raise ConfigError(
                f"init_from is a {type(parent).__name__} artifact, but this model is a "
                f"{type(self).__name__}: fine-tuning starts from a parent of the same class",
                path=self.init_from,
                field="params.init_from",
                fix=f"use an artifact trained as '{self.registry_name}', or init_from: null "
                "to train from scratch",
            )
        try:
            parent.axis_.check_matches(axis, field="spectra.resample")
        except SpectraError as err:
            raise SpectraError(
                f"the spectra are not on the axis of the parent model: {err.message}",
                path=self.init_from,
                field="spectra.resample",
                fix=f"resample the spectra explicitly onto the parent's axis "
                f"({parent.axis_.describe()}) before fine-tuning, e.g. with "
                "SampleSet.resample(axis) or geosoil.spectra.resample_spectra; a fine-tuned "
                "model reuses the parent's fitted preprocessing as it is",
            ) from None
        frozen = self._frozen_groups(parent.networks_[0].layer_groups())
        steps = parent.preprocessing_.to_spec()
        if self._asks_other_preprocessing(steps):
            self._log.warning(
                "init_from: the parent's fitted preprocessing %s is reused; the "
                "preprocessing hyperparameter %s is ignored",
                steps,
                list(self.preprocessing),
            )
        self._log.info(
            "fine-tuning from %s (%s, %d member(s)), frozen: %s",
            self.init_from,
            artifact.sha256[:12],
            len(parent.networks_),
            list(frozen) or "nothing",
        )
        return _Parent(estimator=parent, sha256=artifact.sha256, frozen=frozen)

    def _asks_other_preprocessing(self, steps: list[dict[str, Any]]) -> bool:
        """Whether the ``preprocessing`` hyperparameter differs from the parent's ``steps``
        (compared in full form, so omitted step defaults do not count as a difference)."""
        if self.preprocessing is None:
            return False
        try:
            return SpectralPipeline(self.preprocessing).to_spec() != steps
        except GeoSoilError:
            return True

    def _frozen_groups(self, groups: Mapping[str, nn.Module]) -> tuple[str, ...]:
        """The groups named by ``freeze``, in the network's order; ConfigError otherwise."""
        wanted = set(self.freeze)
        if unknown := sorted(str(name) for name in wanted - set(groups)):
            raise ConfigError(
                f"freeze names unknown layer group(s) {unknown}; the {type(self).__name__} "
                f"network has the groups {list(groups)}",
                field="params.freeze",
                fix=f"freeze a subset of {list(groups)}, e.g. [features] to fine-tune the head",
            )
        if wanted >= set(groups):
            raise ConfigError(
                f"freeze lists every layer group {list(groups)}: nothing would be trained",
                field="params.freeze",
                fix="leave at least one group trainable, e.g. freeze: [features]",
            )
        return tuple(name for name in groups if name in wanted)

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

        Trains a new network (seeded by ``seed``; with ``init_from``, a copy of the parent's
        first member with ``freeze`` applied) on the training share of ``X`` for ``n_steps``
        minibatches while the rate grows exponentially from ``start_lr`` to ``end_lr`` (see
        :func:`~geosoil.models.spectral.lr_schedule.lr_range_test`). A usual choice is ``max_lr``
        near the suggestion and ``base_lr`` some 10 to 30 times lower.

        Returns
        -------
        LRFinderResult
            Rates, smoothed losses and ``suggested_lr`` (steepest descent of the loss).
        """
        self._check_params()
        X, y, axis = unpack_samples(X, y, axis)
        parent = self._load_parent(check_axis(axis))
        pipeline = None if parent is None else parent.estimator.preprocessing_
        data = self._prepare(X, y, axis=axis, pipeline=pipeline)
        self._check_prepared(data)
        frozen = () if parent is None else parent.frozen
        inputs, targets = _as_tensors(data.Z_train, data.t_train)
        slices = batch_slices(len(targets), self.batch_size)
        with torch_threads(self.threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            network = self._start_network(data, parent, 0)
            _train_mode(network, frozen)
            optimizer = torch.optim.Adam(_trainable(network, frozen), lr=start_lr)
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
        self._log.info("LR finder: suggested learning rate %.2e", result.suggested_lr)
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
        row at the network's dropout layer: each row still sees a random mask per sample
        (its distribution is that of MC dropout) while its values never depend on which
        other rows share its batch. The other layers (BatchNorm included) run in eval mode.
        """
        network = self.networks_[0]
        keep = 1.0 - self.dropout
        generator = torch.Generator().manual_seed(self.seed)
        keep_probability = torch.full((self.mc_dropout, network.dropout_width), keep)
        masks = torch.bernoulli(keep_probability, generator=generator) / keep
        out = np.empty((self.mc_dropout, len(Z)), dtype=np.float32)
        with torch.inference_mode():
            for start, chunk in _padded_chunks(Z):
                n_rows = min(_PREDICT_BATCH, len(Z) - start)
                activations = network.pre_dropout(chunk)
                for sample, mask in enumerate(masks):
                    outputs = network.post_dropout(activations * mask)[:n_rows, 0]
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
                field="params.n_members",
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
        JSON state with the axis, pipeline, target scaling, one entry per member, and the
        transfer-learning parent (``parent_sha256``, ``frozen_groups``)."""
        self._check_fitted()
        tensors, state = self._export_common()
        for member, network in enumerate(self.networks_):
            for key, value in network.state_dict().items():
                tensors[f"members.{member}.{key}"] = value
        state["n_bands"] = self.networks_[0].n_bands
        refits = self.refit_epochs_ or [None] * len(self.networks_)
        state["members"] = [
            {
                "seed": self.seed + member,
                "best_epoch": best,
                "epochs_run": len(history),
                "refit_epochs": refit,
            }
            for member, (best, history, refit) in enumerate(
                zip(self.best_epochs_, self.history_, refits, strict=True)
            )
        ]
        state["final_fit"] = "validated" if self.refit_epochs_ is None else "refit"
        state["parent_sha256"] = self.parent_sha256_
        state["frozen_groups"] = list(self.frozen_groups_)
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> NetworkSpectralEstimator:
        model = cls(**params)
        rest = model._restore_common(tensors, state)
        members = state["members"]
        if len(members) != model.n_members:
            raise ValueError(f"{len(members)} members in the state, n_members={model.n_members}")
        networks, used = [], set()
        for member in range(model.n_members):
            prefix = f"members.{member}."
            weights = {k.removeprefix(prefix): v for k, v in rest.items() if k.startswith(prefix)}
            network = model._build_network(int(state["n_bands"]))
            network.load_state_dict(weights, strict=True)
            networks.append(network.eval())
            used.update(prefix + k for k in weights)
        if unexpected := sorted(set(rest) - used):
            raise ValueError(f"tensors {unexpected[:3]} belong to no network")
        model.networks_ = networks
        model.best_epochs_ = [int(m["best_epoch"]) for m in members]
        # Artifacts written before the final-fit policy were all early-stopped networks.
        refits = [m.get("refit_epochs") for m in members]
        model.refit_epochs_ = None if None in refits else [int(n) for n in refits]
        model.history_ = [[] for _ in members]
        # Artifacts written before transfer learning existed carry neither key.
        model.parent_sha256_ = state.get("parent_sha256")
        model.frozen_groups_ = [str(name) for name in state.get("frozen_groups", [])]
        return model


# -- training helpers ------------------------------------------------------------------------
def _trainable(network: nn.Module, frozen: Sequence[str]) -> list[nn.Parameter]:
    """Stop gradients in the ``frozen`` groups; the parameters left for the optimizer."""
    groups = network.layer_groups() if frozen else {}
    for name in frozen:
        groups[name].requires_grad_(False)
    return [parameter for parameter in network.parameters() if parameter.requires_grad]


def _train_mode(network: nn.Module, frozen: Sequence[str]) -> None:
    """Training mode except for the ``frozen`` groups, whose BatchNorm statistics (and
    dropout) stay as the parent left them."""
    network.train()
    groups = network.layer_groups() if frozen else {}
    for name in frozen:
        groups[name].eval()


def _endless_batches(n: int, slices: list[tuple[int, int]], *, seed: int) -> Iterator[torch.Tensor]:
    """Row indices of minibatches, epoch after epoch, reshuffled each epoch (seeded)."""
    shuffler = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=shuffler)
        for start, stop in slices:
            yield order[start:stop]


def _as_tensors(Z: np.ndarray | None, t: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectra as ``(n, 1, bands)`` float32 and targets as ``(n, 1)`` float32 tensors."""
    inputs = torch.from_numpy(np.ascontiguousarray(Z, dtype=np.float32)).unsqueeze(1)
    targets = torch.from_numpy(np.asarray(t, dtype=np.float32)).unsqueeze(1)
    return inputs, targets


def _mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.square(prediction - target))


def _evaluate(network: nn.Module, inputs: torch.Tensor, targets: torch.Tensor):
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
