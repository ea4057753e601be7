"""Sample points: schema, positions, and covariate values equal to the rasters'."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.warp import transform as transform_coords

from geosoil.io.catalog import read_catalog
from geosoil.synthetic import WORLD_SIZES, synthesize, write_world

PROPERTIES = ["kex_cmol_kg", "ph", "soc_pct", "pb_mg_kg"]
SOIL_GROUPS = {"Andosol", "Cambisol", "Fluvisol", "Gleysol", "Leptosol", "Luvisol"}


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    write_world(synthesize(size="small", seed=0), out)
    return out


@pytest.fixture(scope="module")
def samples(world_dir):
    return gpd.read_parquet(world_dir / "samples.parquet")


def _xy(samples):
    return list(zip(samples.geometry.x, samples.geometry.y, strict=True))


def test_schema(samples, world_dir):
    catalog = read_catalog(world_dir / "covariates.yaml")
    expected = [
        "sample_id",
        "site_id",
        "soil_group",
        "depth_top_cm",
        "depth_bottom_cm",
        *PROPERTIES,
        *catalog.names(),
        "geometry",
    ]
    assert list(samples.columns) == expected
    assert samples.crs.to_string() == "EPSG:32654"
    assert (samples.geometry.geom_type == "Point").all()
    assert samples["sample_id"].is_unique
    assert samples["sample_id"].iloc[0] == "S00001"
    assert samples["sample_id"].str.fullmatch(r"S\d{5}").all()
    assert (samples["depth_top_cm"] == 0).all() and (samples["depth_bottom_cm"] == 15).all()
    assert set(samples["soil_group"]) <= SOIL_GROUPS
    assert len(set(samples["soil_group"])) >= 4
    for name in ("landcover", "parent_material"):
        assert samples[name].dtype.kind == "i"
    for name in PROPERTIES:
        assert samples[name].notna().all()


def test_sites_and_clusters(samples):
    size = WORLD_SIZES["small"]
    per_site = samples.groupby("site_id").size()
    assert len(per_site) == size.n_sites
    assert per_site.min() >= 1 and per_site.max() <= size.samples_per_site
    assert per_site.gt(1).any()
    assert 1.5 * size.n_sites < len(samples) < 3.5 * size.n_sites
    # Every sample lies within 150 m of its site, so no two of a site are over 300 m apart.
    for _, site in samples.groupby("site_id"):
        xy = np.column_stack([site.geometry.x, site.geometry.y])
        apart = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
        assert apart.max() <= 2 * 150.0 + 1e-6


@pytest.mark.parametrize(
    "name",
    [
        "elevation_m",
        "slope_deg",
        "twi",
        "mat_degc",
        "clay_pct",
        "sand_pct",
        "ndvi",
        "landcover",
        "parent_material",
        "dist_mine_m",
        "bulk_density_g_cm3",
    ],
)
def test_covariates_equal_raster_samples(samples, world_dir, name):
    with rasterio.open(world_dir / "covariates" / f"{name}.tif") as src:
        assert src.crs.to_string() == samples.crs.to_string()
        values = np.array([v[0] for v in src.sample(_xy(samples))])
        assert not np.any(values == src.nodata)
    np.testing.assert_array_equal(samples[name].to_numpy(), values.astype(samples[name].dtype))


def test_geographic_covariate_sampled_in_its_own_crs(samples, world_dir):
    with rasterio.open(world_dir / "covariates" / "map_mm.tif") as src:
        lon, lat = transform_coords(
            samples.crs, src.crs, samples.geometry.x.tolist(), samples.geometry.y.tolist()
        )
        values = np.array([v[0] for v in src.sample(zip(lon, lat, strict=True))])
        assert not np.any(values == src.nodata)
    np.testing.assert_array_equal(samples["map_mm"].to_numpy(), values.astype(np.float64))


def test_samples_lie_on_valid_soil(samples, world_dir):
    with rasterio.open(world_dir / "covariates" / "landcover.tif") as src:
        landcover = np.array([v[0] for v in src.sample(_xy(samples))])
    assert not np.any(landcover == 6)
    for name in PROPERTIES:
        with rasterio.open(world_dir / "truth" / f"{name}.tif") as src:
            truth = np.array([v[0] for v in src.sample(_xy(samples))])
        assert not np.any(truth == src.nodata)
        # Lab values are the truth at the point plus a small measurement error.
        measured = samples[name].to_numpy()
        if name == "ph":
            assert np.abs(measured - truth).max() < 0.5
        else:
            assert np.abs(np.log(measured / truth)).max() < 0.35
        assert np.corrcoef(measured, truth)[0, 1] > 0.95
