"""Mean +- sd tables over seeds, overall and per group (the paper's Table 3)."""

import numpy as np
import pandas as pd
import pytest

from geosoil.errors import SampleDataError
from geosoil.evaluate.metrics import r2, rmse
from geosoil.evaluate.repeated import RepeatedResult, run_repeated, train_valid_test_splits
from geosoil.evaluate.tables import (
    PAPER_METRICS,
    format_mean_sd,
    mean_sd_table,
    metrics_by_group,
    paper_metrics,
)

from .fakes import RidgeSpectra, linear_spectra


def predictions_frame():
    """Two seeds; group 'big' has 20 test samples per seed, 'small' 3, 'once' only in seed 1."""
    rng = np.random.default_rng(1)
    parts = []
    for seed in (0, 1):
        groups = ["big"] * 20 + ["small"] * 3 + (["once"] * 4 if seed == 1 else [])
        observed = 10 ** rng.normal(0, 0.5, len(groups))
        predicted = observed * 10 ** rng.normal(0, 0.1, len(groups))
        parts.append(
            pd.DataFrame(
                {"seed": seed, "observed": observed, "predicted": predicted, "order": groups}
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_metrics_by_group_uses_each_group_test_samples_per_seed():
    preds = predictions_frame()
    table = metrics_by_group(preds, "order")
    assert set(zip(table["seed"], table["group"], strict=True)) == {
        (0, "big"),
        (0, "small"),
        (1, "big"),
        (1, "small"),
        (1, "once"),
    }
    part = preds[(preds["seed"] == 1) & (preds["order"] == "big")]
    row = table[(table["seed"] == 1) & (table["group"] == "big")].iloc[0]
    assert row["n_test"] == 20
    assert row["r2"] == pytest.approx(r2(np.log10(part["observed"]), np.log10(part["predicted"])))
    assert row["rmse"] == pytest.approx(rmse(part["observed"], part["predicted"]))


def test_mean_sd_table_flags_small_groups_and_counts_seeds():
    table = mean_sd_table(metrics_by_group(predictions_frame(), "order"), by="order")
    assert table["group"].tolist() == ["big", "once", "small"]
    assert table["by"].eq("order").all()
    rows = table.set_index("group")
    assert rows.loc["big", "n_seeds"] == 2 and rows.loc["once", "n_seeds"] == 1
    assert rows.loc["small", "n_test"] == 3.0
    assert rows.loc["small", "few_samples"] and rows.loc["once", "few_samples"]
    assert not rows.loc["big", "few_samples"]
    # one seed: a mean but no sd
    assert np.isfinite(rows.loc["once", "r2_mean"]) and np.isnan(rows.loc["once", "r2_sd"])
    per_seed = metrics_by_group(predictions_frame(), "order")
    big = per_seed[per_seed["group"] == "big"]["mape"]
    assert rows.loc["big", "mape_mean"] == pytest.approx(big.mean())
    assert rows.loc["big", "mape_sd"] == pytest.approx(big.std(ddof=1))


def test_group_without_a_label_is_its_own_group():
    preds = predictions_frame()
    preds.loc[preds.index[:5], "order"] = None
    table = metrics_by_group(preds, "order")
    assert "(missing)" in set(table["group"])


def test_tiny_groups_have_nan_metrics_not_errors():
    values = paper_metrics([1.0], [1.1])
    assert set(values) == set(PAPER_METRICS) and all(np.isnan(v) for v in values.values())


def test_non_positive_predictions_leave_log_metrics_but_count_in_raw_ones(caplog):
    observed = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    predicted = np.array([1.1, 2.1, -0.5, 3.9, 5.2])
    values = paper_metrics(observed, predicted)
    keep = predicted > 0
    assert values["r2"] == pytest.approx(r2(np.log10(observed[keep]), np.log10(predicted[keep])))
    assert values["rmse"] == pytest.approx(rmse(observed, predicted))
    assert "not positive" in caplog.text


def test_format_mean_sd_renders_cells():
    table = pd.DataFrame(
        {"group": ["a", "b"], "r2_mean": [0.7912, np.nan], "r2_sd": [0.0213, np.nan]}
    )
    cells = format_mean_sd(table, metric_names=["r2"], digits=2)
    assert cells["r2"].tolist() == ["0.79 ± 0.021", "n/a"]
    assert cells["group"].tolist() == ["a", "b"]


def test_result_table_overall_and_per_group_and_unknown_column():
    X, y = linear_spectra(120, noise=0.2)
    frame = pd.DataFrame({"country": np.where(np.arange(120) < 60, "Kenya", "Ghana")})
    result = run_repeated(
        lambda s: RidgeSpectra(seed=s),
        X,
        y,
        axis=None,
        splits=train_valid_test_splits(120, n_seeds=3),
        frame=frame,
        group_columns=["country"],
    )
    assert isinstance(result, RepeatedResult)
    overall = result.table()
    assert len(overall) == 1 and overall.loc[0, "group"] == "all"
    assert overall.loc[0, "r2_mean"] == pytest.approx(result.per_seed["r2"].mean())
    per_country = result.table("country", min_test_samples=5)
    assert per_country["group"].tolist() == ["Ghana", "Kenya"]
    assert per_country["n_test"].sum() == pytest.approx(12.0)  # 12 test samples per seed
    with pytest.raises(SampleDataError, match="'soil_order' is not in") as err:
        result.table("soil_order")
    assert "country" in err.value.fix
