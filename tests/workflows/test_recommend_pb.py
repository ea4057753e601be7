"""``recommend_pb_risk_from_config``: classes pixel by pixel against GB 15618-2018, areas against
the class rasters, rasters and a constant pH without any model, bad inputs refused before any
output, and resuming a failed run."""

import numpy as np
import pytest
import rasterio
import torch
import yaml
from rio_cogeo.cogeo import cog_validate

from geosoil.config import TrainConfig, load_config
from geosoil.config.pb_risk import RecommendPbRiskConfig
from geosoil.errors import CalibrationError, ConfigError, InputFileNotFoundError, OutputError
from geosoil.workflows import recommend_pb as pb_module
from geosoil.workflows import run_record, train_from_config
from geosoil.workflows.recommend_pb import recommend_pb_risk_from_config

from ..conftest import CONFIGS, world_overrides

RISK = CONFIGS / "pb" / "demo_risk.yaml"
TINY_TRAIN = [
    "model.params.hidden_layers=[16]",
    "model.params.max_epochs=15",
    "model.params.patience=5",
    "evaluation.n_splits=2",
    "evaluation.schemes=[random]",
]
QUIET = ["execution.threads=1", "execution.progress=false"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def train(world_dir, tmp_path_factory, name, *extra):
    out = tmp_path_factory.mktemp(name) / "model"
    config = load_config(
        CONFIGS / "pb" / f"demo_train_{name}.yaml",
        TrainConfig,
        [*world_overrides(world_dir), *TINY_TRAIN, *extra, f"output.dir={out}"],
    )
    return train_from_config(config).artifact


@pytest.fixture(scope="module")
def pb_model(world_dir, tmp_path_factory):
    """A 2-member Pb ensemble on log10 Pb, so the engine maps p05/p95."""
    return train(world_dir, tmp_path_factory, "pb", "model.params.n_members=2")


@pytest.fixture(scope="module")
def ph_model(world_dir, tmp_path_factory):
    return train(world_dir, tmp_path_factory, "ph")


def risk_config(world_dir, out, *extra):
    return load_config(
        RISK,
        RecommendPbRiskConfig,
        [
            f"covariates.catalog={world_dir / 'covariates.yaml'}",
            f"output.dir={out}",
            *QUIET,
            *extra,
        ],
    )


def raster_route(world_dir):
    """Pb and pH from the world's truth rasters, given by path: no model at all."""
    truth = world_dir / "truth"
    return ["pb.model=null", f"pb.layer={truth / 'pb_mg_kg.tif'}"], [
        "ph.model=null",
        f"ph.layer={truth / 'ph.tif'}",
    ]


def read(path):
    with rasterio.open(path) as dataset:
        return dataset.read(1, masked=True).astype(np.float64).filled(np.nan), dataset.profile


def expected_classes(pb, ph, paddy):
    """GB 15618-2018 written out band by band, independent of the product's lookup."""
    bands = [ph <= 5.5, (ph > 5.5) & (ph <= 6.5), (ph > 6.5) & (ph <= 7.5), ph > 7.5]
    screening = np.select(
        bands,
        [np.where(paddy, p, o) for o, p in [(70, 80), (90, 100), (120, 140), (170, 240)]],
        np.nan,
    )
    intervention = np.select(bands, [400, 500, 700, 1000], np.nan)
    classes = np.where(pb > intervention, 2, np.where(pb > screening, 1, 0)).astype(float)
    return np.where(np.isfinite(pb) & np.isfinite(ph), classes, np.nan), screening


def counts(values, codes):
    return [int((values == code).sum()) for code in codes]


def test_models_route_against_the_standard(world_dir, pb_model, ph_model, tmp_path):
    out = tmp_path / "risk"
    result = recommend_pb_risk_from_config(
        risk_config(
            world_dir, out, f"pb.model={pb_model}", f"ph.model={ph_model}", "pb.uncertainty=true"
        )
    )
    maps = out / "map"
    pb, profile = read(maps / "pb_mg_kg.tif")
    ph, _ = read(maps / "ph.tif")
    landcover, cover_profile = read(world_dir / "covariates" / "landcover.tif")
    assert cover_profile["transform"] == profile["transform"]

    farmland = np.isin(landcover, [1, 2])  # the demo: cropland other farmland, paddy paddy
    classes, screening = expected_classes(pb, ph, landcover == 2)
    classes[~farmland] = np.nan
    # Pixels outside the Pb model's area of applicability get their own class, 3.
    aoa, _ = read(maps / "pb_mg_kg_aoa.tif")
    outside = np.isfinite(classes) & (aoa == 0)
    assert outside.any()
    classes[outside] = 3
    got, class_profile = read(result.cogs["pb_risk_class"])
    np.testing.assert_array_equal(got, classes)
    got_screening, _ = read(result.cogs["pb_risk_screening_mg_kg"])
    np.testing.assert_array_equal(got_screening[farmland], screening[farmland])
    ratio, _ = read(result.cogs["pb_risk_ratio"])
    valid = np.isfinite(got)
    np.testing.assert_allclose(ratio[valid], pb[valid] / screening[valid], rtol=1e-6)
    # The precautionary class of Pb's 95th percentile: the same rule on p95, never below the
    # class of the median, and (a tiny model maps a wide interval) above it somewhere.
    pb_p95, _ = read(maps / "pb_mg_kg_hi.tif")  # the calibrated upper bound
    upper_classes, _ = expected_classes(pb_p95, ph, landcover == 2)
    upper_classes[~farmland] = np.nan
    upper_classes[outside] = 3
    upper, _ = read(result.cogs["pb_risk_class_p95"])
    np.testing.assert_array_equal(upper, upper_classes)
    assert (upper[valid] >= got[valid]).all() and (upper[valid] > got[valid]).any()

    # Class layers: uint8 COGs with nodata 255, a colour table and a paletted QGIS style.
    assert class_profile["dtype"] == "uint8" and class_profile["nodata"] == 255
    assert cog_validate(str(result.cogs["pb_risk_class"]))[0]
    with rasterio.open(result.cogs["pb_risk_class"]) as dataset:
        colormap = dataset.colormap(1)
    assert colormap[0][:3] == (0x1A, 0x98, 0x50) and colormap[2][:3] == (0xD7, 0x30, 0x27)
    qml = (maps / "pb_risk_class.qml").read_text()
    assert 'type="paletted"' in qml and "above intervention" in qml
    assert 'type="paletted"' in (maps / "pb_risk_ph_band.qml").read_text()

    # Areas: counted again from the class rasters; the grid's pixels are 100 m, 1 ha.
    pixel_ha = abs(profile["transform"].a * profile["transform"].e) / 1e4
    risk = result.risk
    assert risk["pixel_area_ha"] == pytest.approx(pixel_ha)
    assert [c["pixels"] for c in risk["classes"]] == counts(got, [0, 1, 2, 3])
    assert risk["classified_pixels"] == valid.sum()
    assert sum(c["share"] for c in risk["classes"]) == pytest.approx(1.0)
    assert risk["classes"][1]["area_ha"] == pytest.approx(risk["classes"][1]["pixels"] * pixel_ha)
    band, _ = read(result.cogs["pb_risk_ph_band"])
    for entry in risk["ph_bands"]:
        inside = band == entry["band"]
        assert entry["pixels"] == inside.sum()
        assert [c["pixels"] for c in entry["classes"]] == counts(got[inside], [0, 1, 2, 3])
    assert [c["pixels"] for c in risk["classes_p95"]] == counts(upper, [0, 1, 2, 3])
    assert risk["thresholds"]["name"] == "GB 15618-2018"
    assert risk["ph_bands"][2]["screening_mg_kg"] == {"other": 120, "paddy": 140}
    table = result.risk_csv.read_text().splitlines()
    assert table[0] == "scope,ph_band,ph,class,label,pixels,area_ha,share"
    assert len(table) == 1 + 4 + 4 * 4 + 4

    summary = result.summary
    assert summary["ph"] == {"source": "model", "from": str(ph_model), "layer": "ph"}
    assert "Ministry of Ecology and Environment" in summary["thresholds"]["citation"]
    # Forest, grassland, urban and water have Pb but no class.
    lost = np.isfinite(pb) & ~valid
    assert summary["pixels_with_pb_without_class"] == lost.sum() > 0
    saved = RecommendPbRiskConfig.model_validate(yaml.safe_load(result.config.read_text()))
    assert saved.pb.uncertainty and saved.paddy_codes == [2]
    assert sorted(p.name for p in out.iterdir()) == [
        "config.yaml",
        "map",
        "risk_summary.csv",
        "risk_summary.json",
        "summary.json",
    ]


def test_rasters_and_a_constant_ph_need_no_model(world_dir, tmp_path):
    out = tmp_path / "risk"
    pb_flags, _ = raster_route(world_dir)
    reason = "no pH map here; assumed slightly acid"
    config = risk_config(
        world_dir,
        out,
        *pb_flags,
        "ph.model=null",
        "ph.constant=6.0",
        f"ph.reason={reason}",
        "land_use_layer=null",
        "paddy_codes=[]",
        "other_codes=null",
        "land_use=paddy",
        "output.format=zarr",
    )
    result = recommend_pb_risk_from_config(config)
    assert result.cogs == {} and result.zarr.exists()
    # The 5.5 < pH <= 6.5 band, paddy: screening 100, intervention 500 mg/kg.
    truth, _ = read(world_dir / "truth" / "pb_mg_kg.tif")
    truth = truth[np.isfinite(truth)]
    expected = [(truth <= 100).sum(), ((truth > 100) & (truth <= 500)).sum(), (truth > 500).sum()]
    expected.append(0)  # a raster has no area of applicability: nothing is outside it
    assert [c["pixels"] for c in result.risk["classes"]] == expected
    assert [b["pixels"] for b in result.risk["ph_bands"]] == [0, truth.size, 0, 0]
    assert result.summary["ph"] == {"source": "constant", "constant": 6.0, "assumption": reason}
    assert result.summary["land_use"] == {"everywhere": "paddy"}
    # The raster joined the covariates in a run catalog; the map ran without models.
    catalog = yaml.safe_load((out / "covariates.yaml").read_text())
    assert catalog["layers"][-1]["name"] == "pb_mg_kg"
    assert yaml.safe_load((out / "map" / "config.yaml").read_text())["models"] == []


@pytest.mark.parametrize(
    ("flags", "error", "field", "match"),
    [
        (["ph.layer=nowhere/ph.tif"], InputFileNotFoundError, "ph.layer", "neither a covariate"),
        (["land_use_layer=slope_deg"], ConfigError, "land_use_layer", "not declared categorical"),
        (["thresholds=TABLE"], ConfigError, "ph_edges[1]", "increase strictly"),
        (["land_use_layer=nowhere.tif"], InputFileNotFoundError, "land_use_layer", "neither"),
    ],
)
def test_bad_inputs_are_refused_before_any_output(world_dir, tmp_path, flags, error, field, match):
    table = tmp_path / "table.yaml"
    table.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "bad",
                "citation": "x",
                "element": "Pb",
                "units": "mg/kg",
                "ph_edges": [6.5, 5.5],
                "screening": {"other": [1, 2, 3], "paddy": [1, 2, 3]},
                "intervention": {"other": [4, 5, 6], "paddy": [4, 5, 6]},
            }
        )
    )
    out = tmp_path / "risk"
    pb_flags, ph_flags = raster_route(world_dir)
    flags = [flag.replace("TABLE", str(table)) for flag in flags]
    with pytest.raises(error, match=match) as err:
        recommend_pb_risk_from_config(risk_config(world_dir, out, *pb_flags, *ph_flags, *flags))
    assert err.value.field == field
    assert not out.exists() and not list(tmp_path.glob(".risk.partial*"))


def test_models_in_the_wrong_units_are_refused(world_dir, pb_model, ph_model, tmp_path):
    out = tmp_path / "risk"
    with pytest.raises(ConfigError, match="Pb is in 'pH'") as err:
        recommend_pb_risk_from_config(
            risk_config(world_dir, out, f"pb.model={ph_model}", f"ph.model={ph_model}")
        )
    assert err.value.field == "pb.model" and "mg/kg" in err.value.fix
    with pytest.raises(ConfigError, match="'mg/kg', not pH units") as err:
        recommend_pb_risk_from_config(
            risk_config(world_dir, out, f"pb.model={pb_model}", f"ph.model={pb_model}")
        )
    assert err.value.field == "ph.model"
    # The precautionary class needs calibrated bounds: an artifact without them is refused.
    from ..conftest import artifact_without_trust

    old = artifact_without_trust(pb_model, tmp_path / "old_pb.safetensors")
    with pytest.raises(CalibrationError, match="no conformal calibration") as err:
        recommend_pb_risk_from_config(
            risk_config(world_dir, out, f"pb.model={old}", "pb.uncertainty=true")
        )
    assert err.value.field == "pb.uncertainty" and "retrain" in err.value.fix
    assert not out.exists()


def test_a_failed_run_resumes_and_an_earlier_output_survives(world_dir, tmp_path, monkeypatch):
    out = tmp_path / "risk"
    pb_flags, ph_flags = raster_route(world_dir)
    flags = [*pb_flags, *ph_flags]

    def disk_full(*args, **kwargs):
        raise OutputError("cannot write the risk summary (disk full)", fix="free space")

    with monkeypatch.context() as patch:
        patch.setattr(pb_module, "summarize_risk", disk_full)
        with pytest.raises(OutputError, match="disk full"):
            recommend_pb_risk_from_config(risk_config(world_dir, out, *flags))
    partial = tmp_path / ".risk.partial"
    assert not out.exists() and (partial / "map" / "pb_risk_class.tif").exists()

    changed = risk_config(world_dir, out, *flags, "paddy_codes=[2, 3]", "output.resume=true")
    with pytest.raises(OutputError, match="cannot resume"):
        recommend_pb_risk_from_config(changed)

    def no_second_map(*args, **kwargs):
        raise AssertionError("the finished map was computed again")

    with monkeypatch.context() as patch:
        patch.setattr(run_record, "map_from_config", no_second_map)
        result = recommend_pb_risk_from_config(
            risk_config(world_dir, out, *flags, "output.resume=true")
        )
    assert result.risk["classified_pixels"] > 0 and not partial.exists()
    assert not (out / ".recommend-run.json").exists()

    # A failing overwrite leaves the finished output as it was.
    before = (out / "risk_summary.json").read_bytes()
    with pytest.raises(InputFileNotFoundError):
        recommend_pb_risk_from_config(
            risk_config(world_dir, out, *flags, "output.overwrite=true", "ph.layer=none.tif")
        )
    assert (out / "risk_summary.json").read_bytes() == before
