"""Potassium fertilizer against radiocaesium uptake: the dose that lifts exchangeable K to a
target in the plough layer (DESIGN 4.6).

Exchangeable potassium (Kex) is mapped in cmol(+)/kg; the target comes from a table of
countermeasure thresholds (``geosoil/data/k_fertilizer.yaml``, default 25 mg K2O per 100 g for
paddy rice, after MAFF and Fukushima Prefecture). Conversions:

- 1 cmol(+)/kg of K+ is 0.01 mol K per kg = 391 mg K/kg = **39.1 mg K / 100 g**;
- two K make one K2O (94.2 g/mol), so it is 0.005 mol K2O per kg = 471 mg/kg =
  **47.1 mg K2O / 100 g**;
- the deficit (mg K2O / 100 g) is ``max(target - 47.1 Kex, 0)``;
- the dose in kg K2O/ha is ``deficit x bulk density (g/cm3) x depth (cm)``, with a factor of
  exactly 1 (see :func:`k2o_dose_kg_ha`);
- muriate of potash (KCl) holds 60 % K2O: kg KCl/ha = kg K2O/ha / 0.6.

With map uncertainty the product also gives the dose at a chosen percentile P of the dose
(by default the 90th: a dose that is enough with 90 % probability). The dose falls as Kex
rises, so the dose's P-th percentile is the dose at Kex's (100 - P)-th percentile. That Kex
quantile comes from the mapped 5th and 95th percentiles (``<kex>_p05``, ``<kex>_p95``) by a
log-normal fit: Kex is positive and right-skewed, Kex models are trained on log10 Kex, and the
engine's p05/p95 of such a model are exactly the quantiles of a log-normal, which this fit
recovers (its median is the mapped Kex itself).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from geosoil.errors import ConfigError, SampleDataError
from geosoil.geo.outputs import MapClass, OutputVariable
from geosoil.geo.product import (
    OUTSIDE_APPLICABILITY,
    Product,
    outside_applicability,
    register_product,
    trust_flag_layers,
)

if TYPE_CHECKING:  # pandas only for lab tables: a map's product needs none (start-up time)
    import pandas as pd

__all__ = [
    "BULK_DENSITY_RANGE_G_CM3",
    "DOSE_K2O",
    "DOSE_KCL",
    "DOSE_STATUS",
    "DOSE_STATUS_CLASSES",
    "K2O_FRACTION_OF_KCL",
    "K2O_MG_100G_PER_CMOL_KG",
    "K_MG_100G_PER_CMOL_KG",
    "KFertilizer",
    "KTarget",
    "check_bulk_density_g_cm3",
    "check_bulk_density_options",
    "check_crop",
    "check_percentile",
    "default_k_target",
    "k2o_deficit_mg_100g",
    "k2o_dose_kg_ha",
    "k_targets",
    "kcl_dose_kg_ha",
    "kex_quantile_from_interval",
    "lab_doses",
    "percentile_dose_names",
    "summarize_doses",
]

K_MG_100G_PER_CMOL_KG = 39.1
K2O_MG_100G_PER_CMOL_KG = 47.1
K2O_FRACTION_OF_KCL = 0.6
# Dry bulk density of real soils: peat and andic topsoils from ~0.1, compacted subsoils to ~2;
# 2.7 is the density of quartz, the solid itself. Anything outside is a unit mistake.
BULK_DENSITY_RANGE_G_CM3 = (0.1, 2.7)
DOSE_K2O = "dose_k2o_kg_ha"
DOSE_KCL = "dose_kcl_kg_ha"
DOSE_STATUS = "dose_status"
DOSE_STATUS_CLASSES = (
    MapClass(0, "at or above the target: no dose", "#1a9641"),
    MapClass(1, "below the target: dose needed", "#fdae61"),
    MapClass(2, OUTSIDE_APPLICABILITY + " (no dose computed)", "#9e9e9e"),
)


@dataclass(frozen=True)
class KTarget:
    """One row of the target table: a crop's exchangeable K2O target and where it comes from."""

    crop: str
    target_mg_k2o_100g: float
    source: str


@cache
def _target_table() -> dict:
    text = resources.files("geosoil").joinpath("data/k_fertilizer.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def k_targets() -> dict[str, KTarget]:
    """The exchangeable K2O targets of ``geosoil/data/k_fertilizer.yaml``, by crop."""
    return {
        crop: KTarget(crop, float(row["target_mg_k2o_100g"]), " ".join(row["source"].split()))
        for crop, row in _target_table()["targets"].items()
    }


def default_k_target() -> KTarget:
    """The target used when a config names none (paddy rice, 25 mg K2O / 100 g)."""
    return k_targets()[_target_table()["default"]]


def k2o_deficit_mg_100g(kex_cmol_kg, *, target_mg_k2o_100g: float) -> np.ndarray:
    """Exchangeable K2O missing to reach the target, in mg K2O / 100 g; 0 at or above it.

    NaN where Kex is NaN or negative (a prediction no soil can have).
    """
    kex = np.asarray(kex_cmol_kg, dtype=np.float64)
    deficit = np.maximum(target_mg_k2o_100g - kex * K2O_MG_100G_PER_CMOL_KG, 0.0)
    return np.where(np.isfinite(kex) & (kex >= 0), deficit, np.nan)


def k2o_dose_kg_ha(
    kex_cmol_kg,
    *,
    bulk_density_g_cm3,
    plough_depth_cm: float = 15.0,
    target_mg_k2o_100g: float | None = None,
) -> np.ndarray:
    """Potassium dose (kg K2O/ha) that lifts exchangeable K to the target in the plough layer.

    Parameters
    ----------
    kex_cmol_kg
        Exchangeable K in cmol(+)/kg (array or scalar).
    bulk_density_g_cm3
        Dry bulk density of the plough layer in g/cm3, broadcast against ``kex_cmol_kg``.
    plough_depth_cm
        Depth of the layer to bring to the target, in cm (> 0).
    target_mg_k2o_100g
        Exchangeable K2O target in mg / 100 g; the table's default (25) when None.

    Returns
    -------
    numpy.ndarray
        float64 dose; 0 where Kex already reaches the target; NaN where Kex is NaN or
        negative, or the bulk density is NaN or outside 0.1-2.7 g/cm3.

    Notes
    -----
    The unit algebra: a deficit of D mg K2O / 100 g is D x 1e-5 kg K2O per kg of soil. One
    hectare to a depth of d cm is 1e4 m2 x 0.01 d m = 100 d m3 = 1e8 d cm3 of soil, which at a
    bulk density of rho g/cm3 weighs 1e8 rho d g = 1e5 rho d kg. The K2O needed is
    1e-5 D x 1e5 rho d = D rho d kg/ha: mg/100 g x g/cm3 x cm gives kg/ha with a factor of 1.
    For example Kex 0.3 cmol(+)/kg is 14.13 mg K2O / 100 g, 10.87 short of 25; at 1.0 g/cm3
    over 15 cm the dose is 10.87 x 1.0 x 15 = 163.05 kg K2O/ha (271.75 kg KCl/ha).
    """
    target = (
        default_k_target().target_mg_k2o_100g if target_mg_k2o_100g is None else target_mg_k2o_100g
    )
    _check_positive(target, "target_mg_k2o_100g", "e.g. 25 (mg K2O / 100 g, the MAFF target)")
    _check_positive(plough_depth_cm, "plough_depth_cm", "e.g. 15 (cm, a paddy plough layer)")
    deficit = k2o_deficit_mg_100g(kex_cmol_kg, target_mg_k2o_100g=target)
    density = np.asarray(bulk_density_g_cm3, dtype=np.float64)
    low, high = BULK_DENSITY_RANGE_G_CM3
    plausible = np.isfinite(density) & (density >= low) & (density <= high)
    return np.where(plausible, deficit * density * plough_depth_cm, np.nan)


def kcl_dose_kg_ha(dose_k2o_kg_ha) -> np.ndarray:
    """The same dose as muriate of potash (60 % K2O), in kg KCl/ha."""
    return np.asarray(dose_k2o_kg_ha, dtype=np.float64) / K2O_FRACTION_OF_KCL


def kex_quantile_from_interval(
    kex_low, kex_high, *, probability: float, level: float = 0.9
) -> np.ndarray:
    """Kex at ``probability`` of a log-normal through the bounds of a central interval.

    ``kex_low``/``kex_high`` bound a central ``level`` interval (0.9: the 5th and 95th
    percentiles). ``ln Kex ~ N(mu, sigma)`` with ``mu = (ln low + ln high) / 2`` and
    ``sigma = (ln high - ln low) / (2 z)``, ``z`` the normal quantile at ``(1 + level) / 2``;
    the quantile is ``exp(mu + z_probability sigma)``. NaN where either bound is NaN, the low
    bound is not positive (the log-normal cannot hold it: train the model on log10 Kex) or
    high < low.
    """
    if not 0.0 < probability < 1.0:
        raise ConfigError(
            f"probability {probability} is not strictly between 0 and 1",
            field="probability",
            fix="pass e.g. 0.1 for the 10th percentile",
        )
    if not 0.0 < level < 1.0:
        raise ConfigError(
            f"interval level {level} is not strictly between 0 and 1",
            field="interval_level",
            fix="use the level the Kex model's _lo/_hi layers were mapped at, e.g. 0.9",
        )
    low = np.asarray(kex_low, dtype=np.float64)
    high = np.asarray(kex_high, dtype=np.float64)
    valid = np.isfinite(low) & np.isfinite(high) & (low > 0) & (high >= low)
    log_low = np.log(np.where(valid, low, 1.0))
    log_high = np.log(np.where(valid, high, 1.0))
    standard = NormalDist()
    sigma = (log_high - log_low) / (2.0 * standard.inv_cdf(0.5 + level / 2.0))
    quantile = np.exp(0.5 * (log_low + log_high) + standard.inv_cdf(probability) * sigma)
    return np.where(valid, quantile, np.nan)


def lab_doses(
    samples: pd.DataFrame,
    *,
    kex_column: str = "kex_cmol_kg",
    bulk_density_column: str | None = None,
    bulk_density_g_cm3: float | None = None,
    plough_depth_cm: float = 15.0,
    target_mg_k2o_100g: float | None = None,
) -> pd.DataFrame:
    """Doses for lab samples (one row each), by the same functions as the map product.

    Parameters
    ----------
    samples
        A table with exchangeable K in cmol(+)/kg and, unless a constant is given, dry bulk
        density in g/cm3.
    kex_column, bulk_density_column
        Their columns; exactly one of ``bulk_density_column`` and ``bulk_density_g_cm3``.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``samples``: ``kex_mg_k2o_100g``, ``deficit_mg_k2o_100g``,
        ``dose_k2o_kg_ha`` and ``dose_kcl_kg_ha`` (NaN where an input is missing or
        implausible).

    Raises
    ------
    SampleDataError
        A column is missing or not numeric.
    ConfigError
        Both or neither bulk-density options, or a constant outside 0.1-2.7 g/cm3.
    """
    try:
        check_bulk_density_options(bulk_density_column, bulk_density_g_cm3)
        check_bulk_density_g_cm3(bulk_density_g_cm3)
    except ValueError as err:
        raise ConfigError(str(err), field="bulk_density_g_cm3", fix="see the message") from err
    kex = _numeric_column(samples, kex_column, "kex_column")
    if bulk_density_column is not None:
        density = _numeric_column(samples, bulk_density_column, "bulk_density_column")
    else:
        density = bulk_density_g_cm3
    target = (
        default_k_target().target_mg_k2o_100g if target_mg_k2o_100g is None else target_mg_k2o_100g
    )
    dose = k2o_dose_kg_ha(
        kex,
        bulk_density_g_cm3=density,
        plough_depth_cm=plough_depth_cm,
        target_mg_k2o_100g=target,
    )
    valid = np.isfinite(dose)
    import pandas as pd

    return pd.DataFrame(
        {
            "kex_mg_k2o_100g": kex * K2O_MG_100G_PER_CMOL_KG,
            "deficit_mg_k2o_100g": np.where(
                valid, k2o_deficit_mg_100g(kex, target_mg_k2o_100g=target), np.nan
            ),
            DOSE_K2O: dose,
            DOSE_KCL: kcl_dose_kg_ha(dose),
        },
        index=samples.index,
    )


def summarize_doses(doses: pd.DataFrame) -> dict[str, float]:
    """Headline figures of :func:`lab_doses`: n with a dose, share in deficit, dose quantiles.

    ``share_in_deficit`` is over the samples with a dose; the dose statistics are over all of
    them (0 for samples at or above the target) and over those in deficit.
    """
    dose = doses[DOSE_K2O].to_numpy(dtype=np.float64)
    dose = dose[np.isfinite(dose)]
    short = dose[dose > 0]
    nan = float("nan")
    return {
        "n": int(dose.size),
        "n_in_deficit": int(short.size),
        "share_in_deficit": float(short.size / dose.size) if dose.size else nan,
        "median_dose_k2o_kg_ha": float(np.median(dose)) if dose.size else nan,
        "mean_dose_k2o_kg_ha": float(dose.mean()) if dose.size else nan,
        "p90_dose_k2o_kg_ha": float(np.quantile(dose, 0.9)) if dose.size else nan,
        "median_dose_in_deficit_k2o_kg_ha": float(np.median(short)) if short.size else nan,
    }


def _numeric_column(samples: pd.DataFrame, column: str, field: str) -> np.ndarray:
    if column not in samples.columns:
        raise SampleDataError(
            f"column '{column}' is not in the table",
            field=field,
            fix=f"use one of {list(samples.columns)}",
        )
    import pandas as pd

    values = pd.to_numeric(samples[column], errors="coerce")
    bad = values.isna() & samples[column].notna()
    if bad.any():
        raise SampleDataError(
            f"column '{column}' holds non-numbers (e.g. {samples[column][bad].iloc[0]!r})",
            field=field,
            fix="clean the column to plain numbers",
        )
    return values.to_numpy(dtype=np.float64)


def percentile_dose_names(percentile: float) -> tuple[str, str]:
    """Layer names of the K2O and KCl doses at a percentile: ``dose_k2o_p90_kg_ha``, ..."""
    label = f"p{percentile:g}".replace(".", "_")
    return f"dose_k2o_{label}_kg_ha", f"dose_kcl_{label}_kg_ha"


def check_bulk_density_g_cm3(value: float | None) -> float | None:
    """A constant bulk density, refused outside 0.1-2.7 g/cm3 with the likely unit mistake."""
    low, high = BULK_DENSITY_RANGE_G_CM3
    if value is not None and not (math.isfinite(value) and low <= value <= high):
        hint = " (kg/m3? divide by 1000)" if value > 100 else ""
        raise ValueError(
            f"bulk_density_g_cm3={value:g} is outside {low}-{high} g/cm3{hint}; give the dry "
            "bulk density of the plough layer in g/cm3, e.g. 1.1 for a mineral topsoil, 0.7 "
            "for an andosol"
        )
    return value


def check_bulk_density_options(layer: str | None, constant: float | None) -> None:
    """Exactly one of a bulk-density layer name and a constant."""
    if (layer is None) == (constant is None):
        given = "both" if layer is not None else "neither"
        raise ValueError(
            f"{given} of bulk_density and bulk_density_g_cm3 set; set exactly one: "
            "bulk_density: <covariate layer in g/cm3> or bulk_density_g_cm3: <constant>"
        )


def check_percentile(value: float | None) -> float | None:
    """A dose percentile strictly between 50 and 100, or None for no percentile dose."""
    if value is not None and not (math.isfinite(value) and 50.0 < value < 100.0):
        raise ValueError(
            f"percentile={value:g} is outside (50, 100); use e.g. 90 for the dose that is "
            "enough with 90 % probability, or null to map only the dose at the mapped Kex"
        )
    return value


def check_crop(crop: str | None, target: float | None) -> None:
    """A crop of the target table, and not together with an explicit target."""
    if crop is None:
        return
    if target is not None:
        raise ValueError("set target_mg_k2o_100g or crop, not both")
    if crop not in k_targets():
        raise ValueError(
            f"crop '{crop}' is not in the target table; use one of {list(k_targets())}"
        )


def _check_positive(value: float, field: str, example: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{field}={value!r} must be a positive number", field=field, fix=example)


@register_product
class KFertilizer(Product):
    """K2O and KCl doses (kg/ha) to reach an exchangeable K2O target in the plough layer.

    Parameters (``Params``)
    -----------------------
    kex_layer
        Layer of exchangeable K in cmol(+)/kg (a model output), ``kex_cmol_kg`` by default.
    target_mg_k2o_100g, crop
        The target in mg K2O / 100 g, or a crop of the target table; neither: the table's
        default (paddy rice, 25).
    bulk_density, bulk_density_g_cm3
        Exactly one: a layer of dry bulk density in g/cm3 (pixels outside 0.1-2.7 g/cm3 get
        no dose, NaN), or a constant in 0.1-2.7 g/cm3.
    plough_depth_cm
        Depth of the layer to bring to the target (default 15 cm).
    percentile
        Also map the dose at this percentile (default 90; in (50, 100)), from the calibrated
        conformal bounds ``<kex_layer>_lo`` and ``<kex_layer>_hi`` (a model trained with
        intervals, mapped with its default ``intervals``); None for no percentile dose.
    interval_level
        The coverage those bounds were mapped at (the map's ``interval_level``, 0.9).

    Outputs: ``dose_k2o_kg_ha`` and ``dose_kcl_kg_ha`` at the mapped Kex, and with a percentile
    ``dose_k2o_p<P>_kg_ha`` and ``dose_kcl_p<P>_kg_ha``; 0 where Kex reaches the target, NaN
    where an input is nodata or Kex is outside the model's applicability; ``dose_status``
    (no dose / dose needed / outside applicability) with a legend.
    """

    name = "k_fertilizer"

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        kex_layer: str = "kex_cmol_kg"
        target_mg_k2o_100g: float | None = Field(default=None, gt=0)
        crop: str | None = Field(default=None, validate_default=True)
        bulk_density: str | None = None
        bulk_density_g_cm3: float | None = Field(default=None, validate_default=True)
        plough_depth_cm: float = Field(default=15.0, gt=0)
        percentile: float | None = 90.0
        interval_level: float = Field(default=0.9, gt=0, lt=1)

        @field_validator("crop")
        @classmethod
        def _crop(cls, value: str | None, info: ValidationInfo) -> str | None:
            check_crop(value, info.data.get("target_mg_k2o_100g"))
            return value

        @field_validator("bulk_density_g_cm3")
        @classmethod
        def _bulk_density(cls, value: float | None, info: ValidationInfo) -> float | None:
            check_bulk_density_options(info.data.get("bulk_density"), value)
            return check_bulk_density_g_cm3(value)

        @field_validator("percentile")
        @classmethod
        def _percentile(cls, value: float | None) -> float | None:
            return check_percentile(value)

        @property
        def target(self) -> float:
            """The target in mg K2O / 100 g, resolved from the crop or the table's default."""
            if self.target_mg_k2o_100g is not None:
                return self.target_mg_k2o_100g
            if self.crop is not None:
                return k_targets()[self.crop].target_mg_k2o_100g
            return default_k_target().target_mg_k2o_100g

    @property
    def interval_layers(self) -> tuple[str, str]:
        """The calibrated Kex interval bounds the percentile dose reads."""
        return f"{self.params.kex_layer}_lo", f"{self.params.kex_layer}_hi"

    def optional_inputs(self) -> list[str]:
        return trust_flag_layers(self.params.kex_layer)

    def inputs(self) -> list[str]:
        params = self.params
        names = [params.kex_layer]
        if params.bulk_density is not None:
            names.append(params.bulk_density)
        if params.percentile is not None:
            names += list(self.interval_layers)
        return names

    def outputs(self) -> list[OutputVariable]:
        params = self.params
        reach = (
            f"to reach {params.target:g} mg K2O/100 g over {params.plough_depth_cm:g} cm, "
            f"from {params.kex_layer}"
        )
        variables = [
            OutputVariable(DOSE_K2O, "kg K2O/ha", f"K2O dose {reach}"),
            OutputVariable(DOSE_KCL, "kg KCl/ha", f"KCl (60 % K2O) dose {reach}"),
            OutputVariable(
                DOSE_STATUS, "", f"K dose status {reach}", "classes", DOSE_STATUS_CLASSES
            ),
        ]
        if params.percentile is not None:
            k2o, kcl = percentile_dose_names(params.percentile)
            at = (
                f"{params.percentile:g}th percentile (from the calibrated conformal "
                f"{params.interval_level:.0%} interval of {params.kex_layer}) of the"
            )
            variables += [
                OutputVariable(k2o, "kg K2O/ha", f"{at} K2O dose {reach}"),
                OutputVariable(kcl, "kg KCl/ha", f"{at} KCl dose {reach}"),
            ]
        return variables

    def compute(self, layers: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        params = self.params
        density = (
            layers[params.bulk_density]
            if params.bulk_density is not None
            else params.bulk_density_g_cm3
        )

        def dose(kex: np.ndarray) -> np.ndarray:
            return k2o_dose_kg_ha(
                kex,
                bulk_density_g_cm3=density,
                plough_depth_cm=params.plough_depth_cm,
                target_mg_k2o_100g=params.target,
            )

        kex = np.asarray(layers[params.kex_layer], dtype=np.float64)
        outside = outside_applicability(layers, params.kex_layer, kex.shape)
        k2o = np.where(outside, np.nan, dose(kex))
        status = np.where(np.isfinite(k2o), (k2o > 0).astype(np.float64), np.nan)
        out = {
            DOSE_K2O: k2o,
            DOSE_KCL: kcl_dose_kg_ha(k2o),
            DOSE_STATUS: np.where(outside, 2.0, status),
        }
        if params.percentile is not None:
            low, high = (layers[name] for name in self.interval_layers)
            low_kex = kex_quantile_from_interval(
                low,
                high,
                probability=1.0 - params.percentile / 100.0,
                level=params.interval_level,
            )
            k2o_name, kcl_name = percentile_dose_names(params.percentile)
            out[k2o_name] = np.where(outside, np.nan, dose(low_kex))
            out[kcl_name] = kcl_dose_kg_ha(out[k2o_name])
        return out
