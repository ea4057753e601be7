"""EPO and DS/PDS: what they remove, their artifact, and the bad-input cases."""

import numpy as np
import pandas as pd
import pytest

from geosoil.artifacts import OutputSpec, Provenance, load_artifact, save_artifact
from geosoil.errors import ConfigError, SampleDataError
from geosoil.io.spectra import read_spectra
from geosoil.models import PLSR
from geosoil.spectra import SpectraError, SpectralAxis, SpectralPipeline
from geosoil.spectra.correction import fit_epo_basis, fit_transfer, standardize_instrument

POSITIONS = np.linspace(4000.0, 600.0, 60)
AXIS = SpectralAxis.from_values(POSITIONS, "cm-1")


def soils(n=80, seed=0):
    rng = np.random.default_rng(seed)
    strengths = rng.uniform(0, 1, (n, 3))
    shapes = np.stack([np.exp(-0.5 * ((POSITIONS - c) / 200) ** 2) for c in (3400, 2000, 1100)])
    return strengths @ shapes + rng.normal(0, 1e-3, (n, 60)), 1.0 + strengths[:, 0]


def wet_of(X, amount):
    water = np.exp(-0.5 * ((POSITIONS - 1630) / 80) ** 2) + 0.3
    return X + amount[:, None] * water


def pairs_table(path, dry, wet, *, drop_last=False):
    columns = [f"wn_{v}" for v in POSITIONS]
    frame = pd.DataFrame(np.vstack([dry, wet]), columns=columns)
    frame.insert(0, "state", ["dry"] * len(dry) + ["wet"] * len(wet))
    frame.insert(0, "soil", [f"s{i}" for i in range(len(dry))] * 2)
    if drop_last:
        frame = frame.iloc[:-1]
    frame.to_parquet(path)
    return path


def tables_of(path):
    return {str(path): read_spectra(path)}


def epo_step(path, **extra):
    return {
        "name": "epo",
        "pairs": str(path),
        "pair_column": "soil",
        "state_column": "state",
        **extra,
    }


def test_epo_projects_out_the_moisture_direction(tmp_path):
    X, y = soils()
    amount = np.random.default_rng(1).uniform(0, 1, len(X))
    path = pairs_table(tmp_path / "p.parquet", X[:20], wet_of(X[:20], amount[:20]))
    pipeline = SpectralPipeline([epo_step(path, components=1)], tables=tables_of(path))
    pipeline.fit(X, AXIS)
    np.testing.assert_allclose(
        pipeline.transform(wet_of(X, amount)), pipeline.transform(X), atol=1e-4
    )
    model = PLSR(preprocessing=[epo_step(path, components=1)], target_transform="none")
    assert model.table_paths() == [str(path)]
    model.attach_tables(tables_of(path)).fit(X, y, axis=AXIS)
    wet = wet_of(X, amount)
    np.testing.assert_allclose(model.predict(wet), model.predict(X), atol=1e-3)
    assert (
        np.abs(
            PLSR(preprocessing=[], target_transform="none").fit(X, y, axis=AXIS).predict(wet) - y
        ).max()
        > 0.1
    )


def test_epo_with_unpaired_or_differently_sized_sets(tmp_path):
    X, _ = soils(n=20)
    path = pairs_table(tmp_path / "p.parquet", X, wet_of(X, np.ones(20)), drop_last=True)
    with pytest.raises(SampleDataError, match="one state only") as err:
        SpectralPipeline([epo_step(path)], tables=tables_of(path)).fit(X, AXIS)
    assert err.value.path.name == "p.parquet"
    with pytest.raises(SampleDataError, match="differ in size"):
        fit_epo_basis(X, X[:10], 2)


def test_epo_reads_no_file_itself(tmp_path):
    """The pairs table is handed in (the workflows read it); without it the fit says how."""
    X, _ = soils(n=20)
    path = pairs_table(tmp_path / "p.parquet", X, wet_of(X, np.ones(20)))
    with pytest.raises(ConfigError, match="not handed to the pipeline") as err:
        SpectralPipeline([epo_step(path)]).fit(X, AXIS)
    assert err.value.field == "preprocessing[0].pairs"
    assert "read_spectra" in err.value.fix


def test_transfer_on_another_axis_and_unequal_sets():
    X, y = soils()
    model = PLSR(n_components=3, preprocessing=[], target_transform="none").fit(X, y, axis=AXIS)
    other = SpectralAxis.from_values(POSITIONS[::2], "cm-1")
    with pytest.raises(SpectraError, match="another axis") as err:
        standardize_instrument(model, X[:10, ::2], X[:10, ::2], axis=other)
    assert "resample" in err.value.fix
    with pytest.raises(SampleDataError, match="differ in size"):
        standardize_instrument(model, X[:10], X[:12], axis=AXIS)


@pytest.mark.parametrize("method", ["ds", "pds"])
def test_standardization_recovers_a_known_instrument_and_round_trips(tmp_path, method):
    X, y = soils(n=120)
    secondary = X * (1.1 - 0.2 * np.linspace(0, 1, 60)) + 0.05  # known gain and offset
    model = PLSR(n_components=3, preprocessing=[], target_transform="none").fit(X, y, axis=AXIS)
    corrected = standardize_instrument(model, secondary[:30], X[:30], axis=AXIS, method=method)
    names = [step["name"] for step in corrected.preprocessing_.to_spec()]
    assert names[0] == "instrument_standardization"
    np.testing.assert_allclose(corrected.predict(secondary[30:]), model.predict(X[30:]), atol=2e-3)
    assert np.abs(model.predict(secondary[30:]) - model.predict(X[30:])).max() > 0.05
    path = save_artifact(
        corrected,
        tmp_path / "m.safetensors",
        input_spec=corrected.input_spec(),
        output_spec=OutputSpec(names=["y"], units=["-"]),
        provenance=Provenance(data_fingerprint="toy", n_samples=120, seed=0),
        preprocessing=corrected.preprocessing_.to_spec(),
    )
    restored = load_artifact(path).estimator
    np.testing.assert_array_equal(
        restored.predict(secondary[30:]), corrected.predict(secondary[30:])
    )


def test_pds_transfer_is_banded():
    rng = np.random.default_rng(3)
    S = rng.normal(size=(25, 30))
    F, _ = fit_transfer(S, S * 2.0, half_window=2, tolerance=1e-6)
    rows, cols = np.nonzero(np.abs(F) > 1e-12)
    assert np.abs(rows - cols).max() <= 2


def test_spectral_auto_hands_the_pairs_table_to_its_candidates(tmp_path):
    from geosoil.models.spectral.auto import SpectralAuto

    X, y = soils()
    amount = np.random.default_rng(1).uniform(0, 1, len(X))
    path = pairs_table(tmp_path / "p.parquet", X[:20], wet_of(X[:20], amount[:20]))
    plsr = {"preprocessing": [epo_step(path, components=1)], "max_components": 3}
    model = SpectralAuto(
        candidates=["plsr"], candidate_params={"plsr": plsr}, target_transform="none"
    )
    assert model.table_paths() == [str(path)]
    model.attach_tables(tables_of(path)).fit(X, y, axis=AXIS)
    np.testing.assert_allclose(model.predict(wet_of(X, amount)), model.predict(X), atol=1e-3)
