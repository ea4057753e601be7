"""BINN: covariates -> 21 CLM5 parameters -> steady-state SOC profiles.

BINN (Xu et al. 2025, arXiv:2502.00672) maps each site's covariates through a network to the
parameters of the CLM5 matrix soil-carbon model (:mod:`geosoil.process`); the model's steady
state gives a SOC profile that is compared with the observations at their depths.
:class:`~geosoil.models.soc.sciren.ScIReN` is the same estimator with a Kolmogorov-Arnold encoder
(:mod:`geosoil.models.soc.kan`) in place of the MLP, so that each covariate -> parameter function
can be read off. Inputs are checked in :mod:`~geosoil.models.soc.inputs`; the encoders and
the training loop live in :mod:`~geosoil.models.soc.training`.

The hybrid is a composition: ``encoder`` (covariates -> k unit values) ->
:func:`~geosoil.process.merge_parameters` (learned and fixed -> 21 physical values) ->
:func:`~geosoil.process.steady_state` -> :func:`~geosoil.process.interpolate_to_depths`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from geosoil.errors import ConfigError, SampleDataError
from geosoil.io.profiles import FORCING_SHAPES, ProfileSet
from geosoil.models import training as kit
from geosoil.models.base import GeoSoilEstimator, check_choice, check_whole
from geosoil.models.encoding import CovariateEncoder
from geosoil.models.registry import register
from geosoil.models.soc import training as bt
from geosoil.models.soc.inputs import (
    check_profile_settings,
    covariate_names,
    encode_profiles,
    forcings_from_profiles,
    learn_coding,
    resolve_parameters,
    scaled_medians,
    usable_profiles,
)
from geosoil.process import (
    BULK_PROCESS_NAMES,
    CLM5_PARAMETERS,
    PARAMETER_NAMES,
    Clm5Forcings,
    Clm5SteadyState,
    bulk_processes,
    interpolate_to_depths,
    merge_parameters,
    soc_stock_kg_m2,
    steady_state,
)
from geosoil.process.clm5_grid import N_LAYERS, ZSOI_M
from geosoil.specs import InputLayer, InputSpec, OutputSpec
from geosoil.trust.conformal import ConformalCalibration
from geosoil.trust.profiles import BOUNDS_PROPAGATION, layer_bounds

__all__ = ["BINN", "DTYPES", "STOCK_COLUMNS", "layer_stocks"]

log = logging.getLogger(__name__)

STOCK_COLUMNS = ("soc_stock_0_30cm_kg_m2", "soc_stock_0_100cm_kg_m2")
_STOCK_DEPTHS_M = (0.3, 1.0)
# The layer densities, as extra columns of one member's stocks when bounds need them.
_LAYER_COLUMNS = tuple(f"soc_g_c_m3_layer{k + 1:02d}" for k in range(N_LAYERS))
# Profiles per steady-state solve at prediction (memory ~ n x 140 x 140 x 8 bytes).
# Member k of an ensemble (n_members > 1) is seeded seed + k * MEMBER_SEED_STEP.
MEMBER_SEED_STEP = 1000
_PREDICT_BATCH = 256
DTYPES = {"float64": torch.float64, "float32": torch.float32}
_FORCING_UNITS = {
    "inputs_cwd": "g C m-2 month-1",
    "inputs_litter1": "g C m-2 month-1",
    "inputs_litter2": "g C m-2 month-1",
    "inputs_litter3": "g C m-2 month-1",
    "altmax_lastyear": "m",
    "altmax_current": "m",
    "nbedrock": "layer index",
    "soil_temp_k": "K",
    "sand": "%",
}
_BULK_UNITS = {
    "carbon_transfer_efficiency": "1",
    "baseline_decomposition_per_yr": "yr-1",
    "environmental_modifier": "1",
    "input_allocation_top30cm": "1",
    "vertical_transport": "1",
}


@register
class BINN(GeoSoilEstimator):
    """Biogeochemistry-informed neural network: covariates -> CLM5 parameters -> SOC.

    Parameters
    ----------
    hidden_layers, embedding_dim, dropout
        MLP widths (SiLU, dropout, no BatchNorm), and the embedding width of each
        categorical covariate (one table per column).
    learning_rate, weight_decay
        AdamW settings.
    lr_schedule
        ``"constant"`` (default), ``"plateau"`` (halve the learning rate after 3 epochs
        without a better monitored NSE) or ``"cosine"`` (cosine decay to 0 over
        ``max_epochs``); early stopping keeps the best epoch in every case.
    batch_size
        Profiles per step; a last batch of one profile is merged into the one before.
    max_epochs, patience
        Training length; stop after ``patience`` epochs without a better validation NSE.
    valid_fraction
        Share of the profiles held out for model selection when ``fit`` gets no ``valid``
        set (none below 10 profiles: the training NSE is monitored then).
    seed
        Seeds initialization, dropout, the validation split and the batch order.
    n_members
        Networks in a seed ensemble (issue 17b). Member ``k`` is a whole fit of this model
        with seed ``seed + 1000 k`` (its own initialization, validation split and batch
        order), so member 0 is the single model. Predictions (SOC, stocks, bulk processes,
        parameters, partial dependence, ScIReN's read-out) are the members' means. 1 (the
        default) is a single network.
    penalty_weight
        Weight of the cosh penalty ``mean(cosh(10 (u - 1/2))) - 1`` over the learned unit
        parameters ``u`` (before scaling to the bounds). It is 0 at mid-range, 0.03 at
        u = 0.25 and 73 at a bound: it keeps parameters off the bounds, where the sigmoid
        saturates, and barely touches them elsewhere.
    learned_parameters
        Names of the learned CLM5 parameters; None learns every parameter not in
        ``fixed_parameters``.
    fixed_parameters
        Name -> physical value of parameters held fixed, checked against their bounds.
        Parameters neither learned nor given here are fixed at the middle of their bounds.
    covariates
        Covariate columns to use; None uses every column of the training profiles.
    scale_from
        Min-max scaling of continuous covariates: ``"training"`` (the training profiles'
        minimum and maximum) or ``"ranges"`` (their ``covariate_ranges``, as the BINN code;
        binn_ny's are global ranges, which squeeze New York into a sliver of [0, 1]).
    unseen_categories
        A categorical code not seen in training: ``"error"`` (default) refuses it, naming
        the column and codes; ``"mean"`` gives it the training mix (the frequency-weighted
        mean embedding; for the KAN an all-zero one-hot row).
    drop_empty
        Drop training profiles without a valid observation (logged) instead of refusing.
    below_column
        Observations deeper than the CLM5 column (8.6 m): ``"error"`` refuses them,
        ``"ignore"`` leaves them out of the loss and the metrics.
    encoder
        ``"mlp"`` (BINN) or ``"kan"`` (ScIReN's encoder with its default settings).
    dtype
        ``"float64"`` (default: the CLM5 system can be ill-conditioned in float32) or
        ``"float32"``, for the network and the process model.
    threads
        Torch threads while fitting and predicting (restored afterwards); None keeps them.
    progress
        Show a progress bar over epochs.

    Notes
    -----
    Covariates: every continuous one (``Lon``/``Lat`` included) is min-max scaled to [0, 1]
    as ``scale_from`` says and clipped to [0, 1], so cells outside the training range get
    the edge value.

    Loss: mean over every valid observation in the batch of ``((sim - obs) / s)^2``, SOC in
    g C m-3 and ``s`` the standard deviation of all training observations, so the misfit is
    about ``1 - NSE``; plus the cosh penalty (and, for the KAN, its sparsity term).

    Learned state: ``coding_``, ``encoder_``, ``learned_parameters_``, ``fixed_parameters_``
    (every non-learned parameter, physical), ``soc_scale_``, ``history_`` (one row per
    epoch: ``train_loss``, ``train_misfit``, ``train_penalty``, ``valid_nse``, ``seconds``),
    ``best_epoch_``, ``feature_names_in_``, ``reference_`` (scaled medians, category modes),
    ``n_train_``, ``n_valid_``. With ``n_members > 1`` these are member 0's, and
    ``encoders_`` and ``member_best_epochs_`` hold every member's encoder and best epoch.
    """

    registry_name: ClassVar[str] = "binn"

    def __init__(
        self,
        *,
        hidden_layers: Sequence[int] = (128, 128),
        embedding_dim: int = 4,
        dropout: float = 0.1,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        lr_schedule: str = "constant",
        batch_size: int = 32,
        max_epochs: int = 200,
        patience: int = 20,
        valid_fraction: float = 0.1,
        seed: int = 0,
        n_members: int = 1,
        penalty_weight: float = 1e-3,
        learned_parameters: Sequence[str] | None = None,
        fixed_parameters: Mapping[str, float] | None = None,
        covariates: Sequence[str] | None = None,
        scale_from: str = "training",
        unseen_categories: str = "error",
        drop_empty: bool = False,
        below_column: str = "error",
        encoder: str = "mlp",
        dtype: str = "float64",
        threads: int | None = None,
        progress: bool = False,
    ) -> None:
        self._store_params(locals())

    # ------------------------------------------------------------------ fitting
    def fit(self, profiles: ProfileSet, *, valid: ProfileSet | None = None) -> BINN:
        """Learn the encoder from SOC profiles; returns self.

        Parameters
        ----------
        profiles
            Training profiles with covariates, forcings and observations.
        valid
            Profiles for model selection; None holds out ``valid_fraction`` of ``profiles``.

        Raises
        ------
        ConfigError
            A hyperparameter is invalid (``field`` names it).
        SampleDataError
            No observations, empty profiles (without ``drop_empty``), depths below the
            column (without ``below_column="ignore"``), missing covariates or forcings.
        CovariateError
            A chosen covariate is missing, or ``valid`` holds unseen categorical codes.
        """
        self._check_settings()
        if self.n_members > 1:
            return self._fit_members(profiles, valid)
        learned, fixed = resolve_parameters(self.learned_parameters, self.fixed_parameters)
        dtype = DTYPES[self.dtype]
        cleaning = {"below_column": self.below_column, "drop_empty": self.drop_empty}
        profiles = usable_profiles(profiles, "profiles", **cleaning)
        valid = usable_profiles(valid, "valid", **cleaning) if valid is not None else None
        names = covariate_names(profiles, self.covariates)
        with kit.torch_threads(self.threads), kit.seeded(self.seed):
            coding = learn_coding(
                profiles, names, unseen=self.unseen_categories, scale_from=self.scale_from
            )
            train_set, valid_set = self._split(profiles, valid)
            train_data = self._data(train_set, coding, dtype)
            valid_data = self._data(valid_set, coding, dtype) if valid_set is not None else None
            soc = train_data.soc[torch.isfinite(train_data.soc)]
            soc_scale = float(soc.std(unbiased=False)) or 1.0
            encoder = self._build_encoder(coding, len(learned)).to(dtype)
            settings = bt.TrainSettings(
                learning_rate=self.learning_rate,
                lr_schedule=self.lr_schedule,
                weight_decay=self.weight_decay,
                batch_size=int(self.batch_size),
                max_epochs=int(self.max_epochs),
                patience=int(self.patience),
                penalty_weight=float(self.penalty_weight),
                soc_scale=soc_scale,
                seed=int(self.seed),
                progress=bool(self.progress),
                label=type(self).__name__,
            )
            simulate = _simulator(learned, fixed)
            stopped = bt.train(
                encoder, simulate, train_data, valid_data, settings, predict_batch=_PREDICT_BATCH
            )
        log.info(
            "%s: %d epochs, best %d (NSE %.3f on %s profiles)",
            type(self).__name__,
            stopped.epochs_run,
            stopped.best_epoch,
            stopped.best_score,
            "validation" if valid_data is not None else "training",
        )
        medians, modes = scaled_medians(coding, profiles)
        self.coding_ = coding
        self.encoder_ = encoder
        self.learned_parameters_ = learned
        self.fixed_parameters_ = fixed
        self.soc_scale_ = soc_scale
        self.history_ = stopped.history
        self.best_epoch_ = stopped.best_epoch
        self.feature_names_in_ = coding.names
        self.reference_ = {"medians": medians.tolist(), "modes": modes.tolist()}
        self.n_train_ = len(train_data)
        self.n_valid_ = len(valid_data) if valid_data is not None else 0
        self.encoders_ = [encoder]
        self.member_best_epochs_ = [stopped.best_epoch]
        return self

    def _fit_members(self, profiles: ProfileSet, valid: ProfileSet | None) -> BINN:
        """Fit ``n_members`` single models with seeds ``seed + 1000 k``; keep member 0's
        state and every member's encoder."""
        members = []
        for k in range(self.n_members):
            seed = self.seed + k * MEMBER_SEED_STEP
            log.info(
                "%s ensemble member %d of %d (seed %d)",
                type(self).__name__,
                k + 1,
                self.n_members,
                seed,
            )
            single = type(self)(**{**self.get_params(), "n_members": 1, "seed": seed})
            members.append(single.fit(profiles, valid=valid))
        for name, value in vars(members[0]).items():
            if name.endswith("_") and not name.startswith("_"):
                setattr(self, name, value)
        self.encoders_ = [m.encoder_ for m in members]
        self.member_best_epochs_ = [m.best_epoch_ for m in members]
        return self

    def _averaged(self, compute, *args, columns: Sequence[str] | None = None):
        """``compute(*args)`` with each member's encoder in turn, averaged over members.

        Arrays are averaged whole; DataFrames in ``columns`` (None: all), the other
        columns taken from member 0.
        """
        self._check_fitted()
        encoders = getattr(self, "encoders_", None) or [self.encoder_]
        if len(encoders) == 1:
            return compute(*args)
        first, parts = self.encoder_, []
        try:
            for encoder in encoders:
                self.encoder_ = encoder
                parts.append(compute(*args))
        finally:
            self.encoder_ = first
        if not isinstance(parts[0], pd.DataFrame):
            return np.mean(parts, axis=0)
        out = parts[0].copy()
        for name in out.columns if columns is None else columns:
            out[name] = np.mean([part[name].to_numpy() for part in parts], axis=0)
        return out

    def _check_settings(self) -> None:
        check_choice(self.dtype, tuple(DTYPES), "params.dtype")
        check_choice(self.encoder, ("mlp", "kan"), "params.encoder")
        check_choice(self.lr_schedule, bt.LR_SCHEDULES, "params.lr_schedule")
        check_profile_settings(self)
        for name in ("batch_size", "max_epochs", "patience", "n_members"):
            check_whole(getattr(self, name), name)

    def _split(
        self, profiles: ProfileSet, valid: ProfileSet | None
    ) -> tuple[ProfileSet, ProfileSet | None]:
        """Training and validation profiles: ``valid`` if given, else a seeded hold-out."""
        n = profiles.n_profiles
        if valid is not None or self.valid_fraction == 0 or n < 10:
            return profiles, valid
        order = np.random.default_rng(self.seed).permutation(n)
        n_valid = max(1, round(float(self.valid_fraction) * n))
        return profiles.subset(np.sort(order[n_valid:])), profiles.subset(np.sort(order[:n_valid]))

    def _data(
        self, profiles: ProfileSet, coding: CovariateEncoder, dtype: torch.dtype
    ) -> bt.TrainingData:
        continuous, categories = encode_profiles(coding, profiles)
        return bt.TrainingData(
            continuous=continuous.to(dtype),
            categories=categories,
            forcings=forcings_from_profiles(profiles, dtype=dtype),
            soc=torch.as_tensor(np.asarray(profiles.soc, dtype=np.float64)).to(dtype),
            depth_m=torch.as_tensor(np.asarray(profiles.depth_m, dtype=np.float64)).to(dtype),
        )

    def _build_encoder(self, coding: CovariateEncoder, n_outputs: int) -> torch.nn.Module:
        if self.encoder == "kan":
            return bt.KANParameterEncoder(
                len(coding.continuous),
                [coding.frequency[name] for name in coding.categorical],
                n_outputs,
                hidden=getattr(self, "kan_hidden", None),
                grid_size=getattr(self, "grid_size", 5),
                order=getattr(self, "order", 3),
                output=getattr(self, "output", "sigmoid"),
                sparsity_weight=getattr(self, "sparsity_weight", 0.0),
                seed=int(self.seed),
            )
        return kit.MLPParameterEncoder.for_coding(coding, n_outputs, self)

    # --------------------------------------------------------------- prediction
    def _unit(self, profiles: ProfileSet) -> torch.Tensor:
        """Learned unit parameters (n, k), eval mode, independent of the other rows."""
        self._check_fitted()
        continuous, categories = encode_profiles(self.coding_, profiles)
        dtype = DTYPES[self.dtype]
        self.encoder_.eval()
        with torch.no_grad(), kit.torch_threads(self.threads):
            return kit.encode_padded(self.encoder_, continuous.to(dtype), categories)

    def _physical(self, unit: torch.Tensor) -> torch.Tensor:
        return merge_parameters(unit, self.learned_parameters_, self.fixed_parameters_)

    def _states(self, profiles: ProfileSet) -> Iterator[Clm5SteadyState]:
        """Steady states of consecutive chunks of the profiles, in order."""
        physical = self._physical(self._unit(profiles))
        forcings = forcings_from_profiles(profiles, dtype=physical.dtype)
        with torch.no_grad(), kit.torch_threads(self.threads):
            for start in range(0, profiles.n_profiles, _PREDICT_BATCH):
                rows = slice(start, start + _PREDICT_BATCH)
                yield steady_state(physical[rows], forcings.select(rows))

    def predict_parameters(self, profiles: ProfileSet) -> pd.DataFrame:
        """Physical values of the 21 CLM5 parameters, one row per profile (index: id)."""
        return self._averaged(self._member_parameters, profiles)

    def _member_parameters(self, profiles: ProfileSet) -> pd.DataFrame:
        physical = self._physical(self._unit(profiles)).numpy().astype(np.float64)
        index = pd.Index(profiles.profile_id, name="profile_id")
        return pd.DataFrame(physical, columns=list(PARAMETER_NAMES), index=index)

    def predict_layers(self, profiles: ProfileSet) -> np.ndarray:
        """SOC density (n, 20) in g C m-3 in the 20 CLM5 layers (zero in bedrock)."""
        return self._averaged(self._member_layers, profiles)

    def _member_layers(self, profiles: ProfileSet) -> np.ndarray:
        parts = [state.soc_gc_m3 for state in self._states(profiles)]
        if not parts:
            return np.zeros((0, 20))
        return torch.cat(parts).numpy().astype(np.float64)

    def predict(self, profiles: ProfileSet, depths: np.ndarray | None = None) -> np.ndarray:
        """SOC density (g C m-3) at the profiles' observation depths or at ``depths``.

        Parameters
        ----------
        profiles
            Profiles or prediction cells (with covariates and forcings).
        depths
            None for ``profiles.depth_m``; a (m,) vector of depths (m) for every profile,
            or an (n, m) array. NaN depths give NaN, as do depths below 8.6 m.

        Returns
        -------
        ndarray
            (n, m) float64, NaN where the depth is NaN or below the column.
        """
        self._check_fitted()
        if depths is None:
            if profiles.depth_m is None:
                raise SampleDataError(
                    "these profiles have no observation depths to predict at",
                    field="depths",
                    fix="pass depths (m), e.g. np.array([0.05, 0.3, 1.0])",
                )
            depths = profiles.depth_m
        depths = np.asarray(depths, dtype=np.float64)
        if depths.ndim == 1:
            depths = np.broadcast_to(depths, (profiles.n_profiles, len(depths)))
        if depths.ndim != 2 or depths.shape[0] != profiles.n_profiles:
            raise SampleDataError(
                f"depths have shape {depths.shape}, expected (m,) or ({profiles.n_profiles}, m)",
                field="depths",
                fix="give one row of depths (m) per profile, or one vector for all",
            )
        layers = torch.as_tensor(self.predict_layers(profiles))
        sim = interpolate_to_depths(layers, torch.as_tensor(depths.copy()), below_column="nan")
        return sim.numpy()

    def predict_stocks(self, profiles: ProfileSet) -> pd.DataFrame:
        """SOC stocks to 0.3 and 1 m (kg C m-2) and the five bulk processes, one row each."""
        return self._averaged(self._member_stocks, profiles)

    def _member_stocks(self, profiles: ProfileSet, with_layers: bool = False) -> pd.DataFrame:
        """Stocks and bulk processes; with the 20 layer densities too (``_LAYER_COLUMNS``)."""
        parts = []
        for state in self._states(profiles):
            columns = {
                name: state.soc_stock_kg_m2(depth)
                for name, depth in zip(STOCK_COLUMNS, _STOCK_DEPTHS_M, strict=True)
            }
            columns.update(bulk_processes(state))
            if with_layers:
                columns.update(zip(_LAYER_COLUMNS, state.soc_gc_m3.T, strict=True))
            parts.append({k: v.numpy().astype(np.float64) for k, v in columns.items()})
        names = [*STOCK_COLUMNS, *BULK_PROCESS_NAMES, *(_LAYER_COLUMNS if with_layers else ())]
        data = {n: np.concatenate([p[n] for p in parts]) if parts else [] for n in names}
        return pd.DataFrame(data, index=pd.Index(profiles.profile_id, name="profile_id"))

    # ------------------------------------------------------------ flat mapping
    # The mapping engine reads a flat (pixels, inputs) matrix of named raster layers; these
    # three methods declare that interface (see geosoil.mapping.predictors.FlatMapper).
    def map_inputs(self) -> list[str]:
        """Layer names of :meth:`predict_flat`'s columns: covariates, then forcing values.

        The covariates in the model's order, then the 1,273 forcing values of a pixel named
        as in :func:`geosoil.io.profiles.forcing_band_names` (``inputs_cwd_m01``,
        ``nbedrock``, ``soil_temp_k_l01_m01``, ...), the names ``forcings.yaml`` gives them.
        """
        from geosoil.io.profiles import forcing_band_names

        self._check_fitted()
        return [*self.coding_.names, *forcing_band_names()]

    def map_outputs(self) -> OutputSpec:
        """Names and units of :meth:`predict_flat`'s columns.

        SOC stocks to 0.3 and 1 m, the learned CLM5 parameters (fixed ones are constant
        and recorded in the artifact), and the five bulk processes.
        """
        self._check_fitted()
        units = {p.name: p.unit for p in CLM5_PARAMETERS}
        names = [*STOCK_COLUMNS, *self.learned_parameters_, *BULK_PROCESS_NAMES]
        unit_list = (
            ["kg C m-2"] * len(STOCK_COLUMNS)
            + [units[n] for n in self.learned_parameters_]
            + [_BULK_UNITS[n] for n in BULK_PROCESS_NAMES]
        )
        return OutputSpec(names=names, units=unit_list)

    def predict_flat(self, X: np.ndarray) -> np.ndarray:
        """Stocks, learned parameters and bulk processes from a flat input matrix.

        Parameters
        ----------
        X
            (n, len(map_inputs())) covariates then forcing values, every entry finite;
            categorical codes as whole numbers.

        Returns
        -------
        ndarray
            (n, len(map_outputs().names)) float64, columns in :meth:`map_outputs` order.
            Each row depends on its own inputs only.

        Raises
        ------
        SampleDataError
            Wrong number of columns, or a categorical code or ``nbedrock`` that is not a
            whole number.
        CovariateError
            A categorical code unseen in training (with ``unseen_categories="error"``).
        """
        profiles = self._flat_profiles(X)
        if not profiles.n_profiles:
            return np.zeros((0, len(self.map_outputs().names)))
        return np.column_stack(self._flat_columns(self.predict_stocks(profiles), profiles))

    def map_bounded_outputs(self) -> dict[str, str]:
        """The :meth:`map_outputs` that :meth:`predict_flat_bounds` bounds (the two stocks),
        each with how its bounds are computed. Parameters and processes get none."""
        return dict.fromkeys(STOCK_COLUMNS, BOUNDS_PROPAGATION)

    def predict_flat_bounds(
        self, X: np.ndarray, calibration: ConformalCalibration, *, level: float = 0.9
    ) -> np.ndarray:
        """:meth:`predict_flat`'s columns, then the lower and upper bound of each
        :meth:`map_bounded_outputs` in turn, from one steady-state solve per batch.

        The bounds are ``geosoil soc-cells``' (:func:`~geosoil.trust.profiles.layer_bounds`
        of the mean layer densities, integrated by :func:`layer_stocks`): the depth-integral
        of pointwise bounds, not a calibrated interval of the stock.
        """
        profiles = self._flat_profiles(X)
        n_columns = len(self.map_outputs().names) + 2 * len(STOCK_COLUMNS)
        if not profiles.n_profiles:
            return np.zeros((0, n_columns))
        stocks = self._averaged(self._member_stocks, profiles, True)
        layers = stocks[list(_LAYER_COLUMNS)].to_numpy()
        low, high = layer_bounds(calibration, layers, np.asarray(ZSOI_M), level=level)
        low, high = layer_stocks(low), layer_stocks(high)
        columns = self._flat_columns(stocks, profiles)
        for name in STOCK_COLUMNS:
            columns += [low[name], high[name]]
        return np.column_stack(columns)

    def _flat_profiles(self, X: np.ndarray) -> ProfileSet:
        """The pixels of a flat input matrix as prediction cells (checked)."""
        from geosoil.io.profiles import forcings_from_bands

        names = self.map_inputs()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(names):
            raise SampleDataError(
                f"flat inputs have shape {X.shape}, expected (n, {len(names)})",
                field="X",
                fix="give the covariates, then the forcing values, in map_inputs() order",
            )
        n_covariates = len(self.coding_.names)
        table = pd.DataFrame(X[:, :n_covariates], columns=self.coding_.names)
        for name in self.coding_.categorical:
            codes = table[name].to_numpy()
            if not np.all(codes == np.round(codes)):
                raise SampleDataError(
                    f"categorical covariate {name} holds non-integer codes",
                    field=f"covariates.{name}",
                    fix="read class layers with nearest or mode resampling",
                )
            table[name] = codes.astype(np.int64)
        return ProfileSet(
            profile_id=np.arange(len(X), dtype=np.int64),
            covariates=table,
            forcings=forcings_from_bands(X[:, n_covariates:]),
            categorical=list(self.coding_.categorical),
        )

    def _flat_columns(self, stocks: pd.DataFrame, profiles: ProfileSet) -> list[np.ndarray]:
        """:meth:`map_outputs`' columns from :meth:`predict_stocks`' table."""
        parameters = self.predict_parameters(profiles)[self.learned_parameters_]
        return [
            *(stocks[n].to_numpy() for n in STOCK_COLUMNS),
            *(parameters[n].to_numpy() for n in self.learned_parameters_),
            *(stocks[n].to_numpy() for n in BULK_PROCESS_NAMES),
        ]

    # ---------------------------------------------------------------- read-outs
    def partial_dependence(
        self, covariate: str, parameter: str, grid: Sequence[float] | np.ndarray | None = None
    ) -> pd.DataFrame:
        """A learned parameter along one continuous covariate, the others at their medians.

        Parameters
        ----------
        covariate
            A continuous covariate the model reads.
        parameter
            A learned CLM5 parameter.
        grid
            Covariate values in its own units; 101 points over the scaling range when None.
            Values outside the range are clipped like any input.

        Returns
        -------
        pandas.DataFrame
            Columns ``covariate``, ``parameter``, ``x`` (covariate units), ``x_scaled``
            and ``value`` (the physical parameter). Other continuous covariates sit at the
            training median of their scaled values, categorical ones at their most frequent
            code.
        """
        return self._averaged(
            self._member_partial_dependence, covariate, parameter, grid, columns=["value"]
        )

    def _member_partial_dependence(self, covariate, parameter, grid) -> pd.DataFrame:
        self._check_fitted()
        coding = self.coding_
        if covariate not in coding.continuous:
            raise ConfigError(
                f"{covariate!r} is not a continuous covariate of this model",
                field="covariate",
                fix=f"choose among {coding.continuous}",
            )
        self._check_learned(parameter)
        i = coding.continuous.index(covariate)
        low, high = float(coding.low[i]), float(coding.high[i])
        x = np.linspace(low, high, 101) if grid is None else np.asarray(grid, dtype=np.float64)
        span = high - low if high > low else 1.0
        scaled = np.clip((x - low) / span, 0.0, 1.0)
        dtype = DTYPES[self.dtype]
        continuous = torch.tensor(self.reference_["medians"], dtype=dtype).repeat(len(x), 1)
        continuous[:, i] = torch.as_tensor(scaled, dtype=dtype)
        modes = torch.tensor(self.reference_["modes"], dtype=torch.long).reshape(1, -1)
        with torch.no_grad():
            unit = kit.encode_padded(self.encoder_.eval(), continuous, modes.repeat(len(x), 1))
        value = self._physical(unit)[:, PARAMETER_NAMES.index(parameter)]
        return pd.DataFrame(
            {
                "covariate": covariate,
                "parameter": parameter,
                "x": x,
                "x_scaled": scaled,
                "value": value.numpy().astype(np.float64),
            }
        )

    def _check_learned(self, parameter: str) -> None:
        if parameter not in self.learned_parameters_:
            raise ConfigError(
                f"{parameter!r} is not a learned parameter of this model",
                field="parameter",
                fix=f"choose among {self.learned_parameters_}",
            )

    # ----------------------------------------------------------------- artifact
    def input_spec(self) -> InputSpec:
        """Covariate layers, then the forcings the model needs as ``forcings.<name>``."""
        self._check_fitted()
        layers = [
            InputLayer(name=name, categorical=name in self.coding_.categorical)
            for name in self.coding_.names
        ]
        layers += [
            InputLayer(name=f"forcings.{name}", units=_FORCING_UNITS.get(name, "1"))
            for name in FORCING_SHAPES
        ]
        return InputSpec(kind="covariates", layers=layers)

    def output_spec(self) -> OutputSpec:
        """SOC density at depth, g C m-3."""
        return OutputSpec(names=["soc"], units=["g C m-3"])

    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors ``encoder.*``, ``coding.low``, ``coding.high``; the rest as JSON."""
        self._check_fitted()
        tensors = kit.state_tensors(self.encoder_, "encoder.")
        for k, encoder in enumerate(getattr(self, "encoders_", [])[1:], start=1):
            tensors.update(kit.state_tensors(encoder, f"member{k}.encoder."))
        tensors["coding.low"] = torch.from_numpy(np.asarray(self.coding_.low, dtype=np.float64))
        tensors["coding.high"] = torch.from_numpy(np.asarray(self.coding_.high, dtype=np.float64))
        state = {
            "continuous": self.coding_.continuous,
            "categorical": self.coding_.categorical,
            "codes": self.coding_.labels,
            "frequency": self.coding_.frequency,
            "learned_parameters": self.learned_parameters_,
            "fixed_parameters": self.fixed_parameters_,
            "soc_scale": self.soc_scale_,
            "best_epoch": self.best_epoch_,
            "member_best_epochs": getattr(self, "member_best_epochs_", [self.best_epoch_]),
            "history": self.history_,
            "reference": self.reference_,
            "n_train": self.n_train_,
            "n_valid": self.n_valid_,
        }
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> BINN:
        """Rebuild a fitted model from :meth:`export_state`'s tensors and JSON."""
        model = cls(**params)
        coding = CovariateEncoder(
            continuous=list(state["continuous"]),
            categorical=list(state["categorical"]),
            labels={k: [int(c) for c in v] for k, v in state["codes"].items()},
            frequency={k: [float(f) for f in v] for k, v in state["frequency"].items()},
            unseen=model.unseen_categories,
            scaling="minmax",
            low=tensors["coding.low"].numpy(),
            high=tensors["coding.high"].numpy(),
        )
        learned = list(state["learned_parameters"])
        encoders, used = [], {"coding.low", "coding.high"}
        for k in range(1, int(model.n_members)):
            member = model._build_encoder(coding, len(learned)).to(DTYPES[model.dtype])
            used |= kit.load_prefixed(member, tensors, f"member{k}.encoder.")
            encoders.append(member.eval())
        encoder = model._build_encoder(coding, len(learned)).to(DTYPES[model.dtype])
        kit.load_encoder_state(encoder, tensors, others=used)
        model.coding_ = coding
        model.encoder_ = encoder.eval()
        model.learned_parameters_ = learned
        model.fixed_parameters_ = {k: float(v) for k, v in state["fixed_parameters"].items()}
        model.soc_scale_ = float(state["soc_scale"])
        model.history_ = kit.history_from_state(state["history"])
        model.best_epoch_ = int(state["best_epoch"])
        model.encoders_ = [model.encoder_, *encoders]
        model.member_best_epochs_ = [int(e) for e in state.get("member_best_epochs", [])] or [
            model.best_epoch_
        ]
        model.feature_names_in_ = coding.names
        model.reference_ = dict(state["reference"])
        model.n_train_ = int(state["n_train"])
        model.n_valid_ = int(state["n_valid"])
        return model


def layer_stocks(layers_gc_m3: np.ndarray) -> dict[str, np.ndarray]:
    """:data:`STOCK_COLUMNS` (kg C m-2) of (n, 20) CLM5 layer densities (g C m-3).

    Summed row-major whatever the input's layout (a column-major table's rows would be summed
    in an order that depends on how many rows a batch holds).
    """
    layers = torch.as_tensor(np.ascontiguousarray(layers_gc_m3))
    return {
        name: soc_stock_kg_m2(layers, depth).numpy()
        for name, depth in zip(STOCK_COLUMNS, _STOCK_DEPTHS_M, strict=True)
    }


def _simulator(learned: list[str], fixed: dict[str, float]):
    """``simulate(unit, forcings, depth_m)``: SOC (g C m-3) at the depths, differentiable."""

    def simulate(unit: torch.Tensor, forcings: Clm5Forcings, depth_m: torch.Tensor):
        state = steady_state(merge_parameters(unit, learned, fixed), forcings)
        return interpolate_to_depths(state.soc_gc_m3, depth_m, below_column="nan")

    return simulate
