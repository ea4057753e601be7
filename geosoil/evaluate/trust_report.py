"""The trust section of evaluation reports: interval coverage (PICP) and width per scheme,
the area of applicability's share and errors inside/outside it, the back-transform bias."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["trust_markdown"]


def _f(value, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def trust_markdown(reports: Mapping[str, Mapping], *, units: str = "") -> str:
    """Markdown tables from :func:`geosoil.trust.fitting.interval_report`, one row per scheme."""
    u = f" ({units})" if units else ""
    lines = [
        "## Prediction intervals and area of applicability",
        "",
        "PICP is the share of held-out observations inside the interval; each fold's "
        "conformal intervals are calibrated on the other folds' residuals. Spread intervals "
        "(the model's own, uncalibrated) are shown for comparison where the model has one.",
        "",
        f"| Scheme | Level | Conformal PICP | Conformal mean width{u} | Normalised by "
        f"| Spread PICP | Spread mean width{u} |",
        "|---|---|---|---|---|---|---|",
    ]
    for scheme, report in reports.items():
        conformal = report.get("conformal", {})
        spread = report.get("spread_uncalibrated", {})
        lines.append(
            f"| {scheme} | {report['level']:.0%} | {_f(conformal.get('picp'), 3)} "
            f"| {_f(conformal.get('mean_width'))} | {conformal.get('normalisation', '—')} "
            f"| {_f(spread.get('picp'), 3)} | {_f(spread.get('mean_width'))} |"
        )
    lines += [
        "",
        f"| Scheme | Share inside AOA | n outside | RMSE inside{u} | RMSE outside{u} "
        f"| Estimate | Mean predicted − mean observed{u} |",
        "|---|---|---|---|---|---|---|",
    ]
    for scheme, report in reports.items():
        aoa = report.get("aoa", {})
        back = report["back_transform"]
        lines.append(
            f"| {scheme} | {_f(aoa.get('share_inside'), 3)} | {aoa.get('n_outside', '—')} "
            f"| {_f(aoa.get('rmse_inside'))} | {_f(aoa.get('rmse_outside'))} "
            f"| {back['estimate']} | {_f(back['bias'])} |"
        )
    return "\n".join(lines) + "\n"
