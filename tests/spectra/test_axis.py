"""SpectralAxis: validation where spectra enter, and the refusal of another axis."""

import numpy as np
import pytest

from geosoil.errors import SampleDataError
from geosoil.spectra import SpectraError, SpectralAxis


def test_valid_axes_in_both_directions():
    up = SpectralAxis.from_values([600, 602, 604.5], "cm-1")
    down = SpectralAxis.from_values(np.array([4000.0, 3998.0, 3996.0]), "cm-1")
    assert len(up) == 3 and up.values.dtype == np.float64
    assert not up.is_descending and down.is_descending
    assert (down.lo, down.hi) == (3996.0, 4000.0)
    assert down.to_list() == [4000.0, 3998.0, 3996.0]
    assert all(type(v) is float for v in down.to_list())
    assert down.ascending().to_list() == [3996.0, 3998.0, 4000.0]
    assert up.ascending().same_as(up)


def test_values_are_read_only_copies():
    source = np.array([1.0, 2.0, 3.0])
    axis = SpectralAxis.from_values(source, "nm")
    source[0] = 99.0
    assert axis.values[0] == 1.0
    with pytest.raises(ValueError):
        axis.values[0] = 5.0


def test_spectra_error_is_a_sample_data_error():
    assert issubclass(SpectraError, SampleDataError)


@pytest.mark.parametrize(
    ("values", "unit", "words"),
    [
        ([1.0, np.nan, 3.0], "nm", "non-finite"),
        ([1.0, np.inf, 3.0], "nm", "non-finite"),
        ([1.0, 2.0, 2.0, 3.0], "nm", "duplicated position 2"),
        ([1.0, 3.0, 2.0, 4.0], "nm", "not monotonic"),
        ([1.0, 2.0], "um", "unknown spectral axis unit"),
        ([1.0], "nm", "at least 2 bands"),
        (["a", "b"], "nm", "not numbers"),
    ],
)
def test_bad_axes_are_refused_with_the_fix(values, unit, words):
    with pytest.raises(SpectraError) as info:
        SpectralAxis.from_values(values, unit, source="table.csv", field="band columns")
    text = str(info.value)
    assert words in text
    assert "table.csv" in text and "band columns" in text
    assert info.value.fix


def test_same_as_and_check_matches():
    model = SpectralAxis.from_values(np.arange(4000.0, 3990.0, -2.0), "cm-1")
    same = SpectralAxis.from_values(np.arange(4000.0, 3990.0, -2.0) + 1e-9, "cm-1")
    shifted = SpectralAxis.from_values(np.arange(4000.0, 3990.0, -2.0) + 0.5, "cm-1")
    shorter = SpectralAxis.from_values(np.arange(4000.0, 3992.0, -2.0), "cm-1")
    in_nm = SpectralAxis.from_values(np.arange(4000.0, 3990.0, -2.0), "nm")
    assert model.same_as(same)
    model.check_matches(same)
    for other, detail in [
        (shifted, "band 0 is at 4000.5 instead of 4000"),
        (shorter, "band counts differ"),
        (in_nm, "units differ"),
    ]:
        assert not model.same_as(other)
        with pytest.raises(SpectraError) as info:
            model.check_matches(other, source="model.safetensors", field="X")
        assert "spectra are on another axis than the model" in str(info.value)
        assert detail in str(info.value)
        assert "resample" in info.value.fix and "'name': 'resample'" in info.value.fix
        assert info.value.field == "X"
