"""MdPL step 2: a parameter generator g_z trained through a frozen land-surface surrogate.

MdPL (Xie and Kimura; Xie, Li and Yoshimura 2025) calibrates a land surface model in two
steps. Step 1 (:mod:`geosoil.models.lsm.surrogate`) trains a network that reproduces the model's
sensible (H) and latent (LE) heat from forcing and parameters. Step 2, here, trains a
generator ``g_z(X, A)`` that maps a sample's forcing summaries ``X`` (mean shortwave,
temperature, VPD, precipitation, wind) and site attributes ``A`` (latitude, elevation, IGBP
class) to land-surface parameters, so that the frozen surrogate driven by the sample's
forcing and those parameters matches the observed H and LE. The parameters are then run in
the real model and compared with the defaults (:mod:`geosoil.evaluate.taylor`). Inputs are
checked in :mod:`~geosoil.models.lsm.inputs`; the series, the loss and the training loop
live in :mod:`~geosoil.models.lsm.training`.

The composition: inputs -> the input encoder (z-scores, category indices) ->
:class:`~geosoil.models.training.MLPParameterEncoder` (embeddings, MLP, sigmoid: the
learned parameters in [0, 1]) -> :class:`~geosoil.models.lsm.inputs.ParameterMerge`
(learned and fixed parameters in [0, 1] over the surrogate's bounds) ->
``surrogate.module(features, parameters)`` -> H and LE (W m-2).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from geosoil.errors import SampleDataError
from geosoil.io.flux import SUMMARY_NAMES
from geosoil.models import training as kit
from geosoil.models.base import GeoSoilEstimator
from geosoil.models.encoding import CovariateEncoder
from geosoil.models.lsm import training as mt
from geosoil.models.lsm.inputs import (
    IGBP_CLASS_CODES,
    INPUT_UNITS,
    ParameterMerge,
    check_settings,
    check_surrogate,
    class_tables,
    coding_from_state,
    coding_state,
    encode_inputs,
    flat_table,
    input_table,
    learn_input_coding,
    record_list,
    resolve_flux_weights,
    resolve_parameters,
    spec_dict,
)
from geosoil.models.registry import register
from geosoil.process.parameters import ParameterSpec
from geosoil.specs import InputLayer, InputSpec, OutputSpec

__all__ = ["IGBP_CLASS_CODES", "ParameterGenerator"]

log = logging.getLogger(__name__)


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
    hidden_layers, embedding_dim, dropout
        MLP widths (SiLU, dropout), and the embedding width of each categorical input.
        (``hidden`` before; the old name still loads, with a deprecation message.)
    learning_rate, weight_decay
        AdamW settings.
    max_epochs, patience
        Training length (``epochs`` before, still accepted with a deprecation message);
        stop after ``patience`` epochs without a lower monitored loss and keep the best
        epoch.
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
    renamed_params: ClassVar[dict[str, str]] = {"epochs": "max_epochs", "hidden": "hidden_layers"}

    def __init__(
        self,
        *,
        summary_names: Sequence[str] = SUMMARY_NAMES,
        attribute_names: Sequence[str] = ("latitude_deg",),
        categorical_names: Sequence[str] = ("igbp",),
        hidden_layers: Sequence[int] = (64, 64),
        embedding_dim: int = 4,
        dropout: float = 0.0,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        max_epochs: int = 200,
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
        self._store_params(locals())

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
        check_settings(self)
        check_surrogate(surrogate)
        specs = tuple(surrogate.parameter_specs)
        flux_names = [str(n) for n in surrogate.flux_names]
        learned, fixed = resolve_parameters(specs, self.learned_parameters, self.fixed_parameters)
        weights = resolve_flux_weights(self.flux_weights, flux_names)
        train_records = record_list(records, "records")
        valid_list = None if valid_records is None else record_list(valid_records, "valid_records")
        names = self._input_names()
        train_table = input_table(train_records, *names, "records")
        valid = None
        if valid_list is not None:
            valid = (valid_list, input_table(valid_list, *names, "valid_records"))
        with kit.torch_threads(self.threads), kit.seeded(int(self.seed)):
            coding = learn_input_coding(
                train_table, [*names[0], *names[1]], names[2], self.unseen_categories
            )
            with kit.frozen(surrogate.module):
                train_set, valid_set = mt.fit_samples(
                    (train_records, train_table),
                    valid,
                    coding,
                    surrogate,
                    flux_names,
                    valid_fraction=self.valid_fraction,
                    seed=int(self.seed),
                )
                variance = mt.flux_variance(train_set, flux_names)
                loss_settings = mt.LossSettings(
                    variance=torch.as_tensor(variance, dtype=torch.float32),
                    weights=torch.as_tensor(weights, dtype=torch.float32),
                    correlation_weight=float(self.correlation_weight),
                )
                encoder = self._build_encoder(coding, len(learned))
                settings = mt.TrainSettings(
                    learning_rate=float(self.learning_rate),
                    weight_decay=float(self.weight_decay),
                    max_epochs=int(self.max_epochs),
                    patience=int(self.patience),
                    batch_size=int(self.batch_size),
                    steps_per_sample=int(self.steps_per_sample),
                    seed=int(self.seed),
                    progress=bool(self.progress),
                    label=type(self).__name__,
                    flux_names=flux_names,
                )
                stopped = mt.train(
                    encoder,
                    ParameterMerge(specs, learned, fixed),
                    surrogate.module,
                    train_set,
                    valid_set,
                    loss_settings,
                    settings,
                )
        log.info(
            "%s: %d epochs, best %d (loss %.4f on %s)",
            type(self).__name__,
            stopped.epochs_run,
            stopped.best_epoch,
            stopped.best_score,
            "validation" if valid_set is not None else "training",
        )
        self.coding_ = coding
        self.encoder_ = encoder.eval()
        self.parameter_specs_ = specs
        self.learned_parameters_ = learned
        self.fixed_parameters_ = fixed
        self.flux_names_ = flux_names
        self.flux_variance_ = [float(v) for v in variance]
        self.history_ = stopped.history
        self.best_epoch_ = stopped.best_epoch
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

    def _build_encoder(self, coding: CovariateEncoder, n_outputs: int) -> kit.MLPParameterEncoder:
        return kit.MLPParameterEncoder.for_coding(coding, n_outputs, self)

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
        records = record_list(records, "records", allow_empty=True)
        sites = [str(r.site) for r in records]
        table = input_table(records, *self._input_names(), "records")
        return self._frame(sites, self._unit_table(table, sites, "records"))

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
        continuous, categories, usable = encode_inputs(self.coding_, table, ids, role)
        merge = ParameterMerge(
            self.parameter_specs_, self.learned_parameters_, self.fixed_parameters_
        )
        with kit.torch_threads(self.threads), torch.no_grad():
            unit = merge(kit.encode_padded(self.encoder_.eval(), continuous, categories))
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
        table = flat_table(self.coding_, X[rows], class_tables(self.class_codes))
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
                units=INPUT_UNITS.get(name, ""),
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
        coding_tensors, coding_json = coding_state(self.coding_)
        tensors = {**kit.state_tensors(self.encoder_, "encoder."), **coding_tensors}
        state = {
            **coding_json,
            "parameter_specs": [spec_dict(s) for s in self.parameter_specs_],
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
        model = cls(**cls.upgrade_params(params, source="geosoil.hyperparameters"))
        coding = coding_from_state(tensors, state, model.unseen_categories)
        learned = list(state["learned_parameters"])
        encoder = model._build_encoder(coding, len(learned))
        kit.load_encoder_state(encoder, tensors, others={"coding.mean", "coding.scale"})
        model.coding_ = coding
        model.encoder_ = encoder.eval()
        model.parameter_specs_ = tuple(ParameterSpec(**s) for s in state["parameter_specs"])
        model.learned_parameters_ = learned
        model.fixed_parameters_ = {k: float(v) for k, v in state["fixed_parameters"].items()}
        model.flux_names_ = list(state["flux_names"])
        model.flux_variance_ = [float(v) for v in state["flux_variance"]]
        model.history_ = kit.history_from_state(state["history"])
        model.best_epoch_ = int(state["best_epoch"])
        model.feature_names_in_ = coding.names
        model.n_train_ = int(state["n_train"])
        model.n_valid_ = int(state["n_valid"])
        return model
