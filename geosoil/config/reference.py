"""The config reference, generated from the pydantic models: JSON Schema, YAML, Markdown.

``geosoil config schema|example COMMAND`` print one command's schema or a commented example;
``docs/configs.md`` is :func:`markdown_reference`, and a test keeps it equal to the models.
"""

from __future__ import annotations

import importlib
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = ["COMMANDS", "config_model", "example_yaml", "json_schema", "markdown_reference"]

#: command -> (module:class of its config, what the file is for; classes by their package
#: export, so a module move does not break the reference). ``train`` picks its model
#: from the file's sections (``spectra:`` or ``profiles:``), hence three entries.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("geosoil.config:TrainConfig", "`geosoil train` on sample points"),
    "train-spectra": (
        "geosoil.config:SpectralTrainConfig",
        "`geosoil train` on a spectra table (a config with a `spectra:` section)",
    ),
    "train-soc": (
        "geosoil.config:SocTrainConfig",
        "`geosoil train` on SOC profiles (a config with a `profiles:` section)",
    ),
    "evaluate": ("geosoil.config:EvaluateConfig", "`geosoil evaluate`"),
    "finetune": ("geosoil.config:FinetuneConfig", "`geosoil finetune`"),
    "explain": ("geosoil.config:ExplainConfig", "`geosoil explain`"),
    "map": ("geosoil.config:MapConfig", "`geosoil map`"),
    "recommend-k-fertilizer": (
        "geosoil.config:RecommendKConfig",
        "`geosoil recommend k-fertilizer`",
    ),
    "recommend-pb-risk": (
        "geosoil.config:RecommendPbRiskConfig",
        "`geosoil recommend pb-risk`",
    ),
    "soc-cells": ("geosoil.config:SocCellsConfig", "`geosoil soc-cells`"),
    "calibrate": ("geosoil.config:CalibrateConfig", "`geosoil calibrate`"),
    "catalog": (
        "geosoil.io.catalog:CovariateCatalog",
        "a covariate catalog (`covariates.yaml`), named by `covariates.catalog`",
    ),
}


def config_model(command: str) -> type[BaseModel]:
    """The pydantic model of ``command``'s config file (a key of :data:`COMMANDS`)."""
    module, _, name = COMMANDS[command][0].partition(":")
    return getattr(importlib.import_module(module), name)


def json_schema(command: str) -> dict[str, Any]:
    """The JSON Schema of ``command``'s config, with a title naming the command."""
    schema = config_model(command).model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"geosoil {command} config"
    return schema


def example_yaml(command: str) -> str:
    """A YAML file with every key of ``command``'s config, commented with type and meaning.

    Optional sections are written out with their keys; required values are left empty
    (``null``) and marked ``REQUIRED``, so the text parses as YAML but needs filling in.
    """
    model = config_model(command)
    head = [f"# geosoil {command}: {COMMANDS[command][1]}"]
    head += [f"# {line}".rstrip() for line in _doc(model).splitlines()]
    return "\n".join([*head, "", *_yaml_lines(model, 0)]) + "\n"


def markdown_reference() -> str:
    """The whole reference as Markdown: one table of dotted keys per command."""
    out = [
        "# Config reference",
        "",
        "Generated from the pydantic models by `geosoil config docs --out docs/configs.md`;",
        "a test fails when it differs from the models. `geosoil config example COMMAND` prints",
        "a commented YAML of a command and `geosoil config schema COMMAND` its JSON Schema.",
        "Units are in the key names (`_m`, `_cm`, `_kg_ha`, ...) or in the meaning.",
        "Relative paths are read relative to the folder you run geosoil in, except the paths",
        "inside a covariate catalog, which are relative to the catalog file.",
        "",
    ]
    for command in COMMANDS:
        model = config_model(command)
        out += [f"## `{command}`", "", f"{COMMANDS[command][1]}.", ""]
        out += [_doc(model).replace("\n", " "), ""] if _doc(model) else []
        out += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for key, field in _flat_fields(model, ""):
            cells = [
                f"`{key}`",
                _type_name(field.annotation),
                _default_text(field),
                _meaning(field),
            ]
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        out.append("")
    return "\n".join(out)


def _doc(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip().replace("``", "`")
    return " ".join(doc.split("\n\n")[0].split()) if doc else ""


def _meaning(field: FieldInfo) -> str:
    text = field.description or ""
    sub = _sub_model(field.annotation)
    if not text and sub is not None:
        text = _doc(sub)
    return text


def _flat_fields(model: type[BaseModel], prefix: str):
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        yield key, field
        sub = _sub_model(field.annotation)
        if sub is not None:
            suffix = "[]." if _is_list(field.annotation) else "."
            yield from _flat_fields(sub, key + suffix)


def _yaml_lines(model: type[BaseModel], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for name, field in model.model_fields.items():
        meaning = _meaning(field)
        if meaning:
            lines.append(f"{pad}# {meaning}")
        lines.append(
            f"{pad}# type: {_type_name(field.annotation)}; default: {_default_text(field)}"
        )
        sub = _sub_model(field.annotation)
        if sub is None:
            value = _yaml_value(field)
            mark = "  # REQUIRED" if field.is_required() else ""
            lines.append(f"{pad}{name}: {value}{mark}".rstrip())
        elif _is_list(field.annotation):
            lines.append(f"{pad}{name}:")
            item = _yaml_lines(sub, indent + 4)
            first = next(i for i, line in enumerate(item) if not line.lstrip().startswith("#"))
            item[first] = f"{pad}  - {item[first].lstrip()}"
            lines += item
        else:
            lines.append(f"{pad}{name}:")
            lines += _yaml_lines(sub, indent + 2)
        if lines[-1]:
            lines.append("")
    return lines


def _yaml_value(field: FieldInfo) -> str:
    if field.is_required():
        return ""
    default = field.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):
        default = default.model_dump(mode="json")
    if isinstance(default, Path):
        default = str(default)
    if isinstance(default, tuple):
        default = list(default)
    text = yaml.safe_dump(default, default_flow_style=True, width=1000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default is PydanticUndefined and field.default_factory is not None:
        value = field.get_default(call_default_factory=True)
        if isinstance(value, BaseModel):
            return "(section defaults)"
    else:
        value = field.default
    return json.dumps(value, default=str)


def _args(annotation: Any) -> tuple[Any, ...]:
    return typing.get_args(annotation)


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _is_list(annotation: Any) -> bool:
    if _is_union(annotation):
        return any(_is_list(arg) for arg in _args(annotation))
    return typing.get_origin(annotation) is list


def _sub_model(annotation: Any) -> type[BaseModel] | None:
    """The config section inside ``annotation`` (``X``, ``X | None``, ``list[X]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if _is_union(annotation) or typing.get_origin(annotation) is list:
        for arg in _args(annotation):
            sub = _sub_model(arg)
            if sub is not None:
                return sub
    return None


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if _is_union(annotation):
        return " or ".join(_type_name(arg) for arg in _args(annotation))
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(arg) for arg in _args(annotation))
    if origin in (list, tuple, dict):
        inner = ", ".join(_type_name(arg) for arg in _args(annotation) if arg is not Ellipsis)
        return f"{origin.__name__}[{inner}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "path"
    return getattr(annotation, "__name__", str(annotation))
