"""``explain_from_config``: artifacts + spectra table -> attributions per group over seeds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from geosoil.artifacts import Provenance, save_artifact
from geosoil.config import load_config, validate_config
from geosoil.config.explain import ExplainConfig
from geosoil.errors import ConfigError, InputFileNotFoundError, OutputExistsError, SampleDataError
from geosoil.explain import ALL_GROUP, ExplainError
from geosoil.models.covariate.mlp import CovariateMLP
from geosoil.models.spectral.plsr import PLSR
from geosoil.specs import InputLayer, InputSpec, OutputSpec
from geosoil.spectra import SpectraError
from geosoil.workflows.explain import explain_from_config, resolve_model_paths, select_rows

from . import data

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return data.write_inputs(tmp_path_factory.mktemp("explain_inputs"))


def make_config(inputs, out_dir, **changes) -> ExplainConfig:
    table, models = inputs
    raw = {
        "models": [str(p) for p in models],
        "spectra": {"path": str(table), "id_column": "sample_id"},
        "group_column": "soil_order",
        "max_samples_per_group": 10,
        "n_samples": 4,
        "output": {"dir": str(out_dir)},
        **changes,
    }
    return validate_config(raw, ExplainConfig, source="test")


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_writes_table_figure_summary_and_config(inputs, tmp_path):
    result = explain_from_config(make_config(inputs, tmp_path / "out"))
    assert sorted(p.name for p in result.out_dir.iterdir()) == [
        "attributions.csv", "attributions.png", "config.yaml", "explain.json",
    ]  # fmt: skip
    assert leftovers(tmp_path) == []
    table = pd.read_csv(result.table)
    assert list(table.columns[:5]) == ["band", "group", "mean_abs", "sd_over_seeds", "signed_mean"]
    assert list(dict.fromkeys(table["group"])) == [ALL_GROUP, *data.GROUPS]
    for group, rows in table.groupby("group"):
        np.testing.assert_allclose(rows["band"], data.AXIS_NM)  # standardize keeps the axis
        assert (rows["n_samples"] == (20 if group == ALL_GROUP else 10)).all()
    assert (table["n_seeds"] == 2).all()
    assert np.isfinite(table[["mean_abs", "sd_over_seeds", "signed_mean"]]).all().all()
    # the CNN's pooling drops the last few bands (300 is not a power of 3), which then get
    # exactly zero; every other band gets some attribution
    assert (table["mean_abs"] >= 0).all() and (table["mean_abs"] > 0).mean() > 0.9
    assert (table["sd_over_seeds"] > 0).any()
    assert result.figure.read_bytes().startswith(PNG_MAGIC)

    summary = json.loads(result.summary.read_text())
    assert summary["attribution_units"] == f"log10 {data.TARGET}"
    assert summary["axis_unit"] == "nm" and summary["n_bands"] == data.AXIS_NM.size
    assert summary["n_samples_by_group"] == {ALL_GROUP: 20, "Alfisols": 10, "Oxisols": 10}
    assert [m["path"] for m in summary["models"]] == [str(p) for p in inputs[1]]
    assert all(len(m["sha256"]) == 64 and m["method"] == "gradient_shap" for m in summary["models"])
    # the saved config reruns the same explanation, to the byte
    again = load_config(result.config, ExplainConfig, [f"output.dir={tmp_path / 'again'}"])
    rerun = explain_from_config(again)
    assert rerun.table.read_bytes() == result.table.read_bytes()


def test_a_glob_pattern_and_a_single_model(inputs, tmp_path):
    _, models = inputs
    pattern = str(models[0].parent / "cnn_seed*.safetensors")
    assert resolve_model_paths([pattern]) == models
    assert resolve_model_paths([pattern, str(models[1])]) == models  # no duplicates
    cfg = make_config(inputs, tmp_path / "one", models=str(models[1]), group_column=None)
    one = pd.read_csv(explain_from_config(cfg).table)
    assert set(one["group"]) == {ALL_GROUP} and (one["n_seeds"] == 1).all()
    assert one["sd_over_seeds"].isna().all()  # one seed: no spread to report


def test_select_rows_caps_each_group_with_the_seed():
    groups = np.array(["a"] * 5 + ["b"] * 3)
    rows = select_rows(groups, 8, max_per_group=2, seed=0)
    assert rows.size == 4 and list(np.unique(groups[rows], return_counts=True)[1]) == [2, 2]
    assert np.array_equal(rows, select_rows(groups, 8, max_per_group=2, seed=0))
    assert np.array_equal(select_rows(groups, 8, max_per_group=None, seed=0), np.arange(8))


def test_no_matching_artifact_is_an_error_before_any_output(inputs, tmp_path):
    cfg = make_config(inputs, tmp_path / "out", models=[str(tmp_path / "nothing_*.safetensors")])
    with pytest.raises(InputFileNotFoundError, match="no model artifact matched") as info:
        explain_from_config(cfg)
    assert info.value.field == "models" and "save_models" in info.value.fix
    assert list(tmp_path.iterdir()) == []


def test_a_missing_group_column_lists_the_available_ones(inputs, tmp_path):
    cfg = make_config(inputs, tmp_path / "out", group_column="soil_taxonomy")
    with pytest.raises(SampleDataError, match="soil_taxonomy") as info:
        explain_from_config(cfg)
    assert info.value.field == "group_column"
    assert "soil_order" in info.value.fix and data.TARGET in info.value.fix
    assert list(tmp_path.iterdir()) == []


def test_artifacts_of_different_axes_are_not_mixed(inputs, tmp_path):
    X, y, _ = data.one_region_spectra(40, seed=3)
    narrow = data.fit_cnn(
        X[:, :280], y, seed=0, max_epochs=1, axis=data.axis_of(data.AXIS_NM[:280])
    )
    other = data.save(narrow, tmp_path / "narrow.safetensors")
    cfg = make_config(inputs, tmp_path / "out", models=[str(inputs[1][0]), str(other)])
    with pytest.raises(ExplainError, match="different spectral axes") as info:
        explain_from_config(cfg)
    assert info.value.path == other and "one axis at a time" in info.value.fix
    assert not (tmp_path / "out").exists()


def test_cnn_and_plsr_seeds_are_not_averaged_together(inputs, tmp_path):
    X, y, _ = data.one_region_spectra(40, seed=4)
    plsr = PLSR(preprocessing=[{"name": "standardize"}], n_components=2).fit(X, y, axis=data.axis())
    other = data.save(plsr, tmp_path / "plsr_seed00.safetensors")
    cfg = make_config(inputs, tmp_path / "out", models=[str(inputs[1][0]), str(other)])
    with pytest.raises(ExplainError, match="different estimators") as info:
        explain_from_config(cfg)
    assert "cnn_seed*" in info.value.fix
    # on their own, PLSR seeds are explained exactly (linear attributions)
    alone = make_config(inputs, tmp_path / "plsr", models=[str(other)])
    summary = json.loads(explain_from_config(alone).summary.read_text())
    assert summary["models"][0]["method"] == "linear"
    assert summary["models"][0]["completeness_gap_rel"] < 1e-5


def test_a_table_on_another_axis_is_refused_with_the_resample_fix(inputs, tmp_path):
    X, y, groups = data.one_region_spectra(20, seed=1)
    shifted = data.write_table(tmp_path / "shifted.parquet", X, y, groups, axis_nm=data.AXIS_NM + 1)
    cfg = make_config(inputs, tmp_path / "out")
    cfg.spectra.path = shifted
    with pytest.raises(SpectraError, match="another axis") as info:
        explain_from_config(cfg)
    assert "resample" in info.value.fix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shifted.parquet"]


def test_a_covariate_model_is_refused(inputs, tmp_path):
    frame = pd.DataFrame({"dem": np.linspace(0, 1, 12), "twi": np.linspace(1, 0, 12) ** 2})
    mlp = CovariateMLP(hidden_layers=(4,), max_epochs=1).fit(frame, np.linspace(1, 2, 12))
    path = save_artifact(
        mlp,
        tmp_path / "mlp.safetensors",
        input_spec=InputSpec(
            kind="covariates", layers=[InputLayer(name="dem"), InputLayer(name="twi")]
        ),
        output_spec=OutputSpec(names=["kex"], units=[""]),
        provenance=Provenance(data_fingerprint="x", n_samples=12, seed=0),
    )
    cfg = make_config(inputs, tmp_path / "out", models=[str(path)])
    with pytest.raises(ExplainError, match="not spectra") as info:
        explain_from_config(cfg)
    assert info.value.field == "input_spec.kind"


def test_an_existing_output_is_kept_without_overwrite(inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier run")
    with pytest.raises(OutputExistsError):
        explain_from_config(make_config(inputs, out))
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"baselines": "median"}, "baselines"),
        ({"baselines": 0}, "baselines"),
        ({"n_samples": 0}, "n_samples"),
        ({"max_samples_per_group": 0}, "max_samples_per_group"),
        ({"groups": "soil_order"}, "groups"),
        ({"models": []}, "models"),
    ],
)
def test_bad_config_values_name_the_key(inputs, tmp_path, changes, field):
    with pytest.raises(ConfigError) as info:
        make_config(inputs, tmp_path / "out", **changes)
    assert info.value.field.startswith(field)


def test_the_example_config_is_valid():
    from ..conftest import CONFIGS

    raw = yaml.safe_load((CONFIGS / "kex" / "afsis_explain.yaml").read_text())
    cfg = validate_config(raw, ExplainConfig, source="afsis_explain.yaml")
    assert cfg.group_column == "CNTISOC" and cfg.models[0].endswith("cnn_seed*.safetensors")


def test_named_sets_are_explained_side_by_side(inputs, tmp_path):
    _, models = inputs
    config = make_config(
        inputs,
        tmp_path / "out",
        models={"source": str(models[0]), "transferred": [str(models[1])]},
    )
    result = explain_from_config(config)
    table = pd.read_csv(result.table)
    assert list(dict.fromkeys(table["model_set"])) == ["source", "transferred"]
    assert table.columns[0] == "model_set"
    for _, rows in table.groupby("model_set"):
        assert (rows["n_seeds"] == 1).all() and len(rows) == 3 * data.AXIS_NM.size
    assert result.figure.read_bytes().startswith(PNG_MAGIC)
    summary = json.loads(result.summary.read_text())
    assert set(summary["sets"]) == {"source", "transferred"}
    (pair,) = summary["agreement"]
    assert pair["first"] == "source" and pair["second"] == "transferred"
    assert -1.0 <= pair["spearman"] <= 1.0 and len(pair["top_bands_first"]) == 10
    assert set(pair["top_shared"]) <= set(pair["top_bands_first"])


def test_a_named_set_that_matches_nothing_is_named(inputs, tmp_path):
    config = make_config(
        inputs, tmp_path / "out", models={"source": str(inputs[1][0]), "transferred": "nope*"}
    )
    with pytest.raises(InputFileNotFoundError) as info:
        explain_from_config(config)
    assert info.value.field == "models.transferred"
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="lists no artifact"):
        make_config(inputs, tmp_path / "o", models={"source": []})
