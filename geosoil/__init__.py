"""geosoil: deep-learning soil models from georeferenced samples to decision maps.

The public API is small and imported lazily, so ``import geosoil`` stays fast and the CLI
only pays for what a command uses.
"""

from __future__ import annotations

import importlib
import os
import sys

__version__ = "0.1.0"

# torch's OpenMP threads spin while waiting by default, which costs 5-8x on a machine that
# is busy with anything else (see ../shared/PERFORMANCE_NOTES.md). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# GDAL's block cache defaults to 5% of RAM (1.2 GB on a 24 GiB machine) and was most of the
# mapping engine's peak memory; the engine reads each block once, so 128 MB keeps its speed
# and keeps its peak flat from 2048^2 to 16384^2 pixels (benchmarks/map_throughput.py).
# Must be set before GDAL first reads a raster.
os.environ.setdefault("GDAL_CACHEMAX", "128")

_LAZY = {
    "GeoSoilError": "geosoil.errors",
    "TrainConfig": "geosoil.config",
    "MapConfig": "geosoil.config",
    "EvaluateConfig": "geosoil.config",
    "SpectralTrainConfig": "geosoil.config",
    "ExplainConfig": "geosoil.config",
    "RecommendKConfig": "geosoil.config",
    "RecommendPbRiskConfig": "geosoil.config",
    "FinetuneConfig": "geosoil.config",
    "CubeConfig": "geosoil.config",
    "SocTrainConfig": "geosoil.config",
    "SocCellsConfig": "geosoil.config",
    "load_config": "geosoil.config",
    "load_artifact": "geosoil.artifacts",
    "save_artifact": "geosoil.artifacts",
    "read_header": "geosoil.artifacts",
    "read_catalog": "geosoil.io.catalog",
    "read_samples": "geosoil.io.samples",
    "read_spectra": "geosoil.io.spectra",
    "SampleSet": "geosoil.io.spectra",
    "SpectralAxis": "geosoil.spectra",
    "SpectralPipeline": "geosoil.spectra",
    "extract_at_points": "geosoil.io.rasters",
    "CovariateMLP": "geosoil.models",
    "SpectralCNN": "geosoil.models",
    "SpectralResNet": "geosoil.models",
    "SpectralSVR": "geosoil.models",
    "PLSR": "geosoil.models",
    "spectral_attributions": "geosoil.explain",
    "Grid": "geosoil.geo.grid",
    "CovariateStack": "geosoil.mapping.stack",
    "predict_map": "geosoil.mapping.engine",
    "ModelLayers": "geosoil.mapping.predictors",
    "build_product": "geosoil.products",
    "synthesize": "geosoil.synthetic",
    "write_world": "geosoil.synthetic",
    "train_from_config": "geosoil.workflows",
    "map_from_config": "geosoil.workflows",
    "predict_points": "geosoil.workflows.predict",
    "train_spectra_from_config": "geosoil.workflows",
    "finetune_from_config": "geosoil.workflows.finetune",
    "evaluate_from_config": "geosoil.workflows",
    "explain_from_config": "geosoil.workflows",
    "recommend_k_from_config": "geosoil.workflows",
    "recommend_pb_risk_from_config": "geosoil.workflows",
    "read_cube_axis": "geosoil.io.cube",
    "train_soc_from_config": "geosoil.workflows",
    "soc_cells_from_config": "geosoil.workflows",
    "read_binn_ny": "geosoil.io.profiles",
    "write_profile_folder": "geosoil.io.profiles",
    "read_flux": "geosoil.io.flux_csv",
    "BINN": "geosoil.models",
    "ScIReN": "geosoil.models",
}

__all__ = ["__version__", *_LAZY]


def lazy_attributes(package: str, modules: dict[str, str]):
    """A package's module ``__getattr__`` and ``__dir__`` for names imported on first use.

    ``modules`` maps each public name to the module that defines it; the value is kept in the
    package once imported.
    """

    def get_attribute(name: str):
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(modules[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def list_attributes() -> list[str]:
        return sorted({*vars(sys.modules[package]), *modules})

    return get_attribute, list_attributes


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
