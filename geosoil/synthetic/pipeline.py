"""Generate a world component by component, and write it.

:data:`COMPONENTS` is the ordered list of parts; each builds on the results of the ones before
it and draws from its own random stream. A new part (SOC profiles, flux-tower series, an
image cube) is one more module with ``build``/``write``/``describe`` and one more entry here;
the files of the existing parts do not change.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from affine import Affine

from geosoil.errors import OutputError, OutputExistsError
from geosoil.synthetic import covariates, parcels, properties, sampling, spectra
from geosoil.synthetic.readme import render_readme
from geosoil.synthetic.sizes import get_size
from geosoil.synthetic.streams import check_whole, component_rng
from geosoil.synthetic.world import Component, SyntheticWorld

__all__ = ["COMPONENTS", "MAIN_CRS", "synthesize", "write_world"]

log = logging.getLogger(__name__)

MAIN_CRS = "EPSG:32654"
# Upper-left corner of the region, in the hills east of Fukushima City.
ORIGIN_X_M = 440_000.0
ORIGIN_Y_M = 4_190_000.0

COMPONENTS: tuple[Component, ...] = (
    covariates.COMPONENT,
    properties.COMPONENT,
    sampling.COMPONENT,
    spectra.COMPONENT,
    parcels.COMPONENT,
)


def synthesize(*, size: str = "small", seed: int = 0) -> SyntheticWorld:
    """Generate a synthetic soil region with known truth, in memory.

    Parameters
    ----------
    size
        One of :data:`~geosoil.synthetic.WORLD_SIZES` (``small``, ``medium``, ``large``).
    seed
        Non-negative integer; the same size and seed always give the same world.

    Returns
    -------
    SyntheticWorld
        Covariates, true property maps, samples and spectra.

    Raises
    ------
    ConfigError
        Unknown size or a seed that is not a non-negative integer.
    """
    world_size = get_size(size)
    check_whole(seed, name="seed", minimum=0, fix="pass an integer such as 0")
    pixel_m = world_size.pixel_m
    world = SyntheticWorld(
        size_name=size,
        size=world_size,
        seed=int(seed),
        crs=MAIN_CRS,
        transform=Affine(pixel_m, 0.0, ORIGIN_X_M, 0.0, -pixel_m, ORIGIN_Y_M),
        width=world_size.width_px,
        height=world_size.height_px,
    )
    for component in COMPONENTS:
        start = time.perf_counter()
        component.build(world, component_rng(world.seed, component.name))
        log.info("built %s in %.1f s", component.name, time.perf_counter() - start)
    return world


def write_world(world: SyntheticWorld, out_dir: Path) -> dict[str, Path]:
    """Write every file of ``world`` into the existing, empty folder ``out_dir``.

    Parameters
    ----------
    world
        A world from :func:`synthesize`.
    out_dir
        Existing empty folder.

    Returns
    -------
    dict of str to Path
        Logical name (``catalog``, ``samples``, ``spectra_mir``, ``covariates/elevation_m``,
        ``truth/ph``, ``readme``...) to the written file.

    Raises
    ------
    OutputError
        ``out_dir`` does not exist or is not a folder.
    OutputExistsError
        ``out_dir`` is not empty.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise OutputError(
            "output folder does not exist",
            path=out_dir,
            fix="create the folder first, or let `geosoil synth` create it",
        )
    if any(out_dir.iterdir()):
        raise OutputExistsError(
            "output folder is not empty",
            path=out_dir,
            fix="choose an empty folder or remove its content",
        )
    written: dict[str, Path] = {}
    sections = []
    for component in COMPONENTS:
        start = time.perf_counter()
        written.update(component.write(world, out_dir))
        sections.append(component.describe(world))
        log.info("wrote %s in %.1f s", component.name, time.perf_counter() - start)
    readme = out_dir / "README.md"
    readme.write_text(render_readme(world, sections), encoding="utf-8")
    written["readme"] = readme
    return written
