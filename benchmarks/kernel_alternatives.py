"""Compiled alternatives to the two kernels that bound tree maps and AOA maps, measured.

    python benchmarks/kernel_alternatives.py --json benchmarks/results/kernel_alternatives.json

Two kernels set targets geosoil does not meet: the random forest's tree walk (a map at 2x
pyspatialml's, which runs the same scikit-learn walk) and the AOA's nearest-training-row
search (a map with AOA layers within 1.3x of one without). Each is timed here on one thread
against the alternatives a user might expect to be faster, on the same rows, with the
largest difference in the result:

- forest: geosoil's walk (scikit-learn's compiled ``Tree.apply`` on trees rebuilt from the
  artifact's arrays), treelite's GTIL, and a numba walk over packed nodes (threshold, feature
  and left child in adjacent arrays, right child = left + 1, trees outer, rows inner);
- nearest row: geosoil's search (float32 products in cache-sized blocks, one BLAS thread),
  scipy's cKDTree, scikit-learn's KDTree, and a numba search that bounds whole leaves of 16
  rows by their centre and radius, starting from the previous pixel's nearest row.

treelite and numba are not geosoil dependencies; their rows are skipped (and say so) where
they cannot be imported. To include them without touching the environment:
``pip install --target /tmp/kernels treelite numba`` and ``PYTHONPATH=/tmp/kernels``.
Rows are the map_throughput covariates (12 float32 layers, a 1024^2 block, about 1 M valid
pixels for the search and 65,536 for the forest); training rows are drawn from the whole grid.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from provenance import code_state, cpu_name

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

log = logging.getLogger("kernel_alternatives")
FOREST_ROWS = 65_536
LEAF_ROWS = 16


def timed(function, repeat: int) -> tuple[float, object]:
    """Median seconds of ``repeat`` calls (after one untimed call) and the last result."""
    result = function()
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def stack_rows(size: int, workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Valid pixels of the map_throughput stack (raster order) and a sample of the grid's."""
    import map_throughput as mt
    from rasterio.windows import Window

    from geosoil.geo.grid import Grid
    from geosoil.io.catalog import read_catalog
    from geosoil.mapping.stack import CovariateStack

    catalog = mt.ensure_dataset(workdir, size, 0, [])
    layers = read_catalog(catalog).layers
    grid = Grid.from_raster(layers[0].path)
    with CovariateStack.from_layers(layers).open(grid) as reader:
        block = reader.read(Window(0, 0, 1024, 1024)).reshape(len(layers), -1)
    pixels = np.ascontiguousarray(block[:, np.isfinite(block).all(axis=0)].T)
    training = mt.training_table(catalog, 5000, np.random.default_rng(1)).to_numpy(np.float32)
    return pixels, training


# --------------------------------------------------------------------------- forest
def forest_part(pixels: np.ndarray, training: np.ndarray, repeat: int) -> dict:
    from geosoil.models.covariate.trees import CovariateRandomForest

    rng = np.random.default_rng(0)
    train = training[:1000]
    target = np.tanh(train @ rng.normal(size=train.shape[1]) / 50) + 0.1 * rng.normal(size=1000)
    model = CovariateRandomForest(n_estimators=500).fit(train, target)
    rows = pixels[:FOREST_ROWS]
    encoded = model._encoded(rows)[0]
    forest = model.forest_
    shipped_s, shipped = timed(
        lambda: forest.summed_outputs(encoded, float32_features=True) / forest.n_trees, repeat
    )
    part = {
        "rows": len(rows),
        "trees": forest.n_trees,
        "nodes": len(forest.left),
        "training_rows": len(train),
        "geosoil_sklearn_walk": {"s": round(shipped_s, 4), "mrows_s": mrows(rows, shipped_s)},
    }
    part["treelite_gtil"] = treelite_row(
        model._encoded(train)[0], target, encoded, shipped, shipped_s, repeat
    )
    part["numba_packed_walk"] = numba_forest_row(forest, encoded, shipped, shipped_s, repeat)
    return part


def mrows(rows: np.ndarray, seconds: float) -> float:
    return round(len(rows) / seconds / 1e6, 3)


def compared(rows, seconds: float, result, reference, reference_s: float) -> dict:
    return {
        "s": round(seconds, 4),
        "mrows_s": mrows(rows, seconds),
        "speed_vs_geosoil": round(reference_s / seconds, 3),
        "max_abs_diff": float(np.max(np.abs(np.asarray(result) - reference))),
    }


def treelite_row(train, target, encoded, reference, reference_s: float, repeat: int) -> dict:
    try:
        import treelite
        import treelite.gtil
    except ImportError as err:
        return {"skipped": f"treelite not importable: {err}"}
    from sklearn.ensemble import RandomForestRegressor

    # The same trees, grown again by scikit-learn (same seed and settings), for its importer.
    library = RandomForestRegressor(
        n_estimators=500, max_features=1 / 3, min_samples_leaf=5, random_state=0
    )
    library.fit(train, target)
    imported = treelite.sklearn.import_model(library)
    rows = encoded.astype(np.float32)
    seconds, result = timed(
        lambda: treelite.gtil.predict(imported, rows, nthread=1).reshape(-1), repeat
    )
    return compared(rows, seconds, result, reference, reference_s)


def numba_forest_row(forest, encoded, reference, reference_s: float, repeat: int) -> dict:
    rows = encoded.astype(np.float32)
    arrays = (*packed_nodes(forest), packed_roots(forest))
    return numba_row(_packed_walk, rows, arrays, 1 / forest.n_trees, reference, reference_s, repeat)


def numba_row(kernel, rows, arrays, scale: float, reference, reference_s: float, repeat: int):
    """``kernel(rows, *arrays, out)`` compiled by numba (out: float64 zeros), times ``scale``,
    timed and compared with the reference; skipped where numba cannot be imported."""
    try:
        import numba
    except ImportError as err:
        return {"skipped": f"numba not importable: {err}"}
    compiled = numba.njit(nogil=True)(kernel)

    def run():
        out = np.zeros(len(rows))
        compiled(rows, *arrays, out)
        return out * scale

    seconds, result = timed(run, repeat)
    return compared(rows, seconds, result, reference, reference_s)


def packed_nodes(forest):
    """Each tree renumbered breadth-first so that a node's right child is its left + 1; the
    float64 thresholds rounded down to float32 (the same comparisons for float32 rows)."""
    thresholds, features, lefts, values = [], [], [], []
    offset = 0
    for start in forest.roots:
        order, child_at = [start], {}
        for node in order:
            if forest.left[node] >= 0:
                child_at[node] = len(order)
                order += [forest.left[node], forest.right[node]]
        order = np.asarray(order)
        t64 = forest.threshold[order]
        t32 = t64.astype(np.float32)
        t32 = np.where(t32 > t64, np.nextafter(t32, np.float32(-np.inf)), t32)
        thresholds.append(t32)
        features.append(forest.feature[order])
        lefts.append(np.array([child_at.get(n, -1 - offset) + offset for n in order]))
        values.append(forest.value[order])
        offset += len(order)
    return (
        np.concatenate(thresholds).astype(np.float32),
        np.concatenate(features).astype(np.int32),
        np.concatenate(lefts).astype(np.int32),
        np.concatenate(values),
    )


def packed_roots(forest) -> np.ndarray:
    sizes = np.diff(np.append(forest.roots, len(forest.left)))
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)


def _packed_walk(rows, threshold, feature, left, value, roots, out):  # pragma: no cover
    for tree in range(roots.shape[0]):
        root = roots[tree]
        for i in range(rows.shape[0]):
            node = root
            child = left[node]
            while child >= 0:
                node = child + (rows[i, feature[node]] > threshold[node])
                child = left[node]
            out[i] += value[node]


# --------------------------------------------------------------------------- nearest row
def nearest_part(pixels: np.ndarray, training: np.ndarray, n_rows: int, repeat: int) -> dict:
    from geosoil.trust.applicability import fit_applicability

    names = [f"cov{i:02d}" for i in range(training.shape[1])]
    model = fit_applicability(training[:n_rows].astype(np.float64), feature_names=names)
    queries = model.encode(pixels)
    stored = model.train_rows
    shipped_s, shipped = timed(lambda: model._nearest_distance(queries), repeat)
    part = {
        "queries": len(queries),
        "training_rows": n_rows,
        "geosoil_blocked_products": {
            "s": round(shipped_s, 4),
            "mrows_s": mrows(queries, shipped_s),
        },
    }
    from scipy.spatial import cKDTree
    from sklearn.neighbors import KDTree

    ckd = cKDTree(stored)
    seconds, result = timed(lambda: ckd.query(queries, k=1, workers=1)[0], repeat)
    part["scipy_ckdtree"] = compared(queries, seconds, result, shipped, shipped_s)
    kd = KDTree(stored)
    seconds, result = timed(lambda: kd.query(queries, k=1)[0][:, 0], 1)
    part["sklearn_kdtree"] = compared(queries, seconds, result, shipped, shipped_s)
    part["numba_bounded_leaves"] = numba_nearest_row(stored, queries, shipped, shipped_s, repeat)
    return part


def numba_nearest_row(stored, queries, reference, reference_s: float, repeat: int) -> dict:
    arrays = leaf_groups(stored)
    return numba_row(_bounded_search, queries, arrays, 1.0, reference, reference_s, repeat)


def leaf_groups(rows: np.ndarray):
    """Rows cut in halves along their widest column until at most LEAF_ROWS remain; the
    rows in leaf order, each leaf's start, centre and radius."""
    leaves, pending = [], [np.arange(len(rows))]
    while pending:
        index = pending.pop()
        if len(index) <= LEAF_ROWS:
            leaves.append(index)
            continue
        part = rows[index]
        column = int(np.argmax(part.max(axis=0) - part.min(axis=0)))
        index = index[np.argsort(part[:, column], kind="stable")]
        pending += [index[: len(index) // 2], index[len(index) // 2 :]]
    ordered = np.ascontiguousarray(rows[np.concatenate(leaves)])
    starts = np.concatenate([[0], np.cumsum([len(leaf) for leaf in leaves])]).astype(np.int64)
    centres = np.stack([rows[leaf].mean(axis=0) for leaf in leaves]).astype(np.float32)
    radii = np.array(
        [
            np.sqrt(((rows[leaf] - c) ** 2).sum(axis=1)).max()
            for leaf, c in zip(leaves, centres, strict=True)
        ],
        dtype=np.float32,
    ) * np.float32(1.0001)
    return ordered, starts, centres, radii


def _bounded_search(queries, rows, starts, centres, radii, out):  # pragma: no cover
    n_columns = queries.shape[1]
    previous = 0
    for i in range(queries.shape[0]):
        best = 0.0
        for k in range(n_columns):
            diff = queries[i, k] - rows[previous, k]
            best += diff * diff
        best_distance = np.sqrt(best)
        for leaf in range(centres.shape[0]):
            to_centre = 0.0
            for k in range(n_columns):
                diff = queries[i, k] - centres[leaf, k]
                to_centre += diff * diff
            if np.sqrt(to_centre) - radii[leaf] >= best_distance:
                continue
            for j in range(starts[leaf], starts[leaf + 1]):
                squared = 0.0
                for k in range(n_columns):
                    diff = queries[i, k] - rows[j, k]
                    squared += diff * diff
                if squared < best:
                    best, previous = squared, j
                    best_distance = np.sqrt(best)
        out[i] = best_distance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--training-rows", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/geosoil-kernels"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one thread everywhere: the engine runs one block per core
    state = code_state()
    if state["uncommitted"]:
        log.warning("uncommitted changes: %s (the JSON records them)", state["uncommitted"])
    load_before = os.getloadavg()
    pixels, training = stack_rows(1024, args.workdir)
    result = {
        **state,
        "cpu": cpu_name(),
        "command": " ".join(["python", *sys.argv]),
        "versions": {p: version(p) for p in ("scikit-learn", "scipy", "treelite", "numba")},
        "threads": 1,
        "repeat": args.repeat,
        "forest": forest_part(pixels, training, args.repeat),
        "nearest_row": [nearest_part(pixels, training, n, args.repeat) for n in args.training_rows],
    }
    result["machine_load"] = {"before": load_before, "after": os.getloadavg()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("forest", "nearest_row")}, indent=1))


if __name__ == "__main__":
    main()
