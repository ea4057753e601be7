import numpy as np
import pandas as pd
import pytest

from geosoil.errors import ConfigError, CovariateError, SampleDataError
from geosoil.models import CovariateMLP

from ..test_estimator_contract import toy_table


def test_log10_target_is_back_transformed():
    X, y = toy_table()
    model = CovariateMLP(max_epochs=60, target_transform="log10").fit(X, y)
    prediction = model.predict(X)
    assert np.all(prediction > 0)
    assert abs(np.median(prediction) - np.median(y)) < 0.5


def test_log10_refuses_non_positive_targets():
    X, y = toy_table()
    y[0] = -1.0
    with pytest.raises(SampleDataError, match="strictly positive"):
        CovariateMLP(target_transform="log10").fit(X, y)


def test_unseen_category_does_not_crash():
    X, y = toy_table()
    model = CovariateMLP(max_epochs=20, categorical_features=["c"]).fit(X, y)
    unseen = X.head(3).assign(c=99)
    assert np.isfinite(model.predict(unseen)).all()


def test_missing_column_at_predict_time():
    X, y = toy_table()
    model = CovariateMLP(max_epochs=5).fit(X, y)
    with pytest.raises(CovariateError, match=r"\['b'\]"):
        model.predict(X.drop(columns="b"))
    with pytest.raises(CovariateError, match="X has 2 features, but CovariateMLP is expecting 3"):
        model.predict(np.zeros((4, 2), dtype=np.float32))


def test_non_finite_training_data_is_refused():
    X, y = toy_table()
    X.loc[3, "a"] = np.nan
    with pytest.raises(SampleDataError, match="finite"):
        CovariateMLP().fit(X, y)


def test_unknown_hyperparameter_from_config():
    with pytest.raises(ConfigError, match="hidden_units"):
        CovariateMLP.from_params({"hidden_units": [3]})


def test_early_stopping_records_history():
    X, y = toy_table()
    model = CovariateMLP(max_epochs=500, patience=5).fit(X, y)
    assert len(model.history_) < 500
    best = min(model.history_, key=lambda h: h["valid_loss"])
    assert model.best_epochs_ == [best["epoch"]]


def test_fit_on_an_array_names_its_columns():
    model = CovariateMLP(max_epochs=2).fit(np.arange(20.0).reshape(10, 2), np.arange(10.0))
    assert model.feature_names_in_ == ["x0", "x1"]
    with pytest.raises(ValueError, match="NaN"):  # scikit-learn's check, with its message
        CovariateMLP().fit(np.full((10, 2), np.nan), np.zeros(10))


def test_categorical_feature_must_exist():
    X, y = toy_table()
    with pytest.raises(CovariateError):
        CovariateMLP(categorical_features=["nope"]).fit(X, y)


def test_small_table_still_trains_without_validation_split():
    X, y = toy_table(12)
    model = CovariateMLP(max_epochs=10).fit(pd.DataFrame(X), y)
    assert np.isnan(model.history_[0]["valid_loss"])
