"""``geosoil recommend pb-risk``: Pb and pH maps -> contamination risk classes and their areas.

The run is one map (:func:`geosoil.workflows.map.map_from_config`): the Pb and pH models, when
given, and the ``pb_risk`` product, in one engine pass. Rasters given by path (Pb, pH, land
use) join the covariates in a run catalog. Everything is checked before any output is
written; the output folder appears only once complete::

    <out>/config.yaml                 this config, as run
    <out>/summary.json                thresholds used, the pH source (and assumption), layers
    <out>/risk_summary.json, .csv     area (ha) and share of the classified area per class,
                                      per pH band, and per class of the Pb p95 (uncertainty)
    <out>/map/                        the map run: Pb, pH, <prefix>_class (+ .qml), ...
    <out>/covariates.yaml             the run catalog (only when a raster is given by path)

A failed run leaves ``.<out>.partial`` for ``output.resume``, which reuses a finished map.

Units: Pb must be in mg/kg. A model or catalog layer that declares other units is refused
(a g/kg or % map would be classified 1000 or 10,000 times too low); one that declares none is
used as mg/kg with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError

from geosoil.artifacts import Artifact, file_sha256, load_artifact
from geosoil.config import MapConfig
from geosoil.config.pb_risk import RecommendPbRiskConfig
from geosoil.errors import CalibrationError, ConfigError, InputFileNotFoundError
from geosoil.geo.outputs import CLASS_NODATA
from geosoil.io.catalog import CovariateCatalog, CovariateLayer, read_catalog, write_catalog
from geosoil.io.writers import write_bytes_atomic
from geosoil.products.pb_risk import (
    PB_RISK_CLASSES,
    PbRisk,
    PbThresholds,
    is_mg_kg,
    read_pb_thresholds,
)
from geosoil.workflows.map import check_output_path, resolve_grid
from geosoil.workflows.run_record import (
    finish_run,
    finite_or_none,
    layer_sources,
    map_step,
    published_maps,
    staged_run,
    write_json,
)

__all__ = ["PbRiskResult", "pb_risk_map_config", "recommend_pb_risk_from_config", "summarize_risk"]

log = logging.getLogger(__name__)

MAP_DIR = "map"
RISK_STEM = "risk_summary"
RUN_CATALOG = "covariates.yaml"
LAND_USE_LAYER = "land_use"
_PH_UNITS = {"", "-", "1", "unitless", "dimensionless"}


@dataclass(frozen=True)
class PbRiskResult:
    """Paths of everything ``recommend_pb_risk_from_config`` wrote, and its summaries."""

    out_dir: Path
    cogs: dict[str, Path]
    zarr: Path | None
    config: Path
    risk_json: Path
    risk_csv: Path
    summary: dict[str, Any]
    risk: dict[str, Any]


@dataclass(frozen=True)
class _Plan:
    """Everything checked before the output folder is touched."""

    catalog: CovariateCatalog
    thresholds: PbThresholds
    pb_artifact: Artifact | None
    ph_artifact: Artifact | None
    pb_layer: str  # names of the layers the product reads
    ph_layer: str | None
    land_use_layer: str | None
    extra_layers: tuple[CovariateLayer, ...]  # rasters given by path, for the run catalog
    pixel_area_ha: float | None  # None on a geographic grid


def recommend_pb_risk_from_config(
    config: RecommendPbRiskConfig, *, source: Path | None = None
) -> PbRiskResult:
    """Map the Pb risk classes of a config and summarise their areas.

    Parameters
    ----------
    config
        The validated config.
    source
        The config file, named in errors.

    Raises
    ------
    ConfigError
        No output folder; a malformed threshold table; a Pb model not in mg/kg, not a
        single-output covariate model, or asked for uncertainty it cannot map; a pH model
        not predicting pH; a land-use layer that is not categorical; a layer name clash.
    InputFileNotFoundError
        A Pb, pH or land-use raster that is neither a catalog layer nor an existing file.
    """
    check_output_path(config.output.required_dir())
    plan = _plan(config, source=source)
    out = config.output
    fingerprint = partial(_run_fingerprint, config, plan)
    with staged_run(out, fingerprint, cheap=(RUN_CATALOG,)) as (staging, resumed):
        catalog_path = Path(config.covariates.catalog)
        if plan.extra_layers:
            catalog_path = staging / RUN_CATALOG
            write_catalog(_run_catalog(plan), catalog_path)
        map_dir = staging / MAP_DIR
        map_config = partial(
            pb_risk_map_config, config, plan, catalog=catalog_path, out_dir=map_dir, resume=resumed
        )
        layers = map_step(
            map_dir,
            map_config,
            staging=staging,
            out_dir=Path(out.dir),
            resumed=resumed,
            source=source,
        )
        product = _product(config, plan)
        risk = summarize_risk(
            layer_sources(map_dir, layers),
            product=product,
            pixel_area_ha=plan.pixel_area_ha,
        )
        write_json(staging / f"{RISK_STEM}.json", risk)
        csv = risk_table(risk).to_csv(index=False)
        write_bytes_atomic(staging / f"{RISK_STEM}.csv", csv.encode())
        summary = finite_or_none(_summary(config, plan, layers, risk))
        finish_run(staging, config, summary)
    out_dir = Path(out.dir)
    cogs, zarr = published_maps(out_dir / MAP_DIR, layers, out.format)
    return PbRiskResult(
        out_dir=out_dir,
        cogs=cogs,
        zarr=zarr,
        config=out_dir / "config.yaml",
        risk_json=out_dir / f"{RISK_STEM}.json",
        risk_csv=out_dir / f"{RISK_STEM}.csv",
        summary=summary,
        risk=json.loads((out_dir / f"{RISK_STEM}.json").read_text()),
    )


def pb_risk_map_config(
    config: RecommendPbRiskConfig,
    plan: _Plan,
    *,
    catalog: Path,
    out_dir: Path,
    resume: bool = False,
) -> MapConfig:
    """The map run of a pb-risk config: its Pb and pH models and the ``pb_risk`` product."""
    models = []
    if config.pb.model is not None:
        models.append(
            {
                "path": config.pb.model,
                "name": config.pb.name,
                # The precautionary class rests on the calibrated upper bound: require it.
                "intervals": True if config.pb.uncertainty else None,
            }
        )
    if config.ph.model is not None:
        models.append({"path": config.ph.model, "name": config.ph.name})
    body = {
        "models": models,
        "products": [{"name": PbRisk.name, "params": _product_params(config, plan)}],
        "covariates": {"catalog": catalog, "names": config.covariates.names},
        "grid": config.grid.model_dump(),
        **config.map_run_fields(out_dir, resume=resume),
    }
    return MapConfig.model_validate(body)


def _product_params(config: RecommendPbRiskConfig, plan: _Plan) -> dict[str, Any]:
    return config.product_params(
        pb_layer=plan.pb_layer, ph_layer=plan.ph_layer, land_use_layer=plan.land_use_layer
    )


def _product(config: RecommendPbRiskConfig, plan: _Plan) -> PbRisk:
    return PbRisk(PbRisk.Params.model_validate(_product_params(config, plan)))


# ---------------------------------------------------------------------------- checks first
def _plan(config: RecommendPbRiskConfig, *, source: Path | None) -> _Plan:
    catalog = read_catalog(config.covariates.catalog)
    thresholds = read_pb_thresholds(config.thresholds)
    by_name = {layer.name: layer for layer in catalog.layers}
    extra: list[CovariateLayer] = []

    pb_artifact = None
    if config.pb.model is not None:
        pb_artifact = load_artifact(config.pb.model)
        _check_model(pb_artifact, field="pb.model", quantity="Pb")
        if config.pb.uncertainty and pb_artifact.trust.intervals is None:
            raise CalibrationError(
                f"pb.uncertainty needs the calibrated Pb bounds ({config.pb.name}_lo/_hi), and "
                f"model '{pb_artifact.header.estimator}' has no conformal calibration (trained "
                "before geosoil had one, or on too few samples)",
                path=pb_artifact.path,
                field="pb.uncertainty",
                fix="retrain the Pb model with this geosoil (geosoil train), or set "
                "pb.uncertainty: false",
            )
        _check_pb_units(pb_artifact.header.output_spec.units[0], pb_artifact.path, "pb.model")
        pb_layer = config.pb.name
    else:
        pb_layer = _raster_layer(
            config.pb.layer, config.pb.name, by_name, extra, field="pb.layer", units="mg/kg"
        )
        if config.pb.layer in by_name:
            _check_pb_units(by_name[pb_layer].units, config.covariates.catalog, "pb.layer")

    ph_artifact, ph_layer = None, None
    if config.ph.model is not None:
        ph_artifact = load_artifact(config.ph.model)
        _check_model(ph_artifact, field="ph.model", quantity="pH")
        _check_ph_units(ph_artifact.header.output_spec.units[0], ph_artifact.path, "ph.model")
        ph_layer = config.ph.name
    elif config.ph.layer is not None:
        ph_layer = _raster_layer(
            config.ph.layer, config.ph.name, by_name, extra, field="ph.layer", units="pH"
        )
        if config.ph.layer in by_name:
            _check_ph_units(by_name[ph_layer].units, config.covariates.catalog, "ph.layer")
    else:
        log.warning(
            "pH assumed to be %g everywhere (%s)", config.ph.constant, config.ph.reason.strip()
        )

    land_use_layer = None
    if config.land_use_layer is not None:
        land_use_layer = _raster_layer(
            config.land_use_layer,
            LAND_USE_LAYER,
            by_name,
            extra,
            field="land_use_layer",
            categorical=True,
        )
        _check_categorical(by_name.get(land_use_layer), config.covariates.catalog)

    produced = {
        name
        for name, given in ((config.pb.name, config.pb.model), (config.ph.name, config.ph.model))
        if given is not None
    }
    clash = sorted(produced & set(by_name))
    if clash:
        raise ConfigError(
            f"mapped layer name(s) {clash} are also covariates of the catalog",
            path=source,
            field="pb.name" if config.pb.name in clash else "ph.name",
            fix="give the mapped Pb or pH layer another name (pb.name / ph.name)",
        )
    run_catalog = catalog.model_copy(update={"layers": [*catalog.layers, *extra]})
    plan = _Plan(
        catalog=run_catalog,
        thresholds=thresholds,
        pb_artifact=pb_artifact,
        ph_artifact=ph_artifact,
        pb_layer=pb_layer,
        ph_layer=ph_layer,
        land_use_layer=land_use_layer,
        extra_layers=tuple(extra),
        pixel_area_ha=None,
    )
    # Throwaway output path: only the grid matters here, and resolving it writes nothing.
    unused = Path("unused")
    grid, _ = resolve_grid(
        pb_risk_map_config(config, plan, catalog=config.covariates.catalog, out_dir=unused),
        run_catalog,
    )
    return replace(plan, pixel_area_ha=_pixel_area_ha(grid.crs, grid.transform))


def _raster_layer(
    given: str,
    name: str,
    by_name: dict[str, CovariateLayer],
    extra: list[CovariateLayer],
    *,
    field: str,
    units: str = "",
    categorical: bool = False,
) -> str:
    """The layer name the product reads: a catalog layer, or a raster path added as ``name``."""
    if given in by_name:
        return given
    path = Path(given)
    if not path.is_file():
        raise InputFileNotFoundError(
            f"{field} '{given}' is neither a covariate of the catalog nor an existing raster",
            path=path,
            field=field,
            fix=f"give a catalog layer name ({', '.join(sorted(by_name))}) or the path of a "
            "GeoTIFF",
        )
    if name in by_name:
        raise ConfigError(
            f"the raster of {field} would be named '{name}', which the catalog already uses",
            path=path,
            field=field,
            fix=f"name it otherwise ({field.split('.')[0]}.name), or use the catalog layer "
            f"'{name}' itself",
        )
    try:
        with rasterio.open(path) as dataset:
            if dataset.crs is None:
                raise ConfigError(
                    f"the raster of {field} has no CRS",
                    path=path,
                    field=field,
                    fix="assign its CRS (e.g. gdal_edit.py -a_srs EPSG:32654)",
                )
    except RasterioIOError as err:
        raise ConfigError(
            f"the raster of {field} cannot be read: {err}",
            path=path,
            field=field,
            fix="give a raster GDAL can open (GeoTIFF)",
        ) from err
    extra.append(
        CovariateLayer(
            name=name,
            path=path.resolve(),
            units=units,
            categorical=categorical,
            resampling="nearest" if categorical else None,
            description=f"{field} of the pb-risk run",
        )
    )
    return name


def _check_model(artifact: Artifact, *, field: str, quantity: str) -> None:
    header = artifact.header
    if header.input_spec.kind != "covariates":
        raise ConfigError(
            f"{field} is a {header.input_spec.kind} model ({header.estimator}); only covariate "
            "models can be mapped",
            path=artifact.path,
            field=field,
            fix=f"give a {quantity} model trained on covariates, or map it first and pass the "
            f"raster as {field.split('.')[0]}.layer",
        )
    names = header.output_spec.names
    if len(names) != 1:
        raise ConfigError(
            f"the {quantity} model predicts {names}; one output, {quantity}, is needed",
            path=artifact.path,
            field=field,
            fix=f"use a model trained on {quantity} alone",
        )


def _check_pb_units(units: str, path, field: str) -> None:
    if not units.strip():
        log.warning("%s declares no units for Pb; assuming mg/kg", path)
    elif not is_mg_kg(units):
        raise ConfigError(
            f"Pb is in '{units}'; the thresholds are in mg/kg",
            path=path,
            field=field,
            fix="use Pb in mg/kg (1 g/kg = 1000 mg/kg, 1 % = 10,000 mg/kg): retrain the model "
            "on mg/kg, or declare scale and units: mg/kg for the layer in the catalog",
        )


def _check_ph_units(units: str, path, field: str) -> None:
    spelled = units.replace(" ", "").lower()
    if not spelled:
        log.warning("%s declares no units for pH; assuming pH units", path)
    elif spelled not in _PH_UNITS and not spelled.startswith("ph"):
        raise ConfigError(
            f"the pH source is in '{units}', not pH units",
            path=path,
            field=field,
            fix="give a model or raster of soil pH (e.g. trained with target_units: pH)",
        )


def _check_categorical(layer: CovariateLayer | None, catalog_path) -> None:
    if layer is None or layer.categorical or layer.resampling in ("nearest", "mode"):
        return
    raise ConfigError(
        f"land-use layer '{layer.name}' is not declared categorical: warping it would blend "
        "class codes into codes that mean nothing",
        path=catalog_path,
        field="land_use_layer",
        fix=f"declare categorical: true for '{layer.name}' in the catalog",
    )


def _pixel_area_ha(crs: str, transform) -> float | None:
    parsed = CRS.from_user_input(crs)
    if not parsed.is_projected:
        log.warning("the grid is in %s, a geographic CRS: areas are not reported", crs)
        return None
    _, metres_per_unit = parsed.linear_units_factor
    return abs(transform.a * transform.e) * metres_per_unit**2 / 1e4


def _run_catalog(plan: _Plan) -> CovariateCatalog:
    # Absolute paths: the run catalog lives in the output folder, away from the rasters.
    layers = [
        layer.model_copy(update={"path": layer.path.resolve()}) for layer in plan.catalog.layers
    ]
    return plan.catalog.model_copy(update={"layers": layers})


# ---------------------------------------------------------------------------- resume
def _run_fingerprint(config: RecommendPbRiskConfig, plan: _Plan) -> str:
    """What decides the reused map of a resumed run."""
    record: dict[str, Any] = {
        "config": config.result_defining(),
        "thresholds": file_sha256(plan.thresholds.path),
        "models": [a.sha256 for a in (plan.pb_artifact, plan.ph_artifact) if a is not None],
        "layers": [
            [layer.name, str(layer.path), layer.path.stat().st_size, layer.path.stat().st_mtime_ns]
            for layer in plan.catalog.layers
            if layer.path.exists()
        ],
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------------------- summaries
def summarize_risk(
    sources: dict[str, str], *, product: PbRisk, pixel_area_ha: float | None
) -> dict[str, Any]:
    """Pixels, area (ha) and share of the classified area per risk class and pH band.

    Parameters
    ----------
    sources
        GDAL dataset names of the mapped layers (COG paths or Zarr arrays), by layer name.
    product
        The ``pb_risk`` product of the run: its layer names, classes and table.
    pixel_area_ha
        Area of one pixel; None (geographic grid) reports pixels and shares only.

    Returns
    -------
    dict
        ``thresholds`` (the table as used), ``pixel_area_ha``, ``classified_pixels``,
        ``classified_area_ha``, ``classes`` (one entry per class), ``ph_bands`` (per band, its
        classes), and with the Pb p95 ``classes_p95``.
    """
    names, table = product.names, product.table
    n_classes, n_bands = len(PB_RISK_CLASSES), table.n_bands
    counts = _joint_counts(sources[names["class"]], sources[names["ph_band"]], n_bands + 1)
    counts = counts[:n_classes, 1:]  # band codes start at 1
    total = int(counts.sum())

    def entry(pixels: int) -> dict[str, Any]:
        return {
            "pixels": int(pixels),
            "area_ha": pixels * pixel_area_ha if pixel_area_ha is not None else None,
            "share": pixels / total if total else None,
        }

    def per_class(column: np.ndarray) -> list[dict[str, Any]]:
        return [
            {"class": cls.value, "label": cls.label, **entry(column[cls.value])}
            for cls in PB_RISK_CLASSES
        ]

    record = table.as_record()
    risk: dict[str, Any] = {
        "thresholds": {**record, "sha256": file_sha256(table.path)},
        "pixel_area_ha": pixel_area_ha,
        "classified_pixels": total,
        "classified_area_ha": total * pixel_area_ha if pixel_area_ha is not None else None,
        "classes": per_class(counts.sum(axis=1)),
        "ph_bands": [
            {**band, **entry(counts[:, i].sum()), "classes": per_class(counts[:, i])}
            for i, band in enumerate(record["ph_bands"])
        ],
    }
    if "class_p95" in names:
        upper = _joint_counts(sources[names["class_p95"]], sources[names["ph_band"]], n_bands + 1)
        risk["classes_p95"] = per_class(upper[:n_classes, 1:].sum(axis=1))
    return risk


def _joint_counts(class_source: str, band_source: str, n_band_codes: int) -> np.ndarray:
    """Pixel counts (class code, band code) over two class rasters on the same grid."""
    counts = np.zeros((256, n_band_codes), dtype=np.int64)
    with rasterio.open(class_source) as classes, rasterio.open(band_source) as bands:
        for _, window in classes.block_windows(1):
            codes = classes.read(1, window=window).astype(np.int64)
            band = bands.read(1, window=window).astype(np.int64)
            keep = (codes != CLASS_NODATA) & (band != CLASS_NODATA) & (band < n_band_codes)
            flat = np.bincount(
                codes[keep] * n_band_codes + band[keep], minlength=256 * n_band_codes
            )
            counts += flat.reshape(256, n_band_codes)
    return counts


def risk_table(risk: dict[str, Any]) -> pd.DataFrame:
    """The risk summary as one row per (scope, pH band, class), for the CSV.

    ``scope`` is ``all`` (the whole classified area), ``ph_band`` or ``p95`` (classes of the
    Pb 95th percentile); ``share`` is of the whole classified area.
    """
    rows = []

    def add(scope: str, band: dict[str, Any] | None, classes: list[dict[str, Any]]) -> None:
        for item in classes:
            rows.append(
                {
                    "scope": scope,
                    "ph_band": band["band"] if band else None,
                    "ph": band["ph"] if band else None,
                    "class": item["class"],
                    "label": item["label"],
                    "pixels": item["pixels"],
                    "area_ha": item["area_ha"],
                    "share": item["share"],
                }
            )

    add("all", None, risk["classes"])
    for band in risk["ph_bands"]:
        add("ph_band", band, band["classes"])
    if "classes_p95" in risk:
        add("p95", None, risk["classes_p95"])
    frame = pd.DataFrame(rows)
    frame["ph_band"] = frame["ph_band"].astype("Int64")  # blank, not 1.0, for scope "all"
    return frame


def _summary(
    config: RecommendPbRiskConfig,
    plan: _Plan,
    layers: dict[str, Any],
    risk: dict[str, Any],
) -> dict[str, Any]:
    table = plan.thresholds
    ph: dict[str, Any] = {"source": config.ph.source}
    if config.ph.constant is not None:
        ph |= {"constant": config.ph.constant, "assumption": " ".join(config.ph.reason.split())}
    else:
        ph |= {"from": str(config.ph.model or config.ph.layer), "layer": plan.ph_layer}
    if config.land_use_layer is not None:
        land_use = {
            "layer": config.land_use_layer,
            "paddy_codes": list(config.paddy_codes),
            "other_codes": config.other_codes,
        }
    else:
        land_use = {"everywhere": config.land_use or "other"}
    summary: dict[str, Any] = {
        "thresholds": {
            "name": table.name,
            "citation": table.citation,
            "file": str(table.path),
        },
        "pb": {
            "source": "model" if config.pb.model is not None else "layer",
            "from": str(config.pb.model or config.pb.layer),
            "layer": plan.pb_layer,
            "units": "mg/kg",
        },
        "ph": ph,
        "land_use": land_use,
        "classes": risk["classes"],
        "layers": {name: layers[name] for name in layers},
    }
    if plan.pb_layer in layers:
        # Pixels with Pb but no class: pH or land use missing there, or not farmland.
        lost = layers[plan.pb_layer]["valid_pixels"] - risk["classified_pixels"]
        summary["pixels_with_pb_without_class"] = lost
        if lost:
            log.warning(
                "%d pixels have Pb but no risk class: pH nodata or outside 0-14, land use "
                "nodata or not farmland",
                lost,
            )
    return summary
