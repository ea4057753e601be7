"""Public API: sizes, errors, what write_world returns."""

from __future__ import annotations

import dataclasses

import pytest

from geosoil.errors import ConfigError, OutputError, OutputExistsError
from geosoil.synthetic import WORLD_SIZES, SyntheticWorld, WorldSize, synthesize, write_world
from geosoil.synthetic.streams import component_rng, stable_int, substream


def test_sizes_are_frozen_and_grow():
    assert list(WORLD_SIZES) == ["small", "medium", "large"]
    small, medium, large = WORLD_SIZES.values()
    assert isinstance(small, WorldSize)
    with pytest.raises(dataclasses.FrozenInstanceError):
        small.n_sites = 1
    assert small.width_m < medium.width_m < large.width_m
    assert small.n_sites < medium.n_sites < large.n_sites


def test_unknown_size_names_field_and_choices():
    with pytest.raises(ConfigError) as caught:
        synthesize(size="nope")
    assert caught.value.field == "size"
    for name in WORLD_SIZES:
        assert name in str(caught.value)


def test_write_world_needs_an_existing_empty_folder(tmp_path):
    world = synthesize(size="small", seed=0)
    with pytest.raises(OutputError):
        write_world(world, tmp_path / "missing")
    (tmp_path / "taken.txt").write_text("x")
    with pytest.raises(OutputExistsError):
        write_world(world, tmp_path)


def test_write_world_returns_every_file(tmp_path):
    world = synthesize(size="small", seed=0)
    assert isinstance(world, SyntheticWorld)
    written = write_world(world, tmp_path)
    for key in ("catalog", "samples", "spectra_mir", "spectra_visnir", "readme"):
        assert written[key].is_file()
    assert written["covariates/elevation_m"] == tmp_path / "covariates" / "elevation_m.tif"
    assert written["truth/kex_cmol_kg"] == tmp_path / "truth" / "kex_cmol_kg.tif"
    on_disk = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert on_disk == set(written.values())


def test_readme_names_every_file(tmp_path):
    written = write_world(synthesize(size="small", seed=3), tmp_path)
    text = written["readme"].read_text()
    assert "seed: 3" in text
    assert "`small`" in text
    for key, path in written.items():
        if key != "readme":
            assert path.stem in text, path.name


def test_streams_are_stable_and_independent():
    # The hash must never change: it seeds every file of every world ever written.
    assert stable_int("covariates") == stable_int("covariates")
    assert stable_int("covariates") != stable_int("truth")
    assert 0 <= stable_int("spectra") < 2**63
    parent = component_rng(0, "truth")
    first = substream(parent, "soc").random(3)
    parent.random(10)
    assert (substream(parent, "soc").random(3) == first).all()
    assert (substream(parent, "ph").random(3) != first).all()
