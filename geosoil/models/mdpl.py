"""MdPL step 2: a parameter generator g_z trained through a frozen land-surface surrogate.

MdPL (Xie and Kimura; Xie, Li and Yoshimura 2025) calibrates a land surface model in two
steps. Step 1 (:mod:`geosoil.models.surrogate`) trains a network that reproduces the model's
sensible (H) and latent (LE) heat from forcing and parameters. Step 2, here, trains a
generator ``g_z(X, A)`` that maps a sample's forcing summaries ``X`` (mean shortwave,
temperature, VPD, precipitation, wind) and site attributes ``A`` (latitude, elevation, IGBP
class) to land-surface parameters, so that the frozen surrogate driven by the sample's
forcing and those parameters matches the observed H and LE. The parameters are then run in
the real model and compared with the defaults (:mod:`geosoil.evaluate.taylor`).

The composition: inputs -> :class:`InputCoding` (z-scores, category indices) ->
:class:`~geosoil.models.binn_training.MLPParameterEncoder` (embeddings, MLP, sigmoid: the
learned parameters in [0, 1]) -> learned and fixed parameters in [0, 1] over the
surrogate's bounds -> ``surrogate.module(features, parameters)`` -> H and LE (W m-2).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from geosoil.artifacts import InputLayer, InputSpec, OutputSpec
from geosoil.errors import ConfigError, CovariateError, GeoSoilError, SampleDataError
from geosoil.io.flux import SUMMARY_NAMES
from geosoil.models import binn_training as bt
from geosoil.models.base import GeoSoilEstimator
from geosoil.models.binn_inputs import check_choice
from geosoil.models.registry import register
from geosoil.process.lsm_params import LsmParameterSpec

__all__ = ["IGBP_CLASS_CODES", "InputCoding", "ParameterGenerator"]

log = logging.getLogger(__name__)

IGBP_CLASS_CODES: dict[int, str] = {
    1: "ENF",
    2: "EBF",
    3: "DNF",
    4: "DBF",
    5: "MF",
    6: "CSH",
    7: "OSH",
    8: "WSA",
    9: "SAV",
    10: "GRA",
    11: "WET",
    12: "CRO",
    13: "URB",
    14: "CVM",
    15: "SNO",
    16: "BSV",
    17: "WAT",
}
"""Integer class of an IGBP land-cover raster -> IGBP code: the MODIS MCD12Q1 LC_Type1 legend."""

_INPUT_UNITS = {
    "sw_in_mean_w_m2": "W m-2",
    "tair_mean_c": "degC",
    "vpd_mean_kpa": "kPa",
    "precip_mm_day": "mm day-1",
    "wind_mean_m_s": "m s-1",
    "latitude_deg": "degree_north",
    "longitude_deg": "degree_east",
    "elevation_m": "m",
}
_UNSEEN = ("error", "mean", "nan")
# surrogate rows per forward pass when a whole series is evaluated
_EVAL_ROWS = 32768
_SHOWN = 10


# --------------------------------------------------------------------------- inputs
@dataclass
class InputCoding:
    """Standardisation of continuous inputs and label tables of categorical ones.

    Attributes
    ----------
    continuous, categorical
        Column names in the order the encoder takes them (summaries, then numeric
        attributes; categorical attributes).
    mean, scale
        (n_continuous,) training mean and standard deviation (1 where an input was constant).
    labels
        Column -> sorted labels seen in training; label ``labels[c][i]`` gets index ``i``.
    frequency
        Column -> share of the training samples holding each label (the ``"mean"`` fallback).
    unseen
        What an unseen label does: ``"error"``, ``"mean"`` or ``"nan"``.
    """

    continuous: list[str]
    categorical: list[str]
    mean: np.ndarray
    scale: np.ndarray
    labels: dict[str, list[str]]
    frequency: dict[str, list[float]]
    unseen: str = "error"

    @property
    def names(self) -> list[str]:
        """Every input the model reads, continuous first."""
        return [*self.continuous, *self.categorical]

    @classmethod
    def learn(
        cls, table: pd.DataFrame, continuous: Sequence[str], categorical: Sequence[str], unseen: str
    ) -> InputCoding:
        """Learn the coding from the training inputs (one row per sample)."""
        values = table[list(continuous)].to_numpy(dtype=np.float64)
        mean = values.mean(axis=0)
        sd = values.std(axis=0)
        scale = np.where(sd > 0, sd, 1.0)
        labels, frequency = {}, {}
        for name in categorical:
            seen, counts = np.unique(
                table[name].to_numpy(dtype=object).astype(str), return_counts=True
            )
            labels[name] = [str(v) for v in seen]
            frequency[name] = (counts / counts.sum()).tolist()
        return cls(list(continuous), list(categorical), mean, scale, labels, frequency, unseen)

    def encode(
        self, table: pd.DataFrame, ids: Sequence[str], role: str
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """Scaled continuous inputs (n, c), category indices (n, k) and a row mask.

        A label missing from training (or ``None``, a raster code without a label) gets
        index -1; the mask marks the rows that may be predicted (False for those rows when
        ``unseen="nan"``).

        Raises
        ------
        CovariateError
            An unseen label with ``unseen="error"``; the message names the samples.
        """
        values = table[self.continuous].to_numpy(dtype=np.float64)
        scaled = ((values - self.mean) / self.scale).astype(np.float32)
        index = np.zeros((len(table), len(self.categorical)), dtype=np.int64)
        usable = np.ones(len(table), dtype=bool)
        for j, name in enumerate(self.categorical):
            lookup = {label: i for i, label in enumerate(self.labels[name])}
            column = table[name].to_numpy(dtype=object)
            found = np.array(
                [-1 if v is None else lookup.get(str(v), -1) for v in column], dtype=np.int64
            )
            new = found < 0
            if new.any() and self.unseen == "error":
                values_new = sorted({str(v) for v in column[new]})
                sites = [str(ids[i]) for i in np.flatnonzero(new)[:_SHOWN]]
                raise CovariateError(
                    f"{role}: categorical input {name} has values {values_new[:_SHOWN]} "
                    f"(samples {sites}) that training never saw (seen: {self.labels[name]})",
                    field=f"attributes.{name}",
                    fix="drop those samples, train on data that holds them, or set "
                    "model.params.unseen_categories to 'mean' (training mix) or 'nan' "
                    "(no prediction)",
                )
            if self.unseen == "nan":
                usable &= ~new
            index[:, j] = found
        return torch.from_numpy(scaled), torch.from_numpy(index), usable


def _category_label(value: Any) -> str | None:
    """A categorical attribute as a label: strings as they are, whole numbers without '.0'."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return None
        return str(int(value)) if float(value).is_integer() else str(value)
    return str(value)


def _input_table(
    records: Sequence[Any],
    summaries: Sequence[str],
    attributes: Sequence[str],
    categorical: Sequence[str],
    role: str,
) -> pd.DataFrame:
    """One row per record: summaries, numeric attributes (float) and categorical labels.

    Raises
    ------
    SampleDataError
        A summary or attribute is missing or not finite (the message names the site).
    """
    rows = []
    for record in records:
        site = str(record.site)
        try:
            given = dict(record.summaries())
        except GeoSoilError as err:
            raise SampleDataError(
                f"{role}: site {site}: cannot summarise its forcing: {err.message}",
                field=f"summaries.{err.field}" if err.field else "summaries",
                fix=err.fix,
            ) from err
        row: dict[str, Any] = {}
        for name in summaries:
            row[name] = _finite(given.get(name), site, f"summaries.{name}", role)
        for name in attributes:
            row[name] = _finite(record.attributes.get(name), site, f"attributes.{name}", role)
        for name in categorical:
            label = _category_label(record.attributes.get(name))
            if label is None:
                raise SampleDataError(
                    f"{role}: site {site} has no value for the categorical attribute {name}",
                    field=f"attributes.{name}",
                    fix=f"give every site its {name}, or leave {name} out of "
                    "model.params.categorical_names",
                )
            row[name] = label
        rows.append(row)
    return pd.DataFrame(rows, columns=[*summaries, *attributes, *categorical])


def _finite(value: Any, site: str, field: str, role: str) -> float:
    name = field.split(".", 1)[1]
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        kind = "summary" if field.startswith("summaries") else "attribute"
        raise SampleDataError(
            f"{role}: site {site} has no finite {kind} {name} (got {value!r})",
            field=field,
            fix=f"fill {name} for that site, drop the site, or leave {name} out of "
            f"model.params.{'summary_names' if kind == 'summary' else 'attribute_names'}",
        )
    return number


# --------------------------------------------------------------------- parameters
def _resolve_parameters(
    specs: Sequence[LsmParameterSpec],
    learned_parameters: Sequence[str] | None,
    fixed_parameters: Mapping[str, float] | None,
) -> tuple[list[str], dict[str, float]]:
    """Learned names (surrogate order) and every other parameter's fixed physical value.

    Raises
    ------
    ConfigError
        An unknown name, a fixed value outside its bounds, a parameter both learned and
        fixed, a parameter neither learned nor fixed, or nothing left to learn.
    """
    by_name = {s.name: s for s in specs}
    names = [s.name for s in specs]
    given = dict(fixed_parameters or {})
    for name, value in given.items():
        if name not in by_name:
            raise ConfigError(
                f"unknown parameter {name!r} in fixed_parameters",
                field=f"model.params.fixed_parameters.{name}",
                fix=f"use parameters of the surrogate: {', '.join(names)}",
            )
        spec = by_name[name]
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not (math.isfinite(number) and spec.lower <= number <= spec.upper):
            raise ConfigError(
                f"fixed parameter {name} = {value!r} {spec.unit} is outside its bounds "
                f"[{spec.lower:g}, {spec.upper:g}]",
                field=f"model.params.fixed_parameters.{name}",
                fix=f"give {name} a value between {spec.lower:g} and {spec.upper:g} {spec.unit}",
            )
        given[name] = number
    if learned_parameters is None:
        learned = [n for n in names if n not in given]
    else:
        chosen = [str(n) for n in learned_parameters]
        unknown = [n for n in chosen if n not in by_name]
        if unknown or len(set(chosen)) != len(chosen):
            raise ConfigError(
                f"learned_parameters {chosen} must be distinct parameter names"
                + (f"; unknown: {unknown}" if unknown else ""),
                field="model.params.learned_parameters",
                fix=f"choose among: {', '.join(names)}",
            )
        both = [n for n in chosen if n in given]
        if both:
            raise ConfigError(
                f"parameter {both[0]} is both learned and fixed",
                field=f"model.params.fixed_parameters.{both[0]}",
                fix=f"remove {both[0]} from fixed_parameters or from learned_parameters",
            )
        neither = [n for n in names if n not in chosen and n not in given]
        if neither:
            raise ConfigError(
                f"parameters {neither} are neither learned nor fixed",
                field="model.params.fixed_parameters",
                fix="give them physical values in fixed_parameters, or learn them",
            )
        learned = [n for n in names if n in chosen]
    if not learned:
        raise ConfigError(
            "every parameter is fixed: there is nothing to learn",
            field="model.params.learned_parameters",
            fix="leave at least one parameter out of fixed_parameters",
        )
    return learned, {n: given[n] for n in names if n not in learned}


def _spec_dict(spec: LsmParameterSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "unit": spec.unit,
        "lower": float(spec.lower),
        "upper": float(spec.upper),
        "meaning": spec.meaning,
    }


# ------------------------------------------------------------------------ series
@dataclass
class _Samples:
    """One side of a fit (train or valid): coded inputs and each sample's series."""

    sites: list[str]
    continuous: torch.Tensor  # (n, c) float32
    categories: torch.Tensor  # (n, k) int64
    features: list[torch.Tensor]  # (t_i, f) float32 surrogate features
    observed: list[torch.Tensor]  # (n_fluxes, t_i) float32, NaN where unused
    steps: list[torch.Tensor]  # indices of the steps with an observation and finite features

    def __len__(self) -> int:
        return len(self.sites)

    def with_observed(self, observed: list[torch.Tensor]) -> _Samples:
        """The same samples with other observations (a day split of the same series)."""
        return _Samples(
            self.sites,
            self.continuous,
            self.categories,
            self.features,
            observed,
            [_usable_steps(f, o) for f, o in zip(self.features, observed, strict=True)],
        )


def _usable_steps(features: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    usable = torch.isfinite(observed).any(dim=0) & torch.isfinite(features).all(dim=1)
    return torch.nonzero(usable).flatten()


def _series(record: Any, surrogate: Any, flux_names: Sequence[str], role: str):
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
    missing = [n for n in flux_names if n not in record.observed.columns]
    if missing:
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


def _hold_out_days(record: Any, observed: torch.Tensor, fraction: float, rng) -> np.ndarray:
    """Steps of a random ``fraction`` of the days with observations (none below 2 days)."""
    days = pd.DatetimeIndex(record.time).normalize()
    has_obs = torch.isfinite(observed).any(dim=0).numpy()
    observed_days = np.unique(days[has_obs])
    n_valid = min(round(fraction * len(observed_days)), len(observed_days) - 1)
    if n_valid < 1:
        return np.zeros(len(days), dtype=bool)
    chosen = rng.choice(observed_days, n_valid, replace=False)
    return np.asarray(days.isin(chosen))


# --------------------------------------------------------------------------- loss
def _masked_pearson(sim: torch.Tensor, obs: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
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
class _LossSettings:
    variance: torch.Tensor  # (n_fluxes,) observed variance over the training samples
    weights: torch.Tensor  # (n_fluxes,)
    correlation_weight: float


def _loss(
    sim: torch.Tensor, obs: torch.Tensor, settings: _LossSettings
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
    r = _masked_pearson(sim, obs, valid)
    defined = torch.isfinite(r)
    n_defined = defined.sum(dim=0)
    mean_r = torch.where(defined, r, torch.zeros_like(r)).sum(dim=0) / n_defined.clamp(min=1)
    terms = torch.where(count > 0, nmse, torch.zeros_like(nmse))
    if settings.correlation_weight > 0:
        penalty = settings.correlation_weight * (1.0 - mean_r)
        terms = terms + torch.where(n_defined > 0, penalty, torch.zeros_like(penalty))
    mean_r = torch.where(n_defined > 0, mean_r, torch.full_like(mean_r, math.nan))
    return (settings.weights * terms).sum(), nmse.detach(), mean_r.detach()


@contextlib.contextmanager
def _frozen(module: torch.nn.Module) -> Iterator[None]:
    """Evaluation mode and no parameter gradients, restored afterwards."""
    flags = [p.requires_grad for p in module.parameters()]
    training = module.training
    module.requires_grad_(False)
    module.eval()
    try:
        yield
    finally:
        for parameter, flag in zip(module.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)
        module.train(training)


# ---------------------------------------------------------------------- estimator
@register
class ParameterGenerator(GeoSoilEstimator):
    """MdPL's parameter generator: forcing summaries + site attributes -> LSM parameters.

    Parameters
    ----------
    summary_names
        Forcing summaries the generator reads (``X``), keys of ``record.summaries()``.
    attribute_names
        Numeric site attributes (``A``), keys of ``record.attributes``.
    categorical_names
        Categorical site attributes (labels such as IGBP codes), embedded.
    hidden, embedding_dim, dropout
        MLP widths (SiLU, dropout), and the embedding width of each categorical input.
    learning_rate, weight_decay
        AdamW settings.
    epochs, patience
        Training length; stop after ``patience`` epochs without a lower monitored loss and
        keep the best epoch.
    batch_size
        Samples per optimisation step (an epoch draws each training sample once).
    steps_per_sample
        Time steps drawn per sample and step, at random (with replacement) among the steps
        with an observation.
    valid_fraction
        Without ``valid_records``, the share of each training sample's observed days held
        out for validation (a sample with fewer than 2 observed days keeps all of them);
        0 monitors the training loss instead.
    flux_weights
        Flux name -> weight in the loss; None weighs every flux 1.
    correlation_weight
        Weight ``c`` of a correlation term ``c (1 - R)`` per flux (0: none). The MdPL paper's
        loss had no R term and its R suffered.
    learned_parameters
        Surrogate parameters to learn; None learns every one not in ``fixed_parameters``.
    fixed_parameters
        Name -> physical value of the parameters not learned, checked against the
        surrogate's bounds; every parameter not learned must be given here.
    unseen_categories
        A categorical label not seen in training: ``"error"`` refuses it, ``"mean"`` gives
        it the frequency-weighted mean embedding, ``"nan"`` predicts NaN for that sample
        (or pixel: water and urban pixels of a land-cover map, say).
    class_codes
        Categorical input -> {integer raster class: label}, to read categorical inputs from
        class rasters in :meth:`predict_flat`. ``igbp`` defaults to
        :data:`IGBP_CLASS_CODES` (MODIS MCD12Q1 LC_Type1); a column without a table reads a
        class ``k`` as the label ``"k"``.
    seed
        Seeds initialisation, dropout, the day hold-out, batch order and step draws.
    threads
        Torch threads while fitting and predicting (restored afterwards); None keeps them.
    progress
        Show a progress bar over epochs.

    Notes
    -----
    Continuous inputs are standardised by their training mean and SD (an input constant in
    training gets SD 1); they are not clipped, and the sigmoid keeps parameters within
    their bounds however far a map pixel lies from the training sites.

    Loss per step: ``sum_k w_k (MSE_k / var_k + c (1 - R_k))`` over the fluxes ``k``, with
    ``MSE_k`` over the drawn steps with an observation, ``var_k`` the variance of flux
    ``k`` over every training observation (so each flux term reads as 1 - NSE) and ``R_k``
    the mean over samples of the correlation over a sample's drawn steps. The monitored
    loss has the same form over every validation step (or every training step).

    Learned state: ``coding_``, ``encoder_``, ``parameter_specs_`` (the surrogate's names
    and bounds, so maps need no surrogate), ``learned_parameters_``, ``fixed_parameters_``,
    ``flux_names_``, ``flux_variance_``, ``history_`` (one row per epoch), ``best_epoch_``,
    ``feature_names_in_``, ``n_train_``, ``n_valid_``.
    """

    registry_name: ClassVar[str] = "mdpl"

    def __init__(
        self,
        *,
        summary_names: Sequence[str] = SUMMARY_NAMES,
        attribute_names: Sequence[str] = ("latitude_deg",),
        categorical_names: Sequence[str] = ("igbp",),
        hidden: Sequence[int] = (64, 64),
        embedding_dim: int = 4,
        dropout: float = 0.0,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        epochs: int = 200,
        patience: int = 20,
        batch_size: int = 16,
        steps_per_sample: int = 256,
        valid_fraction: float = 0.2,
        flux_weights: Mapping[str, float] | None = None,
        correlation_weight: float = 0.0,
        learned_parameters: Sequence[str] | None = None,
        fixed_parameters: Mapping[str, float] | None = None,
        unseen_categories: str = "error",
        class_codes: Mapping[str, Mapping[int, str]] | None = None,
        seed: int = 0,
        threads: int | None = None,
        progress: bool = False,
    ) -> None:
        self.summary_names = summary_names
        self.attribute_names = attribute_names
        self.categorical_names = categorical_names
        self.hidden = hidden
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.steps_per_sample = steps_per_sample
        self.valid_fraction = valid_fraction
        self.flux_weights = flux_weights
        self.correlation_weight = correlation_weight
        self.learned_parameters = learned_parameters
        self.fixed_parameters = fixed_parameters
        self.unseen_categories = unseen_categories
        self.class_codes = class_codes
        self.seed = seed
        self.threads = threads
        self.progress = progress

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        records: Sequence[Any],
        surrogate: Any,
        *,
        valid_records: Sequence[Any] | None = None,
    ) -> ParameterGenerator:
        """Learn the generator through the frozen surrogate; returns self.

        Parameters
        ----------
        records
            Training samples (``FluxRecord``: a site, or a site-period from
            ``record.split``), each with forcing, observed ``h_w_m2``/``le_w_m2``,
            summaries and attributes.
        surrogate
            A ``FittedSurrogate`` (its ``features``, ``module``, ``parameter_specs`` and
            ``flux_names``); left as it was (its module is frozen during the fit only).
        valid_records
            Samples for model selection; None holds out ``valid_fraction`` of each training
            sample's days.

        Raises
        ------
        ConfigError
            A hyperparameter is invalid, or does not fit the surrogate's parameters or
            fluxes (``field`` names it).
        SampleDataError
            No records, a record without any observation, missing or non-finite summaries
            or attributes, forcing the surrogate cannot take (messages name the site).
        CovariateError
            ``valid_records`` hold a categorical label unseen in training (with
            ``unseen_categories="error"``).
        """
        self._check_settings()
        _check_surrogate(surrogate)
        specs = tuple(surrogate.parameter_specs)
        flux_names = [str(n) for n in surrogate.flux_names]
        learned, fixed = _resolve_parameters(specs, self.learned_parameters, self.fixed_parameters)
        weights = self._resolved_flux_weights(flux_names)
        train_records = _record_list(records, "records")
        valid_list = None if valid_records is None else _record_list(valid_records, "valid_records")
        names = self._input_names()
        train_table = _input_table(train_records, *names, "records")
        valid_table = (
            None if valid_list is None else _input_table(valid_list, *names, "valid_records")
        )
        with bt.torch_threads(self.threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            coding = InputCoding.learn(
                train_table, [*names[0], *names[1]], names[2], self.unseen_categories
            )
            with _frozen(surrogate.module):
                train_set, valid_set = self._samples(
                    train_records,
                    train_table,
                    valid_list,
                    valid_table,
                    coding,
                    surrogate,
                    flux_names,
                )
                variance = _flux_variance(train_set, flux_names)
                loss_settings = _LossSettings(
                    variance=torch.as_tensor(variance, dtype=torch.float32),
                    weights=torch.as_tensor(weights, dtype=torch.float32),
                    correlation_weight=float(self.correlation_weight),
                )
                encoder = self._build_encoder(coding, len(learned))
                merge = _Merge(specs, learned, fixed)
                history = self._train(
                    encoder,
                    merge,
                    surrogate.module,
                    train_set,
                    valid_set,
                    loss_settings,
                    flux_names,
                )
        best = min(
            (row for row in history if np.isfinite(row["monitor_loss"])),
            key=lambda row: row["monitor_loss"],
        )
        log.info(
            "%s: %d epochs, best %d (loss %.4f on %s)",
            type(self).__name__,
            len(history),
            best["epoch"],
            best["monitor_loss"],
            "validation" if valid_set is not None else "training",
        )
        self.coding_ = coding
        self.encoder_ = encoder.eval()
        self.parameter_specs_ = specs
        self.learned_parameters_ = learned
        self.fixed_parameters_ = fixed
        self.flux_names_ = flux_names
        self.flux_variance_ = [float(v) for v in variance]
        self.history_ = history
        self.best_epoch_ = int(best["epoch"])
        self.feature_names_in_ = coding.names
        self.n_train_ = len(train_set)
        self.n_valid_ = 0 if valid_set is None else len(valid_set)
        return self

    def _input_names(self) -> tuple[list[str], list[str], list[str]]:
        return (
            [str(n) for n in self.summary_names],
            [str(n) for n in self.attribute_names],
            [str(n) for n in self.categorical_names],
        )

    def _check_settings(self) -> None:
        check_choice(self.unseen_categories, _UNSEEN, "model.params.unseen_categories")
        for name in ("epochs", "patience", "batch_size", "steps_per_sample", "embedding_dim"):
            _check_positive_int(getattr(self, name), name)
        if isinstance(self.hidden, str) or not isinstance(self.hidden, Sequence):
            raise ConfigError(
                f"hidden={self.hidden!r} is not a list of layer widths",
                field="model.params.hidden",
                fix="give hidden widths as a list, e.g. [64, 64]",
            )
        for width in self.hidden:
            _check_positive_int(width, "hidden")
        numbers = {
            "dropout": (0.0, 1.0, False),
            "valid_fraction": (0.0, 1.0, False),
            "learning_rate": (0.0, math.inf, True),
            "weight_decay": (0.0, math.inf, False),
            "correlation_weight": (0.0, math.inf, False),
        }
        for name, (low, high, open_low) in numbers.items():
            value = getattr(self, name)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and (low < value if open_low else low <= value) and value < high
            if not ok:
                interval = f"{'(' if open_low else '['}{low:g}, {high:g})"
                raise ConfigError(
                    f"{name}={value!r} is outside {interval}",
                    field=f"model.params.{name}",
                    fix=f"give {name} a number in {interval}",
                )
        summaries, attributes, categorical = self._input_names()
        every = [*summaries, *attributes, *categorical]
        if not every or len(set(every)) != len(every):
            raise ConfigError(
                f"inputs {every} must be distinct and at least one",
                field="model.params.summary_names",
                fix="list each summary and attribute once across summary_names, "
                "attribute_names and categorical_names",
            )
        self._class_tables()

    def _class_tables(self) -> dict[str, dict[int, str]]:
        """Categorical input -> {raster class: label}, ``igbp`` defaulting to MODIS."""
        tables: dict[str, dict[int, str]] = {"igbp": dict(IGBP_CLASS_CODES)}
        for name, table in dict(self.class_codes or {}).items():
            parsed = {}
            for code, label in dict(table).items():
                try:
                    number = float(code)
                except (TypeError, ValueError):
                    number = math.nan
                if not number.is_integer():
                    raise ConfigError(
                        f"class_codes.{name} has a class {code!r} that is not a whole number",
                        field=f"model.params.class_codes.{name}",
                        fix="map integer raster classes to labels, e.g. {10: 'GRA'}",
                    )
                parsed[int(number)] = str(label)
            tables[str(name)] = parsed
        return tables

    def _resolved_flux_weights(self, flux_names: Sequence[str]) -> list[float]:
        given = dict(self.flux_weights or {})
        unknown = [k for k in given if k not in flux_names]
        if unknown:
            raise ConfigError(
                f"flux_weights names {unknown}, which the surrogate does not simulate",
                field=f"model.params.flux_weights.{unknown[0]}",
                fix=f"weigh the fluxes {list(flux_names)}",
            )
        weights = [float(given.get(k, 1.0)) for k in flux_names]
        if not all(math.isfinite(w) and w >= 0 for w in weights) or not any(weights):
            raise ConfigError(
                f"flux_weights {dict(zip(flux_names, weights, strict=True))} must be "
                "non-negative with at least one positive",
                field="model.params.flux_weights",
                fix="use e.g. {h_w_m2: 1.0, le_w_m2: 1.0}",
            )
        return weights

    def _samples(
        self, train_records, train_table, valid_records, valid_table, coding, surrogate, flux_names
    ) -> tuple[_Samples, _Samples | None]:
        """Training samples, and validation samples (given, or held-out days)."""
        train = _build_samples(train_records, train_table, coding, surrogate, flux_names, "records")
        empty = [s for s, steps in zip(train.sites, train.steps, strict=True) if not len(steps)]
        if empty:
            raise SampleDataError(
                f"{len(empty)} training record(s) have no observed {' or '.join(flux_names)} "
                f"(sites {empty[:_SHOWN]})",
                field="records.observed",
                fix="drop records without flux observations before fitting",
            )
        if valid_records is not None:
            valid = _build_samples(
                valid_records, valid_table, coding, surrogate, flux_names, "valid_records"
            )
            return train, valid
        if self.valid_fraction == 0:
            return train, None
        rng = np.random.default_rng(int(self.seed))
        train_obs, valid_obs = [], []
        for record, observed in zip(train_records, train.observed, strict=True):
            held = torch.from_numpy(_hold_out_days(record, observed, self.valid_fraction, rng))
            nan = torch.full_like(observed, math.nan)
            train_obs.append(torch.where(held[None, :], nan, observed))
            valid_obs.append(torch.where(held[None, :], observed, nan))
        valid = train.with_observed(valid_obs)
        if not any(len(steps) for steps in valid.steps):
            log.info("no record has 2 observed days to hold out: monitoring the training loss")
            return train, None
        return train.with_observed(train_obs), valid

    def _build_encoder(self, coding: InputCoding, n_outputs: int) -> bt.MLPParameterEncoder:
        frequency = [coding.frequency[name] for name in coding.categorical]
        return bt.MLPParameterEncoder(
            len(coding.continuous),
            frequency,
            n_outputs,
            hidden_layers=[int(h) for h in self.hidden],
            embedding_dim=int(self.embedding_dim),
            dropout=float(self.dropout),
        )

    def _train(
        self,
        encoder: bt.MLPParameterEncoder,
        merge: _Merge,
        module: torch.nn.Module,
        train_set: _Samples,
        valid_set: _Samples | None,
        loss_settings: _LossSettings,
        flux_names: Sequence[str],
    ) -> list[dict[str, Any]]:
        """Train ``encoder`` in place, leave it at its best epoch; returns the history."""
        optimizer = torch.optim.AdamW(
            encoder.parameters(),
            lr=float(self.learning_rate),
            weight_decay=float(self.weight_decay),
        )
        draws = torch.Generator().manual_seed(int(self.seed))
        steps = int(self.steps_per_sample)
        history: list[dict[str, Any]] = []
        best_loss, best_state, stale = math.inf, None, 0
        monitored = valid_set if valid_set is not None else train_set
        bar = tqdm(total=int(self.epochs), desc=type(self).__name__, disable=not self.progress)
        with bar:
            for epoch in range(1, int(self.epochs) + 1):
                started = time.perf_counter()
                encoder.train()
                order = torch.randperm(len(train_set), generator=draws)
                total, n_batches = 0.0, 0
                for start in range(0, len(train_set), int(self.batch_size)):
                    batch = order[start : start + int(self.batch_size)]
                    picks = [
                        train_set.steps[i][
                            torch.randint(len(train_set.steps[i]), (steps,), generator=draws)
                        ]
                        for i in batch.tolist()
                    ]
                    features = torch.cat(
                        [
                            train_set.features[i][p]
                            for i, p in zip(batch.tolist(), picks, strict=True)
                        ]
                    )
                    obs = torch.stack(
                        [
                            train_set.observed[i][:, p]
                            for i, p in zip(batch.tolist(), picks, strict=True)
                        ]
                    )
                    optimizer.zero_grad(set_to_none=True)
                    unit = merge(encoder(train_set.continuous[batch], train_set.categories[batch]))
                    sim = module(features, unit.repeat_interleave(steps, dim=0).to(features.dtype))
                    sim = sim.reshape(len(batch), steps, -1).transpose(1, 2)
                    loss, _, _ = _loss(sim, obs, loss_settings)
                    loss.backward()
                    optimizer.step()
                    total += float(loss.detach())
                    n_batches += 1
                loss, nmse, mean_r = _evaluate(encoder, merge, module, monitored, loss_settings)
                row: dict[str, Any] = {
                    "epoch": epoch,
                    "train_loss": total / max(n_batches, 1),
                    "valid_loss": loss if valid_set is not None else math.nan,
                    "monitor_loss": loss,
                }
                for k, name in enumerate(flux_names):
                    row[f"monitor_nmse_{name}"] = float(nmse[k])
                    row[f"monitor_r_{name}"] = float(mean_r[k])
                row["seconds"] = time.perf_counter() - started
                history.append(row)
                bar.update(1)
                bar.set_postfix(loss=f"{row['train_loss']:.4f}", monitor=f"{loss:.4f}")
                log.debug("%s epoch %d: %s", type(self).__name__, epoch, row)
                if math.isfinite(loss) and loss < best_loss:
                    best_loss, stale = loss, 0
                    best_state = {k: v.detach().clone() for k, v in encoder.state_dict().items()}
                else:
                    stale += 1
                    if stale >= int(self.patience):
                        break
        if best_state is None:
            raise SampleDataError(
                "training never reached a finite loss: the surrogate gave non-finite fluxes",
                field="model.params.learning_rate",
                fix="lower model.params.learning_rate, or check the surrogate and the forcing",
            )
        encoder.load_state_dict(best_state)
        encoder.eval()
        return history

    # --------------------------------------------------------------- prediction
    def predict_unit(self, records: Sequence[Any]) -> pd.DataFrame:
        """Every parameter in [0, 1] over its bounds, one row per record.

        Returns
        -------
        pandas.DataFrame
            Column ``site``, then one column per parameter in the surrogate's order (fixed
            ones constant). NaN rows for unseen labels with ``unseen_categories="nan"``.
        """
        self._check_fitted()
        records = _record_list(records, "records", allow_empty=True)
        table = _input_table(records, *self._input_names(), "records")
        unit = self._unit_table(table, [str(r.site) for r in records], "records")
        return self._frame([str(r.site) for r in records], unit)

    def predict_parameters(self, records: Sequence[Any]) -> pd.DataFrame:
        """Physical parameters, one row per record: ``site``, then the surrogate's order.

        Raises
        ------
        SampleDataError
            A record lacks a summary or attribute the model reads.
        CovariateError
            A categorical label unseen in training (with ``unseen_categories="error"``).
        """
        unit = self.predict_unit(records)
        names = self.parameter_names
        physical = self._physical(unit[names].to_numpy(dtype=np.float64))
        return self._frame(unit["site"].tolist(), physical)

    def predict(self, records: Sequence[Any]) -> np.ndarray:
        """Physical parameters as an (n, p) float64 array (see :meth:`predict_parameters`)."""
        return self.predict_parameters(records)[self.parameter_names].to_numpy(dtype=np.float64)

    @property
    def parameter_names(self) -> list[str]:
        """Names of the parameters, in the surrogate's order."""
        self._check_fitted()
        return [s.name for s in self.parameter_specs_]

    def _frame(self, sites: list[str], values: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(values, columns=self.parameter_names)
        frame.insert(0, "site", sites)
        return frame

    def _unit_table(self, table: pd.DataFrame, ids: Sequence[str], role: str) -> np.ndarray:
        """(n, p) parameters in [0, 1] from an input table; NaN rows where not usable."""
        out = np.full((len(table), len(self.parameter_specs_)), np.nan)
        if not len(table):
            return out
        continuous, categories, usable = self.coding_.encode(table, ids, role)
        with bt.torch_threads(self.threads), torch.no_grad():
            learned = bt.encode_padded(self.encoder_.eval(), continuous, categories)
            unit = _Merge(self.parameter_specs_, self.learned_parameters_, self.fixed_parameters_)(
                learned
            )
        out[usable] = unit.numpy().astype(np.float64)[usable]
        return out

    def _physical(self, unit: np.ndarray) -> np.ndarray:
        lower = np.array([s.lower for s in self.parameter_specs_], dtype=np.float64)
        upper = np.array([s.upper for s in self.parameter_specs_], dtype=np.float64)
        return lower + unit * (upper - lower)

    # ------------------------------------------------------------ flat mapping
    # The mapping engine reads a flat (pixels, inputs) matrix of named raster layers; these
    # three methods declare that interface (see geosoil.mapping.predictors.FlatMapper).
    def map_inputs(self) -> list[str]:
        """Layer names of :meth:`predict_flat`'s columns.

        The forcing summaries (``sw_in_mean_w_m2``, ...), the numeric attributes, then the
        categorical ones, read as integer class rasters (``igbp``: MODIS LC_Type1 classes,
        see ``class_codes``).
        """
        self._check_fitted()
        return list(self.coding_.names)

    def map_outputs(self) -> OutputSpec:
        """One output per parameter (learned and fixed), physical units, surrogate order."""
        self._check_fitted()
        return OutputSpec(
            names=[s.name for s in self.parameter_specs_],
            units=[s.unit for s in self.parameter_specs_],
        )

    def predict_flat(self, X: np.ndarray) -> np.ndarray:
        """Physical parameters from a flat input matrix.

        Parameters
        ----------
        X
            (n, len(map_inputs())) inputs in :meth:`map_inputs` order; categorical columns
            hold integer raster classes, translated to labels through ``class_codes``.

        Returns
        -------
        ndarray
            (n, p) float64 physical parameters in :meth:`map_outputs` order; NaN rows where
            an input is not finite, or the class is unseen with ``unseen_categories="nan"``.
            Each row depends on its own inputs only.

        Raises
        ------
        SampleDataError
            Wrong number of columns, or a categorical class that is not a whole number.
        CovariateError
            A class unseen in training (or without a label) with
            ``unseen_categories="error"``.
        """
        names = self.map_inputs()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(names):
            raise SampleDataError(
                f"flat inputs have shape {X.shape}, expected (n, {len(names)})",
                field="X",
                fix=f"give the columns {names}",
            )
        out = np.full((len(X), len(self.parameter_specs_)), np.nan)
        rows = np.flatnonzero(np.isfinite(X).all(axis=1))
        if not rows.size:
            return out
        values = X[rows]
        coding = self.coding_
        n_continuous = len(coding.continuous)
        table = pd.DataFrame(values[:, :n_continuous], columns=coding.continuous)
        tables = self._class_tables()
        for j, name in enumerate(coding.categorical):
            codes = values[:, n_continuous + j]
            if not np.all(codes == np.round(codes)):
                raise SampleDataError(
                    f"categorical input {name} holds non-integer classes",
                    field=name,
                    fix="read class layers with nearest or mode resampling",
                )
            lookup = tables.get(name)
            table[name] = [
                str(int(c)) if lookup is None else lookup.get(int(c)) for c in codes.tolist()
            ]
        ids = [f"pixel {i}" for i in rows]
        out[rows] = self._physical(self._unit_table(table, ids, "X"))
        return out

    # ----------------------------------------------------------------- artifact
    def input_spec(self) -> InputSpec:
        """The layers of :meth:`map_inputs`, with units; categorical ones flagged."""
        self._check_fitted()
        layers = [
            InputLayer(
                name=name,
                units=_INPUT_UNITS.get(name, ""),
                categorical=name in self.coding_.categorical,
            )
            for name in self.coding_.names
        ]
        return InputSpec(kind="covariates", layers=layers)

    def output_spec(self) -> OutputSpec:
        """The physical parameters (as :meth:`map_outputs`)."""
        return self.map_outputs()

    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors ``encoder.*``, ``coding.mean``, ``coding.scale``; the rest as JSON."""
        self._check_fitted()
        tensors = bt.state_tensors(self.encoder_, "encoder.")
        tensors["coding.mean"] = torch.from_numpy(np.asarray(self.coding_.mean, dtype=np.float64))
        tensors["coding.scale"] = torch.from_numpy(np.asarray(self.coding_.scale, dtype=np.float64))
        state = {
            "continuous": self.coding_.continuous,
            "categorical": self.coding_.categorical,
            "labels": self.coding_.labels,
            "frequency": self.coding_.frequency,
            "parameter_specs": [_spec_dict(s) for s in self.parameter_specs_],
            "learned_parameters": self.learned_parameters_,
            "fixed_parameters": self.fixed_parameters_,
            "flux_names": self.flux_names_,
            "flux_variance": self.flux_variance_,
            "history": self.history_,
            "best_epoch": self.best_epoch_,
            "n_train": self.n_train_,
            "n_valid": self.n_valid_,
        }
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> ParameterGenerator:
        """Rebuild a fitted generator from :meth:`export_state`'s tensors and JSON."""
        model = cls(**params)
        coding = InputCoding(
            continuous=list(state["continuous"]),
            categorical=list(state["categorical"]),
            mean=tensors["coding.mean"].numpy(),
            scale=tensors["coding.scale"].numpy(),
            labels={k: [str(v) for v in values] for k, values in state["labels"].items()},
            frequency={k: [float(f) for f in v] for k, v in state["frequency"].items()},
            unseen=model.unseen_categories,
        )
        learned = list(state["learned_parameters"])
        encoder = model._build_encoder(coding, len(learned))
        used = bt.load_prefixed(encoder, tensors, "encoder.") | {"coding.mean", "coding.scale"}
        if unexpected := sorted(set(tensors) - used):
            raise ValueError(f"tensors {unexpected[:3]} belong to no part of the model")
        model.coding_ = coding
        model.encoder_ = encoder.eval()
        model.parameter_specs_ = tuple(LsmParameterSpec(**s) for s in state["parameter_specs"])
        model.learned_parameters_ = learned
        model.fixed_parameters_ = {k: float(v) for k, v in state["fixed_parameters"].items()}
        model.flux_names_ = list(state["flux_names"])
        model.flux_variance_ = [float(v) for v in state["flux_variance"]]
        # JSON has no NaN: the header stores a missing validation loss as null
        model.history_ = [
            {k: math.nan if v is None else v for k, v in row.items()} for row in state["history"]
        ]
        model.best_epoch_ = int(state["best_epoch"])
        model.feature_names_in_ = coding.names
        model.n_train_ = int(state["n_train"])
        model.n_valid_ = int(state["n_valid"])
        return model


# ------------------------------------------------------------------------ helpers
class _Merge:
    """Learned unit parameters (n, k) -> every parameter in [0, 1] (n, p), fixed ones constant."""

    def __init__(
        self, specs: Sequence[LsmParameterSpec], learned: Sequence[str], fixed: Mapping[str, float]
    ) -> None:
        names = [s.name for s in specs]
        self.positions = torch.tensor([names.index(n) for n in learned], dtype=torch.long)
        constant = [
            (fixed[s.name] - s.lower) / (s.upper - s.lower) if s.name in fixed else 0.0
            for s in specs
        ]
        self.constant = torch.tensor(constant, dtype=torch.float32)

    def __call__(self, learned: torch.Tensor) -> torch.Tensor:
        full = self.constant.to(learned.dtype).expand(len(learned), -1)
        # index_copy keeps the gradient to the learned columns and none to the fixed ones
        return full.index_copy(1, self.positions, learned)


def _build_samples(
    records: Sequence[Any],
    table: pd.DataFrame,
    coding: InputCoding,
    surrogate: Any,
    flux_names: Sequence[str],
    role: str,
) -> _Samples:
    sites = [str(r.site) for r in records]
    continuous, categories, _ = coding.encode(table, sites, role)
    features, observed = [], []
    for record in records:
        f, o = _series(record, surrogate, flux_names, role)
        features.append(f)
        observed.append(o)
    steps = [_usable_steps(f, o) for f, o in zip(features, observed, strict=True)]
    return _Samples(sites, continuous, categories, features, observed, steps)


def _flux_variance(samples: _Samples, flux_names: Sequence[str]) -> np.ndarray:
    """Variance of each flux over every training observation used in the loss."""
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


def _evaluate(
    encoder: torch.nn.Module,
    merge: _Merge,
    module: torch.nn.Module,
    samples: _Samples,
    settings: _LossSettings,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss, per-flux normalised MSE and mean R over every usable step, no gradients."""
    encoder.eval()
    n_fluxes = len(settings.variance)
    squared = torch.zeros(n_fluxes, dtype=torch.float64)
    count = torch.zeros(n_fluxes, dtype=torch.float64)
    correlations = []
    with torch.no_grad():
        unit = merge(bt.encode_padded(encoder, samples.continuous, samples.categories))
        for i, steps in enumerate(samples.steps):
            if not len(steps):
                continue
            features = samples.features[i][steps]
            row = unit[i : i + 1].to(features.dtype)
            parts = []
            for start in range(0, len(features), _EVAL_ROWS):
                chunk = features[start : start + _EVAL_ROWS]
                parts.append(module(chunk, row.expand(len(chunk), -1)))
            sim = torch.cat(parts).T.to(torch.float64)
            obs = samples.observed[i][:, steps].to(torch.float64)
            valid = torch.isfinite(obs)
            squared += torch.where(valid, (sim - obs) ** 2, torch.zeros_like(sim)).sum(dim=1)
            count += valid.sum(dim=1)
            zeroed = torch.where(valid, obs, torch.zeros_like(obs))
            correlations.append(_masked_pearson(sim, zeroed, valid))
    nmse = (squared / count.clamp(min=1) / settings.variance.to(torch.float64)).numpy()
    nmse = np.where(count.numpy() > 0, nmse, np.nan)
    if correlations:
        r = torch.stack(correlations).numpy()
        defined = np.isfinite(r)
        sums = np.where(defined, r, 0.0).sum(axis=0)
        mean_r = np.where(defined.any(axis=0), sums / np.maximum(defined.sum(axis=0), 1), np.nan)
    else:
        mean_r = np.full(n_fluxes, np.nan)
    weights = settings.weights.numpy().astype(np.float64)
    terms = np.where(np.isfinite(nmse), nmse, 0.0)
    if settings.correlation_weight > 0:
        terms = terms + np.where(
            np.isfinite(mean_r), settings.correlation_weight * (1.0 - mean_r), 0.0
        )
    loss = float((weights * terms).sum()) if np.isfinite(nmse).any() else math.nan
    return loss, nmse, mean_r


def _record_list(records: Any, role: str, *, allow_empty: bool = False) -> list[Any]:
    """Records as a list, each with the attributes of a FluxRecord."""
    if (
        isinstance(records, str | bytes)
        or hasattr(records, "site")
        or not hasattr(records, "__iter__")
    ):
        raise SampleDataError(
            f"{role} must be a sequence of flux records, got {type(records).__name__}",
            field=role,
            fix="pass a list of FluxRecord (one per site or site-period)",
        )
    listed = list(records)
    if not listed and not allow_empty:
        raise SampleDataError(
            f"{role} is empty", field=role, fix="pass at least one FluxRecord with observations"
        )
    needed = ("site", "attributes", "time", "observed", "summaries", "to_forcing")
    for record in listed:
        missing = [n for n in needed if not hasattr(record, n)]
        if missing:
            raise SampleDataError(
                f"{role} holds a {type(record).__name__} without {missing}",
                field=role,
                fix="pass FluxRecord objects (geosoil.io.flux)",
            )
    return listed


def _check_surrogate(surrogate: Any) -> None:
    missing = [
        n
        for n in ("features", "module", "parameter_specs", "flux_names")
        if not hasattr(surrogate, n)
    ]
    if missing:
        raise ConfigError(
            f"the surrogate ({type(surrogate).__name__}) has no {missing}",
            field="surrogate",
            fix="pass a FittedSurrogate (geosoil.models.surrogate.fit_surrogate or load)",
        )
    specs = tuple(surrogate.parameter_specs)
    bad = [s.name for s in specs if not s.lower < s.upper]
    if not specs or bad:
        raise ConfigError(
            f"the surrogate's parameter bounds are empty or inverted ({bad})",
            field="surrogate.parameter_specs",
            fix="train the surrogate over parameters with lower < upper",
        )


def _check_positive_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(
            f"{name}={value!r} is not a whole number of at least 1",
            field=f"model.params.{name}",
            fix="use a positive integer",
        )
