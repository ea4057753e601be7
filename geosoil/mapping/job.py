"""A map run as a value: what every block needs, and the computation of one block.

A :class:`MapJob` is small and picklable (layers and cube by path, models by value), so a dask
worker receives it once and computes any block from it. :func:`compute_block` is the per-block
pipeline of DESIGN 4.4: read -> valid mask -> gather -> batched predict -> scatter -> products.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely
from rasterio.crs import CRS
from rasterio.features import geometry_mask
from shapely.geometry.base import BaseGeometry

from geosoil import __version__
from geosoil.errors import ConfigError, CovariateError
from geosoil.geo.grid import Block, Grid
from geosoil.geo.outputs import OutputVariable
from geosoil.geo.product import Product
from geosoil.io.writers import check_file_name
from geosoil.mapping.cube import CubeSource, SpectralResampling
from geosoil.mapping.predictors import ModelLayers
from geosoil.mapping.stack import CovariateStack
from geosoil.spectra.axis import SpectralAxis
from geosoil.trust.spectral_domain import match_quantity

__all__ = ["MapJob", "aoi_mask", "compute_block", "pixel_centres"]

# Names the Zarr store gives its coordinates and CRS variable (rioxarray's convention).
_STORE_COORDINATES = frozenset({"x", "y", "spatial_ref"})


@dataclass(frozen=True, eq=False)
class MapJob:
    """Models, products, covariates and an image cube applied over a grid.

    Parameters
    ----------
    grid
        Where the map lies.
    stack
        Every covariate the models and products read, and the cube's good bands when a
        spectral model runs (see :meth:`build`).
    models
        The artifacts and which of their layers to write.
    products
        Decision layers computed from model outputs and covariates, in order.
    aoi
        Polygons in the grid's CRS; pixels whose centre lies outside are nodata.
    batch_pixels
        Pixels per forward pass.
    """

    grid: Grid
    stack: CovariateStack
    models: tuple[ModelLayers, ...]
    products: tuple[Product, ...] = ()
    aoi: BaseGeometry | None = None
    batch_pixels: int = 8192

    @classmethod
    def build(
        cls,
        grid: Grid,
        catalog_layers: Sequence,
        models: Sequence[ModelLayers],
        products: Sequence[Product] = (),
        *,
        aoi: BaseGeometry | None = None,
        batch_pixels: int = 8192,
        catalog_path=None,
        cube: CubeSource | None = None,
    ) -> MapJob:
        """A job reading exactly the catalog layers that the models and products need.

        Spectral models read ``cube``, through a resampling onto their axis built here: a
        job that cannot be run faithfully is refused before anything is read or written.

        Raises
        ------
        ConfigError
            A spectral model without a cube, a covariate or product input that nothing
            provides, or an output name used twice.
        CubeError
            The cube's bands cannot be moved onto a spectral model's axis, or the cube is
            not on the grid's lattice.
        """
        _check_file_names(models, products)
        by_name = {layer.name: layer for layer in catalog_layers}
        produced: set[str] = set()
        needed: list[str] = []
        models = [_with_cube(model, cube) for model in models]
        reads_cube = any(model.is_spectral for model in models)
        if reads_cube:
            cube.check_grid(grid)
        for model in models:
            if model.is_spectral:
                produced.update(var.name for var in model.outputs())
                continue
            if not by_name and model.covariate_inputs:
                raise ConfigError(
                    f"model {model.artifact.path.name} reads covariates {model.inputs}, "
                    "but the config has no covariate catalog",
                    path=model.artifact.path,
                    field="covariates",
                    fix="add a covariates section (covariates.catalog: covariates.yaml)",
                )
            for name in model.covariate_inputs:
                if name not in by_name:
                    raise CovariateError(
                        f"model {model.artifact.path.name} needs covariate '{name}', which the "
                        "catalog does not have",
                        path=catalog_path,
                        field="covariates.catalog",
                        fix=f"add it to the catalog (the model was trained on {model.inputs}) "
                        "or use a model trained on the layers you have",
                    )
                if name not in needed:
                    needed.append(name)
            produced.update(var.name for var in model.outputs())
        for product in products:
            for name in product.inputs():
                if name in produced or name in needed:
                    continue
                if name not in by_name:
                    raise ConfigError(
                        f"product '{product.name}' reads layer '{name}', which is neither a "
                        "model output nor a catalog covariate",
                        path=catalog_path,
                        field=f"products.{product.name}.params",
                        fix=f"use one of: {', '.join(sorted(produced | set(by_name)))}",
                    )
                needed.append(name)
            for name in product.optional_inputs():
                if name not in produced and name in by_name and name not in needed:
                    needed.append(name)
            produced.update(var.name for var in product.outputs())
        job = cls(
            grid=grid,
            stack=CovariateStack.from_layers(
                [by_name[name] for name in needed], cube=cube if reads_cube else None
            ),
            models=tuple(models),
            products=tuple(products),
            aoi=aoi,
            batch_pixels=batch_pixels,
        )
        job._check_names(catalog_path)
        return job

    def _check_names(self, source) -> None:
        names = [var.name for var in self.variables]
        clashes = sorted(
            {n for n in names if names.count(n) > 1} | (set(names) & set(self.stack.names))
        )
        if clashes:
            raise ConfigError(
                f"output layer name(s) {clashes} are used twice (by models, products or "
                "covariates)",
                path=source,
                field="models.name",
                fix="give each model a distinct `name`, or each product a distinct `output`",
            )
        reserved = sorted(set(names) & _STORE_COORDINATES)
        if reserved:
            raise ConfigError(
                f"output layer name(s) {reserved} are taken by the map store's coordinates",
                path=source,
                field="models.name",
                fix="give the model another `name` (e.g. the property and its unit)",
            )

    @cached_property
    def variables(self) -> tuple[OutputVariable, ...]:
        """Every output layer, models first, then products."""
        return tuple(
            [var for model in self.models for var in model.outputs()]
            + [var for product in self.products for var in product.outputs()]
        )

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of everything that decides the output values.

        A resumed run must match the interrupted one on this, or it would mix two maps.
        """
        layers = []
        for layer in self.stack.layers:
            stat = layer.path.stat()
            layers.append(
                {
                    **layer.model_dump(mode="json"),
                    "size": stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                }
            )
        record = {
            "geosoil": __version__,
            "grid": [self.grid.crs, list(self.grid.transform)[:6], *self.grid.shape],
            "layers": layers,
            "models": [
                [m.sha256, m.name, m.uncertainty]
                + ([m.aoa, m.interval_level] if m.aoa or m.interval_level else [])
                for m in self.models
            ],
            "products": [[p.name, p.params.model_dump(mode="json")] for p in self.products],
            "aoi": None
            if self.aoi is None
            else hashlib.sha256(shapely.to_wkb(self.aoi)).hexdigest(),
            "batch_pixels": self.batch_pixels,
        }
        if self.stack.cube is not None:
            # Only with a cube, so that covariate runs keep the fingerprints they had.
            record["cube"] = self.stack.cube.fingerprint_record()
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _check_file_names(models: Sequence[ModelLayers], products: Sequence[Product]) -> None:
    """Every output name becomes a file name: each passes the one validator, first."""
    for model in models:
        for var in model.outputs():
            # A name from the config (models[].name) or from the artifact's header.
            from_artifact = model.name in ("", *model.artifact.header.output_spec.names)
            check_file_name(
                var.name,
                path=model.artifact.path if from_artifact else None,
                field="geosoil.output_spec.names" if from_artifact else "models.name",
            )
    for product in products:
        for var in product.outputs():
            check_file_name(var.name, field=f"products.{product.name}.params")


def aoi_mask(aoi: BaseGeometry, grid: Grid) -> np.ndarray:
    """Boolean (height, width): pixel centres inside ``aoi``."""
    return geometry_mask([aoi], out_shape=grid.shape, transform=grid.transform, invert=True)


def compute_block(job: MapJob, block: Block, features: np.ndarray) -> dict[str, np.ndarray]:
    """Every output layer of one block from what its stack read.

    Parameters
    ----------
    features
        float32 (n_rows, rows, cols) of ``job.stack`` over the block (covariates, then the
        cube's good bands), NaN where invalid.

    Returns
    -------
    dict
        Output name -> float32 (rows, cols), NaN where undefined.
    """
    outside = None if job.aoi is None else ~aoi_mask(job.aoi, block.grid)
    if outside is not None:
        features[:, outside] = np.nan
    index = {name: i for i, name in enumerate(job.stack.names)}
    layers: dict[str, np.ndarray] = dict(zip(job.stack.names, features, strict=True))
    for model in job.models:
        rows = [index[name] for name in model.covariate_inputs]
        if model.coordinate_inputs:
            model_features = _with_pixel_coordinates(model, features, index, block.grid)
            if outside is not None:
                model_features[:, outside] = np.nan
        elif rows and rows == list(range(rows[0], rows[0] + len(rows))):
            # Consecutive rows (all covariates, or a cube's bands): a view, not a copy.
            model_features = features[rows[0] : rows[0] + len(rows)]
        else:
            model_features = features[rows]
        layers.update(model.predict(model_features, batch_pixels=job.batch_pixels))
    for product in job.products:
        inputs = [layers[name] for name in product.inputs()]
        # Optional inputs the run does not have are simply absent from ``layers``.
        undefined = ~np.logical_and.reduce([np.isfinite(values) for values in inputs])
        for name, values in product.compute(layers).items():
            values = np.array(values, dtype=np.float32)
            values[undefined] = np.nan
            layers[name] = values
    return {var.name: layers[var.name] for var in job.variables}


def pixel_centres(grid: Grid, crs: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """float64 (rows, cols) easting and northing of every pixel centre of ``grid``, in
    ``crs`` (the grid's own when None)."""
    x, y = grid.coords()
    easting, northing = np.meshgrid(x, y)
    if crs is not None and CRS.from_user_input(crs) != grid.rio_crs:
        from pyproj import Transformer

        to_model = Transformer.from_crs(grid.crs, crs, always_xy=True)
        easting, northing = to_model.transform(easting, northing)
    return np.asarray(easting, dtype=np.float64), np.asarray(northing, dtype=np.float64)


def _with_pixel_coordinates(
    model: ModelLayers, features: np.ndarray, index: dict[str, int], grid: Grid
) -> np.ndarray:
    """float64 (n_inputs, rows, cols) of a model reading coordinates: its covariates from the
    stack, its coordinate inputs from the pixel centres (in the training samples' CRS)."""
    easting, northing = pixel_centres(grid, model.coordinate_crs)
    centres = dict(zip(model.coordinate_inputs, (easting, northing), strict=True))
    return np.stack(
        [centres[name] if name in centres else features[index[name]] for name in model.inputs]
    ).astype(np.float64, copy=False)


def _with_cube(model: ModelLayers, cube: CubeSource | None) -> ModelLayers:
    """A spectral model with its resampling from the cube's good bands; others unchanged."""
    if not model.is_spectral:
        return model
    if cube is None:
        raise ConfigError(
            f"model {model.artifact.path.name} reads spectra, and the config has no image cube",
            path=model.artifact.path,
            field="cube",
            fix="add a cube section (cube.path: the hyperspectral image, cube.resample: linear)",
        )
    spec = model.artifact.header.input_spec
    axis = SpectralAxis.from_values(
        spec.axis, spec.axis_unit, source=model.artifact.path, field="geosoil.input_spec.axis"
    )
    pipeline = getattr(model.artifact.estimator, "preprocessing_", None)
    used = None if pipeline is None else pipeline.used_input_bands(axis)
    resampling = SpectralResampling.build(cube, axis, model_path=model.artifact.path, used=used)
    data = cube.settings.get("quantity", "reflectance")
    trained = model.trust.spectral_quantity
    if trained is not None and trained != data:
        match_quantity(
            np.zeros((1, 1)),
            data=data,
            model=trained,
            convert=bool(cube.settings.get("convert_quantity")),
            path=model.artifact.path,
            field="cube.quantity",
        )  # refuses, naming the fix, unless the config converts
        resampling = dataclasses.replace(resampling, convert_to=trained)
    return model.with_resampling(resampling)
