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


def test_same_folds_runs_join_the_soc_table(tmp_path):
    """Ensemble runs on the same folds add their network rows (not their baselines); runs of
    the same model and candidate on other seeds become one row averaged over their seeds; a
    seed no run covered prints as '-' and the label says which seeds it has; the best NSE of
    all rows is in bold."""

    def figures(nse, seeds):
        runs = [{"seed": s, "nse_mean": nse, "nse_sd": 0.1, "nse_pooled": nse} for s in seeds]
        return {"nse_mean": nse, "nse_sd": 0.1, "nse_pooled": nse, "per_seed": runs}

    main = {
        "baselines": {"depth_only": figures(0.49, [0, 1, 2]), "gbm": figures(0.64, [0, 1, 2])},
        "models": {"sciren": figures(0.60, [0, 1, 2])},
        "training_candidates": {"sciren": {"lr_schedule": "cosine", "max_epochs": 60}},
    }
    (tmp_path / "binn_binn_ny_3seeds.json").write_text(json.dumps(main))
    ensemble = {"lr_schedule": "cosine", "max_epochs": 60, "n_members": 5}
    others = ["binn_binn_ny_3seeds_ensemble5", "sciren_seed0", "sciren_seed1"]
    for seed, other in enumerate(others):
        run = {
            "baselines": {"depth_only": figures(0.49, [seed])},
            "models": {"sciren": figures(0.65 + 0.02 * seed, [seed])},
            "training_candidates": {"sciren": ensemble},
        }
        if seed == 0:
            run["models"] = {"binn_sciren": figures(0.62, [0, 1, 2])}
            run["training_candidates"] = {"binn_sciren": {"mix": {"binn": "ensemble5"}}}
        (tmp_path / f"{other}.json").write_text(json.dumps(run))
    same_folds = readme_tables.SAME_FOLDS
    readme_tables.SAME_FOLDS = {"binn_binn_ny_3seeds": others}
    try:
        rows = readme_tables.render("binn_binn_ny_3seeds", tmp_path).splitlines()[2:]
    finally:
        readme_tables.SAME_FOLDS = same_folds
    assert len(rows) == 5
    assert rows[3].startswith("| BINN + ScIReN, mean of their 5-seed ensembles")
    assert "only" not in rows[3] and "**" not in rows[3]
    label = "ScIReN, cosine rate, ≤ 60 epochs, 5 seeds averaged (seeds 1, 2 only)"
    cells = ["0.680 ± 0.100", "0.680", "-", "-", "-", "0.670", "0.690"]
    assert rows[4] == "| " + " | ".join(f"**{c}**" for c in [label, *cells]) + " |"
    assert sum("**" in row for row in rows) == 1
