"""Real data: lead in the Meuse floodplain from the 40 m covariate raster.

    python benchmarks/meuse_lead.py [--json meuse_lead.json]

Trains `configs/meuse/train_pb.yaml` (covariate MLP, log10 target) with random and
spatial-block 5-fold CV, maps it with `configs/meuse/map_pb.yaml`, and reports the CV
metrics, a random-forest baseline under the same folds, and whether the map is a valid COG.
Reads the data from $GEOSOIL_REAL_DATA (default ../shared/data/real).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from rio_cogeo.cogeo import cog_validate
    from sklearn.ensemble import RandomForestRegressor

    from geosoil.config import MapConfig, TrainConfig, load_config
    from geosoil.evaluate import cross_validate, random_kfold, spatial_block_kfold
    from geosoil.workflows import map_from_config, train_from_config
    from geosoil.workflows.train import build_training_table

    data = Path(os.environ.get("GEOSOIL_REAL_DATA", REPO.parent / "shared" / "data" / "real"))
    meuse = data / "meuse"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Re-anchor the shipped catalog at wherever the real data lives.
        catalog = yaml.safe_load((REPO / "configs" / "meuse" / "covariates.yaml").read_text())
        for layer in catalog["layers"]:
            layer["path"] = str(meuse / "rasters" / Path(layer["path"]).name)
        (tmp / "covariates.yaml").write_text(yaml.safe_dump(catalog))
        paths = [
            f"samples.path={meuse / 'meuse.csv'}",
            f"covariates.catalog={tmp / 'covariates.yaml'}",
        ]
        train_cfg = load_config(
            REPO / "configs" / "meuse" / "train_pb.yaml",
            TrainConfig,
            [*paths, f"output.dir={tmp / 'train'}"],
        )
        start = time.perf_counter()
        trained = train_from_config(train_cfg)
        train_s = time.perf_counter() - start
        mapped = map_from_config(
            load_config(
                REPO / "configs" / "meuse" / "map_pb.yaml",
                MapConfig,
                [f"models=[{trained.artifact}]", paths[1], f"output.dir={tmp / 'map'}"],
            )
        )
        (cog,) = mapped.cogs.values()
        valid_cog = cog_validate(str(cog))[0]

        # Random forest on the same table and folds, log10 target, back-transformed.
        X, y, xy, _ = build_training_table(train_cfg)
        ev = train_cfg.evaluation
        folds = {
            "random": random_kfold(len(y), n_splits=ev.n_splits, seed=ev.seed),
            "spatial_block": spatial_block_kfold(
                xy[:, 0],
                xy[:, 1],
                block_size_m=ev.spatial_block_size_m,
                n_splits=ev.n_splits,
                seed=ev.seed,
            ),
        }

        class LogForest:
            def fit(self, X, y):
                self.forest_ = RandomForestRegressor(500, random_state=0, n_jobs=1)
                self.forest_.fit(X, np.log10(y))
                return self

            def predict(self, X):
                return 10 ** self.forest_.predict(X)

        forest = {
            scheme: cross_validate(LogForest, X, y, f).summary()["pooled"]
            for scheme, f in folds.items()
        }

    def rounded(d):
        return {k: round(v, 3) for k, v in d.items()}

    figures = {
        "n_samples": len(y),
        "train_s": round(train_s, 1),
        "mlp": {
            s: {p: rounded(v) for p, v in summary.items()}
            for s, summary in trained.cv_summary.items()
        },
        "random_forest_pooled": {s: rounded(v) for s, v in forest.items()},
        "map": {
            "valid_cog": valid_cog,
            "valid_pixels": next(iter(mapped.statistics.values())).count,
            "pixels": mapped.n_pixels,
        },
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
