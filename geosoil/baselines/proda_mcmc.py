"""PRODA's first step: the per-site MCMC retrieval of process-model parameters.

Sampler (:func:`adaptive_metropolis`): a random-walk Metropolis chain per site in the unit
cube of the learned parameters (uniform prior within the bounds: proposals outside are
rejected without solving). The chains of all sites advance together: each step solves the
steady state of every site whose proposal lies inside the bounds in one batched call.
During burn-in each chain adapts its step size towards ``target_acceptance``
(Robbins-Monro on the log scale) and the shape of its proposal to the covariance of its own
history (Haario et al. 2001); after burn-in the proposal is frozen, so the retained samples
come from a plain Metropolis chain.

Likelihood (:func:`site_log_likelihood`): Gaussian, with one variance per site taken from
its observations as PRODA's cost function does,

    log L_i = -misfit_weight * sum_j (sim_ij - obs_ij)^2 / SS_i,

``SS_i = sum_j (obs_ij - mean_i)^2`` (floored at ``m_i (sd_floor_rel mean_i)^2`` for
profiles with one or near-constant observations). That is a Gaussian with per-observation
variance ``SS_i / (2 misfit_weight)``; ``misfit_weight = 5`` is PRODA's, and the cost
``5 (1 - NSE_i)`` is then the site's own Nash-Sutcliffe misfit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from geosoil.io.profiles import ProfileSet
from geosoil.models.soc.inputs import (
    forcings_from_profiles,
)
from geosoil.process import (
    Clm5Forcings,
    interpolate_to_depths,
    merge_parameters,
    steady_state,
)

__all__ = ["McmcResult", "adaptive_metropolis", "retrieve_parameters", "site_log_likelihood"]

log = logging.getLogger(__name__)

# Sites per steady-state solve (memory ~ n x 140 x 140 x 8 bytes, a few times over).
_SOLVE_BATCH = 512
# Ridge added to the normalised proposal covariance so its Cholesky factor always exists.
_COVARIANCE_RIDGE = 1e-4
# Robbins-Monro gain exponent: gains (step + 1) ** -0.6 sum to infinity, their squares do not.
_GAIN_EXPONENT = 0.6

LogLikelihood = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- sampler
@dataclass(frozen=True)
class McmcResult:
    """What the chains of :func:`adaptive_metropolis` found, one row per chain (site).

    Attributes
    ----------
    mean_unit, sd_unit
        (n, k) posterior mean and standard deviation of the unit parameters, over the
        retained (post burn-in, thinned) samples.
    best_unit, best_log_likelihood
        (n, k) and (n,) the highest-likelihood state each chain visited.
    acceptance_rate
        (n,) share of accepted proposals after burn-in.
    burn_in_acceptance_rate
        (n,) the same during burn-in (while the proposal adapts).
    proposal_scale
        (n,) the step size each chain ended burn-in with (unit-cube units).
    n_samples
        Samples retained per chain.
    seconds
        Wall time of the sampling.
    """

    mean_unit: np.ndarray
    sd_unit: np.ndarray
    best_unit: np.ndarray
    best_log_likelihood: np.ndarray
    acceptance_rate: np.ndarray
    burn_in_acceptance_rate: np.ndarray
    proposal_scale: np.ndarray
    n_samples: int
    seconds: float


def adaptive_metropolis(
    log_likelihood: LogLikelihood,
    n_chains: int,
    n_dims: int,
    *,
    n_steps: int,
    burn_in: int,
    thin: int = 1,
    proposal_scale: float = 0.1,
    target_acceptance: float = 0.234,
    adapt_every: int = 50,
    start: torch.Tensor | None = None,
    seed: int = 0,
) -> McmcResult:
    """Run one adaptive random-walk Metropolis chain per site in the unit cube, together.

    Parameters
    ----------
    log_likelihood
        ``log_likelihood(unit, rows)``: unit values (r, k) of the chains ``rows`` (r,) ->
        log-likelihood (r,), ``-inf`` where the model fails. Called once per step with every
        chain whose proposal lies inside the cube.
    n_chains, n_dims
        Number of chains (sites) and of parameters per chain.
    n_steps, burn_in, thin
        Total steps, adaptive steps discarded first, and the spacing of retained samples.
    proposal_scale
        Initial random-walk step (standard deviation in unit-cube units).
    target_acceptance
        Acceptance rate the step size adapts towards during burn-in (0.234 is optimal for
        random-walk Metropolis in several dimensions).
    adapt_every
        Steps between updates of the proposal shape from the chain's covariance.
    start
        (n, k) initial states; None starts every chain at the prior mean (0.5).
    seed
        Seeds the proposals and the acceptance draws (results are deterministic per seed).

    Returns
    -------
    McmcResult
        Posterior means and spreads, acceptance rates and the best states.
    """
    started = time.perf_counter()
    dtype = torch.float64
    gen = torch.Generator().manual_seed(int(seed))
    rows_all = torch.arange(n_chains)
    unit = torch.full((n_chains, n_dims), 0.5, dtype=dtype) if start is None else start.clone()
    unit = unit.to(dtype)
    current = log_likelihood(unit, rows_all)
    best_unit, best_ll = unit.clone(), current.clone()
    log_scale = torch.full((n_chains,), math.log(proposal_scale), dtype=dtype)
    eye = torch.eye(n_dims, dtype=dtype)
    chol = eye.expand(n_chains, n_dims, n_dims).clone()
    # Welford running mean and scatter of each chain's burn-in states
    seen, run_mean = 0, unit.clone()
    scatter = torch.zeros(n_chains, n_dims, n_dims, dtype=dtype)
    sum1 = torch.zeros(n_chains, n_dims, dtype=dtype)
    sum2 = torch.zeros(n_chains, n_dims, dtype=dtype)
    n_samples = 0
    accepted_burn = torch.zeros(n_chains, dtype=dtype)
    accepted_post = torch.zeros(n_chains, dtype=dtype)
    for step in range(n_steps):
        noise = torch.randn(n_chains, n_dims, generator=gen, dtype=dtype)
        step_size = torch.exp(log_scale)[:, None]
        proposal = unit + step_size * torch.einsum("nij,nj->ni", chol, noise)
        inside = ((proposal >= 0) & (proposal <= 1)).all(dim=1)
        proposed_ll = torch.full((n_chains,), -math.inf, dtype=dtype)
        if bool(inside.any()):
            rows = rows_all[inside]
            proposed_ll[inside] = log_likelihood(proposal[inside], rows)
        log_u = torch.log(torch.rand(n_chains, generator=gen, dtype=dtype))
        # -inf >= -inf holds, so a failed proposal must be excluded explicitly
        finite = inside & torch.isfinite(proposed_ll)
        accept = finite & ((proposed_ll >= current) | (log_u < proposed_ll - current))
        unit = torch.where(accept[:, None], proposal, unit)
        current = torch.where(accept, proposed_ll, current)
        better = current > best_ll
        best_unit = torch.where(better[:, None], unit, best_unit)
        best_ll = torch.where(better, current, best_ll)
        if step < burn_in:
            accepted_burn += accept
            gain = (step + 1) ** -_GAIN_EXPONENT
            log_scale = log_scale + gain * (accept.to(dtype) - target_acceptance)
            seen += 1
            delta = unit - run_mean
            run_mean = run_mean + delta / seen
            scatter = scatter + delta[:, :, None] * (unit - run_mean)[:, None, :]
            if (step + 1) % adapt_every == 0 and seen > 2 * n_dims:
                chol = _proposal_shape(scatter / (seen - 1), chol)
        else:
            accepted_post += accept
            if (step - burn_in) % thin == 0:
                sum1 += unit
                sum2 += unit**2
                n_samples += 1
    n_post = max(n_steps - burn_in, 1)
    mean = sum1 / max(n_samples, 1)
    variance = (sum2 / max(n_samples, 1) - mean**2).clamp(min=0)
    return McmcResult(
        mean_unit=mean.numpy(),
        sd_unit=torch.sqrt(variance).numpy(),
        best_unit=best_unit.numpy(),
        best_log_likelihood=best_ll.numpy(),
        acceptance_rate=(accepted_post / n_post).numpy(),
        burn_in_acceptance_rate=(accepted_burn / max(min(burn_in, n_steps), 1)).numpy(),
        proposal_scale=torch.exp(log_scale).numpy(),
        n_samples=n_samples,
        seconds=time.perf_counter() - started,
    )


def _proposal_shape(covariance: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """Cholesky factor of each chain's covariance scaled to mean variance 1 (+ a ridge).

    The step size stays in ``log_scale``; only the shape (correlations, relative spreads)
    comes from the history. A chain that has not moved keeps its previous shape.
    """
    n_dims = covariance.shape[-1]
    size = torch.diagonal(covariance, dim1=1, dim2=2).mean(dim=1)
    moved = size > 1e-12
    shape = covariance / torch.where(moved, size, 1.0)[:, None, None]
    shape = shape + _COVARIANCE_RIDGE * torch.eye(n_dims, dtype=covariance.dtype)
    factor, info = torch.linalg.cholesky_ex(shape)
    usable = moved & (info == 0)
    return torch.where(usable[:, None, None], factor, previous)


# ------------------------------------------------------------------------ likelihood
def site_log_likelihood(
    simulate: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    soc: torch.Tensor,
    *,
    misfit_weight: float = 5.0,
    sd_floor_rel: float = 0.1,
) -> LogLikelihood:
    """PRODA's per-site Gaussian log-likelihood of observed SOC (see the module notes).

    Parameters
    ----------
    simulate
        ``simulate(unit, rows)``: simulated SOC (r, m) at the observation depths of sites
        ``rows`` for unit parameters (r, k).
    soc
        (n, m) observed SOC, NaN-padded; every row holds at least one value.
    misfit_weight
        ``w`` in ``log L_i = -w SSE_i / SS_i``.
    sd_floor_rel
        Floor of the per-observation spread, relative to the site's mean SOC.

    Returns
    -------
    callable
        ``log_likelihood(unit, rows)`` -> (r,), ``-inf`` where the simulation is not finite.
    """
    valid = torch.isfinite(soc)
    counts = valid.sum(dim=1).to(soc.dtype)
    observed = torch.where(valid, soc, 0.0)
    mean = observed.sum(dim=1) / counts
    spread = torch.where(valid, (soc - mean[:, None]) ** 2, 0.0).sum(dim=1)
    spread = torch.maximum(spread, counts * (sd_floor_rel * mean) ** 2)

    def log_likelihood(unit: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        sim = simulate(unit, rows)
        error = torch.where(valid[rows], sim - observed[rows], 0.0)
        value = -misfit_weight * (error**2).sum(dim=1) / spread[rows]
        return torch.where(torch.isfinite(value), value, -math.inf)

    return log_likelihood


def _depth_simulator(
    learned: list[str],
    fixed: dict[str, float],
    forcings: Clm5Forcings,
    depth_m: torch.Tensor,
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``simulate(unit, rows)``: SOC at the depths of sites ``rows``, solved in batches."""
    n = forcings.n_sites

    def simulate(unit: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        physical = merge_parameters(unit, learned, fixed)
        parts = []
        with torch.no_grad():
            for start in range(0, len(rows), _SOLVE_BATCH):
                chunk = rows[start : start + _SOLVE_BATCH]
                whole = len(chunk) == n
                state = steady_state(
                    physical[start : start + _SOLVE_BATCH],
                    forcings if whole else forcings.select(chunk),
                )
                parts.append(
                    interpolate_to_depths(state.soc_gc_m3, depth_m[chunk], below_column="nan")
                )
        return torch.cat(parts) if parts else depth_m[:0]

    return simulate


def retrieve_parameters(
    profiles: ProfileSet,
    learned_parameters: Sequence[str],
    fixed_parameters: Mapping[str, float],
    *,
    n_steps: int = 2000,
    burn_in: int = 1000,
    thin: int = 5,
    proposal_scale: float = 0.1,
    target_acceptance: float = 0.234,
    misfit_weight: float = 5.0,
    sd_floor_rel: float = 0.1,
    seed: int = 0,
) -> McmcResult:
    """PRODA's first step: the posterior of the learned parameters at every profile.

    Parameters
    ----------
    profiles
        Profiles with at least one valid observation each, none below the column (see
        :func:`~geosoil.models.soc.inputs.usable_profiles`).
    learned_parameters
        The k parameters sampled, in any order (columns of the result follow it).
    fixed_parameters
        Physical values of every other parameter.
    n_steps, burn_in, thin, proposal_scale, target_acceptance, seed
        As for :func:`adaptive_metropolis`.
    misfit_weight, sd_floor_rel
        As for :func:`site_log_likelihood`.

    Returns
    -------
    McmcResult
        One row per profile, columns in ``learned_parameters`` order.
    """
    learned = list(learned_parameters)
    fixed = dict(fixed_parameters)
    forcings = forcings_from_profiles(profiles, dtype=torch.float64)
    soc = torch.as_tensor(np.asarray(profiles.soc, dtype=np.float64))
    depth = torch.as_tensor(np.asarray(profiles.depth_m, dtype=np.float64))
    simulate = _depth_simulator(learned, fixed, forcings, depth)
    likelihood = site_log_likelihood(
        simulate, soc, misfit_weight=misfit_weight, sd_floor_rel=sd_floor_rel
    )
    result = adaptive_metropolis(
        likelihood,
        profiles.n_profiles,
        len(learned),
        n_steps=n_steps,
        burn_in=burn_in,
        thin=thin,
        proposal_scale=proposal_scale,
        target_acceptance=target_acceptance,
        seed=seed,
    )
    log.info(
        "PRODA MCMC: %d sites x %d steps in %.1f s, acceptance %.2f",
        profiles.n_profiles,
        n_steps,
        result.seconds,
        float(np.mean(result.acceptance_rate)),
    )
    return result
