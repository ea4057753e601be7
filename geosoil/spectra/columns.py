"""Band columns of wide spectra tables: which columns are bands, at which positions.

========================================  =======  ==========================================
pattern                                   unit     source
========================================  =======  ==========================================
``wn_<cm-1>``                             cm-1     geosoil, AfSIS exports (``wn_4003.5``)
``nm_<nm>``, ``wl_<nm>``                  nm       vis-NIR tables (``nm_400``)
``scan_mir.<cm-1>_abs``                   cm-1     Open Soil Spectral Library (absorbance)
``scan_visnir.<nm>_ref``                  nm       OSSL vis-NIR (reflectance, fraction)
``scan_nir.<nm>_ref``                     nm       OSSL NIR (Neospectra, reflectance)
``4000``, ``3998.1``, ``X4000``           given    KSSL-style exports, R's ``X`` prefix; only
                                                   with ``axis_unit``
========================================  =======  ==========================================

One table holds one naming family; mixing them (MIR and vis-NIR side by side, or absorbance
and reflectance) is refused rather than guessed at. OSSL metadata columns such as
``scan.mir.nafreq_ossl_pct`` are not bands.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from geosoil.spectra.axis import SpectraError

__all__ = ["ACCEPTED_PATTERNS", "BandColumns", "check_quantity", "find_band_columns"]

log = logging.getLogger(__name__)

_NUMBER = r"(\d+(?:\.\d+)?)"
# (pattern, naming family, unit, quantity); the family tells mixed naming apart.
_BAND_PATTERNS: tuple[tuple[re.Pattern, str, str, str | None], ...] = (
    (re.compile(rf"^wn_{_NUMBER}$", re.I), "wn_", "cm-1", None),
    (re.compile(rf"^nm_{_NUMBER}$", re.I), "nm_", "nm", None),
    (re.compile(rf"^wl_{_NUMBER}$", re.I), "wl_", "nm", None),
    (re.compile(rf"^scan_mir\.{_NUMBER}_abs$", re.I), "scan_mir.*_abs", "cm-1", "absorbance"),
    (re.compile(rf"^scan_mir\.{_NUMBER}_ref$", re.I), "scan_mir.*_ref", "cm-1", "reflectance"),
    (re.compile(rf"^scan_visnir\.{_NUMBER}_ref$", re.I), "scan_visnir.*_ref", "nm", "reflectance"),
    (re.compile(rf"^scan_visnir\.{_NUMBER}_abs$", re.I), "scan_visnir.*_abs", "nm", "absorbance"),
    (re.compile(rf"^scan_nir\.{_NUMBER}_ref$", re.I), "scan_nir.*_ref", "nm", "reflectance"),
    (re.compile(rf"^scan_nir\.{_NUMBER}_abs$", re.I), "scan_nir.*_abs", "nm", "absorbance"),
)
_BARE = re.compile(rf"^X?{_NUMBER}$")

ACCEPTED_PATTERNS = (
    "wn_<cm-1>, nm_<nm>, wl_<nm>, scan_mir.<cm-1>_abs, scan_visnir.<nm>_ref, scan_nir.<nm>_ref, "
    "or bare numbers such as 4000 / X4000 together with axis_unit='cm-1' or 'nm'"
)

QUANTITIES = ("absorbance", "reflectance")


@dataclass(frozen=True)
class BandColumns:
    """The band columns of a table, in table order, and what their names tell.

    ``all_names`` keeps every band column, left-out ones included, so that a band column
    dropped from the spectra never reappears as a sample column.
    """

    names: tuple[str, ...]
    positions: tuple[float, ...]
    unit: str
    quantity: str | None
    all_names: tuple[str, ...]

    def keep(self, indices: Sequence[int]) -> BandColumns:
        """Only the bands at ``indices`` (positions in :attr:`names`)."""
        return replace(
            self,
            names=tuple(self.names[i] for i in indices),
            positions=tuple(self.positions[i] for i in indices),
        )

    def without(self, drop: Sequence[str | float], *, path: Path | None = None) -> BandColumns:
        """Leave out bands named (``"wn_599.8"``) or at positions (``599.8``) in ``drop``.

        Raises
        ------
        SpectraError
            A name or position that is not a band of the table.
        """
        if not drop:
            return self
        positions = np.asarray(self.positions)
        remove: set[int] = set()
        for item in drop:
            if isinstance(item, str):
                if item not in self.names:
                    raise SpectraError(
                        f"drop_bands names '{item}', which is not a band column",
                        path=path,
                        field="drop_bands",
                        fix=f"use band column names such as '{self.names[0]}' or positions",
                    )
                remove.add(self.names.index(item))
            else:
                hits = np.flatnonzero(np.abs(positions - float(item)) <= 1e-6)
                if not hits.size:
                    raise SpectraError(
                        f"drop_bands position {item} is not a band of the table "
                        f"({positions.min():g}-{positions.max():g} {self.unit})",
                        path=path,
                        field="drop_bands",
                        fix="give positions exactly as in the column names, or the names",
                    )
                remove.update(int(i) for i in hits)
        log.info("%s: leaving out %d band column(s) as asked", path, len(remove))
        return self.keep([i for i in range(len(self.names)) if i not in remove])


def find_band_columns(
    columns: Sequence, *, axis_unit: str | None = None, path: Path | None = None
) -> BandColumns:
    """Recognise the band columns among a table's ``columns``.

    Parameters
    ----------
    columns
        Column names in table order.
    axis_unit
        ``"cm-1"`` or ``"nm"``: makes bare numeric names bands; must agree with the unit of
        prefixed names.
    path
        The table, named in errors.

    Raises
    ------
    SpectraError
        No band columns (listing what was found and the accepted patterns), naming families
        mixed in one table, or ``axis_unit`` contradicting the names.
    """
    columns = list(columns)
    found: dict[str, list[tuple[str, float, str, str | None]]] = {}
    bare: list[tuple[str, float]] = []
    for name in columns:
        text = str(name)
        for pattern, family, unit, quantity in _BAND_PATTERNS:
            match = pattern.match(text)
            if match:
                found.setdefault(family, []).append((name, float(match[1]), unit, quantity))
                break
        else:
            match = _BARE.match(text)
            if match:
                bare.append((name, float(match[1])))
    if bare and axis_unit is not None:
        found["bare numbers"] = [(name, value, axis_unit, None) for name, value in bare]
    if not found:
        shown = ", ".join(map(str, columns[:12])) + (" ..." if len(columns) > 12 else "")
        fix = f"name the band columns {ACCEPTED_PATTERNS}"
        if bare:
            fix = (
                f"{len(bare)} columns are bare numbers (e.g. '{bare[0][0]}'): pass "
                "axis_unit='cm-1' (wavenumbers) or 'nm' (wavelengths) to read them as bands"
            )
        raise SpectraError(
            f"no band columns found among the {len(columns)} columns ({shown})",
            path=path,
            field="band columns",
            fix=fix,
        )
    if len(found) > 1:
        summary = "; ".join(
            f"{len(cols)} named {family} (e.g. '{cols[0][0]}')" for family, cols in found.items()
        )
        raise SpectraError(
            f"band columns of mixed naming in one table: {summary}",
            path=path,
            field="band columns",
            fix="keep one spectrum type per table: split the table, or rename the columns to "
            "one convention",
        )
    ((family, entries),) = found.items()
    unit = entries[0][2]
    if axis_unit is not None and axis_unit != unit:
        raise SpectraError(
            f"band columns named {family} are in {unit}, but axis_unit is {axis_unit!r}",
            path=path,
            field="axis_unit",
            fix=f"drop axis_unit or set it to {unit!r}",
        )
    names = tuple(e[0] for e in entries)
    return BandColumns(
        names=names,
        positions=tuple(e[1] for e in entries),
        unit=unit,
        quantity=entries[0][3],
        all_names=names,
    )


def check_quantity(
    inferred: str | None, declared: str | None, *, path: Path | None = None
) -> str | None:
    """The spectral quantity: the declared one, checked against what the names tell.

    Raises
    ------
    SpectraError
        An unknown quantity, or one that contradicts the ``_abs`` / ``_ref`` suffixes.
    """
    if declared is not None and declared not in QUANTITIES:
        raise SpectraError(
            f"unknown spectral quantity {declared!r}",
            path=path,
            field="quantity",
            fix="use 'absorbance' or 'reflectance', or leave it unset",
        )
    if declared is not None and inferred is not None and declared != inferred:
        raise SpectraError(
            f"the band columns are named as {inferred}, but quantity is {declared!r}",
            path=path,
            field="quantity",
            fix=f"drop the quantity option or set it to {inferred!r}",
        )
    return declared or inferred
