"""The true CLM5 parameters of the synthetic SOC world (:mod:`geosoil.synthetic.soc_profiles`).

Four parameters (efolding, tau4s3, fs1s3, w_scaling) are declared smooth functions of the
min-max scaled covariates (:class:`PrescribedParameters`): :data:`DEFAULT_PRESCRIBED`, the
identifiable design, and :data:`MISSPECIFIED_PRESCRIBED` beside it, reading covariates
scaled by :data:`COVARIATE_RANGES`. The 17 others are fixed at :data:`FIXED_PARAMETERS`
(CLM5 defaults where they lie inside the bounds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch

from geosoil.errors import ConfigError, SampleDataError
from geosoil.process import CLM5_PARAMETERS, PARAMETER_NAMES, check_parameters, scale_parameters

__all__ = [
    "COVARIATE_RANGES",
    "DEFAULT_PRESCRIBED",
    "FIXED_PARAMETERS",
    "MISSPECIFIED_PRESCRIBED",
    "InteractionTerm",
    "PrescribedFunction",
    "PrescribedParameters",
    "PrescribedTerm",
]


# (min, max) of every covariate for min-max scaling; generated values are clipped inside.
COVARIATE_RANGES: dict[str, tuple[float, float]] = {
    "Lon": (128.0, 147.0),
    "Lat": (30.0, 46.0),
    "ESA_Land_Cover": (1, 6),
    "BIO1": (-4.0, 24.0),
    "BIO2": (5.0, 16.0),
    "BIO3": (15.0, 60.0),
    "BIO4": (300.0, 1400.0),
    "BIO12": (300.0, 2800.0),
    "BIO15": (5.0, 80.0),
    **{f"Bulk_Density_{d}": (600.0, 1800.0) for d in ("0cm", "30cm", "100cm")},
    **{f"CEC_{d}": (0.0, 100.0) for d in ("0cm", "30cm", "100cm")},
    **{f"Clay_Content_{d}": (0.0, 70.0) for d in ("0cm", "30cm", "100cm")},
    **{f"Coarse_Fragments_v_{d}": (0.0, 60.0) for d in ("0cm", "30cm", "100cm")},
    **{f"pH_Water_{d}": (35.0, 90.0) for d in ("0cm", "30cm", "100cm")},
    **{f"Silt_Content_{d}": (0.0, 80.0) for d in ("0cm", "30cm", "100cm")},
    **{f"SWC_v_Wilting_Point_{d}": (0.0, 50.0) for d in ("0cm", "30cm", "100cm")},
    **{f"Texture_USDA_{d}": (1, 12) for d in ("0cm", "30cm", "100cm")},
    "USDA_Suborder": (1, 6),
    "WRB_Subgroup": (11, 63),
    "Elevation": (0.0, 3000.0),
    "Koppen_Climate_2018": (1, 30),
    "nbedrock": (8, 20),
}

# CLM5 defaults where inside the bounds (Lawrence et al. 2019 tech note, converted to yr and
# to transfer = 1 - respired fractions).
FIXED_PARAMETERS: dict[str, float] = {
    "diffus": 1e-4,
    "cryo": 5e-4,
    "q10": 1.5,
    "taucwd": 3.33,
    "taul1": 0.054,
    "taul2": 0.204,
    "tau4s1": 0.137,
    "tau4s2": 5.0,
    "fl1s1": 0.61,
    "fl2s1": 0.45,
    "fl3s2": 0.7,
    "fs1s2": 0.3,
    "fs2s1": 0.42,
    "fs2s3": 0.03,
    "fs3s1": 0.45,
    "fcwdl2": 0.76,
    "beta": 0.95,
}

Shape = Literal["logistic", "exponential", "hump", "sine", "linear"]
_COEFFICIENTS: dict[str, tuple[str, ...]] = {
    "logistic": ("offset", "amplitude", "centre", "width"),
    "exponential": ("offset", "amplitude", "rate"),
    "hump": ("offset", "amplitude", "centre", "half_width"),
    "sine": ("offset", "amplitude", "cycles", "phase"),
    "linear": ("offset", "slope"),
}


@dataclass(frozen=True)
class PrescribedTerm:
    """One smooth function of one scaled covariate ``x`` in [0, 1].

    ``shape`` and ``coefficients`` (in :data:`_COEFFICIENTS` order):

    - ``logistic`` (offset, amplitude, centre, width): ``o + a / (1 + exp(-(x - c) / w))``
      (a negative width makes it decrease);
    - ``exponential`` (offset, amplitude, rate): ``o + a exp(r x)``;
    - ``hump`` (offset, amplitude, centre, half_width): ``o + a (1 - ((x - c) / h) ** 2)``;
    - ``sine`` (offset, amplitude, cycles, phase): ``o + a sin(2 pi (k x + p))``;
    - ``linear`` (offset, slope): ``o + s x``.
    """

    covariate: str
    shape: Shape
    coefficients: tuple[float, ...]

    def __post_init__(self) -> None:
        names = _COEFFICIENTS.get(self.shape)
        if names is None:
            raise ConfigError(
                f"unknown function shape {self.shape!r}",
                field="prescribed.shape",
                fix=f"use one of: {', '.join(_COEFFICIENTS)}",
            )
        if len(self.coefficients) != len(names):
            raise ConfigError(
                f"a {self.shape} term takes {len(names)} coefficients ({', '.join(names)}), "
                f"got {len(self.coefficients)}",
                field=f"prescribed.{self.covariate}",
                fix=f"give ({', '.join(names)})",
            )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        c = self.coefficients
        if self.shape == "logistic":
            return c[0] + c[1] / (1 + np.exp(-(x - c[2]) / c[3]))
        if self.shape == "exponential":
            return c[0] + c[1] * np.exp(c[2] * x)
        if self.shape == "hump":
            return c[0] + c[1] * (1 - ((x - c[2]) / c[3]) ** 2)
        if self.shape == "sine":
            return c[0] + c[1] * np.sin(2 * np.pi * (c[2] * x + c[3]))
        return c[0] + c[1] * x

    @property
    def covariates(self) -> tuple[str, ...]:
        """The covariates the term reads."""
        return (self.covariate,)

    def evaluate(self, scaled: Mapping[str, np.ndarray]) -> np.ndarray:
        """The term's value from the scaled covariates, by name."""
        return self(scaled[self.covariate])

    def value_range(self, n_points: int = 1001) -> tuple[float, float]:
        """Smallest and largest value over [0, 1]."""
        values = self(np.linspace(0.0, 1.0, n_points))
        return float(values.min()), float(values.max())

    def describe(self) -> str:
        """The formula with its coefficients, in the README's notation."""
        c = self.coefficients
        x = f"x({self.covariate})"
        if self.shape == "logistic":
            return f"{c[0]:g} + {c[1]:g} / (1 + exp(-({x} - {c[2]:g}) / {c[3]:g}))"
        if self.shape == "exponential":
            return f"{c[0]:g} + {c[1]:g} exp({c[2]:g} {x})"
        if self.shape == "hump":
            return f"{c[0]:g} + {c[1]:g} (1 - (({x} - {c[2]:g}) / {c[3]:g})^2)"
        if self.shape == "sine":
            return f"{c[0]:g} + {c[1]:g} sin(2 pi ({c[2]:g} {x} + {c[3]:g}))"
        return f"{c[0]:g} + {c[1]:g} {x}"


@dataclass(frozen=True)
class InteractionTerm:
    """``offset + amplitude * x(covariate) * x(other)``: a product of two scaled covariates.

    An additive model of one-covariate functions (a one-layer KAN) cannot represent it.
    """

    covariate: str
    other: str
    offset: float
    amplitude: float

    @property
    def covariates(self) -> tuple[str, ...]:
        return (self.covariate, self.other)

    def evaluate(self, scaled: Mapping[str, np.ndarray]) -> np.ndarray:
        x = np.asarray(scaled[self.covariate], dtype=np.float64)
        return self.offset + self.amplitude * x * np.asarray(scaled[self.other], np.float64)

    def value_range(self, n_points: int = 1001) -> tuple[float, float]:
        corners = [self.offset, self.offset + self.amplitude]
        return min(corners), max(corners)

    def describe(self) -> str:
        return f"{self.offset:g} + {self.amplitude:g} x({self.covariate}) x({self.other})"


@dataclass(frozen=True)
class PrescribedFunction:
    """A parameter's unit value (0 = lower bound, 1 = upper) as a sum of covariate terms."""

    parameter: str
    terms: tuple[PrescribedTerm | InteractionTerm, ...]

    def __call__(self, scaled: Mapping[str, np.ndarray]) -> np.ndarray:
        return sum(term.evaluate(scaled) for term in self.terms)

    @property
    def covariates(self) -> tuple[str, ...]:
        """The covariates the function reads, each once."""
        return tuple(dict.fromkeys(c for term in self.terms for c in term.covariates))

    def extremes(self, n_points: int = 1001) -> tuple[float, float]:
        """Bounds of the unit value over the unit cube of its covariates (sum of term ranges)."""
        ranges = [term.value_range(n_points) for term in self.terms]
        return sum(r[0] for r in ranges), sum(r[1] for r in ranges)


def _default_functions() -> tuple[PrescribedFunction, ...]:
    # One covariate per parameter, pairwise weakly correlated, each function spanning most of
    # its parameter's bounds over the sampled covariates (see the module notes).
    return (
        # decomposition reaches deep in sandy soils and stays shallow in clayey ones
        PrescribedFunction(
            "efolding",
            (PrescribedTerm("Clay_Content_0cm", "logistic", (0.1, 0.8, 0.33, -0.08)),),
        ),
        # the passive pool turns over slowly where it is cold, fast in the warm south
        PrescribedFunction("tau4s3", (PrescribedTerm("BIO1", "logistic", (0.05, 0.9, 0.6, -0.1)),)),
        # silt-sized minerals stabilise SOM 1 into the passive pool
        PrescribedFunction(
            "fs1s3",
            (PrescribedTerm("Silt_Content_0cm", "logistic", (0.03, 0.94, 0.5, 0.1)),),
        ),
        # an oscillating response to precipitation: w_scaling 0.5..3.5, below the W cap
        PrescribedFunction("w_scaling", (PrescribedTerm("BIO12", "sine", (0.4, 0.3, 1.0, 0.0)),)),
    )


@dataclass(frozen=True)
class PrescribedParameters:
    """Covariate -> CLM5 parameter functions declared as data, and fixed values for the rest.

    Parameters
    ----------
    functions
        One :class:`PrescribedFunction` per varying parameter; each gives the parameter's unit
        value in [0, 1] (mapped onto the bounds by
        :func:`~geosoil.process.scale_parameters`) from covariates min-max scaled to [0, 1].
    fixed
        Physical values of every other parameter (checked against the bounds).

    Raises
    ------
    ConfigError
        A parameter unknown, both prescribed and fixed, or neither; a fixed value outside its
        bounds; a function whose values leave [0, 1] on the unit cube.
    """

    functions: tuple[PrescribedFunction, ...] = field(default_factory=_default_functions)
    fixed: Mapping[str, float] = field(default_factory=lambda: dict(FIXED_PARAMETERS))
    name: str = "identifiable"
    favours: str = (
        "additive models of one covariate per parameter (a one-layer KAN: ScIReN): each "
        "parameter follows its own weakly correlated covariate"
    )
    hidden: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        prescribed = [f.parameter for f in self.functions]
        for name in prescribed:
            if name not in PARAMETER_NAMES:
                raise ConfigError(
                    f"unknown CLM5 parameter {name!r}",
                    field=f"prescribed.{name}",
                    fix=f"use one of: {', '.join(PARAMETER_NAMES)}",
                )
            if name in self.fixed or prescribed.count(name) > 1:
                raise ConfigError(
                    f"CLM5 parameter {name} is given more than once",
                    field=f"prescribed.{name}",
                    fix="prescribe it once, or fix it, not both",
                )
        check_parameters(self.fixed)
        missing = [n for n in PARAMETER_NAMES if n not in self.fixed and n not in prescribed]
        if missing:
            raise ConfigError(
                f"CLM5 parameters neither prescribed nor fixed: {', '.join(missing)}",
                field=f"prescribed.{missing[0]}",
                fix="prescribe a function for each, or give a fixed value",
            )
        for function in self.functions:
            low, high = function.extremes()
            if low < 0 or high > 1:
                raise ConfigError(
                    f"the prescribed {function.parameter} takes unit values "
                    f"{low:.3g}..{high:.3g}, outside [0, 1] (outside its bounds)",
                    field=f"prescribed.{function.parameter}",
                    fix="change the offsets or amplitudes so the sum stays in [0, 1]",
                )

    @property
    def parameters(self) -> tuple[str, ...]:
        """The prescribed (varying) parameters, in declaration order."""
        return tuple(f.parameter for f in self.functions)

    @property
    def covariates(self) -> tuple[str, ...]:
        """The covariates the functions read, each once, in order of first use."""
        names = [c for f in self.functions for c in f.covariates]
        return tuple(dict.fromkeys(names))

    def unit_values(self, covariates_scaled: pd.DataFrame) -> np.ndarray:
        """Unit values (n, 21) in :data:`~geosoil.process.PARAMETER_NAMES` order.

        Parameters
        ----------
        covariates_scaled
            Covariates min-max scaled to [0, 1] (e.g. ``ProfileSet.scaled_covariates()`` or
            :func:`scale_covariates`); only :attr:`covariates` are read.
        """
        missing = [c for c in self.covariates if c not in covariates_scaled.columns]
        if missing:
            raise SampleDataError(
                f"covariates lack {', '.join(missing)}, needed by the prescribed functions",
                field="covariates",
                fix="pass the scaled covariate table with those columns",
            )
        scaled = {c: covariates_scaled[c].to_numpy(dtype=np.float64) for c in self.covariates}
        n = len(covariates_scaled)
        fixed_unit = _fixed_unit_values(self.fixed)
        out = np.empty((n, len(PARAMETER_NAMES)), dtype=np.float64)
        by_name = {f.parameter: f for f in self.functions}
        for i, name in enumerate(PARAMETER_NAMES):
            out[:, i] = by_name[name](scaled) if name in by_name else fixed_unit[name]
        return out

    def physical(self, covariates_scaled: pd.DataFrame) -> np.ndarray:
        """Physical values (n, 21): :meth:`unit_values` mapped onto the bounds."""
        unit = torch.from_numpy(self.unit_values(covariates_scaled))
        return scale_parameters(unit).numpy()

    def truth_curves(self, n_points: int = 101) -> pd.DataFrame:
        """The 1-D truth of every (covariate, parameter) pair, for the functions experiment.

        Each curve sweeps one covariate over [0, 1] with the parameter's other covariates at
        mid-range (0.5): for a one-term function it is the function itself, for an additive
        one the swept term plus the others' values at 0.5.

        Returns
        -------
        pandas.DataFrame
            Columns ``covariate``, ``parameter``, ``x`` (scaled covariate), ``value`` (unit
            value), ``x_physical`` (covariate in its units, by :data:`COVARIATE_RANGES`) and
            ``value_physical``; ``n_points`` rows per pair.
        """
        if n_points < 2:
            raise ConfigError(
                f"n_points must be at least 2, got {n_points}",
                field="n_points",
                fix="sweep with 2 or more points, e.g. 101",
            )
        x = np.linspace(0.0, 1.0, n_points)
        spec = {p.name: p for p in CLM5_PARAMETERS}
        frames = []
        for function in self.functions:
            for covariate in function.covariates:
                scaled = {c: np.full_like(x, 0.5) for c in function.covariates}
                scaled[covariate] = x
                value = function(scaled)
                low, high = COVARIATE_RANGES.get(covariate, (0.0, 1.0))
                bounds = spec[function.parameter]
                frames.append(
                    pd.DataFrame(
                        {
                            "covariate": covariate,
                            "parameter": function.parameter,
                            "x": x,
                            "value": value,
                            "x_physical": low + x * (high - low),
                            "value_physical": bounds.lower + value * (bounds.upper - bounds.lower),
                        }
                    )
                )
        return pd.concat(frames, ignore_index=True)

    def describe(self) -> str:
        """Markdown lines listing the functions and the fixed values."""
        lines = []
        for function in self.functions:
            formula = " + ".join(term.describe() for term in function.terms)
            lines.append(f"- `{function.parameter}`: u = {formula}")
        fixed = ", ".join(f"{name} = {value:g}" for name, value in self.fixed.items())
        lines.append(f"- fixed: {fixed}")
        return "\n".join(lines)


DEFAULT_PRESCRIBED = PrescribedParameters()


def _misspecified_functions() -> tuple[PrescribedFunction, ...]:
    # scaled-covariate correlations over sampled sites: BIO1-BIO4 -0.84, BIO12-pH -0.91;
    # Silt_Content_0cm has no proxy above 0.3 among the covariates
    return (
        # clay matters only where it is wet: an interaction no additive model holds
        PrescribedFunction("efolding", (InteractionTerm("Clay_Content_0cm", "BIO12", 0.85, -0.7),)),
        # two collinear climate drivers share the effect
        PrescribedFunction(
            "tau4s3",
            (
                PrescribedTerm("BIO1", "logistic", (0.05, 0.55, 0.6, -0.1)),
                PrescribedTerm("BIO4", "linear", (0.0, 0.35)),
            ),
        ),
        # driven mostly by topsoil silt, which the models are not given
        PrescribedFunction(
            "fs1s3",
            (
                PrescribedTerm("Silt_Content_0cm", "logistic", (0.05, 0.6, 0.5, 0.1)),
                PrescribedTerm("pH_Water_0cm", "linear", (0.05, 0.25)),
            ),
        ),
        # precipitation and pH, collinear, both in the truth
        PrescribedFunction(
            "w_scaling",
            (
                PrescribedTerm("BIO12", "sine", (0.35, 0.2, 1.0, 0.0)),
                PrescribedTerm("pH_Water_0cm", "linear", (0.0, 0.15)),
            ),
        ),
    )


MISSPECIFIED_PRESCRIBED = PrescribedParameters(
    functions=_misspecified_functions(),
    name="misspecified",
    favours=(
        "no model by construction: efolding is an interaction of clay and precipitation, "
        "tau4s3 and w_scaling share collinear drivers (|r| 0.84, 0.91), and fs1s3 follows "
        "topsoil silt, which the models are not given"
    ),
    hidden=(
        "Silt_Content_0cm",
        "Silt_Content_30cm",
        "Silt_Content_100cm",
        "SWC_v_Wilting_Point_0cm",
    ),
)
"""A design that favours none of the models: interactions, collinear drivers, a hidden driver.

``hidden`` lists the covariates an experiment must withhold from the models: the hidden
driver, its copies at depth and its closest proxy (r 0.30); none left correlates above 0.25.
"""


def _fixed_unit_values(fixed: Mapping[str, float]) -> dict[str, float]:
    spec = {p.name: p for p in CLM5_PARAMETERS}
    return {
        name: (value - spec[name].lower) / (spec[name].upper - spec[name].lower)
        for name, value in fixed.items()
    }
