"""The covariate MLP's torch side: its network and one training epoch.

Imported only to train (or to rebuild the torch networks of a loaded model); prediction
runs in numpy (:mod:`geosoil.models.covariate.dense`), so mapping needs no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from geosoil.errors import SampleDataError
from geosoil.models.covariate.dense import DenseNetwork

__all__ = ["build_network", "diverged_error", "mse_loss", "torch_network", "train_epoch"]


def build_network(
    n_inputs: int, hidden_layers: Sequence[int], dropout: float, n_outputs: int = 1
) -> nn.Sequential:
    """``Linear, SiLU, Dropout`` per hidden layer, then a ``Linear`` output (the layout
    :class:`~geosoil.models.covariate.dense.DenseNetwork` evaluates)."""
    layers: list[nn.Module] = []
    width = n_inputs
    for hidden in hidden_layers:
        layers += [nn.Linear(width, hidden), nn.SiLU(), nn.Dropout(dropout)]
        width = hidden
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def torch_network(dense: DenseNetwork, dropout: float) -> nn.Sequential:
    """The torch network holding a numpy network's weights (copies), in eval mode."""
    widths = [weight.shape for weight, _ in dense.layers]
    hidden = [n_out for n_out, _ in widths[:-1]]
    network = build_network(widths[0][1], hidden, dropout, widths[-1][0])
    state = {k: torch.from_numpy(v.copy()) for k, v in dense.state_dict().items()}
    network.load_state_dict(state, strict=True)
    return network.eval()


def mse_loss() -> nn.Module:
    """Mean over rows and target columns: each column is standardized, so each weighs the
    same. Callers ``view_as`` the targets, which squeezes the single output of a 1-D target."""
    return nn.MSELoss()


def train_epoch(
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    rows: torch.Tensor,
    shuffler: torch.Generator,
    batch_size: int,
    loss_of: nn.Module,
) -> float:
    """One pass over ``rows`` in shuffled minibatches; the mean training loss."""
    network.train()
    permuted = rows[torch.randperm(len(rows), generator=shuffler)]
    total = 0.0
    for start in range(0, len(permuted), batch_size):
        batch = permuted[start : start + batch_size]
        optimizer.zero_grad()
        loss = loss_of(network(inputs[batch]).view_as(targets[batch]), targets[batch])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
    return total / len(permuted)


def diverged_error(history: list[dict[str, float]]) -> SampleDataError:
    return SampleDataError(
        f"the network's loss was never finite in {len(history)} epochs",
        field="params.learning_rate",
        fix="lower params.learning_rate, or check the covariates for extreme values",
    )
