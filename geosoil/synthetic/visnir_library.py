"""A LUCAS-like vis-NIR library for pH and a small local Pb set, both with known truth.

He et al. (2025) pretrain a 1-D ResNet on a continental vis-NIR library for pH (LUCAS
topsoil, 19,000 spectra) and fine-tune it, convolutional and residual layers frozen, on about
130 local samples of lead (Pb). This module makes both data sets by the world's own vis-NIR
physics (:func:`geosoil.synthetic.spectra.visnir_reflectance`: Gaussian bands, a Kubelka-Munk
transform, multiplicative scatter, noise), on 400-2499 nm every 1 nm.

Composition
-----------
A sample belongs to a :class:`SoilRegion` (a country of the library, or the local district)
and draws its composition (% mass) from the region's medians and standard-normal scores
``z`` (one per latent in :data:`LATENTS`; independent per sample here, spatially smooth
fields in :mod:`geosoil.synthetic.cube`)::

    clay  = clay_pct exp(0.4 s z)                   sand = sand_pct exp(0.35 s z)
    clay minerals = clay x softmax(mineral_logits + 0.6 s z)
    SOC   = soc_pct x land-cover factor x exp(0.5 s z)
    CaCO3 = carbonate_pct exp(0.7 s z) where Phi(z) < carbonate_chance (x land-cover factor)
    Fe oxides = iron_oxides_pct exp(0.4 s z); goethite share sigmoid(logit(share) + 0.8 s z)

``s`` is the region's ``spread`` (1 for countries, narrower in the district). Organic matter
is SOC x a quality factor exp(N(0, 0.2)) and moisture ``0.5 + 0.04 clay + 0.08 smectite +
0.2 SOC + |N(0, 0.5)|``, as for the world's samples.

pH (the pretraining target, :func:`ph_truth`)
--------------------------------------------
Acidity comes from organic acids, leaching and weathering; carbonate buffers pH near 8.3::

    acid = 7.8 - 1.2 ln(1 + SOC) - 0.45 ln(1 + Fe oxides) - 0.6 kaolinite / clay
    pH   = acid + (8.3 - acid)(1 - exp(-CaCO3 / 0.8)) + 0.25 u,   clipped to 3.5 .. 9

with ``u`` standard normal (liming, base saturation, season: not in the spectrum). Every
term but ``u`` has vis-NIR features: the organic darkening and its 1700/2300 nm bands, the
goethite and hematite charge-transfer edge and 480-920 nm bands, the kaolinite 2165/2206 nm
doublet and the calcite band at 2340 nm. A network that learns pH from spectra learns them.

Pb (the local target, :func:`pb_truth`)
--------------------------------------
Lead has no vis-NIR feature. In an old smelting district, deposited Pb is held by sorption
sites on iron oxides (goethite, finer, more than hematite) and organic matter, and only
where the pH is above the sorption edge of Pb(II) near pH 5.6::

    sites     = goethite + 0.5 hematite + 0.35 SOC                    (%)
    retention = sigmoid((pH* - 5.6) / 0.4),  pH* = ph_truth(composition) without u
    log10 Pb  = 0.8 + log10(sites) + 1.2 retention + 0.12 d,  clipped to 10 .. 1000 mg/kg

``d`` is standard normal (the deposition history, distance to the stack: not in the
spectrum). The iron oxides and organic matter that add sites also lower pH*, so their effect
on Pb depends on where pH* sits on the sorption edge: a linear model on the true amounts
explains about half of log10 Pb (ridge, 10-fold CV on 130 samples: R2 0.4-0.7 by seed), the
noise-free ``pb_truth`` about 0.8.

Why transfer should help
------------------------
The source target (pH) is a function of exactly the constituents Pb depends on, each seen
through features spread over hundreds of correlated bands. A network pretrained on 19,000
spectra has filters that respond to the organic, iron-oxide, clay and carbonate features;
fine-tuning its head on 130 Pb samples only has to learn a small map from those features.
Trained from scratch on 130 spectra of 2,100 bands, the same network must find the features
and the nonlinear retention together from too few samples. The district is a narrower and
shifted part of the continental distribution (more iron oxides, acid, little carbonate), as
a local study area is.

That design favours transfer by construction: the source target carries most of what the
local target needs (log10 Pb correlates 0.8 with the noise-free pH in the district).

A second Pb design, :data:`EXCHANGE_PB_MODEL`, makes the source property only weakly
related to Pb: lead is held on the permanent (pH-independent) charge of smectite and illite
interlayers::

    log10 Pb = 1.8 log10(smectite + 0.5 illite + 0.5) + 0.12 d,   clipped to 10 .. 1000 mg/kg

with the same deposition score ``d``. In the district its correlation with the noise-free
pH is about 0 (|r| < 0.1, tested), so a pH model has no head start beyond generic spectral
features (the clay-mineral bands near 2200 nm that pH also reads through kaolinite); it
favours no model by construction, and transfer only helps if the pretrained filters happen
to serve the new target. Both designs draw the same samples and spectra from the same seeds;
only the map from composition to Pb differs.

Determinism
-----------
Samples are made in blocks of :data:`~geosoil.synthetic.library.BLOCK_SIZE` from named random
streams: the same ``n_samples`` and ``seed`` give the same bytes, and the first ``m`` samples
of a library do not depend on ``n_samples`` (the Pb set's folds do, being balanced).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr

from geosoil.errors import ConfigError
from geosoil.io.spectra import SampleSet
from geosoil.spectra import SpectralAxis
from geosoil.synthetic.library import (
    BLOCK_SIZE,
    SoilMedians,
    check_sample_count,
    check_seed,
    mineral_composition,
)
from geosoil.synthetic.spectra import VISNIR_AXIS_NM, visnir_reflectance
from geosoil.synthetic.streams import component_rng, substream

__all__ = [
    "COUNTRIES",
    "DISTRICT_BOUNDS_M",
    "EXCHANGE_PB_MODEL",
    "LAND_COVERS",
    "LATENTS",
    "PB_DISTRICT",
    "PB_MODEL",
    "PH_MODEL",
    "TARGET_CRS",
    "LandCover",
    "PbModel",
    "PhModel",
    "SoilRegion",
    "composition_from_scores",
    "describe_pb_target_set",
    "describe_visnir_library",
    "pb_target_set",
    "pb_truth",
    "ph_truth",
    "truth_composition",
    "visnir_library",
]

log = logging.getLogger(__name__)

TARGET_CRS = "EPSG:32654"
"""CRS of the Pb set's coordinates and of the cube (the synthetic world's UTM zone 54N)."""

DISTRICT_BOUNDS_M = (442_000.0, 4_172_000.0, 458_000.0, 4_188_000.0)
"""(west, south, east, north) of the Pb district, inside the world's 20 x 20 km extent."""

LATENTS = (
    "clay",
    "sand",
    "kaolinite",
    "smectite",
    "illite",
    "soc",
    "calcareous",
    "carbonate",
    "fe_oxides",
    "goethite",
)
"""Standard-normal scores a composition is drawn from (see the module docstring)."""

# Spread (ln units, or logit units for the clay minerals and goethite share) of each latent
# around a region's median, before the region's own ``spread`` factor.
_SD = {
    "clay": 0.4,
    "sand": 0.35,
    "minerals": 0.6,
    "soc": 0.5,
    "carbonate": 0.7,
    "fe_oxides": 0.4,
    "goethite": 0.8,
}
_MINERALS = ("kaolinite", "smectite", "illite")


@dataclass(frozen=True)
class SoilRegion(SoilMedians):
    """Median topsoil composition of a region (a country, or the local district).

    Parameters
    ----------
    share
        Relative frequency of the region among samples of the library.
    clay_pct, sand_pct
        Median clay and sand (% mass).
    mineral_logits
        Logits of the kaolinite, smectite and illite shares of the clay.
    soc_pct
        Median organic carbon (%) under cropland.
    carbonate_chance, carbonate_pct
        Share of calcareous soils, and their median CaCO3 (%).
    iron_oxides_pct, goethite_share
        Median goethite + hematite (%) and the goethite share of it.
    spread
        Factor on the spread of every latent around the medians (1 = continental).
    """

    spread: float = 1.0


COUNTRIES: dict[str, SoilRegion] = {
    # share, clay %, sand %, logits (kaolinite, smectite, illite), SOC %, carbonate chance,
    # CaCO3 %, Fe oxides %, goethite share
    "AT": SoilRegion(0.03, 22, 35, (-0.3, 0.2, 0.8), 2.8, 0.35, 4.0, 1.6, 0.70),
    "BE": SoilRegion(0.02, 20, 25, (-0.4, 0.3, 0.9), 1.6, 0.10, 2.0, 1.5, 0.70),
    "BG": SoilRegion(0.04, 35, 25, (-0.6, 1.0, 0.3), 1.5, 0.30, 5.0, 2.0, 0.60),
    "CZ": SoilRegion(0.03, 22, 35, (-0.2, 0.2, 0.8), 1.8, 0.10, 2.0, 1.8, 0.70),
    "DE": SoilRegion(0.08, 18, 45, (-0.2, 0.1, 0.8), 2.0, 0.10, 3.0, 1.5, 0.70),
    "DK": SoilRegion(0.02, 12, 65, (0.0, -0.2, 0.8), 2.0, 0.05, 1.0, 1.0, 0.80),
    "EE": SoilRegion(0.02, 14, 55, (-0.2, -0.1, 0.9), 4.0, 0.15, 3.0, 1.0, 0.80),
    "ES": SoilRegion(0.10, 25, 40, (-0.5, 0.3, 0.9), 1.0, 0.60, 12.0, 2.0, 0.45),
    "FI": SoilRegion(0.05, 12, 55, (-0.3, -0.3, 1.0), 6.0, 0.02, 1.0, 1.2, 0.85),
    "FR": SoilRegion(0.12, 24, 35, (-0.2, 0.3, 0.8), 1.8, 0.30, 6.0, 2.0, 0.65),
    "GR": SoilRegion(0.04, 28, 35, (-0.6, 0.6, 0.7), 1.1, 0.60, 12.0, 2.2, 0.40),
    "HU": SoilRegion(0.04, 25, 35, (-0.6, 0.7, 0.6), 1.8, 0.40, 6.0, 1.6, 0.60),
    "IE": SoilRegion(0.03, 22, 35, (0.0, 0.0, 0.7), 5.5, 0.10, 3.0, 1.8, 0.75),
    "IT": SoilRegion(0.08, 30, 30, (-0.5, 0.6, 0.7), 1.4, 0.50, 9.0, 2.2, 0.50),
    "LT": SoilRegion(0.02, 15, 55, (-0.2, -0.1, 0.9), 1.6, 0.15, 2.0, 1.2, 0.80),
    "NL": SoilRegion(0.02, 15, 60, (-0.2, 0.2, 0.8), 3.0, 0.10, 3.0, 1.0, 0.80),
    "PL": SoilRegion(0.08, 12, 65, (0.0, -0.2, 0.8), 1.3, 0.05, 1.0, 1.0, 0.80),
    "PT": SoilRegion(0.03, 18, 55, (1.0, -0.8, 0.2), 1.5, 0.10, 4.0, 3.0, 0.55),
    "RO": SoilRegion(0.07, 30, 30, (-0.5, 0.8, 0.5), 2.0, 0.35, 5.0, 2.0, 0.60),
    "SE": SoilRegion(0.07, 12, 55, (-0.3, -0.3, 1.0), 4.5, 0.03, 1.0, 1.2, 0.85),
}
"""Countries of the source library (ISO codes) and their topsoils, declared as data."""

PB_DISTRICT = SoilRegion(
    share=1.0,
    clay_pct=28.0,
    sand_pct=30.0,
    mineral_logits=(0.4, -0.4, 0.6),
    soc_pct=2.5,
    carbonate_chance=0.1,
    carbonate_pct=1.0,
    iron_oxides_pct=4.0,
    goethite_share=0.7,
    spread=0.8,
)
"""The local smelting district: iron-oxide rich (weathered sulphide tailings), acid, narrow."""


@dataclass(frozen=True)
class LandCover:
    """Effect of a land cover on the topsoil: share, SOC factor, carbonate-chance factor."""

    share: float
    soc_factor: float
    carbonate_factor: float


LAND_COVERS: dict[str, LandCover] = {
    "cropland": LandCover(0.5, 1.0, 1.0),
    "grassland": LandCover(0.3, 1.6, 0.9),
    # forest topsoils hold more organic matter and are leached of carbonate
    "woodland": LandCover(0.2, 2.5, 0.5),
}
"""Land covers of the source library."""


@dataclass(frozen=True)
class PhModel:
    """Coefficients of pH(H2O) as a function of composition (see the module docstring)."""

    neutral: float = 7.8
    organic: float = 1.2
    iron: float = 0.45
    kaolinite: float = 0.6
    carbonate_ph: float = 8.3
    carbonate_scale_pct: float = 0.8
    sd: float = 0.25
    low: float = 3.5
    high: float = 9.0


@dataclass(frozen=True)
class PbModel:
    """Coefficients of Pb (mg/kg) as a function of composition (see the module docstring)."""

    intercept_log10: float = 0.8
    sites_goethite: float = 1.0
    sites_hematite: float = 0.5
    sites_soc: float = 0.35
    retention_log10: float = 1.2
    edge_ph: float = 5.6
    edge_width: float = 0.4
    deposition_sd_log10: float = 0.12
    low_mg_kg: float = 10.0
    high_mg_kg: float = 1000.0
    # (intercept log10, slope, illite weight, floor %): when set, Pb follows the permanent
    # charge of the clay instead of sites and the sorption edge (EXCHANGE_PB_MODEL)
    permanent_charge: tuple[float, float, float, float] | None = None
    name: str = "sorption_edge"
    favours: str = (
        "transfer from pH by construction: Pb depends on the pH sorption edge and on the "
        "iron oxides and organic matter that also set pH (r 0.8 with the noise-free pH)"
    )


PH_MODEL = PhModel()
"""The pH coefficients used by the library, the Pb set and the cube."""

PB_MODEL = PbModel()
"""The Pb coefficients used by the Pb set and the cube."""

EXCHANGE_PB_MODEL = PbModel(
    permanent_charge=(0.0, 1.8, 0.5, 0.5),
    name="exchange",
    favours=(
        "no model by construction, and not transfer from pH: Pb follows the permanent charge "
        "of smectite and illite, unrelated to pH in the district (|r| < 0.1)"
    ),
)
"""A Pb design where the source property (pH) is only weakly related to Pb (docstring)."""


def ph_truth(
    composition: Mapping[str, np.ndarray],
    *,
    unexplained: np.ndarray | float | None = None,
    model: PhModel = PH_MODEL,
) -> np.ndarray:
    """pH(H2O) of soils of known composition.

    Parameters
    ----------
    composition
        Arrays (% mass) ``soc``, ``goethite``, ``hematite``, ``calcite``, ``kaolinite``,
        ``smectite`` and ``illite``.
    unexplained
        Standard-normal scores of the part of pH the spectrum does not show (scaled by
        ``model.sd``); None for the noise-free pH.
    model
        The coefficients.

    Returns
    -------
    ndarray
        pH in ``model.low`` .. ``model.high``.
    """
    soc = np.asarray(composition["soc"], np.float64)
    fe = np.asarray(composition["goethite"], np.float64) + np.asarray(composition["hematite"])
    kaolinite = np.asarray(composition["kaolinite"], np.float64)
    clay = kaolinite + np.asarray(composition["smectite"]) + np.asarray(composition["illite"])
    acid = (
        model.neutral
        - model.organic * np.log1p(soc)
        - model.iron * np.log1p(fe)
        - model.kaolinite * kaolinite / np.maximum(clay, 1e-9)
    )
    buffered = 1.0 - np.exp(
        -np.asarray(composition["calcite"], np.float64) / model.carbonate_scale_pct
    )
    ph = acid + (model.carbonate_ph - acid) * buffered
    if unexplained is not None:
        ph = ph + model.sd * np.asarray(unexplained, np.float64)
    return np.clip(ph, model.low, model.high)


def pb_truth(
    composition: Mapping[str, np.ndarray],
    *,
    deposition: np.ndarray | float | None = None,
    model: PbModel = PB_MODEL,
    ph_model: PhModel = PH_MODEL,
) -> np.ndarray:
    """Pb (mg/kg) of soils of known composition in the smelting district.

    Parameters
    ----------
    composition
        Arrays (% mass) as for :func:`ph_truth`.
    deposition
        Standard-normal scores of the deposition history (scaled by
        ``model.deposition_sd_log10``); None for the median deposition.
    model, ph_model
        The coefficients.

    Returns
    -------
    ndarray
        Pb in ``model.low_mg_kg`` .. ``model.high_mg_kg``.
    """
    if model.permanent_charge is not None:
        intercept, slope, illite, floor = model.permanent_charge
        charge = np.asarray(composition["smectite"], np.float64) + illite * np.asarray(
            composition["illite"], np.float64
        )
        log10_pb = intercept + slope * np.log10(charge + floor)
    else:
        sites = (
            model.sites_goethite * np.asarray(composition["goethite"], np.float64)
            + model.sites_hematite * np.asarray(composition["hematite"], np.float64)
            + model.sites_soc * np.asarray(composition["soc"], np.float64)
        )
        ph = ph_truth(composition, model=ph_model)
        retention = expit((ph - model.edge_ph) / model.edge_width)
        log10_pb = model.intercept_log10 + np.log10(np.maximum(sites, 1e-3))
        log10_pb = log10_pb + model.retention_log10 * retention
    if deposition is not None:
        log10_pb = log10_pb + model.deposition_sd_log10 * np.asarray(deposition, np.float64)
    return np.clip(10.0**log10_pb, model.low_mg_kg, model.high_mg_kg)


def composition_from_scores(
    region: SoilRegion | Mapping[str, np.ndarray | float],
    scores: Mapping[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Composition (% mass; moisture in %) drawn from a region's medians and latent scores.

    Parameters
    ----------
    region
        A :class:`SoilRegion`, or its fields as arrays (one value per sample), optionally
        with ``soc_factor`` and ``carbonate_factor`` (land cover; default 1).
    scores
        A standard-normal array per name in :data:`LATENTS`, all of one shape.
    rng
        Draws the sample-scale organic-matter quality and moisture jitter.

    Returns
    -------
    dict
        The constituents of :data:`~geosoil.synthetic.spectra.CONSTITUENTS`, plus ``soc``
        and ``clay``, each of the scores' shape.
    """
    p = asdict(region) if isinstance(region, SoilRegion) else dict(region)
    s = np.asarray(p["spread"], np.float64)
    shape = np.shape(scores["clay"])
    clay = np.clip(p["clay_pct"] * np.exp(_SD["clay"] * s * scores["clay"]), 1.0, 80.0)
    sand = p["sand_pct"] * np.exp(_SD["sand"] * s * scores["sand"])
    sand = np.clip(sand, 1.0, 97.0 - clay)
    logits = np.stack(
        [
            np.asarray(p["mineral_logits"], np.float64)[..., i]
            + _SD["minerals"] * s * scores[mineral]
            for i, mineral in enumerate(_MINERALS)
        ]
    )
    shares = np.exp(logits - logits.max(axis=0))
    shares /= shares.sum(axis=0)
    soc = p["soc_pct"] * p.get("soc_factor", 1.0) * np.exp(_SD["soc"] * s * scores["soc"])
    soc = np.clip(soc, 0.05, 40.0)
    chance = p["carbonate_chance"] * np.asarray(p.get("carbonate_factor", 1.0))
    calcareous = ndtr(scores["calcareous"]) < chance
    caco3 = calcareous * p["carbonate_pct"] * np.exp(_SD["carbonate"] * s * scores["carbonate"])
    fe = p["iron_oxides_pct"] * np.exp(_SD["fe_oxides"] * s * scores["fe_oxides"])
    goethite_logit = np.log(p["goethite_share"]) - np.log1p(-np.asarray(p["goethite_share"]))
    goethite = expit(goethite_logit + _SD["goethite"] * s * scores["goethite"])
    composition = mineral_composition(
        clay,
        shares,
        calcite=np.clip(caco3, 0.0, 60.0),
        # organic matter differs in its share of aliphatic, carboxylic and aromatic carbon
        organic=soc * np.exp(rng.normal(0.0, 0.2, shape)),
        sand=sand,
        fe=fe,
        goethite_share=goethite,
        soc=soc,
        rng=rng,
    )
    return {
        k: np.broadcast_to(np.asarray(v, np.float64), shape).copy() for k, v in composition.items()
    }


def truth_composition(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The composition (% mass) the truth functions take, from a library's truth columns."""
    composition = {
        m: frame[f"{m}_pct"].to_numpy(np.float64) for m in (*_MINERALS, "goethite", "hematite")
    }
    composition["soc"] = frame["soc_g_kg"].to_numpy(np.float64) / 10.0
    composition["calcite"] = frame["caco3_g_kg"].to_numpy(np.float64) / 10.0
    return composition


def _truth_columns(composition: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Known composition as columns in the units of soil surveys (g/kg, %)."""
    return {
        "soc_g_kg": 10.0 * composition["soc"],
        "clay_pct": composition["clay"],
        "caco3_g_kg": 10.0 * composition["calcite"],
        "fe_oxide_g_kg": 10.0 * (composition["goethite"] + composition["hematite"]),
        "sand_pct": composition["quartz"],
        **{f"{m}_pct": composition[m] for m in (*_MINERALS, "goethite", "hematite")},
        "moisture_pct": composition["water"],
    }


def _latent_scores(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    draws = rng.standard_normal((len(LATENTS), n))
    return dict(zip(LATENTS, draws, strict=True))


def _region_arrays(regions: list[SoilRegion], index: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample region parameters: one array per :class:`SoilRegion` field."""
    table = {name: np.array([getattr(r, name) for r in regions]) for name in asdict(regions[0])}
    table["mineral_logits"] = np.array([r.mineral_logits for r in regions], np.float64)
    return {name: values[index] for name, values in table.items()}


def _library_block(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """One block of the source library: the sample table and the reflectance."""
    n = BLOCK_SIZE
    countries, covers = list(COUNTRIES.values()), list(LAND_COVERS.values())
    country_share = np.array([c.share for c in countries])
    cover_share = np.array([c.share for c in covers])
    draw = substream(rng, "regions")
    country = draw.choice(len(countries), size=n, p=country_share / country_share.sum())
    cover = draw.choice(len(covers), size=n, p=cover_share / cover_share.sum())
    params = _region_arrays(countries, country)
    params["soc_factor"] = np.array([c.soc_factor for c in covers])[cover]
    params["carbonate_factor"] = np.array([c.carbonate_factor for c in covers])[cover]
    scores = _latent_scores(substream(rng, "latents"), n)
    composition = composition_from_scores(params, scores, substream(rng, "sample_scale"))
    unexplained = substream(rng, "ph").standard_normal(n)
    frame = pd.DataFrame(
        {
            "country": np.array(list(COUNTRIES))[country],
            "land_cover": np.array(list(LAND_COVERS))[cover],
            "ph_h2o": ph_truth(composition, unexplained=unexplained),
            **_truth_columns(composition),
        }
    )
    return frame, visnir_reflectance(composition, substream(rng, "visnir"))


def _blocks(n_samples: int, root: np.random.Generator, make) -> tuple[pd.DataFrame, np.ndarray]:
    frames, spectra = [], []
    n_blocks = -(-n_samples // BLOCK_SIZE)
    for index in range(n_blocks):
        frame, values = make(substream(root, f"block-{index}"))
        frames.append(frame)
        spectra.append(values)
        log.debug("vis-NIR block %d/%d", index + 1, n_blocks)
    frame = pd.concat(frames, ignore_index=True).iloc[:n_samples].reset_index(drop=True)
    return frame, np.concatenate(spectra)[:n_samples]


def visnir_library(n_samples: int = 19_000, *, seed: int = 0) -> SampleSet:
    """A LUCAS-like vis-NIR topsoil library with pH and known composition.

    Parameters
    ----------
    n_samples
        Number of spectra (one per topsoil sample), 1 to
        :data:`~geosoil.synthetic.library.MAX_SAMPLES`.
    seed
        Same ``n_samples`` and seed give the same library; the first ``m`` samples do not
        depend on ``n_samples``.

    Returns
    -------
    SampleSet
        ``spectra`` float32 (n_samples, 2100), reflectance on 400-2499 nm every 1 nm;
        ``frame`` with ``sample_id``, ``country`` (20 ISO codes, a group column),
        ``land_cover``, ``ph_h2o`` (the target), ``soc_g_kg``, ``clay_pct``, ``caco3_g_kg``,
        ``fe_oxide_g_kg`` and the truth ``sand_pct``, ``<clay mineral>_pct``,
        ``goethite_pct``, ``hematite_pct``, ``moisture_pct``.

    Raises
    ------
    ConfigError
        ``n_samples`` not a whole number in range (field ``n_samples``), or a negative seed
        (field ``seed``).
    """
    n_samples = check_sample_count(n_samples, example=19000)
    root = component_rng(check_seed(seed), "visnir_library")
    frame, values = _blocks(n_samples, root, _library_block)
    frame.insert(0, "sample_id", [f"V{i:07d}" for i in range(n_samples)])
    axis = SpectralAxis.from_values(VISNIR_AXIS_NM, "nm")
    return SampleSet(frame=frame, spectra=values, axis=axis, quantity="reflectance")


def _district_block(
    rng: np.random.Generator, model: PbModel = PB_MODEL
) -> tuple[pd.DataFrame, np.ndarray]:
    """One block of Pb samples of the district: table (without folds) and reflectance."""
    n = BLOCK_SIZE
    scores = _latent_scores(substream(rng, "latents"), n)
    composition = composition_from_scores(PB_DISTRICT, scores, substream(rng, "sample_scale"))
    west, south, east, north = DISTRICT_BOUNDS_M
    where = substream(rng, "coordinates")
    x = np.round(where.uniform(west, east, n), 1)
    y = np.round(where.uniform(south, north, n), 1)
    truth = _truth_columns(composition)
    frame = pd.DataFrame(
        {
            "x": x,
            "y": y,
            "pb_mg_kg": pb_truth(
                composition, deposition=substream(rng, "pb").standard_normal(n), model=model
            ),
            "ph_h2o": ph_truth(composition, unexplained=substream(rng, "ph").standard_normal(n)),
            "soc_g_kg": truth.pop("soc_g_kg"),
            "fe_oxide_g_kg": truth.pop("fe_oxide_g_kg"),
            **truth,
        }
    )
    return frame, visnir_reflectance(composition, substream(rng, "visnir"))


def pb_target_set(
    n_samples: int = 130, *, seed: int = 0, n_folds: int = 10, model: PbModel = PB_MODEL
) -> SampleSet:
    """A small local set of Pb samples of a smelting district, with vis-NIR spectra.

    Parameters
    ----------
    n_samples
        Number of samples (130 as in He et al. 2025).
    seed
        Same ``n_samples`` and seed give the same set.
    n_folds
        Predefined cross-validation folds (as LimeSoDa ships them), numbered 1 ..
        ``n_folds`` and balanced.
    model
        The Pb design: :data:`PB_MODEL` (sorption edge, favours transfer from pH) or
        :data:`EXCHANGE_PB_MODEL` (permanent charge, unrelated to pH); the samples and
        spectra are the same for both.

    Returns
    -------
    SampleSet
        ``spectra`` float32 (n_samples, 2100) reflectance on 400-2499 nm; ``frame`` with
        ``sample_id``, ``x``, ``y`` (m, :data:`TARGET_CRS`), ``fold``, ``pb_mg_kg`` (the
        target), ``ph_h2o``, ``soc_g_kg``, ``fe_oxide_g_kg`` and the truth columns of
        :func:`visnir_library` (``clay_pct``, ``caco3_g_kg``, ...). Read a written copy
        back with ``read_spectra(path, x_column="x", y_column="y", crs=TARGET_CRS)``.

    Raises
    ------
    ConfigError
        ``n_samples``, ``seed`` or ``n_folds`` (2 .. n_samples) out of range.
    """
    n_samples = check_sample_count(n_samples, example=130)
    seed = check_seed(seed)
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or not 2 <= n_folds <= n_samples:
        raise ConfigError(
            f"n_folds={n_folds!r} is not a whole number between 2 and n_samples={n_samples}",
            field="n_folds",
            fix="use 10 folds, or fewer than there are samples",
        )
    root = component_rng(seed, "pb_target_set")
    frame, values = _blocks(n_samples, root, lambda rng: _district_block(rng, model))
    folds = substream(root, "folds").permutation(np.arange(n_samples) % n_folds) + 1
    frame.insert(0, "fold", folds.astype(np.int64))
    frame.insert(0, "y", frame.pop("y"))
    frame.insert(0, "x", frame.pop("x"))
    frame.insert(0, "sample_id", [f"PB{i:04d}" for i in range(1, n_samples + 1)])
    axis = SpectralAxis.from_values(VISNIR_AXIS_NM, "nm")
    return SampleSet(frame=frame, spectra=values, axis=axis, quantity="reflectance")


_TRUTH_TEXT = [
    "Known truth (not measured in a real survey): `sand_pct`, `kaolinite_pct`, `smectite_pct`,",
    "`illite_pct`, `goethite_pct`, `hematite_pct` (% mass) and `moisture_pct` (%).",
    "`geosoil.synthetic.visnir_library.truth_composition(frame)` turns them back into the",
    "composition `ph_truth` and `pb_truth` take.",
]

_SPECTRA_TEXT = [
    "Spectra: 2100 float32 columns `nm_400` ... `nm_2499` (wavelength in nm, every 1 nm),",
    "reflectance as a fraction 0-1, made by `geosoil.synthetic.spectra.visnir_reflectance`",
    "(Gaussian absorption bands of clay minerals, calcite, organic matter, goethite, hematite",
    "and water; Kubelka-Munk; scatter, offset, slope and noise). The Parquet schema metadata",
    "key `geosoil` holds the axis unit, the quantity, the size and the seed.",
]


def describe_visnir_library(n_samples: int, seed: int) -> str:
    """README (Markdown) of a written :func:`visnir_library`."""
    return "\n".join(
        [
            "# Synthetic vis-NIR library (LUCAS-like)",
            "",
            f"`library_visnir.parquet`: {n_samples} topsoil samples, seed {seed}, made by",
            "`geosoil.synthetic.visnir_library.visnir_library` (the same size and seed give the",
            "same bytes). The source data set for pretraining a pH model.",
            "",
            "Columns:",
            "",
            "- `sample_id`; `country` (20 ISO codes, a group column); `land_cover` (cropland,",
            "  grassland, woodland);",
            "- `ph_h2o`: the target, pH in water, 3.5-9 (carbonate raises it towards 8.3,",
            "  organic matter, iron oxides and kaolinite lower it, plus 0.25 noise);",
            "- `soc_g_kg`, `caco3_g_kg`, `fe_oxide_g_kg` (goethite + hematite) in g/kg,",
            "  `clay_pct` in %;",
            *("- " + line if i == 0 else "  " + line for i, line in enumerate(_TRUTH_TEXT)),
            "",
            *_SPECTRA_TEXT,
            "",
        ]
    )


def describe_pb_target_set(n_samples: int, seed: int) -> str:
    """README (Markdown) of a written :func:`pb_target_set`."""
    west, south, east, north = DISTRICT_BOUNDS_M
    return "\n".join(
        [
            "# Synthetic Pb target set (a smelting district)",
            "",
            f"`pb_target.parquet`: {n_samples} local topsoil samples, seed {seed}, made by",
            "`geosoil.synthetic.visnir_library.pb_target_set` (same size and seed, same bytes).",
            "The target data set for fine-tuning a model pretrained on `library_visnir.parquet`.",
            "",
            "Columns:",
            "",
            f"- `sample_id`; `x`, `y`: coordinates in m, {TARGET_CRS}, within "
            f"{west:.0f}-{east:.0f} E, {south:.0f}-{north:.0f} N;",
            "- `fold`: predefined cross-validation fold 1-10 (balanced);",
            "- `pb_mg_kg`: the target, lead in mg/kg, 10-1000, log-normal-like. Pb has no",
            "  vis-NIR feature: log10 Pb = 0.8 + log10(goethite + 0.5 hematite + 0.35 SOC)",
            "  + 1.2 sigmoid((pH* - 5.6) / 0.4) + 0.12 N(0, 1), pH* the noise-free pH;",
            "- `ph_h2o` (with its 0.25 noise), `soc_g_kg`, `fe_oxide_g_kg` (g/kg), then",
            "  `clay_pct`, `caco3_g_kg`;",
            *("- " + line if i == 0 else "  " + line for i, line in enumerate(_TRUTH_TEXT)),
            "",
            *_SPECTRA_TEXT,
            "",
            "Read it with `read_spectra(path, x_column='x', y_column='y', crs='EPSG:32654')`.",
            "",
        ]
    )
