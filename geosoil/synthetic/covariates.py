"""The covariates component: terrain, climate, land cover, texture and the mine, as GeoTIFFs.

Every layer is built on the main UTM grid. Two are delivered on other grids, as real
covariates are, so that users must align them: ``map_mm`` on geographic coordinates
(EPSG:4326) at about 3x the pixel size, ``mat_degc`` on the main CRS at 2x, both by averaging.
Soil layers (clay, sand, bulk density, parent material) are nodata on the lake; NDVI is nodata
under a cloud. The formulas live in :mod:`terrain`, :mod:`climate`, :mod:`landscape` and
:mod:`texture`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.warp import Resampling

from geosoil.io.catalog import CovariateCatalog, CovariateLayer, write_catalog
from geosoil.synthetic import climate, landscape, terrain, texture
from geosoil.synthetic.rasters import (
    FLOAT_NODATA,
    RasterLayer,
    geographic_grid,
    warp_layer,
    write_geotiff,
)
from geosoil.synthetic.streams import substream
from geosoil.synthetic.world import Component, SyntheticWorld

__all__ = ["COMPONENT", "COVARIATE_SPECS", "CovariateSpec"]

CLASS_NODATA = 0
GEOGRAPHIC_CRS = "EPSG:4326"
MAP_COARSENING = 3
MAT_COARSENING = 2


@dataclass(frozen=True)
class CovariateSpec:
    """What a covariate layer declares about itself."""

    name: str
    units: str
    description: str
    categorical: bool = False


COVARIATE_SPECS: tuple[CovariateSpec, ...] = (
    CovariateSpec("elevation_m", "m", "elevation above sea level"),
    CovariateSpec("slope_deg", "degree", "terrain slope from the elevation gradient"),
    CovariateSpec(
        "twi", "dimensionless", "topographic wetness index ln(a/tan b), position-based proxy"
    ),
    CovariateSpec("mat_degc", "degC", "mean annual air temperature (2x coarser grid)"),
    CovariateSpec("map_mm", "mm", "mean annual precipitation (EPSG:4326, ~3x coarser grid)"),
    CovariateSpec("clay_pct", "%", "topsoil clay content"),
    CovariateSpec("sand_pct", "%", "topsoil sand content"),
    CovariateSpec("ndvi", "dimensionless", "normalised difference vegetation index, cloud gap"),
    CovariateSpec(
        "landcover",
        "class",
        "1 cropland, 2 paddy, 3 grassland, 4 forest, 5 urban, 6 water",
        categorical=True,
    ),
    CovariateSpec(
        "parent_material",
        "class",
        "1 granite, 2 andesite/volcanic ash, 3 limestone, 4 alluvium",
        categorical=True,
    ),
    CovariateSpec("dist_mine_m", "m", "distance to the mine"),
    CovariateSpec("bulk_density_g_cm3", "g/cm3", "topsoil bulk density"),
)


def build(world: SyntheticWorld, rng: np.random.Generator) -> None:
    """Build every covariate on the main grid and the delivered layers."""
    shape, pixel_m = world.shape, world.pixel_m
    xs, ys = world.pixel_centres()

    elevation = terrain.elevation_m(substream(rng, "elevation"), shape, pixel_m)
    lake, elevation = terrain.carve_lake(substream(rng, "lake"), elevation, pixel_m)
    land = ~lake
    slope = terrain.slope_deg(elevation, pixel_m)
    position = terrain.topographic_position(elevation, pixel_m)
    twi = terrain.twi_from_terrain(slope, position)
    climate_rng = substream(rng, "climate")
    mat = climate.mat_degc(climate_rng, elevation, ys, pixel_m)
    precipitation = climate.map_mm(climate_rng, elevation, pixel_m)
    parent = landscape.parent_material_codes(
        substream(rng, "parent_material"),
        elevation=elevation,
        slope=slope,
        twi=twi,
        position=position,
        lake=lake,
        pixel_m=pixel_m,
    )
    cover = landscape.landcover_codes(
        substream(rng, "landcover"),
        elevation=elevation,
        slope=slope,
        twi=twi,
        parent_material=parent,
        lake=lake,
        pixel_m=pixel_m,
    )
    ndvi_clear = landscape.ndvi(substream(rng, "ndvi"), cover, elevation, pixel_m)
    cloud = landscape.cloud_mask(substream(rng, "cloud"), shape, pixel_m)
    mine_row, mine_col = landscape.place_mine(
        substream(rng, "mine"), slope=slope, lake=lake, pixel_m=pixel_m
    )
    mine_x, mine_y = world.transform @ (mine_col + 0.5, mine_row + 0.5)
    dist_mine = np.hypot(xs[None, :] - mine_x, ys[:, None] - mine_y).astype(np.float32)
    clay, sand = texture.clay_sand_pct(
        substream(rng, "texture"),
        parent_material=parent,
        twi=twi,
        slope=slope,
        land=land,
        pixel_m=pixel_m,
    )
    bulk_density = texture.bulk_density_g_cm3(
        substream(rng, "bulk_density"),
        parent_material=parent,
        landcover=cover,
        sand_pct=sand,
        pixel_m=pixel_m,
    )

    # Complete fields on the main grid: truth is a function of these, not of the degraded
    # delivered copies (coarse climate, cloud gap).
    fine = {
        "elevation_m": elevation,
        "slope_deg": slope,
        "twi": twi,
        "mat_degc": mat,
        "map_mm": precipitation,
        "clay_pct": clay,
        "sand_pct": sand,
        "ndvi": ndvi_clear,
        "landcover": cover,
        "parent_material": parent,
        "dist_mine_m": dist_mine,
        "bulk_density_g_cm3": bulk_density,
    }
    world.latent.update(fine)
    world.latent["lake"] = lake
    world.latent["topographic_position"] = position
    world.latent["cloud"] = cloud
    world.landmarks["mine"] = (float(mine_x), float(mine_y))

    masked = {
        "clay_pct": lake,
        "sand_pct": lake,
        "bulk_density_g_cm3": lake,
        "ndvi": cloud,
    }
    for spec in COVARIATE_SPECS:
        data = fine[spec.name]
        nodata = CLASS_NODATA if spec.categorical else FLOAT_NODATA
        if spec.name in masked:
            data = np.where(masked[spec.name], data.dtype.type(nodata), data)
        layer = world.main_layer(
            spec.name,
            data,
            units=spec.units,
            nodata=nodata,
            categorical=spec.categorical,
            description=spec.description,
        )
        world.covariates[spec.name] = _deliver(world, layer)


def _deliver(world: SyntheticWorld, layer: RasterLayer) -> RasterLayer:
    """The layer on the grid it is handed out on."""
    if layer.name == "map_mm":
        transform, width, height = geographic_grid(
            world.crs,
            world.transform,
            world.width,
            world.height,
            coarsening=MAP_COARSENING,
            dst_crs=GEOGRAPHIC_CRS,
        )
        return warp_layer(
            layer,
            dst_crs=GEOGRAPHIC_CRS,
            dst_transform=transform,
            width=width,
            height=height,
            resampling=Resampling.average,
        )
    if layer.name == "mat_degc":
        pixel_m = world.pixel_m * MAT_COARSENING
        transform = Affine(pixel_m, 0.0, world.transform.c, 0.0, -pixel_m, world.transform.f)
        return warp_layer(
            layer,
            dst_crs=world.crs,
            dst_transform=transform,
            width=-(-world.width // MAT_COARSENING),
            height=-(-world.height // MAT_COARSENING),
            resampling=Resampling.average,
        )
    return layer


def write(world: SyntheticWorld, out_dir: Path) -> dict[str, Path]:
    """Write ``covariates/<name>.tif`` for every layer and the catalog ``covariates.yaml``."""
    folder = out_dir / "covariates"
    folder.mkdir()
    written: dict[str, Path] = {}
    catalog_layers = []
    for spec in COVARIATE_SPECS:
        layer = world.covariates[spec.name]
        path = folder / f"{spec.name}.tif"
        write_geotiff(layer, path)
        written[f"covariates/{spec.name}"] = path
        catalog_layers.append(
            CovariateLayer(
                name=spec.name,
                path=path,
                units=spec.units,
                categorical=spec.categorical,
                resampling="nearest" if spec.categorical else "bilinear",
                nodata=layer.nodata,
                description=spec.description,
            )
        )
    catalog_path = out_dir / "covariates.yaml"
    write_catalog(CovariateCatalog(crs=world.crs, layers=catalog_layers), catalog_path)
    written["catalog"] = catalog_path
    return written


def describe(world: SyntheticWorld) -> str:
    """README section on the covariate files."""
    lines = [
        "## Covariates",
        "",
        f"`covariates.yaml` is the catalog (geosoil `CovariateCatalog`, main CRS {world.crs});",
        "`covariates/<name>.tif` are single-band GeoTIFFs (tiled 256, deflate + predictor,",
        f"band description = name, `units` tag). Float nodata is {FLOAT_NODATA:g}, class",
        f"nodata {CLASS_NODATA}.",
        "",
        "| layer | units | CRS | pixel | meaning |",
        "|---|---|---|---|---|",
    ]
    for spec in COVARIATE_SPECS:
        layer = world.covariates[spec.name]
        res_x, _ = layer.resolution
        pixel = f"{res_x:.7g} deg" if layer.crs == GEOGRAPHIC_CRS else f"{res_x:g} m"
        lines.append(
            f"| `{spec.name}` | {spec.units} | {layer.crs} | {pixel} | {spec.description} |"
        )
    mine_x, mine_y = world.landmarks["mine"]
    lines += [
        "",
        "Generating functions (G(L) is a unit Gaussian random field of correlation length L,",
        "z() standardises over land):",
        "",
        "- elevation = 60 + 80 softplus((z - q15(z))/80), z = 12 m/km x km from the east edge",
        "  + 180 G(5 km) + 120 G(1.2 km) + 35 G(350 m); a lake is carved in a low hollow;",
        "- slope = atan |grad elevation|; TWI = ln(a / max(tan slope, 0.001)) with",
        "  a = 50 m exp(-1.5 P), P the mean standardised topographic position index at 150,",
        "  600 and 2400 m (a proxy for upslope area, no flow routing);",
        "- MAT = 13.8 - 0.006 elevation - 0.01 x km north of y=4190000 + 0.35 G(12 km);",
        "  MAP = 1100 + 0.5 elevation + 90 G(10 km);",
        "- parent material and land cover: classes given in turn to the highest-scoring free",
        "  pixels in fixed shares (alluvium on valley floors, volcanic ash in the western",
        "  uplands, forest on steep and high ground, paddy on wet alluvium);",
        "- clay, sand and bulk density: per-parent-material means + terrain terms + G noise",
        "  (clay + sand <= 95 %); NDVI: per-land-cover means + G(500 m), with a cloud gap;",
        f"- the mine is at x={mine_x:.0f} m, y={mine_y:.0f} m ({world.crs}).",
    ]
    return "\n".join(lines)


COMPONENT = Component(name="covariates", build=build, write=write, describe=describe)
