"""The synthetic MIR library: determinism, prefixes, groups, truth, file round trip, CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import RidgeCV

from geosoil.errors import ConfigError
from geosoil.io.spectra import read_spectra
from geosoil.synthetic import mir_library, write_library
from geosoil.synthetic.library import (
    BLOCK_SIZE,
    KEX_MODEL,
    SOIL_ORDERS,
    TRUTH_COLUMNS,
    kex_cmol_kg,
)
from geosoil.synthetic.spectra import MIR_AXIS_CM1

N = 1200  # more than one block, so block boundaries are exercised


@pytest.fixture(scope="module")
def library():
    return mir_library(N, seed=0)


def test_same_size_and_seed_give_the_same_library(library):
    again = mir_library(N, seed=0)
    assert np.array_equal(library.spectra, again.spectra)
    assert library.frame.equals(again.frame)


def test_another_seed_gives_another_library(library):
    other = mir_library(N, seed=1)
    assert not np.allclose(library.spectra[:50], other.spectra[:50])
    assert not np.allclose(library.frame["kex_cmol_kg"], other.frame["kex_cmol_kg"])


def test_a_smaller_library_is_a_prefix_of_a_larger_one(library):
    small = mir_library(BLOCK_SIZE + 7, seed=0)
    assert np.array_equal(small.spectra, library.spectra[: BLOCK_SIZE + 7])
    assert small.frame.equals(library.frame.iloc[: BLOCK_SIZE + 7])
    tiny = mir_library(5, seed=0)
    assert tiny.frame.equals(library.frame.iloc[:5])


def test_spectra_shape_axis_and_quantity(library):
    assert library.spectra.shape == (N, MIR_AXIS_CM1.size)
    assert library.spectra.dtype == np.float32
    assert np.isfinite(library.spectra).all()
    assert library.axis.unit == "cm-1"
    assert np.array_equal(library.axis.values, MIR_AXIS_CM1)
    assert library.quantity == "absorbance"
    # absorbance of soils: below 3, the strongest band the Si-O stretch near 1030 cm-1
    assert library.spectra.min() > -1.0 and library.spectra.max() < 3.0
    mean = library.spectra.mean(axis=0)
    assert 950 < MIR_AXIS_CM1[np.argmax(mean)] < 1150
    assert mean.max() > 10 * mean[(MIR_AXIS_CM1 > 2100) & (MIR_AXIS_CM1 < 2200)].mean()


def test_frame_columns_and_ids(library):
    frame = library.frame
    assert list(frame.columns[:5]) == ["sample_id", "site_id", "soil_order", "top_cm", "bottom_cm"]
    assert set(TRUTH_COLUMNS) <= set(frame.columns)
    assert frame["sample_id"].is_unique
    assert len(library) == N


def test_sites_group_horizons_of_one_pedon(library):
    frame = library.frame
    per_site = frame.groupby("site_id")
    sizes = per_site.size()
    assert 2.5 < sizes.mean() < 5.5  # 1 + Binomial(6, 0.5) horizons, the last pedon cut
    assert sizes.max() <= 7
    assert (per_site["soil_order"].nunique() == 1).all()
    # horizons are contiguous from the surface down
    for _, horizons in list(per_site)[:200]:
        assert horizons["top_cm"].iloc[0] == 0.0
        assert np.allclose(horizons["top_cm"].iloc[1:], horizons["bottom_cm"].iloc[:-1])
    # a site never spans two blocks, so a prefix never splits one across files of blocks
    block_of_site = frame.index.to_series().floordiv(BLOCK_SIZE).groupby(frame["site_id"])
    assert (block_of_site.nunique() == 1).all()


def test_every_soil_order_appears(library):
    assert set(library.frame["soil_order"]) == set(SOIL_ORDERS)
    assert library.groups("soil_order").size == N


def test_kex_positive_and_in_a_soil_range(library):
    kex = library.target("kex_cmol_kg", positive=True)
    assert (kex > 0).all()
    assert 0.1 < np.median(kex) < 1.0  # cmol(+)/kg, as in surveys such as KSSL
    assert np.percentile(kex, 99) < 15.0
    assert np.log10(kex).std() > 0.3  # spans orders of magnitude, as Kex does


def test_truth_columns_are_consistent(library):
    frame = library.frame
    clay = frame[["kaolinite_pct", "smectite_pct", "illite_pct"]].sum(axis=1)
    assert np.allclose(clay, frame["clay_pct"])
    assert (frame["clay_pct"] + frame["sand_pct"] <= 97.0 + 1e-9).all()
    assert (frame["fertiliser_cmol_kg"][frame["top_cm"] >= 30] == 0).all()
    # the noise-free Kex recomputed from the truth explains most of the library's Kex
    composition = {
        "kaolinite": frame["kaolinite_pct"],
        "smectite": frame["smectite_pct"],
        "illite": frame["illite_pct"],
        "calcite": frame["caco3_pct"],
        "soc": frame["soc_pct"],
    }
    cec, kex = kex_cmol_kg(composition)
    assert np.allclose(cec, frame["cec_cmol_kg"])
    r = np.corrcoef(np.log10(kex), np.log10(frame["kex_cmol_kg"]))[0, 1]
    assert r > 0.8


def _one(**values):
    # little smectite: no interstratified fixation unless a test asks for it
    base = {"kaolinite": 8.0, "smectite": 1.0, "illite": 8.0, "calcite": 0.0, "soc": 1.5}
    base.update(values)
    return {k: np.array([v], dtype=float) for k, v in base.items()}


def test_kex_grows_with_illite_and_drops_with_carbonate_and_weathering():
    _, rich = kex_cmol_kg(_one(illite=12.0))
    _, poor = kex_cmol_kg(_one(illite=2.0))
    assert rich[0] > 2 * poor[0]
    _, calcareous = kex_cmol_kg(_one(calcite=8.0))
    _, free = kex_cmol_kg(_one(calcite=0.0))
    assert calcareous[0] < 0.5 * free[0]
    _, weathered = kex_cmol_kg(_one(kaolinite=20.0))
    _, fresh = kex_cmol_kg(_one(kaolinite=2.0))
    assert weathered[0] < fresh[0]


def test_interstratified_illite_smectite_fixes_potassium():
    # same illite and kaolinite, more smectite: CEC rises, but once smectite and illite
    # share the clay K+ is fixed
    cec_low, kex_low = kex_cmol_kg(_one(kaolinite=2.0, smectite=1.0, illite=8.0))
    cec_mix, kex_mix = kex_cmol_kg(_one(kaolinite=2.0, smectite=8.0, illite=8.0))
    assert cec_mix[0] > cec_low[0]
    assert kex_mix[0] < kex_low[0]
    no_fixation = kex_cmol_kg(
        _one(kaolinite=2.0, smectite=8.0, illite=8.0),
        model=dataclasses.replace(KEX_MODEL, fixation=0.0),
    )[1]
    assert kex_mix[0] < 0.3 * no_fixation[0]


def test_spectra_carry_the_composition(library):
    # carbonate and clay have strong bands: a linear model on the spectra finds them
    X = library.spectra[:, ::6]  # every 12 cm-1 keeps the bands and the test fast
    train, test = slice(0, 800), slice(800, N)
    for column in ("caco3_pct", "clay_pct"):
        y = np.log1p(library.frame[column].to_numpy())
        model = RidgeCV(alphas=np.logspace(-4, 2, 7)).fit(X[train], y[train])
        assert model.score(X[test], y[test]) > 0.8, column
    # Kex has no band: it depends on ratios and thresholds of the constituents, so the same
    # linear model explains much less of it (the room a nonlinear model can take)
    y = np.log10(library.target("kex_cmol_kg"))
    model = RidgeCV(alphas=np.logspace(-4, 2, 7)).fit(X[train], y[train])
    assert model.score(X[test], y[test]) < 0.7


def test_write_and_read_back(library, tmp_path):
    part = library.subset(slice(0, 150))
    path = write_library(part, tmp_path / "lib.parquet", metadata={"seed": 0})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib.parquet"]  # no temp left
    header = json.loads(pq.read_schema(path).metadata[b"geosoil"])
    assert header == {"axis_unit": "cm-1", "quantity": "absorbance", "seed": 0}
    back = read_spectra(path)
    assert np.array_equal(back.spectra, part.spectra)
    assert back.axis.same_as(part.axis)
    assert back.quantity == "absorbance"  # from the table's geosoil metadata
    assert back.frame.columns.tolist() == part.frame.columns.tolist()
    assert np.array_equal(back.target("kex_cmol_kg"), part.frame["kex_cmol_kg"].to_numpy())
    assert back.groups("site_id").tolist() == part.frame["site_id"].tolist()


def test_writing_twice_gives_the_same_bytes(library, tmp_path):
    part = library.subset(slice(0, 50))
    digests = {
        hashlib.sha256(write_library(part, tmp_path / f"{name}.parquet").read_bytes()).hexdigest()
        for name in ("a", "b")
    }
    assert len(digests) == 1


@pytest.mark.parametrize("n_samples", [0, -3, 2.5, True, "100"])
def test_bad_sizes_are_refused(n_samples):
    with pytest.raises(ConfigError) as caught:
        mir_library(n_samples)
    assert caught.value.field == "n_samples"
    assert "40000" in caught.value.fix


def test_a_negative_seed_is_refused():
    with pytest.raises(ConfigError) as caught:
        mir_library(10, seed=-1)
    assert caught.value.field == "seed"


def test_cli_writes_a_library(run_cli, tmp_path):
    out = tmp_path / "lib"
    result = run_cli("synth", "--out", out, "--library", "mir", "--n", 200, "--seed", 3)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["library_mir.parquet"]
    back = read_spectra(out / "library_mir.parquet")
    expected = mir_library(200, seed=3)
    assert np.array_equal(back.spectra, expected.spectra)
    assert back.frame["site_id"].tolist() == expected.frame["site_id"].tolist()
    header = json.loads(pq.read_schema(out / "library_mir.parquet").metadata[b"geosoil"])
    assert header["n_samples"] == 200 and header["seed"] == 3

    again = run_cli("synth", "--out", out, "--library", "mir", "--n", 200)
    assert again.exit_code != 0
    assert "--overwrite" in again.output


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--library", "mir", "--size", "small"], "--size"),
        (["--n", "200"], "--n"),
    ],
)
def test_cli_refuses_mixed_world_and_library_flags(run_cli, tmp_path, args, hint):
    result = run_cli("synth", "--out", tmp_path / "x", *args)
    assert result.exit_code == 2
    assert hint in result.output
    assert not (tmp_path / "x").exists()


# -- the design where a linear model is not handicapped -----------------------------------
def _digest(samples) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(samples.spectra).tobytes())
    digest.update(samples.frame.to_csv(index=False).encode())
    return digest.hexdigest()[:16]


def test_the_mechanistic_design_is_unchanged_to_the_byte(library):
    # pinned before the linear design was added: the default library must not move
    assert _digest(library) == "9a4d5dd9e48aeb8b"


def test_the_linear_design_does_not_handicap_a_linear_model(library):
    from geosoil.synthetic.library import LINEAR_KEX_MODEL

    linear = mir_library(N, seed=0, model=LINEAR_KEX_MODEL)
    # the same pedons, horizons and spectra: only Kex differs
    assert np.array_equal(linear.spectra, library.spectra)
    assert linear.frame.drop(columns="kex_cmol_kg").equals(
        library.frame.drop(columns="kex_cmol_kg")
    )
    kex = linear.target("kex_cmol_kg", positive=True)
    assert 0.1 < np.median(kex) < 1.0 and np.log10(kex).std() > 0.3
    # the same ridge on the spectra explains clearly more of it than of the default design
    X = library.spectra[:, ::6]
    train, test = slice(0, 800), slice(800, N)
    scores = {}
    for name, samples in (("mechanistic", library), ("linear", linear)):
        y = np.log10(samples.target("kex_cmol_kg"))
        model = RidgeCV(alphas=np.logspace(-4, 2, 7)).fit(X[train], y[train])
        scores[name] = model.score(X[test], y[test])
    assert scores["linear"] > 0.65 and scores["linear"] > scores["mechanistic"] + 0.1
    assert "CNN" in KEX_MODEL.favours and "not handicapped" in LINEAR_KEX_MODEL.favours
