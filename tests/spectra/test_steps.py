"""Each preprocessing step against what it must compute, on tiny spectra built here."""

import numpy as np
import pytest

from geosoil.errors import ConfigError
from geosoil.spectra import SpectraError, SpectralAxis, SpectralPipeline

MIR = SpectralAxis.from_values(np.arange(4000.0, 598.0, -2.0), "cm-1")  # 1701 bands, descending


def _rng_spectra(n, axis, seed=0):
    rng = np.random.default_rng(seed)
    base = np.sin(axis.values / 300.0)
    return (1.0 + rng.random((n, 1))) * base + rng.normal(0, 0.1, (n, len(axis)))


def run(steps, X, axis):
    return SpectralPipeline(steps).fit_transform(X, axis).astype(np.float64)


# -- SNV ------------------------------------------------------------------------------------
def test_snv_centres_and_scales_each_spectrum_and_removes_scatter():
    X = _rng_spectra(5, MIR)
    Z = run(["snv"], X, MIR)
    np.testing.assert_allclose(Z.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=1), 1, atol=1e-5)
    # Multiplicative scatter and additive offset per spectrum leave SNV unchanged.
    Z2 = run(["snv"], 3.0 * X + 7.0, MIR)
    np.testing.assert_allclose(Z, Z2, atol=1e-5)


def test_snv_refuses_constant_spectra_naming_count_and_first_row(monkeypatch):
    import geosoil.spectra.pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "_BATCH_ROWS", 3)  # the rows span several batches
    X = _rng_spectra(10, MIR)
    X[4] = 0.25
    X[8] = 0.0
    pipe = SpectralPipeline(["snv"])
    with pytest.raises(SpectraError) as info:
        pipe.fit_transform(X, MIR)
    text = str(info.value)
    assert "2 of 10 spectra" in text and "first at row 4" in text and "constant" in text
    assert "remove" in info.value.fix


# -- Savitzky-Golay -------------------------------------------------------------------------
@pytest.mark.parametrize("descending", [False, True])
def test_savgol_derivative_is_per_axis_unit_whatever_the_direction(descending):
    positions = np.arange(600.0, 1000.0, 2.0)
    if descending:
        positions = positions[::-1]
    axis = SpectralAxis.from_values(positions, "cm-1")
    a, b, c = 2e-5, -0.03, 1.5
    X = np.stack([a * positions**2 + b * positions + c, 3.0 * positions])
    d1 = run([{"name": "savgol", "window": 7, "polyorder": 2, "deriv": 1}], X, axis)
    np.testing.assert_allclose(d1[0], 2 * a * positions + b, atol=1e-6)
    np.testing.assert_allclose(d1[1], 3.0, atol=1e-5)
    d2 = run([{"name": "savgol", "window": 7, "polyorder": 2, "deriv": 2}], X, axis)
    np.testing.assert_allclose(d2[0], 2 * a, atol=1e-7)


def test_savgol_smoothing_keeps_polynomials_and_reduces_noise():
    positions = MIR.values
    smooth = 1e-7 * (positions - 2000) ** 2
    rng = np.random.default_rng(1)
    noisy = smooth + rng.normal(0, 0.05, positions.size)
    out = run([{"name": "savgol", "window": 21, "polyorder": 2}], np.stack([smooth, noisy]), MIR)
    np.testing.assert_allclose(out[0], smooth, atol=1e-5)
    assert np.std(out[1] - smooth) < 0.5 * np.std(noisy - smooth)


def test_savgol_accepts_an_axis_with_rounded_positions():
    # AfSIS column names are rounded to 0.1 cm-1: steps alternate 1.9 and 2.0.
    true = 4003.5 - 1.9287 * np.arange(200)
    axis = SpectralAxis.from_values(np.round(true, 1), "cm-1")
    X = np.stack([5.0 * true])  # the spectra follow the true positions
    d1 = run([{"name": "savgol", "window": 11, "polyorder": 1, "deriv": 1}], X, axis)
    np.testing.assert_allclose(d1, 5.0, rtol=1e-3)


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"window": 10}, "window", "must be odd"),
        ({"window": 3, "polyorder": 3}, "window", "larger than polyorder"),
        ({"window": 11, "polyorder": 1, "deriv": 2}, "deriv", "polyorder >= 2"),
        ({"window": 11, "order": 2}, "order", "did you mean 'polyorder'"),
        ({"window": "wide"}, "window", "invalid value"),
    ],
)
def test_savgol_bad_parameters_are_config_errors(params, field, words):
    with pytest.raises(ConfigError) as info:
        SpectralPipeline([{"name": "savgol", **params}], field="model.params.preprocessing")
    assert words in str(info.value)
    assert info.value.field == f"model.params.preprocessing[0].{field}"
    assert info.value.fix


def test_savgol_window_longer_than_spectra_and_uneven_axis():
    short = SpectralAxis.from_values([1.0, 2.0, 3.0, 4.0, 5.0], "nm")
    with pytest.raises(ConfigError, match="longer than the spectra"):
        SpectralPipeline([{"name": "savgol", "window": 7}]).fit(
            np.ones((2, 5)) * [1, 2, 3, 4, 5], short
        )
    uneven = SpectralAxis.from_values(
        np.r_[np.arange(600.0, 700.0, 2.0), np.arange(700, 900.0, 5)], "cm-1"
    )
    with pytest.raises(SpectraError) as info:
        SpectralPipeline([{"name": "savgol"}]).fit(_rng_spectra(2, uneven), uneven)
    assert "evenly spaced" in str(info.value) and "resample" in info.value.fix


def test_savgol_after_drop_regions_is_refused_with_the_order_fix():
    steps = [{"name": "drop_regions", "regions": [[2389, 2269]]}, {"name": "savgol"}]
    with pytest.raises(SpectraError) as info:
        SpectralPipeline(steps).fit(_rng_spectra(2, MIR), MIR)
    assert "before drop_regions" in info.value.fix


# -- trim and drop_regions ------------------------------------------------------------------
@pytest.mark.parametrize("axis", [MIR, MIR.ascending()])
def test_trim_and_drop_regions_whatever_the_direction(axis):
    X = np.tile(axis.values, (3, 1))  # each value is its own position: selection is visible
    pipe = SpectralPipeline(
        [
            {"name": "trim", "min": 650, "max": 3900},
            {"name": "drop_regions", "regions": [[2389, 2269]]},
        ]
    )
    Z = pipe.fit_transform(X, axis)
    kept = pipe.axis_out_.values
    expected = axis.values[
        (axis.values >= 650)
        & (axis.values <= 3900)
        & ~((axis.values >= 2269) & (axis.values <= 2389))
    ]
    np.testing.assert_array_equal(kept, expected)
    np.testing.assert_array_equal(Z[0], kept.astype(np.float32))
    assert pipe.axis_out_.is_descending == axis.is_descending
    # The CO2 band of a 2 cm-1 axis holds (2388 - 2270) / 2 + 1 = 60 bands.
    assert (
        len(
            SpectralPipeline([{"name": "drop_regions", "regions": [[2269, 2389]]}])
            .fit(X, axis)
            .axis_out_
        )
        == len(axis) - 60
    )


def test_selection_errors():
    with pytest.raises(ConfigError, match="trim range is empty"):
        SpectralPipeline([{"name": "trim", "min": 4000, "max": 600}])
    with pytest.raises(ConfigError, match="needs the parameter 'max'"):
        SpectralPipeline([{"name": "trim", "min": 600}])
    with pytest.raises(SpectraError) as info:
        SpectralPipeline([{"name": "trim", "min": 5000, "max": 6000}]).fit(
            _rng_spectra(2, MIR), MIR
        )
    assert "keeps 0 band" in str(info.value) and "600-4000 cm-1" in info.value.fix
    with pytest.raises(ConfigError):
        SpectralPipeline([{"name": "drop_regions", "regions": [[1, 2, 3]]}])
    with pytest.raises(ConfigError):
        SpectralPipeline([{"name": "drop_regions", "regions": []}])


# -- resample -------------------------------------------------------------------------------
def test_resample_is_exact_on_linear_spectra_and_accepts_a_range():
    X = np.stack([0.5 * MIR.values + 3.0, -MIR.values])
    pipe = SpectralPipeline([{"name": "resample", "to": {"start": 3999, "stop": 601, "step": 4}}])
    Z = pipe.fit_transform(X, MIR).astype(np.float64)
    target = pipe.axis_out_.values
    assert target[0] == 3999 and target[-1] == 603 and np.all(np.diff(target) == -4)
    np.testing.assert_allclose(Z[0], 0.5 * target + 3.0, rtol=1e-6)
    np.testing.assert_allclose(Z[1], -target, rtol=1e-6)
    listed = SpectralPipeline([{"name": "resample", "to": [700.5, 1000.25, 3000.0]}])
    np.testing.assert_allclose(listed.fit_transform(X, MIR)[1], [-700.5, -1000.25, -3000.0])


def test_resample_converts_cm1_to_nm():
    nir = SpectralAxis.from_values(np.arange(10000.0, 4000.0, -4.0), "cm-1")  # 1000-2500 nm
    X = np.stack([1e7 / nir.values])  # the wavelength of each band, in nm
    pipe = SpectralPipeline(
        [{"name": "resample", "to": {"start": 1100, "stop": 2400, "step": 10}, "unit": "nm"}]
    )
    Z = pipe.fit_transform(X, nir)
    assert pipe.axis_out_.unit == "nm"
    np.testing.assert_allclose(Z[0], pipe.axis_out_.values, rtol=1e-4)


def test_resample_refuses_extrapolation_naming_the_range():
    pipe = SpectralPipeline([{"name": "resample", "to": {"start": 4500, "stop": 600, "step": 2}}])
    with pytest.raises(SpectraError) as info:
        pipe.fit(_rng_spectra(2, MIR), MIR)
    assert "extrapolate" in str(info.value) and "600-4000 cm-1" in str(info.value)
    assert "limit the target axis to 600-4000" in info.value.fix


# -- reflectance <-> absorbance -------------------------------------------------------------
def test_reflectance_absorbance_round_trip_and_percent():
    nm = SpectralAxis.from_values(np.arange(400.0, 410.0), "nm")
    R = np.linspace(0.05, 0.9, 20).reshape(2, 10)
    A = run(["reflectance_to_absorbance"], R, nm)
    np.testing.assert_allclose(A, np.log10(1 / R), rtol=1e-6)
    np.testing.assert_allclose(
        run([{"name": "reflectance_to_absorbance", "percent": True}], 100 * R, nm), A, rtol=1e-6
    )
    back = run(["reflectance_to_absorbance", "absorbance_to_reflectance"], R, nm)
    np.testing.assert_allclose(back, R, rtol=1e-6)
    pct = run([{"name": "absorbance_to_reflectance", "percent": True}], A, nm)
    np.testing.assert_allclose(pct, 100 * R, rtol=1e-5)


def test_reflectance_errors_percent_and_non_positive():
    nm = SpectralAxis.from_values(np.arange(400.0, 410.0), "nm")
    R = np.full((4, 10), 0.4)
    R[2] = 40.0
    with pytest.raises(SpectraError) as info:
        run(["reflectance_to_absorbance"], R, nm)
    assert "percent" in str(info.value) and "row 2" in str(info.value)
    assert "divide the reflectance by 100" in info.value.fix and "percent: true" in info.value.fix
    R[2] = 0.4
    R[3, 5] = 0.0
    with pytest.raises(SpectraError, match=r"1 of 4 spectra.*zero or negative.*first at row 3"):
        run(["reflectance_to_absorbance"], R, nm)


# -- standardize ----------------------------------------------------------------------------
def test_standardize_learns_band_moments_in_batches(monkeypatch):
    import geosoil.spectra.pipeline as pipeline_module

    X = _rng_spectra(50, MIR, seed=3) * 10 + 100
    monkeypatch.setattr(pipeline_module, "_BATCH_ROWS", 7)
    pipe = SpectralPipeline(["standardize"]).fit(X, MIR)
    step = pipe.steps[0]
    np.testing.assert_allclose(step.mean_, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(step.scale_, X.std(axis=0), rtol=1e-10)
    Z = pipe.transform(X).astype(np.float64)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(Z.std(axis=0), 1, atol=1e-4)
    # New spectra use the training moments, not their own.
    np.testing.assert_allclose(pipe.transform(X[:1]), Z[:1])


def test_standardize_leaves_a_constant_band_centred(caplog):
    axis = SpectralAxis.from_values([1.0, 2.0, 3.0], "nm")
    X = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0]])
    Z = SpectralPipeline(["standardize"]).fit_transform(X, axis)
    assert np.all(np.isfinite(Z)) and np.all(Z[:, 1] == 0)
    assert "constant" in caplog.text
