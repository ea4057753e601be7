"""``geosoil info``: print an artifact's header as a readable summary."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("info")
@click.argument("artifact", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON header.")
def command(artifact: Path, as_json: bool) -> None:
    """Describe a model ARTIFACT (.safetensors) without running any of it."""
    from geosoil.artifacts import file_sha256, read_header
    from geosoil.models.registry import get_estimator_class

    header = read_header(artifact)
    if as_json:
        click.echo(json.dumps(header.model_dump(mode="json"), indent=2))
        return
    get_estimator_class(header.estimator, source=artifact, field="geosoil.estimator")
    click.echo(format_header(header, artifact, file_sha256(artifact)))


def format_header(header, path: Path, sha256: str) -> str:
    """A human-readable, multi-line summary of an artifact header."""
    spec, out, prov = header.input_spec, header.output_spec, header.provenance
    lines = [
        f"artifact     {path}",
        f"sha256       {sha256}",
        f"schema       v{header.schema_version}",
        f"estimator    {header.estimator}",
        "hyperparameters:",
        *(f"  {k} = {v}" for k, v in header.hyperparameters.items()),
        f"input        {spec.kind}, {len(spec.layers)} layers",
        *(
            f"  {layer.name} [{layer.units or '-'}]{' (categorical)' if layer.categorical else ''}"
            for layer in spec.layers
        ),
        f"output       {', '.join(f'{n} [{u}]' for n, u in zip(out.names, out.units, strict=True))}"
        f" (back-transform: {out.back_transform})",
        "provenance:",
        f"  trained    {prov.created_utc} with geosoil {prov.package_version}",
        f"  samples    n={prov.n_samples}, seed={prov.seed}",
        f"  data       {prov.data_fingerprint}",
    ]
    for scheme, summary in prov.metrics.items():
        pooled = summary.get("pooled", {}) if isinstance(summary, dict) else {}
        figures = ", ".join(f"{k} {v:.3g}" for k, v in pooled.items())
        lines.append(f"  cv {scheme:<12} {figures}")
    return "\n".join(lines)
