"""Real data: K fertilizer doses from KSSL Kansas topsoils (measured Kex and bulk density).

The doses come from :func:`geosoil.products.k_fertilizer.lab_doses`, the same functions as the
map product; the expected figures below are recomputed from the raw columns by hand.
"""

import numpy as np
import pandas as pd
import pytest

from geosoil.products.k_fertilizer import lab_doses, summarize_doses

from ..conftest import real_data_dir

KSSL = real_data_dir() / "kssl_kansas" / "kssl_kansas_lab.csv"
KEX = "Potassium"  # exchangeable K, cmol(+)/kg (UNITS_QUICK_CARD.txt)
BULK_DENSITY = "Bulk.Density_1_3.BAR"  # g/cm3 at 1/3 bar, the field-moist standard

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(not KSSL.exists(), reason=f"real KSSL Kansas data not found at {KSSL}"),
]


@pytest.fixture(scope="module")
def topsoils():
    lab = pd.read_csv(KSSL)
    # The first horizon of each profile stands for the plough layer.
    return lab[lab["top_cm"] == 0]


@pytest.fixture(scope="module")
def doses(topsoils):
    return lab_doses(topsoils, kex_column=KEX, bulk_density_column=BULK_DENSITY)


def test_share_in_deficit_matches_the_raw_columns(topsoils, doses):
    summary = summarize_doses(doses)
    complete = topsoils[KEX].notna() & topsoils[BULK_DENSITY].notna()
    assert summary["n"] == complete.sum() > 150
    # In deficit: below 25 mg K2O/100 g, i.e. Kex < 25 / 47.1 cmol(+)/kg.
    below = (topsoils.loc[complete, KEX] < 25 / 47.1).mean()
    assert summary["share_in_deficit"] == pytest.approx(below)
    # Most Kansas topsoils hold plenty of exchangeable K: most need none, yet some do.
    assert 0.02 < summary["share_in_deficit"] < 0.5
    assert summary["median_dose_k2o_kg_ha"] >= 0
    assert 0 < summary["median_dose_in_deficit_k2o_kg_ha"] < 25 * 2.0 * 15
    assert (doses.loc[complete, "dose_k2o_kg_ha"] >= 0).all()
    assert doses.loc[~complete, "dose_k2o_kg_ha"].isna().all()


def test_hand_checked_row(topsoils, doses):
    complete = topsoils.dropna(subset=[KEX, BULK_DENSITY])
    row = complete.loc[complete[KEX].idxmin()]
    kex, density = float(row[KEX]), float(row[BULK_DENSITY])
    # mg K2O / 100 g = 47.1 x cmol(+)/kg; kg/ha = deficit x g/cm3 x 15 cm.
    deficit = 25.0 - 47.1 * kex
    assert deficit > 0
    expected = deficit * density * 15.0
    assert doses.loc[row.name, "dose_k2o_kg_ha"] == pytest.approx(expected, rel=1e-12)
    assert doses.loc[row.name, "dose_kcl_kg_ha"] == pytest.approx(expected / 0.6, rel=1e-12)
    richest = complete.loc[complete[KEX].idxmax()]
    assert doses.loc[richest.name, "dose_k2o_kg_ha"] == 0.0
    assert np.isfinite(doses.loc[complete.index, "deficit_mg_k2o_100g"]).all()
