"""A multilayer perceptron over tabular covariates (terrain, climate, remote sensing).

With ``n_members >= 2`` it is a deep ensemble (Lakshminarayanan et al., 2017): the same
network trained from several seeds, whose spread gives ``predict_dist``. Fitted on a 2-D
target (one column per soil property), one network predicts every property at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from geosoil.errors import ConfigError, CovariateError, SampleDataError
from geosoil.models.base import GeoSoilEstimator, check_choice
from geosoil.models.covariate.dense import DenseNetwork, as_array, checked_float64
from geosoil.models.covariate.tabular import prediction_matrix, training_table
from geosoil.models.encoding import CovariateEncoder, is_data_frame
from geosoil.models.registry import register
from geosoil.models.targets import TargetTransform, count_by_column
from geosoil.models.uncertainty import mean_over_members, normal_scores, std_over_members

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from torch import nn

__all__ = ["CovariateMLP"]

log = logging.getLogger(__name__)

# Rows encoded at once for the forward passes (which run in padded chunks of their own, so a
# pixel's value never depends on how many pixels share its batch: DenseNetwork).
_PREDICT_BATCH = 65536


@register
class CovariateMLP(GeoSoilEstimator):
    """Regression MLP: continuous covariates standardized, categorical ones one-hot encoded.

    Parameters
    ----------
    hidden_layers
        Width of each hidden layer.
    dropout
        Dropout probability after each hidden layer.
    learning_rate, weight_decay
        AdamW settings.
    max_epochs, batch_size
        Training length and minibatch size.
    patience
        Epochs without improvement of the validation loss before stopping.
    validation_fraction
        Share of the training rows held out for early stopping (none below 20 rows).
    categorical_features
        Column names to one-hot encode (integer class codes).
    target_transform
        ``"none"`` or ``"log10"``, applied to every target column; predictions are always
        back-transformed.
    seed
        Seeds weight initialization, the validation split and minibatch order.
    n_members
        Networks in the ensemble. Member ``k`` is trained on the same rows with seed
        ``seed + k`` (its own initialization, validation split and minibatch order), so
        ensembles with neighbouring seeds share members. 1 is a single network; 2 or more
        enable :meth:`predict_dist`.
    final_fit
        What each network delivers after early stopping on its held-out rows: ``"refit"``
        (default) trains it afresh on every row for its best epoch count; ``"validated"``
        keeps the early-stopped network, trained on the other rows only (the behaviour
        before the final-fit policy).
    clamp_inputs
        Clip each continuous covariate to its training range before the network reads it
        (default), so that a pixel or sample beyond the range is predicted as at the range's
        edge, not by extrapolating the network (which can run far outside the observed
        targets; such cells lie outside the area of applicability anyway). ``False``
        extrapolates, as artifacts written before this setting do.

    Notes
    -----
    ``fit(X, y)`` takes one target, ``y`` of shape (n,), or several, ``y`` of shape (n, k)
    (an array or a k-column DataFrame); ``predict`` then returns (N,) or (N, k) alike, so a
    2-D ``y`` with one column gives (N, 1). Each target column is transformed and
    standardized on its own, and the loss is the mean over columns of their squared errors,
    so no property dominates by its units; early stopping watches that mean.

    Learned state: ``networks_`` (one per member), ``best_epochs_`` (per member),
    ``history_`` (one row per member and epoch, with a ``member`` column), ``n_targets_``
    (k; 1 for a 1-D ``y``), ``target_ndim_`` (1 or 2, the dimensions of the fitted ``y``)
    and ``target_mean_``, ``target_std_`` (floats for a 1-D ``y``, arrays of shape (k,)
    otherwise).
    """

    registry_name = "covariate_mlp"
    #: The artifact's tensors reach ``from_state`` as numpy arrays: a loaded model predicts
    #: in numpy (:class:`~geosoil.models.covariate.dense.DenseNetwork`) without torch.
    state_arrays: ClassVar[str] = "numpy"
    # Fitted networks: torch modules after ``fit``, numpy weights after ``from_state``; each
    # is derived from the other when first needed (see ``networks_``).
    _networks: list | None = None
    _dense: list[DenseNetwork] | None = None

    def __init__(
        self,
        *,
        hidden_layers: Sequence[int] = (64, 64),
        dropout: float = 0.1,
        learning_rate: float = 3e-3,
        weight_decay: float = 1e-4,
        max_epochs: int = 300,
        batch_size: int = 32,
        patience: int = 30,
        validation_fraction: float = 0.15,
        categorical_features: Sequence[str] = (),
        target_transform: Literal["none", "log10"] = "none",
        seed: int = 0,
        n_members: int = 1,
        final_fit: Literal["refit", "validated"] = "refit",
        clamp_inputs: bool = True,
    ) -> None:
        self._store_params(locals())

    def __sklearn_tags__(self):
        """A regressor of one or several targets (``y`` of shape (n, k))."""
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @property
    def supports_dist(self) -> bool:
        """True when ``n_members >= 2``: the ensemble's spread gives :meth:`predict_dist`."""
        return self.n_members >= 2

    # ------------------------------------------------------------------ fitting
    def fit(self, X: pd.DataFrame, y: Sequence[float] | np.ndarray | pd.DataFrame) -> CovariateMLP:
        """Learn the network(s) from a covariate table and targets; returns self.

        ``X`` is a DataFrame of named covariates, or an array (columns ``x0``, ``x1``, ...;
        see :func:`~geosoil.models.covariate.tabular.training_table`). ``y`` is one target of
        shape (n,) or k targets of shape (n, k), an array or a DataFrame with one column per
        target.
        """
        n_members = _check_n_members(self.n_members)
        check_choice(self.final_fit, ("refit", "validated"), "params.final_fit")
        X, y = training_table(X, y, multi_output=True)
        y, target_names = _check_targets(y, n_rows=len(X))
        if len(y) < 4:
            raise SampleDataError(
                f"only {len(y)} training rows", fix="provide at least 4 samples with the target"
            )
        missing = [c for c in self.categorical_features if c not in X.columns]
        if missing:
            raise CovariateError(
                f"categorical_features {missing} are not columns of X",
                field="categorical_features",
                fix=f"choose among {list(X.columns)}",
            )
        if not np.isfinite(X.to_numpy(dtype=np.float64)).all():
            raise SampleDataError("X must be finite", fix="drop rows with missing covariates")

        transform = TargetTransform(self.target_transform)
        z = transform.forward(y, names=target_names)
        self.feature_names_in_ = [str(c) for c in X.columns]
        self.n_features_in_ = len(self.feature_names_in_)
        # Continuous covariates as z-scores (clamped to the training range); categorical
        # ones one-hot, an unseen class as an all-zero code (the network's reference: its
        # average class).
        self.coding_ = CovariateEncoder.learn(
            X,
            [c for c in self.feature_names_in_ if c not in self.categorical_features],
            [str(c) for c in self.categorical_features],
            unseen="zero",
            clamp=bool(self.clamp_inputs),
        )
        self.target_ndim_ = y.ndim
        self.n_targets_ = 1 if y.ndim == 1 else y.shape[1]
        if y.ndim == 1:
            self.target_mean_ = float(z.mean())
            self.target_std_ = float(z.std()) or 1.0
        else:
            self.target_mean_ = z.mean(axis=0)
            std = z.std(axis=0)
            self.target_std_ = np.where(std > 0, std, 1.0)

        import torch

        from geosoil.models.training import seeded

        inputs = torch.from_numpy(self._encoded(X[self.feature_names_in_].to_numpy(np.float32)))
        targets = torch.from_numpy(((z - self.target_mean_) / self.target_std_).astype(np.float32))
        if n_members > 1:
            log.info(
                "training a deep ensemble of %d networks (seeds %d to %d)",
                n_members,
                self.seed,
                self.seed + n_members - 1,
            )
        networks, best_epochs, history = [], [], []
        # Dropout draws from torch's global generator: ``seeded`` forks it so fit is seeded
        # and leaves the caller's random state alone.
        for member in range(n_members):
            member_seed = self.seed + member
            with seeded(member_seed):
                network, member_history = self._train(
                    inputs, targets, seed=member_seed, label=_member_label(member, n_members)
                )
            networks.append(network)
            best_epochs.append(min(member_history, key=lambda h: h["monitor_loss"])["epoch"])
            history += [{"member": member, **row} for row in member_history]
        self.networks_ = networks
        self.best_epochs_ = best_epochs
        self.history_ = history
        return self

    def _train(self, inputs: torch.Tensor, targets: torch.Tensor, *, seed: int, label: str):
        """Train one network with ``seed``; returns it and its early-stopping history.

        With held-out rows and ``final_fit="refit"``, the network is then trained afresh on
        every row for the best epoch count (the kit's final-fit policy).
        """
        import torch

        from geosoil.models.covariate.mlp_network import diverged_error, mse_loss, train_epoch
        from geosoil.models.training import early_stopping, refit_epochs

        loss_of = mse_loss()
        batching = (self.batch_size, loss_of)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(targets))
        n_valid = round(self.validation_fraction * len(targets)) if len(targets) >= 20 else 0
        valid_idx = torch.from_numpy(order[:n_valid])
        train_idx = torch.from_numpy(order[n_valid:])
        n_outputs = 1 if targets.ndim == 1 else targets.shape[1]
        network, optimizer = self._start(inputs.shape[1], n_outputs)
        shuffler = torch.Generator().manual_seed(seed)
        valid_inputs, valid_targets = inputs[valid_idx], targets[valid_idx]

        def run_epoch(epoch: int) -> dict[str, float]:
            train_loss = train_epoch(
                network, optimizer, inputs, targets, train_idx, shuffler, *batching
            )
            network.eval()
            with torch.no_grad():
                valid_loss = (
                    float(loss_of(network(valid_inputs).view_as(valid_targets), valid_targets))
                    if n_valid
                    else float("nan")
                )
            return {
                "epoch": epoch,
                "train_loss": train_loss,
                "valid_loss": valid_loss,
                "monitor_loss": valid_loss if n_valid else train_loss,
            }

        stopped = early_stopping(
            network,
            run_epoch,
            max_epochs=self.max_epochs,
            patience=self.patience,
            monitor="monitor_loss",
            min_delta=1e-6,
            diverged=diverged_error,
            logger=log,
            label=label,
        )
        log.info(
            "%strained %d epochs, best %d (loss %.4f on %s rows)",
            label,
            stopped.epochs_run,
            stopped.best_epoch,
            stopped.best_score,
            "validation" if n_valid else "training",
        )
        if n_valid and self.final_fit == "refit":
            epochs = refit_epochs(stopped)
            network, optimizer = self._start(inputs.shape[1], n_outputs)
            every_row = torch.arange(len(targets))
            for _ in range(epochs):
                train_epoch(network, optimizer, inputs, targets, every_row, shuffler, *batching)
            network.eval()
            log.info("%srefitted on all %d rows for %d epochs", label, len(targets), epochs)
        return network, stopped.history

    def _start(self, n_inputs: int, n_outputs: int) -> tuple[nn.Sequential, torch.optim.Optimizer]:
        """A freshly initialised network and its AdamW optimizer."""
        import torch

        from geosoil.models.covariate.mlp_network import build_network

        network = build_network(n_inputs, self.hidden_layers, self.dropout, n_outputs)
        optimizer = torch.optim.AdamW(
            network.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        return network, optimizer

    # --------------------------------------------------------------- prediction
    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Predictions in the target's units for a table or an (N, F) array in feature order.

        Float32 of shape (N,) for a model fitted on a 1-D ``y``, (N, k) for one fitted on k
        target columns. For an ensemble, the back-transform of the members' mean on the
        transformed scale (for ``log10`` targets their geometric mean, not the mean of their
        predictions).
        """
        self._check_fitted()
        outputs = self._member_outputs(self._as_matrix(X))
        return self._to_target_units(mean_over_members(outputs))

    def predict_dist(
        self, X: pd.DataFrame | np.ndarray, *, levels: Sequence[float] = (0.05, 0.95)
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, spread and quantiles of the ensemble's prediction, in the target's units.

        Parameters
        ----------
        X
            A table or an (N, F) array in feature order, as for :meth:`predict`.
        levels
            Probabilities of the quantiles, each strictly between 0 and 1.

        Returns
        -------
        mean : ndarray of float32, shape (N,), or (N, k) for k target columns
            Equal to ``predict(X)``.
        std : ndarray of float32, shape as ``mean``
            Standard deviation (``ddof=1``) of the members' back-transformed predictions.
        quantiles : ndarray of float32, shape (len(levels), N) or (len(levels), N, k)
            Quantiles of a normal distribution with the members' mean and standard deviation
            (``ddof=1``) on the transformed scale, back-transformed: ``mean + z * std`` for
            ``target_transform="none"``, asymmetric intervals around ``mean`` for ``log10``.

        Raises
        ------
        ConfigError
            If the model has fewer than 2 members, or a level is not in (0, 1).
        NotFittedError
            If the model is not fitted.

        Notes
        -----
        The spread of a deep ensemble reflects disagreement between networks (model
        uncertainty), not the noise of the measurements; intervals from few members are
        themselves uncertain. Like ``predict``, every value depends only on its own row.
        Each target column gets its own marginal distribution; their correlation is not
        modelled.
        """
        if not self.supports_dist:
            raise ConfigError(
                f"predict_dist needs an ensemble, but n_members={self.n_members}",
                field="params.n_members",
                fix="train with params.n_members >= 2 (5 to 10 is usual)",
            )
        self._check_fitted()
        z_scores = normal_scores(levels)
        transform = TargetTransform(self.target_transform)
        outputs = self._member_outputs(self._as_matrix(X))
        centre = mean_over_members(outputs)
        mean = self._to_target_units(centre)

        # The normal lives on the transformed scale, where the members were trained; the
        # back-transform then bends its quantiles (log10: a log-normal, wider above the mean).
        # ``mean`` is inverse(centre_z) from the same float64 values, and the transforms are
        # monotone, so a quantile below 0.5 never exceeds ``mean`` and one above never
        # falls under it.
        centre_z = centre * self.target_std_ + self.target_mean_
        spread_z = std_over_members(outputs, centre) * self.target_std_
        quantiles = np.empty((len(z_scores), *centre.shape), dtype=np.float32)
        for row, z_score in enumerate(z_scores):
            quantiles[row] = transform.inverse(centre_z + z_score * spread_z)

        members = outputs.astype(np.float64)
        members *= self.target_std_
        members += self.target_mean_
        members = transform.inverse(members)
        std = std_over_members(members, mean_over_members(members)).astype(np.float32)
        return mean, std, quantiles

    # ---------------------------------------------------------------- networks
    @property
    def networks_(self) -> list[nn.Sequential]:
        """The fitted torch networks, one per member (built from the numpy weights of a
        loaded model when first asked for: fine-tuning, attributions, saving)."""
        if self._networks is None:
            if self._dense is None:
                raise AttributeError("networks_")  # not fitted: getattr(..., None) works
            from geosoil.models.covariate.mlp_network import torch_network

            self._networks = [torch_network(dense, self.dropout) for dense in self._dense]
        return self._networks

    @networks_.setter
    def networks_(self, networks: list[nn.Sequential]) -> None:
        self._networks, self._dense = list(networks), None

    def _dense_networks(self) -> list[DenseNetwork]:
        """The members as numpy networks: the loaded weights, or views of the torch ones."""
        if self._dense is not None:
            return self._dense
        return [DenseNetwork.from_module(network) for network in self.networks_]

    def _member_outputs(self, matrix: np.ndarray) -> np.ndarray:
        """Standardized outputs of every member, float32 of shape (n_members, N) for a 1-D
        target, (n_members, N, k) for k target columns (numpy forward passes)."""
        networks = self._dense_networks()
        out = np.empty((len(networks), len(matrix), self.n_targets_), dtype=np.float32)
        for start in range(0, len(matrix), _PREDICT_BATCH):
            chunk = self._encoded(matrix[start : start + _PREDICT_BATCH])
            for member, network in enumerate(networks):
                out[member, start : start + len(chunk)] = network(chunk)
        return out[..., 0] if self.target_ndim_ == 1 else out

    def _to_target_units(self, standardized: np.ndarray) -> np.ndarray:
        """Undo the target standardization and transform, column by column for k targets;
        float32 in the targets' units."""
        z = standardized * self.target_std_ + self.target_mean_
        return TargetTransform(self.target_transform).inverse(z).astype(np.float32)

    def _as_matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        return prediction_matrix(
            X, self.feature_names_in_, dtype=np.float32, owner=type(self).__name__
        )

    def _encoded(self, matrix: np.ndarray) -> np.ndarray:
        """Float32 network inputs: continuous columns standardized, categorical ones one-hot."""
        names, coding = self.feature_names_in_, self.coding_
        scaled = coding.scaled(matrix[:, [names.index(n) for n in coding.continuous]])
        index, _ = coding.indices(matrix[:, [names.index(n) for n in coding.categorical]])
        parts = [scaled, coding.one_hot(index)]
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)

    # ----------------------------------------------------------------- artifact
    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors ``network.*`` (one network) or ``members.<k>.network.*``, plus
        ``center`` and ``scale``; JSON state with one ``members`` entry per network.

        A model fitted on a 2-D ``y`` also records ``n_targets`` (k), and its
        ``target_mean`` and ``target_std`` are lists of k values. A model fitted on a 1-D
        ``y`` writes the state it always did: no ``n_targets``, scalar mean and std.
        """
        import torch

        self._check_fitted()
        n_members = len(self.networks_)
        tensors = {
            f"{_network_prefix(member, n_members)}{k}": v
            for member, network in enumerate(self.networks_)
            for k, v in network.state_dict().items()
        }
        tensors["center"] = torch.from_numpy(np.asarray(self.coding_.center, dtype=np.float64))
        tensors["scale"] = torch.from_numpy(np.asarray(self.coding_.scale, dtype=np.float64))
        if self.coding_.clamp:
            for name in ("low", "high"):
                values = np.asarray(getattr(self.coding_, name), dtype=np.float64)
                tensors[name] = torch.from_numpy(values)
        state = {
            "feature_names_in": self.feature_names_in_,
            "categories": self.coding_.labels,
            "target_mean": _jsonable_stat(self.target_mean_),
            "target_std": _jsonable_stat(self.target_std_),
            "members": [
                {
                    "seed": self.seed + member,
                    "best_epoch": best_epoch,
                    "epochs_run": sum(row["member"] == member for row in self.history_),
                }
                for member, best_epoch in enumerate(self.best_epochs_)
            ],
        }
        if self.target_ndim_ == 2:
            state["n_targets"] = self.n_targets_
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> CovariateMLP:
        # Artifacts written before ``clamp_inputs`` existed extrapolate, as they did.
        model = cls(**{"clamp_inputs": False, **params})
        model.feature_names_in_ = list(state["feature_names_in"])
        model.n_features_in_ = len(model.feature_names_in_)
        categories = {k: [int(c) for c in v] for k, v in state["categories"].items()}
        continuous = [n for n in model.feature_names_in_ if n not in categories]
        clamp_range = {
            name: checked_float64(tensors[name], name, (len(continuous),))
            for name in (("low", "high") if model.clamp_inputs else ())
        }
        model.coding_ = CovariateEncoder(
            continuous=continuous,
            categorical=list(categories),
            labels=categories,
            frequency={},
            unseen="zero",
            center=as_array(tensors["center"]),
            scale=as_array(tensors["scale"]),
            clamp=bool(model.clamp_inputs),
            **clamp_range,
        )
        # Artifacts without ``n_targets`` (all those written before multi-target models)
        # were fitted on a 1-D target.
        if state.get("n_targets") is None:
            model.target_ndim_, model.n_targets_ = 1, 1
            model.target_mean_ = float(state["target_mean"])
            model.target_std_ = float(state["target_std"])
        else:
            model.target_ndim_, model.n_targets_ = 2, int(state["n_targets"])
            model.target_mean_ = _target_stat(state, "target_mean", model.n_targets_)
            model.target_std_ = _target_stat(state, "target_std", model.n_targets_)
        # Artifacts written before ensembles existed keep their epochs at the top level.
        members = state.get("members") or [{"best_epoch": state["best_epoch"]}]
        model.best_epochs_ = [int(m["best_epoch"]) for m in members]
        model.history_ = []
        n_inputs = len(model.coding_.continuous) + model.coding_.n_one_hot
        n_members = int(model.n_members)
        if len(members) != n_members:
            raise ValueError(f"{len(members)} members in the state, n_members={n_members}")
        networks, used = [], {"center", "scale", "low", "high"}
        for member in range(n_members):
            prefix = _network_prefix(member, n_members)
            weights = {
                k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)
            }
            networks.append(
                DenseNetwork.from_weights(
                    weights,
                    n_inputs=n_inputs,
                    hidden=model.hidden_layers,
                    n_outputs=model.n_targets_,
                )
            )
            used.update(prefix + k for k in weights)
        if unexpected := sorted(set(tensors) - used):
            raise ValueError(f"tensors {unexpected[:3]} belong to no network")
        model._dense = networks
        return model


def _check_targets(y: Any, *, n_rows: int) -> tuple[np.ndarray, list[str] | None]:
    """Float64 targets, (n,) or (n, k), and the names of a DataFrame's k columns."""
    names = [str(c) for c in y.columns] if is_data_frame(y) else None
    try:
        values = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise SampleDataError(
            f"y must be numeric ({err})", fix="pass numeric target values, one row per sample"
        ) from err
    if values.ndim not in (1, 2) or (values.ndim == 2 and values.shape[1] == 0):
        raise SampleDataError(
            f"y must be 1-D (one target) or 2-D (one column per target), got shape {values.shape}",
            fix="pass an (n,) vector or an (n, k) array or DataFrame",
        )
    if len(values) != n_rows:
        raise SampleDataError(
            f"y has {len(values)} rows but X has {n_rows}",
            fix="pass one target row per row of X, in the same order",
        )
    not_finite = ~np.isfinite(values)
    if not_finite.any():
        raise SampleDataError(
            f"y must be finite, but has {np.count_nonzero(not_finite)} NaN or infinite "
            f"value(s)" + count_by_column(not_finite, names, "NaN or infinite"),
            fix="drop rows with a missing target",
        )
    return values, names


def _jsonable_stat(value: float | np.ndarray) -> float | list[float]:
    """A target mean or std for the JSON state: a float, or a list with one per column."""
    return value.tolist() if isinstance(value, np.ndarray) else value


def _target_stat(state: dict[str, Any], key: str, n_targets: int) -> np.ndarray:
    values = np.asarray(state[key], dtype=np.float64)
    if values.shape != (n_targets,):
        raise ValueError(f"{key} has shape {values.shape}, expected ({n_targets},)")
    return values


def _check_n_members(n_members: Any) -> int:
    try:
        whole = not isinstance(n_members, bool) and int(n_members) == n_members
    except (TypeError, ValueError):
        whole = False
    if not whole or n_members < 1:
        raise ConfigError(
            f"n_members={n_members!r} is not a whole number of at least 1",
            field="params.n_members",
            fix="use 1 for a single network, or 5 to 10 for a deep ensemble with predict_dist",
        )
    return int(n_members)


def _member_label(member: int, n_members: int) -> str:
    """Log prefix naming the member; empty for a single network."""
    return f"member {member + 1}/{n_members}: " if n_members > 1 else ""


def _network_prefix(member: int, n_members: int) -> str:
    """Tensor name prefix of a member's weights in the artifact."""
    # A single network keeps the names of artifacts written before ensembles existed.
    return "network." if n_members == 1 else f"members.{member}.network."
