"""The LUCAS-like vis-NIR library and the Pb target set: truth, determinism, files, errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import RidgeCV

from geosoil.errors import ConfigError
from geosoil.io.spectra import read_spectra
from geosoil.synthetic import pb_target_set, pb_truth, ph_truth, visnir_library, write_library
from geosoil.synthetic.library import BLOCK_SIZE
from geosoil.synthetic.spectra import VISNIR_AXIS_NM
from geosoil.synthetic.visnir_library import (
    COUNTRIES,
    DISTRICT_BOUNDS_M,
    LAND_COVERS,
    PB_MODEL,
    PH_MODEL,
    TARGET_CRS,
    truth_composition,
)

N = BLOCK_SIZE + 100  # more than one block, so block boundaries are exercised


@pytest.fixture(scope="module")
def library():
    return visnir_library(N, seed=0)


@pytest.fixture(scope="module")
def district():
    return pb_target_set(seed=0)


# -- the truth functions ------------------------------------------------------------------
def _soil(**values):
    base = {
        "kaolinite": 5.0,
        "smectite": 5.0,
        "illite": 10.0,
        "calcite": 0.0,
        "soc": 2.0,
        "goethite": 2.0,
        "hematite": 1.0,
    }
    base.update(values)
    return {k: np.array([v], dtype=float) for k, v in base.items()}


def test_ph_falls_with_organic_matter_iron_oxides_and_kaolinite():
    reference = ph_truth(_soil())[0]
    assert ph_truth(_soil(soc=8.0))[0] < reference - 1.0
    assert ph_truth(_soil(goethite=6.0, hematite=3.0))[0] < reference - 0.3
    assert ph_truth(_soil(kaolinite=18.0, illite=1.0, smectite=1.0))[0] < reference - 0.3


def test_carbonate_buffers_ph_towards_8_3():
    acid = ph_truth(_soil(soc=10.0))[0]
    assert acid < 5.5
    little, much = ph_truth(_soil(soc=10.0, calcite=0.5))[0], ph_truth(_soil(calcite=20.0))[0]
    assert acid < little < much
    assert much == pytest.approx(PH_MODEL.carbonate_ph, abs=1e-6)
    # the unexplained part moves pH, but never out of the soil range
    assert ph_truth(_soil(), unexplained=np.array([1.0]))[0] > ph_truth(_soil())[0]
    assert ph_truth(_soil(calcite=20.0), unexplained=np.array([30.0]))[0] == PH_MODEL.high
    assert ph_truth(_soil(soc=40.0), unexplained=np.array([-30.0]))[0] == PH_MODEL.low


def test_pb_needs_sorption_sites_and_a_ph_above_the_edge():
    # at a fixed pH (carbonate-buffered), more iron oxides and organic matter hold more Pb
    buffered = {"calcite": 20.0}
    assert pb_truth(_soil(goethite=6.0, **buffered))[0] > 1.5 * pb_truth(_soil(**buffered))[0]
    assert pb_truth(_soil(soc=6.0, **buffered))[0] > pb_truth(_soil(**buffered))[0]
    # below the sorption edge Pb is leached: the same sites hold much less
    acid = _soil(soc=6.0)
    assert ph_truth(acid)[0] < PB_MODEL.edge_ph - 0.5
    assert pb_truth(acid)[0] < 0.3 * pb_truth(_soil(soc=6.0, **buffered))[0]
    # deposition scales Pb log-linearly; the result stays in the stated range
    high = pb_truth(_soil(), deposition=np.array([1.0]))[0]
    assert np.log10(high / pb_truth(_soil())[0]) == pytest.approx(PB_MODEL.deposition_sd_log10)
    extreme = pb_truth(_soil(), deposition=np.array([-100.0, 100.0]))
    assert extreme.tolist() == [PB_MODEL.low_mg_kg, PB_MODEL.high_mg_kg]


# -- the source library -------------------------------------------------------------------
def test_same_seed_same_library_other_seed_other_library(library):
    again = visnir_library(N, seed=0)
    assert np.array_equal(library.spectra, again.spectra)
    assert library.frame.equals(again.frame)
    other = visnir_library(50, seed=1)
    assert not np.allclose(library.spectra[:50], other.spectra)


def test_a_smaller_library_is_a_prefix_of_a_larger_one(library):
    small = visnir_library(7, seed=0)
    assert np.array_equal(small.spectra, library.spectra[:7])
    assert small.frame.equals(library.frame.iloc[:7])


def test_library_axis_columns_and_groups(library):
    assert library.spectra.shape == (N, 2100)
    assert library.spectra.dtype == np.float32
    assert np.array_equal(library.axis.values, VISNIR_AXIS_NM)
    assert library.axis.unit == "nm"
    assert library.quantity == "reflectance"
    assert library.spectra.min() > 0.0 and library.spectra.max() < 1.0
    frame = library.frame
    assert list(frame.columns[:8]) == [
        "sample_id",
        "country",
        "land_cover",
        "ph_h2o",
        "soc_g_kg",
        "clay_pct",
        "caco3_g_kg",
        "fe_oxide_g_kg",
    ]
    assert frame["sample_id"].is_unique
    assert 15 <= frame["country"].nunique() <= len(COUNTRIES) == 20
    assert set(frame["land_cover"]) == set(LAND_COVERS)
    assert library.groups("country").size == N


def test_library_ph_spans_acid_to_calcareous_soils(library):
    frame = library.frame
    ph = library.target("ph_h2o")
    assert ph.min() >= 3.5 and ph.max() <= 9.0
    assert np.percentile(ph, 5) < 5.0 and np.percentile(ph, 95) > 7.8
    calcareous = frame["caco3_g_kg"] > 20
    assert frame.loc[calcareous, "ph_h2o"].median() > 7.8
    woodland = frame["land_cover"] == "woodland"
    assert (
        frame.loc[woodland, "soc_g_kg"].median() > 1.5 * frame.loc[~woodland, "soc_g_kg"].median()
    )
    assert frame.loc[woodland, "ph_h2o"].median() < frame.loc[~woodland, "ph_h2o"].median()


def test_library_truth_columns_give_back_the_noise_free_ph(library):
    frame = library.frame
    clean = ph_truth(truth_composition(frame))
    residual = frame["ph_h2o"] - clean
    inside = (clean > PH_MODEL.low + 1) & (clean < PH_MODEL.high - 1)
    assert residual[inside].std() == pytest.approx(PH_MODEL.sd, rel=0.15)
    assert np.allclose(frame["fe_oxide_g_kg"], 10 * (frame["goethite_pct"] + frame["hematite_pct"]))


def test_ph_is_learnable_from_the_spectra(library):
    X = library.spectra[:, ::10]
    y = library.target("ph_h2o")
    model = RidgeCV(alphas=np.logspace(-5, 1, 7)).fit(X[:800], y[:800])
    assert model.score(X[800:], y[800:]) > 0.5


# -- the Pb target set --------------------------------------------------------------------
def test_pb_set_columns_coordinates_and_folds(district):
    frame = district.frame
    assert len(district) == 130
    assert list(frame.columns[:8]) == [
        "sample_id",
        "x",
        "y",
        "fold",
        "pb_mg_kg",
        "ph_h2o",
        "soc_g_kg",
        "fe_oxide_g_kg",
    ]
    assert district.spectra.shape == (130, 2100)
    west, south, east, north = DISTRICT_BOUNDS_M
    assert frame["x"].between(west, east).all() and frame["y"].between(south, north).all()
    assert 440_000 <= west < east <= 460_000 and 4_170_000 <= south < north <= 4_190_000
    assert sorted(frame["fold"].unique()) == list(range(1, 11))
    assert frame["fold"].value_counts().tolist() == [13] * 10


def test_pb_is_skewed_and_in_range(district):
    pb = district.target("pb_mg_kg", positive=True)
    assert pb.min() >= 10 and pb.max() <= 1000
    assert pb.mean() > np.median(pb)  # right-skewed, as trace metals are
    assert np.log10(pb).std() > 0.2


def test_the_district_is_a_narrower_shifted_part_of_the_continent(library, district):
    local, continent = district.frame, library.frame
    assert local["fe_oxide_g_kg"].median() > 1.5 * continent["fe_oxide_g_kg"].median()
    assert np.log(local["soc_g_kg"]).std() < np.log(continent["soc_g_kg"]).std()
    assert local["ph_h2o"].median() < continent["ph_h2o"].median()


def test_pb_follows_its_truth_function(district):
    frame = district.frame
    clean = pb_truth(truth_composition(frame))
    r = np.corrcoef(np.log10(clean), np.log10(frame["pb_mg_kg"]))[0, 1]
    assert r > 0.75
    residual = np.log10(frame["pb_mg_kg"] / clean)
    assert residual.std() == pytest.approx(PB_MODEL.deposition_sd_log10, rel=0.25)


def test_pb_set_is_deterministic_and_seeded(district):
    assert district.frame.equals(pb_target_set(seed=0).frame)
    other = pb_target_set(seed=1)
    assert not np.allclose(district.frame["pb_mg_kg"], other.frame["pb_mg_kg"])


# -- files and errors ---------------------------------------------------------------------
def test_library_file_round_trip_and_bytes(library, tmp_path):
    part = library.subset(slice(0, 40))
    digests = set()
    for name in ("a", "b"):
        path = write_library(part, tmp_path / f"{name}.parquet", metadata={"seed": 0})
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1
    names = pq.read_schema(path).names
    assert names[-2100] == "nm_400" and names[-1] == "nm_2499"
    back = read_spectra(path)
    assert back.quantity == "reflectance"
    assert back.axis.same_as(part.axis)
    assert np.array_equal(back.spectra, part.spectra)
    assert back.frame["country"].tolist() == part.frame["country"].tolist()


def test_pb_file_reads_back_with_coordinates(district, tmp_path):
    path = write_library(district, tmp_path / "pb.parquet", metadata={"crs": TARGET_CRS})
    assert json.loads(pq.read_schema(path).metadata[b"geosoil"])["crs"] == TARGET_CRS
    back = read_spectra(path, x_column="x", y_column="y", crs=TARGET_CRS)
    assert back.has_coordinates
    assert back.frame.crs.to_epsg() == 32654
    assert np.allclose(back.frame.geometry.x, district.frame["x"])
    assert np.array_equal(back.target("pb_mg_kg"), district.target("pb_mg_kg"))


@pytest.mark.parametrize("make", [visnir_library, pb_target_set])
@pytest.mark.parametrize("n_samples", [0, -3, 2.5, True, "100"])
def test_bad_sizes_are_refused(make, n_samples):
    with pytest.raises(ConfigError, match="n_samples") as caught:
        make(n_samples)
    assert caught.value.field == "n_samples"


@pytest.mark.parametrize("make", [visnir_library, pb_target_set])
def test_bad_seeds_are_refused(make):
    with pytest.raises(ConfigError, match="seed") as caught:
        make(5, seed=-1)
    assert caught.value.field == "seed"


@pytest.mark.parametrize("n_folds", [1, 11, 2.0])
def test_bad_fold_counts_are_refused(n_folds):
    with pytest.raises(ConfigError, match="n_folds") as caught:
        pb_target_set(10, n_folds=n_folds)
    assert caught.value.field == "n_folds"


# -- the design where pH says little about Pb ---------------------------------------------
def _digest(samples) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(samples.spectra).tobytes())
    digest.update(samples.frame.to_csv(index=False).encode())
    return digest.hexdigest()[:16]


def test_the_sorption_edge_design_is_unchanged_to_the_byte(district):
    # pinned before the exchange design was added: the default set must not move
    assert _digest(district) == "8100dae1747db26e"


def test_the_exchange_design_is_weakly_related_to_ph(district):
    from geosoil.synthetic.visnir_library import EXCHANGE_PB_MODEL

    other = pb_target_set(seed=0, model=EXCHANGE_PB_MODEL)
    # the same samples and spectra, only Pb differs
    assert np.array_equal(other.spectra, district.spectra)
    assert other.frame.drop(columns="pb_mg_kg").equals(district.frame.drop(columns="pb_mg_kg"))
    pb = np.log10(other.target("pb_mg_kg"))
    ph_clean = ph_truth(truth_composition(other.frame))
    assert abs(np.corrcoef(pb, ph_clean)[0, 1]) < 0.1
    assert abs(np.corrcoef(pb, other.frame["ph_h2o"])[0, 1]) < 0.2
    # the default design is strongly related to pH: the two designs differ where it matters
    assert np.corrcoef(np.log10(district.target("pb_mg_kg")), ph_clean)[0, 1] > 0.6
    # Pb keeps a soil range and follows its own truth (more charge, more Pb)
    assert pb.min() >= 1.0 and pb.max() <= 3.0 and pb.std() > 0.2
    clean = pb_truth(truth_composition(other.frame), model=EXCHANGE_PB_MODEL)
    assert np.corrcoef(np.log10(clean), pb)[0, 1] > 0.8
    assert pb_truth(_soil(smectite=20.0), model=EXCHANGE_PB_MODEL) > pb_truth(
        _soil(smectite=2.0), model=EXCHANGE_PB_MODEL
    )
    # each design says what it favours
    assert "transfer" in PB_MODEL.favours and "not transfer" in EXCHANGE_PB_MODEL.favours
