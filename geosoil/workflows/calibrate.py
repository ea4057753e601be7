"""``geosoil calibrate``: MdPL land-surface parameter learning at flux towers.

Three steps (Xie, Li and Yoshimura 2025):

1. a multi-task **surrogate** learns the simulator's sensible and latent heat from forcing
   windows and parameters, on runs over a Latin hypercube within the parameter bounds at
   every site (:func:`~geosoil.models.lsm.surrogate_training.fit_surrogate`);
2. the **parameter generator** g_z maps forcing summaries and site attributes to parameters
   and is trained through the frozen surrogate against the observed fluxes
   (:class:`~geosoil.models.lsm.mdpl.ParameterGenerator`);
3. the **real simulator** runs with the calibrated and with the default parameters; Taylor
   statistics per site and flux, and the same for g_z trained without the site
   (leave-one-site-out transfer; a class of a categorical attribute that only the held-out
   station has gets the training mix of the embeddings, whatever ``generator`` says for maps).

A g_z sample is a site record or one calendar month of it (``period``); the simulator and
the surrogate run each sample from a full soil-water bucket, so training and evaluation see
the same runs.

Output folder (written whole or not at all):

``model.safetensors``
    g_z as a geosoil artifact; ``geosoil map`` applies it over rasters of its inputs.
``surrogate.safetensors``, ``surrogate_accuracy.json``
    The surrogate and its accuracy against the simulator on held-out parameter sets.
``parameters.csv``
    Default, calibrated and leave-one-site-out parameters per sample.
``taylor.csv``, ``taylor.png``
    Taylor statistics per site, flux and run, and their diagram.
``summary.json``, ``report.md``
    RMSE change from default to calibrated per site and flux, surrogate accuracy, parameter
    recovery (with ``evaluation.truth``) and timings.
``config.yaml``
    The config that was run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from geosoil.artifacts import Provenance, save_artifact
from geosoil.config import save_config
from geosoil.config.calibrate import CalibrateConfig
from geosoil.errors import ConfigError, InputFileNotFoundError, SampleDataError, params_at
from geosoil.evaluate.taylor import taylor_diagram, taylor_table
from geosoil.io.alma import read_alma
from geosoil.io.flux import FluxRecord
from geosoil.io.flux_csv import read_flux
from geosoil.io.writers import staged_directory, write_bytes_atomic
from geosoil.models.lsm.mdpl import ParameterGenerator
from geosoil.models.lsm.simulators import LsmSimulator, Simulator, simulator_from_spec
from geosoil.models.lsm.surrogate import FittedSurrogate
from geosoil.models.lsm.surrogate_training import fit_surrogate
from geosoil.process.lsm_forcing import FLUX_NAMES
from geosoil.process.lsm_params import default_parameters
from geosoil.workflows.calibrate_report import (
    parameter_recovery,
    read_site_table,
    read_truth,
    rmse_changes,
    write_report,
)

__all__ = [
    "CalibrateResult",
    "Sample",
    "add_site_attributes",
    "alma_pairs",
    "calibrate_from_config",
    "read_flux_sites",
    "split_samples",
]

log = logging.getLogger(__name__)

MODEL_NAME = "model.safetensors"
SURROGATE_NAME = "surrogate.safetensors"


@dataclass(frozen=True)
class Sample:
    """One g_z sample: a record or a calendar month of it, and where it came from."""

    record: FluxRecord
    record_label: str  # the site record it belongs to, e.g. "DE-Tha 1998"

    @property
    def station(self) -> str:
        return str(self.record.site)


@dataclass(frozen=True)
class CalibrateResult:
    """What ``geosoil calibrate`` wrote, and the headline figures."""

    out_dir: Path
    model: Path
    surrogate: Path
    taylor: Path
    summary: Path
    config: Path
    summary_data: dict[str, Any]


def read_flux_sites(cfg: CalibrateConfig) -> list[FluxRecord]:
    """Every site record of the config, with its declared fills, units and attributes."""
    records: list[FluxRecord] = []
    for site in cfg.sites:
        options = {
            "attributes": site.attributes or None,
            "fill": site.fill or None,
            "units": site.units or None,
            "max_qc": site.max_qc,
        }
        if site.path is not None:
            records += read_flux(site.path, **options)
        elif site.met is not None:
            records.append(read_alma(site.met, site.flux, **options))
        else:
            records += [read_alma(met, flux, **options) for met, flux in alma_pairs(site.folder)]
    if cfg.site_table is not None:
        records = add_site_attributes(records, cfg.site_table)
    return records


def alma_pairs(folder: Path) -> list[tuple[Path, Path | None]]:
    """``(<name>_Met.nc, <name>_Flux.nc or None)`` for every met file of a folder, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileNotFoundError(
            "flux folder not found", path=folder, field="sites.folder", fix="check the path"
        )
    pairs = []
    for met in sorted(folder.glob("*_Met.nc")):
        flux = met.with_name(met.name[: -len("_Met.nc")] + "_Flux.nc")
        pairs.append((met, flux if flux.is_file() else None))
    if not pairs:
        raise InputFileNotFoundError(
            "no *_Met.nc file in the flux folder",
            path=folder,
            field="sites.folder",
            fix="point sites.folder at PLUMBER2-style <name>_Met.nc / <name>_Flux.nc files",
        )
    return pairs


def add_site_attributes(records: Sequence[FluxRecord], path: Path) -> list[FluxRecord]:
    """Join the attributes of a site table (``site`` column) onto the records.

    Raises
    ------
    SampleDataError
        The table has no ``site`` column, lacks a record's site, or contradicts an attribute
        the flux file already gives.
    """
    path = Path(path)
    table = read_site_table(
        path,
        what="site table",
        field="site_table",
        fix_path="check the path",
        fix_site="add a 'site' column with the site codes of the flux files",
    )
    rows = {str(row["site"]): row.drop("site").to_dict() for _, row in table.iterrows()}
    out = []
    for record in records:
        if record.site not in rows:
            raise SampleDataError(
                f"the site table has no row for site {record.site}",
                path=path,
                field="site",
                fix=f"add a row for {record.site} or drop it from sites",
            )
        attributes = dict(record.attributes)
        for name, value in rows[record.site].items():
            known = attributes.get(name)
            if known is not None and not _same(known, value):
                raise SampleDataError(
                    f"site {record.site}: {name} is {known!r} in the flux file but {value!r} "
                    "in the site table",
                    path=path,
                    field=name,
                    fix="make the two agree, or drop the column from the site table",
                )
            attributes[name] = value.item() if isinstance(value, np.generic) else value
        out.append(dataclasses.replace(record, attributes=attributes))
    return out


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.isclose(float(a), float(b), rtol=1e-6, atol=1e-9))
    except (TypeError, ValueError):
        return str(a) == str(b)


def record_label(record: FluxRecord) -> str:
    """``SITE YYYY`` for a record over several months, ``SITE YYYY-MM`` within one month."""
    first, last = record.time[0], record.time[-1]
    if (first.year, first.month) == (last.year, last.month):
        return f"{record.site} {first:%Y-%m}"
    return (
        f"{record.site} {first:%Y}"
        if first.year == last.year
        else f"{record.site} {first:%Y}-{last:%Y}"
    )


def split_samples(
    records: Sequence[FluxRecord], *, period: str, min_period_days: float
) -> list[Sample]:
    """One sample per record, or per calendar month of at least ``min_period_days``."""
    samples: list[Sample] = []
    labels = [record_label(r) for r in records]
    if len(set(labels)) != len(labels):
        labels = [f"{label} #{i + 1}" for i, label in enumerate(labels)]
    for record, label in zip(records, labels, strict=True):
        if period == "record":
            samples.append(Sample(record, label))
            continue
        min_steps = max(2, round(min_period_days * 86400.0 / record.time_step_s))
        months = record.split("MS", min_steps=min_steps)
        if not months:
            raise ConfigError(
                f"record {label} has no calendar month of {min_period_days:g} days or more",
                field="min_period_days",
                fix="lower min_period_days or use period: record",
            )
        samples += [Sample(month, label) for month in months]
    return samples


@params_at("generator")
def calibrate_from_config(cfg: CalibrateConfig, *, source: Path | None = None) -> CalibrateResult:
    """Run the three MdPL steps of ``cfg`` and write the output folder.

    Raises
    ------
    GeoSoilError
        Bad input (records, fills, units, parameters, simulator) before anything is written;
        the output folder appears only when complete.
    """
    if cfg.output.dir is None:
        raise ConfigError(
            "no output folder", path=source, field="output.dir", fix="set output.dir or --out"
        )
    timings: dict[str, float] = {}
    started = time.perf_counter()
    records = read_flux_sites(cfg)
    samples = split_samples(records, period=cfg.period, min_period_days=cfg.min_period_days)
    simulator = simulator_from_spec(cfg.simulator.spec())
    defaults = _default_table(samples, simulator, cfg)
    truth = read_truth(cfg.evaluation.truth) if cfg.evaluation.truth else None
    forcings = [s.record.to_forcing() for s in samples]
    timings["read_s"] = time.perf_counter() - started

    with staged_directory(cfg.output.dir, overwrite=cfg.output.overwrite) as staging:
        step = time.perf_counter()
        surrogate = _surrogate(cfg, simulator, samples, forcings)
        timings["surrogate_s"] = time.perf_counter() - step

        step = time.perf_counter()
        generator = _generator(cfg).fit([s.record for s in samples], surrogate)
        calibrated = generator.predict(s.record for s in samples)
        timings["generator_s"] = time.perf_counter() - step

        step = time.perf_counter()
        loso = (
            _leave_one_site_out(cfg, samples, surrogate)
            if cfg.evaluation.leave_one_site_out
            else None
        )
        timings["leave_one_site_out_s"] = time.perf_counter() - step

        step = time.perf_counter()
        runs = {"default": defaults, "calibrated": calibrated}
        if loso is not None:
            runs["loso"] = loso
        table = _taylor(simulator, samples, forcings, runs)
        timings["evaluation_s"] = time.perf_counter() - step
        timings["total_s"] = time.perf_counter() - started

        names = [spec.name for spec in simulator.parameter_specs]
        parameters = _parameter_table(samples, names, runs)
        summary = {
            "sites": sorted({s.record_label for s in samples}),
            "n_samples": len(samples),
            "period": cfg.period,
            "simulator": simulator.name,
            "surrogate_accuracy": surrogate.accuracy,
            "rmse_change": rmse_changes(table),
            "timings": {k: round(v, 2) for k, v in timings.items()},
        }
        if truth is not None:
            summary["recovery"] = parameter_recovery(parameters, truth, names)
        _write_outputs(staging, cfg, generator, surrogate, samples, parameters, table, summary)

    out = Path(cfg.output.dir)
    return CalibrateResult(
        out_dir=out,
        model=out / MODEL_NAME,
        surrogate=out / SURROGATE_NAME,
        taylor=out / "taylor.csv",
        summary=out / "summary.json",
        config=out / "config.yaml",
        summary_data=summary,
    )


def _default_table(
    samples: Sequence[Sample], simulator: Simulator, cfg: CalibrateConfig
) -> np.ndarray:
    """(n, p) default physical parameters: IGBP defaults for geosoil's own model."""
    names = [spec.name for spec in simulator.parameter_specs]
    rows = []
    for sample in samples:
        if isinstance(simulator, LsmSimulator):
            igbp = sample.record.require_attribute("igbp")
            values = default_parameters(igbp, cfg.evaluation.default_parameters.get(igbp))
        else:
            values = dict(getattr(simulator, "defaults", None) or {})
            missing = [n for n in names if n not in values]
            if missing:
                raise ConfigError(
                    f"the simulator declares no default for {', '.join(missing)}",
                    field="simulator.parameters",
                    fix="give every parameter a default (the run calibration has to beat)",
                )
        rows.append([float(values[n]) for n in names])
    return np.asarray(rows, dtype=np.float64)


def _surrogate(
    cfg: CalibrateConfig,
    simulator: Simulator,
    samples: Sequence[Sample],
    forcings: Sequence[Any],
) -> FittedSurrogate:
    if cfg.surrogate.path is not None:
        return FittedSurrogate.load(cfg.surrogate.path, parameter_specs=simulator.parameter_specs)
    allowed = set(inspect.signature(fit_surrogate).parameters) - {
        "simulator",
        "forcings",
        "site_names",
        "n_parameter_sets",
        "n_valid_sets",
        "seed",
        "threads",
    }
    unknown = sorted(set(cfg.surrogate.params) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown surrogate setting {unknown[0]!r}",
            field=f"surrogate.params.{unknown[0]}",
            fix=f"use one of {', '.join(sorted(allowed))}",
        )
    return fit_surrogate(
        simulator,
        forcings,
        site_names=[record_label(s.record) for s in samples],
        n_parameter_sets=cfg.surrogate.n_parameter_sets,
        n_valid_sets=cfg.surrogate.n_valid_sets,
        seed=cfg.seed,
        threads=cfg.threads,
        # Minutes of training: a bar on a terminal unless surrogate.params.progress says.
        **{"progress": sys.stderr.isatty(), **cfg.surrogate.params},
    )


def _generator(cfg: CalibrateConfig, **forced: Any) -> ParameterGenerator:
    params = {"seed": cfg.seed, "threads": cfg.threads, **cfg.generator, **forced}
    return ParameterGenerator.from_params(params, source="generator")


def _leave_one_site_out(
    cfg: CalibrateConfig, samples: Sequence[Sample], surrogate: FittedSurrogate
) -> np.ndarray | None:
    """(n, p) parameters of each sample from a g_z trained without its station.

    Stations are held out one by one, or in ``evaluation.site_folds`` random groups.
    """
    stations = sorted({s.station for s in samples})
    if len(stations) < 2:
        log.warning("leave-one-site-out needs two stations or more; skipped")
        return None
    folds = cfg.evaluation.site_folds or len(stations)
    order = np.random.default_rng(cfg.seed).permutation(len(stations))
    fold_of = {stations[j]: i % folds for i, j in enumerate(order)}
    out = np.full((len(samples), len(surrogate.parameter_specs)), np.nan)
    for fold in range(min(folds, len(stations))):
        held = [i for i, s in enumerate(samples) if fold_of[s.station] == fold]
        train = [s.record for s in samples if fold_of[s.station] != fold]
        log.info("held-out stations, fold %d: %d training samples", fold + 1, len(train))
        # a held-out station's land-cover class may be one training never saw
        model = _generator(cfg, unseen_categories="mean").fit(train, surrogate)
        out[held] = model.predict([samples[i].record for i in held])
    return out


def _taylor(
    simulator: Simulator,
    samples: Sequence[Sample],
    forcings: Sequence[Any],
    runs: dict[str, np.ndarray],
) -> pd.DataFrame:
    """Simulate every sample under every run and score each site record, flux and run."""
    series: dict[tuple[str, str], list[np.ndarray]] = {}
    observed: dict[str, list[np.ndarray]] = {}
    for i, (sample, forcing) in enumerate(zip(samples, forcings, strict=True)):
        parameters = torch.as_tensor(np.stack([runs[run][i] for run in runs]), dtype=torch.float64)
        fluxes = simulator.run(forcing, parameters).numpy()
        observed.setdefault(sample.record_label, []).append(sample.record.observed_array())
        for k, run in enumerate(runs):
            series.setdefault((sample.record_label, run), []).append(fluxes[k])
    rows = []
    for label, parts in observed.items():
        obs = np.concatenate(parts, axis=1)
        for run in runs:
            sim = np.concatenate(series[(label, run)], axis=1)
            for j, flux in enumerate(FLUX_NAMES):
                rows.append(
                    {
                        "site": label,
                        "flux": flux,
                        "run": run,
                        "observed": obs[j],
                        "simulated": sim[j],
                    }
                )
    return taylor_table(rows)


def _parameter_table(
    samples: Sequence[Sample], names: Sequence[str], runs: dict[str, np.ndarray]
) -> pd.DataFrame:
    frames = []
    for run, values in runs.items():
        frame = pd.DataFrame(values, columns=list(names))
        frame.insert(0, "run", run)
        frame.insert(0, "end", [s.record.time[-1] for s in samples])
        frame.insert(0, "start", [s.record.time[0] for s in samples])
        frame.insert(0, "station", [s.station for s in samples])
        frame.insert(0, "site", [s.record_label for s in samples])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _write_outputs(
    staging: Path,
    cfg: CalibrateConfig,
    generator: ParameterGenerator,
    surrogate: FittedSurrogate,
    samples: Sequence[Sample],
    parameters: pd.DataFrame,
    table: pd.DataFrame,
    summary: dict[str, Any],
) -> None:
    save_artifact(
        generator,
        staging / MODEL_NAME,
        provenance=Provenance(
            data_fingerprint=_fingerprint(samples),
            n_samples=len(samples),
            seed=cfg.seed,
            metrics={"rmse_change": summary["rmse_change"]},
            config=cfg.model_dump(mode="json"),
        ),
    )
    surrogate.save(staging / SURROGATE_NAME)
    write_bytes_atomic(
        staging / "surrogate_accuracy.json",
        json.dumps(surrogate.accuracy, indent=2).encode(),
    )
    parameters.to_csv(staging / "parameters.csv", index=False)
    table.to_csv(staging / "taylor.csv", index=False)
    taylor_diagram(table, staging / "taylor.png", title="calibrated vs default parameters")
    write_bytes_atomic(
        staging / "summary.json", json.dumps(summary, indent=2, default=_json_default).encode()
    )
    write_report(staging / "report.md", summary, table)
    save_config(cfg, staging / "config.yaml")


def _fingerprint(samples: Sequence[Sample]) -> str:
    digest = hashlib.sha256()
    for sample in samples:
        digest.update(sample.record_label.encode())
        digest.update(np.ascontiguousarray(sample.record.observed_array()).tobytes())
        digest.update(np.ascontiguousarray(sample.record.forcing.to_numpy()).tobytes())
    return digest.hexdigest()[:16]


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
