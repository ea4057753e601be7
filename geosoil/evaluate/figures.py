"""Pieces shared by the evaluation figures."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["metrics_box"]


def metrics_box(ax, heading: str, lines: Sequence[str]) -> None:
    """Write ``heading`` and one metric per line in a box at the top left of ``ax``."""
    ax.text(
        0.04,
        0.96,
        "\n".join([heading, *lines]),
        transform=ax.transAxes,
        va="top",
        ha="left",
        fontsize=8,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.7", "alpha": 0.9},
    )
