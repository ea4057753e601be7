"""README's benchmark tables, generated from the JSONs in benchmarks/results/.

    python benchmarks/readme_tables.py           # rewrite the marked blocks of README.md
    python benchmarks/readme_tables.py --check   # exit 1 if README.md differs from the JSONs

A table lives in README.md between ``<!-- table:NAME -->`` and ``<!-- /table -->``; NAME is a
key of :data:`TABLES`, whose function turns ``benchmarks/results/NAME.json`` into markdown.
The prose around a table is written by hand; ``tests/test_readme_tables.py`` fails when a
table no longer matches its JSON. Unknown models or cases in a JSON get a row or column
under their raw names and a missing figure prints as ``-``, so a benchmark that grows
still renders; a marker naming no table, or a JSON that is missing, is an error.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"

BLOCK = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)
MISSING = "-"

__all__ = ["TABLES", "render", "update_readme"]


def _number(value: Any, digits: int = 3, *, signed: bool = False) -> str:
    """``value`` with ``digits`` decimals, or ``-`` when it is absent or not finite."""
    if value is None or not isinstance(value, int | float) or not math.isfinite(value):
        return MISSING
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _significant(value: Any, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures (259, 0.524, 90.5), or ``-``."""
    if value is None or not isinstance(value, int | float) or not math.isfinite(value):
        return MISSING
    return f"{value:.{digits}g}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"

    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)]) + "\n"


def _gib(mib: Any) -> str:
    return MISSING if not isinstance(mib, int | float) else f"{mib / 1024:.2f} GiB"


# --- map_throughput ------------------------------------------------------------------------

_MAP_RUNS = {
    "naive": "naive window loop",
    "engine": "engine, threaded (default)",
    "workers2": "engine, `--workers 2`",
}


def _load_per_core(run: Mapping[str, Any], cores: Any) -> str:
    """Median over a run's rounds of the 1-minute load average after it, per core."""
    after = [
        r["load_avg"]["after"][0] for r in run.get("rounds", [run]) if "load_avg" in r
    ]  # results before issue 20 recorded no load
    if not after or not isinstance(cores, int):
        return MISSING
    return _number(sorted(after)[len(after) // 2] / cores, 1)


def map_throughput(result: Mapping[str, Any]) -> str:
    """Wall time, throughput, peak memory and machine load of each run, then the bound."""
    rows = []
    cores = result.get("machine", {}).get("cores", MISSING)
    for key, run in result.get("runs", {}).items():
        if "wall_s" not in run:
            continue  # e.g. the memory-only runs at other sizes
        label = _MAP_RUNS.get(key, key)
        memory = _gib(run.get("peak_rss_mib"))
        if run.get("workers"):  # worker processes: the whole process tree counts
            memory = f"{_gib(run.get('tree_rss_peak_mib'))}, all processes"
        rows.append(
            [
                label,
                _number(run.get("wall_s"), 1),
                _number(run.get("mpx_s"), 2),
                memory,
                _load_per_core(run, cores),
            ]
        )
    components = result.get("components", {})
    parts = {"read": "read", "model": "model", "write_zarr": "Zarr", "write_cog": "COG"}
    cost = " + ".join(
        f"{name} {_number(components.get(key, {}).get('cpu_s'), 1)}" for key, name in parts.items()
    )
    rows.append(
        [
            f"bound from the components' CPU cost ({cost} CPU s, / {cores} cores)",
            "",
            _number(result.get("bound_mpx_s"), 2),
            "",
            "",
        ]
    )
    header = ["run", "wall s", "Mpx/s", "peak RSS", "load per core (1 min)"]
    return _table(header, rows)


# --- covariate_learners --------------------------------------------------------------------

_LEARNERS = {
    "auto": "auto",
    "random_forest": "geosoil RF",
    "gbm": "GBM",
    "linear": "ridge",
    "covariate_mlp": "MLP",
    "covariate_svr": "SVR",
    "peer_random_forest": "peer sklearn RF",
    "peer_linear": "peer OLS",
}
_SCHEMES = {
    ("meuse", "spatial_block"): "600 m blocks",
    ("meuse", "random"): "random {n_folds}-fold",
}


def _case_label(case: Mapping[str, Any]) -> str:
    dataset, scheme = case.get("dataset", "?"), case.get("scheme", "?")
    target = str(case.get("target", "?")).removesuffix("_target")
    folds = case.get("n_folds", "?")
    default = {"predefined": "published {n_folds} folds", "random": "random {n_folds}-fold"}
    other = scheme.replace("_", " ") + ", {n_folds} folds"
    how = _SCHEMES.get((dataset, scheme), default.get(scheme, other))
    return f"{dataset} {target}, {how.format(n_folds=folds)}"


def covariate_learners(result: Mapping[str, Any]) -> str:
    """Pooled out-of-fold R2 of every learner per case (best in bold), and the mean row."""
    cases = result.get("cases", [])
    learners = list(_LEARNERS)
    learners += sorted({k for c in cases for k in c.get("models", {})} - set(learners))
    peers = [name for name in learners if name.startswith("peer_")]
    rows = []
    for case in cases:
        models = case.get("models", {})
        r2 = {name: models.get(name, {}).get("r2") for name in learners}
        finite = [v for v in r2.values() if isinstance(v, int | float) and math.isfinite(v)]
        best = max(finite) if finite else None
        cells = [
            f"**{_number(value)}**" if value is not None and value == best else _number(value)
            for value in r2.values()
        ]
        peer_r2 = [r2[p] for p in peers if isinstance(r2[p], int | float)]
        margin = r2["auto"] - max(peer_r2) if peer_r2 and r2["auto"] is not None else None
        fit = " / ".join(
            _number(models.get(name, {}).get("fit_s"), 1) for name in ("auto", "peer_random_forest")
        )
        rows.append(
            [
                _case_label(case),
                str(case.get("n", MISSING)),
                *cells,
                _number(margin, signed=True),
                fit,
                _kriged_share(case),
            ]
        )
    means = result.get("summary", {}).get("mean_r2", {})
    rows.append(
        ["**mean pooled R2**", "", *(_number(means.get(name)) for name in learners), "", "", ""]
    )
    header = ["case", "n", *(_LEARNERS.get(name, name) for name in learners)]
    extra = ["auto - best peer", "fit s auto / peer RF", "auto kriged (outer folds)"]
    return _table([*header, *extra], rows)


def _kriged_share(case: Mapping[str, Any]) -> str:
    """In how many outer training sets ``auto`` chose its kriged-residuals variant."""
    chosen = case.get("chosen_in_outer_folds")
    if not chosen:
        return MISSING
    kriged = sum(n for name, n in chosen.items() if name.endswith("+kriged_residuals"))
    return f"{kriged}/{sum(chosen.values())}"


# --- trust ---------------------------------------------------------------------------------

_DATASETS = {"meuse": "Meuse", "limesoda_BB.250": "LimeSoDa BB.250", "afsis_mir": "AfSIS"}
_TARGETS = {"lead": "Pb", "zinc": "Zn", "exchangeable_K": "exch. K"}
_TRUST_SCHEMES = {
    "spatial_block_600m_5fold": "600 m blocks, 5 folds",
    "published_10fold": "published 10 folds",
    "site_grouped_5fold": "site-grouped 5 folds",
}
_TRUST_LEARNERS = {"covariate_mlp": "MLP", "random_forest": "random forest", "plsr_snv": "PLSR"}


def trust(result: Mapping[str, Any]) -> str:
    """Interval coverage and width, and the area of applicability, per case and learner."""
    level = result.get("level", 0.9)
    percent = f"{100 * level:g} %"
    rows, previous = [], None
    for case in result.get("cases", []):
        dataset, target = case.get("dataset", "?"), case.get("target", "?")
        scheme = case.get("scheme", "?")
        data = (
            f"{_DATASETS.get(dataset, dataset)} {_TARGETS.get(target, target)} "
            f"({case.get('units', '')}), {_TRUST_SCHEMES.get(scheme, scheme.replace('_', ' '))}"
        )
        share = _number(case.get("aoa_share"))
        if str(case.get("aoa_kind", "")).startswith("spectral domain"):
            share += " (spectral domain)"
        rmse = (
            f"{_significant(case.get('rmse_inside_aoa'))} / "
            f"{_significant(case.get('rmse_outside_aoa'))}"
        )
        rows.append(
            [
                data if data != previous else "",
                _TRUST_LEARNERS.get(case.get("learner"), str(case.get("learner", "?"))),
                _number(case.get("picp_90")),
                _significant(case.get("width_90")),
                share,
                str(case.get("n_outside_aoa", MISSING)),
                rmse,
            ]
        )
        previous = data
    header = ["data, folds", "learner", f"PICP ({percent})", "mean width", "share inside AOA"]
    return _table([*header, "n outside", "RMSE inside / outside"], rows)


# --- binn_ny (SOC on real profiles) ---------------------------------------------------------
_SOC_MODELS = {
    "depth_only": "depth-only mean (no covariates)",
    "gbm": "gradient boosting (LightGBM, covariates + depth)",
    "binn": "BINN (all 21 CLM5 parameters learned)",
    "sciren": "ScIReN",
    "binn_sciren": "BINN + ScIReN, mean of their 5-seed ensembles (constant / cosine rate)",
}
# Further binn_ny runs under the same folds and seeds whose networks join a table's rows
# (their baselines are the same models on the same folds as the table's own: not repeated).
SAME_FOLDS = {
    "binn_binn_ny_3seeds": (
        "binn_binn_ny_3seeds_ensemble5",
        "binn_binn_ny_sciren_ensemble5_seed0",
        "binn_binn_ny_sciren_ensemble5_seed1",
        "binn_binn_ny_sciren_ensemble5_seed2",
    ),
}


def _soc_label(name: str, training: Mapping[str, Any] | None) -> str:
    """A binn_ny model's row label: its name, then its training candidate if it has one."""
    label = _SOC_MODELS.get(name, name)
    if not training or "mix" in training:
        return label
    label += f", {training.get('lr_schedule')} rate, ≤ {training.get('max_epochs')} epochs"
    members = training.get("n_members", 1)
    return label + (f", {members} seeds averaged" if members > 1 else "")


def _seed(run: Mapping[str, Any]) -> int:
    return run.get("seed", 0)


def _joined(entries: list[tuple]) -> list[tuple]:
    """(name, figures, training) rows, those of the same model and candidate (runs of other
    seeds) made one: their seeds listed together and each figure averaged over the seeds, as
    ``benchmarks/binn.py`` averages a run of several seeds."""
    groups: dict[str, list[tuple]] = {}
    for entry in entries:
        groups.setdefault(json.dumps(entry[::2], sort_keys=True), []).append(entry)
    joined = []
    for group in groups.values():
        name, figures, training = group[0]
        if len(group) > 1:
            per_seed = sorted((s for e in group for s in e[1].get("per_seed", [])), key=_seed)
            keys = set.intersection(*(set(s) for s in per_seed)) - {"seed", "per_fold"}
            figures = {k: sum(s[k] for s in per_seed) / len(per_seed) for k in sorted(keys)}
            figures["per_seed"] = per_seed
        joined.append((name, figures, training))
    return joined


def binn_binn_ny_3seeds(result: Mapping[str, Any]) -> str:
    """NSE (mean and sd over folds and seeds, pooled), RMSE and the share of profiles beating
    the depth-only mean, per model, the best NSE in bold; then the NSE of each seed. Networks
    of the runs in ``same_folds_runs`` (see :data:`SAME_FOLDS`) follow as further rows, runs
    of the same model and candidate joined (:func:`_joined`); a seed no run covered prints
    as ``-``."""
    models = {**result.get("baselines", {}), **result.get("models", {})}
    seeds = [run.get("seed") for run in next(iter(models.values()), {}).get("per_seed", [])]
    entries = [(n, f, result.get("training_candidates", {}).get(n)) for n, f in models.items()]
    for run in result.get("same_folds_runs", []):
        schedules = run.get("training_candidates", {})
        entries += [(n, f, schedules.get(n)) for n, f in run.get("models", {}).items()]
    entries = _joined(entries)
    best = max(range(len(entries)), key=lambda i: entries[i][1].get("nse_mean", -math.inf))
    rows = []
    for i, (name, figures, training) in enumerate(entries):
        share = figures.get("share_profiles_beating_depth_only")
        by_seed = {run.get("seed"): run.get("nse_mean") for run in figures.get("per_seed", [])}
        label = _soc_label(name, training)
        if name != "depth_only" and set(by_seed) != set(seeds):
            covered = ", ".join(str(seed) for seed in sorted(by_seed))
            label += f" (seed{'s' * (len(by_seed) > 1)} {covered} only)"
        cells = [
            label,
            f"{_number(figures.get('nse_mean'))} ± {_number(figures.get('nse_sd'))}",
            _number(figures.get("nse_pooled")),
            _significant(figures.get("rmse_pooled"), 5),
            MISSING if name == "depth_only" or share is None else f"{100 * share:.0f} %",
            *(_number(by_seed.get(seed)) for seed in seeds),
        ]
        rows.append([f"**{c}**" for c in cells] if i == best else cells)
    header = ["model", "NSE mean ± sd", "pooled NSE", "pooled RMSE (g C m-3)"]
    header += ["profiles better than depth-only", *(f"NSE seed {seed}" for seed in seeds)]
    return _table(header, rows)


_SCALES = {"model": "density", "log10": "log10 density"}
_NORMALISERS = {"none": "constant", "depth": "by depth"}


def trust_soc(result: Mapping[str, Any]) -> str:
    """PICP and mean width of the SOC intervals per model, overall, by depth interval and by
    third of the prediction."""
    rows = []
    for case in result.get("cases", []):
        report = case.get("intervals", {})
        scale = _SCALES.get(report.get("scale"), report.get("scale"))
        norm = _NORMALISERS.get(report.get("normalisation"), report.get("normalisation"))
        by_depth = " ".join(_number(row.get("picp"), 2) for row in report.get("by_depth", []))
        thirds = " / ".join(
            _number(row.get("picp"), 2) for row in report.get("by_predicted_third", [])
        )
        rows.append([
            _SOC_MODELS.get(case.get("model"), case.get("model")),
            f"{scale}, {norm}",
            _number(report.get("picp")),
            MISSING if report.get("mean_width") is None else f"{report['mean_width']:,.0f}",
            by_depth,
            thirds,
        ])  # fmt: skip
    header = ["model", "scale, normaliser", f"PICP ({100 * result.get('level', 0.9):.0f} %)"]
    header += ["mean width (g C m-3)", "PICP by depth, 0-5 cm ... > 2 m"]
    header += ["PICP by third of the prediction, low / mid / high"]
    return _table(header, rows)


TABLES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "map_throughput": map_throughput,
    "covariate_learners": covariate_learners,
    "trust": trust,
    "binn_binn_ny_3seeds": binn_binn_ny_3seeds,
    "trust_soc": trust_soc,
}


def render(name: str, results: Path = RESULTS) -> str:
    """The markdown table ``name`` from ``results/<name>.json`` (and its :data:`SAME_FOLDS`)."""
    if name not in TABLES:
        raise KeyError(f"README marks a table {name!r}; known tables: {', '.join(TABLES)}")
    result = json.loads((results / f"{name}.json").read_text())
    if name in SAME_FOLDS:
        others = [results / f"{other}.json" for other in SAME_FOLDS[name]]
        result["same_folds_runs"] = [json.loads(path.read_text()) for path in others]
    return TABLES[name](result)


def update_readme(text: str, results: Path = RESULTS) -> str:
    """``text`` with every marked table block regenerated."""
    return BLOCK.sub(lambda m: m.group(1) + render(m.group("name"), results) + m.group(4), text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report a difference")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    updated = update_readme(text)
    names = [m.group("name") for m in BLOCK.finditer(text)]
    if args.check:
        if updated != text:
            print(f"{args.readme} tables differ from the JSONs: python {Path(__file__).name}")
            return 1
        print(f"{args.readme}: {len(names)} tables match their JSONs ({', '.join(names)})")
        return 0
    if updated != text:
        args.readme.write_text(updated)
    print(f"{args.readme}: {len(names)} tables written ({', '.join(names)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
