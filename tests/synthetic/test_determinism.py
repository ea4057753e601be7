"""Same size and seed give the same bytes in every file; anything else changes them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from geosoil.synthetic import pipeline, synthesize, write_world
from geosoil.synthetic.world import Component


def _digests(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _write(tmp_path: Path, name: str, *, seed: int) -> dict[str, str]:
    out = tmp_path / name
    out.mkdir()
    write_world(synthesize(size="small", seed=seed), out)
    return _digests(out)


def test_same_seed_gives_identical_bytes(tmp_path):
    first = _write(tmp_path, "a", seed=0)
    second = _write(tmp_path, "b", seed=0)
    assert len(first) > 15
    assert first == second


def test_other_seed_changes_every_data_file(tmp_path):
    first = _write(tmp_path, "a", seed=0)
    other = _write(tmp_path, "b", seed=1)
    assert first.keys() == other.keys()
    changed = {name for name in first if first[name] != other[name]}
    assert "samples.parquet" in changed
    assert "spectra_mir.parquet" in changed
    assert {f"covariates/{n}.tif" for n in ("elevation_m", "clay_pct", "map_mm")} <= changed
    assert {f"truth/{n}.tif" for n in ("kex_cmol_kg", "pb_mg_kg")} <= changed


def _noisy_component() -> Component:
    def build(world, rng):
        world.extra["noise"] = rng.standard_normal(1000)

    def write(world, out_dir):
        path = out_dir / "noise.npy"
        np.save(path, world.extra["noise"])
        return {"noise": path}

    return Component(name="noise", build=build, write=write, describe=lambda world: "## Noise")


def test_adding_a_component_keeps_existing_files(tmp_path, monkeypatch):
    before = _write(tmp_path, "a", seed=0)
    # Put the newcomer first: it must not shift the random numbers of the others.
    monkeypatch.setattr(pipeline, "COMPONENTS", (_noisy_component(), *pipeline.COMPONENTS))
    after = _write(tmp_path, "b", seed=0)
    assert "noise.npy" in after
    unchanged = {name for name in before if name != "README.md"}
    assert {name: after[name] for name in unchanged} == {name: before[name] for name in unchanged}


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed_is_a_config_error(seed):
    from geosoil.errors import ConfigError

    with pytest.raises(ConfigError, match="seed"):
        synthesize(size="small", seed=seed)
