"""Compiled evaluation of :class:`~.forest_arrays.ForestArrays` (numba; the ``trees`` extra).

The same walk as the numpy evaluator: a row goes to ``children[2 * node + (x > threshold)]``,
and leaves point to themselves, so a walk needs no branch on the path it takes. Rows are
taken 256 at a time (they stay in the CPU cache while every tree walks them) and eight rows
walk a tree side by side for the tree's depth, so the processor overlaps their memory loads
(checking whether all eight have reached leaves cost more than the steps it saved, on
forests of depth 12-18). Outputs are added tree by tree in the forest's order, so each row's
value does not depend on its batch.

Importing this module compiles nothing; the first call compiles (or loads numba's on-disk
cache), once per process. The kernels release the GIL: dask threads evaluate blocks in
parallel.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["leaf_nodes", "summed_values"]

_ROWS_PER_PASS = 256
_LANES = 8


@numba.njit(nogil=True, cache=True)
def _walk(features, row, children, feature, threshold, is_leaf, root, depth):
    node = root
    for _ in range(depth):
        if is_leaf[node]:
            break
        node = children[2 * node + (features[row, feature[node]] > threshold[node])]
    return node


@numba.njit(nogil=True, cache=True)
def _walk_lanes(features, row, children, feature, threshold, root, depth):
    """Leaves of rows ``row .. row + 7`` in one tree."""
    n0 = n1 = n2 = n3 = n4 = n5 = n6 = n7 = root
    for _ in range(depth):
        n0 = children[2 * n0 + (features[row, feature[n0]] > threshold[n0])]
        n1 = children[2 * n1 + (features[row + 1, feature[n1]] > threshold[n1])]
        n2 = children[2 * n2 + (features[row + 2, feature[n2]] > threshold[n2])]
        n3 = children[2 * n3 + (features[row + 3, feature[n3]] > threshold[n3])]
        n4 = children[2 * n4 + (features[row + 4, feature[n4]] > threshold[n4])]
        n5 = children[2 * n5 + (features[row + 5, feature[n5]] > threshold[n5])]
        n6 = children[2 * n6 + (features[row + 6, feature[n6]] > threshold[n6])]
        n7 = children[2 * n7 + (features[row + 7, feature[n7]] > threshold[n7])]
    return n0, n1, n2, n3, n4, n5, n6, n7


@numba.njit(nogil=True, cache=True)
def _sums(features, children, feature, threshold, is_leaf, roots, depths, value, sums):
    """Add every tree's leaf value of each row to ``sums``, tree by tree."""
    n_rows = features.shape[0]
    for start in range(0, n_rows, _ROWS_PER_PASS):
        stop = min(n_rows, start + _ROWS_PER_PASS)
        for tree in range(roots.shape[0]):
            root, depth = roots[tree], depths[tree]
            row = start
            while row + _LANES <= stop:
                n0, n1, n2, n3, n4, n5, n6, n7 = _walk_lanes(
                    features, row, children, feature, threshold, root, depth
                )
                sums[row] += value[n0]
                sums[row + 1] += value[n1]
                sums[row + 2] += value[n2]
                sums[row + 3] += value[n3]
                sums[row + 4] += value[n4]
                sums[row + 5] += value[n5]
                sums[row + 6] += value[n6]
                sums[row + 7] += value[n7]
                row += _LANES
            for rest in range(row, stop):
                node = _walk(features, rest, children, feature, threshold, is_leaf, root, depth)
                sums[rest] += value[node]


@numba.njit(nogil=True, cache=True)
def _leaves(features, children, feature, threshold, is_leaf, roots, depths, leaves):
    """Store each row's leaf in every tree in ``leaves`` (rows, trees)."""
    n_rows = features.shape[0]
    for start in range(0, n_rows, _ROWS_PER_PASS):
        stop = min(n_rows, start + _ROWS_PER_PASS)
        for tree in range(roots.shape[0]):
            root, depth = roots[tree], depths[tree]
            row = start
            while row + _LANES <= stop:
                nodes = _walk_lanes(features, row, children, feature, threshold, root, depth)
                for lane in range(_LANES):
                    leaves[row + lane, tree] = nodes[lane]
                row += _LANES
            for rest in range(row, stop):
                leaves[rest, tree] = _walk(
                    features, rest, children, feature, threshold, is_leaf, root, depth
                )


def summed_values(walk, value: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Float64 (N,) sum over trees, in tree order, of each row's leaf value."""
    sums = np.zeros(len(features), dtype=np.float64)
    _sums(features, *walk, value, sums)
    return sums


def leaf_nodes(walk, features: np.ndarray) -> np.ndarray:
    """Int32 (N, n_trees) leaf node of every row in every tree."""
    n_trees = len(walk[4])
    leaves = np.empty((len(features), n_trees), dtype=np.int32)
    _leaves(features, *walk, leaves)
    return leaves
