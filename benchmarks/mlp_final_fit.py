"""Real data: the covariate MLP's ``final_fit`` (refit vs validated), judged on inner folds only.

    python benchmarks/mlp_final_fit.py --json benchmarks/results/mlp_final_fit.json

For every case of ``covariate_learners.py`` and every outer training set of its folds, the MLP
(as ``auto`` builds it) is cross-validated on inner folds of that training set, cut as
``auto`` cuts them (whole spatial blocks, fold ids or duplicate sets of the outer scheme),
once with ``final_fit: refit`` and once with ``validated``. The outer test folds are never
predicted: the choice of default must not see them. Reports the pooled inner R2 of each
setting per outer training set, and per case the mean and the share of training sets where
refit wins.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from covariate_learners import DATA, case_configs, selected
from provenance import code_state, cpu_name

SETTINGS = ("refit", "validated")


def run_case(config, scheme) -> dict:
    from geosoil.evaluate import cross_validate
    from geosoil.models.covariate.auto import GROUP_COLUMN
    from geosoil.workflows.train import estimator_factory, with_coordinates, with_fold_groups
    from geosoil.workflows.training_data import build_folds, fold_groups, read_training_table

    table = read_training_table(config)
    folds = build_folds(config, table)[scheme]
    make_auto = estimator_factory(config, table)
    X = with_fold_groups(
        make_auto(), with_coordinates(make_auto(), table), fold_groups(config, table)[scheme]
    )
    scores = {name: [] for name in SETTINGS}
    for train_idx, _ in folds:  # the outer test rows are never used
        auto = make_auto()
        inner_X = X.iloc[train_idx].reset_index(drop=True)
        inner_y = table.y[train_idx]
        inner_folds = auto.inner_folds(inner_X)
        for name in SETTINGS:
            make_mlp = mlp_factory(auto, final_fit=name)
            result = cross_validate(make_mlp, inner_X, inner_y, inner_folds)
            scores[name].append(round(result.pooled()["r2"], 4))
    refit, validated = np.array(scores["refit"]), np.array(scores["validated"])
    return {
        "inner_grouped": GROUP_COLUMN in X.columns,
        "inner_r2": scores,
        "mean_inner_r2": {n: round(float(np.mean(v)), 4) for n, v in scores.items()},
        "share_refit_better": round(float(np.mean(refit > validated)), 3),
    }


def mlp_factory(auto, *, final_fit: str):
    """``() -> the MLP candidate of auto`` with ``final_fit`` set."""
    from geosoil.models.covariate.auto import AutoCovariate

    settings = {**auto.candidate_params.get("covariate_mlp", {}), "final_fit": final_fit}
    variant = AutoCovariate(
        candidates=auto.candidates,
        params=auto.params,
        candidate_params={**auto.candidate_params, "covariate_mlp": settings},
        inner_splits=auto.inner_splits,
        seed=auto.seed,
    )
    return lambda: variant.make("covariate_mlp")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--cases", default=None, help="as in covariate_learners.py")
    args = parser.parse_args()
    if not (DATA / "meuse").is_dir():
        sys.exit(f"real data not found at {DATA}")
    import torch

    torch.set_num_threads(1)
    state = code_state()
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset, target, scheme, config in case_configs(Path(tmp)):
            if args.cases and not selected(args.cases, dataset, target, scheme):
                continue
            case = {"dataset": dataset, "target": target, "scheme": scheme}
            case.update(run_case(config, scheme))
            cases.append(case)
            print(dataset, target, scheme, json.dumps(case["mean_inner_r2"]), flush=True)
    means = {n: round(float(np.mean([c["mean_inner_r2"][n] for c in cases])), 4) for n in SETTINGS}
    wins = sum(c["mean_inner_r2"]["refit"] > c["mean_inner_r2"]["validated"] for c in cases)
    summary = {"mean_inner_r2": means, "cases_refit_better": f"{wins} of {len(cases)}"}
    print(json.dumps(summary, indent=2))
    if args.json:
        result = {**state, "cpu": cpu_name(), "cases": cases, "summary": summary}
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
