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

import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from geosoil.errors import ConfigError, InputFileNotFoundError
from geosoil.mapping.outputs import MapClass, OutputVariable
from geosoil.products.base import Product, register_product

__all__ = [
    "LAND_USES",
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

LAND_USES = ("other", "paddy")
# pH is defined on 0-14 in soil work; values outside are a unit or model mistake.
PH_RANGE = (0.0, 14.0)
PB_RISK_CLASSES = (
    MapClass(0, "at or below screening: risk negligible", "#1a9850"),
    MapClass(1, "above screening: possible risk, monitor and use safely", "#fd8d3c"),
    MapClass(2, "above intervention: high risk, strict control", "#d73027"),
)
_MG_KG = {"mg/kg", "mgkg-1", "mgkg^-1", "mg.kg-1", "ppm", "ug/g", "µg/g", "μg/g"}
_TABLE_KEYS = (
    "version",
    "name",
    "citation",
    "element",
    "units",
    "ph_edges",
    "screening",
    "intervention",
)
_TABLE_FIX = "see the schema in the comments of geosoil/data/pb_thresholds_gb15618.yaml"
# Acid to alkaline (PuOr ends): the legend of the pH band layer.
_ACID, _NEUTRAL, _ALKALINE = (230, 97, 1), (247, 247, 247), (94, 60, 153)


def is_mg_kg(units: str) -> bool:
    """Whether ``units`` spells mass fraction in mg/kg (``mg/kg``, ``mg kg-1``, ``ppm``...)."""
    return units.replace(" ", "").lower() in _MG_KG


@dataclass(frozen=True)
class PbThresholds:
    """A threshold table: pH band edges and, per land use, screening and intervention values.

    Attributes
    ----------
    ph_edges
        Strictly increasing; ``len(ph_edges) + 1`` bands, each closed above.
    screening_mg_kg, intervention_mg_kg
        Land use (``other``, ``paddy``) -> one value per band, in mg/kg.
    path
        The YAML file the table was read from.
    """

    name: str
    citation: str
    element: str
    units: str
    ph_edges: tuple[float, ...]
    screening_mg_kg: Mapping[str, tuple[float, ...]]
    intervention_mg_kg: Mapping[str, tuple[float, ...]]
    path: Path | None = None

    @property
    def n_bands(self) -> int:
        return len(self.ph_edges) + 1

    def band_labels(self) -> list[str]:
        """``pH <= 5.5``, ``5.5 < pH <= 6.5``, ..., ``pH > 7.5``."""
        edges = self.ph_edges
        middle = [f"{low:g} < pH <= {high:g}" for low, high in pairwise(edges)]
        return [f"pH <= {edges[0]:g}", *middle, f"pH > {edges[-1]:g}"]

    def band_classes(self) -> tuple[MapClass, ...]:
        """Codes 1..n_bands of the pH band layer, coloured from acid to alkaline."""
        labels = self.band_labels()
        return tuple(
            MapClass(band, label, _diverging((band - 1) / max(len(labels) - 1, 1)))
            for band, label in enumerate(labels, start=1)
        )

    def values(self, kind: Literal["screening", "intervention"]) -> np.ndarray:
        """float64 (2, n_bands): row 0 other farmland, row 1 paddy, in mg/kg."""
        table = self.screening_mg_kg if kind == "screening" else self.intervention_mg_kg
        return np.array([table[use] for use in LAND_USES], dtype=np.float64)

    def as_record(self) -> dict[str, Any]:
        """The table as plain data, for summaries: name, citation and the rows by band."""
        return {
            "name": self.name,
            "citation": self.citation,
            "element": self.element,
            "units": self.units,
            "file": str(self.path) if self.path is not None else None,
            "ph_bands": [
                {
                    "band": band,
                    "ph": label,
                    "screening_mg_kg": {u: self.screening_mg_kg[u][band - 1] for u in LAND_USES},
                    "intervention_mg_kg": {
                        u: self.intervention_mg_kg[u][band - 1] for u in LAND_USES
                    },
                }
                for band, label in enumerate(self.band_labels(), start=1)
            ],
        }


def default_pb_thresholds_path() -> Path:
    """The packaged GB 15618-2018 table."""
    return Path(str(resources.files("geosoil").joinpath("data/pb_thresholds_gb15618.yaml")))


def read_pb_thresholds(path: str | Path | None = None) -> PbThresholds:
    """Read and check a Pb threshold table; the packaged GB 15618-2018 one by default.

    Parameters
    ----------
    path
        A YAML file of the schema documented in the packaged table.

    Raises
    ------
    InputFileNotFoundError
        No such file.
    ConfigError
        Malformed YAML, a missing or unknown key, pH edges not strictly increasing, a land use
        without one value per band, a non-numeric or non-positive value, an intervention value
        not above its screening value, or units other than mg/kg; ``field`` names the place in
        the table, e.g. ``screening.paddy[2]``.
    """
    path = default_pb_thresholds_path() if path is None else Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(
            "Pb threshold table not found",
            path=path,
            field="thresholds",
            fix="check the path, or leave `thresholds` unset for the packaged GB 15618-2018 table",
        )
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"threshold table is not valid YAML: {err}", path=path) from err
    return _parse_table(raw, path)


def _parse_table(raw: Any, path: Path) -> PbThresholds:
    def fail(message: str, field: str, fix: str = _TABLE_FIX) -> ConfigError:
        return ConfigError(f"threshold table: {message}", path=path, field=field, fix=fix)

    if not isinstance(raw, dict):
        raise fail("the file is not a mapping of keys", "(top level)")
    for key in _TABLE_KEYS:
        if key not in raw:
            raise fail(f"key '{key}' is missing", key)
    unknown = sorted(set(raw) - set(_TABLE_KEYS))
    if unknown:
        raise fail(f"unknown key(s) {unknown}", unknown[0], f"allowed keys: {list(_TABLE_KEYS)}")
    if raw["version"] != 1:
        raise fail(f"version {raw['version']!r} is not supported", "version", "set version: 1")
    if not is_mg_kg(str(raw["units"])):
        raise fail(
            f"units '{raw['units']}' are not mg/kg",
            "units",
            "give the values in mg/kg (1 g/kg = 1000 mg/kg) and set units: mg/kg",
        )
    edges = _numbers(raw["ph_edges"], "ph_edges", fail)
    if not edges:
        raise fail("ph_edges is empty", "ph_edges", "give at least one pH edge, e.g. [6.5]")
    for i in range(1, len(edges)):
        if edges[i] <= edges[i - 1]:
            raise fail(
                f"pH edges must increase strictly: {edges[i - 1]:g} then {edges[i]:g}",
                f"ph_edges[{i}]",
                "list the band edges in increasing order, e.g. [5.5, 6.5, 7.5]",
            )
    low, high = PH_RANGE
    for i, edge in enumerate(edges):
        if not low < edge < high:
            raise fail(f"pH edge {edge:g} is outside ({low:g}, {high:g})", f"ph_edges[{i}]")
    rows = {kind: _land_use_rows(raw[kind], kind, len(edges) + 1, fail) for kind in _KINDS}
    for use in LAND_USES:
        for i, (screen, intervene) in enumerate(
            zip(rows["screening"][use], rows["intervention"][use], strict=True)
        ):
            if intervene <= screen:
                raise fail(
                    f"the intervention value {intervene:g} of {use} in pH band {i + 1} is not "
                    f"above its screening value {screen:g}",
                    f"intervention.{use}[{i}]",
                    "each intervention value must exceed the screening value of its band",
                )
    return PbThresholds(
        name=str(raw["name"]),
        citation=" ".join(str(raw["citation"]).split()),
        element=str(raw["element"]),
        units=str(raw["units"]),
        ph_edges=tuple(edges),
        screening_mg_kg=rows["screening"],
        intervention_mg_kg=rows["intervention"],
        path=path,
    )


_KINDS = ("screening", "intervention")


def _land_use_rows(raw: Any, kind: str, n_bands: int, fail) -> dict[str, tuple[float, ...]]:
    if not isinstance(raw, dict):
        raise fail(f"'{kind}' is not a mapping of land use to values", kind)
    for use in LAND_USES:
        if use not in raw:
            raise fail(f"land use '{use}' is missing from '{kind}'", f"{kind}.{use}")
    unknown = sorted(set(raw) - set(LAND_USES))
    if unknown:
        raise fail(
            f"unknown land use(s) {unknown} in '{kind}'",
            f"{kind}.{unknown[0]}",
            f"land uses are {list(LAND_USES)}",
        )
    rows = {}
    for use in LAND_USES:
        field = f"{kind}.{use}"
        values = _numbers(raw[use], field, fail)
        if len(values) != n_bands:
            raise fail(
                f"{len(values)} values for {n_bands} pH bands",
                field,
                f"give one value per pH band: {n_bands} numbers (pH edges + 1)",
            )
        for i, value in enumerate(values):
            if value <= 0:
                raise fail(f"value {value:g} is not positive", f"{field}[{i}]")
        rows[use] = tuple(values)
    return rows


def _numbers(raw: Any, field: str, fail) -> list[float]:
    if not isinstance(raw, list):
        raise fail(f"'{field}' is not a list of numbers", field)
    values = []
    for i, item in enumerate(raw):
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
            raise fail(f"{item!r} is not a finite number", f"{field}[{i}]")
        values.append(float(item))
    return values


def ph_band_index(ph, ph_edges) -> np.ndarray:
    """0-based pH band of each value, bands closed above; -1 where pH is NaN or outside 0-14."""
    ph = np.asarray(ph, dtype=np.float64)
    band = np.searchsorted(np.asarray(ph_edges, dtype=np.float64), ph, side="left")
    valid = np.isfinite(ph) & (ph >= PH_RANGE[0]) & (ph <= PH_RANGE[1])
    return np.where(valid, band, -1)


def pb_risk_class(pb_mg_kg, screening_mg_kg, intervention_mg_kg) -> np.ndarray:
    """0 at or below screening, 1 up to and including intervention, 2 above; NaN undefined.

    Pb must be finite and not negative (a negative concentration is a model artefact).
    """
    pb = np.asarray(pb_mg_kg, dtype=np.float64)
    codes = (pb > screening_mg_kg).astype(np.float64) + (pb > intervention_mg_kg)
    valid = np.isfinite(pb) & (pb >= 0) & np.isfinite(screening_mg_kg)
    return np.where(valid, codes, np.nan)


def _diverging(t: float) -> str:
    start, end = ((_ACID, _NEUTRAL), (_NEUTRAL, _ALKALINE))[int(t > 0.5)]
    local = t * 2 if t <= 0.5 else t * 2 - 1
    return "#" + "".join(
        f"{round(a + (b - a) * local):02x}" for a, b in zip(start, end, strict=True)
    )


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
        Also classify ``<pb>_p95`` (a model mapped with uncertainty): a precautionary map.
    output
        Prefix of the output layers, ``pb_risk`` by default.

    Outputs: ``<output>_class`` (0/1/2), ``<output>_screening_mg_kg``, ``<output>_ratio``
    (Pb / screening value), ``<output>_ph_band`` (1 = most acid band), and with
    ``use_percentile_layer`` ``<output>_class_p95``; NaN where Pb or pH is nodata, Pb is
    negative, pH is outside 0-14, or the land is not farmland.
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
        return f"{self.params.pb}_p95"

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
                    f"Pb risk class of {self.percentile_layer} (precautionary) against "
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
