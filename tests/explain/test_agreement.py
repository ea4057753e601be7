"""``attribution_agreement``: do two models rely on the same wavelengths?"""

import numpy as np
import pandas as pd
import pytest

from geosoil.explain import ALL_GROUP, ExplainError
from geosoil.explain.aggregate import attribution_agreement


def table(values, bands=None):
    bands = np.arange(400.0, 400.0 + len(values)) if bands is None else bands
    return pd.DataFrame({"band": bands, "group": ALL_GROUP, "mean_abs": values})


def test_identical_profiles_agree_fully_and_reversed_ones_not_at_all():
    values = np.linspace(0.1, 2.0, 30)
    same = attribution_agreement(table(values), table(values * 5.0), top=5)  # units differ
    assert same["spearman"] == pytest.approx(1.0)
    assert same["top_shared"] == sorted(same["top_bands_first"]) == [425.0, 426, 427, 428, 429]
    reversed_ = attribution_agreement(table(values), table(values[::-1]), top=5)
    assert reversed_["spearman"] == pytest.approx(-1.0) and reversed_["top_shared"] == []


def test_tables_on_different_bands_are_refused():
    with pytest.raises(ExplainError, match="same bands") as info:
        attribution_agreement(table(np.ones(5)), table(np.ones(5), bands=np.arange(5.0)))
    assert info.value.field == "models"
