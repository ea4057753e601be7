"""A map run as a value: what every block needs, and the computation of one block.

A :class:`MapJob` is small and picklable (layers by path, models by value), so a dask worker
receives it once and computes any block from it. :func:`compute_block` is the per-block
pipeline of DESIGN 4.4: read -> valid mask -> gather -> batched predict -> scatter -> products.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely
from rasterio.features import geometry_mask
from shapely.geometry.base import BaseGeometry

from geosoil import __version__
from geosoil.errors import ConfigError, CovariateError
from geosoil.mapping.grid import Block, Grid
from geosoil.mapping.outputs import OutputVariable
from geosoil.mapping.predictors import ModelLayers
from geosoil.mapping.stack import CovariateStack
from geosoil.products import Product

__all__ = ["MapJob", "aoi_mask", "compute_block"]


@dataclass(frozen=True, eq=False)
class MapJob:
    """Models, products and covariates applied over a grid.

    Parameters
    ----------
    grid
        Where the map lies.
    stack
        Every covariate the models and products read (see :meth:`build`).
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
    ) -> MapJob:
        """A job reading exactly the catalog layers that the models and products need."""
        by_name = {layer.name: layer for layer in catalog_layers}
        produced: set[str] = set()
        needed: list[str] = []
        for model in models:
            for name in model.inputs:
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
            produced.update(var.name for var in product.outputs())
        job = cls(
            grid=grid,
            stack=CovariateStack.from_layers([by_name[name] for name in needed]),
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
            "models": [[m.sha256, m.name, m.uncertainty] for m in self.models],
            "products": [[p.name, p.params.model_dump(mode="json")] for p in self.products],
            "aoi": None
            if self.aoi is None
            else hashlib.sha256(shapely.to_wkb(self.aoi)).hexdigest(),
            "batch_pixels": self.batch_pixels,
        }
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def aoi_mask(aoi: BaseGeometry, grid: Grid) -> np.ndarray:
    """Boolean (height, width): pixel centres inside ``aoi``."""
    return geometry_mask([aoi], out_shape=grid.shape, transform=grid.transform, invert=True)


def compute_block(job: MapJob, block: Block, features: np.ndarray) -> dict[str, np.ndarray]:
    """Every output layer of one block from its covariates.

    Parameters
    ----------
    features
        float32 (n_layers, rows, cols) of ``job.stack`` over the block, NaN where invalid.

    Returns
    -------
    dict
        Output name -> float32 (rows, cols), NaN where undefined.
    """
    if job.aoi is not None:
        features[:, ~aoi_mask(job.aoi, block.grid)] = np.nan
    index = {name: i for i, name in enumerate(job.stack.names)}
    layers: dict[str, np.ndarray] = dict(zip(job.stack.names, features, strict=True))
    for model in job.models:
        rows = [index[name] for name in model.inputs]
        model_features = features if rows == list(range(len(features))) else features[rows]
        layers.update(model.predict(model_features, batch_pixels=job.batch_pixels))
    for product in job.products:
        inputs = [layers[name] for name in product.inputs()]
        undefined = ~np.logical_and.reduce([np.isfinite(values) for values in inputs])
        for name, values in product.compute(layers).items():
            values = np.array(values, dtype=np.float32)
            values[undefined] = np.nan
            layers[name] = values
    return {var.name: layers[var.name] for var in job.variables}
