"""The config reference is generated from the models and stays equal to docs/configs.md."""

from pathlib import Path

import pytest
import yaml

from geosoil.config.reference import (
    COMMANDS,
    config_model,
    example_yaml,
    json_schema,
    markdown_reference,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configs.md"


def test_docs_configs_md_is_up_to_date():
    assert DOCS.read_text() == markdown_reference(), (
        "docs/configs.md is stale: run `geosoil config docs --out docs/configs.md`"
    )


@pytest.mark.parametrize("command", list(COMMANDS))
def test_example_names_every_key_and_parses(command):
    text = example_yaml(command)
    parsed = yaml.safe_load(text)
    assert set(parsed) == set(config_model(command).model_fields)
    schema = json_schema(command)
    assert schema["title"] == f"geosoil {command} config"
    assert set(schema["properties"]) == set(parsed)


def test_example_of_map_documents_nested_keys_with_type_and_default():
    text = example_yaml("map")
    assert '# type: one of "cog", "zarr", "both"; default: "cog"' in text
    parsed = yaml.safe_load(text)
    assert parsed["output"]["format"] == "cog"
    assert {"path": None, "name": None, "uncertainty": False}.items() <= parsed["models"][0].items()
    assert "grid.reference" in markdown_reference()


def test_filled_in_example_validates():
    """The example is a config once the REQUIRED values are filled in."""
    raw = yaml.safe_load(example_yaml("train"))
    raw["samples"].update(path="s.gpkg", target="kex")
    raw["covariates"]["catalog"] = "covariates.yaml"
    config = config_model("train").model_validate(raw)
    assert config.evaluation.n_splits == 5


def test_shared_sections_have_a_meaning_for_every_key():
    md = markdown_reference()
    section = md.split("## `train`")[1].split("## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    undocumented = [row for row in rows if row.rstrip().endswith("|  |")]
    assert rows and not undocumented
