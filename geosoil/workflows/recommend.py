"""``geosoil recommend k-fertilizer``: exchangeable K map -> K2O/KCl doses -> per-field table.

The run is one map (:func:`geosoil.workflows.map.map_from_config`) of the Kex model with the
``k_fertilizer`` product, plus, with field polygons, the per-field table. Everything is checked
before any output is written; the output folder appears only once complete::

    <out>/config.yaml          this config, as run
    <out>/summary.json         target and its source, dose statistics, field totals
    <out>/map/                 the map run: Kex (and its uncertainty), dose COGs + .qml, ...
    <out>/fields.gpkg, .csv    the per-field table (with fields)
    <out>/kex_model.safetensors, kex_points.csv, kex_model_history.csv   (route b only)

A failed run leaves ``.<out>.partial`` for ``output.resume``: the map resumes block by block,
and route (b)'s covariate model is reused rather than retrained.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio.crs import CRS

from geosoil.artifacts import Artifact, Provenance, file_sha256, load_artifact, save_artifact
from geosoil.config import MapConfig, TrustConfig
from geosoil.config.recommend import CovariateModelConfig, KexSpectraConfig, RecommendKConfig
from geosoil.errors import (
    CalibrationError,
    ConfigError,
    MissingCRSError,
    SampleDataError,
    params_at,
)
from geosoil.evaluate import cross_validate, random_kfold
from geosoil.io.catalog import CovariateCatalog, CovariateLayer, read_catalog
from geosoil.io.rasters import extract_at_points
from geosoil.io.writers import write_bytes_atomic
from geosoil.models.registry import get_estimator_class
from geosoil.products.field_table import k_dose_field_table, read_fields, write_field_table
from geosoil.products.k_fertilizer import (
    DOSE_K2O,
    DOSE_KCL,
    KFertilizer,
    default_k_target,
    k_targets,
    percentile_dose_names,
)
from geosoil.specs import InputLayer, InputSpec, OutputSpec
from geosoil.trust.spectral_domain import match_quantity
from geosoil.workflows.map import check_output_path, resolve_grid
from geosoil.workflows.run_record import (
    finish_run,
    finite_or_none,
    layer_sources,
    map_step,
    published_maps,
    staged_run,
)
from geosoil.workflows.train import fit_trust_from_cv, spread_recorder, table_fingerprint

__all__ = ["RecommendResult", "map_config_for", "predict_kex_at_points", "recommend_k_from_config"]

log = logging.getLogger(__name__)

MAP_DIR = "map"
KEX_MODEL = "kex_model.safetensors"
KEX_POINTS = "kex_points.csv"
FIELDS_STEM = "fields"
_KEX_UNITS = {"cmol(+)/kg", "cmol/kg", "cmolc/kg", "cmol+/kg", "meq/100g"}


@dataclass(frozen=True)
class RecommendResult:
    """Paths of everything ``recommend_k_from_config`` wrote, and its summary."""

    out_dir: Path
    cogs: dict[str, Path]
    zarr: Path | None
    fields_gpkg: Path | None
    fields_csv: Path | None
    kex_model: Path
    config: Path
    summary: dict[str, Any]


@dataclass(frozen=True)
class _Plan:
    """Everything checked before the output folder is touched."""

    catalog: CovariateCatalog
    fields: gpd.GeoDataFrame | None
    kex_artifact: Artifact | None  # route (a)
    points: gpd.GeoDataFrame | None  # route (b): Kex predicted at the spectra's points
    spectral_artifact: Artifact | None  # route (b)
    layers: list[CovariateLayer]  # route (b): covariates of the Kex map model


def recommend_k_from_config(
    config: RecommendKConfig, *, source: Path | None = None
) -> RecommendResult:
    """Map Kex and the K-fertilizer doses, and summarise them per field.

    Parameters
    ----------
    config
        The validated config.
    source
        The config file, named in errors.

    Raises
    ------
    ConfigError
        No output folder; a bulk-density layer missing from the catalog or not in g/cm3; a
        Kex model that is not a single-output model in cmol(+)/kg; a percentile dose without
        the model uncertainty it needs; a grid that is not projected when fields are given.
    SampleDataError, MissingCRSError
        Unusable field polygons or spectra.
    """
    check_output_path(config.output.required_dir())
    plan = _plan(config, source=source)
    out = config.output
    with staged_run(out, partial(_run_fingerprint, config, plan)) as (staging, resumed):
        if config.kex.model is not None:
            kex_model = Path(config.kex.model)
        else:
            kex_model = staging / KEX_MODEL
            if not (resumed and kex_model.exists()):
                _fit_kex_map_model(config, plan, staging)
        map_dir = staging / MAP_DIR
        layers = map_step(
            map_dir,
            partial(map_config_for, config, kex_model=kex_model, out_dir=map_dir, resume=resumed),
            staging=staging,
            out_dir=Path(out.dir),
            resumed=resumed,
            source=source,
        )
        sources = layer_sources(map_dir, layers)
        table = None
        if plan.fields is not None:
            map_trust = json.loads((map_dir / "summary.json").read_text()).get("trust", {})
            table = k_dose_field_table(
                plan.fields,
                sources,
                id_column=config.fields.id_column,
                percentile=config.percentile,
                kex_estimate=map_trust.get(config.kex.layer, {}).get("estimate", ""),
            )
            write_field_table(table, staging, stem=FIELDS_STEM)
        summary = finite_or_none(_summary(config, layers, table))
        finish_run(staging, config, summary)
    out_dir = Path(out.dir)
    cogs, zarr = published_maps(out_dir / MAP_DIR, layers, out.format)
    has_fields = plan.fields is not None
    return RecommendResult(
        out_dir=out_dir,
        cogs=cogs,
        zarr=zarr,
        fields_gpkg=out_dir / f"{FIELDS_STEM}.gpkg" if has_fields else None,
        fields_csv=out_dir / f"{FIELDS_STEM}.csv" if has_fields else None,
        kex_model=Path(config.kex.model) if config.kex.model else out_dir / KEX_MODEL,
        config=out_dir / "config.yaml",
        summary=summary,
    )


def map_config_for(
    config: RecommendKConfig, *, kex_model: Path, out_dir: Path, resume: bool = False
) -> MapConfig:
    """The map run of a recommend config: the Kex model and the ``k_fertilizer`` product."""
    return MapConfig.model_validate(
        {
            "models": [
                {
                    "path": kex_model,
                    "name": config.kex.layer,
                    # The percentile dose rests on calibrated bounds: require them.
                    "intervals": True if config.percentile is not None else None,
                }
            ],
            "products": [{"name": KFertilizer.name, "params": config.product_params()}],
            "covariates": config.covariates.model_dump(),
            "grid": config.grid.model_dump(),
            **config.map_run_fields(out_dir, resume=resume),
        }
    )


# ---------------------------------------------------------------------------- checks first
def _plan(config: RecommendKConfig, *, source: Path | None) -> _Plan:
    catalog = read_catalog(config.covariates.catalog)
    _check_bulk_density_layer(config, catalog)
    fields = None
    if config.fields is not None:
        fields = read_fields(
            config.fields.path, id_column=config.fields.id_column, layer=config.fields.layer
        )
        # Throwaway output path: only the grid matters here, and resolving it writes nothing.
        grid, _ = resolve_grid(
            map_config_for(config, kex_model=Path("kex.safetensors"), out_dir=Path("unused")),
            catalog,
        )
        if not CRS.from_user_input(grid.crs).is_projected:
            raise ConfigError(
                f"the map grid is in {grid.crs}, a geographic CRS: field areas and totals need "
                "one in metres",
                path=source,
                field="grid",
                fix="use a projected reference layer or set grid.crs to a projected CRS "
                "(e.g. a UTM zone)",
            )
    if config.kex.model is not None:
        artifact = load_artifact(config.kex.model)
        _check_kex_artifact(config, artifact, kind="covariates", field="kex.model")
        return _Plan(catalog, fields, artifact, None, None, [])
    spectra_cfg = config.kex.spectra
    model_cfg = config.kex.covariate_model
    layers = catalog.select(
        config.covariates.names, source=config.covariates.catalog, field="covariates.names"
    )
    _covariate_estimator(model_cfg, layers)  # refuse unknown hyperparameters early
    spectral = load_artifact(spectra_cfg.artifact)
    _check_kex_artifact(
        config, spectral, kind="spectra", field="kex.spectra.artifact", need_dist=False
    )
    points = predict_kex_at_points(spectra_cfg, spectral, kex_column=config.kex.layer)
    return _Plan(catalog, fields, None, points, spectral, layers)


def _check_bulk_density_layer(config: RecommendKConfig, catalog: CovariateCatalog) -> None:
    if config.bulk_density is None:
        return
    by_name = {layer.name: layer for layer in catalog.layers}
    layer = by_name.get(config.bulk_density)
    if layer is None:
        raise ConfigError(
            f"bulk density layer '{config.bulk_density}' is not in the covariate catalog",
            path=config.covariates.catalog,
            field="bulk_density",
            fix=f"use one of {sorted(by_name)}, or set bulk_density_g_cm3 to a constant",
        )
    units = layer.units.replace(" ", "").lower()
    if "kg" in units and layer.scale == 1.0:
        raise ConfigError(
            f"bulk density layer '{layer.name}' is in {layer.units}; the dose needs g/cm3",
            path=config.covariates.catalog,
            field="bulk_density",
            fix=f"declare scale: 0.001 and units: g/cm3 for '{layer.name}' in the catalog",
        )


def _check_kex_artifact(
    config: RecommendKConfig,
    artifact: Artifact,
    *,
    kind: str,
    field: str,
    need_dist: bool = True,
) -> None:
    header = artifact.header
    if header.input_spec.kind != kind:
        other = "kex.spectra.artifact" if kind == "covariates" else "kex.model"
        raise ConfigError(
            f"{field} is a {header.input_spec.kind} model ({header.estimator}); this route "
            f"needs a {kind} model",
            path=artifact.path,
            field=field,
            fix=f"a {header.input_spec.kind} artifact goes under {other}",
        )
    names, units = header.output_spec.names, header.output_spec.units
    if len(names) != 1:
        raise ConfigError(
            f"the Kex model predicts {names}; one output, exchangeable K, is needed",
            path=artifact.path,
            field=field,
            fix="use a model trained on exchangeable K alone",
        )
    unit = units[0].replace(" ", "").lower()
    if not unit:
        log.warning("%s declares no units for %s; assuming cmol(+)/kg", artifact.path, names[0])
    elif unit not in _KEX_UNITS:
        raise ConfigError(
            f"the Kex model predicts {names[0]} in '{units[0]}'; the dose needs cmol(+)/kg",
            path=artifact.path,
            field=field,
            fix="use a model trained on exchangeable K in cmol(+)/kg (mg K/kg / 391)",
        )
    if need_dist and config.percentile is not None and artifact.trust.intervals is None:
        raise CalibrationError(
            f"percentile {config.percentile:g} needs calibrated Kex interval layers "
            f"({config.kex.layer}_lo, {config.kex.layer}_hi), and model "
            f"'{header.estimator}' has no conformal calibration (trained before geosoil had "
            "one, or on too few samples)",
            path=artifact.path,
            field="percentile",
            fix="retrain the Kex model with this geosoil (geosoil train), or set "
            "percentile: null to map only the dose at the mapped Kex",
        )


def _covariate_estimator(model_cfg: CovariateModelConfig, layers: list[CovariateLayer]):
    estimator_cls = get_estimator_class(model_cfg.estimator, field="kex.covariate_model.estimator")
    params = dict(model_cfg.params)
    if "categorical_features" in estimator_cls.param_names():
        params.setdefault(
            "categorical_features", [layer.name for layer in layers if layer.categorical]
        )
    return estimator_cls.from_params(params, source="kex.covariate_model.params")


# ---------------------------------------------------------------------------- route (b)
def predict_kex_at_points(
    spectra_cfg: KexSpectraConfig, artifact: Artifact, *, kex_column: str = "kex_cmol_kg"
) -> gpd.GeoDataFrame:
    """Kex predicted by a spectral artifact at the sample points of a spectra table.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per sample: the id (when ``id_column`` is set), ``<kex_column>`` (the
        prediction), and with a model offering ``predict_dist`` its uncalibrated spread
        ``<kex_column>_spread_sd``, ``_spread_lo`` and ``_spread_hi`` (5-95 %; NaN
        otherwise); point geometry with the table's CRS.
    """
    from geosoil.io.spectra import read_spectra

    samples = read_spectra(
        spectra_cfg.table,
        id_column=spectra_cfg.id_column,
        x_column=spectra_cfg.x_column,
        y_column=spectra_cfg.y_column,
        crs=spectra_cfg.crs,
    )
    frame = samples.frame
    if not isinstance(frame, gpd.GeoDataFrame) or frame.crs is None:
        raise MissingCRSError(
            "the spectra have no coordinates with a CRS, so Kex cannot be mapped from them",
            path=spectra_cfg.table,
            field="kex.spectra.crs",
            fix="set kex.spectra.x_column, y_column and crs (e.g. EPSG:32654), or use a "
            "GeoParquet table",
        )
    estimator = artifact.estimator
    n = len(samples)
    spectra = match_quantity(
        samples.spectra,
        data=samples.quantity,
        model=artifact.trust.spectral_quantity,
        convert=spectra_cfg.convert_quantity,
        path=spectra_cfg.table,
        field="kex.spectra.table",
    )
    std = p05 = p95 = np.full(n, np.nan)
    if estimator.supports_dist:
        mean, std, quantiles = estimator.predict_dist(
            spectra, axis=samples.axis, levels=(0.05, 0.95)
        )
        p05, p95 = quantiles
    else:
        log.info("%s offers no predictive distribution: points carry no Kex spread", artifact.path)
        mean = estimator.predict(spectra, axis=samples.axis)
    columns: dict[str, Any] = {}
    if spectra_cfg.id_column and spectra_cfg.id_column in frame.columns:
        columns[spectra_cfg.id_column] = frame[spectra_cfg.id_column].to_numpy()
    columns[kex_column] = np.asarray(mean, dtype=np.float64)
    columns[f"{kex_column}_spread_sd"] = np.asarray(std, dtype=np.float64)
    columns[f"{kex_column}_spread_lo"] = np.asarray(p05, dtype=np.float64)
    columns[f"{kex_column}_spread_hi"] = np.asarray(p95, dtype=np.float64)
    domain = artifact.trust.spectral_domain
    if domain is not None:
        t2, q = domain.statistics(estimator.transform_inputs(spectra, axis=samples.axis))
        columns[f"{kex_column}_t2"], columns[f"{kex_column}_q"] = t2, q
        columns[f"{kex_column}_in_domain"] = domain.in_domain(t2, q)
        if not columns[f"{kex_column}_in_domain"].all():
            log.warning(
                "%d of %d spectra lie outside the Kex model's training domain (T2/Q)",
                int((~columns[f"{kex_column}_in_domain"]).sum()),
                n,
            )
    log.info("predicted Kex at %d sample points from %s", n, spectra_cfg.table)
    return gpd.GeoDataFrame(columns, geometry=frame.geometry.to_numpy(), crs=frame.crs)


def _fit_kex_map_model(config: RecommendKConfig, plan: _Plan, staging: Path) -> Path:
    """Fit the covariate model on the predicted Kex; write it and the points it learned from."""
    points = plan.points
    kex = config.kex.layer
    y = points[kex].to_numpy(dtype=np.float64)
    X = extract_at_points(plan.layers, points.geometry)
    keep = np.isfinite(y) & (y > 0) & X.notna().all(axis=1).to_numpy()
    if keep.sum() < 10:
        raise SampleDataError(
            f"only {int(keep.sum())} spectra points have a positive Kex prediction and valid "
            "covariates",
            path=config.kex.spectra.table,
            field="kex.spectra.table",
            fix="check that the points lie inside the covariate rasters and their CRS is right",
        )
    if (~keep).any():
        log.warning("Kex map model: dropped %d of %d points", int((~keep).sum()), keep.size)
    model_cfg = config.kex.covariate_model
    estimator = _covariate_estimator(model_cfg, plan.layers)
    X_fit, y_fit = X[keep].reset_index(drop=True), y[keep]
    log.info("fitting the Kex map model (%s) on %d points", model_cfg.estimator, len(y_fit))
    with params_at("kex.covariate_model.params"):
        estimator.fit(X_fit, y_fit)
    trust = _kex_map_trust(model_cfg, plan, estimator, X_fit, y_fit)
    table = pd.DataFrame(points.drop(columns=points.geometry.name))
    table.insert(len(table.columns), "x", points.geometry.x.to_numpy())
    table.insert(len(table.columns), "y", points.geometry.y.to_numpy())
    table["used_in_fit"] = keep
    write_bytes_atomic(staging / KEX_POINTS, table.to_csv(index=False).encode())
    history = pd.DataFrame(getattr(estimator, "history_", []))
    write_bytes_atomic(staging / "kex_model_history.csv", history.to_csv(index=False).encode())
    params = estimator.get_params()
    return save_artifact(
        estimator,
        staging / KEX_MODEL,
        input_spec=InputSpec(
            kind="covariates",
            layers=[
                InputLayer(name=layer.name, units=layer.units, categorical=layer.categorical)
                for layer in plan.layers
            ],
        ),
        output_spec=OutputSpec(
            names=[kex],
            units=["cmol(+)/kg"],
            back_transform=params.get("target_transform", "none"),
        ),
        provenance=Provenance(
            data_fingerprint=table_fingerprint(X_fit, y_fit),
            n_samples=len(y_fit),
            seed=int(params.get("seed", 0)),
            config=config.model_dump(mode="json"),
            parent_sha256=plan.spectral_artifact.sha256,
        ),
        trust=trust,
    )


def _kex_map_trust(model_cfg, plan: _Plan, estimator, X: pd.DataFrame, y: np.ndarray):
    """AOA and conformal calibration of the Kex map model, from a 3-fold CV on its points
    (3, not 5: each fold refits the whole ensemble, and hundreds of points give enough
    residuals)."""
    transform = estimator.get_params().get("target_transform", "none")
    spread = np.full(len(y), np.nan)
    result = cross_validate(
        lambda: _covariate_estimator(model_cfg, plan.layers),
        X,
        y,
        random_kfold(len(y), n_splits=3, seed=0),
        on_fold=spread_recorder(X, spread, transform),
    )
    trust, _ = fit_trust_from_cv(
        estimator,
        X,
        y,
        {"random": result},
        {"random": spread},
        TrustConfig(calibration_scheme="random"),
        categorical=[layer.name for layer in plan.layers if layer.categorical],
        transform=transform,
    )
    return trust


# ---------------------------------------------------------------------------- resume
def _run_fingerprint(config: RecommendKConfig, plan: _Plan) -> str:
    """What decides the reused parts of a resumed run (the Kex model and the map)."""
    record: dict[str, Any] = {"config": config.result_defining()}
    record["config"].pop("fields", None)  # the table is always recomputed
    if plan.kex_artifact is not None:
        record["kex_model"] = plan.kex_artifact.sha256
    else:
        record["spectral_model"] = plan.spectral_artifact.sha256
        record["spectra"] = file_sha256(config.kex.spectra.table)
    record["covariates"] = [
        [layer.name, layer.path.stat().st_size, layer.path.stat().st_mtime_ns]
        for layer in plan.catalog.layers
        if layer.path.exists()
    ]
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------------------- outputs
def _summary(
    config: RecommendKConfig, layers: dict[str, Any], table: gpd.GeoDataFrame | None
) -> dict[str, Any]:
    if config.target_mg_k2o_100g is not None:
        target = {"target_mg_k2o_100g": config.target_mg_k2o_100g, "source": "config"}
    else:
        row = k_targets()[config.crop] if config.crop else default_k_target()
        target = {"target_mg_k2o_100g": row.target_mg_k2o_100g, "crop": row.crop}
        target["source"] = row.source
    kex_valid = layers[config.kex.layer]["valid_pixels"]
    dose_valid = layers[DOSE_K2O]["valid_pixels"]
    aoa = layers.get(f"{config.kex.layer}_aoa")
    outside = (
        round(aoa["valid_pixels"] * (1.0 - aoa["mean"])) if aoa and aoa["mean"] is not None else 0
    )
    if outside:
        log.warning(
            "%d pixels lie outside the Kex model's area of applicability: no dose there "
            "(dose_status class 2); sample them to extend the model",
            outside,
        )
    without_dose = kex_valid - dose_valid - outside
    if without_dose > 0:
        log.warning(
            "%d pixels have Kex but no dose: bulk density nodata or outside 0.1-2.7 g/cm3, or "
            "a negative Kex",
            without_dose,
        )
    dose_layers = [DOSE_K2O, DOSE_KCL]
    if config.percentile is not None:
        dose_layers += list(percentile_dose_names(config.percentile))
    summary: dict[str, Any] = {
        "target": target,
        "bulk_density": config.bulk_density or f"{config.bulk_density_g_cm3:g} g/cm3",
        "plough_depth_cm": config.plough_depth_cm,
        "percentile": config.percentile,
        "pixels_with_kex_without_dose": max(without_dose, 0),
        "pixels_outside_applicability": outside,
        "share_inside_aoa": aoa["mean"] if aoa else None,
        "layers": {name: layers[name] for name in dose_layers},
    }
    if table is not None:
        totals = [c for c in table.columns if c.startswith("total_")]
        summary["fields"] = {
            "n_fields": len(table),
            "n_with_warning": int((table["warning"] != "").sum()),
            "area_ha": float(table["area_ha"].sum()),
            **{column: float(table[column].sum(min_count=1)) for column in totals},
        }
    return summary
