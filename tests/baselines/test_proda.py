"""PRODA baseline: the adaptive Metropolis sampler, parameter retrieval and the estimator.

Profiles come from :func:`geosoil.synthetic.soc_profile_set` without noise; for retrieval
only efolding and tau4s3 vary between sites (the others are fixed at known values), so the
posterior of each site is identifiable from its 3-8 observations.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from geosoil.baselines.proda import PRODA
from geosoil.baselines.proda_mcmc import adaptive_metropolis, retrieve_parameters
from geosoil.errors import ConfigError, SampleDataError
from geosoil.models.base import NotFittedError
from geosoil.models.training import torch_threads
from geosoil.process import CLM5_PARAMETERS, PARAMETER_NAMES, unscale_parameters
from geosoil.synthetic.soc_profiles import (
    DEFAULT_PRESCRIBED,
    FIXED_PARAMETERS,
    PrescribedParameters,
    soc_profile_set,
)

LEARNED = ["efolding", "tau4s3"]
FIXED = {**FIXED_PARAMETERS, "fs1s3": 0.05, "w_scaling": 1.5}
SMALL_NET = {"hidden_layers": (8,), "embedding_dim": 2, "max_epochs": 5, "threads": 1}


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def known_sites():
    """10 noise-free profiles whose efolding and tau4s3 follow the default functions."""
    functions = tuple(f for f in DEFAULT_PRESCRIBED.functions if f.parameter in LEARNED)
    prescribed = PrescribedParameters(functions=functions, fixed=FIXED)
    profiles, truth = soc_profile_set(10, seed=3, noise_sd_rel=0.0, prescribed=prescribed)
    unit = unscale_parameters(torch.tensor(truth.to_numpy()))
    columns = [PARAMETER_NAMES.index(name) for name in LEARNED]
    return profiles, unit[:, columns].numpy()


def gaussian_likelihood(centre: float, sd: float):
    def log_likelihood(unit: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return -0.5 * (((unit - centre) / sd) ** 2).sum(dim=1)

    return log_likelihood


def test_sampler_recovers_an_analytic_gaussian():
    # far from the bounds, the posterior is the Gaussian itself
    result = adaptive_metropolis(
        gaussian_likelihood(0.3, 0.05), 200, 2, n_steps=3000, burn_in=1000, thin=2, seed=1
    )
    assert abs(float(result.mean_unit.mean()) - 0.3) < 0.005
    assert abs(float(result.sd_unit.mean()) - 0.05) < 0.005
    assert 0.15 < float(result.acceptance_rate.mean()) < 0.35
    assert result.n_samples == 1000


def test_sampler_respects_the_uniform_prior():
    # a flat likelihood leaves the uniform prior: mean 1/2, sd 1/sqrt(12), never outside
    flat = adaptive_metropolis(
        lambda unit, rows: unit.new_zeros(len(rows)), 100, 1, n_steps=3000, burn_in=500, seed=2
    )
    assert abs(float(flat.mean_unit.mean()) - 0.5) < 0.03
    assert abs(float(flat.sd_unit.mean()) - 1 / math.sqrt(12)) < 0.03
    assert (flat.best_unit >= 0).all() and (flat.best_unit <= 1).all()


def test_sampler_never_accepts_failed_solves():
    failing = adaptive_metropolis(
        lambda unit, rows: torch.full((len(rows),), -math.inf, dtype=unit.dtype),
        5,
        2,
        n_steps=50,
        burn_in=10,
        seed=0,
    )
    assert (failing.acceptance_rate == 0).all()
    np.testing.assert_array_equal(failing.mean_unit, np.full((5, 2), 0.5))


def test_posterior_mean_moves_towards_the_truth(known_sites):
    profiles, truth = known_sites
    result = retrieve_parameters(profiles, LEARNED, FIXED, n_steps=300, burn_in=150, thin=2)
    prior_error = np.abs(0.5 - truth).mean(axis=0)
    posterior_error = np.abs(result.mean_unit - truth).mean(axis=0)
    best_error = np.abs(result.best_unit - truth).mean(axis=0)
    assert (posterior_error < 0.6 * prior_error).all(), (posterior_error, prior_error)
    assert (best_error < 0.5 * prior_error).all(), (best_error, prior_error)
    assert 0.1 < float(result.acceptance_rate.mean()) < 0.5
    assert (result.sd_unit > 0).all()


def test_retrieval_is_deterministic_per_seed(known_sites):
    profiles, _ = known_sites
    run = {"n_steps": 40, "burn_in": 20, "thin": 1}
    first = retrieve_parameters(profiles, LEARNED, FIXED, seed=5, **run)
    again = retrieve_parameters(profiles, LEARNED, FIXED, seed=5, **run)
    other = retrieve_parameters(profiles, LEARNED, FIXED, seed=6, **run)
    np.testing.assert_array_equal(first.mean_unit, again.mean_unit)
    np.testing.assert_array_equal(first.acceptance_rate, again.acceptance_rate)
    assert not np.array_equal(first.mean_unit, other.mean_unit)


def test_proda_fits_and_predicts(known_sites):
    profiles, _ = known_sites
    model = PRODA(
        n_steps=60, burn_in=30, learned_parameters=LEARNED, fixed_parameters=FIXED, **SMALL_NET
    )
    assert model.fit(profiles) is model
    assert 0.0 < model.acceptance_rate_ < 1.0
    assert list(model.retrieved_parameters_.columns) == LEARNED
    parameters = model.predict_parameters(profiles)
    assert list(parameters.columns) == list(PARAMETER_NAMES)
    np.testing.assert_allclose(parameters["q10"], FIXED["q10"])
    bounds = {p.name: (p.lower, p.upper) for p in CLM5_PARAMETERS}
    for name in LEARNED:
        low, high = bounds[name]
        assert parameters[name].between(low, high).all()
        assert model.retrieved_parameters_[name].between(low, high).all()
    soc = model.predict(profiles)
    observed = np.isfinite(profiles.soc)
    assert soc.shape == profiles.soc.shape
    assert np.isfinite(soc[observed]).all() and (soc[observed] > 0).all()
    assert model.predict_layers(profiles).shape == (profiles.n_profiles, 20)
    assert model.mcmc_seconds_ > 0 and model.network_seconds_ > 0


def test_proda_is_deterministic_per_seed(known_sites):
    profiles, _ = known_sites

    def fitted(seed: int) -> np.ndarray:
        model = PRODA(
            n_steps=30,
            burn_in=10,
            learned_parameters=LEARNED,
            fixed_parameters=FIXED,
            seed=seed,
            **SMALL_NET,
        )
        return model.fit(profiles).predict(profiles)

    np.testing.assert_array_equal(fitted(0), fitted(0))


@pytest.mark.parametrize(
    ("settings", "field", "match"),
    [
        ({"n_steps": 100, "burn_in": 100}, "params.burn_in", "no samples"),
        ({"n_steps": 0}, "params.n_steps", "at least 1"),
        ({"thin": 0}, "params.thin", "at least 1"),
        ({"misfit_weight": -1.0}, "params.misfit_weight", "positive"),
        ({"target_acceptance": 1.5}, "params.target_acceptance", "outside"),
        ({"below_column": "drop"}, "params.below_column", "not one of"),
        ({"learned_parameters": ["nope"]}, "params.learned_parameters", "unknown"),
        ({"covariates": ["nope"]}, "params.covariates", "not columns"),
    ],
)
def test_bad_settings_are_refused(known_sites, settings, field, match):
    profiles, _ = known_sites
    with pytest.raises(ConfigError, match=match) as caught:
        PRODA(**settings).fit(profiles)
    assert caught.value.field == field


def test_bad_profiles_are_refused(known_sites):
    profiles, _ = known_sites
    soc = profiles.soc.copy()
    soc[2] = np.nan
    depth = profiles.depth_m.copy()
    depth[2] = np.nan
    empty = type(profiles)(
        profile_id=profiles.profile_id,
        covariates=profiles.covariates,
        forcings=profiles.forcings,
        categorical=profiles.categorical,
        soc=soc,
        depth_m=depth,
        covariate_ranges=profiles.covariate_ranges,
    )
    with pytest.raises(SampleDataError, match="no valid observation") as caught:
        PRODA(n_steps=10, burn_in=5).fit(empty)
    assert caught.value.field == "profiles.soc"
    with pytest.raises(NotFittedError):
        PRODA().predict(profiles)
