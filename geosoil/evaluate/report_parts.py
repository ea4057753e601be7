"""Pieces shared by the evaluation reports: the report folder check, markdown cells, figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from geosoil.errors import OutputError

__all__ = ["check_report_folder", "escape_cell", "metrics_box"]


def check_report_folder(out_dir: str | Path) -> Path:
    """``out_dir`` as a Path, or an OutputError when it is not an existing folder."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise OutputError(
            "report folder does not exist",
            path=out_dir,
            fix="create the folder first or choose another output folder",
        )
    return out_dir


def escape_cell(text: str) -> str:
    """Keep a pipe in a name from splitting a markdown table cell."""
    return str(text).replace("|", "\\|")


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
