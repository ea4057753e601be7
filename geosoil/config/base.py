"""Loading and validating YAML configs: strict sections, ``--set`` overrides, clear errors.

Downstream code receives typed configs, never raw dicts. Unknown keys are errors (with a
"did you mean" hint), and ``--set section.key=value`` overrides are applied to the raw YAML
before validation so that they are checked exactly like the file itself.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from geosoil.errors import ConfigError, GeoSoilError, InputFileNotFoundError, OutputError

__all__ = [
    "StrictModel",
    "load_config",
    "parse_overrides",
    "read_config_mapping",
    "save_config",
    "validate_config",
    "with_absolute_paths",
]

ConfigT = TypeVar("ConfigT", bound="StrictModel")


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are refused, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def parse_overrides(items: list[str] | tuple[str, ...]) -> list[tuple[list[str], Any]]:
    """Parse ``section.key=value`` strings; values are read as YAML (numbers, lists, null)."""
    parsed = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"override '{item}' is not of the form section.key=value",
                field="--set",
                fix="write e.g. --set model.params.max_epochs=50",
            )
        try:
            parsed_value = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed_value = value
        parsed.append((key.strip().split("."), parsed_value))
    return parsed


def load_config(
    path: str | Path, model: type[ConfigT], overrides: list[str] | tuple[str, ...] = ()
) -> ConfigT:
    """Load a YAML config into its typed model, applying ``--set`` overrides first.

    Parameters
    ----------
    path
        The YAML file.
    model
        The config class of the workflow, e.g. :class:`TrainConfig`.
    overrides
        Strings ``section.key=value``.

    Raises
    ------
    ConfigError
        Malformed YAML, unknown keys (with a suggestion) or invalid values, naming the key.
    """
    return validate_config(read_config_mapping(path, overrides), model, source=path)


def read_config_mapping(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """The YAML mapping of ``path`` with ``--set`` overrides applied, not yet validated.

    For commands that pick the config model from the file's sections before validating.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(
            "config file not found", path=path, fix="check the path (configs/ holds examples)"
        )
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"config is not valid YAML: {err}", path=path) from err
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("config must be a mapping of sections", path=path, fix="see configs/")
    for keys, value in parse_overrides(overrides):
        _set_nested(raw, keys, value)
    return raw


def validate_config(raw: dict, model: type[ConfigT], *, source: Path | str) -> ConfigT:
    """Validate a raw mapping; turn pydantic's errors into one actionable ConfigError."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise config_error(err, model, source) from err
    except GeoSoilError as err:
        # A validator that raises our own error (to give a richer fix) knows no file name.
        if err.path is None and source is not None:
            err.path = Path(source)
            err.args = (str(err),)
        raise


def with_absolute_paths(config: ConfigT) -> ConfigT:
    """A copy of ``config`` whose path values are absolute (against the current folder).

    For provenance: a config saved with an output must still name its files when read later
    from another folder.
    """
    return config.model_copy(
        update={name: _absolute(getattr(config, name)) for name in type(config).model_fields}
    )


def _absolute(value: Any) -> Any:
    if isinstance(value, Path):
        return value.absolute()
    if isinstance(value, BaseModel):
        return with_absolute_paths(value)
    if isinstance(value, list):
        return [_absolute(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_absolute(item) for item in value)
    return value


def save_config(config: BaseModel, path: str | Path) -> None:
    """Write the resolved config as YAML (what was actually run)."""
    data = config.model_dump(mode="json")
    try:
        Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
    except OSError as err:
        raise OutputError(
            f"cannot write the config ({err.strerror or err})",
            path=path,
            field="output.dir",
            fix="check free space and permissions, then rerun",
        ) from err


def _set_nested(raw: dict, keys: list[str], value: Any) -> None:
    node = raw
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(
                f"override cannot set '{'.'.join(keys)}': '{key}' is not a section",
                field="--set",
            )
        node = child
    node[keys[-1]] = value


def config_error(
    err: ValidationError, model: type[BaseModel], source: Path | str | None
) -> ConfigError:
    """One actionable ConfigError from pydantic's first error in validating ``model``."""
    first = err.errors()[0]
    loc = [str(part) for part in first["loc"]]
    field = ".".join(loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return ConfigError(
            f"unknown config key '{field}'",
            path=source,
            field=field,
            fix=f"{hint}allowed keys here: {', '.join(allowed)}",
        )
    if first["type"] == "missing":
        return ConfigError(
            f"required config key '{field}' is missing",
            path=source,
            field=field,
            fix=f"add '{field}' to the config or pass --set {field}=...",
        )
    return ConfigError(
        f"invalid value for '{field}': {first['msg']}",
        path=source,
        field=field,
        fix="correct the value in the config or with --set",
    )


def _allowed_keys(model: type[BaseModel], loc: list[str]) -> list[str]:
    """Field names of the (nested) section at ``loc``."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = fields[part].annotation
    fields = getattr(current, "model_fields", {})
    return sorted(fields)
