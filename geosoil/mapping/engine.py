"""The mapping engine (DESIGN 4.4): models and products applied over a grid, block by block.

:func:`run_map` fills a :class:`~geosoil.mapping.store.BlockStore`, skipping blocks a killed
run already finished, and returns each layer's statistics; :func:`predict_map` gives the same
layers as a lazy :class:`xarray.Dataset` for notebooks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from shapely.geometry.base import BaseGeometry

from geosoil.artifacts import Artifact, artifact_from_estimator
from geosoil.geo.grid import DEFAULT_CHUNK_PX, Block, Grid
from geosoil.geo.product import Product
from geosoil.mapping.cube import CubeSource
from geosoil.mapping.execution import Execution, run_blocks
from geosoil.mapping.job import MapJob, compute_block
from geosoil.mapping.predictors import ModelLayers
from geosoil.mapping.runtime import prepare_process
from geosoil.mapping.statistics import BandStatistics
from geosoil.mapping.store import BlockStore

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["predict_map", "run_map"]

log = logging.getLogger(__name__)


def run_map(
    job: MapJob, store: BlockStore, *, execution: Execution | None = None
) -> dict[str, BandStatistics]:
    """Compute every unfinished block of ``job`` into ``store``.

    Returns
    -------
    dict
        Layer name -> statistics over the whole grid, merged in block order so that they do
        not depend on scheduling or on a resume.
    """
    execution = execution or Execution()
    blocks = list(job.grid.blocks(store.chunk))
    finished = store.finished()
    todo = [block for block in blocks if block.index not in finished]
    if finished:
        log.info("resuming: %d of %d blocks already finished", len(finished), len(blocks))
    for index, stats in run_blocks(job, store, todo, execution, n_total=len(blocks)):
        finished[index] = stats
    merged = {var.name: BandStatistics() for var in job.variables}
    for block in blocks:
        for name, record in finished[block.index].items():
            merged[name] = merged[name].merge(BandStatistics(**record))
    return merged


def _model_layers(item) -> ModelLayers:
    if isinstance(item, ModelLayers):
        return item
    if not isinstance(item, Artifact):
        item = artifact_from_estimator(item, output="prediction")
    return ModelLayers.build(item)


def predict_map(
    stack,
    artifacts: Sequence[Artifact | ModelLayers],
    grid: Grid,
    *,
    chunks: int = DEFAULT_CHUNK_PX,
    products: Sequence[Product] = (),
    aoi: BaseGeometry | None = None,
    batch_pixels: int = 8192,
    cube: CubeSource | None = None,
) -> xr.Dataset:
    """Lazy map layers: one float32 variable per output, NaN where undefined.

    Parameters
    ----------
    stack
        The covariate catalog's layers (a :class:`~geosoil.mapping.stack.CovariateStack` or
        a sequence of :class:`~geosoil.io.catalog.CovariateLayer`); the models and products
        read the ones they need.
    artifacts
        Loaded artifacts (their main output), :class:`ModelLayers` for names and
        uncertainty layers, or fitted covariate estimators in memory (their inputs are the
        columns they were fitted on; the layer is named ``prediction``; use
        :func:`~geosoil.artifacts.artifact_from_estimator` to give names and units).
    chunks
        Block side in pixels; each block is read and predicted once for all variables.
    cube
        An image cube that spectral models read (``CubeSource.open``); ``stack``
        may then be empty.

    Returns
    -------
    xarray.Dataset
        Dask-backed, with ``x``/``y`` coordinates and the CRS (rioxarray ``spatial_ref``).
    """
    # Here, not at the top: ``geosoil map`` runs blocks without xarray (a second of imports).
    import dask
    import dask.array as da
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    models = [_model_layers(a) for a in artifacts]
    layers = getattr(stack, "layers", stack)
    job = MapJob.build(
        grid, layers, models, products, aoi=aoi, batch_pixels=batch_pixels, cube=cube
    )
    blocks = list(grid.blocks(chunks))
    n_rows = blocks[-1].index[0] + 1
    per_block = {block.index: dask.delayed(_lazy_block, pure=False)(job, block) for block in blocks}
    variables = {}
    for var in job.variables:
        pieces = [[] for _ in range(n_rows)]
        for block in blocks:
            pieces[block.index[0]].append(
                da.from_delayed(per_block[block.index][var.name], block.grid.shape, np.float32)
            )
        variables[var.name] = xr.Variable(
            ("y", "x"), da.block(pieces), attrs={"units": var.units, "long_name": var.description}
        )
    x, y = grid.coords()
    dataset = xr.Dataset(variables, coords={"x": x, "y": y})
    dataset = dataset.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    return dataset


def _lazy_block(job: MapJob, block: Block) -> dict[str, np.ndarray]:
    prepare_process()
    with job.stack.open(job.grid) as reader:
        return compute_block(job, block, reader.read(block.window))
