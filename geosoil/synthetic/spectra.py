"""The spectra component: mid-infrared absorbance and vis-NIR reflectance of every sample.

Each sample has a latent composition (% mass) read at its pixel: kaolinite, smectite and
illite (clay x mineral share), calcite, organic matter (the true SOC times a "quality"
factor exp(N(0, 0.2)): organic matter differs in its share of aliphatic, carboxylic and
aromatic carbon), quartz (sand), goethite, hematite, and a hygroscopic moisture
``0.5 + 0.04 clay + 0.08 smectite + 0.2 SOC + |N(0, 0.5)|`` (%). Clay and sand get a
within-pixel jitter of 5 % (log-normal), so two samples of one pixel differ a little.

MIR absorbance, per sample::

    K(v)  = sum_c composition_c x basis_c(v)            (bands of absorbers.MIR_BANDS)
    A(v)  = 2.2 (1 - exp(-K / 2.2))                      (Beer-Lambert saturation)
    obs   = m A + offset + slope x + grain x**2 + CO2(v) + N(0, 0.003),  x = (4000 - v) / 3400
    m ~ exp(N(0, 0.1)), offset ~ N(0, 0.05), slope ~ N(0.05, 0.05),
    grain = (0.1 + 0.3 sand / 100) exp(N(0, 0.2))        (particle size, scatter)
    CO2   = |N(0, 0.015)| (G(2360, 9) + 0.8 G(2340, 9))  (atmosphere in the beam)

Vis-NIR reflectance (fraction), per sample, by Kubelka-Munk::

    k(l)  = 0.02 + sum_c composition_c x basis_c(l)      (bands of absorbers.VISNIR_BANDS)
            + SOC (0.35 exp(-(l - 400) / 300) + 0.12)    (darkening by organic matter)
            + goethite 0.4 exp(-(l - 400) / 60) + hematite 0.6 exp(-(l - 400) / 80)
    s     = (1 + 0.004 (sand - 40)) exp(N(0, 0.05))      (scattering, particle size)
    R     = 1 + k/s - sqrt((k/s)**2 + 2 k/s)
    obs   = m R + offset + slope (l - 400) / 2100 + N(0, 0.002), clipped to [0.001, 0.999]
    m ~ 0.9 exp(N(0, 0.06)), offset ~ N(0, 0.01), slope ~ N(0, 0.01)

Both transforms are nonlinear in the composition (saturation, Kubelka-Munk, multiplicative
scatter), and the targets are nonlinear in it too (Kex from clay x illite share and pH,
pH from carbonate, Pb partly from the tailings' goethite), so a linear model on the spectra
leaves signal for a nonlinear one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rasterio.transform import rowcol

from geosoil.synthetic.absorbers import MIR_BANDS, VISNIR_BANDS, band_basis
from geosoil.synthetic.streams import substream
from geosoil.synthetic.world import Component, Spectra, SyntheticWorld

__all__ = ["COMPONENT", "CONSTITUENTS", "MIR_AXIS_CM1", "VISNIR_AXIS_NM", "sample_composition"]

CONSTITUENTS = [
    "kaolinite",
    "smectite",
    "illite",
    "calcite",
    "organic",
    "quartz",
    "goethite",
    "hematite",
    "water",
]
MIR_AXIS_CM1 = np.arange(600, 4001, 2).astype(np.float64)
VISNIR_AXIS_NM = np.arange(400, 2500, 1).astype(np.float64)
_MIR_SATURATION = 2.2
_CHUNK = 2048
# Spread (log) of band strength per % SOC: organic matter differs in how much aliphatic,
# carboxylic and aromatic carbon it holds, so SOC does not map one-to-one onto the bands.
_SOM_QUALITY_SD = 0.2


def sample_composition(
    world: SyntheticWorld, rows: np.ndarray, cols: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Latent composition (% mass, moisture in %) of the samples at pixels (rows, cols)."""
    fine = world.latent
    n = rows.size
    clay = fine["clay_pct"][rows, cols] * np.exp(rng.normal(0.0, 0.05, n))
    sand = fine["sand_pct"][rows, cols] * np.exp(rng.normal(0.0, 0.05, n))
    soc = world.truth["soc_pct"].data[rows, cols].astype(np.float64)
    composition = {
        mineral: clay * fine[f"{mineral}_frac"][rows, cols]
        for mineral in ("kaolinite", "smectite", "illite")
    }
    composition.update(
        calcite=fine["carbonate_pct"][rows, cols].astype(np.float64),
        organic=soc * np.exp(rng.normal(0.0, _SOM_QUALITY_SD, n)),
        quartz=sand,
        goethite=fine["goethite_pct"][rows, cols].astype(np.float64),
        hematite=fine["hematite_pct"][rows, cols].astype(np.float64),
    )
    composition["water"] = moisture_pct(clay, composition["smectite"], soc, rng)
    composition["clay"] = clay
    return composition


def moisture_pct(
    clay: np.ndarray, smectite: np.ndarray, soc: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Moisture of an air-dried sample (%): held by clay, swelling smectite and organic
    matter, plus a random share (one draw from ``rng`` per sample)."""
    held = 0.5 + 0.04 * clay + 0.08 * smectite + 0.2 * soc
    return held + np.abs(rng.normal(0.0, 0.5, np.shape(held)))


def _gaussian(axis: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((axis - centre) / width) ** 2)


def mir_absorbance(composition: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """MIR absorbance (n, 1701) float32 on :data:`MIR_AXIS_CM1`."""
    axis = MIR_AXIS_CM1
    amounts = np.stack([composition[name] for name in CONSTITUENTS], axis=1)
    n = amounts.shape[0]
    basis = band_basis(axis, MIR_BANDS, CONSTITUENTS)
    gain = np.exp(rng.normal(0.0, 0.1, n))[:, None]
    offset = rng.normal(0.0, 0.05, n)[:, None]
    slope = rng.normal(0.05, 0.05, n)[:, None]
    grain = ((0.1 + 0.3 * composition["quartz"] / 100.0) * np.exp(rng.normal(0.0, 0.2, n)))[:, None]
    co2 = np.abs(rng.normal(0.0, 0.015, n))[:, None]
    co2_shape = _gaussian(axis, 2360.0, 9.0) + 0.8 * _gaussian(axis, 2340.0, 9.0)
    x = (4000.0 - axis) / 3400.0
    out = np.empty((n, axis.size), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        part = slice(start, min(start + _CHUNK, n))
        k = amounts[part] @ basis
        absorbance = _MIR_SATURATION * (1.0 - np.exp(-k / _MIR_SATURATION))
        observed = (
            gain[part] * absorbance
            + offset[part]
            + slope[part] * x
            + grain[part] * x**2
            + co2[part] * co2_shape
            + rng.normal(0.0, 0.003, k.shape)
        )
        out[part] = observed
    return out


def visnir_reflectance(composition: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Vis-NIR reflectance (n, 2100) float32 on :data:`VISNIR_AXIS_NM`."""
    axis = VISNIR_AXIS_NM
    amounts = np.stack([composition[name] for name in CONSTITUENTS], axis=1)
    n = amounts.shape[0]
    basis = band_basis(axis, VISNIR_BANDS, CONSTITUENTS)
    organic_row = CONSTITUENTS.index("organic")
    basis[organic_row] += 0.35 * np.exp(-(axis - 400.0) / 300.0) + 0.12
    basis[CONSTITUENTS.index("goethite")] += 0.4 * np.exp(-(axis - 400.0) / 60.0)
    basis[CONSTITUENTS.index("hematite")] += 0.6 * np.exp(-(axis - 400.0) / 80.0)
    scattering = (1.0 + 0.004 * (composition["quartz"] - 40.0)) * np.exp(rng.normal(0.0, 0.05, n))
    gain = 0.9 * np.exp(rng.normal(0.0, 0.06, n))[:, None]
    offset = rng.normal(0.0, 0.01, n)[:, None]
    slope = rng.normal(0.0, 0.01, n)[:, None]
    x = (axis - 400.0) / 2100.0
    out = np.empty((n, axis.size), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        part = slice(start, min(start + _CHUNK, n))
        ratio = (0.02 + amounts[part] @ basis) / np.maximum(scattering[part], 0.2)[:, None]
        reflectance = 1.0 + ratio - np.sqrt(ratio**2 + 2.0 * ratio)
        observed = (
            gain[part] * reflectance
            + offset[part]
            + slope[part] * x
            + rng.normal(0.0, 0.002, ratio.shape)
        )
        out[part] = np.clip(observed, 0.001, 0.999)
    return out


def build(world: SyntheticWorld, rng: np.random.Generator) -> None:
    """Compute both kinds of spectra for every sample, in sample order."""
    samples = world.samples
    rows, cols = (
        np.asarray(v) for v in rowcol(world.transform, samples.geometry.x, samples.geometry.y)
    )
    composition = sample_composition(world, rows, cols, substream(rng, "composition"))
    sample_ids = samples["sample_id"].tolist()
    for kind, axis, unit, quantity, simulate in (
        ("mir", MIR_AXIS_CM1, "cm-1", "absorbance", mir_absorbance),
        ("visnir", VISNIR_AXIS_NM, "nm", "reflectance", visnir_reflectance),
    ):
        world.spectra[kind] = Spectra(
            kind=kind,
            axis=axis.copy(),
            axis_unit=unit,
            quantity=quantity,
            values=simulate(composition, substream(rng, kind)),
            sample_ids=sample_ids,
        )


def write(world: SyntheticWorld, out_dir: Path) -> dict[str, Path]:
    """Write ``spectra_<kind>.parquet``: ``sample_id`` then one float32 column per band."""
    written = {}
    for kind, spectra in world.spectra.items():
        arrays = [pa.array(spectra.sample_ids, type=pa.string())]
        arrays += [pa.array(spectra.values[:, j]) for j in range(spectra.axis.size)]
        names = ["sample_id", *spectra.column_names()]
        header = {"kind": kind, "axis_unit": spectra.axis_unit, "quantity": spectra.quantity}
        schema_metadata = {b"geosoil": json.dumps(header, sort_keys=True).encode()}
        table = pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(schema_metadata)
        path = out_dir / f"spectra_{kind}.parquet"
        pq.write_table(table, path, compression="zstd")
        written[f"spectra_{kind}"] = path
    return written


def describe(world: SyntheticWorld) -> str:
    """README section on the spectra."""
    mir, visnir = world.spectra["mir"], world.spectra["visnir"]
    return "\n".join(
        [
            "## Spectra",
            "",
            f"`spectra_mir.parquet`: `sample_id` then {mir.axis.size} float32 columns",
            "`wn_600` ... `wn_4000` (wavenumber in cm-1, every 2 cm-1, ascending): MIR",
            "absorbance log10(1/R).",
            "",
            f"`spectra_visnir.parquet`: `sample_id` then {visnir.axis.size} float32 columns",
            "`nm_400` ... `nm_2499` (wavelength in nm, every 1 nm): vis-NIR reflectance as a",
            "fraction 0-1.",
            "",
            "Rows are in the order of `samples.parquet`. Both files carry a `geosoil` entry in",
            "the Parquet schema metadata (kind, axis unit, quantity).",
            "",
            "Made from Gaussian absorption bands at physical positions (clay minerals:",
            "kaolinite 3695/3620/915, illite 2205/2345/2445 nm; calcite 2520/1800/1420/875/712;",
            "organic matter 2920/2850/1720/1620/1520 and a vis darkening; quartz",
            "2000/1870/1790/1160/800/780; goethite 890/795 and 480/650/920 nm; hematite",
            "530/880 nm; water 3400/1630 and 1450/1940 nm) scaled by each sample's latent",
            "composition, with Beer-Lambert saturation (MIR) or Kubelka-Munk (vis-NIR),",
            "multiplicative scatter, baseline offset and slope, atmospheric CO2 at",
            "2360/2340 cm-1 and instrument noise. See `geosoil.synthetic.spectra`.",
        ]
    )


COMPONENT = Component(name="spectra", build=build, write=write, describe=describe)
