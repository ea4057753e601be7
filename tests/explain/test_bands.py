"""The table of known absorption bands: consistent data, range queries, agreement with the
positions the synthetic spectra are built from."""

from __future__ import annotations

import numpy as np
import pytest

from geosoil.explain.bands import (
    MIR_BANDS_CM1,
    SOURCES,
    VISNIR_BANDS_NM,
    AbsorptionBand,
    bands_for_unit,
    bands_in_range,
)
from geosoil.synthetic.absorbers import MIR_BANDS, VISNIR_BANDS


@pytest.mark.parametrize(
    ("table", "unit", "lo", "hi"),
    [(MIR_BANDS_CM1, "cm-1", 400.0, 4000.0), (VISNIR_BANDS_NM, "nm", 350.0, 2500.0)],
)
def test_tables_are_consistent(table, unit, lo, hi):
    assert len(table) >= 8
    for band in table:
        assert band.unit == unit
        assert lo <= band.low <= band.position <= band.high <= hi
        assert band.source in SOURCES and band.label and band.assignment and band.constituent
    # one entry per position: a duplicate would draw two labels on one line
    positions = [band.position for band in table]
    assert len(set(positions)) == len(positions)


def test_a_band_outside_its_range_or_without_source_is_refused():
    with pytest.raises(ValueError, match="low <= position <= high"):
        AbsorptionBand(1000.0, 1010.0, 1020.0, "cm-1", "x", "x", "x", "Clark 1999")
    with pytest.raises(ValueError, match="unknown source"):
        AbsorptionBand(1000.0, 1000.0, 1000.0, "cm-1", "x", "x", "x", "a blog post")


def test_bands_in_range_keeps_only_positions_inside_the_axis():
    mir = bands_in_range(np.arange(4000.0, 599.0, -2.0), "cm-1")  # descending axis
    assert [b.position for b in mir] == sorted(b.position for b in MIR_BANDS_CM1)
    narrow = bands_in_range((1000.0, 1300.0), "nm")
    assert [b.position for b in narrow] == [1200.0]
    assert bands_in_range((1250.0, 1300.0), "nm") == []
    co2 = bands_in_range((2300.0, 2400.0), "cm-1")
    assert [b.label for b in co2] == ["CO2"] and co2[0].is_range


def test_unknown_unit_is_refused():
    with pytest.raises(ValueError, match="unit"):
        bands_for_unit("um")


@pytest.mark.parametrize(
    ("synthetic", "table", "constituents", "tolerance"),
    [
        (MIR_BANDS, MIR_BANDS_CM1, ("kaolinite", "calcite", "organic", "quartz"), 30.0),
        (VISNIR_BANDS, VISNIR_BANDS_NM, ("kaolinite", "calcite", "organic"), 50.0),
    ],
)
def test_synthetic_absorbers_fall_on_listed_bands(synthetic, table, constituents, tolerance):
    # The synthetic world places its features from the same literature: most of its band
    # centres for these constituents must lie on (or near) a band of the explain table, so
    # that attributions on synthetic spectra are marked where the features really are.
    on_table = []
    for name in constituents:
        for band in synthetic[name]:
            near = [b for b in table if b.low - tolerance <= band.centre <= b.high + tolerance]
            on_table.append(bool(near))
    assert np.mean(on_table) >= 0.8, on_table
