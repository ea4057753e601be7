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


def test_a_same_folds_run_joins_the_soc_table(tmp_path):
    """An ensemble run on the same folds adds its network rows (not its baselines); a seed it
    did not cover prints as '-', and the best NSE of all rows is in bold."""

    def figures(nse, seeds):
        runs = [{"seed": s, "nse_mean": nse} for s in seeds]
        return {"nse_mean": nse, "nse_sd": 0.1, "nse_pooled": nse, "per_seed": runs}

    main = {
        "baselines": {"depth_only": figures(0.49, [0, 1]), "gbm": figures(0.64, [0, 1])},
        "models": {"sciren": figures(0.60, [0, 1])},
        "training_candidates": {"sciren": {"lr_schedule": "cosine", "max_epochs": 60}},
    }
    ensemble = {
        "baselines": {"depth_only": figures(0.49, [0])},
        "models": {"sciren": figures(0.66, [0]), "binn_sciren": figures(0.62, [0])},
        "training_candidates": {
            "sciren": {"lr_schedule": "cosine", "max_epochs": 60, "n_members": 5},
            "binn_sciren": {"mix": {"binn": "ensemble5", "sciren": "cosine_ensemble5"}},
        },
    }
    (tmp_path / "binn_binn_ny_3seeds.json").write_text(json.dumps(main))
    for other in readme_tables.SAME_FOLDS["binn_binn_ny_3seeds"]:
        (tmp_path / f"{other}.json").write_text(json.dumps(ensemble))
    rows = readme_tables.render("binn_binn_ny_3seeds", tmp_path).splitlines()[2:]
    n_runs = len(readme_tables.SAME_FOLDS["binn_binn_ny_3seeds"])
    assert len(rows) == 3 + 2 * n_runs
    assert rows[3].startswith("| **ScIReN, cosine rate, ≤ 60 epochs, 5 seeds averaged** |")
    assert rows[3].endswith("| **0.660** | **-** |")
    assert rows[4].startswith("| BINN + ScIReN, mean of their 5-seed ensembles")
    assert sum("**" in row for row in rows) == 1
