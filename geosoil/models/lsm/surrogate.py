"""A multi-task neural surrogate of a land surface model (MdPL step 1).

The parameter generator of MdPL trains through the simulator thousands of times; the real
model is a time loop, the surrogate is one batched forward pass. This module holds the
network (:class:`LsmSurrogate`), its accuracy measure (:func:`flux_accuracy`) and the
trained result (:class:`FittedSurrogate`); :func:`fit_surrogate` trains one on the
simulator's runs (:mod:`geosoil.models.lsm.surrogate_training`), and the parameter boxes come
from :mod:`geosoil.models.lsm.parameter_sampling`. All of them can be imported from here.

:class:`FittedSurrogate` saves as one geosoil artifact (``.safetensors`` with the JSON
header of :mod:`geosoil.artifacts`, estimator name ``lsm_surrogate``) and refuses to load
for a simulator with other parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from geosoil.artifacts import Provenance, read_header, restore_state, save_artifact
from geosoil.errors import ArtifactError, ConfigError, OutputError, SampleDataError
from geosoil.models.lsm.forcing_windows import (
    WINDOW_VARIABLES,
    FeatureScaler,
    window_feature_names,
    window_features,
)
from geosoil.models.lsm.parameter_sampling import (
    latin_hypercube,
    scale_to_bounds,
    unscale_from_bounds,
)
from geosoil.process.lsm import check_parameter_tensor
from geosoil.process.lsm_forcing import FLUX_NAMES, FORCING_UNITS, LsmForcing
from geosoil.process.parameters import ParameterSpec
from geosoil.specs import InputLayer, InputSpec, OutputSpec

__all__ = [
    "ACTIVATIONS",
    "FittedSurrogate",
    "LsmSurrogate",
    "flux_accuracy",
    "latin_hypercube",
    "scale_to_bounds",
    "unscale_from_bounds",
]

REGISTRY_NAME = "lsm_surrogate"
ACTIVATIONS: dict[str, type[nn.Module]] = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh}
# samples per forward pass when predicting or evaluating
PREDICT_BATCH = 65536


# --------------------------------------------------------------------------- network
class LsmSurrogate(nn.Module):
    """Window features and unit parameters -> one flux per head, in W m-2.

    A shared trunk MLP reads ``[features, parameters_unit]``; each flux has a small head of
    its own. Heads predict normalised fluxes; :meth:`forward` de-normalises with the flux
    mean and SD of the training samples (buffers), so it returns W m-2.

    Parameters
    ----------
    n_features, n_parameters
        Widths of the two inputs.
    hidden
        Widths of the trunk's hidden layers.
    head_width
        Hidden width of each head (0: a linear head).
    activation
        Key of :data:`ACTIVATIONS`; smooth SiLU keeps parameter gradients smooth.
    n_fluxes
        Number of heads (one per entry of ``FLUX_NAMES``).
    """

    def __init__(
        self,
        n_features: int,
        n_parameters: int,
        *,
        hidden: Sequence[int] = (128, 128, 128),
        head_width: int = 64,
        activation: str = "silu",
        n_fluxes: int = len(FLUX_NAMES),
    ) -> None:
        super().__init__()
        self.n_features = int(n_features)
        self.n_parameters = int(n_parameters)
        act = ACTIVATIONS[activation]
        layers: list[nn.Module] = []
        width = self.n_features + self.n_parameters
        for size in hidden:
            layers += [nn.Linear(width, int(size)), act()]
            width = int(size)
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(width, head_width), act(), nn.Linear(head_width, 1))
            if head_width
            else nn.Linear(width, 1)
            for _ in range(n_fluxes)
        )
        self.register_buffer("flux_mean", torch.zeros(n_fluxes))
        self.register_buffer("flux_sd", torch.ones(n_fluxes))

    def forward_normalised(
        self, features: torch.Tensor, parameters_unit: torch.Tensor
    ) -> torch.Tensor:
        """Fluxes in units of their training SD around their training mean, (b, k)."""
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise SampleDataError(
                f"surrogate features have shape {tuple(features.shape)}, expected "
                f"(b, {self.n_features})",
                field="features",
                fix="use FittedSurrogate.features(forcing) and flatten (n, t) to rows",
            )
        if parameters_unit.shape != (features.shape[0], self.n_parameters):
            raise ConfigError(
                f"unit parameters have shape {tuple(parameters_unit.shape)}, expected "
                f"({features.shape[0]}, {self.n_parameters})",
                field="parameters",
                fix="pass one row of unit-scale parameters per feature row",
            )
        shared = self.trunk(torch.cat([features, parameters_unit.to(features.dtype)], dim=1))
        return torch.cat([head(shared) for head in self.heads], dim=1)

    def forward(self, features: torch.Tensor, parameters_unit: torch.Tensor) -> torch.Tensor:
        """Fluxes in W m-2, (b, k); differentiable in ``parameters_unit``."""
        return self.forward_normalised(features, parameters_unit) * self.flux_sd + self.flux_mean


# --------------------------------------------------------------------------- metrics
def flux_accuracy(
    simulated: torch.Tensor, predicted: torch.Tensor, flux_names: Sequence[str] = FLUX_NAMES
) -> dict[str, dict[str, float]]:
    """RMSE (W m-2), R2, Pearson correlation and bias (predicted - simulated) per flux.

    ``simulated`` and ``predicted`` are (N, k); R2 is ``1 - SSE / SST`` against the
    simulated values, NaN where these do not vary.
    """
    out = {}
    for j, name in enumerate(flux_names):
        sim = simulated[:, j].to(torch.float64)
        pred = predicted[:, j].to(torch.float64)
        error = pred - sim
        sst = float(torch.sum((sim - sim.mean()) ** 2))
        spread = float(sim.std() * pred.std()) if len(sim) > 1 else 0.0
        covariance = float(torch.mean((sim - sim.mean()) * (pred - pred.mean())))
        out[name] = {
            "rmse_w_m2": float(torch.sqrt(torch.mean(error**2))),
            "r2": 1.0 - float(torch.sum(error**2)) / sst if sst > 0 else float("nan"),
            "correlation": covariance * len(sim) / (len(sim) - 1) / spread
            if spread > 0
            else float("nan"),
            "bias_w_m2": float(error.mean()),
            "n": len(sim),
        }
    return out


# ------------------------------------------------------------------- fitted surrogate
class FittedSurrogate:
    """A trained surrogate with everything needed to use it on new forcings.

    Attributes
    ----------
    module
        The :class:`LsmSurrogate`: ``module(features (b, f), parameters_unit (b, p))``
        gives (b, 2) W m-2, differentiable in ``parameters_unit``.
    scaler
        The fitted :class:`~geosoil.models.lsm.forcing_windows.FeatureScaler`.
    parameter_specs, parameter_names, flux_names
        The simulator's parameters (names, bounds) and the fluxes, in column order.
    window_steps, antecedent_days, time_step_s
        The window settings and the time step the features were built for.
    accuracy
        Against the simulator on held-out parameter sets: ``overall`` and ``sites`` ->
        flux -> ``rmse_w_m2``, ``r2``, ``correlation``, ``bias_w_m2``, ``n``.
    training
        Provenance: simulator name, sites, history, best epoch, data fingerprint.
    """

    registry_name: ClassVar[str] = REGISTRY_NAME

    def __init__(
        self,
        module: LsmSurrogate,
        scaler: FeatureScaler,
        parameter_specs: Sequence[ParameterSpec],
        *,
        time_step_s: float,
        hyperparameters: dict[str, Any],
        accuracy: dict[str, Any],
        training: dict[str, Any],
        flux_names: Sequence[str] = FLUX_NAMES,
    ) -> None:
        self.module = module.eval()
        self.scaler = scaler
        self.parameter_specs = tuple(parameter_specs)
        self.flux_names = tuple(flux_names)
        self.time_step_s = float(time_step_s)
        self.hyperparameters = dict(hyperparameters)
        self.window_steps = int(hyperparameters["window_steps"])
        self.antecedent_days = tuple(hyperparameters["antecedent_days"])
        self.accuracy = accuracy
        self.training = training
        self.feature_names = window_feature_names(
            window_steps=self.window_steps, antecedent_days=self.antecedent_days
        )
        if len(self.feature_names) != scaler.n_features or module.n_features != scaler.n_features:
            raise ValueError("scaler, network and window settings disagree on the feature count")
        if module.n_parameters != len(self.parameter_specs):
            raise ValueError("the network's parameter width differs from the parameter specs")

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.parameter_specs)

    def __repr__(self) -> str:
        return (
            f"FittedSurrogate(parameters={list(self.parameter_names)}, "
            f"features={len(self.feature_names)}, time_step_s={self.time_step_s:g})"
        )

    # ---------------------------------------------------------------------- use
    def features(self, forcing: LsmForcing) -> torch.Tensor:
        """Scaled window features (n, t, f), float32, ready for :attr:`module`."""
        if not isinstance(forcing, LsmForcing):
            raise SampleDataError(
                f"expected an LsmForcing, got {type(forcing).__name__}",
                field="forcing",
                fix="build the forcing with FluxRecord.to_forcing()",
            )
        if not math.isclose(forcing.time_step_s, self.time_step_s):
            raise SampleDataError(
                f"the forcing has a time step of {forcing.time_step_s:g} s, the surrogate was "
                f"trained on {self.time_step_s:g} s",
                field="forcing.time_step_s",
                fix="resample the forcing to the training step, or train a surrogate for it",
            )
        raw = window_features(
            forcing, window_steps=self.window_steps, antecedent_days=self.antecedent_days
        )
        return self.scaler.transform(raw, torch.float32)

    def predict(self, forcing: LsmForcing, parameters_physical: torch.Tensor) -> torch.Tensor:
        """Surrogate fluxes (n, k, t) in W m-2 for physical parameters (n, p) or (p,).

        The forcing has n rows or one shared row; parameters outside their bounds are
        refused, since the surrogate never saw them.
        """
        params = torch.as_tensor(parameters_physical)
        if params.ndim == 1:
            params = params[None, :]
        owner = f"surrogate of {self.training.get('simulator', 'a simulator')}"
        check_parameter_tensor(params, self.parameter_specs, owner=owner)
        n_rows, n_sets = forcing.shape[0], params.shape[0]
        n = max(n_rows, n_sets)
        if n_rows not in (1, n) or n_sets not in (1, n):
            raise SampleDataError(
                f"{n_rows} forcing rows for {n_sets} parameter sets",
                field="forcing",
                fix="give as many forcing rows as parameter sets, or one of either to share",
            )
        features = self.features(forcing)
        unit = unscale_from_bounds(params.to(torch.float64), self.parameter_specs).float()
        t = features.shape[1]
        self.module.eval()
        out = []
        with torch.no_grad():
            for i in range(n):
                rows = features[i if n_rows > 1 else 0]
                set_unit = unit[i if n_sets > 1 else 0].expand(t, -1)
                parts = [
                    self.module(rows[s : s + PREDICT_BATCH], set_unit[s : s + PREDICT_BATCH])
                    for s in range(0, t, PREDICT_BATCH)
                ]
                out.append(torch.cat(parts).T)
        return torch.stack(out)

    def check_parameter_specs(
        self, specs: Sequence[ParameterSpec], *, path: str | Path | None = None
    ) -> None:
        """Refuse use with a simulator whose parameters differ in names, order or bounds.

        Raises
        ------
        ArtifactError
            ``field="geosoil.fitted_state.parameter_specs"``.
        """
        theirs = [(s.name, s.lower, s.upper) for s in specs]
        ours = [(s.name, s.lower, s.upper) for s in self.parameter_specs]
        same = len(theirs) == len(ours) and all(
            a[0] == b[0] and math.isclose(a[1], b[1]) and math.isclose(a[2], b[2])
            for a, b in zip(theirs, ours, strict=False)
        )
        if not same:
            raise ArtifactError(
                f"the surrogate was trained for parameters {ours}, the simulator has {theirs}",
                path=path,
                field="geosoil.fitted_state.parameter_specs",
                fix="train a new surrogate for this simulator (leave surrogate.path empty) or "
                "point surrogate.path to one trained for these parameters and bounds",
            )

    # ----------------------------------------------------------------- artifact
    def get_params(self) -> dict[str, Any]:
        """Hyperparameters of the fit (the network's among them)."""
        return dict(self.hyperparameters)

    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors ``module.*`` and ``scaler.*``; specs, settings and metrics as JSON."""
        tensors = {f"module.{k}": v for k, v in self.module.state_dict().items()}
        tensors.update(self.scaler.to_tensors("scaler."))
        state = {
            "parameter_specs": [asdict(s) for s in self.parameter_specs],
            "flux_names": list(self.flux_names),
            "feature_names": list(self.feature_names),
            "time_step_s": self.time_step_s,
            "accuracy": self.accuracy,
            "training": self.training,
        }
        return tensors, state

    @classmethod
    def from_state(
        cls, params: dict[str, Any], tensors: dict[str, torch.Tensor], state: dict[str, Any]
    ) -> FittedSurrogate:
        """Rebuild from :meth:`export_state`'s tensors and JSON."""
        specs = tuple(ParameterSpec(**s) for s in state["parameter_specs"])
        flux_names = tuple(state["flux_names"])
        scaler = FeatureScaler.from_tensors(tensors, "scaler.")
        module = LsmSurrogate(
            scaler.n_features,
            len(specs),
            hidden=params["hidden"],
            head_width=params["head_width"],
            activation=params["activation"],
            n_fluxes=len(flux_names),
        )
        weights = {
            k.removeprefix("module."): v for k, v in tensors.items() if k.startswith("module.")
        }
        module.load_state_dict(weights, strict=True)
        if set(tensors) - {f"module.{k}" for k in weights} - {"scaler.mean", "scaler.sd"}:
            raise ValueError("the file holds tensors that belong to no part of the surrogate")
        surrogate = cls(
            module,
            scaler,
            specs,
            time_step_s=state["time_step_s"],
            hyperparameters=params,
            accuracy=state["accuracy"],
            training=state["training"],
            flux_names=flux_names,
        )
        if list(surrogate.feature_names) != list(state["feature_names"]):
            raise ValueError("the stored feature names differ from this geosoil's window features")
        return surrogate

    def save(self, path: str | Path) -> Path:
        """Write the surrogate as one geosoil artifact (``.safetensors``), atomically.

        Raises
        ------
        OutputError
            The folder does not exist or cannot be written.
        """
        path = Path(path)
        if not path.parent.is_dir():
            raise OutputError(
                "the folder for the surrogate does not exist",
                path=path.parent,
                fix="create the folder first or choose another output path",
            )
        units = {name: FORCING_UNITS[name] for name in WINDOW_VARIABLES}
        overall = self.accuracy.get("overall", {})
        try:
            return save_artifact(
                self,
                path,
                input_spec=InputSpec(
                    kind="covariates",
                    layers=[InputLayer(name=k, units=u) for k, u in units.items()],
                ),
                output_spec=OutputSpec(
                    names=list(self.flux_names), units=["W m-2"] * len(self.flux_names)
                ),
                provenance=Provenance(
                    data_fingerprint=self.training.get("data_fingerprint", ""),
                    n_samples=int(self.training.get("n_train_samples", 0)),
                    seed=int(self.hyperparameters.get("seed", 0)),
                    metrics={
                        f"{flux}_{metric}": value
                        for flux, values in overall.items()
                        for metric, value in values.items()
                    },
                ),
            )
        except OSError as err:
            raise OutputError(
                f"the surrogate cannot be written ({err})",
                path=path,
                fix="check the permissions and free space of the output folder",
            ) from err

    @classmethod
    def load(
        cls, path: str | Path, *, parameter_specs: Sequence[ParameterSpec] | None = None
    ) -> FittedSurrogate:
        """Read a surrogate saved by :meth:`save`; nothing is unpickled.

        Parameters
        ----------
        path
            The ``.safetensors`` file.
        parameter_specs
            The simulator's parameters; when given, a surrogate trained for other names,
            order or bounds is refused.

        Raises
        ------
        InputFileNotFoundError
            No file at ``path``.
        ArtifactError
            Not a surrogate artifact, a damaged one, or one for other parameters.
        """
        header = read_header(path)
        path = Path(path)
        if header.estimator != REGISTRY_NAME:
            raise ArtifactError(
                f"the artifact holds a '{header.estimator}' model, not a land-surface surrogate",
                path=path,
                field="geosoil.estimator",
                fix="point to a surrogate saved by fit_surrogate (or leave surrogate.path empty "
                "to train one)",
            )
        surrogate = restore_state(cls, header, path, what="a land-surface surrogate")
        if parameter_specs is not None:
            surrogate.check_parameter_specs(parameter_specs, path=path)
        return surrogate
