"""``geosoil map`` with an image cube: spectral models (with uncertainty and products) on the
cube's grid, next to covariate models, resumable, and refused cleanly when it cannot run."""

import json
import os

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch

from geosoil.artifacts import Provenance, save_artifact
from geosoil.config import MapConfig, load_config
from geosoil.errors import ConfigError, GeoSoilError, OutputError
from geosoil.io.catalog import CovariateCatalog, CovariateLayer, write_catalog
from geosoil.models import CovariateMLP, SpectralCNN
from geosoil.specs import InputLayer, InputSpec, OutputSpec
from geosoil.spectra import SpectralAxis
from geosoil.workflows import map_from_config

from ..conftest import CONFIGS
from ..io.test_cube import write_cube_tif
from ..mapping.test_cube_map import (
    CUBE_NM,
    FEATURES,
    NODATA,
    SIDE,
    cube_values,
    expected_map,
    reflectance,
    target_of,
    train_plsr,
)
from ..rasters import UTM_100M, write_raster
from .test_map_resume import differing_files, fail_after

torch.set_num_threads(1)

MODEL_NM = np.arange(500.0, 1301.0, 2.0)  # 401 bands: enough for the CNN's pooling


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A cube (nodata hole), a PLSR and an MC-dropout CNN on ``MODEL_NM``."""
    folder = tmp_path_factory.mktemp("cube_workflow")
    values = cube_values()
    values[:, :2, :3] = NODATA
    cube = write_cube_tif(folder / "scene.tif", values, CUBE_NM, nodata=NODATA)
    plsr = train_plsr(folder / "plsr.safetensors", MODEL_NM)
    rng = np.random.default_rng(4)
    strengths = rng.uniform(0.0, 1.0, (120, len(FEATURES)))
    cnn = SpectralCNN(
        preprocessing=[{"name": "standardize"}],
        target_transform="none",
        max_epochs=2,
        patience=2,
        mc_dropout=4,
        threads=1,
    ).fit(reflectance(strengths, MODEL_NM), target_of(strengths), axis=_axis())
    cnn_path = save_artifact(
        cnn,
        folder / "cnn.safetensors",
        input_spec=cnn.input_spec(),
        output_spec=OutputSpec(names=["pb"], units=["mg/kg"]),
        provenance=Provenance(data_fingerprint="toy", n_samples=120, seed=0),
    )
    return {"folder": folder, "cube": cube, "plsr": plsr, "cnn": cnn_path, "values": values}


def _axis():
    return SpectralAxis.from_values(MODEL_NM, "nm")


def cube_config(inputs, out, *extra):
    """The example config, pointed at the test's cube and models."""
    models = (
        f"models=[{{path: {inputs['cnn']}, name: pb_mg_kg, uncertainty: true}}, "
        f"{{path: {inputs['plsr']}, name: ph}}]"
    )
    return load_config(
        CONFIGS / "pb" / "cube_map.yaml",
        MapConfig,
        [
            models,
            f"cube.path={inputs['cube']}",
            "cube.scale=1",
            f"output.dir={out}",
            "chunk=16",
            "batch_pixels=100",
            "execution.threads=1",
            "execution.progress=false",
            *extra,
        ],
    )


def read(path):
    with rasterio.open(path) as dataset:
        return dataset.read(1, masked=True), dataset.transform, dataset.shape


def test_spectral_models_with_uncertainty_and_products_on_the_cube_grid(inputs, tmp_path):
    result = map_from_config(cube_config(inputs, tmp_path / "m"))
    names = {"pb_mg_kg", "pb_mg_kg_spread_sd", "pb_mg_kg_spread_lo", "pb_mg_kg_spread_hi", "ph"}
    names.add("pb_risk_class")
    assert names <= set(result.cogs)
    mean, transform, shape = read(result.cogs["pb_mg_kg"])
    assert transform == UTM_100M and shape == (SIDE, SIDE)  # the cube's own grid
    low = read(result.cogs["pb_mg_kg_spread_lo"])[0]
    high = read(result.cogs["pb_mg_kg_spread_hi"])[0]
    std = read(result.cogs["pb_mg_kg_spread_sd"])[0]
    hole = np.zeros((SIDE, SIDE), dtype=bool)
    hole[:2, :3] = True
    for layer in (mean, low, high, std):
        assert (layer.mask == hole).all()  # nodata stays nodata, everything else is mapped
    assert (low <= high).all() and (std >= 0).all() and std.max() > 0

    ph = read(result.cogs["ph"])[0]
    plsr = load_plsr(inputs["plsr"])
    expected = expected_map(plsr, inputs["values"], CUBE_NM, MODEL_NM)
    np.testing.assert_allclose(ph.data[~hole], expected[~hole], rtol=1e-4, atol=1e-4)
    classes = read(result.cogs["pb_risk_class"])[0]
    assert (classes.mask == hole).all()  # the product follows the spectral outputs
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert summary["layers"]["ph"]["valid_pixels"] == SIDE * SIDE - 6


def load_plsr(path):
    from geosoil.artifacts import load_artifact

    return load_artifact(path).estimator


def test_covariate_and_spectral_models_in_one_pass(inputs, tmp_path):
    # A 40 x 40 covariate grid; the cube covers 24 x 24 of it, 8 pixels in from the corner.
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 40)).astype(np.float32)
    write_raster(tmp_path / "a.tif", a)
    catalog = tmp_path / "covariates.yaml"
    write_catalog(CovariateCatalog(layers=[CovariateLayer(name="a", path="a.tif")]), catalog)
    X = pd.DataFrame({"a": rng.normal(size=100)})
    mlp = CovariateMLP(max_epochs=3).fit(X, 2 * X["a"])
    mlp_path = save_artifact(
        mlp,
        tmp_path / "mlp.safetensors",
        input_spec=InputSpec(kind="covariates", layers=[InputLayer(name="a")]),
        output_spec=OutputSpec(names=["k"], units=["u"]),
        provenance=Provenance(data_fingerprint="x", n_samples=100, seed=0),
    )
    offset = UTM_100M @ UTM_100M.translation(8, 8)
    cube = write_cube_tif(tmp_path / "c.tif", cube_values(), CUBE_NM, transform=offset)
    config = cube_config(
        {**inputs, "cube": cube},
        tmp_path / "m",
        f"models=[{mlp_path}, {{path: {inputs['plsr']}, name: ph}}]",
        f"covariates.catalog={catalog}",
        "grid.reference=a",
        "products=[]",
    )
    result = map_from_config(config)
    k, transform, shape = read(result.cogs["k"])
    ph = read(result.cogs["ph"])[0]
    assert shape == (40, 40) and transform == UTM_100M
    assert not k.mask.any()
    inside = np.zeros((40, 40), dtype=bool)
    inside[8:32, 8:32] = True
    assert (ph.mask == ~inside).all()
    expected = expected_map(load_plsr(inputs["plsr"]), cube_values(), CUBE_NM, MODEL_NM)
    np.testing.assert_allclose(ph.data[inside].reshape(SIDE, SIDE), expected, rtol=1e-4, atol=1e-4)


def test_failed_run_resumes_to_identical_bytes_and_refuses_a_changed_cube(
    inputs, tmp_path, monkeypatch
):
    settings = ["products=[]", f"models=[{inputs['plsr']}]", "output.format=both"]
    reference = tmp_path / "reference"
    map_from_config(cube_config(inputs, reference, *settings))
    out = tmp_path / "m"
    with monkeypatch.context() as patch:
        fail_after(patch, 2)
        with pytest.raises(OutputError, match="disk is full"):
            map_from_config(cube_config(inputs, out, *settings))
    map_from_config(cube_config(inputs, out, *settings, "output.resume=true"))
    assert differing_files(out, reference) == []

    # The cube changed under an interrupted run: resuming would mix two maps.
    again = tmp_path / "again"
    with monkeypatch.context() as patch:
        fail_after(patch, 1)
        with pytest.raises(OutputError):
            map_from_config(cube_config(inputs, again, *settings))
    stat = os.stat(inputs["cube"])
    os.utime(inputs["cube"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(OutputError, match="cannot resume"):
        map_from_config(cube_config(inputs, again, *settings, "output.resume=true"))


def test_default_chunk_with_a_cube():
    config = MapConfig.model_validate({"models": ["m"], "cube": {"path": "c", "resample": "none"}})
    assert config.chunk == 256 and config.grid is None and config.covariates is None


# -- refused before any output exists --------------------------------------------------------
def no_tags_cube(inputs, tmp_path):
    return write_cube_tif(tmp_path / "bare.tif", cube_values(), None)


def wavenumber_model(tmp_path):
    return train_plsr(tmp_path / "mir.safetensors", np.arange(4000.0, 7000.0, 20.0), unit="cm-1")


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        (lambda i, t: ["cube=null", f"grid.reference={i['cube']}"], "cube", "reads spectra"),
        (
            lambda i, t: [f"cube.path={no_tags_cube(i, t)}"],
            "cube.wavelengths",
            "have no wavelengths",
        ),
        (lambda i, t: ["cube.bad_bands_nm=[[800, 900]]"], "cube.bad_bands_nm", "inside gaps"),
        (lambda i, t: ["cube.resample=none"], "cube.resample", "'none'"),
        (lambda i, t: ["cube.bad_bands_nm=[[300, 520]]"], "models.path", "reaches outside"),
        (lambda i, t: [f"models=[{wavenumber_model(t)}]", "products=[]"], "models.path", "cm-1"),
        (lambda i, t: ["cube=null"], "grid", "needs a grid"),
        (lambda i, t: ["cube.max_gap_nm=0"], "cube.max_gap_nm", "greater than 0"),
    ],
    ids=[
        "no-cube",
        "no-wavelengths",
        "gap",
        "resample-none",
        "range",
        "units",
        "no-grid",
        "bad-setting",
    ],
)
def test_refused_cleanly(inputs, tmp_path, extra, field, message):
    out = tmp_path / "m"
    with pytest.raises(GeoSoilError, match=message) as err:
        map_from_config(cube_config(inputs, out, *extra(inputs, tmp_path)))
    assert err.value.field == field
    assert not out.exists() and not list(tmp_path.glob(".m.partial*"))


def test_reference_cube_without_a_cube(inputs, tmp_path):
    with pytest.raises(ConfigError, match="needs a cube section") as err:
        cube_config(inputs, tmp_path / "m", "cube=null", "grid.reference=cube")
    assert err.value.field == "grid"


# ----------------------------------------------------------------- spectral domain on a cube
def _with_domain(inputs, name, *, quantity="reflectance", shift=0.0):
    """The PLSR artifact again, with a spectral domain fitted on its training spectra."""
    from geosoil.artifacts import load_artifact, read_header
    from geosoil.trust import TrustLayer, fit_spectral_domain

    plsr = load_artifact(inputs["plsr"])
    strengths = np.random.default_rng(0).uniform(0.0, 1.0, (200, len(FEATURES)))
    spectra = reflectance(strengths, MODEL_NM) + shift
    domain = fit_spectral_domain(plsr.estimator.transform_inputs(spectra))
    header = read_header(inputs["plsr"])
    return save_artifact(
        plsr.estimator,
        inputs["folder"] / name,
        input_spec=header.input_spec,
        output_spec=header.output_spec,
        provenance=header.provenance,
        preprocessing=header.preprocessing,
        trust=TrustLayer(spectral_domain=domain, spectral_quantity=quantity),
    )


def test_cube_maps_carry_t2_q_and_in_domain(inputs, tmp_path):
    model = _with_domain(inputs, "plsr_domain.safetensors")
    result = map_from_config(
        cube_config(inputs, tmp_path / "m", f"models=[{{path: {model}, name: ph}}]", "products=[]")
    )
    t2, q = read(result.cogs["ph_t2"])[0], read(result.cogs["ph_q"])[0]
    flag = read(result.cogs["ph_in_domain"])[0]
    assert (t2 >= 0).all() and (q >= 0).all()
    assert set(np.unique(flag.compressed())) <= {0, 1}
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert summary["trust"]["ph"]["share_in_domain"] == pytest.approx(flag.mean())
    assert "in the training spectra's domain" in (tmp_path / "m" / "ph_in_domain.qml").read_text()


def test_a_cube_all_out_of_domain_is_mapped_with_a_warning(inputs, tmp_path, caplog):
    # Trained on spectra far brighter than the cube: every pixel is out of domain.
    model = _with_domain(inputs, "plsr_far.safetensors", shift=5.0)
    result = map_from_config(
        cube_config(inputs, tmp_path / "m", f"models=[{{path: {model}, name: ph}}]", "products=[]")
    )
    flag = read(result.cogs["ph_in_domain"])[0]
    assert flag.max() == 0 and result.cogs["ph"].exists()
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert summary["trust"]["ph"]["share_in_domain"] == 0.0
    assert "only 0.0 % of the mapped spectra lie in the training domain" in caplog.text


def test_a_spectral_quantity_mismatch_is_refused_unless_converted(inputs, tmp_path):
    from geosoil.errors import CalibrationError

    model = _with_domain(inputs, "plsr_abs.safetensors", quantity="absorbance")
    models = f"models=[{{path: {model}, name: ph}}]"
    with pytest.raises(CalibrationError, match="trained on absorbance") as err:
        map_from_config(cube_config(inputs, tmp_path / "m", models, "products=[]"))
    assert err.value.field == "cube.quantity" and "cube.convert_quantity: true" in err.value.fix
    assert not (tmp_path / "m").exists()
    result = map_from_config(
        cube_config(inputs, tmp_path / "m", models, "products=[]", "cube.convert_quantity=true")
    )
    assert result.cogs["ph"].exists()
