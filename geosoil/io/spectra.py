"""Reading wide spectra tables (CSV, Parquet) into a :class:`SampleSet` (DESIGN 4.1).

A wide table has one row per scan and one column per band. Band columns are recognised by
their names (``wn_<cm-1>``, ``nm_<nm>``/``wl_<nm>``, the OSSL ``scan_mir.<cm-1>_abs`` and
``scan_visnir.<nm>_ref``, bare numbers with ``axis_unit``; see :mod:`geosoil.spectra.columns`).
Everything else is a sample column (ids, lab values, depths, coordinates). Replicate scans
of one sample are averaged, coordinates make the frame a GeoDataFrame, and every way a table
can be unusable (mixed naming, a bad axis, gaps in the spectra) is an error that names the
file, the column and the fix.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from geosoil.errors import InputFileNotFoundError, MissingCRSError, SampleDataError
from geosoil.spectra.axis import SpectraError, SpectralAxis
from geosoil.spectra.columns import BandColumns, check_quantity, find_band_columns
from geosoil.spectra.resample import resample_spectra

__all__ = ["SampleSet", "read_spectra"]

log = logging.getLogger(__name__)

Quantity = Literal["absorbance", "reflectance"]

# Longitude/latitude column pairs read as WGS84 (EPSG:4326) when no x/y columns are given.
_LONLAT_PAIRS = (("lonwgs84", "latwgs84"), ("longitude", "latitude"), ("lon", "lat"))

# A band column missing in more than this share of the scans is a broken band, not gaps.
_MOSTLY_NAN = 0.5

_READERS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class SampleSet:
    """Spectra of samples, with their sample columns and axis.

    Attributes
    ----------
    frame
        Sample columns, one row per sample (a GeoDataFrame with a CRS when the table had
        coordinates), row ``i`` describing ``spectra[i]``.
    spectra
        float32 array ``(n_samples, n_bands)``.
    axis
        Band positions of the columns of ``spectra``.
    quantity
        ``"absorbance"``, ``"reflectance"`` or None when the naming does not tell.
    source
        The file read, named in errors.
    """

    frame: pd.DataFrame
    spectra: np.ndarray
    axis: SpectralAxis
    quantity: str | None = None
    source: Path | None = None

    def __post_init__(self) -> None:
        if self.spectra.shape != (len(self.frame), len(self.axis)):
            raise SpectraError(
                f"spectra of shape {self.spectra.shape} do not match {len(self.frame)} "
                f"samples on an axis of {len(self.axis)} bands",
                path=self.source,
                field="spectra",
                fix="build the SampleSet with one spectrum row per frame row and one column "
                "per axis band",
            )

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        where = f", source={str(self.source)!r}" if self.source else ""
        return (
            f"SampleSet({len(self)} samples, {self.axis.describe()}, "
            f"quantity={self.quantity!r}{where})"
        )

    @property
    def has_coordinates(self) -> bool:
        return isinstance(self.frame, gpd.GeoDataFrame) and self.frame.crs is not None

    def target(self, column: str, *, positive: bool = False) -> np.ndarray:
        """Values of a sample column as float64, refusing gaps and text.

        Parameters
        ----------
        column
            The target column, e.g. ``"EXKM3S"``.
        positive
            Also refuse zero and negative values (needed by a log10 target transform).

        Raises
        ------
        SampleDataError
            The column is missing (naming the numeric columns), not numeric, has missing
            values (use :meth:`drop_missing`) or, with ``positive``, values <= 0.
        """
        series = self._column(column, kind="target")
        values = pd.to_numeric(series, errors="coerce")
        text = values.isna() & series.notna()
        if text.any():
            row = int(np.flatnonzero(text.to_numpy())[0])
            raise SampleDataError(
                f"target column '{column}' is not numeric (e.g. {series.iloc[row]!r} in row {row})",
                path=self.source,
                field=column,
                fix="clean the column to plain numbers (no units or '<LOD' strings)",
            )
        array = values.to_numpy(dtype=np.float64)
        missing = ~np.isfinite(array)
        if missing.any():
            raise SampleDataError(
                f"target column '{column}' is missing for {int(missing.sum())} of "
                f"{len(array)} samples (first at row {int(np.flatnonzero(missing)[0])})",
                path=self.source,
                field=column,
                fix=f"leave those samples out first: samples.drop_missing('{column}'), or fill "
                "the values in the table",
            )
        if positive and (array <= 0).any():
            bad = np.flatnonzero(array <= 0)
            raise SampleDataError(
                f"target column '{column}' has {bad.size} zero or negative value(s) (first "
                f"{array[bad[0]]:g} at row {int(bad[0])}), which a log10 transform cannot take",
                path=self.source,
                field=column,
                fix="remove those samples (values below detection limit?), or use "
                "target_transform: none",
            )
        return array

    def drop_missing(self, column: str) -> SampleSet:
        """The samples whose ``column`` holds a number (logged: how many were left out)."""
        values = pd.to_numeric(self._column(column, kind="target"), errors="coerce")
        keep = np.isfinite(values.to_numpy(dtype=np.float64))
        if not keep.all():
            log.info(
                "%s: %d of %d samples have no '%s' and are left out",
                self.source or "samples",
                int((~keep).sum()),
                len(keep),
                column,
            )
        return self.subset(keep)

    def groups(self, column: str) -> np.ndarray:
        """Group labels (site, profile, soil order) of every sample.

        Raises
        ------
        SampleDataError
            The column is missing (naming the available ones) or has missing labels.
        """
        series = self._column(column, kind="group")
        missing = series.isna().to_numpy()
        if missing.any():
            raise SampleDataError(
                f"group column '{column}' is empty for {int(missing.sum())} of {len(series)} "
                f"samples (first at row {int(np.flatnonzero(missing)[0])})",
                path=self.source,
                field=column,
                fix="fill the group of every sample, or leave those samples out of the table",
            )
        return series.to_numpy()

    def subset(self, index) -> SampleSet:
        """Samples selected by positions, a boolean mask or a slice (new row numbers)."""
        if isinstance(index, slice):
            rows = np.arange(len(self))[index]
        else:
            rows = np.asarray(index)
            if rows.dtype == bool:
                if rows.shape != (len(self),):
                    raise SampleDataError(
                        f"boolean mask of length {rows.size} for {len(self)} samples",
                        path=self.source,
                        field="index",
                        fix="pass one True/False per sample",
                    )
                rows = np.flatnonzero(rows)
            rows = rows.astype(np.int64, copy=False).reshape(-1)
        return SampleSet(
            frame=self.frame.iloc[rows].reset_index(drop=True),
            spectra=self.spectra[rows],
            axis=self.axis,
            quantity=self.quantity,
            source=self.source,
        )

    def resample(self, to: SpectralAxis) -> SampleSet:
        """The same samples linearly interpolated onto ``to`` (never extrapolated).

        Raises
        ------
        SpectraError
            ``to`` reaches outside the range of this set's axis.
        """
        spectra = resample_spectra(self.spectra, self.axis, to, field="axis")
        return SampleSet(
            frame=self.frame.copy(),
            spectra=spectra.astype(np.float32),
            axis=to,
            quantity=self.quantity,
            source=self.source,
        )

    def _column(self, column: str, *, kind: str) -> pd.Series:
        if column not in self.frame.columns:
            available = [c for c in self.frame.columns if c != "geometry"]
            raise SampleDataError(
                f"{kind} column '{column}' is not in the samples",
                path=self.source,
                field=column,
                fix=f"choose one of the columns: {', '.join(map(str, available))}",
            )
        return self.frame[column]


def read_spectra(
    path: str | Path,
    *,
    id_column: str | None = None,
    average_replicates: bool = True,
    axis_unit: Literal["cm-1", "nm"] | None = None,
    drop_bands: list[str | float] | tuple[str | float, ...] = (),
    drop_nan_bands: bool = False,
    x_column: str | None = None,
    y_column: str | None = None,
    crs: str | None = None,
    quantity: Quantity | None = None,
) -> SampleSet:
    """Read a wide spectra table (CSV or Parquet) into a :class:`SampleSet`.

    Parameters
    ----------
    path
        The table, ``.csv`` or ``.parquet`` (GeoParquet keeps its geometry and CRS).
    id_column
        Sample id; with ``average_replicates`` the scans of one id are averaged into one
        sample and their count kept in a column ``n_scans``.
    average_replicates
        Average the scans sharing an id (their sample columns must agree).
    axis_unit
        ``"cm-1"`` or ``"nm"``: needed for bare numeric band columns (``4000``, ``X4000``),
        checked against the unit of prefixed ones.
    drop_bands
        Band columns to leave out, by name (``"wn_599.8"``) or position (``599.8``).
    drop_nan_bands
        Leave out band columns that are NaN in more than half of the scans (logged);
        otherwise such columns are an error.
    x_column, y_column, crs
        Coordinate columns and their CRS. Without them, ``LONWGS84``/``LATWGS84``,
        ``longitude``/``latitude`` or ``lon``/``lat`` are read as EPSG:4326.
    quantity
        Declare ``"absorbance"`` or ``"reflectance"`` when the naming does not tell;
        checked against the OSSL ``_abs`` / ``_ref`` suffixes.

    Raises
    ------
    InputFileNotFoundError
        The file does not exist.
    SpectraError
        No band columns, mixed naming, a bad axis, mostly-NaN bands, NaN/Inf in scans,
        non-numeric band values.
    SampleDataError
        A missing id/coordinate column, replicate scans that disagree on a sample column.
    MissingCRSError
        x/y columns without a CRS.
    """
    path = Path(path)
    table, metadata = _read_table(path)
    bands = find_band_columns(table.columns, axis_unit=axis_unit, path=path)
    quantity = check_quantity(bands.quantity, quantity, path=path) or _stored_quantity(
        metadata, path
    )
    bands = bands.without(list(drop_bands), path=path)
    X = _band_values(table, list(bands.names), path)
    X, bands = _drop_nan_bands(X, bands, drop=drop_nan_bands, path=path)
    axis = SpectralAxis.from_values(bands.positions, bands.unit, source=path, field="band columns")
    frame = table.drop(columns=list(bands.all_names)).reset_index(drop=True)
    _check_finite_rows(X, frame, id_column, path)
    if id_column is not None:
        _check_column(frame, id_column, path, field="id_column")
        if average_replicates:
            frame, X = _average_replicates(frame, X, id_column, path)
    frame = _with_coordinates(frame, x_column=x_column, y_column=y_column, crs=crs, path=path)
    samples = SampleSet(
        frame=frame, spectra=X.astype(np.float32), axis=axis, quantity=quantity, source=path
    )
    log.info("read %s from %s", samples, path)
    return samples


# -- table and band columns ---------------------------------------------------------------
def _read_table(path: Path) -> tuple[pd.DataFrame, dict[bytes, bytes]]:
    """The table, and its Parquet schema metadata (empty for CSV)."""
    if not path.is_file():
        raise InputFileNotFoundError(
            "spectra table not found", path=path, field="spectra.path", fix="check the path"
        )
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise SpectraError(
            f"unsupported spectra table format '{path.suffix}'",
            path=path,
            field="spectra.path",
            fix="save the table as CSV or Parquet (one row per scan, one column per band)",
        )
    if kind == "parquet":
        import pyarrow.parquet as pq

        metadata = pq.read_schema(path).metadata or {}
        # GeoParquet keeps its geometry and CRS; plain Parquet is a plain table.
        if b"geo" in metadata:
            return gpd.read_parquet(path), metadata
        return pd.read_parquet(path), metadata
    _check_csv_header(path)
    return pd.read_csv(path), {}


def _stored_quantity(metadata: dict[bytes, bytes], path: Path) -> str | None:
    """The quantity a geosoil-written Parquet table records in its ``geosoil`` metadata."""
    header = metadata.get(b"geosoil")
    if header is None:
        return None
    try:
        stored = json.loads(header).get("quantity")
    except (ValueError, AttributeError):
        return None
    return check_quantity(None, stored, path=path) if stored else None


def _check_csv_header(path: Path) -> None:
    """Refuse duplicated column names: pandas would rename them (``wn_4000.1``), turning a
    duplicated band into a band at another position."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    duplicated = [name for name, count in Counter(header).items() if count > 1]
    if duplicated:
        raise SpectraError(
            f"the table has duplicated column names: {duplicated[:5]}",
            path=path,
            field=duplicated[0],
            fix="rename or remove the duplicated columns",
        )


def _band_values(table: pd.DataFrame, names: list[str], path: Path) -> np.ndarray:
    block = table[names]
    try:
        return block.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        for name in names:
            values = pd.to_numeric(block[name], errors="coerce")
            bad = values.isna() & block[name].notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise SpectraError(
                    f"band column '{name}' holds text ({block[name].iloc[row]!r} in row {row})",
                    path=path,
                    field=name,
                    fix="band values must be plain numbers; fix the cells or leave the band out "
                    "with drop_bands",
                ) from None
        raise


def _drop_nan_bands(
    X: np.ndarray, bands: BandColumns, *, drop: bool, path: Path
) -> tuple[np.ndarray, BandColumns]:
    share = np.isnan(X).mean(axis=0) if len(X) else np.zeros(X.shape[1])
    broken = np.flatnonzero(share > _MOSTLY_NAN)
    if not broken.size:
        return X, bands
    names = [bands.names[i] for i in broken]
    listed = ", ".join(f"{n} ({share[i]:.0%} NaN)" for n, i in zip(names[:5], broken, strict=False))
    if not drop:
        raise SpectraError(
            f"{len(names)} band column(s) are mostly NaN: {listed}"
            + (" ..." if len(names) > 5 else ""),
            path=path,
            field=names[0],
            fix=f"leave them out with drop_bands={names[:5]!r} or drop_nan_bands=True "
            "(config: spectra.drop_nan_bands: true)",
        )
    log.warning("%s: leaving out %d mostly-NaN band column(s): %s", path, len(names), listed)
    keep = np.setdiff1d(np.arange(len(bands.names)), broken)
    return X[:, keep], bands.keep(keep.tolist())


def _check_finite_rows(X: np.ndarray, frame: pd.DataFrame, id_column, path: Path) -> None:
    bad = ~np.isfinite(X).all(axis=1)
    if not bad.any():
        return
    rows = np.flatnonzero(bad)
    first = int(rows[0])
    label = ""
    if id_column is not None and id_column in frame.columns:
        label = f", {id_column} {frame[id_column].iloc[first]!r}"
    band_share = (~np.isfinite(X[rows])).any(axis=0)
    raise SpectraError(
        f"{rows.size} of {len(X)} scans hold NaN or Inf (first at row {first}{label}; "
        f"{int(band_share.sum())} band column(s) affected)",
        path=path,
        field="spectra",
        fix="remove those scans from the table, or leave the affected bands out with "
        "drop_bands=[...]",
    )


# -- replicates and coordinates -----------------------------------------------------------
def _check_column(frame: pd.DataFrame, column: str, path: Path, *, field: str) -> None:
    if column not in frame.columns:
        raise SampleDataError(
            f"column '{column}' is not in the table",
            path=path,
            field=field,
            fix=f"choose one of the sample columns: {', '.join(map(str, frame.columns))}",
        )


def _average_replicates(
    frame: pd.DataFrame, X: np.ndarray, id_column: str, path: Path
) -> tuple[pd.DataFrame, np.ndarray]:
    ids = frame[id_column]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise SampleDataError(
            f"id column '{id_column}' is empty for {int(ids.isna().sum())} scan(s) (first at "
            f"row {row})",
            path=path,
            field=id_column,
            fix="give every scan its sample id",
        )
    codes, uniques = pd.factorize(ids, sort=False)
    first = np.zeros(len(uniques), dtype=np.int64)
    # Reversed assignment leaves the first occurrence of each code.
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    for column in frame.columns:
        if column == id_column:
            continue
        values = frame[column]
        reference = values.iloc[first[codes]].reset_index(drop=True)
        differs = ~_agree(values.reset_index(drop=True), reference)
        if differs.any():
            row = int(np.flatnonzero(differs)[0])
            raise SampleDataError(
                f"replicate scans of sample {ids.iloc[row]!r} disagree on '{column}' "
                f"({reference.iloc[row]!r} vs {values.iloc[row]!r})",
                path=path,
                field=column,
                fix=f"check that '{id_column}' identifies one sample; if it does, make "
                f"'{column}' agree within a sample (or remove it from the table); or set "
                "average_replicates=False to keep the scans apart",
            )
    counts = np.bincount(codes, minlength=len(uniques))
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    means = np.add.reduceat(X[order], starts, axis=0) / counts[:, None]
    out = frame.iloc[first].reset_index(drop=True)
    if "n_scans" in out.columns:
        raise SampleDataError(
            "the table already has a column 'n_scans' (an already-averaged table?), which "
            "averaging replicate scans would overwrite",
            path=path,
            field="n_scans",
            fix="if the table is already averaged, set average_replicates: false in the "
            "spectra section; otherwise rename the 'n_scans' column",
        )
    out["n_scans"] = counts
    n_replicated = int((counts > 1).sum())
    if n_replicated:
        log.info(
            "%s: averaged %d scans into %d samples (%d with replicates)",
            path,
            len(codes),
            len(uniques),
            n_replicated,
        )
    return out, means


def _agree(values: pd.Series, reference: pd.Series) -> np.ndarray:
    both_missing = (values.isna() & reference.isna()).to_numpy()
    if pd.api.types.is_float_dtype(values):
        a = values.to_numpy(dtype=np.float64)
        b = reference.to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            same = np.isclose(a, b, rtol=1e-9, atol=0.0)
    else:
        same = (values == reference).to_numpy(dtype=bool)
    return same | both_missing


def _with_coordinates(
    frame: pd.DataFrame,
    *,
    x_column: str | None,
    y_column: str | None,
    crs: str | None,
    path: Path,
) -> pd.DataFrame:
    if (x_column is None) != (y_column is None):
        raise SampleDataError(
            "give both x_column and y_column, or neither",
            path=path,
            field="x_column" if x_column is None else "y_column",
            fix="set both coordinate columns",
        )
    if isinstance(frame, gpd.GeoDataFrame):
        if x_column is not None or crs is not None:
            raise SampleDataError(
                "the table is GeoParquet with its own geometry and CRS; x_column, y_column "
                "and crs apply to plain tables only",
                path=path,
                field="x_column" if x_column is not None else "crs",
                fix="drop x_column, y_column and crs",
            )
        if frame.crs is None:
            raise MissingCRSError(
                "the GeoParquet table has no CRS",
                path=path,
                field="crs",
                fix="write the file with a CRS (GeoDataFrame.set_crs before to_parquet)",
            )
        return frame
    if x_column is None:
        lowered = {str(c).lower(): c for c in frame.columns}
        pair = next(
            ((lowered[x], lowered[y]) for x, y in _LONLAT_PAIRS if x in lowered and y in lowered),
            None,
        )
        if pair is None:
            if crs is not None:
                raise SampleDataError(
                    "crs is given but no coordinate columns were found",
                    path=path,
                    field="crs",
                    fix="set x_column and y_column, or drop crs",
                )
            return frame
        x_column, y_column = pair
        if crs is None:
            crs = "EPSG:4326"
        _check_lonlat(frame, x_column, y_column, crs, path)
    else:
        for column, field in ((x_column, "x_column"), (y_column, "y_column")):
            _check_column(frame, column, path, field=field)
        if crs is None:
            raise MissingCRSError(
                f"coordinate columns '{x_column}'/'{y_column}' are given without a CRS",
                path=path,
                field="crs",
                fix="pass crs, e.g. crs='EPSG:4326' for longitude/latitude",
            )
    x = pd.to_numeric(frame[x_column], errors="coerce").to_numpy(dtype=np.float64)
    y = pd.to_numeric(frame[y_column], errors="coerce").to_numpy(dtype=np.float64)
    missing = ~(np.isfinite(x) & np.isfinite(y))
    if missing.any():
        log.warning(
            "%s: %d of %d samples have no coordinates (first at row %d); their geometry is empty",
            path,
            int(missing.sum()),
            len(x),
            int(np.flatnonzero(missing)[0]),
        )
    geometry = gpd.points_from_xy(x, y)
    geometry[missing] = None
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=crs)


def _check_lonlat(frame: pd.DataFrame, x_column: str, y_column: str, crs, path: Path) -> None:
    if str(crs).upper() not in ("EPSG:4326", "OGC:CRS84"):
        return
    lon = pd.to_numeric(frame[x_column], errors="coerce")
    lat = pd.to_numeric(frame[y_column], errors="coerce")
    for values, column, limit in ((lon, x_column, 180.0), (lat, y_column, 90.0)):
        outside = values.abs() > limit
        if outside.any():
            row = int(np.flatnonzero(outside.to_numpy())[0])
            raise SampleDataError(
                f"column '{column}' read as degrees holds {values.iloc[row]:g} (row {row}), "
                f"outside +-{limit:g}",
                path=path,
                field=column,
                fix="check that these columns are longitude/latitude, or set x_column, "
                "y_column and crs explicitly",
            )
