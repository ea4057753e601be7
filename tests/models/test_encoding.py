"""The shared covariate encoder: scaling, class indices and the unseen-class policies."""

import numpy as np
import pandas as pd
import pytest

from geosoil.errors import CovariateError, SampleDataError
from geosoil.models.encoding import CovariateEncoder


@pytest.fixture
def table():
    return pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "c": [1, 2, 2, 5]})


def test_standard_scaling_and_class_shares(table):
    coding = CovariateEncoder.learn(table, ["a"], ["c"])
    np.testing.assert_allclose(coding.scaled(table[["a"]].to_numpy()).ravel().mean(), 0.0)
    assert coding.labels == {"c": [1, 2, 5]}
    assert coding.frequency == {"c": [0.25, 0.5, 0.25]}
    assert coding.modes().tolist() == [1]


def test_minmax_scaling_clips_to_the_range(table):
    coding = CovariateEncoder.learn(table, ["a"], [], scaling="minmax")
    assert coding.scaled(np.array([[-1.0], [1.5], [9.0]])).ravel().tolist() == [0.0, 0.5, 1.0]
    given = CovariateEncoder.learn(
        table, ["a"], [], scaling="minmax", ranges=(np.array([0.0]), np.array([10.0]))
    )
    assert given.scaled(np.array([[5.0]])).item() == 0.5


@pytest.mark.parametrize("unseen", ["mean", "nan", "zero"])
def test_unseen_classes_get_minus_one_and_are_flagged(table, unseen):
    coding = CovariateEncoder.learn(table, ["a"], ["c"], unseen=unseen)
    index, new = coding.indices(pd.DataFrame({"c": [2, 7, 2.5]}))
    assert index[:, 0].tolist() == [1, -1, -1]
    assert new.tolist() == [False, True, True]
    assert coding.one_hot(index).tolist() == [[False, True, False]] + [[False] * 3] * 2


def test_unseen_class_error_names_the_column(table):
    coding = CovariateEncoder.learn(table, ["a"], ["c"], unseen="error")
    with pytest.raises(CovariateError, match="never saw") as err:
        coding.indices(np.array([[7.0]]))
    assert err.value.field == "covariates.c"


def test_string_labels_and_non_integer_codes(table):
    labels = CovariateEncoder.learn(
        pd.DataFrame({"igbp": ["GRA", "CRO", "GRA"]}), [], ["igbp"], unseen="mean", label_kind="str"
    )
    index, _ = labels.indices(pd.DataFrame({"igbp": ["CRO", None]}).astype(object))
    assert index[:, 0].tolist() == [0, -1]
    with pytest.raises(SampleDataError, match="non-integer"):
        CovariateEncoder.learn(pd.DataFrame({"c": [1.5, 2.0]}), [], ["c"])
