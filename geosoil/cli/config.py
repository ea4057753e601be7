"""``geosoil config``: the config reference of every command, from the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path

import click

from geosoil.config.reference import COMMANDS

command_argument = click.argument("name", metavar="COMMAND", type=click.Choice(list(COMMANDS)))


@click.group(
    "config",
    help="Config reference: JSON Schema, a commented example, or docs/configs.md.\n\n"
    "COMMAND is one of: " + ", ".join(COMMANDS) + ".",
)
def command() -> None:
    pass


@command.command("schema")
@command_argument
def schema(name: str) -> None:
    """Print the JSON Schema of COMMAND's config file."""
    from geosoil.config.reference import json_schema

    click.echo(json.dumps(json_schema(name), indent=2))


@command.command("example")
@command_argument
def example(name: str) -> None:
    """Print a YAML config of COMMAND with every key, its type, default and meaning."""
    from geosoil.config.reference import example_yaml

    click.echo(example_yaml(name), nl=False)


@command.command("docs")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the Markdown reference to this file instead of printing it.",
)
def docs(out: Path | None) -> None:
    """Print (or write) the Markdown reference of every config (docs/configs.md)."""
    from geosoil.config.reference import markdown_reference

    text = markdown_reference()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
