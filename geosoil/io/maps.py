"""Reading a map run's Zarr store back, class layers as integer codes."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from geosoil.errors import InputFileNotFoundError

__all__ = ["open_map_zarr"]


def open_map_zarr(path: str | Path) -> xr.Dataset:
    """Open ``map.zarr`` lazily: continuous layers as float32 with NaN for nodata, class
    layers as uint8 codes (255 = nodata) named by ``flag_values``/``flag_meanings``.

    Plain ``xr.open_zarr`` masks every layer's fill value and so turns class codes into
    floats; this keeps them integers. The store keeps the fill value 255 on purpose: it is
    what GDAL reads as the class layers' nodata (the COGs are written from the store), and
    what a block not yet written reads as while a run can still be resumed. Without it a
    plain ``xr.open_zarr`` would give integers, but an unwritten block would read as class 0.
    ``xr.open_zarr(path, mask_and_scale=False)`` gives integers for every layer (and the
    float layers' -9999 unmasked).
    """
    path = Path(path)
    if not path.is_dir():
        raise InputFileNotFoundError(
            "map store not found", path=path, fix="name the map.zarr folder of a map run"
        )
    probe = xr.open_zarr(path, consolidated=True, mask_and_scale=False)
    classes = [name for name, var in probe.data_vars.items() if "flag_values" in var.attrs]
    probe.close()
    return xr.open_zarr(
        path, consolidated=True, mask_and_scale={name: False for name in classes} or True
    )
