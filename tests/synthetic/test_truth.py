"""True soil property maps: plausible ranges and the relations they were built with."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from scipy.stats import spearmanr

from geosoil.synthetic import synthesize, write_world

RANGES = {
    "kex_cmol_kg": (0.01, 3.0),
    "ph": (3.5, 9.0),
    "soc_pct": (0.2, 16.0),
    "pb_mg_kg": (5.0, 2000.0),
}
# cmol(+)/kg of K equal to 25 mg K2O / 100 g, the Fukushima fertilisation threshold.
KEX_THRESHOLD_CMOL_KG = 25.0 / 47.1


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    write_world(synthesize(size="small", seed=0), out)
    return out


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1, masked=True), src


def test_truth_maps_share_the_grid_and_mask_the_lake(world_dir):
    landcover, ref = _read(world_dir / "covariates" / "landcover.tif")
    for name in RANGES:
        band, src = _read(world_dir / "truth" / f"{name}.tif")
        assert (src.crs, src.transform, src.shape) == (ref.crs, ref.transform, ref.shape)
        assert src.dtypes[0] == "float32"
        assert src.nodata == -9999.0
        assert np.array_equal(band.mask, landcover.data == 6), name


@pytest.mark.parametrize("name", list(RANGES))
def test_ranges_are_plausible(world_dir, name):
    band, _ = _read(world_dir / "truth" / f"{name}.tif")
    low, high = RANGES[name]
    values = band.compressed()
    assert np.isfinite(values).all()
    assert low <= values.min() and values.max() <= high
    assert values.std() > 0


def test_typical_values(world_dir):
    kex = _read(world_dir / "truth" / "kex_cmol_kg.tif")[0].compressed()
    ph = _read(world_dir / "truth" / "ph.tif")[0].compressed()
    soc = _read(world_dir / "truth" / "soc_pct.tif")[0].compressed()
    pb = _read(world_dir / "truth" / "pb_mg_kg.tif")[0].compressed()
    below = (kex < KEX_THRESHOLD_CMOL_KG).mean()
    assert 0.2 < below < 0.9
    assert 0.1 < np.median(kex) < 1.0
    assert 4.5 < np.median(ph) < 7.0
    assert 1.0 < np.median(soc) < 5.0
    assert 15.0 < np.median(pb) < 45.0
    assert pb.max() > 200.0


def test_lead_decreases_away_from_the_mine(world_dir):
    pb = _read(world_dir / "truth" / "pb_mg_kg.tif")[0]
    distance = _read(world_dir / "covariates" / "dist_mine_m.tif")[0]
    valid = ~pb.mask
    rho = spearmanr(pb.data[valid], distance.data[valid]).statistic
    assert rho < -0.2
    near = valid & (distance.data < 500.0)
    far = valid & (distance.data > 8000.0)
    assert pb.data[near].mean() > 3 * pb.data[far].mean()


def test_lead_plume_is_stretched_downwind():
    world = synthesize(size="small", seed=0)
    mine_x, mine_y = world.landmarks["mine"]
    plume = world.latent["plume"]

    def at(x, y):
        col, row = ~world.transform @ (x, y)
        return plume[int(row), int(col)]

    # 2 km towards east-south-east (downwind) against 2 km towards west-north-west.
    assert at(mine_x + 1848.0, mine_y - 765.0) > 3 * at(mine_x - 1848.0, mine_y + 765.0)
    assert at(mine_x, mine_y) == pytest.approx(1.0, abs=0.05)
