"""Kill ``geosoil map`` with SIGKILL mid-run; ``--resume`` finishes it with the same bytes."""

import os
import signal
import subprocess
import sys
import time

import pytest

from ..conftest import CONFIGS
from ..workflows.test_map_resume import differing_files

pytestmark = pytest.mark.slow

# A 10 m grid over the small world: 2000 x 2000 pixels in 256 blocks, every layer warped, so
# the run lasts long enough to be killed in the middle.
FINE_GRID = [
    "grid.reference=null",
    "grid.crs=EPSG:32654",
    "grid.resolution_m=10",
    "grid.bounds=[440000, 4170000, 460000, 4190000]",
    "chunk=128",
    "output.format=both",
]


def map_command(world_dir, trained_dir, out, *flags):
    sets = [f"--set={item}" for item in FINE_GRID]
    return [
        sys.executable,
        "-c",
        "from geosoil.cli.main import cli; cli()",
        "map",
        str(CONFIGS / "demo" / "map.yaml"),
        "--model",
        str(trained_dir / "model.safetensors"),
        "--covariates",
        str(world_dir / "covariates.yaml"),
        "--out",
        str(out),
        *sets,
        *flags,
    ]


def test_sigkill_then_resume_gives_the_same_bytes(world_dir, trained_dir, tmp_path):
    out = tmp_path / "m"
    markers = tmp_path / ".m.partial" / "map.zarr" / ".geosoil-blocks"
    process = subprocess.Popen(
        map_command(world_dir, trained_dir, out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if markers.is_dir() and len(list(markers.glob("*.json"))) >= 20:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    finished = len(list(markers.glob("*.json")))
    assert 20 <= finished < 256, "the run must be killed in the middle"
    assert not out.exists()

    refused = subprocess.run(
        map_command(world_dir, trained_dir, out), capture_output=True, text=True
    )
    assert refused.returncode == 2 and "--resume" in refused.stderr

    resumed = subprocess.run(
        map_command(world_dir, trained_dir, out, "--resume"), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {finished} of 256 blocks already finished" in resumed.stderr

    reference = tmp_path / "reference"
    subprocess.run(map_command(world_dir, trained_dir, reference), check=True, capture_output=True)
    assert differing_files(out, reference) == []
