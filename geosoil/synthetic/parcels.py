"""The parcels component: farm field polygons over the farmland, as ``fields.gpkg``.

Fields are rectangles of 250-600 m by 300-800 m (sizes in metres, so a finer world gets the
same fields on more pixels), turned by up to 30 degrees from north, placed one after another
at random farmland pixels. A candidate is kept when it lies inside the region, when no pixel
centre inside it is on the lake, when at least 60 % of them are cropland or paddy, and when it
keeps 50 m (a farm road) from every field placed before. Placement stops at
:data:`N_FIELDS` fields or after :data:`MAX_ATTEMPTS` candidates.

Each field gets ``field_id`` (F001...) and ``landuse``, its majority class among cropland and
paddy. The GeoPackage is written with a fixed timestamp, so the same world gives the same bytes.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
from affine import Affine
from rasterio.features import geometry_mask
from shapely.geometry import Polygon

from geosoil.io.writers import fixed_gpkg_timestamp
from geosoil.synthetic.world import Component, SyntheticWorld

__all__ = ["COMPONENT", "FIELDS_FILE", "N_FIELDS", "place_fields"]

log = logging.getLogger(__name__)

FIELDS_FILE = "fields.gpkg"
N_FIELDS = 36
MAX_ATTEMPTS = 3000
SIDE_M = (250.0, 600.0)
LENGTH_M = (300.0, 800.0)
MAX_TURN_DEG = 30.0
ROAD_M = 50.0
MIN_FARMLAND_SHARE = 0.6
_LANDUSE = {1: "cropland", 2: "paddy"}
# GeoPackage stores a "last change" timestamp; GDAL takes it from this option when it is set.
_FIXED_DATE = "2000-01-01T00:00:00.000Z"


def _rectangle(x: float, y: float, side_m: float, length_m: float, turn_deg: float) -> Polygon:
    """A rectangle centred on (x, y), its long side turned ``turn_deg`` from north."""
    turn = math.radians(turn_deg)
    along = np.array([math.sin(turn), math.cos(turn)]) * length_m / 2.0
    across = np.array([math.cos(turn), -math.sin(turn)]) * side_m / 2.0
    centre = np.array([x, y])
    corners = [centre + a * along + b * across for a, b in ((1, 1), (1, -1), (-1, -1), (-1, 1))]
    # Centimetre coordinates: no float noise in the file.
    return Polygon(np.round(np.array(corners), 2))


def _pixels_inside(world: SyntheticWorld, polygon: Polygon) -> tuple[slice, slice, np.ndarray]:
    """Row and column slices of the polygon's bounding window, and the centres inside it."""
    inverse = ~world.transform
    left, bottom, right, top = polygon.bounds
    col0, row0 = (math.floor(v) for v in inverse @ (left, top))
    col1, row1 = (math.ceil(v) for v in inverse @ (right, bottom))
    inside = geometry_mask(
        [polygon],
        out_shape=(row1 - row0, col1 - col0),
        transform=world.transform @ Affine.translation(col0, row0),
        invert=True,
    )
    return slice(row0, row1), slice(col0, col1), inside


def place_fields(world: SyntheticWorld, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Field polygons over the farmland of ``world`` (see the module docstring)."""
    landcover = world.latent["landcover"]
    lake = world.latent["lake"]
    farmland = np.isin(landcover, list(_LANDUSE)) & ~lake
    candidates = np.flatnonzero(farmland)
    left, top = world.transform.c, world.transform.f
    right = left + world.width * world.pixel_m
    bottom = top - world.height * world.pixel_m
    polygons: list[Polygon] = []
    uses: list[str] = []
    for _ in range(MAX_ATTEMPTS):
        if len(polygons) == N_FIELDS or candidates.size == 0:
            break
        row, col = divmod(int(rng.choice(candidates)), world.width)
        x, y = world.transform @ (col + rng.uniform(0.0, 1.0), row + rng.uniform(0.0, 1.0))
        polygon = _rectangle(
            x,
            y,
            rng.uniform(*SIDE_M),
            rng.uniform(*LENGTH_M),
            rng.uniform(-MAX_TURN_DEG, MAX_TURN_DEG),
        )
        minx, miny, maxx, maxy = polygon.bounds
        if minx < left or maxx > right or miny < bottom or maxy > top:
            continue
        if any(polygon.distance(other) < ROAD_M for other in polygons):
            continue
        rows, cols, inside = _pixels_inside(world, polygon)
        if not inside.any() or lake[rows, cols][inside].any():
            continue
        classes = landcover[rows, cols][inside]
        if np.isin(classes, list(_LANDUSE)).mean() < MIN_FARMLAND_SHARE:
            continue
        polygons.append(polygon)
        uses.append("paddy" if (classes == 2).sum() > (classes == 1).sum() else "cropland")
    if len(polygons) < N_FIELDS:
        log.warning("placed %d of %d fields", len(polygons), N_FIELDS)
    return gpd.GeoDataFrame(
        {
            "field_id": [f"F{i + 1:03d}" for i in range(len(polygons))],
            "landuse": uses,
        },
        geometry=polygons,
        crs=world.crs,
    )


def build(world: SyntheticWorld, rng: np.random.Generator) -> None:
    """Place the fields; they go to ``world.extra['parcels']``."""
    world.extra["parcels"] = place_fields(world, rng)


def write(world: SyntheticWorld, out_dir: Path) -> dict[str, Path]:
    """Write ``fields.gpkg`` (layer ``fields``)."""
    path = out_dir / FIELDS_FILE
    with fixed_gpkg_timestamp(_FIXED_DATE):
        world.extra["parcels"].to_file(path, driver="GPKG", layer="fields", engine="pyogrio")
    return {"fields": path}


def describe(world: SyntheticWorld) -> str:
    """README section on the field polygons."""
    fields = world.extra["parcels"]
    areas_ha = fields.geometry.area / 1e4
    counts = fields["landuse"].value_counts()
    return "\n".join(
        [
            "## Fields",
            "",
            f"`{FIELDS_FILE}`: GeoPackage (layer `fields`), {len(fields)} farm field polygons in",
            f"{world.crs}, columns `field_id` (F001...) and `landuse` (majority of cropland",
            f"{int(counts.get('cropland', 0))}, paddy {int(counts.get('paddy', 0))}); "
            f"{areas_ha.min():.1f} to {areas_ha.max():.1f} ha.",
            "Rectangles of 250-600 m x 300-800 m turned up to 30 degrees from north, on",
            "farmland (at least 60 % of their pixels cropland or paddy, none on the lake), 50 m",
            "apart. Use them with `geosoil recommend k-fertilizer` for per-field doses.",
        ]
    )


COMPONENT = Component(name="parcels", build=build, write=write, describe=describe)
