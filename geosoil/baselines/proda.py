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

The sampler and the likelihood of step 1 are in :mod:`geosoil.baselines.proda_mcmc`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from geosoil.baselines.proda_mcmc import retrieve_parameters
from geosoil.errors import ConfigError, SampleDataError
from geosoil.io.profiles import ProfileSet
from geosoil.models import training as kit
from geosoil.models.base import GeoSoilEstimator, check_whole
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
    interpolate_to_depths,
    merge_parameters,
    steady_state,
)

__all__ = ["PRODA"]

log = logging.getLogger(__name__)

# Sites per steady-state solve (memory ~ n x 140 x 140 x 8 bytes, a few times over).
_SOLVE_BATCH = 512


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
    Everything runs in float64. Learned state: ``mcmc_`` (a
    :class:`~geosoil.baselines.proda_mcmc.McmcResult`),
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
        self._store_params(locals())

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
            encoder = kit.MLPParameterEncoder.for_coding(coding, len(learned), self)
            encoder = encoder.to(torch.float64)
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
            check_whole(getattr(self, name), name)
        check_whole(self.burn_in, "burn_in", minimum=0)
        if self.burn_in >= self.n_steps:
            raise ConfigError(
                f"burn_in={self.burn_in} leaves no samples of n_steps={self.n_steps}",
                field="params.burn_in",
                fix="make burn_in smaller than n_steps (e.g. half of it)",
            )
        positive = ("proposal_scale", "misfit_weight", "sd_floor_rel", "learning_rate")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"{name}={value!r} must be a positive number",
                    field=f"params.{name}",
                    fix=f"give {name} a finite value above 0",
                )
        if not 0.0 < float(self.target_acceptance) < 1.0:
            raise ConfigError(
                f"target_acceptance={self.target_acceptance!r} is outside (0, 1)",
                field="params.target_acceptance",
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

        diverged = SampleDataError(
            "the PRODA network's monitored error was never finite",
            field="params.learning_rate",
            fix="lower params.learning_rate or check the retrieved parameters",
        )

        stopped = kit.early_stopping(
            encoder,
            run_epoch,
            max_epochs=int(self.max_epochs),
            patience=int(self.patience),
            monitor="monitor_mse",
            diverged=diverged,
            logger=log,
            desc="PRODA",
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
