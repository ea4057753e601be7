"""Pieces shared by the evaluation reports: the report folder check, markdown cells, figures."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geosoil.errors import OutputError

__all__ = ["agg_figure", "check_report_folder", "escape_cell", "metrics_box", "png_bytes"]


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


def agg_figure(**options: Any) -> Any:
    """A ``matplotlib.figure.Figure(**options)`` on the Agg canvas: never pyplot, so
    figures are made without global state or a display."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**options)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Any, *, dpi: int) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
