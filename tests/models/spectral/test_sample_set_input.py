"""Spectral estimators take a SampleSet: its spectra and axis, and a target column by name."""

import numpy as np
import pandas as pd
import pytest

from geosoil.errors import SampleDataError
from geosoil.io.spectra import SampleSet
from geosoil.models import PLSR

from .test_plsr import rank_three_spectra


def test_fit_and_predict_a_sample_set():
    X, y, axis = rank_three_spectra(n=80, n_bands=60)
    samples = SampleSet(frame=pd.DataFrame({"kex": y}), spectra=X, axis=axis)
    from_set = PLSR(preprocessing=[], max_components=5).fit(samples, "kex")
    from_arrays = PLSR(preprocessing=[], max_components=5).fit(X, y, axis=axis)
    np.testing.assert_array_equal(from_set.predict(samples), from_arrays.predict(X, axis=axis))
    with pytest.raises(SampleDataError, match="no column 'kex_cmol'"):
        PLSR().fit(samples, "kex_cmol")
