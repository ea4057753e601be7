"""Pieces shared by the ``recommend`` workflows: the resume record, map layer sources, JSON.

A recommend run writes into a resumable staging folder; a record of what decides its reused
parts (a fingerprint) sits there until the run completes, so a resume with other inputs is
refused instead of mixing two runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from geosoil.errors import OutputError
from geosoil.io.writers import write_bytes_atomic
from geosoil.workflows.map import STORE_NAME

__all__ = [
    "RUN_RECORD",
    "check_run_record",
    "finite_or_none",
    "holds_finished_work",
    "layer_sources",
    "write_json",
]

RUN_RECORD = ".recommend-run.json"


def check_run_record(staging: Path, fingerprint: str, *, resumed: bool) -> None:
    """Refuse to resume another run's staging folder; record ``fingerprint`` for a new one.

    Raises
    ------
    OutputError
        The interrupted run used another config or other inputs.
    """
    path = staging / RUN_RECORD
    if resumed and path.exists():
        found = json.loads(path.read_text()).get("fingerprint")
        if found != fingerprint:
            raise OutputError(
                "cannot resume: the interrupted run used another config, model, spectra or "
                "covariates",
                path=staging,
                field="output.resume",
                fix="resume with the same config and inputs, or pass --overwrite to start over",
            )
        return
    write_bytes_atomic(path, json.dumps({"fingerprint": fingerprint}).encode())


def holds_finished_work(staging: Path, *, cheap: tuple[str, ...] = ()) -> bool:
    """Whether a failed recommend run's staging folder is worth keeping for ``--resume``:
    anything besides the run record and the ``cheap`` files (rebuilt in no time)."""
    return any(path.name not in (RUN_RECORD, *cheap) for path in staging.iterdir())


def layer_sources(map_dir: Path, layers: dict[str, Any]) -> dict[str, str]:
    """GDAL dataset names of the mapped layers: the COGs, else the Zarr store's arrays."""
    sources = {}
    for name in layers:
        cog = map_dir / f"{name}.tif"
        sources[name] = str(cog) if cog.exists() else f'ZARR:"{map_dir / STORE_NAME}":/{name}'
    return sources


def finite_or_none(value: Any) -> Any:
    """NaN and infinities as None, so summaries are strict JSON."""
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_or_none(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(path: Path, data: Any) -> Path:
    """Strict JSON (NaN as null), indented, UTF-8, written atomically."""
    text = json.dumps(finite_or_none(data), indent=2, allow_nan=False, ensure_ascii=False)
    return write_bytes_atomic(path, (text + "\n").encode())
