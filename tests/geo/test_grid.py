import numpy as np
import pytest
from affine import Affine
from hypothesis import given
from hypothesis import strategies as st

from geosoil.errors import ConfigError, InputFileNotFoundError, MissingCRSError
from geosoil.geo.grid import Grid

from ..rasters import write_raster


def test_from_bounds_covers_the_bounds():
    grid = Grid.from_bounds("EPSG:32654", (0, 0, 1050, 500), 100)
    assert grid.shape == (5, 11)
    assert grid.bounds == (0, 0, 1100, 500)  # widened to whole pixels on the right
    assert grid.transform == Affine(100, 0, 0, 0, -100, 500)


def test_empty_bounds_are_refused():
    with pytest.raises(ConfigError, match="empty"):
        Grid.from_bounds("EPSG:32654", (10, 0, 0, 10), 1)


def test_from_raster(tmp_path):
    path = write_raster(tmp_path / "r.tif", np.zeros((3, 4), dtype="float32"))
    grid = Grid.from_raster(path)
    assert grid.shape == (3, 4) and grid.rio_crs.to_epsg() == 32654
    assert grid.resolution == (100.0, 100.0)
    with pytest.raises(InputFileNotFoundError):
        Grid.from_raster(tmp_path / "none.tif")
    no_crs = write_raster(tmp_path / "nocrs.tif", np.zeros((3, 4), dtype="float32"), crs=None)
    with pytest.raises(MissingCRSError):
        Grid.from_raster(no_crs)


def test_grid_is_immutable_and_hashable():
    grid = Grid.from_bounds("EPSG:32654", (0, 0, 100, 100), 10)
    with pytest.raises(AttributeError):
        grid.width = 3  # type: ignore[misc]
    assert {grid: 1}[Grid.from_bounds("EPSG:32654", (0, 0, 100, 100), 10)] == 1


@given(
    height=st.integers(1, 60),
    width=st.integers(1, 60),
    rows=st.integers(1, 70),
    cols=st.integers(1, 70),
)
def test_blocks_tile_the_grid_exactly(height, width, rows, cols):
    grid = Grid("EPSG:32654", Affine(10, 0, 500, 0, -10, 900), width=width, height=height)
    covered = np.zeros(grid.shape, dtype=int)
    for block in grid.blocks((rows, cols)):
        w = block.window
        covered[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
        # The block grid's origin is where the window starts in the parent grid.
        assert block.grid.transform @ (0, 0) == grid.transform @ (w.col_off, w.row_off)
        assert block.grid.shape == (w.height, w.width)
    assert (covered == 1).all()


def test_pixel_centres():
    grid = Grid.from_bounds("EPSG:32654", (0, 0, 30, 20), 10)
    x, y = grid.coords()
    np.testing.assert_allclose(x, [5, 15, 25])
    np.testing.assert_allclose(y, [15, 5])


def test_crop_keeps_the_lattice_and_partial_pixels():
    grid = Grid.from_bounds("EPSG:32654", (0, 0, 1000, 1000), 100)
    cropped = grid.crop((150, 420, 480, 790))
    assert cropped.transform == Affine(100, 0, 100, 0, -100, 800)
    assert cropped.shape == (4, 4)  # rows 200..600 -> 2..5, cols 100..500 -> 1..4
    assert grid.crop((-500, -500, 2000, 2000)) == grid
    assert grid.crop((2000, 2000, 3000, 3000)) is None
