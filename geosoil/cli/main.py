"""Entry point: the ``geosoil`` click group, logging setup and error handling."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from geosoil import __version__
from geosoil.errors import GeoSoilError

# Command name -> module under geosoil.cli. A module is imported when its command runs (or
# help lists it): `geosoil map` does not import what `synth` or `calibrate` need.
COMMANDS = {
    "synth": "synth",
    "train": "train",
    "finetune": "finetune",
    "evaluate": "evaluate",
    "explain": "explain",
    "map": "map",
    "predict": "predict",
    "recommend": "recommend",
    "soc-cells": "soc_cells",
    "calibrate": "calibrate",
    "info": "info",
    "config": "config",
    "catalog": "catalog",
}


class GeoSoilGroup(click.Group):
    """Prints a GeoSoilError as a message (no traceback) and exits with its code; loads each
    command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            module = importlib.import_module(f"geosoil.cli.{COMMANDS[cmd_name]}")
            self.add_command(module.command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GeoSoilError as err:
            click.secho(f"error: {err}", err=True, fg="red")
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            click.secho(
                "interrupted: nothing was published. `geosoil map` and `geosoil recommend` keep "
                "their finished blocks: rerun the same command with --resume to finish; other "
                "commands start over.",
                err=True,
                fg="red",
            )
            sys.exit(130)


@click.group(cls=GeoSoilGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geosoil")
@click.option("-v", "--verbose", is_flag=True, help="Debug log output.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
def cli(verbose: bool, quiet: bool) -> None:
    """geosoil: deep-learning soil models from samples to maps.

    Every command reads a YAML config: `geosoil config example COMMAND` prints one with
    every key, type, default and meaning (docs/configs.md lists them all). Exit codes: 2
    for usage and config errors, 1 for data errors.
    """
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    # Third-party libraries stay at WARNING unless the user asked for debug output.
    for noisy in ("rasterio", "fiona", "pyogrio", "matplotlib", "PIL", "distributed"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


if __name__ == "__main__":  # pragma: no cover
    cli()
