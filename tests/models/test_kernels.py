"""The RBF decision function both SVRs predict with: scikit-learn's values, row by row."""

import numpy as np
from sklearn.svm import SVR

from geosoil.models.kernels import rbf_decision_function


def test_rbf_decision_function_equals_scikit_learn():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(70, 12))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    svr = SVR(kernel="rbf", C=3.0, gamma=0.2, epsilon=0.05).fit(X, y)
    X_new = rng.normal(size=(25, 12))
    ours = rbf_decision_function(
        X_new, svr.support_vectors_, svr.dual_coef_.ravel(), float(svr.intercept_[0]), 0.2
    )
    np.testing.assert_allclose(ours, svr.predict(X_new), rtol=0, atol=1e-6)


def test_a_rows_value_does_not_depend_on_the_rows_beside_it():
    rng = np.random.default_rng(1)
    Z, vectors = rng.normal(size=(3000, 16)), rng.normal(size=(150, 16))
    coefficients = rng.normal(size=150)
    everything = rbf_decision_function(Z, vectors, coefficients, 0.1, 0.05)
    for start, stop in ((0, 1), (3, 7), (17, 1041), (1000, 3000)):
        part = rbf_decision_function(Z[start:stop], vectors, coefficients, 0.1, 0.05)
        np.testing.assert_array_equal(part, everything[start:stop])
    squared = np.sum(np.square(Z[:, None, :] - vectors[None]), axis=2)
    np.testing.assert_allclose(everything, np.exp(-0.05 * squared) @ coefficients + 0.1, atol=1e-12)
