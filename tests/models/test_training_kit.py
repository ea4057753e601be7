"""The shared training kit: the early-stopping loop and the final-fit policy."""

import logging
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from geosoil.errors import FinalFitError, SampleDataError
from geosoil.models.covariate.mlp import CovariateMLP
from geosoil.models.training import (
    Stopped,
    check_final_fit,
    early_stopping,
    refit_epochs,
    train_epochs,
)

log = logging.getLogger(__name__)


def scripted(scores):
    """A module whose weight is set to the epoch number, scored by ``scores``."""
    module = nn.Linear(1, 1)

    def run_epoch(epoch):
        with torch.no_grad():
            module.weight.fill_(float(epoch))
        return {"epoch": epoch, "loss": scores[epoch - 1]}

    return module, run_epoch


def diverged(history):
    return SampleDataError(f"never finite in {len(history)} epochs")


def test_best_state_is_restored_and_patience_stops():
    module, run_epoch = scripted([3.0, 1.0, math.nan, 2.0, 1.5, 0.5])
    stopped = early_stopping(
        module,
        run_epoch,
        max_epochs=6,
        patience=3,
        monitor="loss",
        diverged=diverged,
        logger=log,
    )
    assert (stopped.best_epoch, stopped.best_score, stopped.epochs_run) == (2, 1.0, 5)
    assert module.weight.item() == 2.0 and not module.training


def test_maximised_scores_and_a_loop_that_never_is_finite():
    module, run_epoch = scripted([0.1, 0.5, 0.4])
    stopped = early_stopping(
        module, run_epoch, max_epochs=3, patience=5, monitor="loss", mode="max",
        diverged=diverged, logger=log,
    )  # fmt: skip
    assert stopped.best_epoch == 2
    module, run_epoch = scripted([math.nan, math.inf])
    with pytest.raises(SampleDataError, match="never finite in 2 epochs"):
        early_stopping(
            module, run_epoch, max_epochs=2, patience=5, monitor="loss", diverged=diverged,
            logger=log,
        )  # fmt: skip


def test_a_refit_runs_exactly_its_epochs_and_keeps_the_last_state():
    module, run_epoch = scripted([3.0, 1.0, 2.0, 5.0])
    stopped = train_epochs(
        module, run_epoch, epochs=3, monitor="loss", diverged=diverged, logger=log
    )
    assert (stopped.best_epoch, stopped.best_score, stopped.epochs_run) == (3, 2.0, 3)
    assert module.weight.item() == 3.0 and not module.training
    module, run_epoch = scripted([1.0, math.nan])
    with pytest.raises(SampleDataError, match="never finite in 2 epochs"):
        train_epochs(module, run_epoch, epochs=2, monitor="loss", diverged=diverged, logger=log)
    with pytest.raises(ValueError, match="epochs=0"):
        train_epochs(module, run_epoch, epochs=0, monitor="loss", diverged=diverged, logger=log)


def test_final_fit_policy():
    assert refit_epochs(Stopped(best_epoch=7)) == 7
    check_final_fit(0.55, 0.6)  # within the tolerance
    with pytest.raises(FinalFitError, match="far below its cross-validated") as err:
        check_final_fit(0.1, 0.6)
    assert err.value.field == "params.max_epochs"


def test_the_mlp_refits_on_every_row_for_the_best_epoch_count():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = X["a"].to_numpy() - 2 * X["b"].to_numpy()
    settings = {"hidden_layers": (8,), "max_epochs": 30, "patience": 5}
    refit = CovariateMLP(**settings).fit(X, y)
    validated = CovariateMLP(**settings, final_fit="validated").fit(X, y)
    # The same early-stopping run, but the refit network is another one, trained on all rows.
    assert refit.history_ == validated.history_
    assert not torch.equal(refit.networks_[0][0].weight, validated.networks_[0][0].weight)
    again = CovariateMLP(**settings).fit(X, y)
    np.testing.assert_array_equal(again.predict(X), refit.predict(X))
