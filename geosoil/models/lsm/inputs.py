"""Inputs of :class:`~geosoil.models.lsm.mdpl.ParameterGenerator`: records, inputs, parameters.

Everything a fit validates before it learns lives here, as plain functions: the input
encoder (a :class:`~geosoil.models.encoding.CovariateEncoder` of z-scores and string labels)
is learnt, applied and stored here, and :class:`ParameterMerge` places the learned
parameters among the fixed ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from geosoil.errors import ConfigError, CovariateError, GeoSoilError, SampleDataError
from geosoil.models.base import check_choice, check_whole
from geosoil.models.encoding import CovariateEncoder
from geosoil.process.lsm_params import IGBP_RASTER_CODES
from geosoil.process.parameters import ParameterSpec, check_within_bounds

__all__ = [
    "IGBP_CLASS_CODES",
    "INPUT_UNITS",
    "ParameterMerge",
    "check_settings",
    "check_surrogate",
    "class_tables",
    "coding_from_state",
    "coding_state",
    "encode_inputs",
    "flat_table",
    "input_table",
    "learn_input_coding",
    "record_list",
    "resolve_flux_weights",
    "resolve_parameters",
    "spec_dict",
]

# Integer class of an IGBP land-cover raster -> IGBP code (the MODIS MCD12Q1 LC_Type1 legend).
IGBP_CLASS_CODES: dict[int, str] = IGBP_RASTER_CODES

INPUT_UNITS = {
    "sw_in_mean_w_m2": "W m-2",
    "tair_mean_c": "degC",
    "vpd_mean_kpa": "kPa",
    "precip_mm_day": "mm day-1",
    "wind_mean_m_s": "m s-1",
    "latitude_deg": "degree_north",
    "longitude_deg": "degree_east",
    "elevation_m": "m",
}
"""Units of the inputs the generator knows (an input not listed has no unit in the artifact)."""

_UNSEEN = ("error", "mean", "nan")
# (lower, upper, lower bound excluded) of the real-valued hyperparameters; upper excluded
_INTERVALS = {
    "dropout": (0.0, 1.0, False),
    "valid_fraction": (0.0, 1.0, False),
    "learning_rate": (0.0, math.inf, True),
    "weight_decay": (0.0, math.inf, False),
    "correlation_weight": (0.0, math.inf, False),
}
_SHOWN = 10


# --------------------------------------------------------------------------- coding
def learn_input_coding(
    table: pd.DataFrame, continuous: Sequence[str], categorical: Sequence[str], unseen: str
) -> CovariateEncoder:
    """The generator's input encoder: z-scores of continuous inputs, labels of categorical
    ones (strings, such as IGBP classes); ``unseen`` is ``"error"``, ``"mean"`` or ``"nan"``."""
    return CovariateEncoder.learn(
        table, continuous, categorical, unseen=unseen, scaling="standard", label_kind="str"
    )


def encode_inputs(
    coding: CovariateEncoder, table: pd.DataFrame, ids: Sequence[str], role: str
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Scaled continuous inputs (n, c), category indices (n, k) and a row mask.

    A label missing from training (or ``None``, a raster code without a label) gets
    index -1; the mask marks the rows that may be predicted (False for those rows when
    ``coding.unseen="nan"``).

    Raises
    ------
    CovariateError
        An unseen label with ``unseen="error"``; the message names the samples.
    """

    def describe(name: str, labels: list, rows: np.ndarray) -> CovariateError:
        sites = [str(ids[i]) for i in rows[:_SHOWN]]
        return CovariateError(
            f"{role}: categorical input {name} has values {labels[:_SHOWN]} "
            f"(samples {sites}) that training never saw (seen: {coding.labels[name]})",
            field=f"attributes.{name}",
            fix="drop those samples, train on data that holds them, or set "
            "params.unseen_categories to 'mean' (training mix) or 'nan' "
            "(no prediction)",
        )

    values = table[coding.continuous].to_numpy(dtype=np.float64)
    scaled = coding.scaled(values).astype(np.float32)
    index, new = coding.indices(table, describe=describe)
    usable = ~new if coding.unseen == "nan" else np.ones(len(table), dtype=bool)
    return torch.from_numpy(scaled), torch.from_numpy(index), usable


def flat_table(
    coding: CovariateEncoder, values: np.ndarray, tables: Mapping[str, Mapping[int, str]]
) -> pd.DataFrame:
    """The input table of flat rows (``coding.names`` order), raster classes as labels.

    ``tables`` maps a categorical column to {raster class: label}. A column without a
    table reads a class ``k`` as the label ``"k"``; a class missing from its table
    becomes ``None`` (an unseen label).

    Raises
    ------
    SampleDataError
        A categorical column holds a class that is not a whole number.
    """
    n_continuous = len(coding.continuous)
    table = pd.DataFrame(values[:, :n_continuous], columns=coding.continuous)
    for j, name in enumerate(coding.categorical):
        codes = values[:, n_continuous + j]
        if not np.all(codes == np.round(codes)):
            raise SampleDataError(
                f"categorical input {name} holds non-integer classes",
                field=name,
                fix="read class layers with nearest or mode resampling",
            )
        lookup = tables.get(name)
        table[name] = [
            str(int(c)) if lookup is None else lookup.get(int(c)) for c in codes.tolist()
        ]
    return table


def coding_state(coding: CovariateEncoder) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors ``coding.mean`` and ``coding.scale``; names, labels and shares as JSON."""
    tensors = {
        "coding.mean": torch.from_numpy(np.asarray(coding.center, dtype=np.float64)),
        "coding.scale": torch.from_numpy(np.asarray(coding.scale, dtype=np.float64)),
    }
    state = {
        "continuous": coding.continuous,
        "categorical": coding.categorical,
        "labels": coding.labels,
        "frequency": coding.frequency,
    }
    return tensors, state


def coding_from_state(
    tensors: Mapping[str, torch.Tensor], state: Mapping[str, Any], unseen: str
) -> CovariateEncoder:
    """Rebuild the coding from :func:`coding_state`'s tensors and JSON."""
    return CovariateEncoder(
        continuous=list(state["continuous"]),
        categorical=list(state["categorical"]),
        labels={k: [str(v) for v in values] for k, values in state["labels"].items()},
        frequency={k: [float(f) for f in v] for k, v in state["frequency"].items()},
        unseen=unseen,
        scaling="standard",
        label_kind="str",
        center=tensors["coding.mean"].numpy(),
        scale=tensors["coding.scale"].numpy(),
    )


# --------------------------------------------------------------------------- records
def record_list(records: Any, role: str, *, allow_empty: bool = False) -> list[Any]:
    """Records as a list, each with the attributes of a FluxRecord.

    Raises
    ------
    SampleDataError
        Not a sequence of records, no records (unless ``allow_empty``), or a record
        without a FluxRecord's attributes.
    """
    if (
        isinstance(records, str | bytes)
        or hasattr(records, "site")
        or not hasattr(records, "__iter__")
    ):
        raise SampleDataError(
            f"{role} must be a sequence of flux records, got {type(records).__name__}",
            field=role,
            fix="pass a list of FluxRecord (one per site or site-period)",
        )
    listed = list(records)
    if not listed and not allow_empty:
        raise SampleDataError(
            f"{role} is empty", field=role, fix="pass at least one FluxRecord with observations"
        )
    needed = ("site", "attributes", "time", "observed", "summaries", "to_forcing")
    for record in listed:
        if missing := [n for n in needed if not hasattr(record, n)]:
            raise SampleDataError(
                f"{role} holds a {type(record).__name__} without {missing}",
                field=role,
                fix="pass FluxRecord objects (geosoil.io.flux)",
            )
    return listed


def input_table(
    records: Sequence[Any],
    summaries: Sequence[str],
    attributes: Sequence[str],
    categorical: Sequence[str],
    role: str,
) -> pd.DataFrame:
    """One row per record: summaries, numeric attributes (float) and categorical labels.

    Raises
    ------
    SampleDataError
        A summary or attribute is missing or not finite (the message names the site).
    """
    rows = []
    for record in records:
        site = str(record.site)
        try:
            given = dict(record.summaries())
        except GeoSoilError as err:
            raise SampleDataError(
                f"{role}: site {site}: cannot summarise its forcing: {err.message}",
                field=f"summaries.{err.field}" if err.field else "summaries",
                fix=err.fix,
            ) from err
        row: dict[str, Any] = {}
        for name in summaries:
            row[name] = _finite(given.get(name), site, name, "summary", role)
        for name in attributes:
            row[name] = _finite(record.attributes.get(name), site, name, "attribute", role)
        for name in categorical:
            label = _category_label(record.attributes.get(name))
            if label is None:
                raise SampleDataError(
                    f"{role}: site {site} has no value for the categorical attribute {name}",
                    field=f"attributes.{name}",
                    fix=f"give every site its {name}, or leave {name} out of "
                    "params.categorical_names",
                )
            row[name] = label
        rows.append(row)
    return pd.DataFrame(rows, columns=[*summaries, *attributes, *categorical])


def _finite(value: Any, site: str, name: str, kind: str, role: str) -> float:
    """``value`` as a finite float; ``kind`` is ``"summary"`` or ``"attribute"``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        group = "summaries" if kind == "summary" else "attributes"
        raise SampleDataError(
            f"{role}: site {site} has no finite {kind} {name} (got {value!r})",
            field=f"{group}.{name}",
            fix=f"fill {name} for that site, drop the site, or leave {name} out of "
            f"params.{kind}_names",
        )
    return number


def _category_label(value: Any) -> str | None:
    """A categorical attribute as a label: strings as they are, whole numbers without '.0'."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return None
        return str(int(value)) if float(value).is_integer() else str(value)
    return str(value)


# -------------------------------------------------------------------------- settings
def check_settings(model: Any) -> None:
    """Refuse bad hyperparameters of a :class:`~geosoil.models.lsm.mdpl.ParameterGenerator`.

    Raises
    ------
    ConfigError
        A choice, count, width, rate, input list or class table is invalid (``field``
        names the hyperparameter).
    """
    check_choice(model.unseen_categories, _UNSEEN, "params.unseen_categories")
    for name in ("max_epochs", "patience", "batch_size", "steps_per_sample", "embedding_dim"):
        check_whole(getattr(model, name), name)
    hidden = model.hidden_layers
    if isinstance(hidden, str) or not isinstance(hidden, Sequence):
        raise ConfigError(
            f"hidden_layers={hidden!r} is not a list of layer widths",
            field="params.hidden_layers",
            fix="give hidden_layers as a list of widths, e.g. [64, 64]",
        )
    for width in hidden:
        check_whole(width, "hidden_layers")
    for name, (low, high, open_low) in _INTERVALS.items():
        value = getattr(model, name)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not (ok and (low < value if open_low else low <= value) and value < high):
            interval = f"{'(' if open_low else '['}{low:g}, {high:g})"
            raise ConfigError(
                f"{name}={value!r} is outside {interval}",
                field=f"params.{name}",
                fix=f"give {name} a number in {interval}",
            )
    every = [str(n) for group in (model.summary_names, model.attribute_names) for n in group]
    every += [str(n) for n in model.categorical_names]
    if not every or len(set(every)) != len(every):
        raise ConfigError(
            f"inputs {every} must be distinct and at least one",
            field="params.summary_names",
            fix="list each summary and attribute once across summary_names, "
            "attribute_names and categorical_names",
        )
    class_tables(model.class_codes)


def class_tables(class_codes: Mapping[str, Mapping[Any, Any]] | None) -> dict[str, dict[int, str]]:
    """Categorical input -> {raster class: label}, ``igbp`` defaulting to MODIS.

    Raises
    ------
    ConfigError
        A class that is not a whole number.
    """
    tables: dict[str, dict[int, str]] = {"igbp": dict(IGBP_CLASS_CODES)}
    for name, table in dict(class_codes or {}).items():
        parsed = {}
        for code, label in dict(table).items():
            try:
                number = float(code)
            except (TypeError, ValueError):
                number = math.nan
            if not number.is_integer():
                raise ConfigError(
                    f"class_codes.{name} has a class {code!r} that is not a whole number",
                    field=f"params.class_codes.{name}",
                    fix="map integer raster classes to labels, e.g. {10: 'GRA'}",
                )
            parsed[int(number)] = str(label)
        tables[str(name)] = parsed
    return tables


def check_surrogate(surrogate: Any) -> None:
    """Refuse an object without a FittedSurrogate's interface or with bad bounds.

    Raises
    ------
    ConfigError
        A missing attribute, no parameters, or bounds with ``lower >= upper``.
    """
    needed = ("features", "module", "parameter_specs", "flux_names")
    if missing := [n for n in needed if not hasattr(surrogate, n)]:
        raise ConfigError(
            f"the surrogate ({type(surrogate).__name__}) has no {missing}",
            field="surrogate",
            fix="pass a FittedSurrogate (from surrogate_training.fit_surrogate, or loaded)",
        )
    specs = tuple(surrogate.parameter_specs)
    bad = [s.name for s in specs if not s.lower < s.upper]
    if not specs or bad:
        raise ConfigError(
            f"the surrogate's parameter bounds are empty or inverted ({bad})",
            field="surrogate.parameter_specs",
            fix="train the surrogate over parameters with lower < upper",
        )


def resolve_flux_weights(
    flux_weights: Mapping[str, float] | None, flux_names: Sequence[str]
) -> list[float]:
    """Weight of each flux in ``flux_names`` order (1 where not given).

    Raises
    ------
    ConfigError
        A flux the surrogate does not simulate, or weights that are negative, not finite
        or all zero.
    """
    given = dict(flux_weights or {})
    if unknown := [k for k in given if k not in flux_names]:
        raise ConfigError(
            f"flux_weights names {unknown}, which the surrogate does not simulate",
            field=f"params.flux_weights.{unknown[0]}",
            fix=f"weigh the fluxes {list(flux_names)}",
        )
    weights = [float(given.get(k, 1.0)) for k in flux_names]
    if not all(math.isfinite(w) and w >= 0 for w in weights) or not any(weights):
        raise ConfigError(
            f"flux_weights {dict(zip(flux_names, weights, strict=True))} must be "
            "non-negative with at least one positive",
            field="params.flux_weights",
            fix="use e.g. {h_w_m2: 1.0, le_w_m2: 1.0}",
        )
    return weights


# ------------------------------------------------------------------------ parameters
def resolve_parameters(
    specs: Sequence[ParameterSpec],
    learned_parameters: Sequence[str] | None,
    fixed_parameters: Mapping[str, float] | None,
) -> tuple[list[str], dict[str, float]]:
    """Learned names (surrogate order) and every other parameter's fixed physical value.

    Raises
    ------
    ConfigError
        An unknown name, a fixed value outside its bounds, a parameter both learned and
        fixed, a parameter neither learned nor fixed, or nothing left to learn.
    """
    by_name = {s.name: s for s in specs}
    names = [s.name for s in specs]
    given = dict(fixed_parameters or {})
    check_within_bounds(given, specs, model="", field_prefix="params.fixed_parameters")
    given = {name: float(value) for name, value in given.items()}
    if learned_parameters is None:
        learned = [n for n in names if n not in given]
    else:
        chosen = [str(n) for n in learned_parameters]
        unknown = [n for n in chosen if n not in by_name]
        if unknown or len(set(chosen)) != len(chosen):
            raise ConfigError(
                f"learned_parameters {chosen} must be distinct parameter names"
                + (f"; unknown: {unknown}" if unknown else ""),
                field="params.learned_parameters",
                fix=f"choose among: {', '.join(names)}",
            )
        if both := [n for n in chosen if n in given]:
            raise ConfigError(
                f"parameter {both[0]} is both learned and fixed",
                field=f"params.fixed_parameters.{both[0]}",
                fix=f"remove {both[0]} from fixed_parameters or from learned_parameters",
            )
        if neither := [n for n in names if n not in chosen and n not in given]:
            raise ConfigError(
                f"parameters {neither} are neither learned nor fixed",
                field="params.fixed_parameters",
                fix="give them physical values in fixed_parameters, or learn them",
            )
        learned = [n for n in names if n in chosen]
    if not learned:
        raise ConfigError(
            "every parameter is fixed: there is nothing to learn",
            field="params.learned_parameters",
            fix="leave at least one parameter out of fixed_parameters",
        )
    return learned, {n: given[n] for n in names if n not in learned}


def spec_dict(spec: ParameterSpec) -> dict[str, Any]:
    """A parameter spec as JSON (the artifact's ``parameter_specs`` entries)."""
    return {
        "name": spec.name,
        "unit": spec.unit,
        "lower": float(spec.lower),
        "upper": float(spec.upper),
        "meaning": spec.meaning,
    }


class ParameterMerge:
    """Learned unit parameters (n, k) -> every parameter in [0, 1] (n, p), fixed ones constant."""

    def __init__(
        self, specs: Sequence[ParameterSpec], learned: Sequence[str], fixed: Mapping[str, float]
    ) -> None:
        names = [s.name for s in specs]
        self.positions = torch.tensor([names.index(n) for n in learned], dtype=torch.long)
        constant = [
            (fixed[s.name] - s.lower) / (s.upper - s.lower) if s.name in fixed else 0.0
            for s in specs
        ]
        self.constant = torch.tensor(constant, dtype=torch.float32)

    def __call__(self, learned: torch.Tensor) -> torch.Tensor:
        full = self.constant.to(learned.dtype).expand(len(learned), -1)
        # index_copy keeps the gradient to the learned columns and none to the fixed ones
        return full.index_copy(1, self.positions, learned)
