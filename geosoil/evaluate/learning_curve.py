"""Learning curves: test skill against the number of training spectra, for several models.

A CNN needs more spectra than PLSR before it pays off (the Kex paper's Fig. 5); where the
curves cross tells whether a library is big enough for deep learning. One test set is held
out once (random or whole groups, as
:func:`~geosoil.evaluate.repeated_splits.train_valid_test_splits`) and stays fixed; for each
seed the remaining pool is shuffled once and each training size
takes the first ``size`` spectra of that order, so larger sets contain the smaller ones and
the curve shows the effect of more data, not of a different draw. A share
``valid_fraction`` of each training set (random spectra, at least one) is its validation
set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from geosoil.errors import ConfigError
from geosoil.evaluate.repeated import check_target
from geosoil.evaluate.repeated_splits import train_valid_test_splits
from geosoil.evaluate.report_parts import agg_figure, png_bytes
from geosoil.evaluate.tables import PAPER_METRICS, paper_metrics

__all__ = ["LearningCurveResult", "learning_curve", "learning_curve_figure", "resolve_sizes"]

log = logging.getLogger(__name__)

POINT_HEAD: tuple[str, ...] = ("model", "size", "seed", "n_train", "n_valid", "fit_seconds")
"""Leading columns of :attr:`LearningCurveResult.points`."""


@dataclass(frozen=True)
class LearningCurveResult:
    """Points of a learning curve.

    Attributes
    ----------
    points
        One row per model, size and seed: :data:`POINT_HEAD` (``size`` = spectra used for
        fitting, train plus valid) and one column per metric on the fixed test set.
    n_test
        Size of the fixed test set.
    target_transform
        Scale of the log-scale metrics (R2 is on log10 when ``"log10"``).
    """

    points: pd.DataFrame
    n_test: int
    target_transform: str = "log10"

    def summary(self, metric: str = "r2") -> pd.DataFrame:
        """Mean and sd over seeds per model and size.

        Returns
        -------
        DataFrame
            Columns ``model``, ``size``, ``n_seeds``, ``<metric>_mean``, ``<metric>_sd``,
            in model order of appearance and increasing size.
        """
        grouped = self.points.groupby(["model", "size"], sort=False)[metric]
        out = grouped.agg(["count", "mean", lambda v: v.std(ddof=1)]).reset_index()
        out.columns = ["model", "size", "n_seeds", f"{metric}_mean", f"{metric}_sd"]
        models = list(dict.fromkeys(self.points["model"]))
        out["_order"] = out["model"].map(models.index)
        return out.sort_values(["_order", "size"]).drop(columns="_order").reset_index(drop=True)


def resolve_sizes(sizes: Sequence[float], n_pool: int, *, field: str = "sizes") -> list[int]:
    """Training sizes as counts: shares (<= 1) of the pool become counts, duplicates go.

    Raises
    ------
    ConfigError
        A size below 3 spectra (one valid and two train) or above the pool.
    """
    counts = []
    for size in sizes:
        count = round(size * n_pool) if size <= 1 else int(size)
        if size > 1 and int(size) != size:
            raise ConfigError(
                f"training size {size} is neither a whole count nor a share <= 1",
                field=field,
                fix="give counts (e.g. 500) or shares of the training pool (e.g. 0.25)",
            )
        if count < 3 or count > n_pool:
            raise ConfigError(
                f"training size {size} means {count} spectra; the pool outside the test set "
                f"has {n_pool}",
                field=field,
                fix=f"use sizes between 3 and {n_pool} spectra (or shares up to 1.0)",
            )
        counts.append(count)
    return sorted(set(counts))


def learning_curve(
    make_estimators: Mapping[str, Callable[[int], Any]],
    X: ArrayLike,
    y: ArrayLike,
    *,
    axis: Any,
    sizes: Sequence[float],
    n_seeds: int = 3,
    scheme: Literal["random", "grouped"] = "random",
    groups: ArrayLike | None = None,
    test_fraction: float = 0.1,
    valid_fraction: float = 0.1,
    seed: int = 0,
    target_transform: Literal["none", "log10"] = "log10",
) -> LearningCurveResult:
    """Fit each model on growing training sets and score it on one fixed test set.

    Parameters
    ----------
    make_estimators
        Model name -> callable returning an unfitted spectral estimator for a seed.
    X, y, axis
        Spectra (n_samples, n_bands), target in its units, and the spectral axis.
    sizes
        Training sizes (train plus valid): counts (> 1) or shares (<= 1) of the spectra
        outside the test set.
    n_seeds
        Repeats per size; seed ``seed + k`` orders the pool and seeds the estimator.
    scheme, groups, test_fraction
        How the fixed test set is drawn (with ``seed``), as in
        :func:`~geosoil.evaluate.repeated_splits.train_valid_test_splits`.
    valid_fraction
        Share of each training set used for validation.
    seed
        Seed of the test set and of the first repeat.
    target_transform
        Scale of the log-scale metrics.

    Returns
    -------
    LearningCurveResult
    """
    if not make_estimators:
        raise ConfigError("no models for the learning curve", field="learning_curve.models")
    spectra = np.asarray(X)
    target = np.asarray(y, dtype=np.float64).reshape(-1)
    if spectra.ndim != 2 or spectra.shape[0] != target.size:
        raise ValueError(f"X must be (n_samples, n_bands) with {target.size} rows")
    check_target(target, target_transform)
    if int(n_seeds) != n_seeds or n_seeds < 1:
        raise ConfigError(
            f"n_seeds={n_seeds} is not a whole number of at least 1",
            field="learning_curve.n_seeds",
            fix="use 1 or more repeats per size",
        )
    fixed = train_valid_test_splits(
        target.size,
        scheme=scheme,
        groups=groups,
        n_seeds=1,
        test_fraction=test_fraction,
        valid_fraction=valid_fraction,
        seed=seed,
    )[0]
    test = fixed.test
    pool = np.sort(np.concatenate([fixed.train, fixed.valid]))
    counts = resolve_sizes(sizes, pool.size, field="learning_curve.sizes")

    rows = []
    for repeat in range(n_seeds):
        repeat_seed = seed + repeat
        order = np.random.default_rng(repeat_seed).permutation(pool)
        for count in counts:
            chosen = order[:count]
            n_valid = min(max(1, round(valid_fraction * count)), count - 2)
            valid, train = np.sort(chosen[:n_valid]), np.sort(chosen[n_valid:])
            for name, make_estimator in make_estimators.items():
                estimator = make_estimator(repeat_seed)
                started = time.perf_counter()
                estimator.fit(
                    spectra[train],
                    target[train],
                    axis=axis,
                    X_valid=spectra[valid],
                    y_valid=target[valid],
                )
                fit_seconds = time.perf_counter() - started
                predicted = np.asarray(estimator.predict(spectra[test], axis=axis), dtype=float)
                scores = paper_metrics(target[test], predicted, target_transform=target_transform)
                rows.append(
                    {
                        "model": name,
                        "size": count,
                        "seed": repeat_seed,
                        "n_train": train.size,
                        "n_valid": valid.size,
                        "fit_seconds": fit_seconds,
                        **scores,
                    }
                )
                log.info(
                    "learning curve %s: size %d seed %d r2=%.3f (%.1f s)",
                    name,
                    count,
                    repeat_seed,
                    scores["r2"],
                    fit_seconds,
                )
    points = pd.DataFrame(rows, columns=[*POINT_HEAD, *PAPER_METRICS])
    return LearningCurveResult(points=points, n_test=test.size, target_transform=target_transform)


def learning_curve_figure(
    result: LearningCurveResult, *, metric: str = "r2", title: str = "Learning curve"
) -> bytes:
    """PNG of ``metric`` (mean over seeds, +- sd band) against training size, one line per model.

    Returns
    -------
    bytes
        The PNG file's content.
    """

    summary = result.summary(metric)
    figure = agg_figure(figsize=(6.0, 4.2), layout="constrained")
    ax = figure.subplots()
    for index, (model, part) in enumerate(summary.groupby("model", sort=False)):
        sizes = part["size"].to_numpy(dtype=float)
        mean = part[f"{metric}_mean"].to_numpy(dtype=float)
        sd = np.nan_to_num(part[f"{metric}_sd"].to_numpy(dtype=float))
        colour = f"C{index}"
        ax.plot(sizes, mean, marker="o", color=colour, label=str(model))
        ax.fill_between(sizes, mean - sd, mean + sd, color=colour, alpha=0.2, linewidth=0)
    if summary["size"].max() / max(summary["size"].min(), 1) >= 20:
        ax.set_xscale("log")
    scale = " (log10 scale)" if result.target_transform == "log10" else ""
    label = {"r2": "R²"}.get(metric, metric.upper())
    ax.set_xlabel("training spectra (train + valid)")
    ax.set_ylabel(f"test {label}{scale}")
    ax.set_title(f"{title}\nfixed test set of {result.n_test}; mean ± sd over seeds", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return png_bytes(figure, dpi=150)
