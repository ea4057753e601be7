"""Known absorption bands of soil constituents, declared as data, for marking attribution plots.

Each band has a nominal position, the range over which it is usually found in soils, a short
label for plots, the constituent and the assignment (which vibration or transition), and the
source that gives it. Only well-established positions are listed; broad, overlapping features
(the O-H stretching region, the carbonate C-O stretch) get a range rather than a line.

Sources
-------
- Nguyen, T.T., Janik, L.J., Raupach, M. (1991). Diffuse reflectance infrared Fourier
  transform (DRIFT) spectroscopy in soil studies. Australian Journal of Soil Research 29,
  49-67.
- Soriano-Disla, J.M., Janik, L.J., Viscarra Rossel, R.A., Macdonald, L.M., McLaughlin, M.J.
  (2014). The performance of visible, near-, and mid-infrared reflectance spectroscopy for
  prediction of soil physical, chemical, and biological properties. Applied Spectroscopy
  Reviews 49, 139-186.
- Clark, R.N. (1999). Spectroscopy of rocks and minerals, and principles of spectroscopy. In
  Rencz, A.N. (ed.), Manual of Remote Sensing, vol. 3: Remote Sensing for the Earth
  Sciences, Wiley, 3-58.
- Albinet, F., Peng, Y., Eguchi, T., Smolders, E., Dercon, G. (2022). Prediction of
  exchangeable potassium in soil through mid-infrared spectroscopy and deep learning: from
  prediction to explainability. Artificial Intelligence in Agriculture 6 (the CO2 region
  2389-2269 cm-1 they remove before PLSR).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np

__all__ = [
    "MIR_BANDS_CM1",
    "SOURCES",
    "VISNIR_BANDS_NM",
    "AbsorptionBand",
    "bands_for_unit",
    "bands_in_range",
]

SOURCES: dict[str, str] = {
    "Nguyen et al. 1991": (
        "Nguyen, Janik, Raupach (1991) DRIFT spectroscopy in soil studies. "
        "Aust. J. Soil Res. 29:49-67"
    ),
    "Soriano-Disla et al. 2014": (
        "Soriano-Disla, Janik, Viscarra Rossel, Macdonald, McLaughlin (2014) vis, NIR and MIR "
        "spectroscopy for soil properties. Appl. Spectrosc. Rev. 49:139-186"
    ),
    "Clark 1999": (
        "Clark (1999) Spectroscopy of rocks and minerals, and principles of spectroscopy. "
        "Manual of Remote Sensing vol. 3, Wiley, 3-58"
    ),
    "Albinet et al. 2022": (
        "Albinet, Peng, Eguchi, Smolders, Dercon (2022) Exchangeable potassium from MIR "
        "spectroscopy and deep learning. Artif. Intell. Agric. 6"
    ),
}


@dataclass(frozen=True)
class AbsorptionBand:
    """One absorption feature on a spectral axis.

    Attributes
    ----------
    position
        Nominal centre, in ``unit``.
    low, high
        The range in which the feature is found in soils (``low <= position <= high``), in
        ``unit``; equal to ``position`` for a sharp band.
    unit
        ``"cm-1"`` (mid-infrared wavenumber) or ``"nm"`` (vis-NIR wavelength).
    label
        A short plot label, e.g. ``"kaolinite OH"``.
    constituent
        What absorbs: a mineral, organic matter, water, the atmosphere.
    assignment
        The vibration or electronic transition.
    source
        A key of :data:`SOURCES`.
    """

    position: float
    low: float
    high: float
    unit: Literal["cm-1", "nm"]
    label: str
    constituent: str
    assignment: str
    source: str

    def __post_init__(self) -> None:
        # The tables are code; a typo there should fail at import, not draw a wrong mark.
        if not self.low <= self.position <= self.high:
            raise ValueError(f"band {self.label!r}: need low <= position <= high")
        if self.source not in SOURCES:
            raise ValueError(f"band {self.label!r}: unknown source {self.source!r}")

    @property
    def is_range(self) -> bool:
        """Whether the band is drawn as a shaded range rather than a line."""
        return self.high > self.low


def _band(unit, position, label, constituent, assignment, source, low=None, high=None):
    return AbsorptionBand(
        float(position),
        float(position if low is None else low),
        float(position if high is None else high),
        unit,
        label,
        constituent,
        assignment,
        source,
    )


_mir = partial(_band, "cm-1")
_nir = partial(_band, "nm")


_NGUYEN = "Nguyen et al. 1991"
_REVIEW = "Soriano-Disla et al. 2014"
_CLARK = "Clark 1999"

MIR_BANDS_CM1: tuple[AbsorptionBand, ...] = (
    _mir(3695, "kaolinite OH", "kaolinite", "inner-surface O-H stretching", _NGUYEN),
    _mir(3620, "clay OH", "kaolinite, smectite, illite", "inner Al-OH stretching", _NGUYEN),
    _mir(
        3400, "water OH", "water, organic matter", "O-H stretching (H-bonded)", _REVIEW, 3000, 3600
    ),
    _mir(2920, "C-H aliph.", "organic matter", "aliphatic C-H asymmetric stretching", _REVIEW),
    _mir(2850, "C-H aliph.", "organic matter", "aliphatic C-H symmetric stretching", _REVIEW),
    _mir(2520, "carbonate", "calcite", "carbonate combination band", _NGUYEN, 2500, 2540),
    _mir(
        2349,
        "CO2",
        "atmospheric CO2",
        "asymmetric stretching of CO2 in the beam (removed region)",
        "Albinet et al. 2022",
        2269,
        2389,
    ),
    _mir(2000, "quartz", "quartz", "Si-O overtone/combination band", _NGUYEN),
    _mir(1870, "quartz", "quartz", "Si-O overtone/combination band", _NGUYEN),
    _mir(1790, "quartz", "quartz", "Si-O overtone/combination band", _NGUYEN),
    _mir(1720, "C=O", "organic matter", "C=O stretching of carboxylic acids", _REVIEW),
    _mir(
        1630,
        "C=C / COO- / H2O",
        "organic matter, water",
        "aromatic C=C, carboxylate COO- asymmetric stretching, H-O-H bending",
        _REVIEW,
        1600,
        1660,
    ),
    _mir(1520, "amide II", "organic matter", "amide II (N-H bending, C-N stretching)", _REVIEW),
    _mir(1420, "carbonate C-O", "calcite", "C-O asymmetric stretching (v3)", _NGUYEN, 1380, 1500),
    _mir(1160, "quartz Si-O", "quartz", "Si-O stretching", _NGUYEN),
    _mir(1080, "quartz Si-O", "quartz", "Si-O stretching", _NGUYEN),
    _mir(1030, "clay Si-O", "kaolinite, smectite, illite", "Si-O stretching", _NGUYEN, 1000, 1040),
    _mir(915, "kaolinite Al-OH", "kaolinite", "Al-OH bending", _NGUYEN),
    _mir(875, "carbonate", "calcite", "C-O out-of-plane bending (v2)", _NGUYEN),
    _mir(795, "quartz", "quartz", "Si-O-Si symmetric stretching doublet", _NGUYEN, 780, 800),
    _mir(712, "carbonate", "calcite", "C-O in-plane bending (v4)", _NGUYEN),
    _mir(695, "quartz", "quartz", "Si-O bending", _NGUYEN),
)
"""Mid-infrared bands (wavenumber, cm-1)."""

VISNIR_BANDS_NM: tuple[AbsorptionBand, ...] = (
    _nir(870, "Fe3+ hematite", "hematite", "Fe3+ crystal-field absorption", _CLARK, 850, 900),
    _nir(920, "Fe3+ goethite", "goethite", "Fe3+ crystal-field absorption", _CLARK, 900, 940),
    _nir(970, "water", "water", "O-H stretching second overtone", _CLARK),
    _nir(1200, "water", "water", "O-H stretching + H-O-H bending combination", _CLARK),
    _nir(1400, "OH 1st overtone", "water, clay minerals", "O-H stretching overtone", _CLARK),
    _nir(1730, "C-H", "organic matter", "C-H stretching first overtone", _REVIEW, 1700, 1760),
    _nir(1900, "water", "water", "H-O-H bending + O-H stretching combination", _CLARK),
    _nir(2200, "Al-OH", "kaolinite, smectite, illite", "Al-OH combination", _CLARK, 2160, 2210),
    _nir(2300, "C-H", "organic matter", "C-H combination", _REVIEW, 2290, 2320),
    _nir(2340, "carbonate", "calcite", "CO3 combination/overtone", _CLARK, 2330, 2350),
)
"""Visible and near-infrared bands (wavelength, nm)."""


def bands_for_unit(unit: str) -> tuple[AbsorptionBand, ...]:
    """The band table of an axis unit: MIR for ``"cm-1"``, vis-NIR for ``"nm"``.

    Raises
    ------
    ValueError
        An axis unit geosoil does not know.
    """
    if unit == "cm-1":
        return MIR_BANDS_CM1
    if unit == "nm":
        return VISNIR_BANDS_NM
    raise ValueError(f"unknown spectral axis unit {unit!r}; expected 'cm-1' or 'nm'")


def bands_in_range(values, unit: str) -> list[AbsorptionBand]:
    """Bands whose nominal position lies inside the span of an axis.

    Parameters
    ----------
    values
        Axis values (any order) or a ``(min, max)`` pair, in ``unit``.
    unit
        ``"cm-1"`` or ``"nm"``.

    Returns
    -------
    list of AbsorptionBand
        Sorted by position.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return []
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    inside = [b for b in bands_for_unit(unit) if lo <= b.position <= hi]
    return sorted(inside, key=lambda b: b.position)
