"""Fold generators: partitions, determinism, and no group or block on both sides."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geosoil.errors import ConfigError, SampleDataError
from geosoil.evaluate import (
    grouped_kfold,
    random_kfold,
    spatial_block_ids,
    spatial_block_kfold,
)


def assert_partition(folds, n_samples):
    """Every sample in exactly one test fold; train is the complement of test."""
    tests = np.concatenate([test for _, test in folds])
    np.testing.assert_array_equal(np.sort(tests), np.arange(n_samples))
    for train, test in folds:
        assert test.size > 0 and train.size > 0
        assert np.intersect1d(train, test).size == 0
        np.testing.assert_array_equal(np.union1d(train, test), np.arange(n_samples))
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)


def assert_same(folds_a, folds_b):
    assert len(folds_a) == len(folds_b)
    for (train_a, test_a), (train_b, test_b) in zip(folds_a, folds_b, strict=True):
        np.testing.assert_array_equal(train_a, train_b)
        np.testing.assert_array_equal(test_a, test_b)


def folds_differ(folds_a, folds_b):
    return any(
        not np.array_equal(test_a, test_b)
        for (_, test_a), (_, test_b) in zip(folds_a, folds_b, strict=True)
    )


def scattered_points(n, seed=0, extent_m=10_000.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(500_000, 500_000 + extent_m, n), rng.uniform(4e6, 4e6 + extent_m, n)


# --- random -----------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    n_splits=st.integers(2, 10),
    extra=st.integers(0, 60),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_kfold_partitions(n_splits, extra, seed):
    n_samples = n_splits + extra
    folds = random_kfold(n_samples, n_splits=n_splits, seed=seed)
    assert len(folds) == n_splits
    assert_partition(folds, n_samples)
    sizes = [test.size for _, test in folds]
    assert max(sizes) - min(sizes) <= 1


def test_random_kfold_deterministic_per_seed():
    assert_same(random_kfold(100, seed=7), random_kfold(100, seed=7))
    assert folds_differ(random_kfold(100, seed=7), random_kfold(100, seed=8))


@pytest.mark.parametrize("n_splits", [0, 1, 2.5])
def test_random_kfold_refuses_bad_n_splits(n_splits):
    with pytest.raises(ConfigError) as info:
        random_kfold(10, n_splits=n_splits)
    assert info.value.field == "n_splits"


def test_random_kfold_refuses_more_folds_than_samples():
    with pytest.raises(ConfigError, match="too few"):
        random_kfold(3, n_splits=5)


# --- grouped ----------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    group_sizes=st.lists(st.integers(1, 8), min_size=5, max_size=30),
    n_splits=st.integers(2, 5),
    seed=st.integers(0, 1000),
)
def test_grouped_kfold_keeps_groups_whole(group_sizes, n_splits, seed):
    groups = np.repeat([f"site-{i}" for i in range(len(group_sizes))], group_sizes)
    folds = grouped_kfold(groups, n_splits=n_splits, seed=seed)
    assert_partition(folds, groups.size)
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    # greedy to the lightest fold: no fold exceeds another by more than the largest group
    sizes = [test.size for _, test in folds]
    assert max(sizes) - min(sizes) <= max(group_sizes)


def test_grouped_kfold_deterministic_per_seed():
    groups = np.arange(60) // 3
    assert_same(grouped_kfold(groups, seed=1), grouped_kfold(groups, seed=1))
    assert folds_differ(grouped_kfold(groups, seed=1), grouped_kfold(groups, seed=2))


def test_grouped_kfold_accepts_mixed_labels():
    groups = ["a", "a", 1, 1, 2.5, "b", "c", "c"]
    folds = grouped_kfold(groups, n_splits=3)
    assert_partition(folds, len(groups))


def test_grouped_kfold_refuses_missing_labels():
    with pytest.raises(SampleDataError) as info:
        grouped_kfold(["a", None, "b", np.nan, "c", "d", "e"], n_splits=2)
    assert info.value.field == "groups"
    assert "2 sample(s)" in str(info.value)


def test_grouped_kfold_refuses_fewer_groups_than_folds():
    with pytest.raises(ConfigError, match="3 distinct groups"):
        grouped_kfold(["a", "b", "c", "a"], n_splits=5)


# --- spatial blocks ---------------------------------------------------------------------


def test_spatial_block_ids_by_hand():
    x = [0.0, 999.0, 1000.0, 0.0, 2500.0]
    y = [0.0, 999.9, 0.0, 1000.0, 0.0]
    ids = spatial_block_ids(x, y, block_size_m=1000.0)
    # blocks (0,0), (0,0), (1,0), (0,1), (2,0), numbered in (i, j) order
    np.testing.assert_array_equal(ids, [0, 0, 2, 1, 3])


def test_spatial_block_ids_relative_to_lower_left_point():
    x, y = scattered_points(50)
    np.testing.assert_array_equal(
        spatial_block_ids(x, y, block_size_m=1500.0),
        spatial_block_ids(x - 123_456.0, y + 7_000.0, block_size_m=1500.0),
    )


@settings(max_examples=40, deadline=None)
@given(
    block_size_m=st.floats(200.0, 3000.0),
    n_splits=st.integers(2, 5),
    seed=st.integers(0, 1000),
    point_seed=st.integers(0, 1000),
)
def test_spatial_block_kfold_keeps_blocks_whole(block_size_m, n_splits, seed, point_seed):
    x, y = scattered_points(120, seed=point_seed)
    blocks = spatial_block_ids(x, y, block_size_m=block_size_m)
    folds = spatial_block_kfold(x, y, block_size_m=block_size_m, n_splits=n_splits, seed=seed)
    assert_partition(folds, x.size)
    for train, test in folds:
        assert not set(blocks[train]) & set(blocks[test])


def test_spatial_block_kfold_deterministic_per_seed():
    x, y = scattered_points(200)
    first = spatial_block_kfold(x, y, block_size_m=2000.0, seed=3)
    assert_same(first, spatial_block_kfold(x, y, block_size_m=2000.0, seed=3))
    assert folds_differ(first, spatial_block_kfold(x, y, block_size_m=2000.0, seed=4))


def test_spatial_block_kfold_too_few_blocks():
    # 15 km along x, under 5 km along y: three 5 km blocks
    x = np.linspace(0.0, 14_999.0, 30)
    y = np.linspace(0.0, 4_000.0, 30)
    with pytest.raises(ConfigError) as info:
        spatial_block_kfold(x, y, block_size_m=5000, n_splits=5)
    message = str(info.value)
    assert "block_size_m=5000 gives 3 blocks for 5 folds" in message
    assert "use a smaller block size or fewer folds" in message
    assert info.value.field == "block_size_m"
    assert len(spatial_block_kfold(x, y, block_size_m=5000, n_splits=3)) == 3


@pytest.mark.parametrize("block_size_m", [0.0, -10.0, float("nan"), float("inf")])
def test_spatial_block_kfold_refuses_bad_block_size(block_size_m):
    x, y = scattered_points(20)
    with pytest.raises(ConfigError) as info:
        spatial_block_kfold(x, y, block_size_m=block_size_m)
    assert info.value.field == "block_size_m"


def test_spatial_block_kfold_refuses_bad_coordinates():
    x, y = scattered_points(20)
    x[3] = np.nan
    with pytest.raises(SampleDataError, match="non-finite coordinates"):
        spatial_block_kfold(x, y, block_size_m=1000.0)
    with pytest.raises(ValueError, match="equal length"):
        spatial_block_kfold(x[:5], y, block_size_m=1000.0)
