"""The K-fertilizer product: unit algebra against hand computations, nodata, percentile doses."""

from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from geosoil.errors import ConfigError, SampleDataError
from geosoil.products import build_product
from geosoil.products.k_fertilizer import (
    DOSE_K2O,
    DOSE_KCL,
    DOSE_STATUS,
    K2O_MG_100G_PER_CMOL_KG,
    K_MG_100G_PER_CMOL_KG,
    KFertilizer,
    default_k_target,
    k2o_deficit_mg_100g,
    k2o_dose_kg_ha,
    k_targets,
    kcl_dose_kg_ha,
    kex_quantile_from_interval,
    lab_doses,
    percentile_dose_names,
    summarize_doses,
)

MOLAR_MASS_K = 39.098  # g/mol
MOLAR_MASS_O = 15.999


def dose_by_si_units(kex_cmol_kg, density_g_cm3, depth_cm, target_mg_100g):
    """The same dose computed in SI units, step by step, without the product's shortcut."""
    k2o_g_per_kg = kex_cmol_kg * 0.01 / 2 * (2 * MOLAR_MASS_K + MOLAR_MASS_O)  # mol K -> K2O
    target_g_per_kg = target_mg_100g * 10 / 1000
    deficit_kg_per_kg = max(target_g_per_kg - k2o_g_per_kg, 0.0) / 1000
    soil_kg_per_ha = 10_000 * (depth_cm / 100) * (density_g_cm3 * 1000)  # m2 x m x kg/m3
    return deficit_kg_per_kg * soil_kg_per_ha


def test_conversion_factors_follow_from_molar_masses():
    # 1 cmol(+)/kg of K+ is 0.01 mol K per kg; per 100 g that is a tenth.
    k_mg_100g = 0.01 * MOLAR_MASS_K * 1000 / 10
    assert abs(K_MG_100G_PER_CMOL_KG - k_mg_100g) < 0.01
    k2o_mg_100g = 0.005 * (2 * MOLAR_MASS_K + MOLAR_MASS_O) * 1000 / 10
    assert abs(K2O_MG_100G_PER_CMOL_KG - k2o_mg_100g) < 0.01


def test_hand_computed_dose():
    # Kex 0.3 cmol/kg = 14.13 mg K2O/100 g, 10.87 short of 25; x 1.0 g/cm3 x 15 cm.
    dose = k2o_dose_kg_ha(0.3, bulk_density_g_cm3=1.0, plough_depth_cm=15, target_mg_k2o_100g=25)
    assert dose == pytest.approx(163.05)
    assert kcl_dose_kg_ha(dose) == pytest.approx(271.75)
    assert k2o_deficit_mg_100g(0.3, target_mg_k2o_100g=25) == pytest.approx(10.87)


def test_vectorized_doses_match_si_unit_algebra():
    rng = np.random.default_rng(3)
    kex = rng.uniform(0.0, 0.8, 50)
    density = rng.uniform(0.5, 1.6, 50)
    depth, target = 20.0, 30.0
    doses = k2o_dose_kg_ha(
        kex, bulk_density_g_cm3=density, plough_depth_cm=depth, target_mg_k2o_100g=target
    )
    expected = [dose_by_si_units(k, d, depth, target) for k, d in zip(kex, density, strict=True)]
    # 47.1 is the molar-mass factor 47.098 rounded, as the guidance writes it.
    np.testing.assert_allclose(doses, expected, rtol=1e-3, atol=0.05)


def test_zero_at_or_above_the_target_and_nan_for_nodata():
    at_target = 25 / K2O_MG_100G_PER_CMOL_KG
    kex = np.array([at_target, 2.0, np.nan, -0.1, 0.2, 0.2, 0.2, 0.2, 0.2])
    density = np.array([1.2, 1.2, 1.2, 1.2, np.nan, 0.05, 3.0, 0.1, 2.7])
    dose = k2o_dose_kg_ha(kex, bulk_density_g_cm3=density, plough_depth_cm=15)
    assert dose[0] == pytest.approx(0.0, abs=1e-9) and dose[1] == 0.0
    assert np.isnan(dose[2:7]).all()  # nodata Kex, negative Kex, bulk density nodata/implausible
    assert np.isfinite(dose[7:]).all()  # the range limits themselves are accepted


def test_target_table_cites_its_source():
    default = default_k_target()
    assert default.target_mg_k2o_100g == 25.0 and default.crop == "paddy_rice"
    assert "MAFF" in default.source and "Fukushima" in default.source
    assert all(row.source for row in k_targets().values())
    # Without an explicit target the functions use the table's default.
    assert k2o_dose_kg_ha(0.3, bulk_density_g_cm3=1.0) == pytest.approx(163.05)


@pytest.mark.parametrize(("field", "value"), [("plough_depth_cm", 0), ("target_mg_k2o_100g", -5)])
def test_nonpositive_depth_or_target_is_refused(field, value):
    with pytest.raises(ConfigError, match=field):
        k2o_dose_kg_ha(0.3, bulk_density_g_cm3=1.0, **{field: value})


def lognormal_interval(mu, sigma):
    z = NormalDist().inv_cdf(0.95)
    return np.exp(mu - z * sigma), np.exp(mu + z * sigma)


def test_quantile_from_interval_recovers_the_lognormal():
    mu, sigma = np.log(np.array([0.2, 0.5, 1.0])), np.array([0.1, 0.3, 0.6])
    p05, p95 = lognormal_interval(mu, sigma)
    for probability in (0.1, 0.5, 0.8):
        expected = np.exp(mu + NormalDist().inv_cdf(probability) * sigma)
        got = kex_quantile_from_interval(p05, p95, probability=probability)
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    # Against draws, not only the formula: the 10th percentile of a large sample.
    draws = np.random.default_rng(0).lognormal(mu[1], sigma[1], 200_000)
    got = kex_quantile_from_interval(p05[1], p95[1], probability=0.1)
    assert got == pytest.approx(np.quantile(draws, 0.1), rel=0.01)


def test_quantile_from_interval_nan_where_no_lognormal_fits():
    got = kex_quantile_from_interval(
        [0.0, -0.1, np.nan, 0.5, 0.3], [0.5, 0.5, 0.5, 0.4, 0.3], probability=0.1
    )
    assert np.isnan(got[:4]).all() and got[4] == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="probability"):
        kex_quantile_from_interval(0.1, 0.2, probability=1.0)


def block_layers(rng, shape=(6, 7)):
    mu = np.log(rng.uniform(0.1, 1.0, shape))
    sigma = rng.uniform(0.05, 0.5, shape)
    p05, p95 = lognormal_interval(mu, sigma)
    layers = {
        "kex_cmol_kg": np.exp(mu),
        "kex_cmol_kg_lo": p05,
        "kex_cmol_kg_hi": p95,
        "bulk_density_g_cm3": rng.uniform(0.6, 1.5, shape),
    }
    return {name: values.astype(np.float32) for name, values in layers.items()}


def test_product_block_matches_the_pure_functions():
    layers = block_layers(np.random.default_rng(1))
    product = build_product(
        "k_fertilizer", {"bulk_density": "bulk_density_g_cm3", "plough_depth_cm": 20}
    )
    assert isinstance(product, KFertilizer)
    assert product.inputs() == [
        "kex_cmol_kg",
        "bulk_density_g_cm3",
        "kex_cmol_kg_lo",
        "kex_cmol_kg_hi",
    ]
    names = [var.name for var in product.outputs()]
    assert names == [DOSE_K2O, DOSE_KCL, DOSE_STATUS, "dose_k2o_p90_kg_ha", "dose_kcl_p90_kg_ha"]
    assert {var.units for var in product.outputs()} == {"kg K2O/ha", "kg KCl/ha", ""}
    out = product.compute(layers)
    density = layers["bulk_density_g_cm3"].astype(np.float64)
    deficit = np.maximum(25 - 47.1 * layers["kex_cmol_kg"].astype(np.float64), 0)
    np.testing.assert_allclose(out[DOSE_K2O], deficit * density * 20, rtol=1e-6)
    np.testing.assert_allclose(out[DOSE_KCL], out[DOSE_K2O] / 0.6)
    # The 90th percentile dose is the dose at Kex's 10th percentile: never below the dose at
    # the median (the mapped Kex of a log10 model).
    p90 = out["dose_k2o_p90_kg_ha"]
    assert (p90 >= out[DOSE_K2O] - 1e-3).all() and (p90 > out[DOSE_K2O]).any()
    np.testing.assert_allclose(out["dose_kcl_p90_kg_ha"], p90 / 0.6)


def test_percentile_dose_grows_with_the_percentile_and_meets_the_median_dose():
    layers = block_layers(np.random.default_rng(2))
    params = {"bulk_density": "bulk_density_g_cm3"}
    doses = {
        p: build_product("k_fertilizer", {**params, "percentile": p}).compute(layers)
        for p in (50.001, 75, 90, 97.5)
    }
    assert percentile_dose_names(97.5) == ("dose_k2o_p97_5_kg_ha", "dose_kcl_p97_5_kg_ha")
    near_median = doses[50.001]["dose_k2o_p50.001_kg_ha".replace(".", "_")]
    np.testing.assert_allclose(near_median, doses[90][DOSE_K2O], atol=0.05)
    series = [doses[p][percentile_dose_names(p)[0]] for p in (75, 90, 97.5)]
    assert (series[0] <= series[1] + 1e-9).all() and (series[1] <= series[2] + 1e-9).all()


def test_block_split_gives_the_same_doses():
    layers = block_layers(np.random.default_rng(4), shape=(8, 9))
    product = build_product("k_fertilizer", {"bulk_density": "bulk_density_g_cm3"})
    whole = product.compute(layers)
    top = product.compute({k: v[:3] for k, v in layers.items()})
    bottom = product.compute({k: v[3:] for k, v in layers.items()})
    for name, values in whole.items():
        np.testing.assert_array_equal(values, np.vstack([top[name], bottom[name]]))


def test_constant_bulk_density_and_no_percentile():
    product = build_product("k_fertilizer", {"bulk_density_g_cm3": 1.0, "percentile": None})
    assert product.inputs() == ["kex_cmol_kg"]
    out = product.compute({"kex_cmol_kg": np.array([[0.3, np.nan, 1.0]])})
    assert sorted(out) == [DOSE_K2O, DOSE_KCL, DOSE_STATUS]
    np.testing.assert_allclose(out[DOSE_K2O], [[163.05, np.nan, 0.0]])


def test_crop_picks_its_target():
    product = build_product(
        "k_fertilizer", {"bulk_density_g_cm3": 1.0, "percentile": None, "crop": "buckwheat"}
    )
    out = product.compute({"kex_cmol_kg": np.array([0.3])})
    assert out[DOSE_K2O][0] == pytest.approx((30 - 14.13) * 15)


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({}, "bulk_density_g_cm3", "neither"),
        ({"bulk_density": "bd", "bulk_density_g_cm3": 1.1}, "bulk_density_g_cm3", "both"),
        ({"bulk_density_g_cm3": 1300}, "bulk_density_g_cm3", "kg/m3"),
        ({"bulk_density_g_cm3": 0.05}, "bulk_density_g_cm3", "0.1-2.7 g/cm3"),
        ({"bulk_density_g_cm3": 1.1, "percentile": 50}, "percentile", "(50, 100)"),
        ({"bulk_density_g_cm3": 1.1, "percentile": 100}, "percentile", "(50, 100)"),
        ({"bulk_density_g_cm3": 1.1, "plough_depth_cm": 0}, "plough_depth_cm", "greater"),
        ({"bulk_density_g_cm3": 1.1, "crop": "wheat"}, "crop", "paddy_rice"),
        ({"bulk_density_g_cm3": 1.1, "crop": "buckwheat", "target_mg_k2o_100g": 20}, "crop", "not"),
    ],
)
def test_bad_params_name_the_field(params, field, text):
    with pytest.raises(ConfigError) as info:
        build_product("k_fertilizer", params)
    assert info.value.field == f"products.k_fertilizer.params.{field}"
    assert text in str(info.value)


def test_lab_doses_and_summary():
    samples = pd.DataFrame(
        {"K": [0.3, 1.0, 0.2, np.nan, 0.4], "BD": [1.0, 1.3, np.nan, 1.2, 1.25]},
        index=[10, 11, 12, 13, 14],
    )
    doses = lab_doses(samples, kex_column="K", bulk_density_column="BD")
    assert list(doses.index) == [10, 11, 12, 13, 14]
    assert doses.loc[10, DOSE_K2O] == pytest.approx(163.05)
    assert doses.loc[11, DOSE_K2O] == 0.0
    assert doses[DOSE_K2O].isna().tolist() == [False, False, True, True, False]
    expected_14 = (25 - 0.4 * 47.1) * 1.25 * 15
    assert doses.loc[14, DOSE_KCL] == pytest.approx(expected_14 / 0.6)
    summary = summarize_doses(doses)
    assert summary["n"] == 3 and summary["n_in_deficit"] == 2
    assert summary["share_in_deficit"] == pytest.approx(2 / 3)
    assert summary["median_dose_k2o_kg_ha"] == pytest.approx(expected_14)


def test_lab_doses_bad_columns():
    samples = pd.DataFrame({"K": [0.3, "n.d."], "BD": [1.0, 1.1]})
    with pytest.raises(SampleDataError, match="kex_mg"):
        lab_doses(samples, kex_column="kex_mg", bulk_density_column="BD")
    with pytest.raises(SampleDataError, match="non-numbers"):
        lab_doses(samples, kex_column="K", bulk_density_column="BD")
    with pytest.raises(ConfigError, match="both"):
        lab_doses(samples, kex_column="K", bulk_density_column="BD", bulk_density_g_cm3=1.0)


def test_doses_outside_applicability_are_nodata_with_their_own_status():
    product = build_product("k_fertilizer", {"bulk_density_g_cm3": 1.0, "percentile": 90})
    kex = np.array([0.2, 0.2, 0.9, 0.2])
    low, high = kex * 0.6, kex * 1.6
    out = product.compute(
        {
            "kex_cmol_kg": kex,
            "kex_cmol_kg_lo": low,
            "kex_cmol_kg_hi": high,
            "kex_cmol_kg_aoa": np.array([1.0, 0.0, 1.0, np.nan]),
        }
    )
    assert out[DOSE_STATUS].tolist()[:3] == [1.0, 2.0, 0.0]
    assert np.isnan(out[DOSE_K2O][1]) and np.isnan(out["dose_k2o_p90_kg_ha"][1])
    assert out["dose_k2o_p90_kg_ha"][0] > out[DOSE_K2O][0] > 0
    status = {v.name: v for v in product.outputs()}[DOSE_STATUS]
    assert status.is_classes and "outside applicability" in status.classes[2].label
    assert (
        "calibrated conformal"
        in {v.name: v for v in product.outputs()}["dose_k2o_p90_kg_ha"].description
    )


def test_interval_level_sets_the_lognormal_fit():
    # a central 80 % interval's low bound is exactly the 10th percentile
    got = kex_quantile_from_interval(0.5, 2.0, probability=0.1, level=0.8)
    assert got == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="interval level"):
        kex_quantile_from_interval(0.5, 2.0, probability=0.1, level=1.0)
