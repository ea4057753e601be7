"""README's benchmark tables are generated from benchmarks/results/*.json and match them."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "readme_tables", ROOT / "benchmarks" / "readme_tables.py"
)
readme_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_tables)


def test_readme_tables_match_the_benchmark_jsons():
    text = (ROOT / "README.md").read_text()
    assert readme_tables.update_readme(text) == text, (
        "README tables differ from benchmarks/results: python benchmarks/readme_tables.py"
    )


def test_every_generated_table_is_marked_once_in_the_readme():
    names = [
        m.group("name") for m in readme_tables.BLOCK.finditer((ROOT / "README.md").read_text())
    ]
    assert sorted(names) == sorted(readme_tables.TABLES)


def test_a_marker_naming_no_table_is_an_error():
    with pytest.raises(KeyError, match="known tables"):
        readme_tables.update_readme("<!-- table:nothing -->\n| a |\n<!-- /table -->\n")


def test_a_growing_benchmark_still_renders(tmp_path):
    """New learners and cases get rows and columns; missing figures print as '-'."""
    result = {
        "cases": [
            {
                "dataset": "new_site",
                "target": "Cd_target",
                "scheme": "spatial_block",
                "n_folds": 4,
                "n": 80,
                "models": {"auto": {"r2": 0.5, "fit_s": 3.0}, "new_learner": {"r2": 0.6}},
            }
        ],
        "summary": {},
    }
    (tmp_path / "covariate_learners.json").write_text(json.dumps(result))
    block = "<!-- table:covariate_learners -->\nold\n<!-- /table -->\n"
    table = readme_tables.update_readme(block, tmp_path)
    header, _, row, mean, _ = table.splitlines()[1:]
    assert header.split(" | ")[-4] == "new_learner"
    assert row.startswith("| new_site Cd, spatial block, 4 folds | 80 |") and "**0.600**" in row
    assert " - " in row and mean.startswith("| **mean pooled R2** |")
