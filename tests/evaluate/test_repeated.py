"""Repeated train/valid/test splits (random and grouped) and runs over them."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geosoil.errors import ConfigError, SampleDataError
from geosoil.evaluate.repeated import run_repeated, train_valid_test_splits
from geosoil.evaluate.tables import PAPER_METRICS

from .fakes import RidgeSpectra, linear_spectra


def assert_partition(split, n):
    together = np.concatenate([split.train, split.valid, split.test])
    assert np.array_equal(np.sort(together), np.arange(n)), "sets overlap or miss samples"
    for part in (split.train, split.valid, split.test):
        assert part.size > 0 and part.dtype == np.int64
        assert np.all(np.diff(part) > 0)


def test_random_splits_follow_the_paper_sizes():
    splits = train_valid_test_splits(200, n_seeds=5, test_fraction=0.1, valid_fraction=0.1)
    assert [s.seed for s in splits] == [0, 1, 2, 3, 4]
    for split in splits:
        assert_partition(split, 200)
        # test first (10 % of all), then valid as 10 % of the remaining 180
        assert split.test.size == 20 and split.valid.size == 18 and split.train.size == 162
    assert not np.array_equal(splits[0].test, splits[1].test)


def test_a_split_is_rebuilt_from_its_seed_alone():
    many = train_valid_test_splits(100, n_seeds=4, seed=10)
    alone = train_valid_test_splits(100, n_seeds=1, seed=13)[0]
    assert many[3].seed == alone.seed == 13
    for name in ("train", "valid", "test"):
        assert np.array_equal(getattr(many[3], name), getattr(alone, name))


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=3, max_size=30),
    test_fraction=st.floats(0.05, 0.5),
    valid_fraction=st.floats(0.05, 0.5),
    seed=st.integers(0, 1000),
)
def test_grouped_splits_never_straddle_groups(sizes, test_fraction, valid_fraction, seed):
    groups = np.repeat([f"site{i}" for i in range(len(sizes))], sizes)
    rng = np.random.default_rng(seed)
    groups = groups[rng.permutation(groups.size)]  # samples of a site need not be adjacent
    splits = train_valid_test_splits(
        groups.size,
        scheme="grouped",
        groups=groups,
        n_seeds=2,
        test_fraction=test_fraction,
        valid_fraction=valid_fraction,
        seed=seed,
    )
    for split in splits:
        assert_partition(split, groups.size)
        train, valid, test = (set(groups[p]) for p in (split.train, split.valid, split.test))
        assert not (train & valid) and not (train & test) and not (valid & test)


def test_grouped_splits_come_close_to_the_fractions():
    groups = np.repeat(np.arange(100), 5)  # 500 samples, 100 sites of 5
    splits = train_valid_test_splits(500, scheme="grouped", groups=groups, n_seeds=10)
    for split in splits:
        assert split.test.size == 50  # whole groups of 5 reach 10 % exactly
        assert split.valid.size == 45
    tested = set(np.concatenate([groups[s.test] for s in splits]))
    assert len(tested) > 50, "different seeds should hold out different sites"


def test_grouped_split_refuses_too_few_groups_and_missing_labels():
    with pytest.raises(ConfigError, match="2 distinct group") as err:
        train_valid_test_splits(10, scheme="grouped", groups=["a"] * 5 + ["b"] * 5)
    assert err.value.field == "splits.group_column" and "at least 3 groups" in err.value.fix
    with pytest.raises(SampleDataError, match="no group label"):
        train_valid_test_splits(4, scheme="grouped", groups=["a", None, "b", "c"])
    with pytest.raises(ConfigError, match="needs a group label"):
        train_valid_test_splits(10, scheme="grouped")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"test_fraction": 0.0}, "splits.test_fraction"),
        ({"valid_fraction": 1.0}, "splits.valid_fraction"),
        ({"n_seeds": 0}, "splits.n_seeds"),
        ({"scheme": "spatial"}, "splits.scheme"),
    ],
)
def test_bad_split_settings_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as err:
        train_valid_test_splits(50, **kwargs)
    assert err.value.field == field and err.value.fix


def test_run_repeated_fits_with_the_valid_set_and_scores_the_test_set():
    X, y = linear_spectra(150)
    frame = pd.DataFrame({"order": np.where(np.arange(150) % 3 == 0, "Alfisols", "Mollisols")})
    splits = train_valid_test_splits(150, n_seeds=3)
    fitted = []
    result = run_repeated(
        lambda seed: RidgeSpectra(seed=seed),
        X,
        y,
        axis="AXIS",
        splits=splits,
        frame=frame,
        group_columns=["order"],
        on_fitted=lambda split, est, scores: fitted.append((split.seed, est, scores)),
    )
    assert [seed for seed, _, _ in fitted] == [0, 1, 2]
    for split, (_, est, scores) in zip(splits, fitted, strict=True):
        assert est.seed == split.seed and est.axis_ == "AXIS"
        assert scores["r2"] == result.per_seed.set_index("seed").loc[split.seed, "r2"]
        assert est.n_fit_ == split.train.size and est.n_valid_ == split.valid.size
    assert list(result.per_seed.columns[6:]) == list(PAPER_METRICS)
    assert result.per_seed["n_test"].tolist() == [s.test.size for s in splits]
    assert (result.per_seed["fit_seconds"] >= 0).all()
    # linear data with little noise: near-perfect on the log scale
    assert (result.per_seed["r2"] > 0.95).all()
    preds = result.predictions
    assert len(preds) == sum(s.test.size for s in splits)
    assert np.allclose(preds["observed"], y[preds["row"]])
    assert (preds["order"] == frame["order"].to_numpy()[preds["row"]]).all()


def test_metrics_are_on_log_scale_and_back_transformed():
    X, y = linear_spectra(120, noise=0.3)
    splits = train_valid_test_splits(120, n_seeds=1)
    result = run_repeated(lambda s: RidgeSpectra(seed=s), X, y, axis=None, splits=splits)
    test = result.predictions
    obs, pred = test["observed"].to_numpy(), test["predicted"].to_numpy()
    row = result.per_seed.iloc[0]
    log_r2 = 1 - np.sum((np.log10(obs) - np.log10(pred)) ** 2) / np.sum(
        (np.log10(obs) - np.log10(obs).mean()) ** 2
    )
    assert row["r2"] == pytest.approx(log_r2)
    assert row["rmse"] == pytest.approx(np.sqrt(np.mean((pred - obs) ** 2)))
    assert row["mape"] == pytest.approx(100 * np.mean(np.abs(pred - obs) / obs))
    raw = run_repeated(
        lambda s: RidgeSpectra(seed=s), X, y, axis=None, splits=splits, target_transform="none"
    )
    raw_r2 = 1 - np.sum((obs - pred) ** 2) / np.sum((obs - obs.mean()) ** 2)
    assert raw.per_seed.iloc[0]["r2"] == pytest.approx(raw_r2)
    assert raw.per_seed.iloc[0]["r2"] != pytest.approx(log_r2)


def test_run_repeated_refuses_bad_targets_and_missing_group_columns():
    X, y = linear_spectra(40)
    splits = train_valid_test_splits(40, n_seeds=1)
    bad = y.copy()
    bad[[3, 7]] = 0.0
    with pytest.raises(SampleDataError, match="2 zero or negative") as err:
        run_repeated(lambda s: RidgeSpectra(), X, bad, axis=None, splits=splits)
    assert "target_transform: none" in err.value.fix
    bad[[3, 7]] = np.nan
    with pytest.raises(SampleDataError, match="2 missing or non-finite"):
        run_repeated(lambda s: RidgeSpectra(), X, bad, axis=None, splits=splits)
    frame = pd.DataFrame({"site": ["a"] * 40, "country": ["b"] * 40})
    with pytest.raises(SampleDataError, match="'order' is not in the sample table") as err:
        run_repeated(
            lambda s: RidgeSpectra(),
            X,
            y,
            axis=None,
            splits=splits,
            frame=frame,
            group_columns=["order"],
        )
    assert err.value.field == "group_columns" and "site, country" in err.value.fix


def test_summary_gives_flat_mean_and_sd():
    X, y = linear_spectra(100, noise=0.2)
    result = run_repeated(
        lambda s: RidgeSpectra(seed=s),
        X,
        y,
        axis=None,
        splits=train_valid_test_splits(100, n_seeds=4),
    )
    summary = result.summary()
    assert summary["r2_mean"] == pytest.approx(result.per_seed["r2"].mean())
    assert summary["r2_sd"] == pytest.approx(result.per_seed["r2"].std(ddof=1))
    assert summary["n_seeds"] == 4 and summary["fit_seconds_total"] >= 0
    assert {f"{m}_mean" for m in PAPER_METRICS} <= set(summary)


def test_predefined_folds_are_the_test_sets_in_turn():
    folds = np.array(["b", "a", "c"] * 10)  # sorted order a, b, c decides the split order
    splits = train_valid_test_splits(30, scheme="predefined", groups=folds, valid_fraction=0.2)
    assert len(splits) == 3
    for split, fold in zip(splits, "abc", strict=True):
        assert set(folds[split.test]) == {fold}
        assert fold not in set(folds[split.train]) | set(folds[split.valid])
        assert split.valid.size == 4 and split.train.size == 16
    tested = np.concatenate([split.test for split in splits])
    assert np.array_equal(np.sort(tested), np.arange(30))  # every sample tested once
    assert len(train_valid_test_splits(30, scheme="predefined", groups=folds, n_seeds=2)) == 2


def test_predefined_splits_need_folds():
    with pytest.raises(ConfigError, match="fold of every sample") as info:
        train_valid_test_splits(30, scheme="predefined")
    assert info.value.field == "splits.fold_column"
    with pytest.raises(ConfigError, match="too few") as info:
        train_valid_test_splits(30, scheme="predefined", groups=np.zeros(30))
    assert info.value.field == "splits.fold_column"
