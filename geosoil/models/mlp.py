"""A multilayer perceptron over tabular covariates (terrain, climate, remote sensing)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from geosoil.errors import CovariateError, SampleDataError
from geosoil.models.base import GeoSoilEstimator
from geosoil.models.registry import register
from geosoil.models.targets import TargetTransform

__all__ = ["CovariateMLP"]

log = logging.getLogger(__name__)

_PREDICT_BATCH = 65536  # rows per forward pass: keeps activations below the mmap threshold
# BLAS kernels round the last rows of a matrix differently from full row panels, so a pixel's
# value would depend on how many pixels share its batch. Padding every batch to a multiple of
# this row count makes predictions independent of chunking, bit for bit.
_ROW_MULTIPLE = 64


def _build_network(n_inputs: int, hidden_layers: Sequence[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_inputs
    for hidden in hidden_layers:
        layers += [nn.Linear(width, hidden), nn.SiLU(), nn.Dropout(dropout)]
        width = hidden
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


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
        ``"none"`` or ``"log10"``; predictions are always back-transformed.
    seed
        Seeds weight initialization, the validation split and minibatch order.
    """

    registry_name = "covariate_mlp"

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
    ) -> None:
        self.hidden_layers = hidden_layers
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.categorical_features = categorical_features
        self.target_transform = target_transform
        self.seed = seed

    # ------------------------------------------------------------------ fitting
    def fit(self, X: pd.DataFrame, y: Sequence[float] | np.ndarray) -> CovariateMLP:
        """Learn the network from a covariate table and a target vector; returns self."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError("CovariateMLP.fit expects a pandas DataFrame with named covariates")
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with {len(X)} values, got shape {y.shape}")
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
        if not np.isfinite(X.to_numpy(dtype=np.float64)).all() or not np.isfinite(y).all():
            raise SampleDataError(
                "X and y must be finite", fix="drop rows with missing covariates or target"
            )

        transform = TargetTransform(self.target_transform)
        z = transform.forward(y)
        self.feature_names_in_ = [str(c) for c in X.columns]
        self.n_features_in_ = len(self.feature_names_in_)
        self.categories_ = {
            name: sorted(int(v) for v in np.unique(X[name].to_numpy()))
            for name in self.categorical_features
        }
        continuous = [c for c in self.feature_names_in_ if c not in self.categories_]
        values = X[continuous].to_numpy(dtype=np.float64)
        self.center_ = values.mean(axis=0) if continuous else np.zeros(0)
        scale = values.std(axis=0) if continuous else np.ones(0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.target_mean_ = float(z.mean())
        self.target_std_ = float(z.std()) or 1.0

        inputs = self._encode(X[self.feature_names_in_].to_numpy(dtype=np.float32))
        targets = torch.from_numpy(((z - self.target_mean_) / self.target_std_).astype(np.float32))
        # Dropout draws from torch's global generator: fork it so fit is seeded and leaves the
        # caller's random state alone.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.network_, self.history_ = self._train(inputs, targets)
        self.best_epoch_ = min(self.history_, key=lambda h: h["monitor_loss"])["epoch"]
        return self

    def _train(self, inputs: torch.Tensor, targets: torch.Tensor):
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(targets))
        n_valid = round(self.validation_fraction * len(targets)) if len(targets) >= 20 else 0
        valid_idx = torch.from_numpy(order[:n_valid])
        train_idx = torch.from_numpy(order[n_valid:])

        network = _build_network(inputs.shape[1], self.hidden_layers, self.dropout)
        optimizer = torch.optim.AdamW(
            network.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        shuffler = torch.Generator().manual_seed(self.seed)
        loss_fn = nn.MSELoss()
        history: list[dict[str, float]] = []
        best_loss, best_state, stale = np.inf, None, 0
        for epoch in range(1, self.max_epochs + 1):
            network.train()
            permuted = train_idx[torch.randperm(len(train_idx), generator=shuffler)]
            total = 0.0
            for start in range(0, len(permuted), self.batch_size):
                batch = permuted[start : start + self.batch_size]
                optimizer.zero_grad()
                loss = loss_fn(network(inputs[batch]).squeeze(1), targets[batch])
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
            train_loss = total / len(permuted)
            network.eval()
            with torch.no_grad():
                valid_loss = (
                    float(loss_fn(network(inputs[valid_idx]).squeeze(1), targets[valid_idx]))
                    if n_valid
                    else float("nan")
                )
            monitor = valid_loss if n_valid else train_loss
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "valid_loss": valid_loss,
                    "monitor_loss": monitor,
                }
            )
            log.debug("epoch %d train %.4f valid %.4f", epoch, train_loss, valid_loss)
            if monitor < best_loss - 1e-6:
                best_loss, stale = monitor, 0
                best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
            else:
                stale += 1
                if stale >= self.patience:
                    break
        network.load_state_dict(best_state)
        network.eval()
        log.info(
            "trained %d epochs, best %d (loss %.4f on %s rows)",
            len(history),
            min(history, key=lambda h: h["monitor_loss"])["epoch"],
            best_loss,
            "validation" if n_valid else "training",
        )
        return network, history

    # --------------------------------------------------------------- prediction
    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Predictions in the target's units for a table or an (N, F) array in feature order."""
        self._check_fitted()
        matrix = self._as_matrix(X)
        transform = TargetTransform(self.target_transform)
        out = np.empty(len(matrix), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(matrix), _PREDICT_BATCH):
                chunk = self._encode(matrix[start : start + _PREDICT_BATCH])
                n_rows = len(chunk)
                padded = torch.nn.functional.pad(chunk, (0, 0, 0, -n_rows % _ROW_MULTIPLE))
                out[start : start + n_rows] = self.network_(padded)[:n_rows, 0].numpy()
        z = out.astype(np.float64) * self.target_std_ + self.target_mean_
        return transform.inverse(z).astype(np.float32)

    def _as_matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            missing = [c for c in self.feature_names_in_ if c not in X.columns]
            if missing:
                raise CovariateError(
                    f"covariates {missing} needed by the model are missing",
                    field="covariates",
                    fix=f"provide columns {self.feature_names_in_}",
                )
            return X[self.feature_names_in_].to_numpy(dtype=np.float32)
        matrix = np.asarray(X, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features_in_:
            raise CovariateError(
                f"expected an (N, {self.n_features_in_}) array, got shape {matrix.shape}",
                field="covariates",
                fix=f"columns in this order: {self.feature_names_in_}",
            )
        return matrix

    def _encode(self, matrix: np.ndarray) -> torch.Tensor:
        """Standardize continuous columns and one-hot encode categorical ones."""
        names = self.feature_names_in_
        cont_idx = [i for i, n in enumerate(names) if n not in self.categories_]
        parts = [(matrix[:, cont_idx] - self.center_) / self.scale_]
        for name, codes in self.categories_.items():
            column = matrix[:, names.index(name)]
            # An unseen class gets an all-zero code: the model falls back to its average.
            parts.append(column[:, None] == np.asarray(codes, dtype=np.float32)[None, :])
        return torch.from_numpy(np.concatenate(parts, axis=1).astype(np.float32, copy=False))

    # ----------------------------------------------------------------- artifact
    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        self._check_fitted()
        tensors = {f"network.{k}": v for k, v in self.network_.state_dict().items()}
        tensors["center"] = torch.from_numpy(np.asarray(self.center_, dtype=np.float64))
        tensors["scale"] = torch.from_numpy(np.asarray(self.scale_, dtype=np.float64))
        state = {
            "feature_names_in": self.feature_names_in_,
            "categories": self.categories_,
            "target_mean": self.target_mean_,
            "target_std": self.target_std_,
            "best_epoch": self.best_epoch_,
            "epochs_run": len(self.history_),
        }
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> CovariateMLP:
        model = cls(**params)
        model.feature_names_in_ = list(state["feature_names_in"])
        model.n_features_in_ = len(model.feature_names_in_)
        model.categories_ = {k: [int(c) for c in v] for k, v in state["categories"].items()}
        model.center_ = tensors["center"].numpy()
        model.scale_ = tensors["scale"].numpy()
        model.target_mean_ = float(state["target_mean"])
        model.target_std_ = float(state["target_std"])
        model.best_epoch_ = int(state["best_epoch"])
        model.history_ = []
        n_inputs = len(model.center_) + sum(len(c) for c in model.categories_.values())
        network = _build_network(n_inputs, model.hidden_layers, model.dropout)
        weights = {
            k.removeprefix("network."): v for k, v in tensors.items() if k.startswith("network.")
        }
        network.load_state_dict(weights, strict=True)
        model.network_ = network.eval()
        return model
