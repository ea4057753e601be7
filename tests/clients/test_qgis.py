"""A real client: every map geosoil writes opens styled in QGIS and renders.

QGIS's Python bindings live outside the venv (Debian python3-qgis, installed by .ci/run).
Without them the test skips with the reason, except where GEOSOIL_REQUIRE_QGIS=1 (CI),
where their absence is a failure.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from geosoil.config import MapConfig, load_config
from geosoil.workflows import map_from_config

from ..conftest import CONFIGS

QGIS_PYTHON = os.environ.get("GEOSOIL_QGIS_PYTHON", "/usr/bin/python3")
CHECK = Path(__file__).with_name("qgis_check.py")


def qgis_available() -> bool:
    try:
        probe = subprocess.run(
            [QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=60
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@pytest.fixture(scope="module")
def qgis():
    if qgis_available():
        return QGIS_PYTHON
    if os.environ.get("GEOSOIL_REQUIRE_QGIS") == "1":
        pytest.fail(f"QGIS bindings not importable by {QGIS_PYTHON}; .ci/run installs them")
    pytest.skip(f"QGIS bindings not importable by {QGIS_PYTHON} (apt-get install python3-qgis)")


@pytest.mark.slow
def test_maps_open_styled_in_qgis(qgis, world_dir, trained_dir, tmp_path):
    config = load_config(
        CONFIGS / "demo" / "map.yaml",
        MapConfig,
        [
            f"models=[{trained_dir / 'model.safetensors'}]",
            f"covariates.catalog={world_dir / 'covariates.yaml'}",
            f"output.dir={tmp_path / 'map'}",
            "output.format=both",
        ],
    )
    result = map_from_config(config)
    cogs = sorted(result.out_dir.glob("*.tif"))
    zarr_layer = f'ZARR:"{result.zarr}":/kex_cmol_kg'
    run = subprocess.run(
        [qgis, str(CHECK), str(tmp_path), *map(str, cogs), zarr_layer],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert run.returncode == 0, run.stderr
    reports = {
        Path(report["path"]).name if report["path"].endswith(".tif") else "zarr": report
        for report in map(json.loads, filter(lambda x: x.startswith("{"), run.stdout.splitlines()))
    }
    # The map, its class product and the Zarr store; the trust layers (_aoa, _di, _lo, _hi)
    # are checked like every other layer below.
    assert {"kex_cmol_kg.tif", "kex_cmol_kg_class.tif", "zarr"} <= set(reports)
    for report in reports.values():
        assert report["valid"], report
        assert report["crs"] == "EPSG:32654"
        assert (report["width"], report["height"]) == (200, 200)
        assert Path(report["png"]).stat().st_size > 1000
        assert report["painted_fraction"] > 0.5

    continuous = reports["kex_cmol_kg.tif"]
    assert "kex_cmol_kg" in continuous["band_descriptions"][0]
    assert continuous["nodata"] == [-9999.0]
    assert continuous["style_loaded"], continuous["style_message"]
    assert continuous["renderer"] == "singlebandpseudocolor"
    assert any("cmol(+)/kg" in label for label in continuous["legend"])

    classes = reports["kex_cmol_kg_class.tif"]
    assert classes["nodata"] == [255.0]
    assert classes["style_loaded"], classes["style_message"]
    assert classes["renderer"] == "paletted"
    assert classes["legend"] == ["low", "below target", "at or above target"]
    # The names also travel with the file (GDAL categories in its .aux.xml), not only the .qml.
    assert classes["gdal_categories"] == ["low", "below target", "at or above target"]

    # The Zarr store opens through QGIS's GDAL as a georeferenced layer with nodata.
    assert reports["zarr"]["nodata"] == [-9999.0]
