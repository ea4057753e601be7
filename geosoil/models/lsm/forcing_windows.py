"""Per-time-step inputs of the land-surface surrogate: a forcing's recent past, as features.

The land surface model is a recurrence: its fluxes at a step depend on the weather of that
step and on states (soil water) built up from the weather before it. A feed-forward
surrogate sees that past only through features. Each step gets

- every forcing variable now and over the previous ``window_steps`` steps (the diurnal
  course and short lags of canopy and soil heat);
- precipitation sums and mean VPD and shortwave over the previous 1, 7 and 30 days (the
  memory a soil-water bucket has: rain refills it, radiation and VPD drain it);
- the time since the record started and the same three summaries since then, because the
  model starts every run from a set soil-water fraction and the bucket's distance from that
  start depends on everything since.

Before the record's first step the weather is taken to repeat its first value, so every
step has a full window. Features at a step use that step and earlier ones only, never later
ones. Everything is vectorised with cumulative sums; no loop over time.

No hour of day: :class:`~geosoil.process.lsm_forcing.LsmForcing` carries no clock, and the
current and lagged shortwave already tell morning from afternoon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from geosoil.errors import ConfigError, SampleDataError
from geosoil.models.base import NotFittedError
from geosoil.process.lsm import brutsaert_longwave_w_m2
from geosoil.process.lsm_forcing import LsmForcing

__all__ = [
    "WINDOW_FEATURES",
    "WINDOW_VARIABLES",
    "FeatureScaler",
    "check_window_settings",
    "window_feature_names",
    "window_features",
]

SECONDS_PER_DAY = 86400.0

# forcing variables that enter with their lags, in feature order
WINDOW_VARIABLES: tuple[str, ...] = (
    "sw_in_w_m2",
    "tair_c",
    "vpd_kpa",
    "wind_m_s",
    "pressure_kpa",
    "precip_mm",
    "lw_in_w_m2",
)

# name pattern -> meaning; {var} is a WINDOW_VARIABLES entry, {k} a lag, {d} a window in days
WINDOW_FEATURES: dict[str, str] = {
    "{var}_lag{k}": "forcing variable k steps before the current one (lag0 = now); "
    "lw_in_w_m2 is the land surface model's clear-sky estimate where the forcing has none",
    "precip_mm_sum_{d}d": "precipitation fallen over the last d days, current step included",
    "vpd_kpa_mean_{d}d": "mean VPD over the last d days",
    "sw_in_w_m2_mean_{d}d": "mean incoming shortwave over the last d days",
    "days_since_start": "time from the record's first step to the current one, in days",
    "precip_mm_sum_since_start": "precipitation since the record started",
    "vpd_kpa_mean_since_start": "mean VPD since the record started",
    "sw_in_w_m2_mean_since_start": "mean incoming shortwave since the record started",
}


def check_window_settings(window_steps: int, antecedent_days: Sequence[float]) -> None:
    """Refuse a negative lag count or non-positive antecedent windows.

    Raises
    ------
    ConfigError
        ``field`` is ``surrogate.params.window_steps`` or ``...antecedent_days``.
    """
    if isinstance(window_steps, bool) or not isinstance(window_steps, int) or window_steps < 0:
        raise ConfigError(
            f"window_steps={window_steps!r} must be a non-negative integer",
            field="surrogate.params.window_steps",
            fix="use e.g. 6 (the current step and the six before it)",
        )
    for days in antecedent_days:
        if isinstance(days, bool) or not (
            isinstance(days, int | float) and math.isfinite(days) and days > 0
        ):
            raise ConfigError(
                f"antecedent window {days!r} days is not a positive number",
                field="surrogate.params.antecedent_days",
                fix="give positive window lengths in days, e.g. [1, 7, 30]",
            )
    if len(set(antecedent_days)) != len(antecedent_days):
        raise ConfigError(
            f"antecedent_days {list(antecedent_days)} lists a window twice",
            field="surrogate.params.antecedent_days",
            fix="list each window length once",
        )


def window_feature_names(
    *, window_steps: int = 6, antecedent_days: Sequence[float] = (1, 7, 30)
) -> tuple[str, ...]:
    """Names of the features :func:`window_features` returns, in column order."""
    check_window_settings(window_steps, antecedent_days)
    names = [f"{var}_lag{k}" for var in WINDOW_VARIABLES for k in range(window_steps + 1)]
    for days in antecedent_days:
        names += [
            f"precip_mm_sum_{days:g}d",
            f"vpd_kpa_mean_{days:g}d",
            f"sw_in_w_m2_mean_{days:g}d",
        ]
    names += [
        "days_since_start",
        "precip_mm_sum_since_start",
        "vpd_kpa_mean_since_start",
        "sw_in_w_m2_mean_since_start",
    ]
    return tuple(names)


def _window_sums(values: torch.Tensor, steps: int) -> torch.Tensor:
    """Sum over the ``steps`` steps ending at each step, the first value repeated before t=0."""
    head = values[:, :1].expand(-1, steps - 1)
    padded = torch.cat([head, values], dim=1)
    total = torch.nn.functional.pad(torch.cumsum(padded, dim=1), (1, 0))
    t = values.shape[1]
    return total[:, steps : steps + t] - total[:, :t]


def _steps_in(days: float, time_step_s: float) -> int:
    return max(1, round(days * SECONDS_PER_DAY / time_step_s))


def window_features(
    forcing: LsmForcing,
    *,
    window_steps: int = 6,
    antecedent_days: Sequence[float] = (1, 7, 30),
) -> torch.Tensor:
    """Features of every time step from the forcing up to that step.

    Parameters
    ----------
    forcing
        ``n`` rows of ``t`` steps.
    window_steps
        Lags per forcing variable besides the current value.
    antecedent_days
        Lengths in days of the windows for precipitation sums and VPD/shortwave means
        (rounded to whole steps, at least one).

    Returns
    -------
    torch.Tensor
        (n, t, f) in the forcing's dtype, columns as :func:`window_feature_names`.
    """
    check_window_settings(window_steps, antecedent_days)
    if not isinstance(forcing, LsmForcing):
        raise SampleDataError(
            f"expected an LsmForcing, got {type(forcing).__name__}",
            field="forcing",
            fix="build the forcing with FluxRecord.to_forcing() or LsmForcing(...)",
        )
    out_dtype = forcing.sw_in_w_m2.dtype
    # float64 inside: differences of long cumulative sums lose digits in float32
    variables = {
        name: getattr(forcing, name).to(torch.float64)
        for name in WINDOW_VARIABLES
        if getattr(forcing, name) is not None
    }
    if "lw_in_w_m2" not in variables:
        variables["lw_in_w_m2"] = brutsaert_longwave_w_m2(variables["tair_c"], variables["vpd_kpa"])
    n, t = forcing.shape
    columns: list[torch.Tensor] = []
    for name in WINDOW_VARIABLES:
        values = variables[name]
        padded = torch.cat([values[:, :1].expand(-1, window_steps), values], dim=1)
        columns += [
            padded[:, window_steps - k : window_steps - k + t] for k in range(window_steps + 1)
        ]
    precip, vpd, sw = variables["precip_mm"], variables["vpd_kpa"], variables["sw_in_w_m2"]
    for days in antecedent_days:
        steps = _steps_in(days, forcing.time_step_s)
        columns += [
            _window_sums(precip, steps),
            _window_sums(vpd, steps) / steps,
            _window_sums(sw, steps) / steps,
        ]
    elapsed = torch.arange(t, dtype=torch.float64)
    counts = elapsed + 1.0
    columns += [
        (elapsed * forcing.time_step_s / SECONDS_PER_DAY).expand(n, -1),
        torch.cumsum(precip, dim=1),
        torch.cumsum(vpd, dim=1) / counts,
        torch.cumsum(sw, dim=1) / counts,
    ]
    return torch.stack(columns, dim=2).to(out_dtype)


class FeatureScaler:
    """Centre and scale each feature by its mean and standard deviation, fitted once.

    Constant features (an unchanging pressure) keep a scale of 1 rather than dividing by 0.
    """

    def __init__(self) -> None:
        self.mean_: torch.Tensor | None = None
        self.sd_: torch.Tensor | None = None

    @property
    def n_features(self) -> int:
        self._check_fitted()
        return int(self.mean_.shape[0])

    def fit(self, features: torch.Tensor | Sequence[torch.Tensor]) -> FeatureScaler:
        """Learn mean and SD over every leading axis of one or several (..., f) tensors."""
        parts = [features] if isinstance(features, torch.Tensor) else list(features)
        if not parts:
            raise SampleDataError(
                "no features to fit the scaler on", field="forcings", fix="give at least one site"
            )
        # part by part, so a long multi-site record is never copied whole into float64
        count, total = 0, None
        for part in parts:
            flat = part.reshape(-1, part.shape[-1]).to(torch.float64)
            if not bool(torch.isfinite(flat).all()):
                raise SampleDataError(
                    "window features contain non-finite values",
                    field="forcings",
                    fix="check the forcing for gaps or infinite values",
                )
            count += flat.shape[0]
            total = flat.sum(dim=0) if total is None else total + flat.sum(dim=0)
        mean = total / count
        squares = sum(
            ((p.reshape(-1, p.shape[-1]).to(torch.float64) - mean) ** 2).sum(dim=0) for p in parts
        )
        sd = torch.sqrt(squares / count)
        floor = 1e-9 * torch.clamp(mean.abs(), min=1.0)
        self.mean_ = mean
        self.sd_ = torch.where(sd > floor, sd, torch.ones_like(sd))
        return self

    def transform(self, features: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Scaled features (..., f) in ``dtype``."""
        self._check_fitted()
        if features.shape[-1] != self.n_features:
            raise SampleDataError(
                f"features have {features.shape[-1]} columns, the scaler was fitted on "
                f"{self.n_features}",
                field="features",
                fix="compute features with the window settings the surrogate was trained with",
            )
        scaled = (features.to(torch.float64) - self.mean_) / self.sd_
        return scaled.to(dtype)

    def to_tensors(self, prefix: str = "scaler.") -> dict[str, torch.Tensor]:
        """The fitted arrays under ``prefix`` (``mean``, ``sd``), float64."""
        self._check_fitted()
        return {f"{prefix}mean": self.mean_.clone(), f"{prefix}sd": self.sd_.clone()}

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, torch.Tensor], prefix: str = "scaler."
    ) -> FeatureScaler:
        """Rebuild a fitted scaler from :meth:`to_tensors`."""
        scaler = cls()
        scaler.mean_ = tensors[f"{prefix}mean"].to(torch.float64)
        scaler.sd_ = tensors[f"{prefix}sd"].to(torch.float64)
        if scaler.mean_.shape != scaler.sd_.shape or scaler.mean_.ndim != 1:
            raise ValueError("scaler mean and sd must be vectors of one length")
        return scaler

    def _check_fitted(self) -> None:
        if self.mean_ is None or self.sd_ is None:
            raise NotFittedError(
                "the feature scaler is not fitted", field="scaler", fix="call fit(features) first"
            )
