"""``geosoil synth --profiles flux`` -> ``calibrate`` -> ``map``, as users run them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from geosoil.artifacts import load_artifact
from geosoil.io.catalog import read_catalog
from geosoil.models.training import torch_threads
from geosoil.process.lsm_params import LSM_PARAMETERS

pytestmark = pytest.mark.slow

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "mdpl"


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from click.testing import CliRunner

    from geosoil.cli.main import cli

    out = tmp_path_factory.mktemp("mdpl") / "world"
    args = ["synth", "--out", str(out), "--profiles", "flux", "--n", "5", "--with-rasters"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def small_config(world: Path, tmp_path: Path) -> Path:
    """configs/mdpl/synthetic.yaml pointed at the test world, with small settings."""
    raw = yaml.safe_load((CONFIGS / "synthetic.yaml").read_text())
    text = yaml.safe_dump(raw).replace("demo/mdpl_world", str(world))
    raw = yaml.safe_load(text)
    raw["surrogate"] = {"n_parameter_sets": 8, "n_valid_sets": 4, "params": {"epochs": 2}}
    raw["generator"].update(max_epochs=3, patience=3, steps_per_sample=64)
    raw["output"]["dir"] = str(tmp_path / "calibrated")
    path = tmp_path / "calibrate.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_synth_writes_towers_and_rasters(world):
    assert sorted(p.name for p in world.iterdir()) == ["README.md", "rasters", "towers"]
    towers = sorted(p.name for p in (world / "towers").iterdir())
    assert "SYN-001_Met.nc" in towers and "SYN-005_Flux.nc" in towers
    assert {"sites.csv", "truth.csv", "README.md"} <= set(towers)
    names = read_catalog(world / "rasters" / "inputs.yaml").names()
    assert {"tair_mean_c", "sand_fraction", "igbp"} <= set(names)


def test_calibrate_then_map_the_parameters(world, tmp_path, run_cli):
    config = small_config(world, tmp_path)
    result = run_cli("calibrate", config)
    assert result.exit_code == 0, result.output
    assert "surrogate h_w_m2: R2" in result.output
    assert "SYN-001" in result.output and "recovery r:" in result.output
    model = tmp_path / "calibrated" / "model.safetensors"
    assert model.is_file()

    out = tmp_path / "map"
    result = run_cli(
        "map",
        CONFIGS / "synthetic_map.yaml",
        "--set",
        f"models=[{model}]",
        "--set",
        f"covariates.catalog={world / 'rasters' / 'inputs.yaml'}",
        "--set",
        f"output.dir={out}",
        "--set",
        "execution.threads=1",
    )
    assert result.exit_code == 0, result.output
    assert (out / "map.zarr").is_dir() or any(out.glob("*.zarr"))
    generator = load_artifact(model).estimator
    inputs = read_catalog(world / "rasters" / "inputs.yaml")
    stacked = []
    for name in generator.map_inputs():
        layer = inputs.select([name], source="test", field="name")[0]
        with rasterio.open(world / "rasters" / layer.path) as src:
            stacked.append(src.read(1).astype(np.float64).ravel())
    expected = generator.predict_flat(np.stack(stacked, axis=1))
    for j, spec in enumerate(LSM_PARAMETERS):
        cog = next(out.glob(f"*{spec.name}*.tif"))
        with rasterio.open(cog) as src:
            mapped = src.read(1, masked=True)
        # pixels of a land-cover class that no tower has are nodata (unseen_categories: nan)
        np.testing.assert_array_equal(mapped.mask.ravel(), np.isnan(expected[:, j]))
        assert mapped.count() > 0.2 * mapped.size
        assert spec.lower - 1e-6 <= mapped.min() and mapped.max() <= spec.upper + 1e-6
        np.testing.assert_allclose(
            mapped.filled(np.nan).ravel(), expected[:, j], rtol=1e-5, atol=1e-6 * spec.upper
        )


def test_a_bad_config_exits_non_zero_without_a_traceback(world, tmp_path, run_cli):
    config = small_config(world, tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["sites"] = [{"folder": str(tmp_path / "nowhere")}]
    config.write_text(yaml.safe_dump(raw))
    from click.testing import CliRunner

    from geosoil.cli.main import cli

    result = CliRunner().invoke(cli, ["calibrate", str(config)])
    assert result.exit_code != 0
    assert "flux folder not found" in result.output and "sites.folder" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "calibrated").exists()
