"""geosoil estimators in scikit-learn: clone, get/set_params, cross_val_predict, Pipeline.

``sklearn.utils.estimator_checks`` runs here; the API checks listed in ``API_CHECKS`` must
pass. The data checks are skipped on purpose: ``CovariateMLP.fit`` takes a pandas
DataFrame with named covariates (names are what an artifact maps to raster layers), so
checks that feed bare arrays, sparse matrices or complex numbers do not apply.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import check_estimator

from geosoil.models.covariate.mlp import CovariateMLP

API_CHECKS = {
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_get_params_invariance",
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_set_params",
    "check_valid_tag_types",
}


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


def test_estimator_checks_of_the_api_pass():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(small(), on_fail=None)
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    assert passed >= API_CHECKS, API_CHECKS - passed
