"""Options shared by several commands, declared once."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import click

from geosoil.errors import ConfigError

config_argument = click.argument("config", type=click.Path(path_type=Path, dir_okay=False))

set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Override a config value (repeatable), e.g. --set model.params.max_epochs=50.",
)

out_option = click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Output folder (overrides output.dir in the config).",
)

overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace an existing, non-empty output folder."
)

resume_option = click.option(
    "--resume", is_flag=True, help="Finish an interrupted run into the same folder."
)


def apply_output_flags(
    overrides: tuple[str, ...], out_dir: Path | None, overwrite: bool
) -> list[str]:
    """Turn --out/--overwrite into config overrides so they are validated like the file."""
    return flag_overrides(
        overrides, {"output.dir": out_dir, "output.overwrite": "true" if overwrite else None}
    )


def flag_overrides(overrides: Sequence[str], flags: Mapping[str, object]) -> list[str]:
    """``overrides`` followed by ``key=value`` for every flag given (not None), so that a
    command's own flags are validated like the config file."""
    return [*overrides, *(f"{key}={value}" for key, value in flags.items() if value is not None)]


def config_options(
    command: Callable[..., None] | None = None, *, with_resume: bool = False
) -> Callable[..., None]:
    """CONFIG, --out, (--resume,) --overwrite and --set, declared once for a command.

    The command receives ``config`` and ``overrides``: the --set values followed by those
    that --out and --overwrite stand for (see :func:`apply_output_flags`) and, with
    ``with_resume``, ``output.resume=true`` for --resume; its own options come by keyword.
    Use as ``@config_options`` or ``@config_options(with_resume=True)``.
    """
    if command is None:
        return functools.partial(config_options, with_resume=with_resume)

    @functools.wraps(command)
    def with_overrides(
        config: Path,
        out_dir: Path | None,
        overwrite: bool,
        overrides: tuple[str, ...],
        resume: bool = False,
        **options,
    ) -> None:
        extra = apply_output_flags(overrides, out_dir, overwrite)
        return command(
            config, flag_overrides(extra, {"output.resume": "true" if resume else None}), **options
        )

    declared = overwrite_option(set_option(with_overrides))
    if with_resume:
        declared = resume_option(declared)
    return config_argument(out_option(declared))


@contextmanager
def blame_config(path: Path) -> Iterator[None]:
    """Name the config file in config errors raised deeper down (e.g. a bad hyperparameter)."""
    try:
        yield
    except ConfigError as err:
        if err.path is None:
            err.path = path
            err.args = (str(err),)
        raise
