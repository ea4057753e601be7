"""Pieces shared by workflows: the recommend runs' resume record and map step; strict JSON.

A recommend run writes into a resumable staging folder; a record of what decides its reused
parts (a fingerprint) sits there until the run completes, so a resume with other inputs is
refused instead of mixing two runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from geosoil.config import save_config
from geosoil.config.base import StrictModel
from geosoil.config.common import OutputConfig
from geosoil.config.map import MapConfig
from geosoil.errors import OutputError
from geosoil.io.writers import resumable_directory, write_bytes_atomic
from geosoil.workflows.map import STORE_NAME, map_from_config, relocated

__all__ = [
    "RUN_RECORD",
    "check_run_record",
    "finish_run",
    "finite_or_none",
    "holds_finished_work",
    "layer_sources",
    "map_step",
    "published_maps",
    "staged_run",
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


@contextmanager
def staged_run(
    output: OutputConfig, fingerprint: Callable[[], str], *, cheap: tuple[str, ...] = ()
) -> Iterator[tuple[Path, bool]]:
    """The resumable staging folder of a recommend run, with its resume record checked.

    ``fingerprint()`` is what decides the run's reused parts; ``cheap`` names the files a
    failed run may leave that are not worth keeping (see :func:`holds_finished_work`).
    Yields the staging folder and whether it holds an interrupted run to resume.
    """
    keep = partial(holds_finished_work, cheap=cheap)
    with resumable_directory(
        output.dir, overwrite=output.overwrite, resume=output.resume, worth_keeping=keep
    ) as (staging, resumed):
        check_run_record(staging, fingerprint(), resumed=resumed)
        yield staging, resumed


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


def map_step(
    map_dir: Path,
    map_config: Callable[[], MapConfig],
    *,
    staging: Path,
    out_dir: Path,
    resumed: bool,
    source: Path | None,
) -> dict[str, Any]:
    """Run the map of a recommend run into ``map_dir``, unless a resumed run finished it.

    ``map_config`` builds the map config (only when the map must run); the saved copy names
    the published ``out_dir`` instead of ``staging``. Returns the mapped layers of its
    summary.
    """
    if not (resumed and (map_dir / "summary.json").exists()):
        config = map_config()
        map_from_config(config, source=source, published=relocated(config, staging, out_dir))
    return json.loads((map_dir / "summary.json").read_text())["layers"]


def finish_run(staging: Path, config: StrictModel, summary: Any) -> None:
    """Write the run's ``summary.json`` and ``config.yaml``; drop the resume record last."""
    write_json(staging / "summary.json", summary)
    save_config(config, staging / "config.yaml")
    (staging / RUN_RECORD).unlink()


def published_maps(
    map_dir: Path, layers: dict[str, Any], output_format: str
) -> tuple[dict[str, Path], Path | None]:
    """Where the mapped layers are published: one COG a layer, and the Zarr store."""
    cogs = {name: map_dir / f"{name}.tif" for name in layers if output_format != "zarr"}
    return cogs, map_dir / STORE_NAME if output_format != "cog" else None
