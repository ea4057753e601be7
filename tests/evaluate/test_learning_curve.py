"""Learning curves: a fixed test set, nested training sets, one figure for several models."""

from typing import ClassVar

import numpy as np
import pytest

from geosoil.errors import ConfigError
from geosoil.evaluate.learning_curve import learning_curve, learning_curve_figure, resolve_sizes

from .fakes import RidgeSpectra, linear_spectra


class Recording(RidgeSpectra):
    """Remembers the training rows it saw (by their first feature value)."""

    seen: ClassVar[list] = []

    def fit(self, X, y, *, axis, X_valid=None, y_valid=None):
        Recording.seen.append((self.seed, set(X[:, 0].tolist()) | set(X_valid[:, 0].tolist())))
        return super().fit(X, y, axis=axis, X_valid=X_valid, y_valid=y_valid)


def test_sizes_from_counts_and_shares():
    assert resolve_sizes([0.5, 10, 1.0, 10], 40) == [10, 20, 40]
    with pytest.raises(ConfigError, match="pool outside the test set has 40") as err:
        resolve_sizes([41], 40)
    assert err.value.field == "sizes"
    with pytest.raises(ConfigError, match="neither a whole count"):
        resolve_sizes([12.5], 40)
    with pytest.raises(ConfigError):
        resolve_sizes([2], 40)


def test_curve_keeps_the_test_set_fixed_and_nests_training_sets():
    X, y = linear_spectra(200, noise=0.1)
    Recording.seen = []
    result = learning_curve(
        {"ridge": lambda s: Recording(seed=s), "strong_ridge": lambda s: RidgeSpectra(alpha=500.0)},
        X,
        y,
        axis=None,
        sizes=[15, 0.5, 1.0],
        n_seeds=2,
        seed=3,
    )
    points = result.points
    assert result.n_test == 20
    assert len(points) == 2 * 3 * 2  # models x sizes x seeds
    assert sorted(points["size"].unique()) == [15, 90, 180]
    assert (points["n_train"] + points["n_valid"] == points["size"]).all()
    assert set(points["seed"]) == {3, 4}
    # within one seed, a larger training set contains the smaller one
    by_seed = {}
    for seed, rows in Recording.seen:
        by_seed.setdefault(seed, []).append(rows)
    for sets in by_seed.values():
        assert sets[0] < sets[1] < sets[2]
    # more data helps a model that underfits with few samples (12-band ridge from 15 rows)
    summary = result.summary()
    ridge = summary[summary["model"] == "ridge"].set_index("size")
    assert ridge.loc[180, "r2_mean"] > ridge.loc[15, "r2_mean"]
    assert ridge.loc[180, "r2_mean"] > 0.9
    assert summary["model"].tolist()[:3] == ["ridge"] * 3
    assert (summary["n_seeds"] == 2).all()


def test_grouped_curve_holds_whole_groups_out():
    X, y = linear_spectra(120)
    groups = np.repeat(np.arange(24), 5)
    Recording.seen = []
    result = learning_curve(
        {"ridge": lambda s: Recording(seed=s)},
        X,
        y,
        axis=None,
        sizes=[1.0],
        n_seeds=1,
        scheme="grouped",
        groups=groups,
    )
    assert result.n_test % 5 == 0
    used = Recording.seen[0][1]
    test_values = set(X[:, 0].tolist()) - used
    test_groups = {groups[np.flatnonzero(X[:, 0] == v)[0]] for v in test_values}
    train_groups = {groups[np.flatnonzero(X[:, 0] == v)[0]] for v in used}
    assert not test_groups & train_groups


def test_figure_is_a_png():
    X, y = linear_spectra(80)
    result = learning_curve(
        {"a": lambda s: RidgeSpectra(), "b": lambda s: RidgeSpectra(alpha=10.0)},
        X,
        y,
        axis=None,
        sizes=[20, 72],
        n_seeds=2,
    )
    png = learning_curve_figure(result)
    assert png.startswith(b"\x89PNG") and len(png) > 5000
