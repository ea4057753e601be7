"""The pieces behind :class:`~geosoil.models.soc.binn.BINN`: the KAN encoder, loss and epoch.

Kept apart from the estimator so that ``binn.py`` reads as the public contract: what is
validated, learned and predicted. Everything here works on tensors of one dtype; the loop
itself, the MLP encoder and the thread and artifact helpers are the shared kit's
(:mod:`geosoil.models.training`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from geosoil.errors import SampleDataError
from geosoil.models.soc.kan import KANEncoder
from geosoil.models.training import (
    Stopped,
    batch_slices,
    early_stopping,
    encode_padded,
    loop_settings,
)
from geosoil.process import Clm5Forcings

__all__ = [
    "COSH_SHARPNESS",
    "LR_SCHEDULES",
    "KANParameterEncoder",
    "TrainSettings",
    "TrainingData",
    "cosh_penalty",
    "masked_nse",
    "predict_depths",
    "train",
]

log = logging.getLogger(__name__)

# k of the cosh penalty: cosh(k (u - 1/2)) - 1 is 0 at mid-range, 0.03 at u = 0.25 or 0.75
# and 73 at a bound, so it only bites where a sigmoid saturates and its gradient vanishes.
COSH_SHARPNESS = 10.0
LR_SCHEDULES = ("constant", "plateau", "cosine")
# plateau schedule: halve the learning rate after this many epochs without a better NSE
_PLATEAU_PATIENCE = 3


# ------------------------------------------------------------------------- encoders
class KANParameterEncoder(nn.Module):
    """Covariates -> k parameters in [0, 1] through a KAN; categories enter one-hot.

    One-hot inputs are 0 or 1, the ends of the KAN's input range, so their edge functions
    act as a learned offset per class; an unseen code is all-zero (the reference class mix).
    """

    def __init__(
        self,
        n_continuous: int,
        frequency: Sequence[Sequence[float]],
        n_outputs: int,
        *,
        hidden: int | None,
        grid_size: int,
        order: int,
        output: str,
        sparsity_weight: float,
        seed: int,
    ) -> None:
        super().__init__()
        self.sizes = [len(f) for f in frequency]
        self.sparsity_weight = float(sparsity_weight)
        self.kan = KANEncoder(
            n_continuous + sum(self.sizes),
            n_outputs,
            hidden=hidden,
            grid_size=grid_size,
            order=order,
            output=output,
            seed=seed,
        )

    def inputs(self, continuous: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        """The KAN's input matrix: scaled continuous covariates, then one-hot columns."""
        parts = [continuous]
        for j, size in enumerate(self.sizes):
            index = categories[:, j]
            hot = nn.functional.one_hot(index.clamp(min=0), size).to(continuous.dtype)
            parts.append(hot * (index >= 0)[:, None].to(continuous.dtype))
        return torch.cat(parts, dim=1)

    def forward(self, continuous: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        """Unit parameters (n, k) in [0, 1]."""
        return self.kan(self.inputs(continuous, categories))

    def forward_raw(self, continuous: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        """Outputs before the squashing, (n, k)."""
        return self.kan.forward_raw(self.inputs(continuous, categories))

    def regularization(self, continuous: torch.Tensor) -> torch.Tensor:
        """``sparsity_weight`` times the KAN's L1 on its data-independent grid."""
        if not self.sparsity_weight:
            return continuous.new_zeros(())
        return self.kan.sparsity_loss(weight_l1=self.sparsity_weight)


# ----------------------------------------------------------------------- loss pieces
def cosh_penalty(unit: torch.Tensor) -> torch.Tensor:
    """``mean(cosh(k (u - 1/2))) - 1`` with ``k =`` :data:`COSH_SHARPNESS`; 0 at mid-range."""
    return torch.mean(torch.cosh(COSH_SHARPNESS * (unit - 0.5))) - 1.0


def masked_nse(observed: torch.Tensor, simulated: torch.Tensor) -> float:
    """Pooled Nash-Sutcliffe efficiency over the finite pairs; NaN with fewer than two."""
    valid = torch.isfinite(observed) & torch.isfinite(simulated)
    obs, sim = observed[valid], simulated[valid]
    if obs.numel() < 2:
        return float("nan")
    total = torch.sum((obs - obs.mean()) ** 2)
    if float(total) == 0.0:
        return float("nan")
    return float(1.0 - torch.sum((obs - sim) ** 2) / total)


# ------------------------------------------------------------------------- training
@dataclass
class TrainingData:
    """Everything one side (train or valid) of a fit needs, as tensors."""

    continuous: torch.Tensor
    categories: torch.Tensor
    forcings: Clm5Forcings
    soc: torch.Tensor  # (n, m) g C m-3, NaN where not used
    depth_m: torch.Tensor  # (n, m), NaN exactly where soc is

    def __len__(self) -> int:
        return len(self.continuous)


Simulate = Callable[[torch.Tensor, Clm5Forcings, torch.Tensor], torch.Tensor]


@dataclass
class TrainSettings:
    """The loop's hyperparameters, taken from the estimator."""

    learning_rate: float
    weight_decay: float
    lr_schedule: str
    batch_size: int
    max_epochs: int
    patience: int
    penalty_weight: float
    soc_scale: float
    seed: int
    progress: bool
    label: str


def train(
    encoder: nn.Module,
    simulate: Simulate,
    train_data: TrainingData,
    valid_data: TrainingData | None,
    settings: TrainSettings,
    *,
    predict_batch: int,
) -> Stopped:
    """Train ``encoder`` in place and leave it at its best epoch; returns the history and
    the best epoch (:class:`~geosoil.models.training.Stopped`).

    ``simulate(unit, forcings, depth_m)`` gives SOC (g C m-3) at the depths. The best
    epoch has the highest validation NSE (training NSE without validation profiles).
    """
    optimizer = torch.optim.AdamW(
        encoder.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    scheduler = _scheduler(optimizer, settings)
    shuffler = torch.Generator().manual_seed(settings.seed)
    slices = batch_slices(len(train_data), settings.batch_size)
    monitored = valid_data if valid_data is not None else train_data

    def run_epoch(epoch: int) -> dict[str, Any]:
        started = time.perf_counter()
        encoder.train()
        order = torch.randperm(len(train_data), generator=shuffler)
        sums = {"loss": 0.0, "misfit": 0.0, "penalty": 0.0}
        skipped = 0
        for start, stop in slices:
            batch = order[start:stop]
            optimizer.zero_grad(set_to_none=True)
            unit = encoder(train_data.continuous[batch], train_data.categories[batch])
            sim = simulate(unit, train_data.forcings.select(batch), train_data.depth_m[batch])
            obs = train_data.soc[batch]
            valid = torch.isfinite(obs)
            misfit = torch.mean(((sim[valid] - obs[valid]) / settings.soc_scale) ** 2)
            penalty = settings.penalty_weight * cosh_penalty(unit)
            loss = misfit + penalty + encoder.regularization(unit)
            if not torch.isfinite(loss):
                # an ill-conditioned steady state in one batch must not wreck the weights
                skipped += 1
                continue
            loss.backward()
            optimizer.step()
            for key, value in (("loss", loss), ("misfit", misfit), ("penalty", penalty)):
                sums[key] += float(value.detach()) * len(batch)
        n_used = max(len(train_data) - skipped, 1)
        nse = masked_nse(monitored.soc, predict_depths(encoder, simulate, monitored, predict_batch))
        learning_rate = optimizer.param_groups[0]["lr"]
        if settings.lr_schedule == "plateau":
            scheduler.step(nse if np.isfinite(nse) else -np.inf)
        elif scheduler is not None:
            scheduler.step()
        return {
            "epoch": epoch,
            "train_loss": sums["loss"] / n_used,
            "train_misfit": sums["misfit"] / n_used,
            "train_penalty": sums["penalty"] / n_used,
            "valid_nse": nse if valid_data is not None else float("nan"),
            "monitor_nse": nse,
            "skipped_batches": skipped,
            "learning_rate": learning_rate,
            "seconds": time.perf_counter() - started,
        }

    diverged = SampleDataError(
        "training never reached a finite NSE: the CLM5 steady state was not finite",
        field="params.learning_rate",
        fix="lower params.learning_rate, keep dtype float64, or check the forcings",
    )

    return early_stopping(
        encoder,
        run_epoch,
        monitor="monitor_nse",
        mode="max",
        diverged=diverged,
        logger=log,
        postfix=lambda row: {
            "loss": f"{row['train_loss']:.4f}",
            "nse": f"{row['monitor_nse']:.3f}",
        },
        **loop_settings(settings),
    )


def _scheduler(optimizer: torch.optim.Optimizer, settings: TrainSettings):
    """The learning-rate schedule of ``settings.lr_schedule`` (None for a constant rate)."""
    if settings.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=0.5, patience=_PLATEAU_PATIENCE
        )
    if settings.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.max_epochs)
    return None


def predict_depths(
    encoder: nn.Module, simulate: Simulate, data: TrainingData, predict_batch: int
) -> torch.Tensor:
    """Simulated SOC at ``data.depth_m`` in evaluation mode, without gradients."""
    encoder.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(data), predict_batch):
            rows = slice(start, start + predict_batch)
            unit = encode_padded(encoder, data.continuous[rows], data.categories[rows])
            forcings = data.forcings.select(rows)
            out.append(simulate(unit, forcings, data.depth_m[rows]))
    if not out:
        return data.soc.clone()
    return torch.cat(out)
