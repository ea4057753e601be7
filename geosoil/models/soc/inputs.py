"""Inputs of :class:`~geosoil.models.soc.binn.BINN`: parameters, observations, covariates, forcings.

Everything a fit validates before it learns lives here, as plain functions; the covariate
encoder is the shared :class:`~geosoil.models.encoding.CovariateEncoder`, scaled min-max.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from geosoil.errors import ConfigError, CovariateError, SampleDataError
from geosoil.io.profiles import ProfileSet
from geosoil.models.base import check_choice
from geosoil.models.encoding import CovariateEncoder
from geosoil.process import CLM5_PARAMETERS, PARAMETER_NAMES, Clm5Forcings
from geosoil.process.clm5_grid import COLUMN_BOTTOM_M
from geosoil.process.parameters import check_within_bounds

__all__ = [
    "check_profile_settings",
    "covariate_names",
    "encode_profiles",
    "forcings_from_profiles",
    "learn_coding",
    "resolve_parameters",
    "scaled_medians",
    "usable_profiles",
]

log = logging.getLogger(__name__)

_SPEC = {p.name: p for p in CLM5_PARAMETERS}
_SHOWN = 10


def check_profile_settings(model: Any) -> None:
    """Refuse bad settings shared by the profile models (BINN, ScIReN, PRODA).

    ``unseen_categories``, ``below_column``, ``scale_from`` and ``valid_fraction``.
    """
    check_choice(model.unseen_categories, ("error", "mean"), "params.unseen_categories")
    check_choice(model.below_column, ("error", "ignore"), "params.below_column")
    check_choice(model.scale_from, ("training", "ranges"), "params.scale_from")
    if not 0.0 <= float(model.valid_fraction) < 1.0:
        raise ConfigError(
            f"valid_fraction={model.valid_fraction!r} is outside [0, 1)",
            field="params.valid_fraction",
            fix="use e.g. 0.1, or 0 to select on the training set",
        )


def resolve_parameters(
    learned_parameters: Sequence[str] | None, fixed_parameters: Mapping[str, float] | None
) -> tuple[list[str], dict[str, float]]:
    """Learned names (table order) and every fixed parameter's physical value.

    Parameters neither learned nor given are fixed at the middle of their bounds.

    Raises
    ------
    ConfigError
        An unknown name, a fixed value outside its bounds (``field``
        ``params.fixed_parameters.<name>``), a parameter both learned and fixed, or
        nothing left to learn.
    """
    given = dict(fixed_parameters or {})
    check_within_bounds(
        given, CLM5_PARAMETERS, model="CLM5", field_prefix="params.fixed_parameters"
    )
    if learned_parameters is None:
        learned = [n for n in PARAMETER_NAMES if n not in given]
    else:
        chosen = list(learned_parameters)
        unknown = [n for n in chosen if n not in _SPEC]
        if unknown or not chosen or len(set(chosen)) != len(chosen):
            raise ConfigError(
                f"learned_parameters {chosen} must be distinct CLM5 parameter names"
                + (f"; unknown: {unknown}" if unknown else ""),
                field="params.learned_parameters",
                fix=f"choose among: {', '.join(PARAMETER_NAMES)}",
            )
        both = [n for n in chosen if n in given]
        if both:
            raise ConfigError(
                f"CLM5 parameter {both[0]} is both learned and fixed",
                field=f"params.fixed_parameters.{both[0]}",
                fix=f"remove {both[0]} from fixed_parameters or from learned_parameters",
            )
        learned = [n for n in PARAMETER_NAMES if n in chosen]
    if not learned:
        raise ConfigError(
            "every CLM5 parameter is fixed: there is nothing to learn",
            field="params.fixed_parameters",
            fix="leave at least one parameter out of fixed_parameters",
        )
    fixed = {
        n: float(given.get(n, 0.5 * (_SPEC[n].lower + _SPEC[n].upper)))
        for n in PARAMETER_NAMES
        if n not in learned
    }
    return learned, fixed


def usable_profiles(
    profiles: ProfileSet, role: str, *, below_column: str, drop_empty: bool
) -> ProfileSet:
    """Profiles with observations; below-column ones masked, empty ones refused or dropped.

    ``role`` names the argument in fields: ``"profiles"`` or ``"valid"``.

    Raises
    ------
    SampleDataError
        No observations; observations below the column with ``below_column="error"``;
        profiles without a valid observation unless ``drop_empty``.
    """
    noun = "training profiles" if role == "profiles" else "validation profiles"
    if not isinstance(profiles, ProfileSet) or not profiles.has_observations:
        raise SampleDataError(
            f"the {noun} hold no SOC observations",
            field=f"{role}.soc",
            fix="fit on training profiles (read_binn_ny(..., part='training'))",
        )
    soc = np.asarray(profiles.soc, dtype=np.float64).copy()
    depth = np.asarray(profiles.depth_m, dtype=np.float64).copy()
    below = np.isfinite(depth) & (depth > COLUMN_BOTTOM_M)
    if below.any():
        rows = np.flatnonzero(below.any(axis=1))
        if below_column == "error":
            raise SampleDataError(
                f"{int(below.sum())} observation(s) in {len(rows)} {noun} lie "
                f"below the CLM5 column ({COLUMN_BOTTOM_M} m), the deepest at "
                f"{depth[below].max():.2f} m (ids {profiles.profile_id[rows][:10].tolist()})",
                field=f"{role}.depth_m",
                fix="drop them, or set params.below_column='ignore' to leave them out of the loss",
            )
        log.info("%s: ignoring %d observations below the column", role, int(below.sum()))
        soc[below] = depth[below] = np.nan
    valid = np.isfinite(soc) & np.isfinite(depth)
    soc[~valid] = depth[~valid] = np.nan
    empty = ~valid.any(axis=1)
    if empty.any():
        ids = profiles.profile_id[empty]
        message = (
            f"{int(empty.sum())} of {profiles.n_profiles} {noun} have no valid "
            f"observation (ids {ids[:10].tolist()})"
        )
        if not drop_empty:
            raise SampleDataError(
                message,
                field=f"{role}.soc",
                fix="remove them, or set params.drop_empty=True to drop them",
            )
        log.info("dropped %s", message)
    cleaned = ProfileSet(
        profile_id=profiles.profile_id,
        covariates=profiles.covariates,
        forcings=profiles.forcings,
        categorical=list(profiles.categorical),
        soc=soc,
        depth_m=depth,
        covariate_ranges=profiles.covariate_ranges,
    )
    cleaned = cleaned.subset(~empty) if empty.any() else cleaned
    if cleaned.n_profiles == 0:
        raise SampleDataError(
            f"none of the {noun} is left",
            field=f"{role}.soc",
            fix="give profiles with at least one observation above 8.6 m",
        )
    return cleaned


def covariate_names(profiles: ProfileSet, requested: Sequence[str] | None) -> list[str]:
    """The covariate columns a model reads: all of the profiles', or the ``requested`` ones.

    Raises
    ------
    ConfigError
        A requested name is not a column (field ``params.covariates``).
    """
    columns = [str(c) for c in profiles.covariates.columns]
    if requested is None:
        return columns
    names = [str(c) for c in requested]
    unknown = [n for n in names if n not in columns]
    if unknown or not names:
        raise ConfigError(
            f"covariates {unknown or names} are not columns of the profiles",
            field="params.covariates",
            fix=f"choose among {columns[:20]}",
        )
    return names


def forcings_from_profiles(profiles: ProfileSet, *, dtype: torch.dtype) -> Clm5Forcings:
    """The CLM5 forcings of a profile set (see :meth:`Clm5Forcings.from_arrays`)."""
    return Clm5Forcings.from_arrays(profiles.forcings, dtype=dtype)


# ----------------------------------------------------------------------- covariates
def learn_coding(
    profiles: ProfileSet, names: Sequence[str], *, unseen: str, scale_from: str
) -> CovariateEncoder:
    """The covariate encoder of the profile models, learnt from training profiles.

    Continuous covariates are scaled min-max to [0, 1] (clipped, as the BINN code does):
    ``scale_from="training"`` by the training minimum and maximum, ``"ranges"`` by
    ``profiles.covariate_ranges``. Categorical ones get class indices; ``unseen`` is
    ``"error"`` or ``"mean"`` (see :class:`~geosoil.models.soc.binn.BINN`).
    """
    table = _covariate_table(profiles, names)
    categorical = [n for n in names if n in profiles.categorical]
    continuous = [n for n in names if n not in categorical]
    ranges = None
    if scale_from == "ranges":
        if profiles.covariate_ranges is None:
            raise SampleDataError(
                "the training profiles have no covariate_ranges to scale by",
                field="params.scale_from",
                fix="set params.scale_from='training', or read profiles with their col_max_min.txt",
            )
        position = {c: i for i, c in enumerate(profiles.covariates.columns)}
        given = np.asarray(profiles.covariate_ranges, dtype=np.float64)
        ranges = (
            np.array([given[position[c], 0] for c in continuous], dtype=np.float64),
            np.array([given[position[c], 1] for c in continuous], dtype=np.float64),
        )
    return CovariateEncoder.learn(
        table, continuous, categorical, unseen=unseen, scaling="minmax", ranges=ranges
    )


def encode_profiles(
    coding: CovariateEncoder, profiles: ProfileSet
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled continuous covariates in [0, 1] (n, c) and category indices (n, k).

    An unseen code gets index -1 (the fallback) when ``coding.unseen="mean"``.

    Raises
    ------
    CovariateError
        A covariate is missing, or a categorical code was not seen in training and
        ``coding.unseen="error"``.
    SampleDataError
        A covariate is not finite.
    """
    table = _covariate_table(profiles, coding.names)
    scaled = coding.scaled(table[coding.continuous].to_numpy(dtype=np.float64))
    index, _ = coding.indices(table, describe=_unseen_codes)
    return torch.from_numpy(scaled), torch.from_numpy(index)


def scaled_medians(coding: CovariateEncoder, profiles: ProfileSet) -> tuple[np.ndarray, np.ndarray]:
    """Medians of the scaled continuous covariates and most frequent category indices."""
    continuous, _ = encode_profiles(coding, profiles)
    medians = np.median(continuous.numpy(), axis=0) if len(continuous) else continuous
    return np.asarray(medians, dtype=np.float64), coding.modes()


def _unseen_codes(name: str, codes: list, rows: np.ndarray) -> CovariateError:
    return CovariateError(
        f"categorical covariate {name} has codes {codes[:_SHOWN]} in "
        f"{len(rows)} profile(s) that training never saw",
        field=f"covariates.{name}",
        fix="drop those profiles, train on data that holds the codes, or set "
        "params.unseen_categories='mean' to give them the training mix",
    )


def _covariate_table(profiles: ProfileSet, names: Sequence[str]) -> pd.DataFrame:
    missing = [n for n in names if n not in profiles.covariates.columns]
    if missing:
        raise CovariateError(
            f"covariates {missing[:_SHOWN]} are missing from the profiles",
            field=f"covariates.{missing[0]}",
            fix="give the profiles every covariate the model was trained on",
        )
    table = profiles.covariates[list(names)]
    values = table.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        columns = [names[c] for c in np.flatnonzero(bad.any(axis=0))]
        raise SampleDataError(
            f"{len(rows)} profile(s) have missing covariates ({columns[:_SHOWN]}), ids "
            f"{profiles.profile_id[rows][:_SHOWN].tolist()}",
            field=f"covariates.{columns[0]}",
            fix="drop those profiles (read_binn_ny(..., drop_incomplete=True)) or fill them",
        )
    return table
