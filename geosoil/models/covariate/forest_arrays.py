"""Tree ensembles as plain arrays: how they are stored, checked and evaluated.

Every tree of an ensemble is flattened into shared node arrays: ``left``/``right`` (child
node, -1 at a leaf), ``feature`` and ``threshold`` (a row goes left when
``x[feature] <= threshold``), ``value`` (the leaf output) and ``roots`` (the first node of
each tree). These arrays are all an artifact stores, so loading a forest reads numbers, never
code; :meth:`ForestArrays.validate` refuses arrays that do not form trees.

Two evaluators give the same leaves. Where features are float32 values (the scikit-learn
forests), scikit-learn's compiled tree walk runs on trees rebuilt from the arrays: its
``Tree`` takes a node table and a value table through ``__setstate__``, plain numbers, never
a pickle. It is about 20 times faster than the other evaluator, batched numpy over
(rows x trees), which drops pairs from the work set as they reach a leaf and serves float64
features (and any environment where scikit-learn's tree module cannot be imported).
"""

from __future__ import annotations

import functools
import itertools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from geosoil.models.covariate.dense import as_array
from geosoil.models.threads import block_threads

if TYPE_CHECKING:
    import torch

__all__ = ["ForestArrays", "over_threads", "parse_lightgbm_model", "sklearn_tree_class"]

log = logging.getLogger(__name__)

_PAIRS_PER_PASS = 131072
# Fewest rows worth a thread of their own.
_ROWS_PER_THREAD = 2048
_ARRAYS = ("left", "right", "feature", "threshold", "value", "roots")


@dataclass(frozen=True)
class ForestArrays:
    """Flattened node arrays of a tree ensemble (see the module docstring)."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    depth: int

    @classmethod
    def build(cls, left, right, feature, threshold, value, roots, *, n_features: int):
        """Arrays in their canonical dtypes, validated; ``depth`` is measured here."""
        lengths = {len(a) for a in (left, right, feature, threshold, value)}
        if len(lengths) != 1:
            raise ValueError(f"node arrays differ in length: {sorted(lengths)}")
        left = np.asarray(left, dtype=np.int32)
        right = np.asarray(right, dtype=np.int32)
        leaf = left < 0
        feature = np.where(leaf, 0, np.asarray(feature)).astype(np.int32)
        threshold = np.where(leaf, 0.0, np.asarray(threshold, dtype=np.float64))
        arrays = cls(
            left,
            right,
            feature,
            threshold,
            np.asarray(value, dtype=np.float64),
            np.asarray(roots, dtype=np.int32),
            depth=0,
        )
        return cls(**{**arrays.__dict__, "depth": arrays.validate(n_features)})

    @classmethod
    def from_sklearn(cls, estimators, n_features: int) -> ForestArrays:
        """From the fitted ``estimators_`` of a scikit-learn forest (single output)."""
        parts = {name: [] for name in ("left", "right", "feature", "threshold", "value")}
        roots, offset = [], 0
        for estimator in estimators:
            tree = estimator.tree_
            left = tree.children_left.astype(np.int64)
            right = tree.children_right.astype(np.int64)
            parts["left"].append(np.where(left >= 0, left + offset, -1))
            parts["right"].append(np.where(right >= 0, right + offset, -1))
            parts["feature"].append(tree.feature)
            parts["threshold"].append(tree.threshold)
            parts["value"].append(tree.value[:, 0, 0])
            roots.append(offset)
            offset += tree.node_count
        return cls.build(
            **{k: np.concatenate(v) for k, v in parts.items()}, roots=roots, n_features=n_features
        )

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    def to_tensors(self, prefix: str = "forest.") -> dict[str, torch.Tensor]:
        import torch

        return {f"{prefix}{name}": torch.from_numpy(getattr(self, name).copy()) for name in _ARRAYS}

    @classmethod
    def from_tensors(cls, tensors, n_features: int, prefix: str = "forest.") -> ForestArrays:
        """Arrays from artifact tensors; raises ValueError unless they form valid trees."""
        arrays = {}
        for name in _ARRAYS:
            key = f"{prefix}{name}"
            if key not in tensors:
                raise ValueError(f"tensor '{key}' is missing")
            tensor = tensors[key]
            if tensor.ndim != 1:
                raise ValueError(f"tensor '{key}' has shape {tuple(tensor.shape)}, expected 1-D")
            arrays[name] = as_array(tensor)
        return cls.build(**arrays, n_features=n_features)

    def validate(self, n_features: int) -> int:
        """Check that the arrays form trees over ``n_features`` inputs; returns the depth.

        Raises
        ------
        ValueError
            Arrays of unequal length, a child or feature index out of range, a node with one
            child, a non-finite threshold or leaf value, or a node reached twice (a cycle or
            shared subtree).
        """
        n_nodes = len(self.left)
        if n_nodes == 0 or len(self.roots) == 0:
            raise ValueError("the forest has no nodes or no trees")
        for name in ("left", "right", "roots"):
            values = getattr(self, name)
            low = 0 if name == "roots" else -1
            if values.min() < low or values.max() >= n_nodes:
                raise ValueError(f"'{name}' holds node indices outside [{low}, {n_nodes})")
        leaf = self.left < 0
        if not np.array_equal(leaf, self.right < 0):
            raise ValueError("a node has exactly one child")
        internal_features = self.feature[~leaf]
        if internal_features.size and (
            internal_features.min() < 0 or internal_features.max() >= n_features
        ):
            raise ValueError(f"split features outside [0, {n_features})")
        if not np.isfinite(self.threshold).all() or not np.isfinite(self.value[leaf]).all():
            raise ValueError("non-finite thresholds or leaf values")
        # Walk level by level from the roots; every node may be reached at most once.
        seen = np.zeros(n_nodes, dtype=bool)
        level, depth = self.roots.astype(np.int64), 0
        while level.size:
            if seen[level].any() or len(np.unique(level)) != len(level):
                raise ValueError("a node is reached twice: the arrays do not form trees")
            seen[level] = True
            inner = level[self.left[level] >= 0]
            level = np.concatenate([self.left[inner], self.right[inner]]).astype(np.int64)
            depth += 1
        return depth

    def apply(self, features: np.ndarray, *, float32_features: bool = False) -> np.ndarray:
        """Leaf node (global index) of every row in every tree: int32 (N, n_trees).

        ``features`` is an (N, n_features) matrix without NaN. ``float32_features``: its
        values are float32 numbers (held as float64 or float32); scikit-learn's compiled walk
        then evaluates them exactly, in float32.
        """
        trees = self._sklearn_trees() if float32_features else None
        if trees is None:
            return self.apply_numpy(features)
        rows = np.ascontiguousarray(features, dtype=np.float32)
        leaves = np.empty((len(rows), self.n_trees), dtype=np.int32)

        def fill(part: slice) -> None:
            for column, (tree, root) in enumerate(zip(trees, self.roots, strict=True)):
                leaves[part, column] = tree.apply(rows[part]) + root

        over_threads(fill, len(rows))
        return leaves

    def summed_outputs(self, features: np.ndarray, *, float32_features: bool = False):
        """Float64 (N,) sum over the trees of each row's leaf value, added in tree order
        (so a row's value does not depend on its batch). See :meth:`apply`."""
        trees = self._sklearn_trees() if float32_features else None
        if trees is None:
            total = np.zeros(len(features), dtype=np.float64)
            for column in self.value[self.apply_numpy(features)].T:
                total += column
            return total
        rows = np.ascontiguousarray(features, dtype=np.float32)
        total = np.zeros(len(rows), dtype=np.float64)
        values = self._tree_values()

        def add(part: slice) -> None:
            for tree, value in zip(trees, values, strict=True):
                total[part] += value[tree.apply(rows[part])]

        over_threads(add, len(rows))
        return total

    def _tree_values(self) -> list[np.ndarray]:
        ends = np.append(self.roots, len(self.left))
        return [self.value[start:stop] for start, stop in itertools.pairwise(ends)]

    def _sklearn_trees(self) -> list | None:
        """scikit-learn ``Tree`` objects holding these arrays, built once; None without it."""
        if "_sklearn" in self.__dict__:
            return self.__dict__["_sklearn"]
        tree_class = sklearn_tree_class()
        trees = None
        if tree_class is not None:
            trees = []
            ends = np.append(self.roots, len(self.left))
            for start, stop in itertools.pairwise(ends):
                trees.append(_sklearn_tree(tree_class, self, start, stop))
        object.__setattr__(self, "_sklearn", trees)
        return trees

    def __getstate__(self) -> dict:
        # Caches are rebuilt where the arrays arrive (a dask worker), not shipped.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def apply_numpy(self, features: np.ndarray) -> np.ndarray:
        """:meth:`apply` by batched numpy."""
        # A few hundred rows at a time keep the (rows x trees) work arrays in the CPU cache.
        step = max(1, _PAIRS_PER_PASS // self.n_trees)
        if len(features) <= step:
            return self._apply(features)
        return np.concatenate(
            [self._apply(features[start : start + step]) for start in range(0, len(features), step)]
        )

    def _apply(self, features: np.ndarray) -> np.ndarray:
        children, feature, threshold = self._walk_arrays()
        n_rows, n_trees = len(features), self.n_trees
        flat = np.ascontiguousarray(features, dtype=np.float64).reshape(-1)
        node = np.broadcast_to(self.roots, (n_rows, n_trees)).reshape(-1).copy()
        offset = np.repeat(np.arange(n_rows, dtype=np.int32) * features.shape[1], n_trees)
        index = None  # positions in ``node`` of the pairs still walking (None: all)
        # Leaves point to themselves, so a pair at its leaf may take more steps unchanged;
        # pairs leave the work set only once a quarter of it has arrived, which keeps each
        # level to a few whole-array gathers.
        current = node
        for _ in range(self.depth - 1):
            step = children[2 * current + (flat[offset + feature[current]] > threshold[current])]
            arrived = step == current
            current = step
            n_arrived = int(np.count_nonzero(arrived))
            if n_arrived <= len(arrived) // 4:
                continue
            positions = np.arange(len(arrived)) if index is None else index
            node[positions[arrived]] = current[arrived]
            if n_arrived == len(arrived):
                return node.reshape(n_rows, n_trees)
            keep = ~arrived
            index, current, offset = positions[keep], current[keep], offset[keep]
        if index is None:
            return current.reshape(n_rows, n_trees)
        node[index] = current
        return node.reshape(n_rows, n_trees)

    def _walk_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Interleaved (left, right) children with leaves pointing to themselves."""
        cached = self.__dict__.get("_walk")
        if cached is None:
            index = np.arange(len(self.left), dtype=np.int32)
            leaf = self.left < 0
            children = np.empty(2 * len(index), dtype=np.int32)
            children[0::2] = np.where(leaf, index, self.left)
            children[1::2] = np.where(leaf, index, self.right)
            cached = (children, self.feature.astype(np.int32), self.threshold)
            object.__setattr__(self, "_walk", cached)
        return cached

    def tree_outputs(self, features: np.ndarray) -> np.ndarray:
        """Leaf value of every row in every tree: float64 (N, n_trees)."""
        return self.value[self.apply(features)]


@functools.cache
def sklearn_tree_class():
    """scikit-learn's compiled ``Tree``, or None where it cannot be imported (logged once)."""
    try:
        from sklearn.tree._tree import NODE_DTYPE, Tree
    except ImportError as err:
        log.warning(
            "scikit-learn's tree module cannot be imported (%s): forests are evaluated by "
            "numpy, about 20 times slower; install geosoil's dependencies: pip install "
            "'scikit-learn>=1.5'",
            err,
        )
        return None
    if "missing_go_to_left" not in NODE_DTYPE.names:  # pragma: no cover - scikit-learn < 1.3
        return None
    return Tree


def _sklearn_tree(tree_class, forest: ForestArrays, start: int, stop: int):
    """One tree of ``forest`` (nodes ``start:stop``) as a scikit-learn ``Tree``."""
    from sklearn.tree._tree import NODE_DTYPE

    n_nodes = stop - start
    leaf = forest.left[start:stop] < 0
    nodes = np.zeros(n_nodes, dtype=NODE_DTYPE)
    nodes["left_child"] = np.where(leaf, -1, forest.left[start:stop] - start)
    nodes["right_child"] = np.where(leaf, -1, forest.right[start:stop] - start)
    nodes["feature"] = np.where(leaf, -2, forest.feature[start:stop])
    nodes["threshold"] = np.where(leaf, -2.0, forest.threshold[start:stop])
    n_features = int(forest.feature.max()) + 1
    tree = tree_class(n_features, np.ones(1, dtype=np.intp), 1)
    tree.__setstate__(
        {
            "max_depth": forest.depth,
            "node_count": n_nodes,
            "nodes": nodes,
            "values": np.ascontiguousarray(forest.value[start:stop]).reshape(n_nodes, 1, 1),
        }
    )
    return tree


def over_threads(work, n_rows: int) -> None:
    """``work(slice)`` over the rows, split over :func:`~geosoil.models.threads.block_threads`
    threads (the engine sets it to each block's share of the cores); scikit-learn's walk
    frees the GIL."""
    parts = min(block_threads(), n_rows // _ROWS_PER_THREAD)
    if parts <= 1:
        work(slice(0, n_rows))
        return
    bounds = np.linspace(0, n_rows, parts + 1).astype(int)
    with ThreadPoolExecutor(parts, thread_name_prefix="geosoil-trees") as pool:
        list(pool.map(work, [slice(a, b) for a, b in itertools.pairwise(bounds)]))


def parse_lightgbm_model(text: str, n_features: int) -> ForestArrays:
    """Node arrays of a LightGBM regression model from its text format (parse only).

    Only numerical splits are accepted; leaves are stored as nodes with ``left = -1`` and the
    tree output is the sum over trees, as LightGBM's raw score.

    Raises
    ------
    ValueError
        The text is not a single-output LightGBM model, or holds categorical splits or
        arrays of inconsistent lengths.
    """
    blocks = text.split("\nTree=")
    head = dict(_key_values(blocks[0]))
    if head.get("num_tree_per_iteration", "1") != "1" or head.get("num_class", "1") != "1":
        raise ValueError("not a single-output LightGBM regression model")
    parts = {name: [] for name in ("left", "right", "feature", "threshold", "value")}
    roots, offset = [], 0
    for block in blocks[1:]:
        block = block.split("\nend of trees")[0]
        fields = dict(_key_values(block))
        n_leaves = int(fields["num_leaves"])
        leaf_value = _numbers(fields["leaf_value"], float)
        if len(leaf_value) != n_leaves:
            raise ValueError(f"{len(leaf_value)} leaf values for num_leaves={n_leaves}")
        if int(fields.get("num_cat", "0")):
            raise ValueError("categorical splits are not supported")
        n_inner = n_leaves - 1
        if n_inner == 0:
            left = right = feature = np.full(1, -1)
            threshold, value = np.zeros(1), np.asarray(leaf_value)
        else:
            columns = {
                key: _numbers(fields[key], float if key == "threshold" else int)
                for key in ("split_feature", "threshold", "left_child", "right_child")
            }
            decision = _numbers(fields["decision_type"], int)
            if any(len(v) != n_inner for v in [*columns.values(), decision]):
                raise ValueError(f"split arrays do not match num_leaves={n_leaves}")
            if any(d & 1 for d in decision):
                raise ValueError("categorical splits are not supported")
            if any((d >> 2) & 3 == 1 for d in decision):
                raise ValueError("zero-as-missing splits are not supported")
            # LightGBM numbers internal nodes 0..n-2 and leaves as ~leaf; here leaves follow
            # the internal nodes: leaf k is node n_inner + k.
            children = [np.asarray(columns[key]) for key in ("left_child", "right_child")]
            left, right = (np.where(c >= 0, c, n_inner + ~c) for c in children)
            left = np.concatenate([left, np.full(n_leaves, -1)])
            right = np.concatenate([right, np.full(n_leaves, -1)])
            feature = np.concatenate([columns["split_feature"], np.zeros(n_leaves, dtype=int)])
            threshold = np.concatenate([columns["threshold"], np.zeros(n_leaves)])
            value = np.concatenate([np.zeros(n_inner), leaf_value])
        parts["left"].append(np.where(left >= 0, left + offset, -1))
        parts["right"].append(np.where(right >= 0, right + offset, -1))
        parts["feature"].append(feature)
        parts["threshold"].append(threshold)
        parts["value"].append(value)
        roots.append(offset)
        offset += len(left)
    if not roots:
        raise ValueError("the LightGBM model has no trees")
    return ForestArrays.build(
        **{k: np.concatenate(v) for k, v in parts.items()}, roots=roots, n_features=n_features
    )


def _key_values(block: str):
    for line in block.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            yield key.strip(), value.strip()


def _numbers(text: str, kind) -> list:
    return [kind(v) for v in text.split()]
