"""Real data: the Meuse floodplain points and 40 m covariate raster (EPSG:28992)."""

import numpy as np
import pandas as pd
import pytest
import yaml
from rio_cogeo.cogeo import cog_validate

from geosoil.io.catalog import CovariateLayer, read_catalog
from geosoil.io.rasters import extract_at_points
from geosoil.io.samples import read_samples

from ..conftest import real_data_dir

MEUSE = real_data_dir() / "meuse"
RASTER = MEUSE / "rasters" / "meuse_covariates_40m_epsg28992.tif"
BANDS = [
    "chnl_dist",
    "dem",
    "dist",
    "ffreq",
    "landimg2",
    "landimg3",
    "landimg4",
    "mrvbf",
    "rsp",
    "slope",
    "soil",
    "twi",
]
CATEGORICAL = {"ffreq", "soil"}

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(not RASTER.exists(), reason=f"real Meuse data not found at {MEUSE}"),
]


@pytest.fixture(scope="module")
def catalog_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("meuse") / "covariates.yaml"
    layers = [
        CovariateLayer(
            name=name, path=RASTER, band=band, categorical=name in CATEGORICAL
        ).model_dump(mode="json", exclude_defaults=True)
        | {"name": name, "path": str(RASTER)}
        for band, name in enumerate(BANDS, start=1)
    ]
    path.write_text(yaml.safe_dump({"layers": layers}))
    return path


def test_extraction_matches_the_published_point_values(catalog_path):
    points = read_samples(MEUSE / "meuse.csv", crs="EPSG:28992")
    extracted = extract_at_points(read_catalog(catalog_path).layers, points.geometry)
    reference = pd.read_csv(MEUSE / "meuse_with_raster_covariates.csv")
    for name in BANDS:
        np.testing.assert_allclose(
            extracted[name].to_numpy(), reference[f"r_{name}"].to_numpy(), rtol=1e-5, equal_nan=True
        )


@pytest.mark.slow
def test_lead_model_trains_and_maps_over_the_real_grid(run_cli, catalog_path, tmp_path):
    config = {
        "samples": {
            "path": str(MEUSE / "meuse.csv"),
            "target": "lead",
            "target_units": "mg/kg",
            "crs": "EPSG:28992",
        },
        "covariates": {"catalog": str(catalog_path)},
        "model": {
            "params": {
                "hidden_layers": [32, 32],
                "dropout": 0.3,
                "weight_decay": 0.01,
                "learning_rate": 0.001,
                "max_epochs": 300,
                "target_transform": "log10",
            }
        },
        "evaluation": {"n_splits": 5, "spatial_block_size_m": 600},
        "output": {"dir": str(tmp_path / "train")},
    }
    train_yaml = tmp_path / "train.yaml"
    train_yaml.write_text(yaml.safe_dump(config))
    result = run_cli("train", train_yaml)
    assert result.exit_code == 0, result.output
    map_yaml = tmp_path / "map.yaml"
    map_yaml.write_text(
        yaml.safe_dump(
            {
                "model": str(tmp_path / "train" / "model.safetensors"),
                "covariates": {"catalog": str(catalog_path)},
                "grid": {"reference": "dem"},
                "output": {"dir": str(tmp_path / "map")},
            }
        )
    )
    result = run_cli("map", map_yaml)
    assert result.exit_code == 0, result.output
    assert cog_validate(str(tmp_path / "map" / "lead.tif"))[0]
    metrics = pd.read_csv(tmp_path / "train" / "report" / "cv_metrics.csv")
    pooled = metrics[metrics["fold"] == "pooled"].set_index("scheme")
    # 150 points, 12 covariates: a random forest (500 trees, log10 target) reaches a pooled
    # R2 of about 0.2 here; the MLP must at least match that.
    assert pooled.loc["random", "r2"] > 0.2
