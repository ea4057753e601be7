"""Every bad input of the foundation issue, through the CLI: a GeoSoilError naming the file,
the field and the fix; a non-zero exit; no traceback; nothing at the output path."""

import json
import shutil

import geopandas as gpd
import pytest
import yaml
from safetensors.torch import load_file, save_file

from geosoil.artifacts import read_header

from ..conftest import CONFIGS, FAST_TRAIN, world_overrides

TRAIN = CONFIGS / "demo" / "train.yaml"
MAP = CONFIGS / "demo" / "map.yaml"


def assert_clean_failure(result, out, *expected):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "\nerror: " in "\n" + result.stderr
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert "fix:" in result.stderr
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.partial*"))


def train(run_cli, world, out, *extra):
    args = [f"--set={o}" for o in (*world_overrides(world), *FAST_TRAIN, *extra)]
    return run_cli("train", TRAIN, "--out", out, *args)


def test_missing_sample_file(run_cli, world_dir, tmp_path):
    out = tmp_path / "out"
    result = train(run_cli, world_dir, out, f"samples.path={tmp_path / 'absent.parquet'}")
    assert_clean_failure(result, out, "absent.parquet", "samples.path")


def test_sample_file_without_crs(run_cli, world_dir, tmp_path):
    no_crs = tmp_path / "no_crs.parquet"
    gpd.read_parquet(world_dir / "samples.parquet").set_crs(None, allow_override=True).to_parquet(
        no_crs
    )
    out = tmp_path / "out"
    result = train(run_cli, world_dir, out, f"samples.path={no_crs}")
    assert_clean_failure(
        result, out, "no_crs.parquet", "samples.crs", "coordinate reference system"
    )


def test_covariate_not_in_the_catalog(run_cli, world_dir, tmp_path):
    out = tmp_path / "out"
    result = train(run_cli, world_dir, out, "covariates.names=[elevation_m, soil_moisture]")
    assert_clean_failure(result, out, "soil_moisture", "covariates.yaml", "covariates.names")


def test_covariate_raster_absent(run_cli, world_dir, tmp_path):
    world = tmp_path / "world"
    shutil.copytree(world_dir, world)
    (world / "covariates" / "ndvi.tif").unlink()
    out = tmp_path / "out"
    result = train(run_cli, world, out)
    assert_clean_failure(result, out, "ndvi.tif", "covariates.ndvi")


@pytest.mark.parametrize(
    ("target", "expected"),
    [("kex_mg_kg", "is not in the samples"), ("soil_group", "is not numeric")],
)
def test_bad_target_column(run_cli, world_dir, tmp_path, target, expected):
    out = tmp_path / "out"
    result = train(run_cli, world_dir, out, f"samples.target={target}")
    assert_clean_failure(result, out, expected, "samples.target", "samples.parquet")


def test_unknown_config_key(run_cli, world_dir, tmp_path):
    config = yaml.safe_load(TRAIN.read_text())
    config["model"]["param"] = config["model"].pop("params")
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    result = run_cli("train", path, "--out", out)
    assert_clean_failure(
        result, out, "unknown config key 'model.param'", "did you mean 'params'", "typo.yaml"
    )


def test_unknown_hyperparameter(run_cli, world_dir, tmp_path):
    out = tmp_path / "out"
    result = train(run_cli, world_dir, out, "model.params.hidden_units=[8]")
    assert_clean_failure(result, out, "hidden_units", "model.params", "train.yaml")


def test_output_exists_without_overwrite(run_cli, world_dir, trained_dir, tmp_path):
    before = sorted(p.name for p in trained_dir.iterdir())
    result = train(run_cli, world_dir, trained_dir)
    assert result.exit_code != 0 and "--overwrite" in result.stderr
    assert sorted(p.name for p in trained_dir.iterdir()) == before


# ----------------------------------------------------------------------------- artifacts
def edited_artifact(source, target, **changes):
    header = read_header(source).model_dump(mode="json")
    header.update(changes)
    save_file(load_file(source), target, metadata={"geosoil": json.dumps(header)})
    return target


def run_map(run_cli, world, model, out):
    return run_cli(
        "map",
        MAP,
        "--model",
        model,
        "--out",
        out,
        f"--set=covariates.catalog={world / 'covariates.yaml'}",
    )


def test_truncated_artifact(run_cli, world_dir, trained_dir, tmp_path):
    source = trained_dir / "model.safetensors"
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(source.read_bytes()[:1000])
    out = tmp_path / "map"
    assert_clean_failure(
        run_map(run_cli, world_dir, broken, out), out, "broken.safetensors", "truncated"
    )
    assert_clean_failure(run_cli("info", broken), out, "broken.safetensors")


@pytest.mark.parametrize(
    "name", ["cubist", "geosoil.models.covariate.mlp.CovariateMLP", "builtins.eval"]
)
def test_estimator_not_in_the_registry(run_cli, world_dir, trained_dir, tmp_path, name):
    edited = edited_artifact(
        trained_dir / "model.safetensors", tmp_path / "edited.safetensors", estimator=name
    )
    out = tmp_path / "map"
    for result in (run_map(run_cli, world_dir, edited, out), run_cli("info", edited)):
        assert_clean_failure(
            result, out, f"'{name}' is not a registered", "edited.safetensors", "geosoil.estimator"
        )


def test_artifact_needs_a_covariate_the_catalog_lacks(run_cli, world_dir, trained_dir, tmp_path):
    world = tmp_path / "world"
    shutil.copytree(world_dir, world)
    catalog = yaml.safe_load((world / "covariates.yaml").read_text())
    catalog["layers"] = [layer for layer in catalog["layers"] if layer["name"] != "slope_deg"]
    (world / "covariates.yaml").write_text(yaml.safe_dump(catalog))
    out = tmp_path / "map"
    result = run_map(run_cli, world, trained_dir / "model.safetensors", out)
    assert_clean_failure(result, out, "slope_deg", "covariates.yaml")


def test_missing_artifact(run_cli, world_dir, tmp_path):
    out = tmp_path / "map"
    result = run_map(run_cli, world_dir, tmp_path / "nothing.safetensors", out)
    assert_clean_failure(result, out, "nothing.safetensors", "geosoil train")


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("no_crs", "no coordinate reference system"),
        ("points", "must hold polygons"),
        ("far", "does not overlap"),
    ],
)
def test_bad_area_of_interest(run_cli, world_dir, trained_dir, tmp_path, kind, expected):
    from shapely.geometry import Point, box

    geometry = {
        "no_crs": box(445000, 4175000, 450000, 4180000),
        "points": Point(445000, 4175000),
        "far": box(0, 0, 1000, 1000),
    }[kind]
    aoi = tmp_path / "aoi.gpkg"
    crs = None if kind == "no_crs" else "EPSG:32654"
    gpd.GeoDataFrame(geometry=[geometry], crs=crs).to_file(aoi)
    out = tmp_path / "map"
    result = run_cli(
        "map",
        MAP,
        "--model",
        trained_dir / "model.safetensors",
        "--aoi",
        aoi,
        "--out",
        out,
        f"--set=covariates.catalog={world_dir / 'covariates.yaml'}",
    )
    assert_clean_failure(result, out, expected, "aoi.gpkg", "grid.aoi")
