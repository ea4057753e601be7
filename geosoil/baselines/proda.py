"""PRODA, the baseline BINN is measured against: MCMC per site, then a covariate network.

PRODA (Tao et al. 2020, *Frontiers in Big Data* 3:17; Tao et al. 2023, *Nature* 618:981)
retrieves process-model parameters in two separate steps:

1. **Retrieval**: at every site with observations, a Markov chain Monte Carlo sampler draws
   the parameters of the process model from their posterior given that site's SOC profile;
   the posterior mean is the site's retrieved parameter set.
2. **Generalisation**: a neural network is fitted from the site covariates to the retrieved
   parameters, so parameters (hence SOC) can be predicted where nothing was observed.

Here both steps run on the same CLM5 matrix model, covariates and parameter subset as
:class:`~geosoil.models.soc.binn.BINN`, so the two differ only in how the network is trained:
BINN backpropagates the SOC misfit through the process model, PRODA regresses on parameters
retrieved beforehand. This module is a *baseline* for the speed comparison of issue 6; it is
not registered for artifacts or configs.

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
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from geosoil.errors import ConfigError, SampleDataError
from geosoil.io.profiles import ProfileSet
from geosoil.models import training as kit
from geosoil.models.base import GeoSoilEstimator
from geosoil.models.soc.inputs import (
    check_profile_settings,
    covariate_names,
    encode_profiles,
    forcings_from_profiles,
    learn_coding,
    resolve_parameters,
    usable_profiles,
)
from geosoil.process import (
    PARAMETER_NAMES,
    Clm5Forcings,
    interpolate_to_depths,
    merge_parameters,
    steady_state,
)

__all__ = [
    "PRODA",
    "McmcResult",
    "adaptive_metropolis",
    "retrieve_parameters",
    "site_log_likelihood",
]

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


# ------------------------------------------------------------------------- estimator
class PRODA(GeoSoilEstimator):
    """PRODA baseline: MCMC retrieval of CLM5 parameters per site, then a covariate MLP.

    Parameters
    ----------
    n_steps, burn_in, thin
        MCMC length, adaptive steps discarded, spacing of the retained samples.
    proposal_scale, target_acceptance
        Initial random-walk step in the unit cube and the acceptance rate it adapts to.
    misfit_weight, sd_floor_rel
        Likelihood scale (see the module notes): ``log L = -w SSE / SS`` per site.
    learned_parameters, fixed_parameters
        As for :class:`~geosoil.models.soc.binn.BINN` (unlisted parameters sit mid-range).
    covariates, scale_from, unseen_categories, drop_empty, below_column
        As for :class:`~geosoil.models.soc.binn.BINN`.
    hidden_layers, embedding_dim, dropout, learning_rate, weight_decay, batch_size
        The covariate network: BINN's MLP encoder (embeddings, SiLU, sigmoid output),
        trained by AdamW on the squared error of the retrieved unit parameters.
    max_epochs, patience, valid_fraction
        Network training length; early stopping on the parameter error of
        ``valid_fraction`` of the sites (none below 10 sites).
    seed
        Seeds the chains, the network and its split.
    threads
        Torch threads while fitting and predicting (restored afterwards).

    Notes
    -----
    Everything runs in float64. Learned state: ``mcmc_`` (:class:`McmcResult`),
    ``retrieved_parameters_`` (physical posterior means of the learned parameters, one row
    per training profile), ``acceptance_rate_`` (mean over sites), ``coding_``,
    ``encoder_``, ``learned_parameters_``, ``fixed_parameters_``, ``history_`` (one row
    per network epoch), ``mcmc_seconds_``, ``network_seconds_``.
    """

    registry_name: ClassVar[str] = "proda"

    def __init__(
        self,
        *,
        n_steps: int = 2000,
        burn_in: int = 1000,
        thin: int = 5,
        proposal_scale: float = 0.1,
        target_acceptance: float = 0.234,
        misfit_weight: float = 5.0,
        sd_floor_rel: float = 0.1,
        learned_parameters: Sequence[str] | None = None,
        fixed_parameters: Mapping[str, float] | None = None,
        covariates: Sequence[str] | None = None,
        scale_from: str = "training",
        unseen_categories: str = "error",
        drop_empty: bool = False,
        below_column: str = "error",
        hidden_layers: Sequence[int] = (128, 128),
        embedding_dim: int = 4,
        dropout: float = 0.1,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 32,
        max_epochs: int = 500,
        patience: int = 50,
        valid_fraction: float = 0.1,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        self.n_steps = n_steps
        self.burn_in = burn_in
        self.thin = thin
        self.proposal_scale = proposal_scale
        self.target_acceptance = target_acceptance
        self.misfit_weight = misfit_weight
        self.sd_floor_rel = sd_floor_rel
        self.learned_parameters = learned_parameters
        self.fixed_parameters = fixed_parameters
        self.covariates = covariates
        self.scale_from = scale_from
        self.unseen_categories = unseen_categories
        self.drop_empty = drop_empty
        self.below_column = below_column
        self.hidden_layers = hidden_layers
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.valid_fraction = valid_fraction
        self.seed = seed
        self.threads = threads

    def fit(self, profiles: ProfileSet) -> PRODA:
        """Retrieve parameters site by site, then fit the covariate network; returns self.

        Raises
        ------
        ConfigError
            A hyperparameter is invalid (``field`` names it).
        SampleDataError
            No observations, empty profiles (without ``drop_empty``) or depths below the
            column (without ``below_column="ignore"``).
        CovariateError
            A chosen covariate is missing.
        """
        self._check_settings()
        learned, fixed = resolve_parameters(self.learned_parameters, self.fixed_parameters)
        profiles = usable_profiles(
            profiles, "profiles", below_column=self.below_column, drop_empty=self.drop_empty
        )
        names = covariate_names(profiles, self.covariates)
        with kit.torch_threads(self.threads), kit.seeded(int(self.seed)):
            mcmc = retrieve_parameters(
                profiles,
                learned,
                fixed,
                n_steps=int(self.n_steps),
                burn_in=int(self.burn_in),
                thin=int(self.thin),
                proposal_scale=float(self.proposal_scale),
                target_acceptance=float(self.target_acceptance),
                misfit_weight=float(self.misfit_weight),
                sd_floor_rel=float(self.sd_floor_rel),
                seed=int(self.seed),
            )
            started = time.perf_counter()
            coding = learn_coding(
                profiles, names, unseen=self.unseen_categories, scale_from=self.scale_from
            )
            continuous, categories = encode_profiles(coding, profiles)
            frequency = [coding.frequency[name] for name in coding.categorical]
            encoder = kit.MLPParameterEncoder(
                len(coding.continuous),
                frequency,
                len(learned),
                hidden_layers=self.hidden_layers,
                embedding_dim=int(self.embedding_dim),
                dropout=float(self.dropout),
            ).to(torch.float64)
            target = torch.as_tensor(mcmc.mean_unit, dtype=torch.float64)
            history = self._train_network(encoder, continuous.double(), categories, target)
            network_seconds = time.perf_counter() - started
        retrieved = merge_parameters(target, learned, fixed).numpy()
        index = pd.Index(profiles.profile_id, name="profile_id")
        columns = [PARAMETER_NAMES.index(name) for name in learned]
        self.mcmc_ = mcmc
        self.retrieved_parameters_ = pd.DataFrame(
            retrieved[:, columns], columns=learned, index=index
        )
        self.acceptance_rate_ = float(np.mean(mcmc.acceptance_rate))
        self.coding_ = coding
        self.encoder_ = encoder
        self.learned_parameters_ = learned
        self.fixed_parameters_ = fixed
        self.history_ = history
        self.mcmc_seconds_ = mcmc.seconds
        self.network_seconds_ = network_seconds
        return self

    def _check_settings(self) -> None:
        check_profile_settings(self)
        for name in ("n_steps", "thin", "batch_size", "max_epochs", "patience"):
            _check_whole(getattr(self, name), name, minimum=1)
        _check_whole(self.burn_in, "burn_in", minimum=0)
        if self.burn_in >= self.n_steps:
            raise ConfigError(
                f"burn_in={self.burn_in} leaves no samples of n_steps={self.n_steps}",
                field="model.params.burn_in",
                fix="make burn_in smaller than n_steps (e.g. half of it)",
            )
        positive = ("proposal_scale", "misfit_weight", "sd_floor_rel", "learning_rate")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"{name}={value!r} must be a positive number",
                    field=f"model.params.{name}",
                    fix=f"give {name} a finite value above 0",
                )
        if not 0.0 < float(self.target_acceptance) < 1.0:
            raise ConfigError(
                f"target_acceptance={self.target_acceptance!r} is outside (0, 1)",
                field="model.params.target_acceptance",
                fix="use e.g. 0.234",
            )

    def _train_network(
        self,
        encoder: torch.nn.Module,
        continuous: torch.Tensor,
        categories: torch.Tensor,
        target: torch.Tensor,
    ) -> list[dict[str, float]]:
        """AdamW on the squared unit-parameter error; keeps the best held-out epoch."""
        n = len(target)
        order = np.random.default_rng(int(self.seed)).permutation(n)
        n_valid = round(float(self.valid_fraction) * n) if n >= 10 else 0
        held, train = torch.as_tensor(order[:n_valid]), torch.as_tensor(order[n_valid:])
        monitor = held if n_valid else train
        optimizer = torch.optim.AdamW(
            encoder.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        shuffler = torch.Generator().manual_seed(int(self.seed))
        slices = kit.batch_slices(len(train), int(self.batch_size))

        def run_epoch(epoch: int) -> dict[str, float]:
            encoder.train()
            shuffled = train[torch.randperm(len(train), generator=shuffler)]
            total = 0.0
            for start, stop in slices:
                batch = shuffled[start:stop]
                optimizer.zero_grad(set_to_none=True)
                unit = encoder(continuous[batch], categories[batch])
                loss = torch.mean((unit - target[batch]) ** 2)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
            encoder.eval()
            with torch.no_grad():
                unit = kit.encode_padded(encoder, continuous[monitor], categories[monitor])
                score = float(torch.mean((unit - target[monitor]) ** 2))
            return {"epoch": epoch, "train_mse": total / max(len(train), 1), "monitor_mse": score}

        def diverged(history: list[dict[str, float]]) -> SampleDataError:
            return SampleDataError(
                "the PRODA network's monitored error was never finite",
                field="model.params.learning_rate",
                fix="lower model.params.learning_rate or check the retrieved parameters",
            )

        stopped = kit.early_stopping(
            encoder,
            run_epoch,
            max_epochs=int(self.max_epochs),
            patience=int(self.patience),
            monitor="monitor_mse",
            diverged=diverged,
            logger=log,
            label="PRODA ",
        )
        return stopped.history

    # --------------------------------------------------------------- prediction
    def _unit(self, profiles: ProfileSet) -> torch.Tensor:
        self._check_fitted()
        continuous, categories = encode_profiles(self.coding_, profiles)
        with torch.no_grad(), kit.torch_threads(self.threads):
            return kit.encode_padded(self.encoder_.eval(), continuous.double(), categories)

    def _physical(self, profiles: ProfileSet) -> torch.Tensor:
        return merge_parameters(
            self._unit(profiles), self.learned_parameters_, self.fixed_parameters_
        )

    def predict_parameters(self, profiles: ProfileSet) -> pd.DataFrame:
        """Physical values of the 21 CLM5 parameters from the network, one row per profile."""
        physical = self._physical(profiles).numpy().astype(np.float64)
        index = pd.Index(profiles.profile_id, name="profile_id")
        return pd.DataFrame(physical, columns=list(PARAMETER_NAMES), index=index)

    def predict_layers(self, profiles: ProfileSet) -> np.ndarray:
        """SOC density (n, 20) in g C m-3 in the CLM5 layers, from the network's parameters."""
        physical = self._physical(profiles)
        forcings = forcings_from_profiles(profiles, dtype=torch.float64)
        parts = []
        with torch.no_grad(), kit.torch_threads(self.threads):
            for start in range(0, profiles.n_profiles, _SOLVE_BATCH):
                rows = slice(start, start + _SOLVE_BATCH)
                parts.append(steady_state(physical[rows], forcings.select(rows)).soc_gc_m3)
        return torch.cat(parts).numpy() if parts else np.zeros((0, 20))

    def predict(self, profiles: ProfileSet) -> np.ndarray:
        """SOC density (g C m-3) at the profiles' observation depths (NaN below 8.6 m).

        Raises
        ------
        SampleDataError
            The profiles carry no observation depths.
        """
        self._check_fitted()
        if profiles.depth_m is None:
            raise SampleDataError(
                "these profiles have no observation depths to predict at",
                field="depth_m",
                fix="predict profiles with depths, or use predict_layers",
            )
        layers = torch.as_tensor(self.predict_layers(profiles))
        depth = torch.as_tensor(np.asarray(profiles.depth_m, dtype=np.float64).copy())
        return interpolate_to_depths(layers, depth, below_column="nan").numpy()


def _check_whole(value: object, name: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(
            f"{name}={value!r} is not a whole number of at least {minimum}",
            field=f"model.params.{name}",
            fix=f"use an integer >= {minimum}",
        )
