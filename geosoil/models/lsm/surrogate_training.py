"""Training the land-surface surrogate on what the simulator itself says (MdPL step 1).

1. at every site, the simulator runs for parameter sets from a Latin hypercube over the
   parameters' bounds (training sets), and for two further, independent hypercubes (sets
   for early stopping and sets for the accuracy report);
2. from each run, ``steps_per_run`` random time steps become samples: the step's window
   features (:mod:`geosoil.models.lsm.forcing_windows`), the parameters in unit scale, and the
   simulated H and LE;
3. a shared trunk with one head per flux learns the normalised fluxes under a weighted
   multi-task MSE, with Adam and early stopping on the stopping sets;
4. accuracy (RMSE, R2, correlation, bias per flux, overall and per site) is measured
   against the simulator on the report sets, which no training decision has seen.

The network and the result, :class:`~geosoil.models.lsm.surrogate.FittedSurrogate`, live in
:mod:`geosoil.models.lsm.surrogate`, which also offers :func:`fit_surrogate`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from geosoil.errors import ConfigError, SampleDataError
from geosoil.models.lsm.forcing_windows import (
    WINDOW_VARIABLES,
    FeatureScaler,
    check_window_settings,
    window_features,
)
from geosoil.models.lsm.parameter_sampling import check_specs, latin_hypercube, scale_to_bounds
from geosoil.models.lsm.simulators import Simulator, SimulatorError
from geosoil.models.lsm.surrogate import (
    ACTIVATIONS,
    PREDICT_BATCH,
    FittedSurrogate,
    LsmSurrogate,
    flux_accuracy,
)
from geosoil.models.training import early_stopping, torch_threads
from geosoil.process.lsm_forcing import FLUX_NAMES, LsmForcing
from geosoil.process.parameters import ParameterSpec

__all__ = ["fit_surrogate"]

log = logging.getLogger(__name__)

# rows per simulator call: bounds the memory of a long record times many parameter sets
_SIMULATION_ROWS = 64
_FIELD = "surrogate.params"


def _child_seed(seed: int, *keys: int) -> int:
    """An independent seed for one (split, site, purpose), reproducible from ``seed``."""
    state = np.random.SeedSequence([seed, *keys]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


@dataclass
class _Samples:
    """Samples of one split: indices into the shared feature table and the split's sets."""

    unit: torch.Tensor  # (S, p) float32, every site's parameter sets stacked
    feature_rows: torch.Tensor  # (N,) rows of the feature table
    parameter_rows: torch.Tensor  # (N,) rows of unit
    site: torch.Tensor  # (N,) site index
    fluxes_w_m2: torch.Tensor  # (N, k) simulated

    def __len__(self) -> int:
        return len(self.feature_rows)

    def inputs(self, table: torch.Tensor, rows: torch.Tensor | slice):
        return table[self.feature_rows[rows]], self.unit[self.parameter_rows[rows]]


def _positive_int(name: str, value: Any, minimum: int = 1, field: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{name}={value!r} must be an integer of at least {minimum}",
            field=field or f"{_FIELD}.{name}",
            fix=f"give {name} as an integer >= {minimum}",
        )
    return value


def _check_forcings(
    forcings: Sequence[LsmForcing], site_names: Sequence[str] | None
) -> tuple[list[LsmForcing], list[str]]:
    forcings = list(forcings) if not isinstance(forcings, LsmForcing) else [forcings]
    if not forcings:
        raise SampleDataError(
            "no site forcings to train the surrogate on",
            field="forcings",
            fix="give one LsmForcing per site (FluxRecord.to_forcing())",
        )
    for i, forcing in enumerate(forcings):
        if not isinstance(forcing, LsmForcing) or forcing.shape[0] != 1:
            shape = getattr(forcing, "shape", None)
            raise SampleDataError(
                f"site forcing {i} is {type(forcing).__name__} of shape {shape}, not a "
                "one-row LsmForcing",
                field="forcings",
                fix="give one single-row LsmForcing per site",
            )
        if not math.isclose(forcing.time_step_s, forcings[0].time_step_s):
            raise SampleDataError(
                f"site forcing {i} has a time step of {forcing.time_step_s} s, the first "
                f"one {forcings[0].time_step_s} s",
                field="forcings.time_step_s",
                fix="resample every site to one time step: window features count steps",
            )
    names = [f"site_{i}" for i in range(len(forcings))] if site_names is None else list(site_names)
    if len(names) != len(forcings) or len(set(names)) != len(names):
        raise ConfigError(
            f"{len(names)} site names for {len(forcings)} forcings, or a name twice",
            field="site_names",
            fix="give one distinct name per forcing",
        )
    return forcings, [str(n) for n in names]


def _run_simulator(
    simulator: Simulator, forcing: LsmForcing, physical: torch.Tensor, site: str
) -> torch.Tensor:
    """(n, k, t) float32 fluxes of ``n`` parameter sets, in chunks, checked."""
    n, t = physical.shape[0], forcing.shape[1]
    k = len(FLUX_NAMES)
    dtype = forcing.sw_in_w_m2.dtype
    name = getattr(simulator, "name", type(simulator).__name__)
    out = []
    with torch.no_grad():
        for start in range(0, n, _SIMULATION_ROWS):
            rows = physical[start : start + _SIMULATION_ROWS].to(dtype)
            # one forcing row is shared by every parameter set (Simulator contract)
            fluxes = simulator.run(forcing, rows)
            if not isinstance(fluxes, torch.Tensor) or tuple(fluxes.shape) != (len(rows), k, t):
                raise SimulatorError(
                    f"simulator {name!r} returned {tuple(getattr(fluxes, 'shape', ()))} at "
                    f"site {site}, expected ({len(rows)}, {k}, {t})",
                    field="simulator",
                    fix="the simulator's run() must return (n, 2, t) fluxes [H, LE] in W m-2",
                )
            bad = ~torch.isfinite(fluxes).reshape(len(rows), -1).all(dim=1)
            if bool(bad.any()):
                row = int(torch.nonzero(bad)[0])
                raise SimulatorError(
                    f"simulator {name!r} returned non-finite fluxes at site {site} for "
                    f"parameters {rows[row].tolist()}",
                    field="simulator",
                    fix="fix the simulator for this parameter set or narrow the parameter bounds",
                )
            out.append(fluxes.to(torch.float32))
    return torch.cat(out)


def _simulate_split(
    simulator: Simulator,
    forcings: list[LsmForcing],
    sites: list[str],
    offsets: list[int],
    specs: tuple[ParameterSpec, ...],
    *,
    n_sets: int,
    steps_per_run: int,
    seed: int,
    split: int,
) -> _Samples:
    """Run the simulator for one split's hypercubes and sample time steps from every run."""
    units, feature_rows, parameter_rows, site_index, fluxes = [], [], [], [], []
    for i, forcing in enumerate(forcings):
        unit = latin_hypercube(n_sets, specs, seed=_child_seed(seed, split, i, 0))
        runs = _run_simulator(simulator, forcing, scale_to_bounds(unit, specs), sites[i])
        t = forcing.shape[1]
        m = min(steps_per_run, t)
        picker = torch.Generator().manual_seed(_child_seed(seed, split, i, 1))
        steps = torch.rand(n_sets, t, generator=picker).argsort(dim=1)[:, :m]  # (n_sets, m)
        fluxes.append(torch.gather(runs, 2, steps[:, None, :].expand(-1, runs.shape[1], -1)))
        feature_rows.append(offsets[i] + steps.reshape(-1))
        first_set = sum(len(u) for u in units)
        parameter_rows.append((first_set + torch.arange(n_sets)).repeat_interleave(m))
        site_index.append(torch.full((n_sets * m,), i))
        units.append(unit.to(torch.float32))
        log.debug("simulated %d parameter sets at site %s (split %d)", n_sets, sites[i], split)
    return _Samples(
        unit=torch.cat(units),
        feature_rows=torch.cat(feature_rows),
        parameter_rows=torch.cat(parameter_rows),
        site=torch.cat(site_index),
        fluxes_w_m2=torch.cat([f.permute(0, 2, 1).reshape(-1, f.shape[1]) for f in fluxes]),
    )


def _predict_samples(module: LsmSurrogate, table: torch.Tensor, samples: _Samples) -> torch.Tensor:
    module.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(samples), PREDICT_BATCH):
            out.append(module(*samples.inputs(table, slice(start, start + PREDICT_BATCH))))
    return torch.cat(out)


def _weighted_loss(
    predicted_norm: torch.Tensor, target_norm: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    return torch.sum(weights * torch.mean((predicted_norm - target_norm) ** 2, dim=0))


def _train(
    module: LsmSurrogate,
    table: torch.Tensor,
    train: _Samples,
    stop: _Samples,
    *,
    weights: torch.Tensor,
    epochs: int,
    patience: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    progress: bool,
) -> tuple[list[dict[str, float]], int]:
    """Adam on the weighted MSE of normalised fluxes; leaves the best stopping-loss weights."""
    mean, sd = module.flux_mean, module.flux_sd
    train_target = (train.fluxes_w_m2 - mean) / sd
    stop_target = (stop.fluxes_w_m2 - mean) / sd
    optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=max(1, patience // 3)
    )
    shuffler = torch.Generator().manual_seed(_child_seed(seed, 9))

    def run_epoch(epoch: int) -> dict[str, float]:
        started = time.perf_counter()
        module.train()
        order = torch.randperm(len(train), generator=shuffler)
        total = 0.0
        for start in range(0, len(train), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            predicted = module.forward_normalised(*train.inputs(table, batch))
            loss = _weighted_loss(predicted, train_target[batch], weights)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        stop_norm = (_predict_samples(module, table, stop) - mean) / sd
        stop_loss = float(_weighted_loss(stop_norm, stop_target, weights))
        plateau.step(stop_loss)
        return {
            "epoch": epoch,
            "train_loss": total / len(train),
            "stop_loss": stop_loss,
            "learning_rate": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - started,
        }

    diverged = SampleDataError(
        "the surrogate's stopping loss never became finite",
        field=f"{_FIELD}.learning_rate",
        fix="lower the learning rate or check the simulator's fluxes",
    )

    stopped = early_stopping(
        module,
        run_epoch,
        max_epochs=epochs,
        patience=patience,
        monitor="stop_loss",
        diverged=diverged,
        logger=log,
        desc="surrogate",
        progress=progress,
        postfix=lambda row: {
            "loss": f"{row['train_loss']:.4f}",
            "stop": f"{row['stop_loss']:.4f}",
        },
    )
    return stopped.history, stopped.best_epoch


def _fingerprint(
    forcings: list[LsmForcing], specs: tuple[ParameterSpec, ...], simulator_name: str
) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([asdict(s) for s in specs], sort_keys=True).encode())
    digest.update(simulator_name.encode())
    for forcing in forcings:
        digest.update(repr(float(forcing.time_step_s)).encode())
        for name in WINDOW_VARIABLES:
            values = getattr(forcing, name)
            if values is not None:
                digest.update(values.detach().to(torch.float64).contiguous().numpy().tobytes())
    return digest.hexdigest()


def fit_surrogate(
    simulator: Simulator,
    forcings: Sequence[LsmForcing],
    *,
    site_names: Sequence[str] | None = None,
    n_parameter_sets: int = 128,
    n_valid_sets: int = 32,
    steps_per_run: int = 256,
    epochs: int = 60,
    patience: int = 10,
    batch_size: int = 512,
    learning_rate: float = 2e-3,
    loss_weights: Sequence[float] = (1.0, 1.0),
    hidden: Sequence[int] = (128, 128, 128),
    head_width: int = 64,
    activation: str = "silu",
    window_steps: int = 6,
    antecedent_days: Sequence[float] = (1, 7, 30),
    seed: int = 0,
    threads: int | None = 1,
    progress: bool = False,
) -> FittedSurrogate:
    """Train a surrogate of ``simulator`` on its runs at the given sites.

    Parameters
    ----------
    simulator
        Has ``parameter_specs`` and ``run(forcing, parameters) -> (n, 2, t)`` W m-2
        (:class:`~geosoil.models.lsm.simulators.Simulator`).
    forcings
        One single-row forcing per site, all with one time step; records at least as long
        as those the surrogate will predict for, since the since-start features
        extrapolate beyond the training lengths.
    site_names
        Names for the per-site accuracy; ``site_0``, ``site_1``, ... by default.
    n_parameter_sets
        Training Latin-hypercube size per site.
    n_valid_sets
        Held-out sets per site (at least 2): half (rounded up) for early stopping, the rest
        for the accuracy report, from two independent hypercubes.
    steps_per_run
        Random time steps sampled from each run (all steps if the record is shorter).
    epochs, patience, batch_size, learning_rate
        Adam training with early stopping after ``patience`` epochs without improvement;
        the learning rate halves when the stopping loss stalls.
    loss_weights
        Weight per flux (``FLUX_NAMES`` order) of the MSE of normalised fluxes.
    hidden, head_width, activation
        The network (:class:`~geosoil.models.lsm.surrogate.LsmSurrogate`).
    window_steps, antecedent_days
        The window features (:func:`~geosoil.models.lsm.forcing_windows.window_features`).
    seed
        Everything random (hypercubes, sampled steps, initial weights, batches) derives
        from it: one seed, one surrogate.
    threads
        Torch threads during the fit (None keeps torch's setting).
    progress
        Show a progress bar over epochs.

    Returns
    -------
    FittedSurrogate
        With ``accuracy`` against the simulator on the report sets.

    Raises
    ------
    ConfigError
        For invalid settings or parameter specs.
    SimulatorError
        For a simulator that fails, returns wrong shapes or non-finite fluxes.
    SampleDataError
        For forcings that are not single-row :class:`LsmForcing` of one time step.
    """
    specs = check_specs(simulator.parameter_specs)
    forcings, sites = _check_forcings(forcings, site_names)
    _positive_int("n_parameter_sets", n_parameter_sets, field="surrogate.n_parameter_sets")
    _positive_int("n_valid_sets", n_valid_sets, 2, field="surrogate.n_valid_sets")
    for name, value in (
        ("steps_per_run", steps_per_run),
        ("epochs", epochs),
        ("patience", patience),
        ("batch_size", batch_size),
    ):
        _positive_int(name, value)
    _positive_int("seed", seed, 0, field="seed")
    if threads is not None:
        _positive_int("threads", threads, field="threads")
    _positive_int("head_width", head_width, 0)
    hidden = [_positive_int("hidden", h) for h in hidden]
    if activation not in ACTIVATIONS:
        raise ConfigError(
            f"activation {activation!r} is unknown",
            field=f"{_FIELD}.activation",
            fix=f"use one of {', '.join(ACTIVATIONS)}",
        )
    if not (isinstance(learning_rate, int | float) and 0 < learning_rate < math.inf):
        raise ConfigError(
            f"learning_rate={learning_rate!r} must be a positive number",
            field=f"{_FIELD}.learning_rate",
            fix="use e.g. 0.002",
        )
    weights = torch.tensor([float(w) for w in loss_weights], dtype=torch.float32)
    if len(weights) != len(FLUX_NAMES) or bool((weights < 0).any()) or float(weights.sum()) <= 0:
        raise ConfigError(
            f"loss_weights {list(loss_weights)} must be {len(FLUX_NAMES)} non-negative numbers "
            "with a positive sum",
            field=f"{_FIELD}.loss_weights",
            fix=f"give one weight per flux ({', '.join(FLUX_NAMES)}), e.g. [1, 1]",
        )
    weights = weights / weights.sum()
    check_window_settings(window_steps, antecedent_days)
    antecedent_days = [float(d) if not float(d).is_integer() else int(d) for d in antecedent_days]
    simulator_name = str(getattr(simulator, "name", type(simulator).__name__))
    hyperparameters = {
        "n_parameter_sets": n_parameter_sets,
        "n_valid_sets": n_valid_sets,
        "steps_per_run": steps_per_run,
        "epochs": epochs,
        "patience": patience,
        "batch_size": batch_size,
        "learning_rate": float(learning_rate),
        "loss_weights": [float(w) for w in loss_weights],
        "hidden": hidden,
        "head_width": head_width,
        "activation": activation,
        "window_steps": window_steps,
        "antecedent_days": antecedent_days,
        "seed": seed,
    }
    started = time.perf_counter()
    with torch_threads(threads):
        raw = [
            window_features(f, window_steps=window_steps, antecedent_days=antecedent_days)[0]
            for f in forcings
        ]
        scaler = FeatureScaler().fit(raw)
        table = torch.cat([scaler.transform(r) for r in raw])
        offsets = np.cumsum([0] + [len(r) for r in raw[:-1]]).tolist()
        del raw
        n_stop = (n_valid_sets + 1) // 2
        common = (simulator, forcings, sites, offsets, specs)
        train = _simulate_split(
            *common, n_sets=n_parameter_sets, steps_per_run=steps_per_run, seed=seed, split=0
        )
        stop = _simulate_split(
            *common, n_sets=n_stop, steps_per_run=steps_per_run, seed=seed, split=1
        )
        report = _simulate_split(
            *common, n_sets=n_valid_sets - n_stop, steps_per_run=steps_per_run, seed=seed, split=2
        )
        log.info(
            "surrogate: %d sites, %d training samples, simulated in %.1f s",
            len(forcings),
            len(train),
            time.perf_counter() - started,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_child_seed(seed, 8))
            module = LsmSurrogate(
                table.shape[1],
                len(specs),
                hidden=hidden,
                head_width=head_width,
                activation=activation,
            )
        module.flux_mean.copy_(train.fluxes_w_m2.mean(dim=0))
        module.flux_sd.copy_(torch.clamp(train.fluxes_w_m2.std(dim=0), min=1e-3))
        history, best_epoch = _train(
            module,
            table,
            train,
            stop,
            weights=weights,
            epochs=epochs,
            patience=patience,
            batch_size=batch_size,
            learning_rate=float(learning_rate),
            seed=seed,
            progress=progress,
        )
        predicted = _predict_samples(module, table, report)
    accuracy = {
        "overall": flux_accuracy(report.fluxes_w_m2, predicted),
        "sites": {
            site: flux_accuracy(report.fluxes_w_m2[report.site == i], predicted[report.site == i])
            for i, site in enumerate(sites)
        },
        "n_parameter_sets": n_valid_sets - n_stop,
        "n_samples": len(report),
    }
    log.info(
        "surrogate accuracy on held-out parameter sets: %s",
        ", ".join(
            f"{k} R2 {v['r2']:.3f} RMSE {v['rmse_w_m2']:.1f}"
            for k, v in accuracy["overall"].items()
        ),
    )
    training = {
        "simulator": simulator_name,
        "sites": sites,
        "best_epoch": best_epoch,
        "history": history,
        "n_train_samples": len(train),
        "n_stop_samples": len(stop),
        "data_fingerprint": _fingerprint(forcings, specs, simulator_name),
        "seconds": time.perf_counter() - started,
    }
    return FittedSurrogate(
        module,
        scaler,
        specs,
        time_step_s=float(forcings[0].time_step_s),
        hyperparameters=hyperparameters,
        accuracy=accuracy,
        training=training,
    )
