"""Real data: BINN trained briefly on 200 binn_ny profiles, mapped over the 132 cells."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from geosoil.config import SocCellsConfig, SocTrainConfig, load_config
from geosoil.io.profiles import ENV_COLUMNS, read_binn_ny, write_profile_folder
from geosoil.models.training import torch_threads
from geosoil.workflows import soc_cells_from_config, train_soc_from_config

from ..conftest import CONFIGS, real_data_dir

BINN_NY = real_data_dir() / "binn_ny"
N_PROFILES = 200

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(
        not (BINN_NY / "Prediction_Data").is_dir(), reason=f"binn_ny data not found at {BINN_NY}"
    ),
]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    root = tmp_path_factory.mktemp("binn_ny")
    profiles = read_binn_ny(BINN_NY, drop_incomplete=True, drop_empty=True)
    write_profile_folder(profiles.subset(np.arange(N_PROFILES)), root / "profiles")
    config = load_config(
        CONFIGS / "soc" / "binn_ny_train.yaml",
        SocTrainConfig,
        [
            f"profiles.path={root / 'profiles'}",
            f"output.dir={root / 'model'}",
            "model.params.max_epochs=2",
            "model.params.threads=1",
            "cv.enabled=false",
        ],
    )
    result = train_soc_from_config(config)
    assert result.metrics["n_profiles"] == N_PROFILES
    return result.artifact


def test_cells_map_on_their_lon_lat_lattice(artifact, tmp_path):
    config = load_config(
        CONFIGS / "soc" / "binn_ny_cells.yaml",
        SocCellsConfig,
        [f"model={artifact}", f"cells.path={BINN_NY}", f"output.dir={tmp_path / 'cells'}"],
    )
    result = soc_cells_from_config(config)
    assert result.n_cells == 132 and 0 < result.n_mapped <= 132

    raw = np.loadtxt(BINN_NY / "Prediction_Data" / "grid_env_info_NY.txt", delimiter=",")
    lon, lat = raw[:, ENV_COLUMNS.index("Lon")], raw[:, ENV_COLUMNS.index("Lat")]
    complete = np.isfinite(raw).all(axis=1)
    with rasterio.open(result.cogs["soc_stock_0_100cm_kg_m2"]) as src:
        assert src.crs.to_string() == "EPSG:4326"
        # Every cell centre is a pixel centre of the raster.
        rows, cols = rasterio.transform.rowcol(src.transform, lon, lat)
        x, y = rasterio.transform.xy(src.transform, rows, cols)
        np.testing.assert_allclose(x, lon, atol=1e-9)
        np.testing.assert_allclose(y, lat, atol=1e-9)
        stock = src.read(1, masked=True)
    assert len(set(zip(rows, cols, strict=True))) == 132
    picked = stock[np.asarray(rows), np.asarray(cols)]
    assert stock.count() == result.n_mapped
    # Exactly the complete cells are mapped, with finite positive stocks; dropped ones are
    # nodata (a cell with a missing covariate is never mapped).
    summary = json.loads(result.summary.read_text())
    ids = np.loadtxt(BINN_NY / "Prediction_Data" / "grid_env_info_ID.txt", delimiter=",")
    mapped = ~np.isin(ids, summary["dropped_incomplete"])
    np.testing.assert_array_equal(~np.ma.getmaskarray(picked), mapped)
    assert not mapped[~complete].any()
    assert np.all(picked.compressed() > 0) and np.isfinite(picked.compressed()).all()
    is_valid, errors, _ = cog_validate(str(result.cogs["soc_density_0_5cm_kg_m3"]))
    assert is_valid, errors
    assert summary["n_mapped"] == result.n_mapped == mapped.sum()
    assert summary["layers"]["tau4s3"]["valid_pixels"] == result.n_mapped
