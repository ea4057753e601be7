"""``geosoil recommend``: decision products from mapped soil properties.

``geosoil recommend k-fertilizer CONFIG``: potassium doses (kg K2O/ha and kg KCl/ha) against
radiocaesium uptake, as maps and, with field polygons, a per-field table.

``geosoil recommend pb-risk CONFIG``: lead contamination risk classes of farmland soil against
pH-banded screening and intervention values (GB 15618-2018 by default), with their areas.
"""

from __future__ import annotations

from pathlib import Path

import click

from geosoil.cli.map import echo_layers
from geosoil.cli.options import blame_config, config_options, flag_overrides


@click.group("recommend")
def command() -> None:
    """Fertilizer and contamination-risk decisions from mapped soil properties."""


@command.command("k-fertilizer")
@config_options(with_resume=True)
@click.option(
    "--fields",
    "fields_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Field polygons for the per-field table (overrides fields.path).",
)
def k_fertilizer(config: Path, overrides: list[str], fields_path: Path | None) -> None:
    """Map K2O and KCl doses to reach the exchangeable-K target of CONFIG (YAML)."""
    from geosoil.config.base import load_config
    from geosoil.config.recommend import RecommendKConfig
    from geosoil.workflows.recommend import recommend_k_from_config

    extra = flag_overrides(overrides, {"fields.path": fields_path})
    with blame_config(config):
        parsed = load_config(config, RecommendKConfig, extra)
        result = recommend_k_from_config(parsed, source=config)
    echo_layers(result)
    if result.fields_gpkg is not None:
        click.echo(f"fields: {result.fields_gpkg} and {result.fields_csv}")
    click.echo(f"config: {result.config}")
    summary = result.summary
    target = summary["target"]
    origin = target.get("crop", "config")
    click.echo(
        f"target: {target['target_mg_k2o_100g']:g} mg K2O/100 g ({origin}; see summary.json)"
    )
    for name, layer in summary["layers"].items():
        if layer["valid_pixels"]:
            click.echo(
                f"{name}: mean {layer['mean']:.4g}, max {layer['maximum']:.4g} "
                f"({layer['units']}) over {layer['valid_pixels']} pixels"
            )
        else:
            click.echo(f"{name}: no valid pixel")
    fields = summary.get("fields")
    if fields:
        totals = ", ".join(
            f"{key} {value:.6g}"
            for key, value in fields.items()
            if key.startswith("total_") and value is not None
        )
        click.echo(
            f"fields: {fields['n_fields']} ({fields['n_with_warning']} with a warning); {totals}"
        )


@command.command("pb-risk")
@config_options(with_resume=True)
def pb_risk(config: Path, overrides: list[str]) -> None:
    """Map lead (Pb) contamination risk classes of CONFIG (YAML) against pH-banded thresholds."""
    from geosoil.config.base import load_config
    from geosoil.config.pb_risk import RecommendPbRiskConfig
    from geosoil.workflows.recommend_pb import recommend_pb_risk_from_config

    with blame_config(config):
        parsed = load_config(config, RecommendPbRiskConfig, overrides)
        result = recommend_pb_risk_from_config(parsed, source=config)
    echo_layers(result)
    click.echo(f"risk summary: {result.risk_json} and {result.risk_csv}")
    click.echo(f"config: {result.config}")
    summary = result.summary
    click.echo(f"thresholds: {summary['thresholds']['name']} (citation in summary.json)")
    ph = summary["ph"]
    if ph["source"] == "constant":
        click.echo(f"pH: assumed {ph['constant']:g} everywhere: {ph['assumption']}")
    for item in summary["classes"]:
        area = f"{item['area_ha']:.6g} ha, " if item["area_ha"] is not None else ""
        share = f"{100 * item['share']:.1f} %" if item["share"] is not None else "no pixel"
        click.echo(f"class {item['class']} ({item['label']}): {area}{share}")
