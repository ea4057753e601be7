"""The truth component: true topsoil (0-15 cm) property maps, known functions of covariates.

Each property is a nonlinear function of the complete (fine-grid, cloud-free) covariates and
the hidden mineralogy of :mod:`mineralogy`, times or plus a spatially correlated Gaussian
random field ``G(L)`` of unit variance that no covariate explains. ``pm`` is the parent
material, ``lc`` the land cover, ``z`` standardises over land. All maps are nodata (-9999) on
the lake.

Soil organic carbon (%)::

    ln SOC = ln 2 + 1.1 (NDVI - 0.6) - 0.08 (MAT - 11) + 0.12 z(TWI) + 0.7 [andesite]
             + soc_lc[lc] + 0.25 G(1.5 km),         clipped to [0.3, 15]
    soc_lc: forest +0.35, paddy +0.25, grassland +0.1, cropland -0.25, urban -0.4

pH (H2O)::

    pH = ph0[pm] + 1.2 (1 - exp(-CaCO3 / 3)) - 0.001 (MAP - 1300) - 0.06 (SOC - 2)
         + ph_lc[lc] + 0.2 G(2 km),                 clipped to [3.8, 8.8]
    ph0: granite 5.6, andesite 5.3, limestone 6.6, alluvium 6.0
    ph_lc: cropland +0.4 (liming), paddy +0.3, urban +0.6, forest -0.45

Exchangeable potassium (cmol(+)/kg)::

    illite_pct = clay % x illite share
    K_nat = 0.05 + 0.8 (1 - exp(-illite_pct / 6))   (K held in illite interlayers, saturating)
    f_pH  = sigmoid((pH - 5.2) / 0.45)               (acid soils lose K to Al saturation)
    Kex   = (K_nat (0.35 + 0.65 f_pH) + k_lc[lc]) exp(0.2 G(1.2 km))
    k_lc: cropland +0.18, paddy +0.06, grassland +0.05 (fertiliser residues)

Lead (mg/kg), a background plus the mine's plume (:func:`mineralogy.plume_shape`)::

    background = 10 + 2.5 natural Fe oxides % + 0.25 clay % + 1.5 SOC
                 + 8 sigmoid(1.2 G(3 km))          (Pb sorbed on oxides, clay, organic matter)
    Pb = (background + 650 plume) exp(0.12 G(800 m))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geosoil.synthetic import mineralogy
from geosoil.synthetic.fields import by_class, gaussian_random_field
from geosoil.synthetic.rasters import FLOAT_NODATA, write_geotiff
from geosoil.synthetic.streams import substream
from geosoil.synthetic.world import Component, SyntheticWorld

__all__ = ["COMPONENT", "PROPERTY_UNITS", "kex_cmol_kg", "pb_mg_kg", "ph", "soc_pct"]

PROPERTY_UNITS: dict[str, str] = {
    "kex_cmol_kg": "cmol(+)/kg",
    "ph": "pH units (H2O)",
    "soc_pct": "%",
    "pb_mg_kg": "mg/kg",
}
_PROPERTY_DESCRIPTIONS = {
    "kex_cmol_kg": "exchangeable potassium, 0-15 cm",
    "ph": "pH in water, 0-15 cm",
    "soc_pct": "soil organic carbon, 0-15 cm",
    "pb_mg_kg": "total lead, 0-15 cm",
}
_SOC_LANDCOVER = {1: -0.25, 2: 0.25, 3: 0.1, 4: 0.35, 5: -0.4}
_PH0 = {1: 5.6, 2: 5.3, 3: 6.6, 4: 6.0}
_PH_LANDCOVER = {1: 0.4, 2: 0.3, 4: -0.45, 5: 0.6}
_K_LANDCOVER = {1: 0.18, 2: 0.06, 3: 0.05}
_PB_PLUME_MG_KG = 650.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def soc_pct(
    *,
    ndvi: np.ndarray,
    mat_degc: np.ndarray,
    twi_z: np.ndarray,
    parent_material: np.ndarray,
    landcover: np.ndarray,
    noise: np.ndarray,
) -> np.ndarray:
    """Soil organic carbon in % (see the module docstring)."""
    log_soc = (
        np.log(2.0)
        + 1.1 * (ndvi - 0.6)
        - 0.08 * (mat_degc - 11.0)
        + 0.12 * twi_z
        + 0.7 * (parent_material == 2)
        + by_class(landcover, _SOC_LANDCOVER)
        + 0.25 * noise
    )
    return np.clip(np.exp(log_soc), 0.3, 15.0).astype(np.float32)


def ph(
    *,
    parent_material: np.ndarray,
    carbonate_pct: np.ndarray,
    map_mm: np.ndarray,
    soc: np.ndarray,
    landcover: np.ndarray,
    noise: np.ndarray,
) -> np.ndarray:
    """pH in water (see the module docstring)."""
    values = (
        by_class(parent_material, _PH0)
        + 1.2 * (1.0 - np.exp(-carbonate_pct / 3.0))
        - 0.001 * (map_mm - 1300.0)
        - 0.06 * (soc - 2.0)
        + by_class(landcover, _PH_LANDCOVER)
        + 0.2 * noise
    )
    return np.clip(values, 3.8, 8.8).astype(np.float32)


def kex_cmol_kg(
    *,
    clay_pct: np.ndarray,
    illite_frac: np.ndarray,
    ph_values: np.ndarray,
    landcover: np.ndarray,
    noise: np.ndarray,
) -> np.ndarray:
    """Exchangeable potassium in cmol(+)/kg (see the module docstring)."""
    illite_pct = clay_pct * illite_frac
    k_native = 0.05 + 0.8 * (1.0 - np.exp(-illite_pct / 6.0))
    acidity = _sigmoid((ph_values - 5.2) / 0.45)
    values = (k_native * (0.35 + 0.65 * acidity) + by_class(landcover, _K_LANDCOVER)) * np.exp(
        0.2 * noise
    )
    return values.astype(np.float32)


def pb_mg_kg(
    *,
    natural_fe_oxides_pct: np.ndarray,
    clay_pct: np.ndarray,
    soc: np.ndarray,
    plume: np.ndarray,
    background_noise: np.ndarray,
    noise: np.ndarray,
) -> np.ndarray:
    """Total lead in mg/kg (see the module docstring)."""
    background = (
        10.0
        + 2.5 * natural_fe_oxides_pct
        + 0.25 * clay_pct
        + 1.5 * soc
        + 8.0 * _sigmoid(1.2 * background_noise)
    )
    return ((background + _PB_PLUME_MG_KG * plume) * np.exp(0.12 * noise)).astype(np.float32)


def build(world: SyntheticWorld, rng: np.random.Generator) -> None:
    """Hidden mineralogy into ``world.latent``, the four property maps into ``world.truth``."""
    fine = world.latent
    shape, pixel_m = world.shape, world.pixel_m
    land = ~fine["lake"]

    def field(name: str, corr_m: float) -> np.ndarray:
        return gaussian_random_field(
            substream(rng, name), shape, pixel_m=pixel_m, corr_length_m=corr_m
        )

    minerals = mineralogy.clay_mineral_fractions(
        substream(rng, "clay_minerals"),
        parent_material=fine["parent_material"],
        mat_degc=fine["mat_degc"],
        pixel_m=pixel_m,
    )
    for mineral, fraction in minerals.items():
        fine[f"{mineral}_frac"] = fraction
    fine["carbonate_pct"] = mineralogy.carbonate_pct(
        substream(rng, "carbonate"), parent_material=fine["parent_material"], pixel_m=pixel_m
    )
    xs, ys = world.pixel_centres()
    mine_x, mine_y = world.landmarks["mine"]
    plume = mineralogy.plume_shape(xs[None, :] - mine_x, ys[:, None] - mine_y)
    fine["plume"] = plume
    fine["goethite_pct"], fine["hematite_pct"] = mineralogy.iron_oxides_pct(
        substream(rng, "iron_oxides"),
        parent_material=fine["parent_material"],
        twi=fine["twi"],
        map_mm=fine["map_mm"],
        plume=plume,
        land=land,
        pixel_m=pixel_m,
    )

    twi = fine["twi"]
    twi_z = (twi - twi[land].mean()) / max(float(twi[land].std()), 1e-6)
    soc = soc_pct(
        ndvi=fine["ndvi"],
        mat_degc=fine["mat_degc"],
        twi_z=twi_z,
        parent_material=fine["parent_material"],
        landcover=fine["landcover"],
        noise=field("soc", 1500.0),
    )
    ph_values = ph(
        parent_material=fine["parent_material"],
        carbonate_pct=fine["carbonate_pct"],
        map_mm=fine["map_mm"],
        soc=soc,
        landcover=fine["landcover"],
        noise=field("ph", 2000.0),
    )
    kex = kex_cmol_kg(
        clay_pct=fine["clay_pct"],
        illite_frac=fine["illite_frac"],
        ph_values=ph_values,
        landcover=fine["landcover"],
        noise=field("kex", 1200.0),
    )
    natural_fe = (
        fine["goethite_pct"] + fine["hematite_pct"] - mineralogy.tailings_goethite_pct(plume)
    )
    pb = pb_mg_kg(
        natural_fe_oxides_pct=natural_fe,
        clay_pct=fine["clay_pct"],
        soc=soc,
        plume=plume,
        background_noise=field("pb_background", 3000.0),
        noise=field("pb", 800.0),
    )
    for name, values in (
        ("kex_cmol_kg", kex),
        ("ph", ph_values),
        ("soc_pct", soc),
        ("pb_mg_kg", pb),
    ):
        world.truth[name] = world.main_layer(
            name,
            np.where(land, values, np.float32(FLOAT_NODATA)).astype(np.float32),
            units=PROPERTY_UNITS[name],
            nodata=FLOAT_NODATA,
            description=_PROPERTY_DESCRIPTIONS[name],
        )


def write(world: SyntheticWorld, out_dir: Path) -> dict[str, Path]:
    """Write ``truth/<property>.tif`` for every property."""
    folder = out_dir / "truth"
    folder.mkdir()
    written = {}
    for name, layer in world.truth.items():
        path = folder / f"{name}.tif"
        write_geotiff(layer, path)
        written[f"truth/{name}"] = path
    return written


def describe(world: SyntheticWorld) -> str:
    """README section on the truth maps."""
    lines = [
        "## True soil properties",
        "",
        f"`truth/<property>.tif`: float32 GeoTIFFs on the main grid ({world.crs},",
        f"{world.pixel_m:g} m), topsoil 0-15 cm, nodata {FLOAT_NODATA:g} on the lake.",
        "",
        "| property | units | meaning |",
        "|---|---|---|",
    ]
    for name, units in PROPERTY_UNITS.items():
        lines.append(f"| `{name}` | {units} | {_PROPERTY_DESCRIPTIONS[name]} |")
    lines += [
        "",
        "Generating functions (G(L): unit Gaussian random field of correlation length L):",
        "",
        "- ln SOC = ln 2 + 1.1 (NDVI - 0.6) - 0.08 (MAT - 11) + 0.12 z(TWI) + 0.7 [andesite]",
        "  + land-cover term + 0.25 G(1.5 km);",
        "- pH = pH0[parent] + 1.2 (1 - exp(-CaCO3/3)) - 0.001 (MAP - 1300) - 0.06 (SOC - 2)",
        "  + land-cover term (liming) + 0.2 G(2 km);",
        "- Kex = ((0.05 + 0.8 (1 - exp(-clay x illite share / 6))) (0.35 + 0.65",
        "  sigmoid((pH - 5.2)/0.45)) + fertiliser term) exp(0.2 G(1.2 km));",
        "- Pb = (10 + 2.5 natural Fe oxides + 0.25 clay + 1.5 SOC + 8 sigmoid(1.2 G(3 km))",
        "  + 650 plume) exp(0.12 G(800 m)), plume = exp(-d), d the distance to the mine",
        "  scaled by 2500 m downwind (ESE), 800 m upwind and 700 m across.",
        "",
        "Hidden drivers (not delivered): clay mineral shares (kaolinite, smectite, illite),",
        "carbonate, goethite and hematite (goethite also from the mine's tailings); they shape",
        "both the properties and the spectra. Full formulas: `geosoil.synthetic.properties`",
        "and `geosoil.synthetic.mineralogy`.",
    ]
    return "\n".join(lines)


COMPONENT = Component(name="truth", build=build, write=write, describe=describe)
