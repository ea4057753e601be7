"""Cross-validation shows a fold bar on a terminal only."""

import io
import sys

import numpy as np
from sklearn.linear_model import LinearRegression

from geosoil.evaluate.crossval import cross_validate
from geosoil.evaluate.splits import random_kfold


class Terminal(io.StringIO):
    def isatty(self):
        return True


def run(monkeypatch, stream):
    monkeypatch.setattr(sys, "stderr", stream)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = X @ [1.0, 2.0] + rng.normal(scale=0.1, size=30)
    cross_validate(LinearRegression, X, y, random_kfold(30, n_splits=3, seed=0))
    return stream.getvalue()


def test_bar_on_a_terminal_only(monkeypatch):
    assert "cross-validation" in run(monkeypatch, Terminal())
    assert run(monkeypatch, io.StringIO()) == ""
