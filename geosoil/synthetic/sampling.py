"""The samples component: sites, clustered topsoil samples, lab values and covariates.

Sites are drawn among valid soil pixels (land, outside the NDVI cloud gap) with weights
1 + 1 [cropland or paddy] + 3 exp(-distance to mine / 3 km): surveys favour farmland and the
surroundings of a known polluter. Each site gets 1 to ``samples_per_site`` samples spread
uniformly over a disc of 150 m radius around it; a sample that would fall on an invalid pixel
or outside the region is redrawn (at most 20 times, then put at the site itself).

Lab values are the true value at the sample's pixel with a measurement error: Kex x exp(N(0,
0.05)), pH + N(0, 0.08), SOC x exp(N(0, 0.04)), Pb x exp(N(0, 0.06)), rounded to lab
precision. Covariate columns are read from the delivered layers at the point, each in its own
CRS (pixel containing the point, as ``rasterio``'s ``sample``).

Soil group (WRB-like reference group), first rule that applies:

1. Leptosol: slope > 15 degrees (shallow soil on steep ground);
2. Gleysol: paddy with TWI above its 85th percentile on land (waterlogged);
3. Andosol: andesite / volcanic ash parent material;
4. Fluvisol: alluvium;
5. Luvisol: limestone or clay > 30 % (clay illuviation);
6. Cambisol: everything else.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio.transform import rowcol

from geosoil.synthetic.covariates import COVARIATE_SPECS
from geosoil.synthetic.rasters import sample_points
from geosoil.synthetic.streams import substream
from geosoil.synthetic.world import Component, SyntheticWorld

__all__ = ["COMPONENT", "SOIL_GROUPS", "soil_groups"]

SITE_RADIUS_M = 150.0
DEPTH_TOP_CM = 0
DEPTH_BOTTOM_CM = 15
SOIL_GROUPS = ("Leptosol", "Gleysol", "Andosol", "Fluvisol", "Luvisol", "Cambisol")
_MAX_REDRAWS = 20
# (log-normal sigma or additive sd, decimals kept by the lab)
_LAB_ERROR = {
    "kex_cmol_kg": ("multiplicative", 0.05, 3),
    "ph": ("additive", 0.08, 2),
    "soc_pct": ("multiplicative", 0.04, 2),
    "pb_mg_kg": ("multiplicative", 0.06, 1),
}


def soil_groups(
    *,
    slope_deg: np.ndarray,
    twi: np.ndarray,
    twi_wet_threshold: float,
    landcover: np.ndarray,
    parent_material: np.ndarray,
    clay_pct: np.ndarray,
) -> np.ndarray:
    """Soil group names (object array) by the rules of the module docstring."""
    conditions = [
        slope_deg > 15.0,
        (twi > twi_wet_threshold) & (landcover == 2),
        parent_material == 2,
        parent_material == 4,
        (parent_material == 3) | (clay_pct > 30.0),
    ]
    return np.select(conditions, list(SOIL_GROUPS[:-1]), default=SOIL_GROUPS[-1]).astype(object)


def _valid_soil(world: SyntheticWorld) -> np.ndarray:
    valid = ~world.latent["lake"]
    for layer in world.covariates.values():
        if layer.crs == world.crs and layer.transform == world.transform:
            valid &= layer.valid()
    return valid


def _place_samples(
    world: SyntheticWorld, rng: np.random.Generator, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, site index) of every sample, sites in order."""
    fine = world.latent
    weights = (
        1.0 + 1.0 * np.isin(fine["landcover"], (1, 2)) + 3.0 * np.exp(-fine["dist_mine_m"] / 3000.0)
    )[valid]
    candidates = np.flatnonzero(valid)
    n_sites = min(world.size.n_sites, candidates.size)
    chosen = rng.choice(candidates, size=n_sites, replace=False, p=weights / weights.sum())
    site_row, site_col = np.divmod(chosen, world.width)
    # A site is a point inside its pixel, not the pixel centre.
    site_x, site_y = world.transform @ (
        site_col + rng.uniform(0.0, 1.0, n_sites),
        site_row + rng.uniform(0.0, 1.0, n_sites),
    )
    counts = rng.integers(1, world.size.samples_per_site + 1, size=n_sites)
    site_index = np.repeat(np.arange(n_sites), counts)
    xs = np.repeat(site_x, counts)
    ys = np.repeat(site_y, counts)
    pending = np.ones(xs.size, dtype=bool)
    out_x, out_y = xs.copy(), ys.copy()
    for _ in range(_MAX_REDRAWS):
        n = int(pending.sum())
        if n == 0:
            break
        radius = SITE_RADIUS_M * np.sqrt(rng.uniform(0.0, 1.0, n))
        angle = rng.uniform(0.0, 2.0 * np.pi, n)
        trial_x = xs[pending] + radius * np.cos(angle)
        trial_y = ys[pending] + radius * np.sin(angle)
        rows, cols = (np.asarray(v) for v in rowcol(world.transform, trial_x, trial_y))
        inside = (rows >= 0) & (rows < world.height) & (cols >= 0) & (cols < world.width)
        ok = inside.copy()
        ok[inside] = valid[rows[inside], cols[inside]]
        index = np.flatnonzero(pending)
        out_x[index[ok]] = trial_x[ok]
        out_y[index[ok]] = trial_y[ok]
        pending[index[ok]] = False
    return out_x, out_y, site_index


def _lab_value(rng: np.random.Generator, name: str, true: np.ndarray) -> np.ndarray:
    kind, size, decimals = _LAB_ERROR[name]
    if kind == "multiplicative":
        measured = true * np.exp(rng.normal(0.0, size, true.size))
    else:
        measured = true + rng.normal(0.0, size, true.size)
    return np.round(measured.astype(np.float64), decimals)


def build(world: SyntheticWorld, rng: np.random.Generator) -> None:
    """Place sites and samples and fill ``world.samples``."""
    valid = _valid_soil(world)
    xs, ys, site_index = _place_samples(world, substream(rng, "placement"), valid)
    n = xs.size
    rows, cols = (np.asarray(v) for v in rowcol(world.transform, xs, ys))
    fine = world.latent
    land = ~fine["lake"]
    digits = max(5, len(str(n)))
    site_digits = max(4, len(str(world.size.n_sites)))
    columns: dict[str, object] = {
        "sample_id": [f"S{i + 1:0{digits}d}" for i in range(n)],
        "site_id": [f"SITE{i + 1:0{site_digits}d}" for i in site_index],
        "soil_group": soil_groups(
            slope_deg=fine["slope_deg"][rows, cols],
            twi=fine["twi"][rows, cols],
            twi_wet_threshold=float(np.quantile(fine["twi"][land], 0.85)),
            landcover=fine["landcover"][rows, cols],
            parent_material=fine["parent_material"][rows, cols],
            clay_pct=fine["clay_pct"][rows, cols],
        ),
        "depth_top_cm": np.full(n, DEPTH_TOP_CM, dtype=np.int64),
        "depth_bottom_cm": np.full(n, DEPTH_BOTTOM_CM, dtype=np.int64),
    }
    lab_rng = substream(rng, "lab")
    for name, layer in world.truth.items():
        columns[name] = _lab_value(lab_rng, name, layer.data[rows, cols])
    for spec in COVARIATE_SPECS:
        layer = world.covariates[spec.name]
        values = sample_points(layer, xs, ys, crs=world.crs)
        if np.any(values == layer.data.dtype.type(layer.nodata)):
            raise RuntimeError(f"a sample fell on nodata of covariate {spec.name}")
        columns[spec.name] = values.astype(np.int64 if spec.categorical else np.float64)
    world.samples = gpd.GeoDataFrame(
        pd.DataFrame(columns), geometry=gpd.points_from_xy(xs, ys), crs=world.crs
    )


def write(world: SyntheticWorld, out_dir: Path) -> dict[str, Path]:
    """Write ``samples.parquet`` (GeoParquet)."""
    path = out_dir / "samples.parquet"
    world.samples.to_parquet(path, index=False)
    return {"samples": path}


def describe(world: SyntheticWorld) -> str:
    """README section on the samples."""
    samples = world.samples
    groups = ", ".join(
        f"{name} {count}"
        for name, count in samples["soil_group"].value_counts().sort_index().items()
    )
    covariate_names = ", ".join(f"`{spec.name}`" for spec in COVARIATE_SPECS)
    return "\n".join(
        [
            "## Samples",
            "",
            f"`samples.parquet`: GeoParquet, point geometry in {world.crs}, one row per sample",
            f"({len(samples)} samples at {samples['site_id'].nunique()} sites, 1 to "
            f"{world.size.samples_per_site} samples per site within {SITE_RADIUS_M:g} m).",
            "Columns:",
            "",
            "- `sample_id` (S00001...), `site_id`, `soil_group` (WRB-like; counts: "
            + groups
            + ");",
            f"- `depth_top_cm` = {DEPTH_TOP_CM}, `depth_bottom_cm` = {DEPTH_BOTTOM_CM};",
            "- lab values: `kex_cmol_kg` (cmol(+)/kg), `ph` (H2O), `soc_pct` (%), `pb_mg_kg`",
            "  (mg/kg): the truth at the sample's pixel with a lab error (Kex 5 %, pH 0.08,",
            "  SOC 4 %, Pb 6 %);",
            "- covariates at the point, one column per layer, named as the layer:",
            f"  {covariate_names};",
            "  each read from the delivered raster in its own CRS (pixel containing the",
            "  point); classes as integers;",
            "- `geometry`.",
            "",
            "Sites favour cropland and paddy (x2) and the mine's surroundings; soil groups",
            "follow rules: Leptosol (slope > 15 deg), Gleysol (wet paddy), Andosol",
            "(volcanic ash), Fluvisol (alluvium), Luvisol (limestone or clay > 30 %), else",
            "Cambisol.",
        ]
    )


COMPONENT = Component(name="samples", build=build, write=write, describe=describe)
