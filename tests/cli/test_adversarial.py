"""The adversarial trial of issue 13, case by case, through the CLI.

Every case either ends with a one-paragraph error (non-zero exit, no traceback, the file, the
field and the fix named) and nothing changed outside ``--out``, or gives the correct bytes.
The cases are numbered as in the issue (1 containment, 2 resume, 3 locking, 4 chunking,
5 limits, 6 staging links, 7 tracebacks, 8 silent or misleading results).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.warp import Resampling, calculate_default_transform, reproject
from safetensors.torch import load_file, save_file
from shapely.geometry import Point, box

from geosoil.artifacts import read_header
from geosoil.errors import ConfigError, OutputError

from ..conftest import CONFIGS, FAST_TRAIN, world_overrides

MAP = CONFIGS / "demo" / "map.yaml"
TRAIN = CONFIGS / "demo" / "train.yaml"
RECOMMEND = CONFIGS / "demo" / "recommend.yaml"


# ----------------------------------------------------------------------------- helpers
def snapshot(*roots: Path, skip: Path) -> dict[str, tuple]:
    """Every file, link and folder under ``roots`` except ``skip``: what a run may not touch."""
    state = {}
    for root in roots:
        for path in root.rglob("*"):
            if path == skip or skip in path.parents:
                continue
            info = path.lstat()
            if path.is_symlink():
                state[str(path)] = ("link", os.readlink(path))
            elif path.is_dir():
                state[str(path)] = ("dir",)
            else:
                state[str(path)] = ("file", info.st_size, info.st_mtime_ns)
    return state


class Guard:
    """Records the files around an output folder, to check that a run changed none of them."""

    def __init__(self, out: Path, *roots: Path) -> None:
        self.out = out
        self.roots = (out.parent, *roots)
        self.before = snapshot(*self.roots, skip=out)

    def unchanged(self) -> bool:
        return snapshot(*self.roots, skip=self.out) == self.before


def assert_refused(result, guard: Guard, *expected: str) -> None:
    """Non-zero exit, a one-paragraph error naming ``expected``, nothing written anywhere."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert "\nerror: " in "\n" + result.stderr, result.stderr
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert "fix:" in result.stderr
    assert not guard.out.exists()
    assert guard.unchanged()


def map_cli(run_cli, world: Path, model: Path | None, out: Path, *extra: str):
    """``geosoil map`` of the demo config; ``model`` None keeps the models of ``--set``."""
    models = ["--model", model] if model is not None else []
    return run_cli(
        "map",
        MAP,
        *models,
        "--out",
        out,
        f"--set=covariates.catalog={world / 'covariates.yaml'}",
        *extra,
    )


def edited_artifact(source: Path, target: Path, *, header=None, tensors=None) -> Path:
    """A copy of an artifact with its header and/or tensors edited."""
    raw = read_header(source).model_dump(mode="json")
    weights = load_file(source)
    if header is not None:
        header(raw)
    if tensors is not None:
        tensors(weights)
    save_file(weights, target, metadata={"geosoil": json.dumps(raw)})
    return target


def files_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix == ".tif"}


@pytest.fixture
def model(trained_dir) -> Path:
    return trained_dir / "model.safetensors"


def copy_world(world_dir: Path, target: Path) -> Path:
    shutil.copytree(world_dir, target)
    return target


# ----------------------------------------------------------------- 1. output containment
@pytest.mark.parametrize("origin", ["config", "artifact"])
@pytest.mark.parametrize("kind", ["absolute", "parent"])
def test_1_layer_names_cannot_leave_the_output_folder(
    run_cli, world_dir, model, tmp_path, origin, kind
):
    victim_dir = tmp_path / "victim_dir"
    victim_dir.mkdir()
    victim = victim_dir / "victim.tif"
    victim.write_bytes(b"precious")
    name = str(victim_dir / "victim") if kind == "absolute" else "../victim_dir/victim"
    out = tmp_path / "map"
    guard = Guard(out, world_dir)
    if origin == "config":
        entry = json.dumps([{"path": str(model), "name": name}])
        result = map_cli(run_cli, world_dir, None, out, f"--set=models={entry}")
        field = "models.name"
    else:
        edited = edited_artifact(
            model,
            tmp_path / "named.safetensors",
            header=lambda h: h["output_spec"].update(names=[name]),
        )
        guard = Guard(out, world_dir)
        result = map_cli(run_cli, world_dir, edited, out)
        field = "geosoil.output_spec.names"
    assert_refused(result, guard, "cannot be a file name", field)
    assert victim.read_bytes() == b"precious"
    assert sorted(victim_dir.iterdir()) == [victim]


def test_1_one_name_validator_and_path_containment(tmp_path):
    from geosoil.io.writers import check_file_name, contained_path

    with pytest.raises(OutputError, match="outside the output folder"):
        contained_path(tmp_path, "../x.tif")
    for bad in ("", "/abs", "a/b", "..", "a.b", "x\\y", "é"):
        with pytest.raises(ConfigError, match="cannot be a file name"):
            check_file_name(bad, field="models.name")
    assert check_file_name("kex_cmol_kg_p05", field="models.name") == "kex_cmol_kg_p05"


# ------------------------------------------------------------------- 2. resume fingerprint
def interrupted_run(run_cli, monkeypatch, world, model, out, *extra, after_blocks=3):
    """A map run that fails with a full disk after ``after_blocks`` finished blocks."""
    from geosoil.mapping import store as store_module

    real = store_module.BlockStore.mark_done
    done = []

    def mark_done(self, block, stats):
        if len(done) >= after_blocks:
            raise store_module.store_write_error(OSError(errno.ENOSPC, "full"), self.path)
        done.append(block.index)
        real(self, block, stats)

    with monkeypatch.context() as patch:
        patch.setattr(store_module.BlockStore, "mark_done", mark_done)
        patch.setattr("geosoil.mapping.execution.available_cores", lambda: 1)
        result = map_cli(run_cli, world, model, out, *extra)
    assert result.exit_code != 0 and "the disk is full" in result.stderr
    assert "--resume" in result.stderr and "Traceback" not in result.output
    return result


def test_2_resume_with_another_chunk_or_format_is_refused(
    run_cli, monkeypatch, world_dir, model, tmp_path
):
    reference = tmp_path / "reference"
    assert map_cli(run_cli, world_dir, model, reference, "--chunk=64").exit_code == 0
    out = tmp_path / "map"
    interrupted_run(run_cli, monkeypatch, world_dir, model, out, "--chunk=64")
    staging = tmp_path / ".map.partial"
    assert staging.is_dir()
    for flags in (["--chunk=32"], ["--chunk=64", "--format=cog"]):
        guard = Guard(out, world_dir)
        result = map_cli(run_cli, world_dir, model, out, "--resume", *flags)
        assert_refused(result, guard, "cannot resume", "chunk size, output format", "resume")
    result = map_cli(run_cli, world_dir, model, out, "--resume", "--chunk=64")
    assert result.exit_code == 0, result.output
    assert files_bytes(out) == files_bytes(reference)
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads((reference / "summary.json").read_text())


def test_2_fingerprint_covers_every_setting_that_decides_the_bytes(
    world_dir, model, tmp_path, monkeypatch
):
    from geosoil.config import MapConfig, load_config
    from geosoil.workflows.map import build_job, run_fingerprint

    aoi = tmp_path / "aoi.gpkg"
    gpd.GeoDataFrame(geometry=[box(445000, 4175000, 450000, 4180000)], crs="EPSG:32654").to_file(
        aoi
    )
    world = copy_world(world_dir, tmp_path / "world")
    base = [f"covariates.catalog={world / 'covariates.yaml'}", f"models=[{model}]"]

    def fingerprint(*extra, chunk=1024, output_format="both"):
        config = load_config(MAP, MapConfig, [*base, *extra])
        return run_fingerprint(build_job(config), chunk=chunk, output_format=output_format)

    reference = fingerprint()
    assert fingerprint() == reference
    variants = [
        fingerprint(chunk=512),
        fingerprint(output_format="cog"),
        fingerprint(f"grid.aoi={aoi}"),
        fingerprint("products=[]"),
        fingerprint("products=[]", f'models=[{{"path": "{model}", "name": "kex"}}]'),
        fingerprint(
            "grid.reference=null",
            "grid.crs=EPSG:32654",
            "grid.resolution_m=200",
            "grid.bounds=[440000, 4170000, 460000, 4190000]",
        ),
    ]
    with monkeypatch.context() as patch:
        patch.setattr("geosoil.mapping.job.__version__", "0.0.0-other")
        variants.append(fingerprint())
    ndvi = world / "covariates" / "ndvi.tif"
    os.utime(ndvi, ns=(ndvi.stat().st_atime_ns, ndvi.stat().st_mtime_ns + 10**9))
    variants.append(fingerprint())
    assert len({reference, *variants}) == len(variants) + 1


# ------------------------------------------------------------------------- 3. locking
def test_3_a_second_run_on_a_locked_output_fails_at_once(run_cli, world_dir, model, tmp_path):
    out = tmp_path / "map"
    lock = tmp_path / ".map.lock"
    holder = {"pid": os.getppid(), "host": socket.gethostname()}  # a live process
    lock.write_text(json.dumps(holder))
    guard = Guard(out, world_dir)
    result = map_cli(run_cli, world_dir, model, out, "--overwrite")
    assert_refused(result, guard, "another geosoil run", f"pid {holder['pid']}", "output.dir")
    assert json.loads(lock.read_text()) == holder


def test_3_a_stale_lock_is_taken_over_with_a_warning(run_cli, world_dir, model, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "map"
    lock = tmp_path / ".map.lock"
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    result = map_cli(run_cli, world_dir, model, out, "--chunk=128")
    assert result.exit_code == 0, result.output
    assert "stale lock" in result.stderr
    assert not lock.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map"]


def test_3_the_lock_is_held_for_the_whole_run(run_cli, monkeypatch, world_dir, model, tmp_path):
    from geosoil.workflows import map as map_workflow

    seen = []
    real = map_workflow.run_map

    def run_map(job, store, **kwargs):
        seen.append(json.loads((tmp_path / ".map.lock").read_text()))
        return real(job, store, **kwargs)

    monkeypatch.setattr(map_workflow, "run_map", run_map)
    assert map_cli(run_cli, world_dir, model, tmp_path / "map", "--chunk=128").exit_code == 0
    assert seen == [{"pid": os.getpid(), "host": socket.gethostname()}]
    assert not (tmp_path / ".map.lock").exists()


@pytest.mark.slow
def test_3_two_overwrite_runs_at_once(run_cli, world_dir, trained_dir, tmp_path):
    from .test_kill_and_resume import map_command

    out = tmp_path / "m"
    out.mkdir()
    (out / "old.txt").write_text("an earlier run")
    first = subprocess.Popen(
        map_command(world_dir, trained_dir, out, "--overwrite"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = tmp_path / ".m.lock"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not lock.exists() and first.poll() is None:
        time.sleep(0.02)
    assert lock.exists()
    second = map_cli(run_cli, world_dir, trained_dir / "model.safetensors", out, "--overwrite")
    assert second.exit_code != 0 and "Traceback" not in second.output
    assert f"another geosoil run is writing this output (pid {first.pid}" in second.stderr
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert not (out / "old.txt").exists() and (out / "kex_cmol_kg.tif").is_file()
    metadata = json.loads((out / "map.zarr" / ".zmetadata").read_text())["metadata"]
    assert "spatial_ref/.zattrs" in metadata
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


# -------------------------------------------------------------------- 4. chunk invariance
def warped_world(world_dir: Path, target: Path) -> Path:
    """The world with elevation in EPSG:4326, so the map warps it as it reads."""
    world = copy_world(world_dir, target)
    source = world / "covariates" / "elevation_m.tif"
    warped = world / "covariates" / "elevation_lonlat.tif"
    with rasterio.open(source) as dataset:
        transform, width, height = calculate_default_transform(
            dataset.crs, "EPSG:4326", dataset.width, dataset.height, *dataset.bounds
        )
        profile = {**dataset.profile, "crs": "EPSG:4326", "transform": transform}
        profile.update(width=width, height=height)
        with rasterio.open(warped, "w", **profile) as out:
            reproject(rasterio.band(dataset, 1), rasterio.band(out, 1), Resampling.bilinear)
    catalog = yaml.safe_load((world / "covariates.yaml").read_text())
    for layer in catalog["layers"]:
        if layer["name"] == "elevation_m":
            layer["path"] = "covariates/elevation_lonlat.tif"
    (world / "covariates.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    return world


def test_4_any_chunking_gives_the_same_bytes_with_a_warped_layer(
    run_cli, world_dir, model, tmp_path
):
    world = warped_world(world_dir, tmp_path / "world")
    outputs = {}
    for chunk in (16, 48, 512):  # 512 is clamped to the 200-pixel grid: one block
        out = tmp_path / f"map{chunk}"
        result = map_cli(
            run_cli, world, model, out, f"--chunk={chunk}", "--set=grid.reference=slope_deg"
        )
        assert result.exit_code == 0, result.output
        outputs[chunk] = files_bytes(out)
        outputs[chunk]["summary.json"] = (out / "summary.json").read_bytes()
    for name in outputs[16]:
        assert outputs[16][name] == outputs[48][name] == outputs[512][name], name
    with rasterio.open(tmp_path / "map16" / "kex_cmol_kg.tif") as dataset:
        assert dataset.tags(1)["STATISTICS_VALID_PERCENT"]  # statistics are written


# ----------------------------------------------------------------------------- 5. limits
def test_5_a_huge_grid_is_refused_before_any_work(run_cli, world_dir, model, tmp_path):
    out = tmp_path / "map"
    guard = Guard(out, world_dir)
    start = time.monotonic()
    result = map_cli(
        run_cli,
        world_dir,
        model,
        out,
        "--set=grid.reference=null",
        "--set=grid.crs=EPSG:32654",
        "--set=grid.resolution_m=0.001",
        "--set=grid.bounds=[440000, 4170000, 460000, 4190000]",
    )
    assert_refused(result, guard, "4e+14 pixels", "grid", "--max-pixels")
    assert time.monotonic() - start < 20


def test_5_max_pixels_lowers_or_raises_the_limit(run_cli, world_dir, model, tmp_path):
    out = tmp_path / "map"
    guard = Guard(out, world_dir)
    result = map_cli(run_cli, world_dir, model, out, "--max-pixels=10000")
    assert_refused(result, guard, "200 x 200 = 4e+04 pixels", "--max-pixels")
    assert map_cli(run_cli, world_dir, model, out, "--max-pixels=40000").exit_code == 0


def test_5_a_chunk_beyond_the_grid_is_clamped_and_a_huge_one_refused(
    run_cli, world_dir, model, tmp_path
):
    small, large = tmp_path / "chunk200", tmp_path / "chunk8192"
    assert map_cli(run_cli, world_dir, model, small, "--chunk=200").exit_code == 0
    assert map_cli(run_cli, world_dir, model, large, "--chunk=8192").exit_code == 0
    assert files_bytes(small) == files_bytes(large)
    out = tmp_path / "map"
    guard = Guard(out, world_dir)
    result = map_cli(run_cli, world_dir, model, out, "--chunk=10000000")
    assert_refused(result, guard, "chunk", "8192")


def test_5_an_artifact_header_is_checked_against_its_tensors_before_allocation(
    run_cli, world_dir, model, tmp_path
):
    edited = edited_artifact(
        model,
        tmp_path / "huge.safetensors",
        header=lambda h: h["hyperparameters"].update(hidden_layers=[40000, 40000]),
    )
    out = tmp_path / "map"
    guard = Guard(out, world_dir)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result = map_cli(run_cli, world_dir, edited, out)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert_refused(result, guard, "huge.safetensors", "size mismatch", "geosoil.fitted_state")
    assert grown_mib < 1024  # the 40000 x 40000 layer alone would be 6.4 GB


def test_5_non_finite_weights_are_refused_at_load(run_cli, world_dir, model, tmp_path):
    def poison(weights):
        name = next(k for k in sorted(weights) if k.endswith("weight"))
        weights[name][0, 0] = float("nan")

    edited = edited_artifact(model, tmp_path / "nan.safetensors", tensors=poison)
    out = tmp_path / "map"
    guard = Guard(out, world_dir)
    result = map_cli(run_cli, world_dir, edited, out)
    assert_refused(result, guard, "nan.safetensors", "NaN or infinite", "tensors.")
    assert "covariate" not in result.stderr


# ------------------------------------------------------------------------ 6. staging links
@pytest.mark.parametrize("flag", ["--resume", "--overwrite"])
def test_6_a_planted_staging_link_is_never_followed(run_cli, world_dir, model, tmp_path, flag):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    staging = tmp_path / ".map.partial"
    staging.symlink_to(elsewhere, target_is_directory=True)
    out = tmp_path / "map"
    if flag == "--resume":
        guard = Guard(out, world_dir)
        result = map_cli(run_cli, world_dir, model, out, flag)
        assert_refused(result, guard, "link", ".map.partial", "never followed")
    else:
        result = map_cli(run_cli, world_dir, model, out, flag, "--chunk=128")
        assert result.exit_code == 0, result.output
        assert out.is_dir() and not out.is_symlink()
        assert not staging.exists() and not staging.is_symlink()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"]
    assert (elsewhere / "keep.txt").read_text() == "mine"


def test_6_a_link_planted_inside_the_staging_folder_is_never_followed(
    run_cli, world_dir, model, tmp_path
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    staging = tmp_path / ".map.partial"
    staging.mkdir()
    (staging / "map.zarr").symlink_to(elsewhere, target_is_directory=True)
    out = tmp_path / "map"
    guard = Guard(out, world_dir)
    result = map_cli(run_cli, world_dir, model, out, "--resume")
    assert_refused(result, guard, "holds a link", "map.zarr", "output.resume")
    assert list(elsewhere.iterdir()) == []


# -------------------------------------------------------------------------- 7. tracebacks
def train_cli(run_cli, world: Path, out: Path, *extra: str):
    args = [f"--set={o}" for o in (*world_overrides(world), *FAST_TRAIN, *extra)]
    return run_cli("train", TRAIN, "--out", out, *args)


def test_7_zero_epochs(run_cli, world_dir, tmp_path):
    out = tmp_path / "train"
    guard = Guard(out, world_dir)
    result = train_cli(run_cli, world_dir, out, "model.params.max_epochs=0")
    assert_refused(result, guard, "max_epochs", "model.params.max_epochs", "train.yaml")


def test_7_empty_csv_samples(run_cli, world_dir, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    out = tmp_path / "train"
    guard = Guard(out, world_dir)
    result = train_cli(run_cli, world_dir, out, f"samples.path={empty}")
    assert_refused(result, guard, "empty.csv", "samples.path", "cannot be read")


def test_7_covariate_deleted_before_map(run_cli, world_dir, model, tmp_path):
    world = copy_world(world_dir, tmp_path / "world")
    (world / "covariates" / "ndvi.tif").unlink()
    out = tmp_path / "map"
    guard = Guard(out)
    result = map_cli(run_cli, world, model, out)
    assert_refused(result, guard, "ndvi.tif", "covariates.ndvi")


def aoi_geojson(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


PROJECTED_WITHOUT_CRS = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[445000, 4175000], [450000, 4175000], [450000, 4180000], [445000, 4175000]]
                    ],
                },
            }
        ],
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PROJECTED_WITHOUT_CRS, "not longitude/latitude"),
        (PROJECTED_WITHOUT_CRS[:100], "cannot be read"),
    ],
    ids=["projected_without_crs", "truncated"],
)
def test_7_bad_geojson_aoi(run_cli, world_dir, model, tmp_path, text, expected):
    aoi = aoi_geojson(tmp_path / "aoi.geojson", text)
    out = tmp_path / "map"
    guard = Guard(out, world_dir)
    result = map_cli(run_cli, world_dir, model, out, "--aoi", aoi)
    assert_refused(result, guard, expected, "aoi.geojson", "grid.aoi")


@pytest.mark.parametrize("command", ["map", "recommend"])
def test_7_an_output_path_with_a_quote_is_refused_up_front(
    run_cli, world_dir, model, tmp_path, command
):
    out = tmp_path / 'my "map"'
    guard = Guard(out, world_dir)
    result = COMMANDS[command](run_cli, world_dir, model, out)
    assert_refused(result, guard, "double quote", "output.dir")


def test_7_a_full_disk_while_writing_cogs(run_cli, monkeypatch, world_dir, model, tmp_path):
    from rasterio._err import CPLE_FileIOError

    def full_disk(*args, **kwargs):
        raise CPLE_FileIOError(3, 3, "Free disk space available is 0 bytes")

    out = tmp_path / "map"
    with monkeypatch.context() as patch:
        patch.setattr("geosoil.io.cog.rasterio.shutil.copy", full_disk)
        result = map_cli(run_cli, world_dir, model, out, "--chunk=128")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "Cloud-Optimized GeoTIFF" in result.stderr and "--resume" in result.stderr
    assert not out.exists()
    # The finished blocks are kept for --resume, which then completes the run.
    assert (tmp_path / ".map.partial" / "map.zarr").is_dir()
    assert not (tmp_path / ".map.lock").exists()
    result = map_cli(run_cli, world_dir, model, out, "--chunk=128", "--resume")
    assert result.exit_code == 0, result.output
    reference = tmp_path / "reference"
    assert map_cli(run_cli, world_dir, model, reference, "--chunk=128").exit_code == 0
    # Kex, its conformal bounds, DI and AOA (the trust layers), and the class product.
    assert files_bytes(out) == files_bytes(reference) and len(files_bytes(out)) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map", "reference"]


LOCAL_CS = 'LOCAL_CS["site grid",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'


def test_7_a_local_engineering_crs_that_cannot_be_transformed(run_cli, tmp_path):
    world = tmp_path / "local"
    world.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        with rasterio.open(
            world / f"{name}.tif",
            "w",
            driver="GTiff",
            width=32,
            height=32,
            count=1,
            dtype="float32",
            crs=CRS.from_wkt(LOCAL_CS),
            transform=from_origin(0, 320, 10, 10),
            nodata=-9999,
        ) as dataset:
            dataset.write(rng.normal(size=(1, 32, 32)).astype("float32"))
    (world / "covariates.yaml").write_text(
        yaml.safe_dump({"layers": [{"name": "a", "path": "a.tif"}, {"name": "b", "path": "b.tif"}]})
    )
    points = [Point(x, y) for x, y in rng.uniform(5, 315, (40, 2))]
    samples = gpd.GeoDataFrame(
        {"kex_cmol_kg": rng.uniform(0.2, 1.0, 40)}, geometry=points, crs="EPSG:32654"
    )
    samples.to_parquet(world / "samples.parquet")
    out = tmp_path / "train"
    guard = Guard(out)
    result = train_cli(run_cli, world, out)
    assert_refused(result, guard, "cannot be transformed", "a.tif", "covariates.a")


@pytest.mark.slow
def test_7_workers_print_no_gdal_environment_error(world_dir, trained_dir, tmp_path):
    out = tmp_path / "map"
    command = [
        sys.executable,
        "-c",
        "from geosoil.cli.main import cli; cli()",
        "-q",
        "map",
        str(MAP),
        "--model",
        str(trained_dir / "model.safetensors"),
        "--covariates",
        str(world_dir / "covariates.yaml"),
        "--out",
        str(out),
        "--workers",
        "2",
        "--chunk",
        "100",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert "Exception ignored" not in completed.stderr
    assert "No GDAL environment" not in completed.stderr
    assert "Traceback" not in completed.stderr
    # `-q` keeps distributed's own INFO lines (workers joining, leaving) off the terminal.
    assert " INFO distributed" not in completed.stderr


# ------------------------------------------------------------ 8. silent or misleading
def test_8_an_aoi_smaller_than_a_pixel(run_cli, world_dir, model, tmp_path):
    aoi = tmp_path / "tiny.gpkg"
    # The world's pixels are 100 m: a 10 m square between pixel centres covers none.
    with rasterio.open(world_dir / "covariates" / "elevation_m.tif") as dataset:
        left, top = dataset.transform @ (50, 50)
    tiny = box(left + 5, top - 15, left + 15, top - 5)
    gpd.GeoDataFrame(geometry=[tiny], crs="EPSG:32654").to_file(aoi)
    out = tmp_path / "map"
    guard = Guard(out, world_dir)
    result = map_cli(run_cli, world_dir, model, out, "--aoi", aoi)
    assert_refused(result, guard, "covers no pixel centre", "tiny.gpkg", "grid.aoi")


def test_8_input_layers_cut_from_the_header_name_the_artifact(run_cli, world_dir, model, tmp_path):
    edited = edited_artifact(
        model,
        tmp_path / "cut.safetensors",
        header=lambda h: h["input_spec"].update(layers=h["input_spec"]["layers"][:-2]),
    )
    out = tmp_path / "map"
    guard = Guard(out, world_dir)
    result = map_cli(run_cli, world_dir, edited, out)
    assert_refused(result, guard, "cut.safetensors", "geosoil.input_spec.layers", "fitted on")


@pytest.mark.parametrize("command", ["map", "recommend"])
def test_8_a_run_that_fails_its_input_checks_leaves_nothing(
    run_cli, monkeypatch, world_dir, model, tmp_path, command
):
    from geosoil.errors import CovariateError
    from geosoil.workflows import map as map_workflow

    def failing_run_map(job, store, **kwargs):
        raise CovariateError("a covariate went away", field="covariates", fix="restore it")

    out = tmp_path / "out"
    guard = Guard(out, world_dir)
    with monkeypatch.context() as patch:
        patch.setattr(map_workflow, "run_map", failing_run_map)
        assert_refused(COMMANDS[command](run_cli, world_dir, model, out), guard, "went away")
    # The corrected rerun starts cleanly: no "interrupted run is waiting".
    result = COMMANDS[command](run_cli, world_dir, model, out)
    assert result.exit_code == 0, result.output


def test_8_duplicated_sample_rows_are_dropped_with_a_warning(world_dir, tmp_path, caplog):
    from geosoil.io.samples import read_samples

    samples = gpd.read_parquet(world_dir / "samples.parquet")
    doubled = tmp_path / "doubled.parquet"
    samples.iloc[np.r_[np.arange(len(samples)), np.arange(10)]].to_parquet(doubled)
    with caplog.at_level(logging.WARNING):
        read = read_samples(doubled)
    assert len(read) == len(samples)
    assert "10 of" in caplog.text and "repeat an earlier row" in caplog.text


def test_8_a_killed_trains_staging_folder_is_removed_by_the_next_run(run_cli, world_dir, tmp_path):
    orphan = tmp_path / ".train.partial-0123abcd"
    orphan.mkdir()
    (orphan / "model.safetensors").write_bytes(b"half")
    out = tmp_path / "train"
    result = train_cli(
        run_cli, world_dir, out, "model.params.max_epochs=2", "evaluation.n_splits=2"
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"]


def test_8_ctrl_c_mentions_resume(run_cli, monkeypatch, world_dir, model, tmp_path):
    from geosoil.workflows import map as map_workflow

    def interrupted(job, store, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(map_workflow, "run_map", interrupted)
    result = map_cli(run_cli, world_dir, model, tmp_path / "map")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr and "--resume" in result.stderr
    assert "Traceback" not in result.output and "Aborted!" not in result.output
    assert not (tmp_path / ".map.lock").exists()


def test_8_a_command_simulator_leaves_no_orphans_after_its_timeout(tmp_path):
    from geosoil.models.lsm.simulators import SimulatorError

    from ..models.lsm.test_simulators import command_simulator, make_forcing, toy_parameters

    child_pid = tmp_path / "child.pid"
    body = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(child_pid)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    simulator = command_simulator(tmp_path, body, timeout_s=3)
    with pytest.raises(SimulatorError, match="did not finish"):
        simulator.run(make_forcing(), toy_parameters()[:1])
    pid = int(child_pid.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by its parent, which was killed too) is not running.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def recommend_cli(run_cli, world: Path, model: Path, out: Path, *extra: str):
    return run_cli(
        "recommend",
        "k-fertilizer",
        RECOMMEND,
        "--out",
        out,
        f"--set=kex.model={model}",
        f"--set=covariates.catalog={world / 'covariates.yaml'}",
        "--fields",
        world / "fields.gpkg",
        *extra,
    )


COMMANDS = {"map": map_cli, "recommend": recommend_cli}


def test_8_recommend_records_final_paths_and_writes_identical_geopackages(
    run_cli, world_dir, model, tmp_path
):
    first, second = tmp_path / "first", tmp_path / "second"
    assert recommend_cli(run_cli, world_dir, model, first).exit_code == 0
    time.sleep(1.1)  # GeoPackage timestamps have one-second resolution
    assert recommend_cli(run_cli, world_dir, model, second).exit_code == 0
    recorded = yaml.safe_load((first / "map" / "config.yaml").read_text())
    assert recorded["output"]["dir"] == str(first / "map")
    assert ".partial" not in (first / "map" / "config.yaml").read_text()
    assert (first / "fields.gpkg").read_bytes() == (second / "fields.gpkg").read_bytes()
