"""``recommend_k_from_config``: doses pixel by pixel against the formula, field totals against an
independent rasterization, Zarr-only runs, and resuming a failed run."""

from statistics import NormalDist

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import xarray as xr
import yaml
from rasterio.features import rasterize
from rio_cogeo.cogeo import cog_validate

from geosoil.config import TrainConfig, load_config
from geosoil.config.recommend import RecommendKConfig
from geosoil.errors import OutputError
from geosoil.workflows import recommend as recommend_module
from geosoil.workflows import run_record, train_from_config
from geosoil.workflows.recommend import recommend_k_from_config

from ..conftest import CONFIGS, FAST_TRAIN, world_overrides

RECOMMEND = CONFIGS / "demo" / "recommend.yaml"


@pytest.fixture(scope="module")
def ensemble_model(world_dir, tmp_path_factory):
    """A 3-member Kex ensemble (log10 target), so the engine maps p05/p95."""
    out = tmp_path_factory.mktemp("ensemble") / "model"
    config = load_config(
        CONFIGS / "demo" / "train.yaml",
        TrainConfig,
        [
            *world_overrides(world_dir),
            *FAST_TRAIN,
            "evaluation.schemes=[random]",
            "model.params.n_members=3",
            f"output.dir={out}",
        ],
    )
    return train_from_config(config).artifact


def recommend_config(world_dir, model, out, *extra):
    return load_config(
        RECOMMEND,
        RecommendKConfig,
        [
            f"kex.model={model}",
            f"covariates.catalog={world_dir / 'covariates.yaml'}",
            f"fields.path={world_dir / 'fields.gpkg'}",
            f"output.dir={out}",
            *extra,
        ],
    )


def read(path):
    with rasterio.open(path) as dataset:
        return dataset.read(1, masked=True).astype(np.float64).filled(np.nan), dataset.profile


def expected_dose(kex, density, depth=15.0, target=25.0):
    dose = np.maximum(target - 47.1 * kex, 0.0) * density * depth
    return np.where((density >= 0.1) & (density <= 2.7), dose, np.nan)


def test_doses_and_field_totals_with_an_ensemble(world_dir, ensemble_model, tmp_path):
    out = tmp_path / "rec"
    result = recommend_k_from_config(
        recommend_config(world_dir, ensemble_model, out, "percentile=90")
    )
    maps = out / "map"
    kex, profile = read(maps / "kex_cmol_kg.tif")
    # The percentile dose rests on the calibrated conformal bounds, not the ensemble spread.
    p05, _ = read(maps / "kex_cmol_kg_lo.tif")
    p95, _ = read(maps / "kex_cmol_kg_hi.tif")
    aoa, _ = read(maps / "kex_cmol_kg_aoa.tif")
    status, _ = read(result.cogs["dose_status"])
    density, density_profile = read(world_dir / "covariates" / "bulk_density_g_cm3.tif")
    assert density_profile["transform"] == profile["transform"]

    dose, _ = read(result.cogs["dose_k2o_kg_ha"])
    valid = np.isfinite(kex) & np.isfinite(density) & (aoa == 1)
    assert np.array_equal(np.isfinite(dose), valid)
    outside = np.isfinite(kex) & np.isfinite(density) & (aoa == 0)
    assert outside.any() and (status[outside] == 2).all()
    np.testing.assert_allclose(
        dose[valid], expected_dose(kex, density)[valid], rtol=2e-5, atol=1e-3
    )
    assert (dose[valid] == 0).any() and (dose[valid] > 0).any()
    kcl, _ = read(result.cogs["dose_kcl_kg_ha"])
    np.testing.assert_allclose(kcl[valid], dose[valid] / 0.6, rtol=1e-5)

    # Conformal bounds of a log10 model are symmetric around the mapped Kex (its median) on
    # the log scale.
    np.testing.assert_allclose(np.sqrt(p05 * p95)[valid], kex[valid], rtol=1e-4)
    z90, z95 = NormalDist().inv_cdf(0.9), NormalDist().inv_cdf(0.95)
    log_sd = (np.log(p95) - np.log(p05)) / (2 * z95)
    kex_p10 = np.exp(0.5 * (np.log(p05) + np.log(p95)) - z90 * log_sd)
    dose_p90, _ = read(result.cogs["dose_k2o_p90_kg_ha"])
    np.testing.assert_allclose(
        dose_p90[valid], expected_dose(kex_p10, density)[valid], rtol=1e-4, atol=1e-2
    )
    assert (dose_p90[valid] >= dose[valid] - 1e-3).all()
    assert cog_validate(str(result.cogs["dose_k2o_p90_kg_ha"]))[0]
    assert (maps / "dose_k2o_kg_ha.qml").exists()
    assert "kg K2O/ha" in (maps / "dose_k2o_kg_ha.qml").read_text()

    # Field totals: every pixel centre inside a field, rasterized independently (1 ha pixels).
    fields = gpd.read_file(world_dir / "fields.gpkg")
    ids = rasterize(
        ((geom, i + 1) for i, geom in enumerate(fields.geometry)),
        out_shape=dose.shape,
        transform=profile["transform"],
        fill=0,
    )
    table = gpd.read_file(result.fields_gpkg).set_index("field_id")
    assert len(table) == len(fields) and table.crs == fields.crs
    pixel_ha = abs(profile["transform"].a * profile["transform"].e) / 1e4
    for i, field_id in enumerate(fields["field_id"]):
        inside = ids == i + 1
        row = table.loc[field_id]
        assert row["n_pixels"] == inside.sum()
        mapped = inside & np.isfinite(dose)
        assert row["mapped_pct"] == pytest.approx(100 * mapped.sum() / inside.sum())
        classified = inside & np.isfinite(status)
        if classified.any():
            assert row["aoa_pct"] == pytest.approx(100 * (status[classified] != 2).mean())
        if not mapped.any():  # e.g. a field under the NDVI cloud gap: no Kex, no dose
            assert np.isnan(row["total_k2o_kg"]) and row["warning"]
            continue
        assert row["total_k2o_kg"] == pytest.approx(np.nansum(dose[inside]) * pixel_ha, rel=1e-5)
        assert row["total_kcl_p90_kg"] == pytest.approx(
            np.nansum(dose_p90[inside]) / 0.6 * pixel_ha, rel=1e-4
        )
        shortfall = dose[mapped] > 0
        assert row["deficit_pct"] == pytest.approx(100 * shortfall.mean())
    assert result.fields_csv.exists()
    assert table["kex_estimate"].str.startswith("median").all()

    summary = result.summary
    assert summary["target"]["target_mg_k2o_100g"] == 25 and "MAFF" in summary["target"]["source"]
    assert summary["fields"]["total_k2o_kg"] == pytest.approx(table["total_k2o_kg"].sum())
    assert summary["pixels_with_kex_without_dose"] == 0
    saved = RecommendKConfig.model_validate(yaml.safe_load(result.config.read_text()))
    assert saved.percentile == 90
    assert sorted(p.name for p in out.iterdir()) == [
        "config.yaml",
        "fields.csv",
        "fields.gpkg",
        "map",
        "summary.json",
    ]


def test_constant_bulk_density_zarr_only(world_dir, trained_dir, tmp_path):
    out = tmp_path / "rec"
    config = recommend_config(
        world_dir,
        trained_dir / "model.safetensors",
        out,
        "bulk_density=null",
        "bulk_density_g_cm3=0.8",
        "plough_depth_cm=20",
        "target_mg_k2o_100g=30",
        "output.format=zarr",
    )
    result = recommend_k_from_config(config)
    assert result.cogs == {} and not list((out / "map").glob("*.tif"))
    store = xr.open_zarr(result.zarr)
    assert sorted(store.data_vars) == [
        "dose_k2o_kg_ha",
        "dose_kcl_kg_ha",
        "dose_status",
        "kex_cmol_kg",
        "kex_cmol_kg_aoa",
        "kex_cmol_kg_di",
        "kex_cmol_kg_hi",
        "kex_cmol_kg_lo",
    ]
    kex = store["kex_cmol_kg"].values.astype(np.float64)
    dose = store["dose_k2o_kg_ha"].values.astype(np.float64)
    valid = (kex != -9999) & (store["kex_cmol_kg_aoa"].values == 1)
    expected = np.maximum(30 - 47.1 * kex[valid], 0) * 0.8 * 20
    np.testing.assert_allclose(dose[valid], expected, rtol=2e-5, atol=1e-3)
    table = gpd.read_file(result.fields_gpkg)
    assert table["mean_dose_k2o_kg_ha"].notna().sum() >= len(table) - 3
    assert "total_k2o_p90_kg" not in table.columns
    assert result.summary["target"] == {"target_mg_k2o_100g": 30.0, "source": "config"}


def test_resume_after_a_failure_reuses_the_finished_map(
    world_dir, trained_dir, tmp_path, monkeypatch
):
    out = tmp_path / "rec"
    model = trained_dir / "model.safetensors"

    def disk_full(*args, **kwargs):
        raise OutputError("cannot write the field table (disk full)", fix="free space")

    with monkeypatch.context() as patch:
        patch.setattr(recommend_module, "write_field_table", disk_full)
        with pytest.raises(OutputError, match="disk full"):
            recommend_k_from_config(recommend_config(world_dir, model, out))
    partial = tmp_path / ".rec.partial"
    assert not out.exists() and (partial / "map" / "dose_k2o_kg_ha.tif").exists()

    # Another config cannot finish this run.
    changed = recommend_config(world_dir, model, out, "plough_depth_cm=20", "output.resume=true")
    with pytest.raises(OutputError, match="cannot resume"):
        recommend_k_from_config(changed)

    def no_second_map(*args, **kwargs):
        raise AssertionError("the finished map was computed again")

    monkeypatch.setattr(run_record, "map_from_config", no_second_map)
    result = recommend_k_from_config(recommend_config(world_dir, model, out, "output.resume=true"))
    assert result.fields_gpkg.exists() and not partial.exists()
    assert not (out / ".recommend-run.json").exists()


def test_implausible_bulk_density_pixels_get_no_dose_and_are_counted(
    world_dir, trained_dir, tmp_path
):
    from geosoil.io.catalog import read_catalog, write_catalog

    # A unit slip in the catalog (x 2): the densest soils now read above 2.7 g/cm3.
    catalog = read_catalog(world_dir / "covariates.yaml")
    catalog.layers = [
        layer.model_copy(update={"scale": 2.0}) if layer.name == "bulk_density_g_cm3" else layer
        for layer in catalog.layers
    ]
    write_catalog(catalog, tmp_path / "covariates.yaml")
    out = tmp_path / "rec"
    config = recommend_config(
        world_dir,
        trained_dir / "model.safetensors",
        out,
        f"covariates.catalog={tmp_path / 'covariates.yaml'}",
        "fields=null",
    )
    result = recommend_k_from_config(config)
    kex, _ = read(result.cogs["kex_cmol_kg"])
    dose, _ = read(result.cogs["dose_k2o_kg_ha"])
    density, _ = read(world_dir / "covariates" / "bulk_density_g_cm3.tif")
    # The slip also moves bulk density (a model covariate) outside the training range: the
    # area of applicability catches those pixels, which get no dose either.
    inside, _ = read(out / "map" / "kex_cmol_kg_aoa.tif")
    implausible = np.isfinite(kex) & (2.0 * density > 2.7)
    assert implausible.sum() > 0
    assert np.isnan(dose[implausible]).all()
    assert np.isfinite(dose[np.isfinite(kex) & ~implausible & (inside == 1)]).all()
    assert result.summary["pixels_outside_applicability"] == (inside == 0).sum()
    assert result.summary["pixels_with_kex_without_dose"] == (implausible & (inside == 1)).sum()
    assert result.fields_gpkg is None and "fields" not in result.summary


# ------------------------------------------------------------------- route (b): from spectra
@pytest.fixture(scope="module")
def spectra_route(world_dir, tmp_path_factory):
    """A PLSR artifact for Kex from MIR spectra, and a spectra table with x/y columns."""
    import pandas as pd

    from geosoil.artifacts import Provenance, save_artifact
    from geosoil.io.spectra import read_spectra
    from geosoil.models.spectral.plsr import PLSR
    from geosoil.specs import OutputSpec

    folder = tmp_path_factory.mktemp("spectra_route")
    samples = gpd.read_parquet(world_dir / "samples.parquet")
    coordinates = pd.DataFrame(
        {
            "sample_id": samples["sample_id"],
            "kex_cmol_kg": samples["kex_cmol_kg"],
            "x": samples.geometry.x,
            "y": samples.geometry.y,
        }
    )
    spectra = pd.read_parquet(world_dir / "spectra_mir.parquet")
    table = folder / "spectra_xy.csv"
    coordinates.merge(spectra, on="sample_id").to_csv(table, index=False)
    sample_set = read_spectra(
        table, id_column="sample_id", x_column="x", y_column="y", crs="EPSG:32654"
    )
    model = PLSR(n_components=8).fit(
        sample_set.spectra, sample_set.target("kex_cmol_kg"), axis=sample_set.axis
    )
    artifact = save_artifact(
        model,
        folder / "plsr.safetensors",
        input_spec=model.input_spec(),
        output_spec=OutputSpec(names=["kex_cmol_kg"], units=["cmol(+)/kg"], back_transform="log10"),
        provenance=Provenance(data_fingerprint="test", n_samples=len(sample_set), seed=0),
        preprocessing=model.preprocessing_.to_spec(),
    )
    return artifact, table, model.predict(sample_set.spectra, axis=sample_set.axis)


def spectra_config(world_dir, spectra_route, out, *extra):
    artifact, table, _ = spectra_route
    return recommend_config(
        world_dir,
        "null",
        out,
        f"kex.spectra={{artifact: {artifact}, table: {table}, id_column: sample_id, "
        "x_column: x, y_column: y, crs: 'EPSG:32654'}",
        "kex.covariate_model.params={n_members: 2, max_epochs: 30, patience: 10, "
        "target_transform: log10, hidden_layers: [32], seed: 0}",
        "percentile=90",
        *extra,
    )


def test_kex_from_spectra_mapped_by_a_covariate_ensemble(world_dir, spectra_route, tmp_path):
    import pandas as pd

    from geosoil.artifacts import file_sha256, load_artifact

    artifact, _, predicted = spectra_route
    out = tmp_path / "rec"
    result = recommend_k_from_config(spectra_config(world_dir, spectra_route, out))
    assert result.kex_model == out / "kex_model.safetensors"
    kex_model = load_artifact(result.kex_model)
    assert kex_model.header.provenance.parent_sha256 == file_sha256(artifact)
    assert kex_model.header.output_spec.units == ["cmol(+)/kg"]
    assert kex_model.estimator.n_members == 2
    points = pd.read_csv(out / "kex_points.csv")
    np.testing.assert_allclose(points["kex_cmol_kg"], predicted, rtol=1e-6)
    assert points["kex_cmol_kg_spread_sd"].isna().all()  # PLSR offers no predictive distribution
    assert points["used_in_fit"].sum() == kex_model.header.provenance.n_samples
    assert {"dose_k2o_p90_kg_ha", "kex_cmol_kg_lo", "kex_cmol_kg_aoa"} <= set(result.cogs)
    assert kex_model.trust.intervals.scheme == "random"
    kex, _ = read(result.cogs["kex_cmol_kg"])
    dose, _ = read(result.cogs["dose_k2o_kg_ha"])
    density, _ = read(world_dir / "covariates" / "bulk_density_g_cm3.tif")
    valid = np.isfinite(dose)
    assert valid.sum() > 0.6 * valid.size
    np.testing.assert_allclose(
        dose[valid], expected_dose(kex, density)[valid], rtol=2e-5, atol=1e-3
    )


def test_spectra_route_resume_reuses_the_fitted_kex_model(
    world_dir, spectra_route, tmp_path, monkeypatch
):
    out = tmp_path / "rec"

    def killed(*args, **kwargs):
        raise OutputError("the map run was interrupted", fix="--resume")

    with monkeypatch.context() as patch:
        patch.setattr(run_record, "map_from_config", killed)
        with pytest.raises(OutputError, match="interrupted"):
            recommend_k_from_config(spectra_config(world_dir, spectra_route, out))
    fitted = (tmp_path / ".rec.partial" / "kex_model.safetensors").read_bytes()

    def no_refit(*args, **kwargs):
        raise AssertionError("the Kex model was fitted again")

    monkeypatch.setattr(recommend_module, "_fit_kex_map_model", no_refit)
    result = recommend_k_from_config(
        spectra_config(world_dir, spectra_route, out, "output.resume=true")
    )
    assert result.kex_model.read_bytes() == fitted


def test_spectra_route_bad_inputs_leave_nothing(world_dir, spectra_route, tmp_path):
    import pandas as pd

    from geosoil.errors import ConfigError, MissingCRSError

    artifact, table, _ = spectra_route
    out = tmp_path / "rec"
    # A spectral artifact where a covariate model belongs.
    with pytest.raises(ConfigError, match="spectra model") as info:
        recommend_k_from_config(recommend_config(world_dir, artifact, out, "percentile=null"))
    assert info.value.field == "kex.model" and "kex.spectra.artifact" in info.value.fix
    # Spectra without coordinates cannot be mapped.
    bare = tmp_path / "no_xy.csv"
    pd.read_csv(table).drop(columns=["x", "y"]).to_csv(bare, index=False)
    config = spectra_config(world_dir, spectra_route, out)
    config.kex.spectra = config.kex.spectra.model_copy(
        update={"table": bare, "x_column": None, "y_column": None, "crs": None}
    )
    with pytest.raises(MissingCRSError) as info:
        recommend_k_from_config(config)
    assert info.value.field == "kex.spectra.crs"
    # A single network is fine now: its conformal calibration gives the percentile dose.
    spectra_config(world_dir, spectra_route, out, "kex.covariate_model.params.n_members=1")
    assert not out.exists() and not list(tmp_path.glob(".rec.partial*"))
