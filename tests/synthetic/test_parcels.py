"""The synthetic world's farm fields (``geosoil.synthetic.parcels``): placement and determinism."""

import numpy as np
import pytest

from geosoil.products.field_table import read_fields
from geosoil.synthetic import parcels, synthesize


@pytest.fixture(scope="module")
def world():
    return synthesize(size="small", seed=0)


def test_synthetic_fields_lie_on_farmland_apart_from_each_other(world):
    fields = world.extra["parcels"]
    assert len(fields) == parcels.N_FIELDS and fields.crs == world.crs
    assert fields["field_id"].is_unique and set(fields["landuse"]) <= {"cropland", "paddy"}
    left, bottom, right, top = world.grid.bounds
    for i, geometry in enumerate(fields.geometry):
        minx, miny, maxx, maxy = geometry.bounds
        assert left <= minx and maxx <= right and bottom <= miny and maxy <= top
        others = fields.geometry.drop(index=fields.index[i])
        assert others.distance(geometry).min() >= parcels.ROAD_M - 1e-6
        rows, cols, inside = parcels._pixels_inside(world, geometry)
        assert not world.latent["lake"][rows, cols][inside].any()
        farmland = np.isin(world.latent["landcover"][rows, cols][inside], (1, 2))
        assert farmland.mean() >= parcels.MIN_FARMLAND_SHARE
    areas_ha = fields.geometry.area / 1e4
    assert areas_ha.min() >= 250 * 300 / 1e4 - 1e-6 and areas_ha.max() <= 600 * 800 / 1e4


def test_synthetic_fields_are_deterministic(world, tmp_path):
    again = synthesize(size="small", seed=0).extra["parcels"]
    assert again.geometry.equals(world.extra["parcels"].geometry)
    other = synthesize(size="small", seed=1).extra["parcels"]
    assert not other.geometry.equals(world.extra["parcels"].geometry)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        written = parcels.write(world, tmp_path / name)["fields"]
        assert written.name == "fields.gpkg"
    assert (tmp_path / "a" / "fields.gpkg").read_bytes() == (
        tmp_path / "b" / "fields.gpkg"
    ).read_bytes()
    back = read_fields(tmp_path / "a" / "fields.gpkg", id_column="field_id")
    assert len(back) == parcels.N_FIELDS
