"""SOC profiles with the covariates and CLM5 forcings a BINN or ScIReN model needs.

:func:`read_binn_ny` reads the ``binn_ny`` layout (WoSIS profiles in New York State with
CESM2/CLM5 forcings, see ``data/real/binn_ny/README.md``): comma-separated text files without
header and ``.npy`` arrays, one row per profile (training) or per grid cell (prediction).
:func:`write_profile_folder` writes the same layout, so tests and the synthetic world can
build small folders. Both go through :class:`ProfileSet`, which checks that its arrays agree.

Forcing arrays, by name (``n`` profiles, 20 CLM5 soil layers, 12 months):

=================== ============ ==========================================================
name                shape        meaning
=================== ============ ==========================================================
``inputs_cwd``      (n, 12)      carbon input to coarse woody debris, per month, integrated
                                 over the column (g C m-2 per month: the twelve values sum
                                 to the annual input)
``inputs_litter1``  (n, 12)      the same for litter pools 1 to 3 (metabolic, cellulose,
``inputs_litter2``               lignin)
``inputs_litter3``
``altmax_lastyear`` (n, 12)      maximum active-layer depth of last year, m (41.998 m, the
                                 bottom of the CLM5 column, means no permafrost)
``altmax_current``  (n, 12)      the same for the current year, m
``nbedrock``        (n,)         1-based index of the bedrock layer (constant over the
                                 months in the files, which repeat it 12 times)
``xio``             (n, 20, 12)  oxygen scalar per layer and month
``xin``             (n, 20, 12)  nitrogen scalar per layer and month
``sand``            (n, 20, 12)  sand content per layer, %
``soil_temp_k``     (n, 20, 12)  soil temperature per layer and month, K
``soil_water``      (n, 20, 12)  soil water scalar per layer and month
=================== ============ ==========================================================
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from geosoil.errors import ConfigError, InputFileNotFoundError, OutputExistsError, SampleDataError
from geosoil.io.writers import write_bytes_atomic

__all__ = [
    "CATEGORICAL_COLUMNS",
    "ENV_COLUMNS",
    "FORCING_SHAPES",
    "N_LAYERS",
    "N_MONTHS",
    "ProfileSet",
    "forcing_band_names",
    "forcing_entries",
    "forcings_from_bands",
    "read_binn_ny",
    "write_profile_folder",
]

log = logging.getLogger(__name__)

N_LAYERS = 20
N_MONTHS = 12

ENV_COLUMNS: tuple[str, ...] = (
    "Lon", "Lat", "ESA_Land_Cover",
    "BIO1", "BIO2", "BIO3", "BIO4", "BIO12", "BIO15",
    "Bulk_Density_0cm", "Bulk_Density_30cm", "Bulk_Density_100cm",
    "CEC_0cm", "CEC_30cm", "CEC_100cm",
    "Clay_Content_0cm", "Clay_Content_30cm", "Clay_Content_100cm",
    "Coarse_Fragments_v_0cm", "Coarse_Fragments_v_30cm", "Coarse_Fragments_v_100cm",
    "pH_Water_0cm", "pH_Water_30cm", "pH_Water_100cm",
    "Silt_Content_0cm", "Silt_Content_30cm", "Silt_Content_100cm",
    "SWC_v_Wilting_Point_0cm", "SWC_v_Wilting_Point_30cm", "SWC_v_Wilting_Point_100cm",
    "Texture_USDA_0cm", "Texture_USDA_30cm", "Texture_USDA_100cm",
    "USDA_Suborder", "WRB_Subgroup", "Elevation", "Koppen_Climate_2018", "nbedrock",
)  # fmt: skip
CATEGORICAL_COLUMNS: tuple[str, ...] = (
    "ESA_Land_Cover",
    "Texture_USDA_0cm",
    "Texture_USDA_30cm",
    "Texture_USDA_100cm",
    "USDA_Suborder",
    "WRB_Subgroup",
)
# Coordinates are kept in degrees by min-max scaling, as in the BINN code.
_UNSCALED_CONTINUOUS = ("Lon", "Lat")

# Trailing shape of each forcing after the profile axis.
FORCING_SHAPES: dict[str, tuple[int, ...]] = {
    "inputs_cwd": (N_MONTHS,),
    "inputs_litter1": (N_MONTHS,),
    "inputs_litter2": (N_MONTHS,),
    "inputs_litter3": (N_MONTHS,),
    "altmax_lastyear": (N_MONTHS,),
    "altmax_current": (N_MONTHS,),
    "nbedrock": (),
    "xio": (N_LAYERS, N_MONTHS),
    "xin": (N_LAYERS, N_MONTHS),
    "sand": (N_LAYERS, N_MONTHS),
    "soil_temp_k": (N_LAYERS, N_MONTHS),
    "soil_water": (N_LAYERS, N_MONTHS),
}
_INPUT_FORCINGS = ("inputs_cwd", "inputs_litter1", "inputs_litter2", "inputs_litter3")
# File name (after the part's prefix) of each forcing.
_FORCING_FILES = {
    "inputs_cwd": "input_vector_cwd.txt",
    "inputs_litter1": "input_vector_litter1.txt",
    "inputs_litter2": "input_vector_litter2.txt",
    "inputs_litter3": "input_vector_litter3.txt",
    "altmax_lastyear": "altmax_lastyear_profile.txt",
    "altmax_current": "altmax_current_profile.txt",
    "nbedrock": "nbedrock.txt",
    "xio": "xio.npy",
    "xin": "xin.npy",
    "sand": "sand_vector.npy",
    "soil_temp_k": "soil_temp_profile.npy",
    "soil_water": "soil_water_profile.npy",
}
_RANGES_FILE = "col_max_min.txt"
_SHOWN_IDS = 10  # profile ids quoted in a message or a log line


@dataclass(frozen=True)
class _Layout:
    folder: str
    ids: str
    covariates: str
    forcing_prefix: str
    soc: str | None = None
    depth: str | None = None


_LAYOUTS = {
    "training": _Layout(
        "Training_Data",
        "profile_id.txt",
        "env_info.txt",
        "model_force_",
        "obs_soc_NY.txt",
        "obs_soc_depth.txt",
    ),
    "prediction": _Layout(
        "Prediction_Data", "grid_env_info_ID.txt", "grid_env_info_NY.txt", "model_force_pred_"
    ),
}


@dataclass(frozen=True, eq=False)
class ProfileSet:
    """Profiles (or grid cells) with covariates, process-model forcings and observations.

    Parameters
    ----------
    profile_id
        (n,) int64 identifiers (WoSIS profile ids, or grid cell ids for prediction).
    covariates
        n rows, one column per covariate, in the order a model expects them.
    forcings
        Arrays named and shaped as in :data:`FORCING_SHAPES` (see the module docstring).
    categorical
        Covariate columns holding integer class codes.
    soc
        (n, m) observed SOC density, g C m-3, NaN-padded after each profile's last
        observation; None for prediction cells.
    depth_m
        (n, m) depth of each observation, m, NaN exactly where ``soc`` is.
    covariate_ranges
        (n_covariates, 2) minimum and maximum of each covariate for min-max scaling, or None.

    Notes
    -----
    Construction checks that the arrays agree in shape; what to do with missing values is
    left to the readers.
    """

    profile_id: np.ndarray
    covariates: pd.DataFrame
    forcings: Mapping[str, np.ndarray]
    categorical: list[str] = field(default_factory=list)
    soc: np.ndarray | None = None
    depth_m: np.ndarray | None = None
    covariate_ranges: np.ndarray | None = None

    def __post_init__(self) -> None:
        _check_profile_set(self)

    @property
    def n_profiles(self) -> int:
        return len(self.profile_id)

    @property
    def has_observations(self) -> bool:
        """True for training profiles (with ``soc`` and ``depth_m``)."""
        return self.soc is not None

    def observation_counts(self) -> np.ndarray:
        """Valid observations per profile, (n,) int; zeros for prediction cells."""
        if self.soc is None:
            return np.zeros(self.n_profiles, dtype=np.int64)
        return np.isfinite(self.soc).sum(axis=1)

    def non_increasing_depth_ids(self) -> np.ndarray:
        """Ids of profiles whose observation depths do not strictly increase along the row.

        The order does not matter to a model that interpolates its simulated profile at
        each observation depth; it flags repeated or shuffled layers in the source data.
        """
        if self.depth_m is None:
            return np.zeros(0, dtype=np.int64)
        flagged = [np.any(np.diff(row[np.isfinite(row)]) <= 0) for row in np.asarray(self.depth_m)]
        return self.profile_id[np.asarray(flagged, dtype=bool)]

    def annual_input_g_c_m2(self) -> np.ndarray:
        """Annual carbon input to CWD and litter, g C m-2 yr-1 (the 12 months summed)."""
        return sum(self.forcings[name].sum(axis=1) for name in _INPUT_FORCINGS)

    def scaled_covariates(
        self, *, unscaled: Sequence[str] | None = None, clip: bool = True
    ) -> pd.DataFrame:
        """Covariates min-max scaled by ``covariate_ranges``.

        Parameters
        ----------
        unscaled
            Columns left as they are; by default the categorical ones and ``Lon``/``Lat``.
        clip
            Clip scaled values to [0, 1], as the BINN code does for values outside the
            ranges.
        """
        if self.covariate_ranges is None:
            raise SampleDataError(
                "this profile set has no covariate ranges to scale with",
                field="covariate_ranges",
                fix=f"read it from a folder with Training_Data/{_RANGES_FILE}, or pass ranges",
            )
        if unscaled is None:
            unscaled = [*self.categorical, *_UNSCALED_CONTINUOUS]
        table = self.covariates.copy()
        for position, name in enumerate(self.covariates.columns):
            if name in unscaled:
                continue
            low, high = self.covariate_ranges[position]
            span = high - low if high > low else 1.0
            values = (table[name].to_numpy(dtype=np.float64) - low) / span
            table[name] = np.clip(values, 0.0, 1.0) if clip else values
        return table

    def subset(self, rows: np.ndarray | Sequence[int]) -> ProfileSet:
        """The profiles selected by a boolean mask or integer positions."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        observed = self.soc is not None
        return ProfileSet(
            profile_id=self.profile_id[rows],
            covariates=self.covariates.iloc[rows].reset_index(drop=True),
            forcings={name: values[rows] for name, values in self.forcings.items()},
            categorical=list(self.categorical),
            soc=self.soc[rows] if observed else None,
            depth_m=self.depth_m[rows] if observed else None,
            covariate_ranges=self.covariate_ranges,
        )


def read_binn_ny(
    folder: str | Path,
    *,
    part: Literal["training", "prediction"] = "training",
    drop_incomplete: bool = False,
    drop_empty: bool = False,
) -> ProfileSet:
    """Read the training profiles or the prediction cells of a ``binn_ny`` folder.

    Parameters
    ----------
    folder
        The folder holding ``Training_Data/`` and ``Prediction_Data/``.
    part
        ``"training"`` (profiles with SOC observations) or ``"prediction"`` (grid cells).
    drop_incomplete
        Drop rows with a missing covariate or forcing value (logged with their ids) instead
        of refusing them.
    drop_empty
        Drop training profiles without any valid SOC observation (logged) instead of
        refusing them.

    Returns
    -------
    ProfileSet
        Covariates in :data:`ENV_COLUMNS` order with :data:`CATEGORICAL_COLUMNS` as int64
        codes; ``covariate_ranges`` from ``Training_Data/col_max_min.txt`` (for the
        prediction part too, when that file is there).

    Raises
    ------
    InputFileNotFoundError
        A file of the layout is missing.
    SampleDataError
        A file has the wrong shape or cannot be parsed; SOC and depth disagree on which
        entries are missing, or are negative; a forcing or covariate is missing (unless
        ``drop_incomplete``); a profile has no observation (unless ``drop_empty``);
        ``nbedrock`` varies over the months or is not a layer index.

    Notes
    -----
    Profiles whose observation depths do not strictly increase are kept as they are and
    counted in a warning (:meth:`ProfileSet.non_increasing_depth_ids` lists them).
    """
    if part not in _LAYOUTS:
        raise ConfigError(
            f"unknown part {part!r}", field="part", fix="use 'training' or 'prediction'"
        )
    layout = _LAYOUTS[part]
    root = Path(folder)
    base = root / layout.folder
    if not base.is_dir():
        raise InputFileNotFoundError(
            f"no {layout.folder}/ folder for the {part} part",
            path=base,
            field="part",
            fix="point folder at the binn_ny directory that holds Training_Data/ and "
            "Prediction_Data/",
        )
    ids = _read_array(base / layout.ids, "profile_id")
    n = len(ids)
    _expect_shape(ids, (n, 1), base / layout.ids, "profile_id", "one id per line")
    ids = _whole_numbers(ids[:, 0], base / layout.ids, "profile_id")
    covariates = _read_array(base / layout.covariates, "covariates")
    _expect_shape(
        covariates,
        (n, len(ENV_COLUMNS)),
        base / layout.covariates,
        "covariates",
        f"one row per id in {layout.ids}, {len(ENV_COLUMNS)} covariate columns",
    )
    forcings = {name: _read_forcing(base, layout, name, n) for name in FORCING_SHAPES}
    soc = depth = None
    if layout.soc is not None:
        soc, depth = _read_observations(base, layout, n)
    ranges_path = root / _LAYOUTS["training"].folder / _RANGES_FILE
    ranges = None
    if part == "training" or ranges_path.is_file():
        ranges = _read_array(ranges_path, "covariate_ranges")
        _expect_shape(
            ranges,
            (len(ENV_COLUMNS), 2),
            ranges_path,
            "covariate_ranges",
            "one (min, max) row per covariate",
        )

    keep = _incomplete_rows(ids, covariates, forcings, base, layout, drop=drop_incomplete)
    if soc is not None:
        keep &= _nonempty_rows(ids, soc, keep, base / layout.soc, drop=drop_empty)
    forcings = {name: values[keep] for name, values in forcings.items()}
    forcings["nbedrock"] = _bedrock_index(
        forcings["nbedrock"], base / _forcing_name(layout, "nbedrock")
    )
    table = pd.DataFrame(covariates[keep], columns=list(ENV_COLUMNS))
    for name in CATEGORICAL_COLUMNS:
        table[name] = _whole_numbers(table[name].to_numpy(), base / layout.covariates, name)
    profiles = ProfileSet(
        profile_id=ids[keep],
        covariates=table,
        forcings=forcings,
        categorical=list(CATEGORICAL_COLUMNS),
        soc=soc[keep] if soc is not None else None,
        depth_m=depth[keep] if depth is not None else None,
        covariate_ranges=ranges,
    )
    shuffled = profiles.non_increasing_depth_ids()
    if len(shuffled):
        log.warning(
            "%d of %d profiles have observation depths that do not strictly increase "
            "(repeated or unordered layers), kept as they are: ids %s",
            len(shuffled),
            profiles.n_profiles,
            _shown(shuffled),
        )
    log.info("read %d %s rows from %s", profiles.n_profiles, part, base)
    return profiles


def write_profile_folder(
    profiles: ProfileSet, folder: str | Path, *, overwrite: bool = False
) -> Path:
    """Write a profile set in the ``binn_ny`` layout that :func:`read_binn_ny` reads.

    Profiles with observations go to ``folder/Training_Data``, others to
    ``folder/Prediction_Data``; ``covariate_ranges``, when set, to
    ``Training_Data/col_max_min.txt``. Text files hold 19 significant digits, so float64
    values read back exactly. Returns the part's folder.

    Raises
    ------
    SampleDataError
        The covariates are not the :data:`ENV_COLUMNS` of the layout.
    OutputExistsError
        A file to write exists and ``overwrite`` is False.
    """
    if list(profiles.covariates.columns) != list(ENV_COLUMNS):
        raise SampleDataError(
            "the binn_ny layout has no header, so the covariates must be its 38 columns",
            field="covariates",
            fix="order the covariate columns as geosoil.io.profiles.ENV_COLUMNS",
        )
    part = "training" if profiles.has_observations else "prediction"
    layout = _LAYOUTS[part]
    base = Path(folder) / layout.folder
    n = profiles.n_profiles
    files: dict[Path, np.ndarray] = {
        base / layout.ids: profiles.profile_id[:, None].astype(np.float64),
        base / layout.covariates: profiles.covariates.to_numpy(dtype=np.float64),
    }
    if profiles.soc is not None:
        files[base / layout.soc] = profiles.soc
        files[base / layout.depth] = profiles.depth_m
    for name in FORCING_SHAPES:
        values = profiles.forcings[name].astype(np.float64)
        if name == "nbedrock":
            values = np.repeat(values[:, None], N_MONTHS, axis=1)
        files[base / _forcing_name(layout, name)] = values
    if profiles.covariate_ranges is not None:
        ranges_path = Path(folder) / _LAYOUTS["training"].folder / _RANGES_FILE
        files[ranges_path] = profiles.covariate_ranges
    taken = [path for path in files if path.exists()]
    if taken and not overwrite:
        raise OutputExistsError(
            f"{len(taken)} file(s) of the layout exist already, e.g. {taken[0].name}",
            path=taken[0].parent,
            fix="choose an empty folder or pass overwrite=True",
        )
    for path, values in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, _encode(path, values))
    log.info("wrote %d %s rows to %s", n, part, base)
    return base


# --------------------------------------------------------------------------- reading
def _read_array(path: Path, field_name: str) -> np.ndarray:
    """A float64 array from a headerless comma-separated text file (2-D) or a ``.npy``."""
    if not path.is_file():
        raise InputFileNotFoundError(
            f"missing {path.name}",
            path=path,
            field=field_name,
            fix="restore the file, or point folder at a complete binn_ny directory",
        )
    try:
        if path.suffix == ".npy":
            return np.asarray(np.load(path, allow_pickle=False), dtype=np.float64)
        with warnings.catch_warnings():
            # an empty file is reported below as a shape error, with the expected shape
            warnings.simplefilter("ignore", UserWarning)
            return np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
    except (ValueError, OSError, EOFError) as err:
        raise SampleDataError(
            f"cannot read {path.name} as numbers ({err})",
            path=path,
            field=field_name,
            fix="write comma-separated numbers without header (nan for missing) or a .npy array",
        ) from err


def _expect_shape(
    values: np.ndarray, shape: tuple[int, ...], path: Path, field_name: str, meaning: str
) -> None:
    if values.shape != shape:
        raise SampleDataError(
            f"{path.name} has shape {values.shape}, expected {shape}: {meaning}",
            path=path,
            field=field_name,
            fix="write one row per profile, in the same order in every file of the folder",
        )


def _forcing_name(layout: _Layout, name: str) -> str:
    return layout.forcing_prefix + _FORCING_FILES[name]


def _read_forcing(base: Path, layout: _Layout, name: str, n: int) -> np.ndarray:
    path = base / _forcing_name(layout, name)
    values = _read_array(path, f"forcings.{name}")
    # nbedrock is stored like the monthly forcings, repeated for each month
    trailing = FORCING_SHAPES[name] or (N_MONTHS,)
    axes = "12 months" if len(trailing) == 1 else f"{N_LAYERS} layers x {N_MONTHS} months"
    _expect_shape(values, (n, *trailing), path, f"forcings.{name}", f"{n} profiles x {axes}")
    return values


def _read_observations(base: Path, layout: _Layout, n: int) -> tuple[np.ndarray, np.ndarray]:
    soc_path, depth_path = base / layout.soc, base / layout.depth
    soc = _read_array(soc_path, "soc")
    depth = _read_array(depth_path, "depth_m")
    _expect_shape(soc, (n, soc.shape[1]), soc_path, "soc", f"one row per id in {layout.ids}")
    _expect_shape(depth, soc.shape, depth_path, "depth_m", f"the shape of {soc_path.name}")
    disagree = np.isfinite(soc) != np.isfinite(depth)
    if disagree.any():
        rows = np.flatnonzero(disagree.any(axis=1))
        raise SampleDataError(
            f"{np.count_nonzero(disagree)} entries have a SOC value without a depth or a "
            f"depth without a SOC value, in {len(rows)} profiles (rows {_shown(rows)})",
            path=depth_path,
            field="depth_m",
            fix=f"give every observation both its SOC density in {soc_path.name} and its "
            "depth, or NaN in both",
        )
    for values, path, name in ((soc, soc_path, "soc"), (depth, depth_path, "depth_m")):
        negative = np.count_nonzero(values < 0)
        if negative:
            raise SampleDataError(
                f"{negative} negative values in {path.name}",
                path=path,
                field=name,
                fix="SOC density (g C m-3) and depth (m, positive downwards) are >= 0",
            )
    return soc, depth


def _incomplete_rows(
    ids: np.ndarray,
    covariates: np.ndarray,
    forcings: dict[str, np.ndarray],
    base: Path,
    layout: _Layout,
    *,
    drop: bool,
) -> np.ndarray:
    """Mask of rows with every covariate and forcing finite; refuses the others unless drop."""
    missing_covariates = ~np.isfinite(covariates).all(axis=1)
    bad_forcings = {
        name: ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        for name, values in forcings.items()
    }
    missing_forcings = np.logical_or.reduce(list(bad_forcings.values()))
    incomplete = missing_covariates | missing_forcings
    if not incomplete.any():
        return np.ones(len(ids), dtype=bool)
    named = [name for name, rows in bad_forcings.items() if rows.any()]
    columns = [ENV_COLUMNS[c] for c in np.flatnonzero(~np.isfinite(covariates).all(axis=0))]
    summary = (
        f"{np.count_nonzero(incomplete)} of {len(ids)} rows with missing values "
        f"({np.count_nonzero(missing_forcings)} in forcings {named}, "
        f"{np.count_nonzero(missing_covariates)} in covariates {columns[:5]}"
        f"{' ...' if len(columns) > 5 else ''}; ids {_shown(ids[incomplete])})"
    )
    if not drop:
        first = named[0] if named else None
        raise SampleDataError(
            summary,
            path=base / (_forcing_name(layout, first) if first else layout.covariates),
            field=f"forcings.{first}" if first else "covariates",
            fix="fill the missing values, or pass drop_incomplete=True to drop those rows",
        )
    log.info("dropped %s", summary)
    return ~incomplete


def _nonempty_rows(
    ids: np.ndarray, soc: np.ndarray, keep: np.ndarray, path: Path, *, drop: bool
) -> np.ndarray:
    """Mask of profiles with at least one observation; refuses empty ones unless drop."""
    empty = ~np.isfinite(soc).any(axis=1) & keep
    if not empty.any():
        return np.ones(len(ids), dtype=bool)
    summary = (
        f"{np.count_nonzero(empty)} of {len(ids)} profiles without any valid SOC "
        f"observation (ids {_shown(ids[empty])})"
    )
    if not drop:
        raise SampleDataError(
            summary,
            path=path,
            field="soc",
            fix="remove those profiles, or pass drop_empty=True to drop them",
        )
    log.info("dropped %s", summary)
    return ~empty


def _bedrock_index(monthly: np.ndarray, path: Path) -> np.ndarray:
    """(n,) int64 bedrock layer index from the (n, 12) monthly copies."""
    varying = np.flatnonzero((monthly != monthly[:, :1]).any(axis=1))
    if len(varying):
        raise SampleDataError(
            f"nbedrock changes between months in {len(varying)} rows (rows {_shown(varying)})",
            path=path,
            field="forcings.nbedrock",
            fix="give one bedrock layer per profile, repeated for the 12 months",
        )
    index = _whole_numbers(monthly[:, 0], path, "forcings.nbedrock")
    outside = np.count_nonzero((index < 1) | (index > N_LAYERS))
    if outside:
        raise SampleDataError(
            f"{outside} nbedrock values are not a layer index 1 to {N_LAYERS}",
            path=path,
            field="forcings.nbedrock",
            fix=f"use the 1-based index of the bedrock layer, 1 to {N_LAYERS}",
        )
    return index


def _whole_numbers(values: np.ndarray, path: Path, field_name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    fractional = ~np.isfinite(values) | (values != np.round(values))
    if fractional.any():
        raise SampleDataError(
            f"{np.count_nonzero(fractional)} values of {field_name} are not whole numbers",
            path=path,
            field=field_name,
            fix="use integer codes (ids, class codes, layer indices)",
        )
    return values.astype(np.int64)


# --------------------------------------------------------------------------- writing
def _encode(path: Path, values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    if path.suffix == ".npy":
        np.save(buffer, np.ascontiguousarray(values, dtype=np.float64), allow_pickle=False)
    else:
        np.savetxt(buffer, np.asarray(values, dtype=np.float64), fmt="%.18e", delimiter=",")
    return buffer.getvalue()


# ------------------------------------------------------------------------ validation
def _check_profile_set(profiles: ProfileSet) -> None:
    ids = np.asarray(profiles.profile_id)
    if ids.ndim != 1:
        _inconsistent(f"profile_id must be 1-D, got shape {ids.shape}", "profile_id")
    n = len(ids)
    if not isinstance(profiles.covariates, pd.DataFrame) or len(profiles.covariates) != n:
        _inconsistent(f"covariates must be a DataFrame with {n} rows", "covariates")
    unknown = [c for c in profiles.categorical if c not in profiles.covariates.columns]
    if unknown:
        _inconsistent(f"categorical columns {unknown} are not covariates", "categorical")
    names = set(profiles.forcings)
    if names != set(FORCING_SHAPES):
        _inconsistent(
            f"forcings lack {sorted(set(FORCING_SHAPES) - names)} and have unknown "
            f"{sorted(names - set(FORCING_SHAPES))}",
            "forcings",
        )
    for name, trailing in FORCING_SHAPES.items():
        shape = np.shape(profiles.forcings[name])
        if shape != (n, *trailing):
            _inconsistent(
                f"forcing {name} has shape {shape}, expected {(n, *trailing)}", f"forcings.{name}"
            )
    if (profiles.soc is None) != (profiles.depth_m is None):
        _inconsistent("soc and depth_m go together: give both or neither", "depth_m")
    if profiles.soc is not None:
        soc_shape, depth_shape = np.shape(profiles.soc), np.shape(profiles.depth_m)
        if len(soc_shape) != 2 or soc_shape[0] != n or depth_shape != soc_shape:
            _inconsistent(f"soc {soc_shape} and depth_m {depth_shape} must both be ({n}, m)", "soc")
    if profiles.covariate_ranges is not None:
        expected = (profiles.covariates.shape[1], 2)
        if np.shape(profiles.covariate_ranges) != expected:
            _inconsistent(
                f"covariate_ranges has shape {np.shape(profiles.covariate_ranges)}, "
                f"expected {expected}",
                "covariate_ranges",
            )


def _inconsistent(message: str, field_name: str) -> None:
    raise SampleDataError(
        message,
        field=field_name,
        fix="build every array with one row per profile, in the same order",
    )


def _shown(values: np.ndarray) -> str:
    values = np.asarray(values)
    text = ", ".join(str(v) for v in values[:_SHOWN_IDS])
    return text + (f", ... ({len(values)} in all)" if len(values) > _SHOWN_IDS else "")


# ----------------------------------------------------------------- forcings per pixel
def forcing_entries() -> list[tuple[str, str, int, int]]:
    """(band name, forcing, layer, month) in band-name order; layer/month 1-based or 0."""
    entries = []
    for name, trailing in FORCING_SHAPES.items():
        if trailing == ():
            entries.append((name, name, 0, 0))
        elif len(trailing) == 1:
            entries += [(f"{name}_m{m:02d}", name, 0, m) for m in range(1, N_MONTHS + 1)]
        else:
            entries += [
                (f"{name}_l{layer:02d}_m{m:02d}", name, layer, m)
                for layer in range(1, N_LAYERS + 1)
                for m in range(1, N_MONTHS + 1)
            ]
    return entries


def forcing_band_names() -> list[str]:
    """Names of every forcing value of a pixel, in ``FORCING_SHAPES`` order (1,273 names).

    ``<forcing>_m01..m12`` for monthly columns, ``nbedrock``, and
    ``<forcing>_l01_m01..l20_m12`` (layer-major) for per-layer monthly fields.
    """
    return [entry[0] for entry in forcing_entries()]


def forcings_from_bands(values: np.ndarray) -> dict[str, np.ndarray]:
    """Forcing arrays (``FORCING_SHAPES``) from a (pixels, bands) matrix.

    Parameters
    ----------
    values
        One row per pixel, one column per name of :func:`forcing_band_names`, in that
        order (e.g. read through a catalog of forcing rasters).

    Returns
    -------
    dict of str to numpy.ndarray
        float64 arrays; ``nbedrock`` int64.

    Raises
    ------
    SampleDataError
        Wrong number of columns, or a ``nbedrock`` that is not a whole number.
    """
    values = np.asarray(values, dtype=np.float64)
    n_bands = len(forcing_band_names())
    if values.ndim != 2 or values.shape[1] != n_bands:
        raise SampleDataError(
            f"forcing matrix has shape {values.shape}, expected (pixels, {n_bands})",
            field="forcings",
            fix="read the forcing layers in the order of forcing_band_names()",
        )
    out: dict[str, np.ndarray] = {}
    column = 0
    for name, trailing in FORCING_SHAPES.items():
        width = math.prod(trailing) if trailing else 1
        block = values[:, column : column + width]
        column += width
        if not trailing:
            whole = np.isfinite(block[:, 0]) & (block[:, 0] == np.round(block[:, 0]))
            if not whole.all():
                raise SampleDataError(
                    f"{np.count_nonzero(~whole)} nbedrock values are not whole layer indices",
                    field="forcings.nbedrock",
                    fix="drop nodata pixels before reshaping",
                )
            out[name] = block[:, 0].astype(np.int64)
        else:
            out[name] = block.reshape(len(values), *trailing)
    return out
