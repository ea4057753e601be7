"""The Pb risk product: GB 15618-2018 bands and classes at their exact edges, land use, nodata,
the vectorized path against a plain loop, and every malformed threshold table refused."""

import math

import numpy as np
import pytest
import yaml

from geosoil.errors import ConfigError, InputFileNotFoundError
from geosoil.products import build_product
from geosoil.products.pb_risk import (
    PbRisk,
    default_pb_thresholds_path,
    is_mg_kg,
    pb_risk_class,
    ph_band_index,
    read_pb_thresholds,
)

# GB 15618-2018, Pb in mg/kg, by pH band (<= 5.5, (5.5, 6.5], (6.5, 7.5], > 7.5).
SCREENING = {"other": (70, 90, 120, 170), "paddy": (80, 100, 140, 240)}
INTERVENTION = (400, 500, 700, 1000)


def product(**params):
    return build_product("pb_risk", {"ph": "ph", **params})


def run(prod, pb, ph=None, **layers):
    arrays = {"pb_mg_kg": np.asarray(pb, dtype=np.float64), **layers}
    if ph is not None:
        arrays["ph"] = np.asarray(ph, dtype=np.float64)
    return prod.compute(arrays)


def reference_class(pb, ph, land_use):
    """One pixel by the words of the standard, with no arrays and no searchsorted."""
    if not (math.isfinite(pb) and math.isfinite(ph)) or pb < 0 or not 0 <= ph <= 14:
        return math.nan, math.nan
    if ph <= 5.5:
        band = 0
    elif ph <= 6.5:
        band = 1
    elif ph <= 7.5:
        band = 2
    else:
        band = 3
    screening = SCREENING[land_use][band]
    if pb <= screening:
        return 0, screening
    return (1 if pb <= INTERVENTION[band] else 2), screening


def test_packaged_table_holds_the_standard():
    table = read_pb_thresholds()
    assert table.path == default_pb_thresholds_path().resolve()
    assert table.name == "GB 15618-2018" and table.units == "mg/kg" and table.element == "Pb"
    assert "Ministry of Ecology and Environment" in table.citation
    assert table.ph_edges == (5.5, 6.5, 7.5)
    assert table.screening_mg_kg == {use: tuple(map(float, v)) for use, v in SCREENING.items()}
    assert table.intervention_mg_kg["other"] == table.intervention_mg_kg["paddy"] == INTERVENTION
    assert table.band_labels() == ["pH <= 5.5", "5.5 < pH <= 6.5", "6.5 < pH <= 7.5", "pH > 7.5"]


def test_ph_bands_are_closed_above():
    ph = [5.5, 5.5001, 6.5, 6.5001, 7.5, 7.5001, 0.0, 14.0, -0.1, 14.1, np.nan]
    expected = [0, 1, 1, 2, 2, 3, 0, 3, -1, -1, -1]
    assert ph_band_index(ph, (5.5, 6.5, 7.5)).tolist() == expected
    # float32 layers, as the engine hands them over, fall in the same bands.
    assert ph_band_index(np.float32([5.5, 6.5, 7.5]), (5.5, 6.5, 7.5)).tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("ph", "pb", "expected_class", "expected_screening"),
    [
        (5.5, 70.0, 0, 70),  # at screening: negligible
        (5.5, 70.5, 1, 70),
        (5.51, 70.5, 0, 90),  # just above the edge: the next band's screening value
        (6.5, 90.0, 0, 90),
        (6.5, 500.0, 1, 90),  # at intervention: still class 1
        (6.5, 500.5, 2, 90),
        (7.5, 120.0, 0, 120),
        (7.5, 700.0, 1, 120),
        (7.5, 700.5, 2, 120),
        (7.51, 700.5, 1, 170),
        (9.0, 1000.0, 1, 170),
        (9.0, 1000.5, 2, 170),
        (4.0, 0.0, 0, 70),
    ],
)
def test_classes_at_screening_and_intervention(ph, pb, expected_class, expected_screening):
    out = run(product(), [pb], [ph])
    assert out["pb_risk_class"][0] == expected_class
    assert out["pb_risk_screening_mg_kg"][0] == expected_screening
    assert out["pb_risk_ratio"][0] == pytest.approx(pb / expected_screening)


def test_paddy_has_its_own_screening_row():
    pb, ph = [75.0, 200.0, 130.0], [5.0, 8.0, 7.0]
    other = run(product(land_use="other"), pb, ph)
    paddy = run(product(land_use="paddy"), pb, ph)
    assert other["pb_risk_class"].tolist() == [1, 1, 1]
    assert paddy["pb_risk_class"].tolist() == [0, 0, 0]
    assert paddy["pb_risk_screening_mg_kg"].tolist() == [80, 240, 140]
    assert run(product(), pb, ph)["pb_risk_class"].tolist() == [1, 1, 1]  # default: other


def test_nodata_and_impossible_values_are_undefined():
    pb = [np.nan, 50.0, -1.0, 50.0, 50.0, 50.0]
    ph = [6.0, np.nan, 6.0, -0.5, 14.5, 6.0]
    out = run(product(), pb, ph)
    for name, values in out.items():
        assert np.isnan(values[:5]).all(), name
        assert np.isfinite(values[5]), name
    np.testing.assert_array_equal(
        pb_risk_class([np.nan, 10.0, -1.0, 401.0], 70.0, 400.0), [np.nan, 0, np.nan, 2]
    )


def test_land_use_layer_picks_the_row_and_leaves_non_farmland_out():
    codes = [1.0, 2.0, 3.0, np.nan, 2.0]
    pb, ph = [75.0] * 5, [5.0] * 5
    only_farmland = product(land_use_layer="landcover", paddy_codes=[2], other_codes=[1])
    assert only_farmland.inputs() == ["pb_mg_kg", "ph", "landcover"]
    out = run(only_farmland, pb, ph, landcover=np.asarray(codes))
    np.testing.assert_array_equal(out["pb_risk_class"], [1, 0, np.nan, np.nan, 0])
    np.testing.assert_array_equal(out["pb_risk_screening_mg_kg"], [70, 80, np.nan, np.nan, 80])
    every_code = product(land_use_layer="landcover", paddy_codes=[2])
    out = run(every_code, pb, ph, landcover=np.asarray(codes))
    np.testing.assert_array_equal(out["pb_risk_class"], [1, 0, 1, np.nan, 0])


def test_constant_ph_needs_no_ph_layer():
    prod = build_product("pb_risk", {"ph_constant": 7.0})
    assert prod.inputs() == ["pb_mg_kg"]
    out = run(prod, [110.0, 130.0, 800.0])
    assert out["pb_risk_class"].tolist() == [0, 1, 2]
    assert out["pb_risk_ph_band"].tolist() == [3, 3, 3]
    assert "pH 7 (assumed)" in prod.outputs()[0].description


def test_percentile_layer_gives_a_precautionary_class():
    prod = product(use_percentile_layer=True, output="lead")
    assert prod.inputs() == ["pb_mg_kg", "ph", "pb_mg_kg_hi"]
    out = run(prod, [60.0, 60.0], [5.0, 5.0], pb_mg_kg_hi=np.array([65.0, 450.0]))
    assert out["lead_class"].tolist() == [0, 0]
    assert out["lead_class_p95"].tolist() == [0, 2]


def test_outputs_are_declared_classes_and_values():
    variables = {var.name: var for var in product(output="lead").outputs()}
    assert sorted(variables) == ["lead_class", "lead_ph_band", "lead_ratio", "lead_screening_mg_kg"]
    risk = variables["lead_class"]
    assert risk.is_classes and risk.dtype == np.uint8 and risk.nodata == 255
    assert [(c.value, c.color) for c in risk.classes] == [
        (0, "#1a9850"),
        (1, "#fd8d3c"),
        (2, "#d73027"),
        (3, "#9e9e9e"),
    ]
    bands = variables["lead_ph_band"]
    assert [c.value for c in bands.classes] == [1, 2, 3, 4]
    assert bands.classes[1].label == "5.5 < pH <= 6.5"
    assert variables["lead_screening_mg_kg"].units == "mg/kg"
    assert not variables["lead_ratio"].is_classes


def test_vectorized_product_equals_a_plain_loop():
    rng = np.random.default_rng(0)
    n = 400
    pb = rng.lognormal(np.log(150), 1.0, n)
    ph = np.round(rng.uniform(3.5, 9.5, n), 1)  # many values exactly on the edges
    pb[:5], ph[5:10] = np.nan, np.nan
    pb[10:20] = rng.choice([70, 90, 120, 170, 400, 500, 700, 1000], 10)
    codes = rng.choice([1.0, 2.0, 4.0], n)
    out = run(product(land_use_layer="lc", paddy_codes=[2], other_codes=[1]), pb, ph, lc=codes)
    for i in range(n):
        use = {1.0: "other", 2.0: "paddy"}.get(codes[i])
        expected = reference_class(pb[i], ph[i], use) if use else (math.nan, math.nan)
        got = (out["pb_risk_class"][i], out["pb_risk_screening_mg_kg"][i])
        np.testing.assert_equal(got, expected)


@pytest.mark.parametrize(
    ("params", "field", "match"),
    [
        ({"ph_constant": 7.0}, "products.pb_risk.params", "both of ph and ph_constant"),
        ({"ph": None}, "products.pb_risk.params", "neither of ph and ph_constant"),
        ({"ph_constant": 15.0, "ph": None}, "products.pb_risk.params.ph_constant", "14"),
        ({"land_use": "rice"}, "products.pb_risk.params.land_use", "other"),
        ({"land_use_layer": "lc"}, "products.pb_risk.params", "needs paddy_codes"),
        ({"paddy_codes": [2]}, "products.pb_risk.params", "belong to land_use_layer"),
        (
            {"land_use": "paddy", "land_use_layer": "lc", "paddy_codes": [2]},
            "products.pb_risk.params",
            "exclude each other",
        ),
        (
            {"land_use_layer": "lc", "paddy_codes": [2], "other_codes": [1, 2]},
            "products.pb_risk.params",
            "both paddy_codes and other_codes",
        ),
    ],
)
def test_bad_params_are_refused(params, field, match):
    with pytest.raises(ConfigError, match=match) as err:
        build_product("pb_risk", {"ph": "ph", **params})
    # build_product ends a model-level field with "." (products.pb_risk.params.).
    assert err.value.field.rstrip(".") == field


def packaged_table() -> dict:
    return yaml.safe_load(default_pb_thresholds_path().read_text("utf-8"))


def write_table(tmp_path, change) -> object:
    table = packaged_table()
    change(table)
    path = tmp_path / "table.yaml"
    path.write_text(yaml.safe_dump(table, allow_unicode=True))
    return path


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(table):
        node = table
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "field", "match"),
    [
        (lambda t: t.pop("intervention"), "intervention", "key 'intervention' is missing"),
        (_set("colour", "red"), "colour", "unknown key"),
        (_set("ph_edges", [5.5, 5.5, 7.5]), "ph_edges[1]", "increase strictly"),
        (_set("ph_edges", [6.5, 5.5, 7.5]), "ph_edges[1]", "increase strictly"),
        (_set("ph_edges", [5.5, 6.5, 15]), "ph_edges[2]", "outside"),
        (_set("ph_edges", []), "ph_edges", "empty"),
        (_set("screening", "paddy", [80, 100, 140]), "screening.paddy", "3 values for 4 pH bands"),
        (_set("screening", "paddy", [80, 100, "x", 240]), "screening.paddy[2]", "not a finite"),
        (_set("screening", "other", [70, 90, 120, True]), "screening.other[3]", "not a finite"),
        (_set("screening", "other", [0, 90, 120, 170]), "screening.other[0]", "not positive"),
        (_set("intervention", "other", [70, 500, 700, 1000]), "intervention.other[0]", "not above"),
        (_set("intervention", "paddy", [400, 500, 700, 200]), "intervention.paddy[3]", "not above"),
        (lambda t: t["screening"].pop("paddy"), "screening.paddy", "'paddy' is missing"),
        (_set("screening", "orchard", [1, 2, 3, 4]), "screening.orchard", "unknown land use"),
        (_set("screening", [70, 90, 120, 170]), "screening", "not a mapping"),
        (_set("units", "g/kg"), "units", "not mg/kg"),
        (_set("version", 2), "version", "not supported"),
    ],
)
def test_malformed_tables_name_the_file_and_the_field(tmp_path, change, field, match):
    path = write_table(tmp_path, change)
    with pytest.raises(ConfigError, match=match) as err:
        read_pb_thresholds(path)
    assert err.value.field == field
    assert err.value.path == path
    assert err.value.fix
    # The product refuses it the same way, before any block is computed.
    with pytest.raises(ConfigError, match=match):
        build_product("pb_risk", {"ph": "ph", "thresholds": str(path)})


def test_missing_and_unreadable_tables(tmp_path):
    with pytest.raises(InputFileNotFoundError) as err:
        read_pb_thresholds(tmp_path / "none.yaml")
    assert err.value.field == "thresholds"
    bad = tmp_path / "bad.yaml"
    bad.write_text("ph_edges: [5.5,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_pb_thresholds(bad)


def test_a_table_of_another_standard(tmp_path):
    table = {
        "version": 1,
        "name": "Two bands",
        "citation": "a test table",
        "element": "Pb",
        "units": "mg kg-1",
        "ph_edges": [6],
        "screening": {"other": [50, 100], "paddy": [60, 110]},
        "intervention": {"other": [300, 600], "paddy": [300, 600]},
    }
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(table))
    prod = product(thresholds=str(path))
    assert isinstance(prod, PbRisk) and prod.table.band_labels() == ["pH <= 6", "pH > 6"]
    out = run(prod, [55.0, 55.0, 650.0], [6.0, 6.1, 9.0])
    assert out["pb_risk_class"].tolist() == [1, 0, 2]
    assert out["pb_risk_ph_band"].tolist() == [1, 2, 2]


@pytest.mark.parametrize(
    ("units", "ok"),
    [("mg/kg", True), ("mg kg-1", True), ("ppm", True), ("g/kg", False), ("%", False)],
)
def test_mg_kg_spellings(units, ok):
    assert is_mg_kg(units) is ok


def test_outside_the_area_of_applicability_gets_its_own_class():
    prod = product(ph="ph", use_percentile_layer=True)
    out = run(
        prod,
        [60.0, 60.0, 600.0],
        [5.0, 5.0, 5.0],
        pb_mg_kg_hi=np.array([65.0, 450.0, 700.0]),
        pb_mg_kg_aoa=np.array([1.0, 0.0, 0.0]),
    )
    assert out["pb_risk_class"].tolist() == [0, 3, 3]
    assert out["pb_risk_class_p95"].tolist() == [0, 3, 3]
    assert prod.optional_inputs() == ["pb_mg_kg_aoa", "pb_mg_kg_in_domain"]
    labels = {c.value: c.label for c in prod.outputs()[0].classes}
    assert labels[3].startswith("outside applicability")
