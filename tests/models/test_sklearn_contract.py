"""geosoil estimators in scikit-learn: clone, get/set_params, cross_val_predict, Pipeline.

``sklearn.utils.estimator_checks`` runs here in full, API and data checks, over the covariate
learners; ``fit`` takes a DataFrame of named covariates or an array (columns x0, x1, ...).
The checks they fail on purpose are listed in :func:`expected_failed_checks` with the reason.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from geosoil.models.covariate.linear import CovariateLinear
from geosoil.models.covariate.mlp import CovariateMLP
from geosoil.models.covariate.trees import (
    CovariateGBM,
    CovariateQuantileForest,
    CovariateRandomForest,
)


def small():
    return CovariateMLP(hidden_layers=[8], max_epochs=5, patience=2, seed=0)


def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["clay", "elevation_m", "ndvi"])
    return X, 2.0 * X["clay"].to_numpy() + rng.normal(scale=0.1, size=60)


def test_clone_get_and_set_params():
    model = small().set_params(dropout=0.2)
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert copy.dropout == 0.2 and not copy.is_fitted
    with pytest.raises(ValueError, match="no hyperparameter"):
        model.set_params(dropout_rate=0.3)


def test_cross_val_predict_and_pipeline():
    X, y = data()
    predicted = cross_val_predict(small(), X, y, cv=3)
    assert predicted.shape == (60,) and np.isfinite(predicted).all()
    pipeline = Pipeline([("same", FunctionTransformer(validate=False)), ("mlp", small())])
    assert pipeline.fit(X, y).predict(X).shape == (60,)


# Small settings keep the full checks to seconds; the MLP needs enough epochs to reach the
# R2 > 0.5 that check_regressors_train asks on its toy regression.
CHECKED = [
    CovariateMLP(hidden_layers=[16], max_epochs=30, patience=5, seed=0),
    CovariateRandomForest(n_estimators=10),
    CovariateQuantileForest(n_estimators=10),
    CovariateGBM(n_estimators=20),
    CovariateLinear(),
]

NAN_BY_DESIGN = (
    "predict returns NaN for a row with a missing covariate (a nodata pixel of a map) "
    "instead of raising"
)


def expected_failed_checks(estimator):
    """The scikit-learn checks each covariate learner fails on purpose, and why."""
    failed = {"check_estimators_nan_inf": NAN_BY_DESIGN}
    if isinstance(estimator, CovariateMLP):
        failed["check_regressor_multioutput"] = (
            "predictions are float32, the type of the map layers, also for several targets"
        )
    return failed


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def test_fit_on_an_array_names_the_columns_in_order():
    X, y = data()
    model = CovariateRandomForest(n_estimators=5).fit(X.to_numpy(), y)
    assert model.feature_names_in_ == ["x0", "x1", "x2"]
    assert np.allclose(
        model.predict(X.to_numpy()), model.predict(X.set_axis(["x0", "x1", "x2"], axis=1))
    )
    with pytest.raises(ValueError, match="X has 2 features, but CovariateRandomForest"):
        model.predict(X.to_numpy()[:, :2])
