"""``geosoil map`` flags: formats, chunks, several models, products, clusters, uncertainty."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from rio_cogeo.cogeo import cog_validate

from geosoil.errors import ConfigError

from ..conftest import CONFIGS, FAST_TRAIN, world_overrides

MAP = CONFIGS / "demo" / "map.yaml"


def map_args(world_dir, out, *models):
    model_flags = [arg for model in models for arg in ("--model", model)]
    return ["map", MAP, *model_flags, "--covariates", world_dir / "covariates.yaml", "--out", out]


def test_format_zarr_chunk_and_two_models(run_cli, world_dir, trained_dir, tmp_path):
    out = tmp_path / "m"
    model = trained_dir / "model.safetensors"
    result = run_cli(
        *map_args(world_dir, out),
        "--format",
        "zarr",
        "--chunk",
        "48",
        f"--set=models=[{model}, {{path: {model}, name: kex_again, aoa: false, intervals: false}}]",
        "--set=products=[]",
    )
    assert result.exit_code == 0, result.output
    assert "zarr:" in result.output and not list(out.glob("*.tif"))
    dataset = xr.open_zarr(out / "map.zarr")
    # Trust layers come by default and can be turned off per model.
    assert sorted(dataset.data_vars) == [
        "kex_again",
        "kex_cmol_kg",
        "kex_cmol_kg_aoa",
        "kex_cmol_kg_di",
        "kex_cmol_kg_hi",
        "kex_cmol_kg_lo",
    ]
    assert set(
        np.unique(dataset["kex_cmol_kg_aoa"].values[np.isfinite(dataset["kex_cmol_kg"])])
    ) == {0, 1}
    assert dataset["kex_cmol_kg"].encoding["chunks"] == (48, 48)
    np.testing.assert_array_equal(dataset["kex_again"].values, dataset["kex_cmol_kg"].values)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["layers"]["kex_cmol_kg"]["valid_pixels"] > 30000
    share = summary["trust"]["kex_cmol_kg"]["share_inside_aoa"]
    assert share == pytest.approx(float(np.nanmean(dataset["kex_cmol_kg_aoa"].values)))
    assert 0.5 < share < 1.0


def test_repeated_model_flags_replace_the_config_models(run_cli, world_dir, trained_dir, tmp_path):
    model = trained_dir / "model.safetensors"
    out = tmp_path / "m"
    result = run_cli(*map_args(world_dir, out, model, model))
    assert result.exit_code != 0
    assert "used twice" in result.stderr and "models.name" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "exclude each other"),
        (["--resume", "--overwrite"], "exclude each other"),
        (["--chunk", "8"], "chunk"),
        (["--workers", "0"], "execution.workers"),
        (["--set=products=[{name: threshold_clases}]"], "did you mean 'threshold_classes'"),
        (
            ["--set=products=[{name: threshold_classes, params: {layer: kex_cmol_kg}}]"],
            "products.threshold_classes.params.breaks",
        ),
    ],
)
def test_bad_map_settings(run_cli, world_dir, trained_dir, tmp_path, flags, expected):
    out = tmp_path / "m"
    result = run_cli(*map_args(world_dir, out, trained_dir / "model.safetensors"), *flags)
    assert result.exit_code in (1, 2)  # 2: a config error, 1: a data error
    assert expected in result.stderr and "fix:" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists() and not (tmp_path / ".m.partial").exists()


@pytest.mark.slow
def test_unreachable_scheduler(run_cli, world_dir, trained_dir, tmp_path):
    out = tmp_path / "m"
    result = run_cli(
        *map_args(world_dir, out, trained_dir / "model.safetensors"),
        "--scheduler",
        "tcp://127.0.0.1:9",
    )
    assert result.exit_code == 2  # a config error (execution.scheduler)
    assert "cannot reach the dask scheduler" in result.stderr and "execution.scheduler" in (
        result.stderr
    )
    assert not out.exists()


@pytest.mark.slow
def test_joining_a_running_scheduler_gives_the_threaded_bytes(
    run_cli, world_dir, trained_dir, tmp_path
):
    from distributed import LocalCluster

    model = trained_dir / "model.safetensors"
    threaded = tmp_path / "threaded"
    assert run_cli(*map_args(world_dir, threaded, model), "--chunk", "64").exit_code == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        joined = tmp_path / "joined"
        result = run_cli(
            *map_args(world_dir, joined, model),
            "--chunk",
            "64",
            "--scheduler",
            cluster.scheduler_address,
        )
    assert result.exit_code == 0, result.output
    for name in ("kex_cmol_kg.tif", "kex_cmol_kg_class.tif"):
        assert (threaded / name).read_bytes() == (joined / name).read_bytes()


@pytest.mark.slow
def test_workers_read_the_inputs_through_their_own_paths(run_cli, world_dir, trained_dir, tmp_path):
    """Two worker processes that mount the shared files elsewhere than the client, as on
    other machines: GEOSOIL_PATH_MAP in their environment maps the client's prefixes."""
    from distributed import LocalCluster

    # The workers' copy of the covariates differs in one layer, so the map shows which
    # files were read; the output folder's parent they see through a link.
    worker_view = tmp_path / "worker_view"
    shutil.copytree(world_dir / "covariates", worker_view / "covariates")
    shutil.copy(world_dir / "covariates.yaml", worker_view)
    with rasterio.open(worker_view / "covariates" / "elevation_m.tif", "r+") as dataset:
        values = dataset.read(1)
        dataset.write(np.where(values == dataset.nodata, values, values + 50), 1)
    (tmp_path / "mount").symlink_to(tmp_path, target_is_directory=True)
    model = trained_dir / "model.safetensors"
    args = ("--chunk", "64", "--set=products=[]")
    for catalog_dir, out in ((worker_view, "worker_files"), (world_dir, "client_files")):
        assert run_cli(*map_args(catalog_dir, tmp_path / out, model), *args).exit_code == 0
    path_map = f"{world_dir}={worker_view};{tmp_path}={tmp_path / 'mount'}"
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env={"GEOSOIL_PATH_MAP": path_map},
    ) as cluster:
        result = run_cli(
            *map_args(world_dir, tmp_path / "joined", model),
            *args,
            "--scheduler",
            cluster.scheduler_address,
        )
    assert result.exit_code == 0, result.output
    maps = {}
    for out in ("worker_files", "client_files", "joined"):
        with rasterio.open(tmp_path / out / "kex_cmol_kg.tif") as dataset:
            maps[out] = dataset.read(1)
    np.testing.assert_array_equal(maps["joined"], maps["worker_files"])
    assert not np.array_equal(maps["joined"], maps["client_files"])


def test_a_path_map_entry_without_both_sides_is_refused(monkeypatch):
    from geosoil.mapping.runtime import path_map, worker_path

    monkeypatch.setenv("GEOSOIL_PATH_MAP", "/data=/mnt/data;/data/out=/scratch/out/")
    prefixes = path_map()
    assert prefixes == [("/data/out", "/scratch/out"), ("/data", "/mnt/data")]
    assert worker_path("/data/out/x.zarr", prefixes) == "/scratch/out/x.zarr"
    assert worker_path(Path("/data/a.tif"), prefixes) == Path("/mnt/data/a.tif")
    assert worker_path("/database/a.tif", prefixes) == "/database/a.tif"
    monkeypatch.setenv("GEOSOIL_PATH_MAP", "/data:/mnt/data")
    with pytest.raises(ConfigError, match="CLIENT_PREFIX=WORKER_PREFIX") as caught:
        path_map()
    assert caught.value.field == "GEOSOIL_PATH_MAP"


@pytest.mark.slow
def test_ensemble_maps_mean_spread_and_interval(run_cli, world_dir, tmp_path):
    train_out = tmp_path / "ensemble"
    sets = [*world_overrides(world_dir), *FAST_TRAIN, "model.params.n_members=3"]
    trained = run_cli(
        "train", CONFIGS / "demo" / "train.yaml", "--out", train_out, *[f"--set={s}" for s in sets]
    )
    assert trained.exit_code == 0, trained.output
    out = tmp_path / "m"
    model = train_out / "model.safetensors"
    result = run_cli(
        *map_args(world_dir, out),
        f"--set=models=[{{path: {model}, uncertainty: true}}]",
        "--set=products=[]",
    )
    assert result.exit_code == 0, result.output
    layers = {}
    names = (
        "kex_cmol_kg",
        "kex_cmol_kg_spread_sd",
        "kex_cmol_kg_spread_lo",
        "kex_cmol_kg_spread_hi",
    )
    for name in (*names, "kex_cmol_kg_lo", "kex_cmol_kg_hi"):
        assert cog_validate(str(out / f"{name}.tif"))[0]
        assert (out / f"{name}.qml").is_file()
        with rasterio.open(out / f"{name}.tif") as dataset:
            layers[name] = dataset.read(1, masked=True)
            assert dataset.units == ("cmol(+)/kg",)
    mean, std = layers["kex_cmol_kg"], layers["kex_cmol_kg_spread_sd"]
    low, high = layers["kex_cmol_kg_spread_lo"], layers["kex_cmol_kg_spread_hi"]
    # The calibrated interval is wider than the ensemble's own spread band.
    assert np.ma.median(layers["kex_cmol_kg_hi"] - layers["kex_cmol_kg_lo"]) > np.ma.median(
        high - low
    )
    assert (mean.mask == std.mask).all() and (low.mask == high.mask).all()
    assert (std > 0).all() and (low <= mean).all() and (mean <= high).all()
    # log10 target: the interval is wider above the mean than below it.
    assert np.ma.median(high - mean) > np.ma.median(mean - low)
