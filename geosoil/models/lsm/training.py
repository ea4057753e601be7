"""The pieces behind :class:`~geosoil.models.lsm.mdpl.ParameterGenerator`'s fit.

Each sample's series as the frozen surrogate sees them, the day hold-out, the loss and the
training loop. Kept apart from the estimator so that ``mdpl.py`` reads as the public
contract: what is validated, learned and predicted.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from geosoil.errors import GeoSoilError, SampleDataError
from geosoil.models import training as kit
from geosoil.models.encoding import CovariateEncoder
from geosoil.models.lsm.inputs import ParameterMerge, encode_inputs

__all__ = [
    "LossSettings",
    "Samples",
    "TrainSettings",
    "evaluate",
    "fit_samples",
    "flux_loss",
    "flux_variance",
    "hold_out_days",
    "masked_pearson",
    "train",
]

log = logging.getLogger(__name__)

# surrogate rows per forward pass when a whole series is evaluated
_EVAL_ROWS = 32768
_SHOWN = 10


# --------------------------------------------------------------------------- series
@dataclass
class Samples:
    """One side of a fit (train or valid): coded inputs and each sample's series."""

    sites: list[str]
    continuous: torch.Tensor  # (n, c) float32
    categories: torch.Tensor  # (n, k) int64
    features: list[torch.Tensor]  # (t_i, f) float32 surrogate features
    observed: list[torch.Tensor]  # (n_fluxes, t_i) float32, NaN where unused
    steps: list[torch.Tensor]  # indices of the steps with an observation and finite features

    def __len__(self) -> int:
        return len(self.sites)

    @classmethod
    def build(
        cls,
        records: Sequence[Any],
        table: pd.DataFrame,
        coding: CovariateEncoder,
        surrogate: Any,
        flux_names: Sequence[str],
        role: str,
    ) -> Samples:
        """Code the inputs of ``table`` and read each record's series through ``surrogate``."""
        sites = [str(r.site) for r in records]
        continuous, categories, _ = encode_inputs(coding, table, sites, role)
        series = [_series(record, surrogate, flux_names, role) for record in records]
        features = [f for f, _ in series]
        observed = [o for _, o in series]
        steps = [_usable_steps(f, o) for f, o in series]
        return cls(sites, continuous, categories, features, observed, steps)

    def with_observed(self, observed: list[torch.Tensor]) -> Samples:
        """The same samples with other observations (a day split of the same series)."""
        steps = [_usable_steps(f, o) for f, o in zip(self.features, observed, strict=True)]
        return Samples(self.sites, self.continuous, self.categories, self.features, observed, steps)


def _usable_steps(features: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    usable = torch.isfinite(observed).any(dim=0) & torch.isfinite(features).all(dim=1)
    return torch.nonzero(usable).flatten()


def _series(
    record: Any, surrogate: Any, flux_names: Sequence[str], role: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Surrogate features (t, f) and observed fluxes (n_fluxes, t) of one record."""
    site = str(record.site)
    try:
        features = surrogate.features(record.to_forcing())
    except GeoSoilError as err:
        raise SampleDataError(
            f"{role}: site {site}: the surrogate cannot take its forcing: {err.message}",
            field=err.field or "forcing",
            fix=err.fix or "give forcing of the kind the surrogate was trained on",
        ) from err
    features = torch.as_tensor(features)
    width = getattr(surrogate.module, "n_features", None)
    n_steps = len(record.time)
    if features.ndim != 3 or features.shape[:2] != (1, n_steps):
        raise SampleDataError(
            f"{role}: the surrogate made features of shape {tuple(features.shape)} for site "
            f"{site}, expected (1, {n_steps}, f)",
            field="forcing",
            fix="give one record per site or period, with a regular time axis",
        )
    if width is not None and features.shape[2] != int(width):
        raise SampleDataError(
            f"{role}: site {site} gives {features.shape[2]} surrogate features, the surrogate "
            f"takes {int(width)}",
            field="forcing",
            fix="give the forcing variables the surrogate was trained with",
        )
    if missing := [n for n in flux_names if n not in record.observed.columns]:
        raise SampleDataError(
            f"{role}: site {site} has no observed {missing[0]} column",
            field=f"observed.{missing[0]}",
            fix=f"give observed fluxes {list(flux_names)} (NaN where missing)",
        )
    observed = record.observed[list(flux_names)].to_numpy(dtype=np.float64).T
    if observed.shape[1] != n_steps:
        raise SampleDataError(
            f"{role}: site {site} has {observed.shape[1]} observed steps and {n_steps} "
            "forcing steps",
            field="observed",
            fix="give observations on the forcing's time axis",
        )
    return features[0].to(torch.float32), torch.from_numpy(observed.astype(np.float32))


def fit_samples(
    train: tuple[Sequence[Any], pd.DataFrame],
    valid: tuple[Sequence[Any], pd.DataFrame] | None,
    coding: CovariateEncoder,
    surrogate: Any,
    flux_names: Sequence[str],
    *,
    valid_fraction: float,
    seed: int,
) -> tuple[Samples, Samples | None]:
    """Training samples, and validation samples: ``valid`` if given, else held-out days.

    ``train`` and ``valid`` are (records, input table) pairs. Without ``valid``, a share
    ``valid_fraction`` of each training record's observed days is held out; None comes
    back for the validation side when that share is 0 or no record has 2 observed days.

    Raises
    ------
    SampleDataError
        A training record without any usable observation, or a series the surrogate
        cannot take.
    """
    train_records, train_table = train
    train_set = Samples.build(train_records, train_table, coding, surrogate, flux_names, "records")
    empty = [s for s, steps in zip(train_set.sites, train_set.steps, strict=True) if not len(steps)]
    if empty:
        raise SampleDataError(
            f"{len(empty)} training record(s) have no observed {' or '.join(flux_names)} "
            f"(sites {empty[:_SHOWN]})",
            field="records.observed",
            fix="drop records without flux observations before fitting",
        )
    if valid is not None:
        return train_set, Samples.build(*valid, coding, surrogate, flux_names, "valid_records")
    if valid_fraction == 0:
        return train_set, None
    rng = np.random.default_rng(seed)
    train_obs, valid_obs = [], []
    for record, observed in zip(train_records, train_set.observed, strict=True):
        held = torch.from_numpy(hold_out_days(record, observed, valid_fraction, rng))
        nan = torch.full_like(observed, math.nan)
        train_obs.append(torch.where(held[None, :], nan, observed))
        valid_obs.append(torch.where(held[None, :], observed, nan))
    valid_set = train_set.with_observed(valid_obs)
    if not any(len(steps) for steps in valid_set.steps):
        log.info("no record has 2 observed days to hold out: monitoring the training loss")
        return train_set, None
    return train_set.with_observed(train_obs), valid_set


def hold_out_days(
    record: Any, observed: torch.Tensor, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Steps of a random ``fraction`` of the days with observations (none below 2 days)."""
    days = pd.DatetimeIndex(record.time).normalize()
    has_obs = torch.isfinite(observed).any(dim=0).numpy()
    observed_days = np.unique(days[has_obs])
    n_valid = min(round(fraction * len(observed_days)), len(observed_days) - 1)
    if n_valid < 1:
        return np.zeros(len(days), dtype=bool)
    chosen = rng.choice(observed_days, n_valid, replace=False)
    return np.asarray(days.isin(chosen))


def flux_variance(samples: Samples, flux_names: Sequence[str]) -> np.ndarray:
    """Variance of each flux over every training observation used in the loss.

    Raises
    ------
    SampleDataError
        A flux with fewer than 2 observations, or all of them equal.
    """
    parts = [o[:, s] for o, s in zip(samples.observed, samples.steps, strict=True)]
    pooled = torch.cat(parts, dim=1).to(torch.float64)
    variance = []
    for k, name in enumerate(flux_names):
        values = pooled[k][torch.isfinite(pooled[k])]
        value = float(values.var(unbiased=False)) if values.numel() >= 2 else math.nan
        if not value > 0:
            raise SampleDataError(
                f"the training records hold {values.numel()} observations of {name}, too few "
                "or all equal, so the flux cannot be normalised",
                field=f"records.observed.{name}",
                fix=f"give training records with varying {name} observations",
            )
        variance.append(value)
    return np.asarray(variance)


# ----------------------------------------------------------------------------- loss
def masked_pearson(sim: torch.Tensor, obs: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """R over the last axis where ``valid``; NaN with fewer than 2 pairs or constant obs."""
    weight = valid.to(sim.dtype)
    count = weight.sum(dim=-1)
    n = count.clamp(min=1)
    sim_anomaly = (sim - (sim * weight).sum(-1, keepdim=True) / n[..., None]) * weight
    obs_anomaly = (obs - (obs * weight).sum(-1, keepdim=True) / n[..., None]) * weight
    cov = (sim_anomaly * obs_anomaly).sum(-1)
    var_sim = (sim_anomaly**2).sum(-1)
    var_obs = (obs_anomaly**2).sum(-1)
    # the clamp keeps the gradient finite when a simulation is flat
    r = cov / (var_sim.clamp(min=1e-12).sqrt() * var_obs.clamp(min=1e-12).sqrt())
    defined = (count >= 2) & (var_obs > 0)
    return torch.where(defined, r, torch.full_like(r, math.nan))


@dataclass
class LossSettings:
    """What the loss weighs each flux by."""

    variance: torch.Tensor  # (n_fluxes,) observed variance over the training samples
    weights: torch.Tensor  # (n_fluxes,)
    correlation_weight: float


def flux_loss(
    sim: torch.Tensor, obs: torch.Tensor, settings: LossSettings
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss of a (b, n_fluxes, s) batch; also per-flux normalised MSE and mean R.

    ``sum_k w_k (MSE_k / var_k + c (1 - R_k))``, MSE pooled over the batch's valid pairs,
    ``R_k`` the mean over samples of each sample's correlation over its steps.
    """
    valid = torch.isfinite(obs)
    obs = torch.where(valid, obs, torch.zeros_like(obs))
    squared = torch.where(valid, (sim - obs) ** 2, torch.zeros_like(sim))
    count = valid.sum(dim=(0, 2))
    nmse = squared.sum(dim=(0, 2)) / count.clamp(min=1) / settings.variance
    r = masked_pearson(sim, obs, valid)
    defined = torch.isfinite(r)
    n_defined = defined.sum(dim=0)
    mean_r = torch.where(defined, r, torch.zeros_like(r)).sum(dim=0) / n_defined.clamp(min=1)
    terms = torch.where(count > 0, nmse, torch.zeros_like(nmse))
    if settings.correlation_weight > 0:
        penalty = settings.correlation_weight * (1.0 - mean_r)
        terms = terms + torch.where(n_defined > 0, penalty, torch.zeros_like(penalty))
    mean_r = torch.where(n_defined > 0, mean_r, torch.full_like(mean_r, math.nan))
    return (settings.weights * terms).sum(), nmse.detach(), mean_r.detach()


def evaluate(
    encoder: nn.Module,
    merge: ParameterMerge,
    module: nn.Module,
    samples: Samples,
    settings: LossSettings,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss, per-flux normalised MSE and mean R over every usable step, no gradients.

    The loss has :func:`flux_loss`'s form with MSE pooled over all the samples' steps and
    R over each sample's whole series.
    """
    encoder.eval()
    n_fluxes = len(settings.variance)
    squared = torch.zeros(n_fluxes, dtype=torch.float64)
    count = torch.zeros(n_fluxes, dtype=torch.float64)
    correlations = []
    with torch.no_grad():
        unit = merge(kit.encode_padded(encoder, samples.continuous, samples.categories))
        for i, steps in enumerate(samples.steps):
            if not len(steps):
                continue
            features = samples.features[i][steps]
            row = unit[i : i + 1].to(features.dtype)
            sim = torch.cat(
                [module(chunk, row.expand(len(chunk), -1)) for chunk in features.split(_EVAL_ROWS)]
            )
            sim = sim.T.to(torch.float64)
            obs = samples.observed[i][:, steps].to(torch.float64)
            valid = torch.isfinite(obs)
            squared += torch.where(valid, (sim - obs) ** 2, torch.zeros_like(sim)).sum(dim=1)
            count += valid.sum(dim=1)
            zeroed = torch.where(valid, obs, torch.zeros_like(obs))
            correlations.append(masked_pearson(sim, zeroed, valid))
    nmse = (squared / count.clamp(min=1) / settings.variance.to(torch.float64)).numpy()
    nmse = np.where(count.numpy() > 0, nmse, np.nan)
    mean_r = np.full(n_fluxes, np.nan)
    if correlations:
        r = torch.stack(correlations).numpy()
        defined = np.isfinite(r)
        sums = np.where(defined, r, 0.0).sum(axis=0)
        mean_r = np.where(defined.any(axis=0), sums / np.maximum(defined.sum(axis=0), 1), np.nan)
    terms = np.where(np.isfinite(nmse), nmse, 0.0)
    if settings.correlation_weight > 0:
        terms = terms + np.where(
            np.isfinite(mean_r), settings.correlation_weight * (1.0 - mean_r), 0.0
        )
    weights = settings.weights.numpy().astype(np.float64)
    loss = float((weights * terms).sum()) if np.isfinite(nmse).any() else math.nan
    return loss, nmse, mean_r


# ------------------------------------------------------------------------- training
@dataclass
class TrainSettings:
    """The loop's hyperparameters, taken from the estimator."""

    learning_rate: float
    weight_decay: float
    max_epochs: int
    patience: int
    batch_size: int
    steps_per_sample: int
    seed: int
    progress: bool
    label: str
    flux_names: list[str]


def train(
    encoder: nn.Module,
    merge: ParameterMerge,
    module: nn.Module,
    train_set: Samples,
    valid_set: Samples | None,
    loss_settings: LossSettings,
    settings: TrainSettings,
) -> kit.Stopped:
    """Train ``encoder`` in place through the frozen ``module``; returns the history and
    the best epoch (:class:`~geosoil.models.training.Stopped`).

    Each epoch draws every training sample once, in batches, and ``steps_per_sample`` of
    its usable steps at random. The encoder is left at the epoch with the lowest monitored
    loss (validation, or training without ``valid_set``).

    Raises
    ------
    SampleDataError
        No epoch reached a finite monitored loss.
    """
    optimizer = torch.optim.AdamW(
        encoder.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    draws = torch.Generator().manual_seed(settings.seed)
    steps = settings.steps_per_sample
    monitored = valid_set if valid_set is not None else train_set

    def run_epoch(epoch: int) -> dict[str, Any]:
        started = time.perf_counter()
        encoder.train()
        order = torch.randperm(len(train_set), generator=draws)
        total, n_batches = 0.0, 0
        for start in range(0, len(train_set), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            features, obs = _draw_steps(train_set, batch, steps, draws)
            optimizer.zero_grad(set_to_none=True)
            unit = merge(encoder(train_set.continuous[batch], train_set.categories[batch]))
            sim = module(features, unit.repeat_interleave(steps, dim=0).to(features.dtype))
            sim = sim.reshape(len(batch), steps, -1).transpose(1, 2)
            loss, _, _ = flux_loss(sim, obs, loss_settings)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            n_batches += 1
        loss, nmse, mean_r = evaluate(encoder, merge, module, monitored, loss_settings)
        row: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": total / max(n_batches, 1),
            "valid_loss": loss if valid_set is not None else math.nan,
            "monitor_loss": loss,
        }
        for k, name in enumerate(settings.flux_names):
            row[f"monitor_nmse_{name}"] = float(nmse[k])
            row[f"monitor_r_{name}"] = float(mean_r[k])
        row["seconds"] = time.perf_counter() - started
        return row

    diverged = SampleDataError(
        "training never reached a finite loss: the surrogate gave non-finite fluxes",
        field="params.learning_rate",
        fix="lower params.learning_rate, or check the surrogate and the forcing",
    )

    return kit.early_stopping(
        encoder,
        run_epoch,
        monitor="monitor_loss",
        diverged=diverged,
        logger=log,
        postfix=lambda row: {
            "loss": f"{row['train_loss']:.4f}",
            "monitor": f"{row['monitor_loss']:.4f}",
        },
        **kit.loop_settings(settings),
    )


def _draw_steps(
    samples: Samples, batch: torch.Tensor, steps: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (b * steps, f) and observations (b, n_fluxes, steps) of random usable steps."""
    features, observed = [], []
    for i in batch.tolist():
        usable = samples.steps[i]
        picked = usable[torch.randint(len(usable), (steps,), generator=generator)]
        features.append(samples.features[i][picked])
        observed.append(samples.observed[i][:, picked])
    return torch.cat(features), torch.stack(observed)
