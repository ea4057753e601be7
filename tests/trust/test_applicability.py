import numpy as np
import pytest

from geosoil.errors import CalibrationError
from geosoil.trust.applicability import ApplicabilityModel, fit_applicability, whisker_threshold


def _training(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, size=(n, 3))


def test_di_matches_brute_force_definition():
    X = _training(60)
    model = fit_applicability(X, feature_names=["a", "b", "c"], weights=[2.0, 1.0, 1.0])
    new = np.random.default_rng(1).uniform(-0.5, 1.5, size=(30, 3))
    w = np.array([0.5, 0.25, 0.25])
    scaled = (X - X.mean(0)) / X.std(0) * w
    query = (new - X.mean(0)) / X.std(0) * w
    pair = np.sqrt(((scaled[:, None] - scaled[None]) ** 2).sum(-1))
    mean_distance = pair[np.triu_indices(len(X), 1)].mean()
    nearest = np.sqrt(((query[:, None] - scaled[None]) ** 2).sum(-1)).min(1)
    np.testing.assert_allclose(model.dissimilarity(new), nearest / mean_distance, rtol=1e-4)


def test_extrapolation_is_outside_and_training_rows_mostly_inside():
    X = _training()
    model = fit_applicability(X, feature_names=["a", "b", "c"])
    far = np.array([[3.0, 0.5, 0.5], [0.5, -2.0, 0.5]])
    _, inside = model.evaluate(far)
    assert not inside.any()
    _, inside_train = model.evaluate(X)
    assert inside_train.all()
    assert np.mean(model.train_di <= model.threshold) > 0.9


def test_cross_validated_di_uses_other_folds_only():
    X = np.repeat(_training(50), 2, axis=0)  # every row has a twin
    folds = np.repeat(np.arange(50) % 5, 2)  # twins share a fold
    with_folds = fit_applicability(X, feature_names=list("abc"), fold_ids=folds)
    without = fit_applicability(X, feature_names=list("abc"))
    assert np.all(without.train_di == 0)
    assert np.all(with_folds.train_di > 0)


def test_unseen_class_is_outside_the_aoa():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(size=80), rng.integers(1, 4, size=80)])
    model = fit_applicability(X, feature_names=["slope", "geology"], categorical=["geology"])
    _, inside = model.evaluate(np.array([[0.5, 2.0], [0.5, 9.0]]))
    assert inside.tolist() == [True, False]


def test_round_trip_through_parts():
    model = fit_applicability(_training(), feature_names=list("abc"))
    arrays, state = model.to_parts()
    again = ApplicabilityModel.from_parts(arrays, state)
    new = _training(10, seed=3)
    np.testing.assert_array_equal(again.dissimilarity(new), model.dissimilarity(new))
    assert again.threshold == model.threshold


def test_subset_states_its_di_error():
    X = _training(600)
    model = fit_applicability(X, feature_names=list("abc"), max_rows=300)
    assert len(model.train_rows) == 300 and model.n_rows_total == 600
    assert 0 < model.di_error < 1.0


def test_whisker_threshold_drops_outliers():
    values = np.r_[np.linspace(0, 1, 99), 50.0]
    assert whisker_threshold(values) == pytest.approx(1.0)


def test_refuses_too_few_or_zero_weight_rows():
    with pytest.raises(CalibrationError, match="at least 3"):
        fit_applicability(np.zeros((2, 2)), feature_names=["a", "b"])
    with pytest.raises(CalibrationError, match="all zero"):
        fit_applicability(_training(), feature_names=list("abc"), weights=[0, 0, 0])


def test_di_does_not_depend_on_how_rows_are_batched():
    model = fit_applicability(_training(300), feature_names=list("abc"))
    new = np.random.default_rng(5).uniform(-1, 2, size=(1000, 3))
    whole = model.dissimilarity(new)
    parts = np.concatenate([model.dissimilarity(new[:7]), model.dissimilarity(new[7:])])
    np.testing.assert_array_equal(whole, parts)
    tree = model.tree.query(model.encode(new), k=1)[0][:, 0] / model.mean_distance
    np.testing.assert_allclose(whole, tree, rtol=1e-5)


def test_unimportant_covariates_keep_a_floor_weight():
    # In-range importance says b does not matter; far beyond b's range the model still
    # extrapolates, and the floor keeps the AOA able to see it (0: CAST's pure weighting).
    X = _training()
    far_in_b = np.array([[0.5, 40.0, 0.5]])
    floored = fit_applicability(
        X, feature_names=list("abc"), weights=[1.0, 0.0, 0.0], range_margin=None
    )
    pure = fit_applicability(
        X,
        feature_names=list("abc"),
        weights=[1.0, 0.0, 0.0],
        min_weight_share=0.0,
        range_margin=None,
    )
    assert floored.weights[1] == pytest.approx(0.25 / 3 / (1 + 2 * 0.25 / 3))
    assert not floored.evaluate(far_in_b)[1][0]
    assert pure.evaluate(far_in_b)[1][0]


def test_a_covariate_beyond_the_training_range_is_outside():
    X = _training()
    rows = np.array([[0.5, 1.04, 0.5], [0.5, 1.2, 0.5]])  # b: 4 % and 20 % beyond its max
    exact = fit_applicability(X, feature_names=list("abc"), weights=[1.0, 0.0, 0.0])
    assert exact.evaluate(rows)[1].tolist() == [False, False]  # default: the range itself
    at_max = X[np.argmax(X[:, 1])][None, :]
    assert exact.beyond_range(at_max).tolist() == [False]  # the range's own ends are in
    assert exact.beyond_range(at_max.astype(np.float32)).tolist() == [False]
    model = fit_applicability(
        X, feature_names=list("abc"), weights=[1.0, 0.0, 0.0], range_margin=0.05
    )
    di, inside = model.evaluate(rows)
    assert (di <= model.threshold).all()  # the DI alone lets both through
    assert inside.tolist() == [True, False]
    cast = fit_applicability(
        X, feature_names=list("abc"), weights=[1.0, 0.0, 0.0], range_margin=None
    )
    assert cast.evaluate(rows)[1].tolist() == [True, True]
    again = ApplicabilityModel.from_parts(*model.to_parts())
    assert again.evaluate(rows)[1].tolist() == [True, False]


def _queries(case: str, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if case == "uniform":
        return rng.uniform(-3, 3, size=(3000, X.shape[1]))
    if case == "smooth":  # a spatially smooth field: neighbouring pixels differ a little
        return np.cumsum(rng.normal(scale=0.02, size=(3000, X.shape[1])), axis=0)
    if case == "ties":  # the training rows themselves, and midpoints of pairs (equidistant)
        return np.vstack([X, (X[:-1] + X[1:]) / 2])
    # far outside: every covariate thousands of standard deviations away
    return X.mean(0) + 1e3 * rng.normal(size=(50, X.shape[1]))


@pytest.mark.parametrize("case", ["uniform", "smooth", "ties", "far"])
def test_di_equals_the_float64_nearest_distance(case):
    """The float32 blocked search finds the nearest training row up to rounding: the DI is the
    float64 nearest distance to 1e-5 (relative), exactly 0 on a training row."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(700, 5))
    if case == "ties":
        X[350:] = X[:350]  # every row has a twin
    model = fit_applicability(X, feature_names=list("abcde"), weights=[5, 4, 3, 2, 1])
    new = _queries(case, X, rng)
    rows, stored = model.encode(new).astype(np.float64), model.train_rows.astype(np.float64)
    exact = np.sqrt(((rows[:, None, :] - stored[None]) ** 2).sum(-1)).min(1)
    di = model.dissimilarity(new)
    np.testing.assert_allclose(di, exact / model.mean_distance, rtol=1e-5, atol=1e-7)
    if case == "ties":
        assert np.all(di[: len(X)] == 0)
