"""Absorption bands of soil constituents, declared as data.

Each constituent has a tuple of Gaussian bands (centre, standard deviation, strength per
unit of the constituent: per % mass, or per % moisture for water). Centres are the physical
positions of the features in the literature on soil spectroscopy; strengths are chosen so
that typical soils give typical absorbance (MIR) and reflectance (vis-NIR).

MIR (wavenumber, cm-1; strength in absorbance units per %):

- kaolinite: OH stretch 3695 and 3620, Si-O 1030/1008, Al-OH 915;
- smectite: OH 3620 (broad), Si-O 1030, Al-OH 915, interlayer water 3400;
- illite: OH 3620, Si-O 1030, Al-OH 915, Al-Mg-OH 830 and 750;
- calcite: 2520, 1800, C-O 1420 (broad), 875, 712;
- organic matter (per % SOC): aliphatic C-H 2920 and 2850, C=O 1720, aromatic C=C / amide
  1620, amide II 1520, O-H 3400;
- quartz (per % sand): overtones 2000, 1870, 1790, Si-O 1160/1080, doublet 800/780, 695;
- goethite: OH 3140, Fe-OH bending 890 and 795;
- hematite: Fe-O lattice band at 555 whose shoulder reaches 600;
- water (per % moisture): 3400, 1630.

Vis-NIR (wavelength, nm; strength in Kubelka-Munk absorption per %):

- kaolinite: OH 1395/1413 doublet, 1910, Al-OH doublet 2165/2206;
- smectite: 1410, water 1910 (strong), Al-OH 2205;
- illite: 1410, 1910, Al-OH 2205, 2345, 2445;
- calcite: 2340 and the edge of 2530;
- organic matter (per % SOC): 1700 and 2300 (plus a broad darkening, see :mod:`spectra`);
- goethite: 480, 650, 920 (plus a charge-transfer edge towards the blue);
- hematite: 530, 880 (plus a charge-transfer edge);
- water (per % moisture): 970, 1200, 1450, 1940.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MIR_BANDS", "VISNIR_BANDS", "Band", "band_basis"]


@dataclass(frozen=True)
class Band:
    """One Gaussian absorption band: centre and sd in axis units, strength per unit."""

    centre: float
    width: float
    strength: float


MIR_BANDS: dict[str, tuple[Band, ...]] = {
    "kaolinite": (
        Band(3695, 10, 0.020),
        Band(3620, 9, 0.016),
        Band(1030, 40, 0.060),
        Band(1008, 20, 0.040),
        Band(915, 12, 0.035),
    ),
    "smectite": (
        Band(3620, 22, 0.008),
        Band(3400, 170, 0.010),
        Band(1030, 50, 0.070),
        Band(915, 15, 0.012),
    ),
    "illite": (
        Band(3620, 14, 0.012),
        Band(1030, 45, 0.065),
        Band(915, 14, 0.015),
        Band(830, 12, 0.012),
        Band(750, 12, 0.010),
    ),
    "calcite": (
        Band(2520, 25, 0.020),
        Band(1800, 12, 0.012),
        Band(1420, 70, 0.120),
        Band(875, 9, 0.060),
        Band(712, 6, 0.030),
    ),
    "organic": (
        Band(2920, 28, 0.035),
        Band(2850, 16, 0.020),
        Band(1720, 22, 0.030),
        Band(1620, 32, 0.050),
        Band(1520, 25, 0.025),
        Band(3400, 200, 0.015),
    ),
    "quartz": (
        Band(2000, 28, 0.0040),
        Band(1870, 22, 0.0045),
        Band(1790, 18, 0.0035),
        Band(1160, 35, 0.030),
        Band(1080, 50, 0.035),
        Band(800, 8, 0.012),
        Band(780, 8, 0.011),
        Band(695, 8, 0.006),
    ),
    "goethite": (Band(3140, 110, 0.020), Band(890, 12, 0.030), Band(795, 12, 0.027)),
    "hematite": (Band(555, 45, 0.030),),
    "water": (Band(3400, 180, 0.040), Band(1630, 40, 0.020)),
}

VISNIR_BANDS: dict[str, tuple[Band, ...]] = {
    "kaolinite": (
        Band(1395, 12, 0.008),
        Band(1413, 10, 0.006),
        Band(1910, 25, 0.005),
        Band(2165, 12, 0.012),
        Band(2206, 12, 0.016),
    ),
    "smectite": (Band(1410, 20, 0.008), Band(1910, 35, 0.020), Band(2205, 18, 0.012)),
    "illite": (
        Band(1410, 15, 0.007),
        Band(1910, 30, 0.008),
        Band(2205, 14, 0.014),
        Band(2345, 18, 0.008),
        Band(2445, 20, 0.006),
    ),
    "calcite": (Band(2340, 25, 0.030), Band(2530, 40, 0.020)),
    "organic": (Band(1700, 35, 0.010), Band(2300, 40, 0.014)),
    "quartz": (),
    "goethite": (Band(480, 35, 0.50), Band(650, 50, 0.15), Band(920, 80, 0.12)),
    "hematite": (Band(530, 40, 0.80), Band(880, 70, 0.10)),
    "water": (
        Band(970, 30, 0.002),
        Band(1200, 40, 0.003),
        Band(1450, 40, 0.030),
        Band(1940, 50, 0.060),
    ),
}


def band_basis(
    axis: np.ndarray, bands_by_constituent: dict[str, tuple[Band, ...]], constituents: list[str]
) -> np.ndarray:
    """Absorption per unit of each constituent on ``axis``: (n_constituents, n_bands)."""
    basis = np.zeros((len(constituents), axis.size), dtype=np.float64)
    for row, name in enumerate(constituents):
        for band in bands_by_constituent[name]:
            basis[row] += band.strength * np.exp(-0.5 * ((axis - band.centre) / band.width) ** 2)
    return basis
