"""Real data: geosoil's covariate learners against the peers a soil mapper would pick.

    python benchmarks/covariate_learners.py --seed 1 \\
        --json benchmarks/results/covariate_learners.json

Cases: Meuse lead and zinc (40 m covariate raster, log10 target as the shipped configs set it)
under 600 m spatial blocks and random 5-fold CV; LimeSoDa BB.250 and G.150 SOC, pH and clay
(covariates already extracted at the points) on their published 10 folds. For every case,
on the same folds: geosoil's ``auto`` (nested selection, from the shipped configs), each of
its candidates alone (with coordinates for a kriging candidate, if configured), and two
peers fitted here: scikit-learn's RandomForestRegressor with 500 trees and default
settings, and ordinary least squares (one-hot classes). ``auto`` includes its regression
kriging variant (the samples carry their coordinates); which model it chose in every outer
training set, and its inner scores on all samples, are recorded per case. Pooled
out-of-fold R2 and RMSE, per-fold R2 (every model on the same rows: those all of them
predicted, ``n_scored``), and ``fit_s``: wall seconds of one fit on all samples
(2 threads for the peer forest; geosoil's learners use 1). Reads the data from
$GEOSOIL_REAL_DATA (default ../shared/data/real).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from provenance import code_state, cpu_name

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("GEOSOIL_REAL_DATA", REPO.parent / "shared" / "data" / "real"))

MEUSE = [("meuse", target, config) for target, config in (("lead", "pb"), ("zinc", "zn"))]
LIMESODA = [
    (name, target, config)
    for name, config in (("BB.250", "covariates_bb250"), ("G.150", "covariates_g150"))
    for target in ("SOC_target", "pH_target", "Clay_target")
]


class PeerForest:
    """scikit-learn's random forest as a user would run it: 500 trees, default settings."""

    def __init__(self, categorical, seed=0):
        from sklearn.ensemble import RandomForestRegressor

        self.model = RandomForestRegressor(n_estimators=500, random_state=seed, n_jobs=2)

    def fit(self, X, y):
        self.model.fit(X.to_numpy(dtype=float), y)
        return self

    def predict(self, X):
        return self.model.predict(X.to_numpy(dtype=float))


class PeerLinear:
    """Ordinary least squares with one-hot classes."""

    def __init__(self, categorical):
        from sklearn.linear_model import LinearRegression

        self.categorical = categorical
        self.model = LinearRegression()

    def _design(self, X):
        design = X.astype({c: "int64" for c in self.categorical}).astype(
            {c: "str" for c in self.categorical}
        )
        return pd.get_dummies(design, columns=self.categorical, dtype=float)

    def fit(self, X, y):
        design = self._design(X)
        self.columns_ = list(design.columns)
        self.model.fit(design.to_numpy(dtype=float), y)
        return self

    def predict(self, X):
        design = self._design(X).reindex(columns=self.columns_, fill_value=0.0)
        return self.model.predict(design.to_numpy(dtype=float))


def case_configs(tmp: Path, seed: int = 0, overrides: Sequence[str] = ()):
    """(dataset, target, scheme, TrainConfig) for every case; ``seed`` seeds the models,
    auto's inner folds and the outer folds that are drawn (the published folds are fixed);
    ``overrides`` (``key=value``, as ``geosoil train --set``) apply to every case last."""
    from geosoil.config import TrainConfig, load_config

    catalog = yaml.safe_load((REPO / "configs" / "meuse" / "covariates.yaml").read_text())
    for layer in catalog["layers"]:
        layer["path"] = str(DATA / "meuse" / "rasters" / Path(layer["path"]).name)
    (tmp / "covariates.yaml").write_text(yaml.safe_dump(catalog))
    for dataset, target, config in MEUSE:
        for scheme in ("spatial_block", "random"):
            yield (
                dataset,
                target,
                scheme,
                load_config(
                    REPO / "configs" / "meuse" / f"auto_{config}.yaml",
                    TrainConfig,
                    [
                        f"samples.path={DATA / 'meuse' / 'meuse.csv'}",
                        f"covariates.catalog={tmp / 'covariates.yaml'}",
                        f"evaluation.schemes=[{scheme}]",
                        f"output.dir={tmp / 'unused'}",
                        *seeded(seed),
                        *overrides,
                    ],
                ),
            )
    for dataset, target, config in LIMESODA:
        yield (
            dataset,
            target,
            "predefined",
            load_config(
                REPO / "configs" / "limesoda" / f"{config}.yaml",
                TrainConfig,
                [
                    f"samples.path={DATA / 'limesoda' / f'{dataset}.parquet'}",
                    f"samples.target={target}",
                    f"output.dir={tmp / 'unused'}",
                    *seeded(seed),
                    *overrides,
                ],
            ),
        )


def seeded(seed: int) -> list[str]:
    """Config overrides for ``seed`` (none for 0: the configs as shipped)."""
    return [f"model.params.seed={seed}", f"evaluation.seed={seed}"] if seed else []


def score(make, X, y, folds) -> dict:
    """Cross-validation of ``make()`` on ``folds``, and wall seconds of one fit on all
    samples."""
    from geosoil.evaluate import cross_validate

    result = cross_validate(make, X, y, folds)
    start = time.perf_counter()
    make().fit(X, y)
    return {"cv": result, "fit_s": round(time.perf_counter() - start, 2)}


def scored_alike(runs: dict[str, dict]) -> tuple[dict, int]:
    """Pooled R2 and RMSE, and per-fold R2, of every model on the same rows (those every
    model predicted: a learner abstains on a class its training fold lacks). Returns the
    figures and that row count."""
    from geosoil.evaluate import on_common_rows

    results, n_scored = on_common_rows({name: run["cv"] for name, run in runs.items()})
    figures = {}
    for name, result in results.items():
        pooled = result.pooled()
        figures[name] = {
            "r2": round(pooled["r2"], 4),
            "rmse": round(pooled["rmse"], 4),
            "fold_r2": [round(v, 4) for v in result.per_fold["r2"]],
            "fit_s": runs[name]["fit_s"],
        }
    return figures, n_scored


def run_case(dataset, target, scheme, config, seed: int = 0) -> dict:
    from geosoil.workflows.train import estimator_factory, with_coordinates, with_fold_groups
    from geosoil.workflows.training_data import build_folds, fold_groups, read_training_table

    table = read_training_table(config)
    folds = build_folds(config, table)[scheme]
    categorical = [layer.name for layer in table.layers if layer.categorical]
    make_auto = estimator_factory(config, table)
    X, y = with_coordinates(make_auto(), table), table.y
    # auto's inner folds keep the outer scheme's groups (blocks, fold ids) whole
    grouped = with_fold_groups(make_auto(), X, fold_groups(config, table)[scheme])
    fitted = []  # every auto made: one per outer fold, then the fit on all samples

    def make_recorded():
        fitted.append(make_auto())
        return fitted[-1]

    runs = {"auto": score(make_recorded, grouped, y, folds)}
    template = make_auto()
    for name in template.candidates:
        runs[name] = score(lambda name=name: template.make(name), X, y, folds)
    covariates = table.X  # the peers see the covariates only
    runs["peer_random_forest"] = score(lambda: PeerForest(categorical, seed), covariates, y, folds)
    runs["peer_linear"] = score(lambda: PeerLinear(categorical), covariates, y, folds)
    models, n_scored = scored_alike(runs)
    chosen = fitted[-1]  # the timed fit on all samples
    outer_choices = [model.best_name_ for model in fitted[:-1]]
    return {
        "dataset": dataset,
        "target": target,
        "scheme": scheme,
        "n": len(y),
        "n_scored": n_scored,
        "n_folds": len(folds),
        "chosen_on_all_samples": chosen.best_name_,
        "inner_on_all_samples": {
            name: {k: round(v, 4) for k, v in pooled.items() if k in ("r2", "rmse")}
            for name, pooled in chosen.inner_scores_.items()
        },
        "chosen_in_outer_folds": {n: outer_choices.count(n) for n in sorted(set(outer_choices))},
        "inner_folds": "grouped" if chosen.inner_grouped_ else "random",
        "models": models,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only", default=None, help="run only datasets containing this text")
    parser.add_argument(
        "--cases",
        default=None,
        help="run only these cases, comma-separated dataset/target/scheme with * wildcards "
        "(e.g. 'meuse/*/spatial_block,G.150/SOC_target/*')",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the cases of an existing --json measured on the same clean commit and "
        "replace only those run now (to run the benchmark in parts)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the models, of auto's inner folds and of the drawn outer folds "
        "(Meuse; LimeSoDa's published folds are fixed); 0 runs the configs as shipped",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every case, as geosoil train --set (repeatable; recorded "
        "in the JSON), e.g. model.params.inner_splits=5",
    )
    args = parser.parse_args()
    if not (DATA / "meuse").is_dir():
        sys.exit(f"real data not found at {DATA}")
    import torch

    torch.set_num_threads(1)
    state = code_state()
    if state["uncommitted"]:
        print(f"warning: uncommitted changes {state['uncommitted']}", file=sys.stderr)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset, target, scheme, config in case_configs(Path(tmp), args.seed, args.overrides):
            if args.only and args.only not in dataset:
                continue
            if args.cases and not selected(args.cases, dataset, target, scheme):
                continue
            start = time.perf_counter()
            case = run_case(dataset, target, scheme, config, args.seed)
            case["wall_s"] = round(time.perf_counter() - start, 1)
            cases.append(case)
            figures = {k: v["r2"] for k, v in case["models"].items()}
            print(dataset, target, scheme, json.dumps(figures), flush=True)
    if args.merge:
        previous = json.loads(args.json.read_text()) if args.json and args.json.is_file() else {}
        if previous and previous.get("seed", 0) != args.seed:
            sys.exit(f"--merge: {args.json} was run with --seed {previous['seed']}")
        if previous and previous.get("overrides", []) != args.overrides:
            sys.exit(
                f"--merge: {args.json} was run with --set {previous.get('overrides', [])}, "
                f"not {args.overrides}"
            )
        cases = merged_cases(args.json, state, cases)
    result = {
        **state,
        "cpu": cpu_name(),
        "seed": args.seed,
        "overrides": args.overrides,
        "cases": cases,
        "summary": summarize(cases),
    }
    print(json.dumps(result["summary"], indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def selected(patterns: str, dataset: str, target: str, scheme: str) -> bool:
    """Whether ``dataset/target/scheme`` matches one of the comma-separated patterns."""
    from fnmatch import fnmatchcase

    name = f"{dataset}/{target}/{scheme}"
    return any(fnmatchcase(name, pattern.strip()) for pattern in patterns.split(","))


def merged_cases(path: Path | None, state: dict, cases: list[dict]) -> list[dict]:
    """The cases of ``path`` (same clean commit only) with those just run replacing theirs,
    in the benchmark's case order."""
    if path is None or not path.is_file():
        return cases
    previous = json.loads(path.read_text())
    if previous.get("commit") != state["commit"] or previous.get("dirty") or state["dirty"]:
        sys.exit(
            f"--merge: {path} was measured on {previous.get('commit')} "
            f"(dirty={previous.get('dirty')}), this run on {state['commit']} "
            f"(dirty={state['dirty']}); rerun all cases instead"
        )
    by_key = {_case_key(case): case for case in [*previous["cases"], *cases]}
    order = [(d, t, s) for d, t, _ in MEUSE for s in ("spatial_block", "random")]
    order += [(d, t, "predefined") for d, t, _ in LIMESODA]
    return [by_key[k] for k in order if k in by_key]


def _case_key(case: dict) -> tuple[str, str, str]:
    return case["dataset"], case["target"], case["scheme"]


def summarize(cases: list[dict]) -> dict:
    """Mean pooled R2 per model, and the issue's targets for ``auto``."""
    names = list(cases[0]["models"]) if cases else []
    mean = {n: round(float(np.mean([c["models"][n]["r2"] for c in cases])), 4) for n in names}
    gaps = [
        c["models"]["auto"]["r2"]
        - max(c["models"]["peer_random_forest"]["r2"], c["models"]["peer_linear"]["r2"])
        for c in cases
    ]
    return {
        "mean_r2": mean,
        "auto_minus_best_peer": [round(g, 4) for g in gaps],
        "auto_within_0.02_of_best_peer_everywhere": bool(all(g >= -0.02 for g in gaps)),
        "auto_mean_minus_peer_random_forest": round(
            mean.get("auto", np.nan) - mean.get("peer_random_forest", np.nan), 4
        ),
    }


if __name__ == "__main__":
    main()
