"""SpectralPipeline: step specs, the fitted axis, bad spectra, and the artifact round trip."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from geosoil.errors import ArtifactError, ConfigError
from geosoil.models.base import NotFittedError
from geosoil.spectra import STEP_TYPES, SpectraError, SpectralAxis, SpectralPipeline

MIR = SpectralAxis.from_values(np.arange(4000.0, 598.0, -4.0), "cm-1")

ALL_STEPS = [
    {"name": "absorbance_to_reflectance"},
    {"name": "reflectance_to_absorbance"},
    {"name": "resample", "to": {"start": 3990, "stop": 610, "step": 3}},
    "snv",
    {"name": "savgol", "window": 11, "polyorder": 2, "deriv": 1},
    {"name": "drop_regions", "regions": [[2389, 2269]]},
    {"name": "trim", "min": 650, "max": 3900},
    "standardize",
]


def spectra(n, axis=MIR, seed=0):
    rng = np.random.default_rng(seed)
    peaks = np.exp(-(((axis.values[None, :] - rng.uniform(800, 3800, (n, 1))) / 80.0) ** 2))
    return (0.3 + peaks + rng.normal(0, 0.01, (n, len(axis)))).astype(np.float32)


def test_every_registered_step_is_exercised():
    names = {s if isinstance(s, str) else s["name"] for s in ALL_STEPS}
    # The correction steps learn from paired data, not from the training spectra: they
    # are exercised in test_correction.py.
    assert names | {"epo", "instrument_standardization"} == set(STEP_TYPES)


def test_fit_transform_shapes_dtype_and_row_independence():
    X = spectra(30)
    pipe = SpectralPipeline(ALL_STEPS)
    Z = pipe.fit_transform(X, MIR)
    assert Z.dtype == np.float32 and Z.shape == (30, len(pipe.axis_out_))
    assert pipe.axis_in_ is MIR and pipe.axis_out_.lo >= 650 and pipe.axis_out_.hi <= 3900
    # Each row depends on its own row only: any subset or order gives the same rows.
    order = np.array([7, 3, 29, 0])
    np.testing.assert_array_equal(pipe.transform(X[order]), Z[order])


def test_empty_pipeline_is_the_identity_in_float32():
    X = spectra(3)
    pipe = SpectralPipeline()
    np.testing.assert_array_equal(pipe.fit_transform(X, MIR), X)
    assert pipe.axis_out_ is MIR and pipe.to_spec() == []


def test_round_trip_through_state_and_a_safetensors_file_is_bit_identical(tmp_path):
    X = spectra(40)
    pipe = SpectralPipeline(ALL_STEPS).fit(X, MIR)
    expected = pipe.transform(X)
    tensors, state = pipe.export_state()
    assert all(name.startswith("preprocessing.") for name in tensors)
    assert {"preprocessing.7.mean", "preprocessing.7.scale"} <= set(tensors)
    # Through JSON and a file, as the artifact stores them, beside a network's weights.
    spec = json.loads(json.dumps(pipe.to_spec()))
    state = json.loads(json.dumps(state))
    save_file({**tensors, "network.0.weight": torch.ones(2)}, tmp_path / "p.safetensors")
    loaded = load_file(tmp_path / "p.safetensors")
    restored = SpectralPipeline.from_state(spec, loaded, state)
    assert restored.to_spec() == pipe.to_spec()
    assert restored.axis_in_.same_as(MIR, tol=0) and restored.axis_out_.same_as(
        pipe.axis_out_, tol=0
    )
    np.testing.assert_array_equal(restored.transform(X), expected)
    assert restored.transform(X).tobytes() == expected.tobytes()


def test_from_state_refuses_missing_or_inconsistent_tensors():
    pipe = SpectralPipeline(["snv", "standardize"]).fit(spectra(5), MIR)
    tensors, state = pipe.export_state()
    partial = {k: v for k, v in tensors.items() if k != "preprocessing.1.scale"}
    with pytest.raises(ArtifactError, match="preprocessing.1.scale"):
        SpectralPipeline.from_state(pipe.to_spec(), partial, state)
    other_steps = [{"name": "trim", "min": 1000, "max": 2000}, "standardize"]
    with pytest.raises(ArtifactError, match="do not reproduce"):
        SpectralPipeline.from_state(other_steps, tensors, state)
    with pytest.raises(ArtifactError, match="cannot be restored"):
        SpectralPipeline.from_state([{"name": "nope"}], tensors, state)


def test_transform_refuses_another_axis_with_the_resample_fix():
    pipe = SpectralPipeline(["snv"]).fit(spectra(4), MIR)
    shifted = SpectralAxis.from_values(MIR.values + 1.0, "cm-1")
    with pytest.raises(SpectraError) as info:
        pipe.transform(spectra(4, shifted), shifted)
    assert "another axis than the model" in str(info.value)
    assert "resample" in info.value.fix
    with pytest.raises(SpectraError, match="do not match the axis"):
        pipe.transform(spectra(4)[:, :-1])


def test_nan_and_inf_rows_are_counted_and_the_first_named():
    X = spectra(12)
    X[5, 10] = np.nan
    X[9, 0] = np.inf
    with pytest.raises(SpectraError) as info:
        SpectralPipeline(["snv"]).fit(X, MIR)
    assert "2 of 12 spectra hold NaN or Inf (first at row 5)" in str(info.value)
    pipe = SpectralPipeline(["snv"]).fit(spectra(3), MIR)
    with pytest.raises(SpectraError, match="first at row 5"):
        pipe.transform(X)


def test_transform_before_fit():
    with pytest.raises(NotFittedError, match="fit"):
        SpectralPipeline(["snv"]).transform(spectra(2))


@pytest.mark.parametrize(
    ("steps", "field", "words"),
    [
        ([{"name": "savgool"}], "preprocessing[0].name", "did you mean 'savgol'"),
        (["snv", {"name": "standardise"}], "preprocessing[1].name", "did you mean 'standardize'"),
        ([{"window": 5}], "preprocessing[0]", "mapping with a 'name'"),
        ([{"name": "snv", "ddof": 1}], "preprocessing[0].ddof", "has no parameter 'ddof'"),
        ([{"name": "trim", "mni": 600, "max": 900}], "preprocessing[0].mni", "did you mean 'min'"),
        ({"name": "snv"}, "preprocessing", "must be a list"),
    ],
)
def test_bad_step_specs_are_config_errors(steps, field, words):
    with pytest.raises(ConfigError) as info:
        SpectralPipeline(steps)
    text = str(info.value) + str(info.value.fix)
    assert words in text
    assert info.value.field == field


def test_to_spec_spells_out_defaults():
    spec = SpectralPipeline(["snv", {"name": "savgol", "deriv": 1}]).to_spec()
    assert spec == [
        {"name": "snv"},
        {"name": "savgol", "window": 11, "polyorder": 1, "deriv": 1},
    ]
    assert SpectralPipeline(spec).to_spec() == spec


def test_only_leading_selections_make_bands_unused():
    axis = SpectralAxis.from_values(np.arange(400.0, 501.0, 10.0), "nm")  # 11 bands
    trim = {"name": "trim", "min": 420, "max": 480}
    drop = {"name": "drop_regions", "regions": [[445, 455]]}
    leading = SpectralPipeline([trim, drop, "snv"]).used_input_bands(axis)
    np.testing.assert_array_equal(np.flatnonzero(leading), [2, 3, 4, 6, 7, 8])
    # after SNV every band has counted (the mean and sd of the whole spectrum)
    assert SpectralPipeline(["snv", drop]).used_input_bands(axis).all()
    assert SpectralPipeline([]).used_input_bands(axis).all()
