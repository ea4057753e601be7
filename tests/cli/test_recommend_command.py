"""``geosoil recommend k-fertilizer``: the demo config end to end, and every bad input refused
with the field and the fix, a non-zero exit and nothing at the output path."""

import click
import geopandas as gpd
import pytest
from click.testing import CliRunner
from shapely.geometry import Point, box

from geosoil.cli.main import GeoSoilGroup
from geosoil.cli.recommend import command as recommend_command

from ..conftest import CONFIGS

RECOMMEND = CONFIGS / "demo" / "recommend.yaml"


@click.group(cls=GeoSoilGroup)
def cli() -> None:
    """The top-level group, with the recommend command registered as main.py does."""


cli.add_command(recommend_command)


def run(world_dir, model, out, *flags):
    args = [
        "recommend",
        "k-fertilizer",
        RECOMMEND,
        "--out",
        out,
        f"--set=kex.model={model}",
        f"--set=covariates.catalog={world_dir / 'covariates.yaml'}",
        "--fields",
        world_dir / "fields.gpkg",
        *flags,
    ]
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_clean_failure(result, out, *expected):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ")
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert "fix:" in result.stderr
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.partial*"))


def test_demo_config_end_to_end(world_dir, trained_dir, tmp_path):
    out = tmp_path / "rec"
    result = run(world_dir, trained_dir / "model.safetensors", out)
    assert result.exit_code == 0, result.output
    assert f"dose_k2o_kg_ha: {out / 'map' / 'dose_k2o_kg_ha.tif'}" in result.output
    assert "target: 25 mg K2O/100 g (paddy_rice" in result.output
    assert "fields: 36 (" in result.output and "total_k2o_kg" in result.output
    assert (out / "fields.csv").exists() and (out / "summary.json").exists()
    again = run(world_dir, trained_dir / "model.safetensors", out)
    assert again.exit_code != 0 and "--overwrite" in again.stderr
    assert run(world_dir, trained_dir / "model.safetensors", out, "--overwrite").exit_code == 0


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            ["--set=bulk_density=null", "--set=bulk_density_g_cm3=1300"],
            ["bulk_density_g_cm3", "outside 0.1-2.7 g/cm3", "kg/m3"],
        ),
        (
            ["--set=bulk_density=null", "--set=bulk_density_g_cm3=0.05"],
            ["bulk_density_g_cm3", "outside 0.1-2.7 g/cm3"],
        ),
        (["--set=bulk_density_g_cm3=1.1"], ["bulk_density_g_cm3", "both", "set exactly one"]),
        (["--set=bulk_density=null"], ["bulk_density_g_cm3", "neither", "set exactly one"]),
        (["--set=bulk_density=bulk_density_kg_m3"], ["bulk_density", "not in the covariate"]),
        (["--set=percentile=50"], ["percentile", "(50, 100)"]),
        (["--set=percentile=100"], ["percentile", "(50, 100)"]),
        (["--set=percentile=30"], ["percentile", "(50, 100)"]),
        (["--set=plough_depth_cm=0"], ["plough_depth_cm"]),
        (["--set=crop=maize"], ["crop", "paddy_rice"]),
        (["--set=fields.id_column=parcel"], ["fields.id_column", "'parcel'", "field_id"]),
        (["--set=kex.spectra={artifact: a.safetensors, table: t.csv}"], ["kex", "both"]),
    ],
)
def test_bad_settings(world_dir, trained_dir, tmp_path, flags, expected):
    out = tmp_path / "rec"
    result = run(world_dir, trained_dir / "model.safetensors", out, *flags)
    assert_clean_failure(result, out, *expected)


def test_percentile_from_an_artifact_without_calibration(world_dir, trained_dir, tmp_path):
    # An artifact trained before the trust layer has no conformal bounds for the percentile.
    from ..conftest import artifact_without_trust

    old = artifact_without_trust(trained_dir / "model.safetensors", tmp_path / "old.safetensors")
    out = tmp_path / "rec"
    result = run(world_dir, old, out, "--set=percentile=90")
    assert_clean_failure(result, out, "percentile", "kex_cmol_kg_lo", "retrain", "percentile: null")


def test_model_that_does_not_predict_kex_in_cmol(world_dir, trained_dir, tmp_path):
    from geosoil.config import TrainConfig, load_config
    from geosoil.workflows import train_from_config

    from ..conftest import FAST_TRAIN, world_overrides

    ph_model = tmp_path / "ph"
    train_from_config(
        load_config(
            CONFIGS / "demo" / "train.yaml",
            TrainConfig,
            [
                *world_overrides(world_dir),
                *FAST_TRAIN,
                "model.params.max_epochs=3",
                "evaluation.schemes=[random]",
                "evaluation.n_splits=2",
                "samples.target=ph",
                "samples.target_units=pH units",
                f"output.dir={ph_model}",
            ],
        )
    )
    out = tmp_path / "rec"
    result = run(world_dir, ph_model / "model.safetensors", out)
    assert_clean_failure(result, out, "kex.model", "pH units", "cmol(+)/kg")


def write_fields(frame, path):
    frame.to_file(path)
    return path


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            lambda: gpd.GeoDataFrame(
                {"field_id": ["P1"]}, geometry=[Point(450_000, 4_180_000)], crs="EPSG:32654"
            ),
            ["fields.path", "must be polygons"],
        ),
        (
            lambda: gpd.GeoDataFrame(
                {"field_id": []}, geometry=gpd.GeoSeries([], crs="EPSG:32654")
            ),
            ["fields.path", "no polygons"],
        ),
        (
            lambda: gpd.GeoDataFrame(
                {"field_id": ["F1"]}, geometry=[box(450_000, 4_180_000, 450_500, 4_180_500)]
            ),
            ["fields.path", "coordinate reference system"],
        ),
        (
            lambda: gpd.GeoDataFrame(
                {"parcel": ["F1"]},
                geometry=[box(450_000, 4_180_000, 450_500, 4_180_500)],
                crs="EPSG:32654",
            ),
            ["fields.id_column", "'field_id'", "parcel"],
        ),
    ],
)
def test_bad_field_files(world_dir, trained_dir, tmp_path, make, expected):
    fields = write_fields(make(), tmp_path / "fields.gpkg")
    out = tmp_path / "rec"
    result = run(world_dir, trained_dir / "model.safetensors", out, "--fields", fields)
    assert_clean_failure(result, out, "fields.gpkg", *expected)


def test_missing_model_file(world_dir, tmp_path):
    out = tmp_path / "rec"
    result = run(world_dir, tmp_path / "absent.safetensors", out)
    assert_clean_failure(result, out, "absent.safetensors")
