"""Apply a trained artifact over a covariate stack, block by block (DESIGN 4.4, first version).

Per block: warped read of every input layer -> valid mask -> gather valid pixels (N, F) ->
``predict`` in batches under ``torch.inference_mode`` -> scatter back, nodata elsewhere.
Memory is bounded by the block size. This version runs blocks in sequence and writes one COG;
the dask-chunked, resumable engine grows from :func:`predict_block`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rasterio.features import geometry_mask
from shapely.geometry.base import BaseGeometry
from tqdm.auto import tqdm

from geosoil.artifacts import Artifact
from geosoil.errors import CovariateError
from geosoil.io.cog import BandStatistics, block_writer, convert_to_cog
from geosoil.io.qml import write_continuous_qml
from geosoil.mapping.grid import Grid
from geosoil.mapping.stack import CovariateStack

__all__ = ["MapSummary", "aoi_mask", "predict_block", "predict_to_cog"]

log = logging.getLogger(__name__)

NODATA = -9999.0


@dataclass(frozen=True)
class MapSummary:
    """What a map run produced."""

    path: Path
    n_pixels: int
    n_valid: int
    minimum: float
    maximum: float
    mean: float


def predict_block(features: np.ndarray, estimator, *, batch_pixels: int = 65536) -> np.ndarray:
    """Predict every valid pixel of a block.

    Parameters
    ----------
    features
        float32 (n_features, height, width), NaN where a layer has no valid value.
    estimator
        Fitted estimator whose ``predict`` takes an (N, n_features) array.
    batch_pixels
        Pixels per ``predict`` call; small batches keep the allocator from mapping fresh
        memory on every forward pass.

    Returns
    -------
    numpy.ndarray
        float32 (height, width), NaN where any input was invalid.
    """
    n_features, height, width = features.shape
    flat = features.reshape(n_features, -1)
    valid = np.isfinite(flat).all(axis=0)
    out = np.full(height * width, np.nan, dtype=np.float32)
    index = np.flatnonzero(valid)
    if index.size:
        pixels = np.ascontiguousarray(flat[:, index].T)
        with torch.inference_mode():
            for start in range(0, index.size, batch_pixels):
                stop = start + batch_pixels
                out[index[start:stop]] = estimator.predict(pixels[start:stop])
    return out.reshape(height, width)


def aoi_mask(aoi: BaseGeometry, grid: Grid) -> np.ndarray:
    """Boolean (height, width): pixel centres inside ``aoi``."""
    return geometry_mask([aoi], out_shape=grid.shape, transform=grid.transform, invert=True)


def predict_to_cog(
    stack: CovariateStack,
    artifact: Artifact,
    grid: Grid,
    out_path: str | Path,
    *,
    block_size: int = 512,
    batch_pixels: int = 65536,
    aoi: BaseGeometry | None = None,
    tags: dict[str, str] | None = None,
) -> MapSummary:
    """Map the artifact's first output over ``grid`` into a Cloud-Optimized GeoTIFF.

    A QGIS style ``<name>.qml`` is written beside it (same base name), stretched over the
    map's mean +- 2 sd.

    The stack must list the artifact's input layers in the artifact's order. Pixels whose
    centre lies outside ``aoi`` (a geometry in the grid's CRS) are nodata.
    """
    expected = artifact.header.input_spec.names
    if stack.names != expected:
        raise CovariateError(
            f"covariate stack {stack.names} does not match the model's inputs {expected}",
            path=artifact.path,
            field="input_spec.layers",
            fix="build the stack from the artifact's input names, in that order",
        )
    out_path = Path(out_path)
    spec = artifact.header.output_spec
    scratch = out_path.with_name(f".{out_path.stem}.blocks.tif")
    stats = BandStatistics()
    blocks = list(grid.blocks(block_size))
    band_tags = {"units": spec.units[0], "model_output": spec.names[0]}
    try:
        with (
            stack.open(grid) as reader,
            block_writer(
                scratch,
                grid,
                dtype="float32",
                nodata=NODATA,
                descriptions=[spec.names[0]],
                units=[spec.units[0]],
                tags=tags,
            ) as dataset,
        ):
            for block in tqdm(blocks, desc="mapping", unit="block", disable=None):
                features = reader.read(block.window)
                if aoi is not None:
                    features[:, ~aoi_mask(aoi, block.grid)] = np.nan
                prediction = predict_block(features, artifact.estimator, batch_pixels=batch_pixels)
                stats.update(prediction)
                dataset.write(np.nan_to_num(prediction, nan=NODATA), 1, window=block.window)
            dataset.update_tags(1, **band_tags, **stats.as_gdal_tags(grid.width * grid.height))
        convert_to_cog(scratch, out_path, overview_resampling="average")
    finally:
        scratch.unlink(missing_ok=True)
    if stats.count == 0:
        log.warning("no valid pixel on the grid: every covariate window was nodata")
    else:
        low, high = stats.display_range()
        write_continuous_qml(out_path, minimum=low, maximum=high, units=spec.units[0])
    summary = MapSummary(
        path=out_path,
        n_pixels=grid.width * grid.height,
        n_valid=stats.count,
        minimum=stats.minimum,
        maximum=stats.maximum,
        mean=stats.mean,
    )
    log.debug("wrote %s (%d of %d pixels valid)", out_path, summary.n_valid, summary.n_pixels)
    return summary
