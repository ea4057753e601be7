"""Learning-rate schedules for the spectral networks: a triangular cycle and a range test.

The cyclic learning rate (Smith 2017, "Cyclical learning rates for training neural
networks") sweeps linearly from ``base_lr`` up to ``max_lr`` and back once per cycle, one
step per minibatch. The range test ("LR finder", same paper, popularised by fastai) trains
for a few hundred minibatches while the rate grows exponentially and suggests the rate where
the loss falls fastest.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from geosoil.errors import ConfigError, SampleDataError

__all__ = ["LRFinderResult", "lr_range_test", "suggest_lr", "triangular_lr"]

log = logging.getLogger(__name__)


def triangular_lr(step: int, *, base_lr: float, max_lr: float, step_size_up: int) -> float:
    """Learning rate at optimizer step ``step`` (0-based) of a triangular cycle.

    The rate is ``base_lr`` at step 0, rises linearly to ``max_lr`` at ``step_size_up``,
    falls back to ``base_lr`` at ``2 * step_size_up`` and repeats; the same values as
    ``torch.optim.lr_scheduler.CyclicLR(mode="triangular")``.

    Parameters
    ----------
    step
        Minibatches already taken since training started (not reset per epoch).
    base_lr, max_lr
        Lowest and highest rate of the cycle.
    step_size_up
        Steps of the rising half; a full cycle is twice as long.
    """
    if step_size_up < 1:
        raise ValueError(f"step_size_up must be at least 1, got {step_size_up}")
    position = (step % (2 * step_size_up)) / step_size_up  # 0 -> 2 over one cycle
    rise = position if position <= 1.0 else 2.0 - position
    return base_lr + (max_lr - base_lr) * rise


@dataclass(frozen=True)
class LRFinderResult:
    """Outcome of a learning-rate range test.

    Attributes
    ----------
    lrs
        Learning rate of each step taken, increasing exponentially.
    losses
        Loss after each step, smoothed by a bias-corrected exponential moving average.
    suggested_lr
        Rate at the steepest descent of the smoothed loss against ``log10(lr)``.
    """

    lrs: np.ndarray
    losses: np.ndarray
    suggested_lr: float


def lr_range_test(
    train_step: Callable[[float], float],
    *,
    start_lr: float = 1e-7,
    end_lr: float = 1.0,
    n_steps: int = 100,
    smoothing: float = 0.98,
    divergence_factor: float = 4.0,
) -> LRFinderResult:
    """Run ``train_step`` at exponentially growing rates and suggest a learning rate.

    Parameters
    ----------
    train_step
        Takes one optimizer step at the given learning rate on the next minibatch and
        returns its loss. The caller owns the network, so the test cannot disturb a fitted
        model: pass a fresh copy.
    start_lr, end_lr
        First and last rate of the sweep, ``0 < start_lr < end_lr``.
    n_steps
        Steps in the sweep (at least 10).
    smoothing
        Weight of the past in the moving average of the loss; minibatch losses are noisy.
    divergence_factor
        The sweep stops early once the smoothed loss exceeds this multiple of its minimum
        (or is not finite): past that point the network is being destroyed.

    Returns
    -------
    LRFinderResult
        Rates and smoothed losses up to where the sweep stopped, and the suggestion.

    Raises
    ------
    ConfigError
        Rates not positive and increasing, or fewer than 10 steps.
    SampleDataError
        The very first loss is not finite.
    """
    if not 0 < start_lr < end_lr:
        raise ConfigError(
            f"LR finder needs 0 < start_lr < end_lr, got start_lr={start_lr}, end_lr={end_lr}",
            field="start_lr",
            fix="use e.g. start_lr=1e-7, end_lr=1",
        )
    if n_steps < 10:
        raise ConfigError(
            f"LR finder needs at least 10 steps, got n_steps={n_steps}",
            field="n_steps",
            fix="use n_steps=100 (the default) or more",
        )
    ratio = (end_lr / start_lr) ** (1.0 / (n_steps - 1))
    lrs: list[float] = []
    smoothed: list[float] = []
    average, best = 0.0, math.inf
    for step in range(n_steps):
        lr = start_lr * ratio**step
        loss = float(train_step(lr))
        if not math.isfinite(loss):
            log.debug("LR finder: loss not finite at lr %.3g, stopping", lr)
            break
        average = smoothing * average + (1.0 - smoothing) * loss
        value = average / (1.0 - smoothing ** (step + 1))  # bias correction of the EMA
        lrs.append(lr)
        smoothed.append(value)
        best = min(best, value)
        if step > 0 and value > divergence_factor * best:
            log.debug("LR finder: loss diverged at lr %.3g, stopping", lr)
            break
    if not lrs:
        raise SampleDataError(
            f"the loss was not finite at the first step (lr {start_lr:g})",
            field="y",
            fix="check the spectra and targets for extreme values, or lower start_lr",
        )
    rates, losses = np.asarray(lrs), np.asarray(smoothed)
    return LRFinderResult(lrs=rates, losses=losses, suggested_lr=suggest_lr(rates, losses))


def suggest_lr(lrs: np.ndarray, losses: np.ndarray) -> float:
    """Rate where the smoothed loss falls fastest against ``log10(lr)``.

    Only the part of the sweep before the loss minimum counts: the steepest fall after it
    would be a recovery from divergence. With fewer than 3 points before the minimum the
    loss never fell: the first rate is returned.
    """
    stop = int(np.argmin(losses)) + 1
    if stop < 3:
        return float(lrs[0])
    slope = np.gradient(losses[:stop], np.log10(lrs[:stop]))
    return float(lrs[int(np.argmin(slope))])
