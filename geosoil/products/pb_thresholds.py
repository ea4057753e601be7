"""Pb threshold tables: pH band edges, screening and intervention values per land use.

The packaged table is China's GB 15618-2018 (``geosoil/data/pb_thresholds_gb15618.yaml``);
any table of the same schema (another country's standard) may replace it. Tables are checked
field by field, so a malformed one is refused with the place in the file and the fix.
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

from geosoil.errors import ConfigError, InputFileNotFoundError
from geosoil.geo.outputs import MapClass

__all__ = [
    "LAND_USES",
    "PH_RANGE",
    "PbThresholds",
    "default_pb_thresholds_path",
    "is_mg_kg",
    "ph_band_index",
    "read_pb_thresholds",
]

LAND_USES = ("other", "paddy")
# pH is defined on 0-14 in soil work; values outside are a unit or model mistake.
PH_RANGE = (0.0, 14.0)
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


def _diverging(t: float) -> str:
    start, end = ((_ACID, _NEUTRAL), (_NEUTRAL, _ALKALINE))[int(t > 0.5)]
    local = t * 2 if t <= 0.5 else t * 2 - 1
    return "#" + "".join(
        f"{round(a + (b - a) * local):02x}" for a, b in zip(start, end, strict=True)
    )
