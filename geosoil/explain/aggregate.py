"""Attributions of several models (seeds) reduced to one table per band and group.

Each run (one per artifact, e.g. one per seed of a repeated evaluation) is first reduced to
its per-group means over samples, of the absolute and of the signed attributions; those are
then averaged across runs, and their standard deviation across runs says how stable the
attribution of a band is from one seed to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from geosoil.explain.attributions import Attributions, ExplainError

__all__ = ["AGGREGATE_COLUMNS", "ALL_GROUP", "aggregate_attributions", "attribution_agreement"]

ALL_GROUP = "(all)"
"""Group label of the rows that aggregate every sample."""

AGGREGATE_COLUMNS = (
    "band",
    "group",
    "mean_abs",
    "sd_over_seeds",
    "signed_mean",
    "signed_sd_over_seeds",
    "n_samples",
    "n_seeds",
)


def aggregate_attributions(
    runs: Sequence[Attributions],
    *,
    groups: np.ndarray | Sequence[Any] | None = None,
    include_all: bool = True,
) -> pd.DataFrame:
    """Mean absolute and signed attribution per band and group, aggregated over runs.

    Each run (one per artifact, e.g. one per seed of a repeated evaluation) is first reduced
    to its per-group means over samples; those are then averaged across runs, and their
    standard deviation across runs (ddof 1) says how stable the attribution is from one seed
    to the next (NaN with a single run).

    Parameters
    ----------
    runs
        Attributions of the same samples (same rows, in the same order) on the same axis.
    groups
        One label per sample (soil order, site, ...); None puts every sample in one group.
    include_all
        Also add the rows of all samples together, under the group :data:`ALL_GROUP`.

    Returns
    -------
    pandas.DataFrame
        Columns ``band, group, mean_abs, sd_over_seeds, signed_mean, signed_sd_over_seeds,
        n_samples, n_seeds``; one row per group and band, groups in sorted order (the
        all-samples rows first), bands in axis order.

    Raises
    ------
    ExplainError
        No runs, runs on different axes or of different samples, or a groups array of the
        wrong length.
    """
    if not runs:
        raise ExplainError("no attributions to aggregate", fix="explain at least one model")
    first = runs[0]
    for index, run in enumerate(runs[1:], start=1):
        if not run.axis.same_as(first.axis):
            raise ExplainError(
                f"attribution run {index} is on another axis ({run.axis.describe()}) than "
                f"run 0 ({first.axis.describe()})",
                field="models",
                fix="aggregate models with the same preprocessing (the same output axis)",
            )
        if len(run) != len(first):
            raise ExplainError(
                f"attribution run {index} has {len(run)} samples, run 0 has {len(first)}",
                field="models",
                fix="explain every model on the same spectra",
            )
    n = len(first)
    if groups is None:
        labels = np.full(n, ALL_GROUP, dtype=object)
        include_all = False
    else:
        labels = np.asarray(groups, dtype=object).astype(str)
        if labels.shape != (n,):
            raise ExplainError(
                f"groups has {labels.size} labels for {n} samples",
                field="groups",
                fix="give one group label per explained spectrum",
            )
    selections: list[tuple[str, np.ndarray]] = []
    if include_all:
        selections.append((ALL_GROUP, np.ones(n, dtype=bool)))
    selections += [(str(g), labels == g) for g in sorted(set(labels.tolist()))]

    frames = []
    for group, rows in selections:
        # (n_runs, n_bands): per-run means over this group's samples
        mean_abs = np.stack([np.abs(r.values[rows]).mean(axis=0, dtype=np.float64) for r in runs])
        signed = np.stack([r.values[rows].mean(axis=0, dtype=np.float64) for r in runs])
        frames.append(
            pd.DataFrame(
                {
                    "band": first.axis.values,
                    "group": group,
                    "mean_abs": mean_abs.mean(axis=0),
                    "sd_over_seeds": _sd_over_runs(mean_abs),
                    "signed_mean": signed.mean(axis=0),
                    "signed_sd_over_seeds": _sd_over_runs(signed),
                    "n_samples": int(rows.sum()),
                    "n_seeds": len(runs),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[list(AGGREGATE_COLUMNS)]


def _sd_over_runs(values: np.ndarray) -> np.ndarray:
    if values.shape[0] < 2:
        return np.full(values.shape[1], np.nan)
    return values.std(axis=0, ddof=1)


def attribution_agreement(
    first: pd.DataFrame, second: pd.DataFrame, *, group: str = ALL_GROUP, top: int = 10
) -> dict[str, Any]:
    """How far two models rely on the same wavelengths (e.g. a source and its transfer).

    Parameters
    ----------
    first, second
        Aggregated tables (:func:`aggregate_attributions`) on the same bands.
    group
        The group whose rows are compared; all samples by default.
    top
        How many of the most attributed bands to list and intersect.

    Returns
    -------
    dict
        ``spearman`` (rank correlation of the mean absolute attributions over bands),
        ``top_bands_first``, ``top_bands_second`` and ``top_shared`` (bands in both lists).
        Attributions of different targets have different units, so only ranks are compared.
    """
    a = first[first["group"] == group]
    b = second[second["group"] == group]
    if a.empty or b.empty or not np.array_equal(a["band"].to_numpy(), b["band"].to_numpy()):
        raise ExplainError(
            f"the two attribution tables do not share group {group!r} on the same bands",
            field="models",
            fix="compare models explained on the same spectra and axis",
        )
    ranks_a = a["mean_abs"].rank().to_numpy(dtype=np.float64)
    ranks_b = b["mean_abs"].rank().to_numpy(dtype=np.float64)
    spearman = float(np.corrcoef(ranks_a, ranks_b)[0, 1]) if len(a) > 1 else float("nan")
    bands = a["band"].to_numpy(dtype=np.float64)
    top_a = bands[np.argsort(-a["mean_abs"].to_numpy())[:top]]
    top_b = bands[np.argsort(-b["mean_abs"].to_numpy())[:top]]
    return {
        "spearman": spearman,
        "top_bands_first": [float(v) for v in top_a],
        "top_bands_second": [float(v) for v in top_b],
        "top_shared": sorted(float(v) for v in set(top_a.tolist()) & set(top_b.tolist())),
    }
