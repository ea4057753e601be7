"""A synthetic mid-infrared spectral library with known truth, for exchangeable potassium.

The synthetic world (:mod:`geosoil.synthetic.properties`) has a few hundred samples; the
Kex seed system (DESIGN 2.1) was trained on 40,000 KSSL spectra. This module makes a
library of any size, not tied to the raster world: pedons (sites) of several soil orders,
each with a few horizons, their composition, their exchangeable K and their MIR absorbance,
made by the world's own physics (:func:`geosoil.synthetic.spectra.mir_absorbance`).

Pedons and horizons
-------------------
A pedon belongs to a soil order (:data:`SOIL_ORDERS`, drawn by ``share``) and draws its own
traits around the order's medians; its horizons share them, which is why a site-grouped
split is harder than a random one::

    clay   = clay_pct exp(N(0, 0.35))              sand = sand_pct exp(N(0, 0.3))
    logits = mineral_logits + N(0, 0.6)            (kaolinite, smectite, illite of the clay)
    SOC    = soc_pct exp(N(0, 0.4))                Fe oxides = iron_oxides_pct exp(N(0, 0.35))
    CaCO3  = carbonate_pct exp(N(0, 0.6)) in a share carbonate_chance of pedons, else 0
    goethite share = sigmoid(logit(goethite_share) + N(0, 0.8))

A pedon has 1 + Binomial(6, 0.5) horizons, each 10-40 cm thick from the surface. At the
horizon's mid-depth ``d`` (cm), with small horizon jitter::

    clay  x (1 + clay_bulge (1 - exp(-d / 50)))    (argillic horizons gain clay)
    SOC   x (0.1 + 0.9 exp(-d / 30))               CaCO3 x (1 + d / 60)
    clay mineral shares = softmax(logits + N(0, 0.2))

The composition has the constituents of the world's samples
(:data:`~geosoil.synthetic.spectra.CONSTITUENTS`): clay x share for each clay mineral,
calcite, organic matter (SOC x a quality factor exp(N(0, 0.2))), quartz (the sand),
goethite and hematite (Fe oxides x goethite share), and moisture
``0.5 + 0.04 clay + 0.08 smectite + 0.2 SOC + |N(0, 0.5)|``.

Spectra
-------
:func:`~geosoil.synthetic.spectra.mir_absorbance` turns the composition into absorbance
(Gaussian bands, Beer-Lambert saturation, multiplicative scatter, offset, slope, grain-size
curvature, CO2, noise), on 600-4000 cm-1 every 2 cm-1. A library is scanned from many
sample cups, so each spectrum also gets a smooth packing baseline ``sum_k c_k P_k(x)``
(Legendre polynomials of degree 2 to 8 over the axis, ``c_k ~ N(0, 0.05)``).

Exchangeable potassium
----------------------
K+ has no MIR band of its own: the spectra tell Kex only through the minerals and organic
matter that hold and release it (:func:`kex_cmol_kg`)::

    CEC    = 1.0 smectite + 0.3 illite + 0.08 kaolinite + 3 SOC       (cmol(+)/kg, % inputs)
    supply = 1 - exp(-illite / 6)                   (K in mica/illite interlayers, saturating)
    mica   = (illite / (illite + kaolinite))**2     (weathering turns micas into kaolinite)
    Ca     = 0.15 + 0.85 / (1 + (CaCO3 / 1.5)**2)   (Ca2+ from carbonate crowds K+ off the sites)
    fixed  = 0.86 sigmoid((s_smectite s_illite - 0.12) / 0.015)
             (K+ trapped as interstratified illite-smectite layers collapse; s = share of clay)
    K saturation = (0.01 + 0.25 supply mica) Ca (1 - fixed)
    Kex    = CEC x K saturation x exp(0.45 g_pedon + 0.25 g_horizon) + fertiliser

``g`` are standard normal draws (management, parent-material K not seen by the spectra) and
``fertiliser`` is a residue LN(ln 0.1, 1) cmol(+)/kg in the horizons above 30 cm of half the
pedons. Kex is a product of ratios and thresholds of constituents whose bands overlap (the
Si-O stretch near 1030 cm-1 and the OH bands near 3620 cm-1 are shared by all three clay
minerals; the illite bands at 830 and 750 cm-1 sit beside the quartz doublet), so a linear
model on the spectra leaves much of it unexplained while a network given enough spectra
learns it. That design favours a nonlinear model by construction (the issue-4 CNN):
ratios, a saturating supply and a fixation threshold, none of which a linear model on the
spectra can represent.

A second design, :data:`LINEAR_KEX_MODEL`, does not handicap a linear model: the natural log
of Kex is a weighted sum of the constituent amounts (% mass), each of which has MIR bands of
its own, with the same pedon and horizon spread and the same fertiliser residue::

    ln Kex = ln 0.05 + 0.1 illite + 0.04 smectite + 0.01 kaolinite + 0.3 SOC
             - 0.04 CaCO3 + 0.45 g_pedon + 0.25 g_horizon   (+ the fertiliser residue)

The only nonlinearity between the target (log10 Kex) and the spectra is the spectra's own
(Beer-Lambert saturation, scatter), so a linear model (PLSR) is on an equal footing there
and a CNN has nothing by construction to win on (a linear fit of log10 Kex on the true
amounts explains 0.73 of it here, against 0.49 in the default design). Both designs draw
the same pedons, horizons and spectra from the same seeds; only the map from composition to
Kex differs.

Determinism
-----------
Samples are made in blocks of :data:`BLOCK_SIZE` from independent named random streams
(:mod:`geosoil.synthetic.streams`); a block's pedons never straddle two blocks. The same
``n_samples`` and ``seed`` give the same bytes, and the first ``m`` samples of a library of
``n >= m`` are the library of ``m`` samples (prefix property), so learning curves can take
prefixes.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from geosoil.errors import ConfigError
from geosoil.io.spectra import SampleSet
from geosoil.io.writers import write_bytes_atomic
from geosoil.spectra import SpectralAxis
from geosoil.synthetic.spectra import MIR_AXIS_CM1, mir_absorbance, moisture_pct
from geosoil.synthetic.streams import component_rng, substream

__all__ = [
    "BLOCK_SIZE",
    "KEX_MODEL",
    "LINEAR_KEX_MODEL",
    "MAX_SAMPLES",
    "SOIL_ORDERS",
    "TRUTH_COLUMNS",
    "KexModel",
    "SoilOrder",
    "check_sample_count",
    "check_seed",
    "kex_cmol_kg",
    "mir_library",
    "write_library",
]

log = logging.getLogger(__name__)

BLOCK_SIZE = 1000
"""Samples per independently seeded block (the unit of the prefix property)."""

MAX_SAMPLES = 1_000_000
"""Largest library :func:`mir_library` makes (1701 float32 bands: about 6.8 GB)."""


@dataclass(frozen=True)
class SoilMedians:
    """Median composition shared by the soil orders of the MIR library and the regions of
    the vis-NIR library (:class:`SoilOrder`, :class:`~.visnir_library.SoilRegion`)."""

    share: float
    clay_pct: float
    sand_pct: float
    mineral_logits: tuple[float, float, float]
    soc_pct: float
    carbonate_chance: float
    carbonate_pct: float
    iron_oxides_pct: float
    goethite_share: float


@dataclass(frozen=True)
class SoilOrder(SoilMedians):
    """Median composition of the pedons of one soil order.

    Parameters
    ----------
    share
        Relative frequency of the order among pedons.
    clay_pct, sand_pct
        Median clay and sand (% mass) near the surface.
    mineral_logits
        Logits of the kaolinite, smectite and illite shares of the clay.
    soc_pct
        Median organic carbon (%) at the surface.
    carbonate_chance, carbonate_pct
        Share of pedons with free carbonate, and their median CaCO3 (%).
    iron_oxides_pct, goethite_share
        Median goethite + hematite (%) and the goethite share of it.
    clay_bulge
        Relative clay gain with depth (argillic horizons).
    """

    clay_bulge: float


SOIL_ORDERS: dict[str, SoilOrder] = {
    # share, clay %, sand %, logits (kaolinite, smectite, illite), SOC %, carbonate chance,
    # CaCO3 %, Fe oxides %, goethite share, clay bulge
    "mollisols": SoilOrder(0.18, 27, 25, (-0.6, 0.5, 0.7), 2.4, 0.3, 3.0, 1.5, 0.6, 0.2),
    "alfisols": SoilOrder(0.16, 24, 30, (0.0, 0.1, 0.7), 1.1, 0.1, 2.0, 2.0, 0.6, 0.6),
    "vertisols": SoilOrder(0.08, 50, 10, (-1.0, 1.6, 0.0), 1.4, 0.4, 5.0, 2.0, 0.6, 0.0),
    "aridisols": SoilOrder(0.10, 18, 50, (-1.0, 0.0, 1.4), 0.4, 0.7, 8.0, 1.0, 0.4, 0.2),
    "ultisols": SoilOrder(0.10, 28, 40, (1.2, -0.8, 0.1), 1.0, 0.0, 0.0, 3.5, 0.6, 0.8),
    "oxisols": SoilOrder(0.05, 45, 30, (2.2, -1.6, -1.2), 1.5, 0.0, 0.0, 8.0, 0.3, 0.1),
    "entisols": SoilOrder(0.13, 10, 68, (0.0, 0.0, 0.6), 0.6, 0.2, 2.0, 1.0, 0.6, 0.0),
    "inceptisols": SoilOrder(0.20, 20, 35, (0.2, 0.2, 0.4), 2.0, 0.1, 2.0, 2.0, 0.6, 0.1),
}
"""Soil orders (USDA names) and their mineralogy, declared as data."""


@dataclass(frozen=True)
class KexModel:
    """Coefficients of exchangeable K as a function of composition (see the module docstring).

    CEC per % of constituent (cmol(+)/kg): ``cec_smectite``, ``cec_illite``,
    ``cec_kaolinite``, ``cec_soc``. K saturation: ``base_saturation`` +
    ``mica_saturation`` x supply (``illite_scale_pct``) x mica ratio**``mica_power``, times
    the calcium term (``calcium_floor``, ``calcite_scale_pct``) and one minus the fixed
    share (``fixation``, centred at ``fixation_at`` of s_smectite x s_illite, width
    ``fixation_width``). Spread in ln units: ``pedon_sd``, ``horizon_sd``; fertiliser
    residue median ``fertiliser_cmol_kg`` in a share ``fertilised_share`` of pedons.

    ``log_linear``, when set, replaces the saturation chain: ``ln Kex = intercept + sum of
    weight x amount`` over ``(intercept, kaolinite, smectite, illite, calcite, SOC)``
    (:data:`LINEAR_KEX_MODEL`). ``name`` and ``favours`` say which design it is and which
    kind of model it favours by construction.
    """

    cec_smectite: float = 1.0
    cec_illite: float = 0.3
    cec_kaolinite: float = 0.08
    cec_soc: float = 3.0
    base_saturation: float = 0.01
    mica_saturation: float = 0.25
    illite_scale_pct: float = 6.0
    mica_power: float = 2.0
    calcium_floor: float = 0.15
    calcite_scale_pct: float = 1.5
    fixation: float = 0.86
    fixation_at: float = 0.12
    fixation_width: float = 0.015
    pedon_sd: float = 0.45
    horizon_sd: float = 0.25
    fertiliser_cmol_kg: float = 0.1
    fertilised_share: float = 0.5
    log_linear: tuple[float, float, float, float, float, float] | None = None
    name: str = "mechanistic"
    favours: str = (
        "a nonlinear model of the spectra (the CNN): Kex is a product of ratios, a saturating "
        "supply and a fixation threshold of constituents whose bands overlap"
    )


KEX_MODEL = KexModel()
"""The coefficients :func:`mir_library` uses by default."""

LINEAR_KEX_MODEL = KexModel(
    log_linear=(np.log(0.05), 0.01, 0.04, 0.1, -0.04, 0.3),
    name="linear",
    favours=(
        "no model by construction, and a linear one (PLSR) is not handicapped: ln Kex is a "
        "weighted sum of constituent amounts with MIR bands of their own; only the spectra's "
        "own saturation and scatter are nonlinear"
    ),
)
"""A Kex design where a linear model on the spectra is not handicapped (module docstring)."""

TRUTH_COLUMNS: tuple[str, ...] = (
    "kex_cmol_kg",
    "cec_cmol_kg",
    "clay_pct",
    "sand_pct",
    "soc_pct",
    "caco3_pct",
    "kaolinite_pct",
    "smectite_pct",
    "illite_pct",
    "goethite_pct",
    "hematite_pct",
    "moisture_pct",
    "fertiliser_cmol_kg",
)
"""Known-truth columns of a library, after the ids, soil order and depths."""

_MINERALS = ("kaolinite", "smectite", "illite")


def mineral_composition(
    clay: np.ndarray,
    clay_mineral_shares,
    *,
    calcite: np.ndarray,
    organic: np.ndarray,
    sand: np.ndarray,
    fe: np.ndarray,
    goethite_share: np.ndarray,
    soc: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Composition (% mass, moisture in %) of library samples, shared by the MIR and vis-NIR
    libraries: clay split by the shares of :data:`_MINERALS`, iron oxides split into
    goethite and hematite, and moisture as in the world's samples
    (:func:`~geosoil.synthetic.spectra.moisture_pct`, one draw from ``rng``)."""
    composition = {m: clay * share for m, share in zip(_MINERALS, clay_mineral_shares, strict=True)}
    composition.update(
        calcite=calcite,
        organic=organic,
        quartz=sand,
        goethite=fe * goethite_share,
        hematite=fe * (1.0 - goethite_share),
        soc=soc,
        clay=clay,
    )
    composition["water"] = moisture_pct(clay, composition["smectite"], soc, rng)
    return composition


# Sample packing and cup height bend the baseline smoothly, beyond the offset, slope and
# grain-size curvature of mir_absorbance: Legendre polynomials of degree 2 to 8 over the axis
# with N(0, 0.05) weights per sample.
_PACKING_DEGREE = 8
_PACKING_SD = 0.05


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def kex_cmol_kg(
    composition: dict[str, np.ndarray], *, model: KexModel = KEX_MODEL
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free CEC and exchangeable K of samples of known composition.

    Parameters
    ----------
    composition
        Arrays (% mass) ``kaolinite``, ``smectite``, ``illite``, ``calcite`` and ``soc``.
    model
        The coefficients.

    Returns
    -------
    (ndarray, ndarray)
        CEC and Kex in cmol(+)/kg, before the pedon and horizon spread and the fertiliser.
    """
    kaolinite, smectite, illite = (np.asarray(composition[m], np.float64) for m in _MINERALS)
    clay = np.maximum(kaolinite + smectite + illite, 1e-9)
    calcite = np.asarray(composition["calcite"], np.float64)
    cec = (
        model.cec_smectite * smectite
        + model.cec_illite * illite
        + model.cec_kaolinite * kaolinite
        + model.cec_soc * np.asarray(composition["soc"], np.float64)
    )
    if model.log_linear is not None:
        intercept, *weights = model.log_linear
        amounts = (kaolinite, smectite, illite, calcite, np.asarray(composition["soc"]))
        return cec, np.exp(intercept + sum(w * a for w, a in zip(weights, amounts, strict=True)))
    supply = 1.0 - np.exp(-illite / model.illite_scale_pct)
    mica = (illite / np.maximum(illite + kaolinite, 1e-9)) ** model.mica_power
    calcium = model.calcium_floor + (1.0 - model.calcium_floor) / (
        1.0 + (calcite / model.calcite_scale_pct) ** 2
    )
    interstratified = (smectite / clay) * (illite / clay)
    fixed = model.fixation * _sigmoid((interstratified - model.fixation_at) / model.fixation_width)
    saturation = (model.base_saturation + model.mica_saturation * supply * mica) * calcium
    return cec, cec * saturation * (1.0 - fixed)


def _order_table(orders: np.ndarray) -> dict[str, np.ndarray]:
    """Per-pedon parameters of the given order indices, one array per SoilOrder field."""
    table = list(SOIL_ORDERS.values())
    rows = [table[i] for i in orders]
    return {
        name: np.array([getattr(row, name) for row in rows], dtype=np.float64)
        for name in SoilOrder.__dataclass_fields__
    }


def _block(rng: np.random.Generator, model: KexModel) -> tuple[pd.DataFrame, np.ndarray]:
    """One block of :data:`BLOCK_SIZE` samples: the sample table and the MIR absorbance."""
    pedons = _pedons(substream(rng, "pedons"), substream(rng, "pedon_traits"), model)
    horizons = _horizons(substream(rng, "horizons"), pedons)
    composition = horizons.pop("composition")
    of = horizons["pedon"]
    cec, kex = kex_cmol_kg(composition, model=model)
    horizon_effect = substream(rng, "kex").normal(0.0, 1.0, BLOCK_SIZE)
    spread = np.exp(model.pedon_sd * pedons["effect"][of] + model.horizon_sd * horizon_effect)
    fertiliser = pedons["residue"][of] * (horizons["top_cm"] < 30.0)
    frame = pd.DataFrame(
        {
            **horizons,
            "kex_cmol_kg": kex * spread + fertiliser,
            "cec_cmol_kg": cec,
            "clay_pct": composition["clay"],
            "sand_pct": composition["quartz"],
            "soc_pct": composition["soc"],
            "caco3_pct": composition["calcite"],
            **{f"{m}_pct": composition[m] for m in (*_MINERALS, "goethite", "hematite")},
            "moisture_pct": composition["water"],
            "fertiliser_cmol_kg": fertiliser,
        }
    )
    absorbance = mir_absorbance(composition, substream(rng, "mir"))
    return frame, absorbance + _packing_baseline(substream(rng, "packing"), BLOCK_SIZE)


def _pedons(
    rng: np.random.Generator, traits: np.random.Generator, model: KexModel
) -> dict[str, np.ndarray]:
    """Pedons enough to fill a block: order, horizon count and shared traits of each."""
    shares = np.array([order.share for order in SOIL_ORDERS.values()])
    # BLOCK_SIZE pedons always suffice (each has a horizon); keep those that fill the block,
    # the last one possibly losing its deepest horizons.
    orders = rng.choice(len(shares), size=BLOCK_SIZE, p=shares / shares.sum())
    horizons = 1 + rng.binomial(6, 0.5, size=BLOCK_SIZE)
    n = int(np.searchsorted(np.cumsum(horizons), BLOCK_SIZE) + 1)
    p = _order_table(orders[:n])
    goethite_logit = np.log(p["goethite_share"] / (1.0 - p["goethite_share"]))
    pedons = {
        "order": orders[:n],
        "horizons": horizons[:n],
        "clay_bulge": p["clay_bulge"],
        "clay": p["clay_pct"] * np.exp(traits.normal(0.0, 0.35, n)),
        "sand": p["sand_pct"] * np.exp(traits.normal(0.0, 0.3, n)),
        "logits": p["mineral_logits"] + traits.normal(0.0, 0.6, (n, 3)),
        "soc": p["soc_pct"] * np.exp(traits.normal(0.0, 0.4, n)),
    }
    calcareous = traits.random(n) < p["carbonate_chance"]
    pedons["caco3"] = calcareous * p["carbonate_pct"] * np.exp(traits.normal(0.0, 0.6, n))
    pedons["fe"] = p["iron_oxides_pct"] * np.exp(traits.normal(0.0, 0.35, n))
    pedons["goethite_logit"] = goethite_logit + traits.normal(0.0, 0.8, n)
    pedons["effect"] = traits.normal(0.0, 1.0, n)
    fertilised = traits.random(n) < model.fertilised_share
    residue = np.exp(traits.normal(np.log(model.fertiliser_cmol_kg), 1.0, n))
    pedons["residue"] = residue * fertilised
    return pedons


def _horizons(rng: np.random.Generator, pedons: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Depths, order and composition of the horizons of a block, pedon by pedon."""
    n = BLOCK_SIZE
    of = np.repeat(np.arange(pedons["order"].size), pedons["horizons"])[:n]
    thickness = rng.uniform(10.0, 40.0, n)
    bottom = np.cumsum(thickness)
    first = np.r_[0, np.flatnonzero(np.diff(of)) + 1]
    surface = np.repeat(bottom[first] - thickness[first], np.diff(np.r_[first, n]))
    top_cm, bottom_cm = bottom - thickness - surface, bottom - surface
    mid = 0.5 * (top_cm + bottom_cm)
    clay = pedons["clay"][of] * (1.0 + pedons["clay_bulge"][of] * (1.0 - np.exp(-mid / 50.0)))
    clay = np.clip(clay * np.exp(rng.normal(0.0, 0.1, n)), 1.0, 85.0)
    sand = np.clip(pedons["sand"][of] * np.exp(rng.normal(0.0, 0.1, n)), 1.0, 97.0 - clay)
    weights = np.exp(pedons["logits"][of] + rng.normal(0.0, 0.2, (n, 3)))
    shares = weights / weights.sum(axis=1, keepdims=True)
    soc = pedons["soc"][of] * (0.1 + 0.9 * np.exp(-mid / 30.0)) * np.exp(rng.normal(0.0, 0.2, n))
    caco3 = pedons["caco3"][of] * (1.0 + mid / 60.0) * np.exp(rng.normal(0.0, 0.3, n))
    fe = pedons["fe"][of] * np.exp(rng.normal(0.0, 0.15, n))
    goethite = _sigmoid(pedons["goethite_logit"][of] + rng.normal(0.0, 0.2, n))
    composition = mineral_composition(
        clay,
        shares.T,
        calcite=caco3,
        organic=soc * np.exp(rng.normal(0.0, 0.2, n)),
        sand=sand,
        fe=fe,
        goethite_share=goethite,
        soc=soc,
        rng=rng,
    )
    return {
        "pedon": of,
        "soil_order": np.array(list(SOIL_ORDERS))[pedons["order"][of]],
        "top_cm": top_cm,
        "bottom_cm": bottom_cm,
        "composition": composition,
    }


def _packing_baseline(rng: np.random.Generator, n: int) -> np.ndarray:
    """Smooth per-sample baselines from sample packing and cup height, float32 (n, bands)."""
    x = np.linspace(-1.0, 1.0, MIR_AXIS_CM1.size)
    shapes = np.polynomial.legendre.legvander(x, _PACKING_DEGREE)[:, 2:]
    weights = rng.normal(0.0, _PACKING_SD, (n, shapes.shape[1]))
    return (weights @ shapes.T).astype(np.float32)


def mir_library(n_samples: int, *, seed: int = 0, model: KexModel = KEX_MODEL) -> SampleSet:
    """A synthetic MIR library of ``n_samples`` horizons with exchangeable K and known truth.

    Parameters
    ----------
    n_samples
        Number of spectra (one per horizon), 1 to :data:`MAX_SAMPLES`.
    seed
        Same ``n_samples`` and seed give the same library; the first ``m`` samples do not
        depend on ``n_samples``.
    model
        Coefficients of exchangeable K (the module docstring gives the defaults).

    Returns
    -------
    SampleSet
        ``spectra`` float32 (n_samples, 1701) absorbance on 600-4000 cm-1 every 2 cm-1;
        ``frame`` with ``sample_id``, ``site_id`` (the pedon), ``soil_order``, ``top_cm``,
        ``bottom_cm`` and the :data:`TRUTH_COLUMNS` (``kex_cmol_kg`` the target).

    Raises
    ------
    ConfigError
        ``n_samples`` not a whole number in 1 .. :data:`MAX_SAMPLES`, or a negative seed.
    """
    n_samples = check_sample_count(n_samples, example=40000)
    seed = check_seed(seed)
    root = component_rng(seed, "mir_library")
    frames, spectra = [], []
    n_blocks = -(-n_samples // BLOCK_SIZE)
    for index in range(n_blocks):
        frame, values = _block(substream(root, f"block-{index}"), model)
        frame.insert(0, "site_id", [f"P{index:04d}-{p:03d}" for p in frame.pop("pedon")])
        frames.append(frame)
        spectra.append(values)
        log.debug("library block %d/%d", index + 1, n_blocks)
    frame = pd.concat(frames, ignore_index=True).iloc[:n_samples].reset_index(drop=True)
    frame.insert(0, "sample_id", [f"L{i:07d}" for i in range(n_samples)])
    values = np.concatenate(spectra)[:n_samples]
    axis = SpectralAxis.from_values(MIR_AXIS_CM1, "cm-1")
    return SampleSet(frame=frame, spectra=values, axis=axis, quantity="absorbance")


def check_sample_count(n_samples, *, example: int) -> int:
    """``n_samples`` as an int, refusing anything but a whole number in 1 .. MAX_SAMPLES.

    Raises
    ------
    ConfigError
        With ``field="n_samples"`` and a fix suggesting ``example`` spectra.
    """
    if (
        isinstance(n_samples, bool)
        or not isinstance(n_samples, int | np.integer)
        or not 1 <= n_samples <= MAX_SAMPLES
    ):
        raise ConfigError(
            f"n_samples={n_samples!r} is not a whole number between 1 and {MAX_SAMPLES}",
            field="n_samples",
            fix=f"ask for e.g. {example} spectra",
        )
    return int(n_samples)


def check_seed(seed) -> int:
    """``seed`` as an int, refusing anything but a non-negative whole number.

    Raises
    ------
    ConfigError
        With ``field="seed"``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(
            f"seed={seed!r} is not a non-negative whole number",
            field="seed",
            fix="use a seed such as 0",
        )
    return int(seed)


def write_library(samples: SampleSet, path: str | Path, *, metadata: dict | None = None) -> Path:
    """Write a library as a wide Parquet table, atomically.

    Columns: the sample columns of ``samples.frame``, then one float32 column per band named
    ``wn_<cm-1>`` (``wn_600`` ... ``wn_4000``) on a cm-1 axis or ``nm_<nm>`` (``nm_400`` ...
    ``nm_2499``) on a nm axis, readable by :func:`geosoil.io.spectra.read_spectra`. The
    schema metadata key ``geosoil`` holds the axis unit, the quantity and ``metadata``.

    Parameters
    ----------
    samples
        A library from :func:`mir_library`, ``visnir_library`` or ``pb_target_set`` (any
        SampleSet).
    path
        The ``.parquet`` file to write; an existing file is replaced only when complete.
    metadata
        Extra JSON-serializable entries for the header (e.g. ``n_samples``, ``seed``).

    Returns
    -------
    Path
        ``path``.
    """
    prefix = "wn" if samples.axis.unit == "cm-1" else "nm"
    names = [f"{prefix}_{value:g}" for value in samples.axis.values]
    columns = [pa.array(samples.frame[c].to_numpy()) for c in samples.frame.columns]
    columns += [pa.array(samples.spectra[:, j]) for j in range(len(samples.axis))]
    header = {"axis_unit": samples.axis.unit, "quantity": samples.quantity, **(metadata or {})}
    table = pa.Table.from_arrays(columns, names=[*map(str, samples.frame.columns), *names])
    table = table.replace_schema_metadata({b"geosoil": json.dumps(header, sort_keys=True)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return write_bytes_atomic(path, buffer.getvalue())
