"""Lead (Pb) contamination risk of farmland soil: mapped Pb against pH-banded thresholds.

The default table is China's GB 15618-2018 (``geosoil/data/pb_thresholds_gb15618.yaml``): a
risk *screening* value and a risk *intervention* value per soil-pH band, screening values per
land use (paddy or other farmland). A pixel is

- class 0 where Pb <= screening (risk negligible),
- class 1 where screening < Pb <= intervention (possible risk: monitor, safe-use measures),
- class 2 where Pb > intervention (high risk: strict control).

pH bands are closed above, as in the standard: with edges 5.5, 6.5, 7.5, a pH of exactly 6.5
is in the band (5.5, 6.5]. Any table of the same schema (another country's standard) may
replace the default: see the comments of the packaged YAML and :func:`read_pb_thresholds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from geosoil.geo.outputs import MapClass, OutputVariable
from geosoil.geo.product import (
    OUTSIDE_APPLICABILITY,
    Product,
    outside_applicability,
    register_product,
    trust_flag_layers,
)
from geosoil.products.pb_thresholds import (
    LAND_USES,
    PH_RANGE,
    PbThresholds,
    default_pb_thresholds_path,
    is_mg_kg,
    ph_band_index,
    read_pb_thresholds,
)

# Class of pixels whose Pb comes from outside the model's area of applicability.
OUTSIDE_CLASS = 3

__all__ = [
    "LAND_USES",
    "OUTSIDE_CLASS",
    "PB_RISK_CLASSES",
    "PH_RANGE",
    "PbRisk",
    "PbThresholds",
    "check_land_use_options",
    "default_pb_thresholds_path",
    "is_mg_kg",
    "pb_risk_class",
    "ph_band_index",
    "read_pb_thresholds",
]

PB_RISK_CLASSES = (
    MapClass(0, "at or below screening: risk negligible", "#1a9850"),
    MapClass(1, "above screening: possible risk, monitor and use safely", "#fd8d3c"),
    MapClass(2, "above intervention: high risk, strict control", "#d73027"),
    MapClass(OUTSIDE_CLASS, OUTSIDE_APPLICABILITY, "#9e9e9e"),
)


def pb_risk_class(pb_mg_kg, screening_mg_kg, intervention_mg_kg) -> np.ndarray:
    """0 at or below screening, 1 up to and including intervention, 2 above; NaN undefined.

    Pb must be finite and not negative (a negative concentration is a model artefact).
    """
    pb = np.asarray(pb_mg_kg, dtype=np.float64)
    codes = (pb > screening_mg_kg).astype(np.float64) + (pb > intervention_mg_kg)
    valid = np.isfinite(pb) & (pb >= 0) & np.isfinite(screening_mg_kg)
    return np.where(valid, codes, np.nan)


@register_product
class PbRisk(Product):
    """Pb risk classes against a pH-banded threshold table (GB 15618-2018 by default).

    Parameters (``Params``)
    -----------------------
    pb
        Layer of total Pb in mg/kg (a model output or a covariate), ``pb_mg_kg`` by default.
    ph, ph_constant
        Exactly one: a pH layer, or one pH for every pixel (an explicit assumption).
    land_use
        ``other`` (default) or ``paddy``: which screening row applies everywhere.
    land_use_layer, paddy_codes, other_codes
        Instead of ``land_use``: a class layer where codes in ``paddy_codes`` are paddy, codes
        in ``other_codes`` other farmland, and any other code not farmland (undefined); with
        ``other_codes`` unset every non-paddy code is other farmland.
    thresholds
        A threshold table (YAML); the packaged GB 15618-2018 table by default.
    use_percentile_layer
        Also classify ``<pb>_hi``, the upper bound of the model's calibrated conformal 90 %
        interval (its 95th percentile): a precautionary map.
    output
        Prefix of the output layers, ``pb_risk`` by default.

    Outputs: ``<output>_class`` (0/1/2), ``<output>_screening_mg_kg``, ``<output>_ratio``
    (Pb / screening value), ``<output>_ph_band`` (1 = most acid band), and with
    ``use_percentile_layer`` ``<output>_class_p95``; NaN where Pb or pH is nodata, Pb is
    negative, pH is outside 0-14, or the land is not farmland. Class 3 (``outside
    applicability``) where the Pb model's ``<pb>_aoa`` or ``<pb>_in_domain`` layer is 0.
    """

    name = "pb_risk"

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        pb: str = "pb_mg_kg"
        ph: str | None = None
        ph_constant: float | None = Field(default=None, ge=PH_RANGE[0], le=PH_RANGE[1])
        land_use: Literal["other", "paddy"] | None = None
        land_use_layer: str | None = None
        paddy_codes: tuple[int, ...] = ()
        other_codes: tuple[int, ...] | None = None
        thresholds: Path | None = None
        use_percentile_layer: bool = False
        output: str = Field(default="pb_risk", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

        @model_validator(mode="after")
        def _consistent(self):
            if (self.ph is None) == (self.ph_constant is None):
                given = "both" if self.ph is not None else "neither"
                raise ValueError(
                    f"{given} of ph and ph_constant set; set exactly one: ph: <pH layer> or "
                    "ph_constant: <pH assumed everywhere>"
                )
            check_land_use_options(
                self.land_use, self.land_use_layer, self.paddy_codes, self.other_codes
            )
            read_pb_thresholds(self.thresholds)  # a malformed table fails here, named
            return self

        @property
        def resolved_land_use(self) -> str:
            return self.land_use or "other"

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.table = read_pb_thresholds(params.thresholds)

    @property
    def names(self) -> dict[str, str]:
        """Output layer names by role: class, screening, ratio, ph_band (, class_p95)."""
        prefix = self.params.output
        names = {
            "class": f"{prefix}_class",
            "screening": f"{prefix}_screening_mg_kg",
            "ratio": f"{prefix}_ratio",
            "ph_band": f"{prefix}_ph_band",
        }
        if self.params.use_percentile_layer:
            names["class_p95"] = f"{prefix}_class_p95"
        return names

    @property
    def percentile_layer(self) -> str:
        """The calibrated upper bound (95th percentile of the conformal 90 % interval)."""
        return f"{self.params.pb}_hi"

    def optional_inputs(self) -> list[str]:
        return trust_flag_layers(self.params.pb)

    def inputs(self) -> list[str]:
        params = self.params
        names = [params.pb]
        if params.ph is not None:
            names.append(params.ph)
        if params.land_use_layer is not None:
            names.append(params.land_use_layer)
        if params.use_percentile_layer:
            names.append(self.percentile_layer)
        return names

    def outputs(self) -> list[OutputVariable]:
        params, names, table = self.params, self.names, self.table
        ph = params.ph if params.ph is not None else f"pH {params.ph_constant:g} (assumed)"
        against = f"{params.pb} against {table.name} by {ph}"
        variables = [
            OutputVariable(
                names["class"], "", f"Pb risk class of {against}", "classes", PB_RISK_CLASSES
            ),
            OutputVariable(
                names["screening"], "mg/kg", f"Pb risk screening value of {table.name} by {ph}"
            ),
            OutputVariable(names["ratio"], "ratio", f"{params.pb} / screening value"),
            OutputVariable(
                names["ph_band"],
                "",
                f"pH band of {table.name} ({ph})",
                "classes",
                table.band_classes(),
            ),
        ]
        if params.use_percentile_layer:
            variables.append(
                OutputVariable(
                    names["class_p95"],
                    "",
                    f"Pb risk class of {self.percentile_layer}, the calibrated 95th percentile "
                    f"(upper bound of the conformal 90 % interval; precautionary) against "
                    f"{table.name} by {ph}",
                    "classes",
                    PB_RISK_CLASSES,
                )
            )
        return variables

    def compute(self, layers: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        params, names, table = self.params, self.names, self.table
        pb = np.asarray(layers[params.pb], dtype=np.float64)
        ph = layers[params.ph] if params.ph is not None else np.full(pb.shape, params.ph_constant)
        band = ph_band_index(ph, table.ph_edges)
        use = self._land_use_rows(layers, pb.shape)
        # Every output is undefined where any input is, as the engine treats product inputs.
        defined = (band >= 0) & (use >= 0) & np.isfinite(pb) & (pb >= 0)
        if params.use_percentile_layer:
            upper = np.asarray(layers[self.percentile_layer], dtype=np.float64)
            defined &= np.isfinite(upper) & (upper >= 0)
        band_at, use_at = np.where(defined, band, 0), np.where(defined, use, 0)
        screening = np.where(defined, table.values("screening")[use_at, band_at], np.nan)
        intervention = np.where(defined, table.values("intervention")[use_at, band_at], np.nan)
        out = {
            names["class"]: pb_risk_class(pb, screening, intervention),
            names["screening"]: screening,
            names["ratio"]: pb / screening,
            names["ph_band"]: np.where(defined, band + 1.0, np.nan),
        }
        if params.use_percentile_layer:
            out[names["class_p95"]] = pb_risk_class(upper, screening, intervention)
        outside = outside_applicability(layers, params.pb, pb.shape) & defined
        for role in ("class", "class_p95"):
            if role in names:
                out[names[role]] = np.where(outside, float(OUTSIDE_CLASS), out[names[role]])
        return out

    def _land_use_rows(self, layers: Mapping[str, np.ndarray], shape) -> np.ndarray:
        """Row of the table per pixel: 0 other farmland, 1 paddy, -1 not farmland or nodata."""
        params = self.params
        if params.land_use_layer is None:
            return np.full(shape, LAND_USES.index(params.resolved_land_use))
        codes = np.asarray(layers[params.land_use_layer], dtype=np.float64)
        paddy = np.isin(codes, params.paddy_codes)
        if params.other_codes is None:
            other = np.isfinite(codes) & ~paddy
        else:
            other = np.isin(codes, params.other_codes)
        return np.where(paddy, 1, np.where(other, 0, -1))


def check_land_use_options(
    land_use: str | None,
    land_use_layer: str | None,
    paddy_codes,
    other_codes,
) -> None:
    """A fixed land use, or a land-use layer with its paddy codes: one way, consistent."""
    if land_use_layer is None:
        if paddy_codes or other_codes is not None:
            raise ValueError(
                "paddy_codes and other_codes belong to land_use_layer; set land_use_layer: "
                "<class layer>, or remove them"
            )
        return
    if land_use is not None:
        raise ValueError(
            "land_use and land_use_layer exclude each other; set land_use (one land use "
            "everywhere) or land_use_layer with paddy_codes"
        )
    if not paddy_codes:
        raise ValueError(
            "land_use_layer needs paddy_codes: the codes of paddy fields in that layer, e.g. [2]"
        )
    if other_codes is not None and set(other_codes) & set(paddy_codes):
        raise ValueError(
            f"codes {sorted(set(other_codes) & set(paddy_codes))} are in both paddy_codes and "
            "other_codes"
        )
