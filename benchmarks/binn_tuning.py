"""Choose BINN's and ScIReN's binn_ny training setting on inner splits only (issue 17).

    python benchmarks/binn_tuning.py [--outer-folds 2] [--seed 0] [--threads 1] --json OUT

The candidates are ``binn.CANDIDATES``, fixed before any was scored: the setting of the
committed binn_ny result (constant learning rate, 40 epochs, patience 10), a plateau schedule
(halve the rate after 3 stale epochs, up to 100 epochs, patience 15) and a cosine schedule
(60 epochs, the best epoch kept); and (issue 17b, fixed before scoring) ``ensemble5`` and
``cosine_ensemble5`` (5 members of ``current`` / ``cosine`` differing only in their seed,
SOC predictions averaged; per-member inner NSE recorded, member 0 shared with the single
model), ``sensitive4`` (``current`` learning only efolding, tau4s3, fs1s3 and w_scaling,
the other 17 parameters at mid-bounds); and (issue 17c) ``mixed_ensemble5``, the mean of
BINN ``ensemble5`` and ScIReN ``cosine_ensemble5`` (members shared with those candidates
when scored in the same fold; per-family inner NSE recorded). For the first
``--outer-folds`` of the 10 outer folds of ``--seed`` (the folds of ``benchmarks/binn.py
--experiment binn_ny``), the outer training set is split once, 90 / 10 by a seeded
permutation: each candidate is fitted on the 90 % (its own early stopping holds out 10 % of
that) and scored by the pooled NSE of the other 10 %. The outer test folds are never read.
Per network, the candidate with the best mean inner NSE is ``chosen``; run it under the
outer folds with ``benchmarks/binn.py --experiment binn_ny --binn-candidate C
--sciren-candidate C`` (``mixed_ensemble5``: ``--binn-ny-models ...,binn_sciren``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from provenance import code_state

sys.path.insert(0, str(Path(__file__).resolve().parent))
import binn

NETWORKS = ("binn", "sciren")
INNER_SHARE = 0.1


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outer-folds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--candidates", default=",".join(binn.CANDIDATES))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from geosoil.evaluate.profiles import profile_metrics
    from geosoil.evaluate.splits import random_kfold
    from geosoil.io.profiles import read_binn_ny

    root = Path(os.environ.get("GEOSOIL_REAL_DATA", binn.REPO.parent / "shared" / "data" / "real"))
    profiles = read_binn_ny(root / "binn_ny", drop_incomplete=True, drop_empty=True)
    folds = random_kfold(profiles.n_profiles, n_splits=10, seed=args.seed)
    networks = [n for n in args.networks.split(",") if n]
    candidates = [c for c in args.candidates.split(",") if c]
    started = time.perf_counter()
    scores: dict = {net: {c: [] for c in candidates} for net in networks}
    for fold, (train_idx, _test_idx) in enumerate(folds[: args.outer_folds]):
        order = np.random.default_rng(1000 * args.seed + fold).permutation(train_idx)
        n_inner = round(INNER_SHARE * len(order))
        inner_valid, inner_train = np.sort(order[:n_inner]), np.sort(order[n_inner:])
        held = profiles.subset(inner_valid)
        fitted: dict = {}  # (network, setting) -> {seed: fitted model}, shared by candidates
        for net in networks:
            for candidate in candidates:
                tic = time.perf_counter()
                model = make(net, candidate, args.seed, args.threads, fitted)
                model.fit(profiles.subset(inner_train))
                nse = profile_metrics(held.soc, model.predict(held))["nse"]
                row = {
                    "outer_fold": fold,
                    "inner_nse": nse,
                    "epochs_run": len(model.history_),
                    "best_epoch": model.best_epoch_,
                    "seconds": time.perf_counter() - tic,
                }
                if isinstance(model, binn.FamilyMean):
                    row["family_inner_nse"] = {
                        f: profile_metrics(held.soc, m.predict(held))["nse"]
                        for f, m in model.parts_.items()
                    }
                elif model.n_members > 1:
                    row["member_seeds"] = model.seeds
                    row["member_inner_nse"] = [
                        profile_metrics(held.soc, m.predict(held))["nse"] for m in model.members_
                    ]
                    row["member_best_epochs"] = [m.best_epoch_ for m in model.members_]
                scores[net][candidate].append(row)
                print(f"fold {fold} {net} {candidate}: inner NSE {nse:.3f}", flush=True)
    summary = {}
    for net, by_candidate in scores.items():
        means = {
            c: float(np.mean([r["inner_nse"] for r in rows])) for c, rows in by_candidate.items()
        }
        summary[net] = {"inner_nse_mean": means, "chosen": max(means, key=means.get)}
    out = {
        "benchmark": "binn_tuning",
        "command": "python benchmarks/binn_tuning.py " + " ".join(argv or sys.argv[1:]),
        "protocol": (
            f"first {args.outer_folds} of the 10 outer folds of seed {args.seed}; each outer "
            f"training set split once {1 - INNER_SHARE:.0%} / {INNER_SHARE:.0%}; outer test "
            "folds never read"
        ),
        "candidates": {c: binn.CANDIDATES[c] for c in candidates},
        "summary": summary,
        "scores": scores,
        "wall_seconds": time.perf_counter() - started,
        "load_average_1min_end": os.getloadavg()[0],
        "code": code_state(),
    }
    text = json.dumps(binn._finite(out), indent=2)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(json.dumps(binn._finite(summary), indent=2))
    return out


def make(network: str, candidate: str, seed: int, threads: int, fitted: dict | None = None):
    """The binn_ny estimator of ``benchmarks/binn.py`` with one training candidate.

    A :class:`binn.SeedEnsemble` (one member unless the candidate sets ``n_members``), or for a
    ``mix`` candidate a :class:`binn.FamilyMean` of one per family. ``fitted`` maps a
    (network, setting) to {seed: model} already fitted on the same data: a member of the
    same network, setting and seed is taken from it (new ones are stored), so an ensemble's
    member 0 is the single model of its setting, fitted once.
    """
    from geosoil.models import BINN, ScIReN

    training = binn.TRAINING["other"]
    settings, n_members = binn.split_candidate(candidate)
    fitted = {} if fitted is None else fitted
    if "mix" in settings:
        parts = settings["mix"].items()
        return binn.FamilyMean({f: make(f, c, seed, threads, fitted) for f, c in parts})
    key = json.dumps([network, settings], sort_keys=True)

    def member(member_seed: int):
        return {"binn": BINN, "sciren": ScIReN}[network](
            **settings,
            batch_size=32,
            learning_rate=training["learning_rate"],
            penalty_weight=training["penalty_weight"],
            dropout=training["dropout"],
            below_column="ignore",
            unseen_categories="mean",
            drop_empty=True,
            seed=member_seed,
            threads=threads,
        )

    return binn.SeedEnsemble(member, seed, n_members, fitted=fitted.setdefault(key, {}))


if __name__ == "__main__":
    main()
